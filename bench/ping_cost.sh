#!/usr/bin/env bash
# The cost of `netsight ping`'s BPF programs (issue 14):
#  1. ns of BPF per non-probe packet under a TCP load (iperf3 across a veth
#     pair in two private namespaces) while a client probes once a second;
#  2. ns of BPF per probe, with probes at 1000/s and no load;
#  3. iperf3 throughput with and without the probe loaded.
# Per-program figures come from kernel.bpf_stats_enabled (run_time_ns /
# run_cnt; the statistics add their own two clock reads per run).
# Run as root; needs iperf3, bpftool, python3. BIN defaults to the debug build.
set -euo pipefail
BIN=${BIN:-target/debug/netsight}
DUR=${DUR:-10}
for tool in iperf3 bpftool python3; do
    command -v "$tool" >/dev/null || { echo "bench: $tool missing (apt-get install $tool)" >&2; exit 1; }
done
tag=pc$$
A=${tag}a B=${tag}b
old_stats=$(sysctl -n kernel.bpf_stats_enabled)
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    ip netns del "$A" 2>/dev/null || true
    ip netns del "$B" 2>/dev/null || true
    sysctl -qw kernel.bpf_stats_enabled="$old_stats" || true
    rm -rf "$tmp"
}
trap cleanup EXIT
ip netns add "$A"; ip netns add "$B"
ip link add "v${tag}a" netns "$A" type veth peer name "v${tag}b" netns "$B"
ip -n "$A" addr add 10.77.0.1/24 dev "v${tag}a"
ip -n "$B" addr add 10.77.0.2/24 dev "v${tag}b"
for ns in "$A" "$B"; do ip -n "$ns" link set lo up; done
ip -n "$A" link set "v${tag}a" up; ip -n "$B" link set "v${tag}b" up
ip netns exec "$B" iperf3 -s -D -1 >/dev/null 2>&1 || true
sleep 0.5

# Sums of run_time_ns and run_cnt per program of one process, from the
# fdinfo of its program fds (bpftool's pid lookup needs an iterator that a
# BPF LSM may refuse), named through bpftool.
snapshot() {
    local fd info
    bpftool prog show --json >"$tmp/progs.json"
    for fd in /proc/"$1"/fd/*; do
        [ "$(readlink "$fd")" = "anon_inode:bpf-prog" ] || continue
        info=/proc/"$1"/fdinfo/"${fd##*/}"
        echo "$(awk '/^prog_id:/{print $2}' "$info") $(awk '/^run_time_ns:/{print $2}' "$info") $(awk '/^run_cnt:/{print $2}' "$info")"
    done | python3 -c '
import json, sys
names = {p["id"]: p["name"] for p in json.load(open(sys.argv[1]))}
for line in sys.stdin:
    pid, ns, cnt = line.split()
    print(names.get(int(pid), pid), ns, cnt)' "$tmp/progs.json"
}

delta() { # before after -> a table per program and the per-packet totals
    python3 - "$1" "$2" <<'PY'
import sys
def read(path):
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(path) if l.strip()}
b, a = read(sys.argv[1]), read(sys.argv[2])
d = {n: (a[n][0] - b.get(n, (0, 0))[0], a[n][1] - b.get(n, (0, 0))[1]) for n in a}
floor_of = {
    "on_dev_queue": "calibrate_net_dev_queue", "on_start_xmit": "calibrate_net_dev_start_xmit",
    "on_dev_xmit": "calibrate_net_dev_xmit", "on_receive": "calibrate_netif_receive_skb",
    "on_softirq_raise": "calibrate_softirq_raise", "on_data_ready": "calibrate_sk_data_ready",
    "on_wakeup": "calibrate_sched_wakeup",
}
per = lambda n: d[n][0] / d[n][1] if n in d and d[n][1] else 0.0
print("| program | runs | ns/run | empty program there, ns/run | above it, ns/run |")
print("|---|---|---|---|---|")
total = above = 0.0
for n in sorted(floor_of):
    if n not in d:
        continue
    f = per(floor_of[n]) if floor_of[n] in d else 0.0
    total += d[n][0]
    above += (per(n) - f) * d[n][1]
    print(f"| {n} | {d[n][1]} | {per(n):.1f} | {f:.1f} | {per(n) - f:.1f} |")
recv = d["on_receive"][1]
print(f"TOTAL_NS {int(total)} RECEIVES {recv} ABOVE_NS {int(above)}")
PY
}

sysctl -qw kernel.bpf_stats_enabled=1

load_run() { # $1: first|last, where the empty programs run
    echo "### empty programs attached $1"
    NETSIGHT_PING_CALIBRATE=$1 ip netns exec "$A" "$BIN" ping -c 10.77.0.2 --mode pingpong -i 1000000 -t $((DUR + 6)) -o json >"$tmp/client1.json" &
    pids+=($!); client=$!
    sleep 3
    ip netns exec "$B" iperf3 -s -D -1 >/dev/null 2>&1 || true; sleep 0.3
    snapshot "$client" >"$tmp/b1"
    ip netns exec "$A" iperf3 -c 10.77.0.2 -t "$DUR" -J >"$tmp/iperf_with.json"
    snapshot "$client" >"$tmp/a1"
    delta "$tmp/b1" "$tmp/a1" | tee "$tmp/d1" | grep -v '^TOTAL'
    read -r _ total _ recv _ above < <(grep TOTAL "$tmp/d1")
    python3 -c "t,r,a=$total,$recv,$above; print(f'per packet (host-wide receives, GSO super-packets counted once; {r} of them): {t/r:.1f} ns of ping programs, {a/r:.1f} ns above empty programs on the same tracepoints')"
    wait "$client" || true
}
echo "## 1. TCP load ($DUR s of iperf3 over veth), probes at 1/s"
load_run last
load_run first

# ns of BPF per received packet of one client run under the load: the
# programs whose names start with $2 (on_ or calibrate_).
alone_run() { # $1: NETSIGHT_PING_CALIBRATE value ("" for the real programs only)
    NETSIGHT_PING_CALIBRATE=$1 ip netns exec "$A" "$BIN" ping -c 10.77.0.2 --mode pingpong -i 1000000 -t $((DUR + 6)) -o json >/dev/null &
    pids+=($!); client=$!
    sleep 3
    ip netns exec "$B" iperf3 -s -D -1 >/dev/null 2>&1 || true; sleep 0.3
    snapshot "$client" >"$tmp/b3"
    ip netns exec "$A" iperf3 -c 10.77.0.2 -t "$DUR" -J >/dev/null
    snapshot "$client" >"$tmp/a3"
    wait "$client" || true
    python3 - "$tmp/b3" "$tmp/a3" "$2" <<'PY'
import sys
def read(path):
    return {l.split()[0]: (int(l.split()[1]), int(l.split()[2])) for l in open(path) if l.strip()}
b, a, prefix = read(sys.argv[1]), read(sys.argv[2]), sys.argv[3]
d = {n: (a[n][0] - b.get(n, (0, 0))[0], a[n][1] - b.get(n, (0, 0))[1]) for n in a if n.startswith(prefix)}
recv = d.get("on_receive", d.get("calibrate_netif_receive_skb", (0, 1)))[1]
print(f"{sum(ns for ns, _ in d.values()) / max(recv, 1):.1f}")
PY
}
echo
echo "### each set alone, alternated (no ordering effect: one program per tracepoint)"
echo
echo "| round | empty programs alone, ns/packet | ping programs alone, ns/packet | added, ns/packet |"
echo "|---|---|---|---|"
for round in 1 2 3; do
    e=$(alone_run alone calibrate_)
    r=$(alone_run "" on_)
    echo "| $round | $e | $r | $(python3 -c "print(f'{$r - $e:.1f}')") |"
done

echo; echo "## 2. probes at 1000/s for 5 s, no load"
ip netns exec "$A" "$BIN" ping -c 10.77.0.2 --mode pingpong -i 1000 -t 8 -o json >"$tmp/client2.json" 2>"$tmp/client2.err" &
pids+=($!); client=$!
sleep 1
snapshot "$client" >"$tmp/b2" || { cat "$tmp/client2.err" >&2; exit 1; }
sleep 5
snapshot "$client" >"$tmp/a2"
delta "$tmp/b2" "$tmp/a2" | tee "$tmp/d2" | grep -v '^TOTAL'
wait "$client" || true
read -r _ total _ recv _ above < <(grep TOTAL "$tmp/d2")
probes=$(grep -c '"type":"probe"' "$tmp/client2.json" || true)
python3 -c "t,p=$total,$probes; print(f'all ping programs over the 5 s: {t} ns; {p} probes in the 8 s run: about {t/(p*5/8):.0f} ns per probe (background packets of this shared host included)')"

echo; echo "## 3. iperf3 throughput without / with the probe loaded"
sysctl -qw kernel.bpf_stats_enabled=0
for run in 1 2 3; do
    ip netns exec "$B" iperf3 -s -D -1 >/dev/null 2>&1 || true; sleep 0.3
    without=$(ip netns exec "$A" iperf3 -c 10.77.0.2 -t 5 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,2))')
    ip netns exec "$A" "$BIN" ping -c 10.77.0.2 --mode pingpong -i 1000000 -t 9 -o json >/dev/null &
    pids+=($!); client=$!
    sleep 2
    ip netns exec "$B" iperf3 -s -D -1 >/dev/null 2>&1 || true; sleep 0.3
    with=$(ip netns exec "$A" iperf3 -c 10.77.0.2 -t 5 -J | python3 -c 'import json,sys; print(round(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9,2))')
    wait "$client" || true
    echo "| $run | $without | $with |"
done
