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
mount -t tmpfs tmpfs /run
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
# As systemd does: doctor and stat read the preemption mode from it.
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
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

# Socket data: `netsight sock --raw` under known TCP traffic on loopback;
# the host compares the bytes of the captured syscalls with what was sent.
sock_check() {
	netsight sock --raw --json --port 7072 --payload-bytes 16 >/tmp/sock.out 2>/tmp/sock.err &
	sock=$!
	if ! wait_lines /tmp/sock.err tracing 1; then
		kill -9 $sock
		show sock-err /tmp/sock.err
		echo "@@vm-rc sock 1"
		return
	fi
	traffic tcp-serve 127.0.0.1:7072 1 >/tmp/sock-serve.out &
	serve=$!
	wait_lines /tmp/sock-serve.out ready 1
	traffic tcp-send 127.0.0.1:7072 1000003 1 >/tmp/sock-send.out
	wait $serve
	sleep 1
	kill -INT $sock
	wait $sock
	rc=$?
	for f in sock-serve sock-send sock; do
		show $f /tmp/$f.out
	done
	show sock-err /tmp/sock.err
	echo "@@vm-rc sock $rc"
}

echo "@@vm kernel $(uname -r)"
run doctor netsight doctor --json
if ! run selftest netsight selftest --json; then
	NETSIGHT_LIBBPF_LOG=1 netsight selftest >/tmp/log.out 2>&1
	tail -n 40 /tmp/log.out | sed "s/^/@@vm selftest-log /"
fi
bytes_check
sock_check
echo "@@vm-done"
poweroff -f
