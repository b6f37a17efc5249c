#!/usr/bin/env bash
# ns per run of netsight's send/recv programs against an empty program on the
# same tracepoints, attached the same way (tp_btf) in the same run (issue
# 15): nginx + wrk on loopback, kernel.bpf_stats_enabled on. Each round runs
# wrk twice, once with `netsight stat` attached and once with the empty
# programs (netsight-bpf's empty_probe example), each alone on the
# tracepoints as in production: the first program on a tracepoint costs
# ~10 ns more than the second (BENCHMARKS.md), so attaching both at once
# would favour whichever comes second. ROUNDS rounds, the median of each.
# LOAD=udp runs iperf3's UDP test on loopback instead (64-byte datagrams,
# unpaced) for the UDP path. Run as root after `cargo build --release
# --workspace --examples`; needs nginx, wrk (or iperf3), bpftool, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5}
PORT=${PORT:-18082}
CONNS=${CONNS:-32}
LOAD=${LOAD:-tcp}
case "$LOAD" in tcp|udp) ;; *) echo "bench: LOAD must be tcp or udp, not '$LOAD'" >&2; exit 1 ;; esac

EMPTY=${EMPTY:-target/release/examples/empty_probe}
[ -x "$EMPTY" ] || { echo "bench: $EMPTY missing; run cargo build --release --workspace --examples" >&2; exit 1; }
source bench/nginx-load.sh
tmp=$(mktemp -d)
probe=
udp_server=
cleanup() {
    [ -n "$probe" ] && kill "$probe" 2>/dev/null || true
    [ -n "$udp_server" ] && kill "$udp_server" 2>/dev/null || true
    stop_nginx
    sysctl -qw kernel.bpf_stats_enabled=0 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
if [ "$LOAD" = udp ]; then
    need iperf3 bpftool python3
    iperf3 -s -p "$PORT" > /dev/null 2>&1 &
    udp_server=$!
    sleep 0.5
    load() { iperf3 -c 127.0.0.1 -p "$PORT" -u -b 0 -l 64 -t "$DUR" > /dev/null; }
else
    need nginx wrk bpftool python3
    start_nginx "$PORT"
    load() { wrk -t1 -c"$CONNS" -d"${DUR}s" "http://127.0.0.1:$PORT/" > /dev/null; }
fi

# measure NAME CMD...: runs CMD (the programs to measure), wrk with
# bpf_stats on, and writes "<send ns> <recv ns>" for programs NAME_send /
# NAME_recv (on_send/on_recv for netsight) to $tmp/NAME.
measure() {
    local name=$1
    shift
    "$@" > /dev/null 2>&1 &
    probe=$!
    sleep 3
    bpftool prog show --json > "$tmp/before.json"
    sysctl -qw kernel.bpf_stats_enabled=1
    load
    sysctl -qw kernel.bpf_stats_enabled=0
    bpftool prog show --json > "$tmp/after.json"
    kill "$probe"
    wait "$probe" 2>/dev/null || true
    probe=
    python3 - "$tmp/before.json" "$tmp/after.json" "$name" > "$tmp/$name" <<'EOF'
import json, sys
before = {p["id"]: p for p in json.load(open(sys.argv[1]))}
after = json.load(open(sys.argv[2]))
def ns(name):
    runs = t = 0
    for p in after:
        if p.get("name") == name:
            b = before.get(p["id"], {})
            runs += p.get("run_cnt", 0) - b.get("run_cnt", 0)
            t += p.get("run_time_ns", 0) - b.get("run_time_ns", 0)
    return t / runs if runs else float("nan")
prefix = sys.argv[3]
print(ns(prefix + "_send"), ns(prefix + "_recv"))
EOF
}

echo "## send/recv programs vs empty ones, each alone, $LOAD load ($(date -u +%F), $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg))"
echo
echo "| round | on_send ns/run | on_recv ns/run | empty send ns/run | empty recv ns/run | send ratio | recv ratio |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    measure on "$BIN" stat --json -i 1
    measure empty "$EMPTY" 3600
    read -r send recv < "$tmp/on"
    read -r esend erecv < "$tmp/empty"
    python3 -c "import sys; s,r,es,er=map(float,sys.argv[2:]); print(f'| {sys.argv[1]} | {s:.0f} | {r:.0f} | {es:.0f} | {er:.0f} | {s/es:.2f} | {r/er:.2f} |')" \
        "$r" "$send" "$recv" "$esend" "$erecv" | tee -a "$tmp/rows"
done
echo
python3 - "$tmp/rows" <<'EOF'
import statistics, sys
rows = [l.split("|")[1:-1] for l in open(sys.argv[1])]
col = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"Medians: on_send {col(1):.0f} ns vs empty {col(3):.0f} ns (**{col(5):.2f}x**), "
      f"on_recv {col(2):.0f} ns vs empty {col(4):.0f} ns (**{col(6):.2f}x**); target <= 1.5x")
EOF
