#!/bin/sh
# PID 1 of a netsight vmtest VM. Mounts what netsight needs, runs the checks
# and prints every result line tagged for the host ("@@vm NAME LINE",
# "@@vm-rc NAME STATUS"), then powers off. The host judges the results.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t bpf bpf /sys/fs/bpf
mount -t cgroup2 cgroup2 /sys/fs/cgroup
dmesg -n 1
ip link set lo up

# show NAME FILE: FILE's lines, tagged.
show() {
	sed "s/^/@@vm $1 /" "$2"
}

# run NAME CMD...: runs CMD, shows its output and exit status.
run() {
	name=$1
	shift
	"$@" >"/tmp/$name.out" 2>&1
	rc=$?
	show "$name" "/tmp/$name.out"
	echo "@@vm-rc $name $rc"
	return $rc
}

# wait_lines FILE PATTERN N: until FILE has N lines matching PATTERN (60 s).
# FILE may not exist yet: a background job's redirection races with us.
wait_lines() {
	i=0
	while :; do
		n=$(grep -c "$2" "$1" 2>/dev/null)
		[ "${n:-0}" -ge "$3" ] && return 0
		i=$((i + 1))
		[ $i -gt 600 ] && return 1
		sleep 0.1
	done
}

# Per-process bytes: known TCP and UDP traffic on loopback under
# `netsight stat`; the host compares what stat saw with what was sent.
bytes_check() {
	netsight stat --json -i 0.5 >/tmp/stat.out 2>/tmp/stat.err &
	stat=$!
	if ! wait_lines /tmp/stat.out '"summary"' 1; then
		kill -9 $stat
		show stat-err /tmp/stat.err
		echo "@@vm-rc bytes 1"
		return
	fi
	traffic tcp-serve 127.0.0.1:7070 2 >/tmp/tcp-serve.out &
	serve=$!
	wait_lines /tmp/tcp-serve.out ready 1
	traffic tcp-send 127.0.0.1:7070 3000017 2 >/tmp/tcp-send.out
	wait $serve
	traffic udp-serve 127.0.0.1:7071 40 >/tmp/udp-serve.out &
	serve=$!
	wait_lines /tmp/udp-serve.out ready 1
	traffic udp-send 127.0.0.1:7071 40 1200 >/tmp/udp-send.out
	wait $serve
	# Two more intervals: the one holding the traffic has been drained.
	n=$(grep -c '"summary"' /tmp/stat.out)
	wait_lines /tmp/stat.out '"summary"' $((n + 2))
	kill -INT $stat
	wait $stat
	rc=$?
	for f in tcp-serve tcp-send udp-serve udp-send stat; do
		show $f /tmp/$f.out
	done
	show stat-err /tmp/stat.err
	echo "@@vm-rc bytes $rc"
}

echo "@@vm kernel $(uname -r)"
run doctor netsight doctor --json
if ! run selftest netsight selftest --json; then
	NETSIGHT_LIBBPF_LOG=1 netsight selftest >/tmp/log.out 2>&1
	tail -n 40 /tmp/log.out | sed "s/^/@@vm selftest-log /"
fi
bytes_check
echo "@@vm-done"
poweroff -f
