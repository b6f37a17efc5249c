#!/usr/bin/env bash
# ns per run of netsight's send/recv programs against an empty program on the
# same tracepoints, attached the same way (tp_btf) in the same run (issue
# 15): nginx + wrk on loopback, `netsight stat` and the empty programs
# (netsight-bpf's empty_probe example) attached together,
# kernel.bpf_stats_enabled on; ROUNDS rounds, the median of each.
# Run as root after `cargo build --release --workspace --examples`; needs
# nginx, wrk, bpftool, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-5}
PORT=${PORT:-18082}

EMPTY=${EMPTY:-target/release/examples/empty_probe}
[ -x "$EMPTY" ] || { echo "bench: $EMPTY missing; run cargo build --release --workspace --examples" >&2; exit 1; }
source bench/nginx-load.sh
need nginx wrk bpftool python3
tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    stop_nginx
    sysctl -qw kernel.bpf_stats_enabled=0 || true
    rm -rf "$tmp"
}
trap cleanup EXIT
start_nginx "$PORT"
"$BIN" stat --json -i 1 > /dev/null 2>&1 &
pids+=($!)
"$EMPTY" 3600 > /dev/null &
pids+=($!)
sleep 3

echo "## send/recv programs vs empty ones ($(date -u +%F), $(uname -r), load average $(cut -d" " -f1-3 /proc/loadavg))"
echo
echo "| round | on_send ns/run | on_recv ns/run | empty send ns/run | empty recv ns/run | send ratio | recv ratio |"
echo "|---|---|---|---|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    bpftool prog show --json > "$tmp/before.json"
    sysctl -qw kernel.bpf_stats_enabled=1
    wrk -t1 -c32 -d"${DUR}s" "http://127.0.0.1:$PORT/" > /dev/null
    sysctl -qw kernel.bpf_stats_enabled=0
    bpftool prog show --json > "$tmp/after.json"
    python3 - "$tmp/before.json" "$tmp/after.json" "$r" <<'EOF' | tee -a "$tmp/rows"
import json, sys
before = {p["id"]: p for p in json.load(open(sys.argv[1]))}
after = json.load(open(sys.argv[2]))
def ns(pred):
    runs = t = 0
    for p in after:
        if pred(p):
            b = before.get(p["id"], {})
            runs += p.get("run_cnt", 0) - b.get("run_cnt", 0)
            t += p.get("run_time_ns", 0) - b.get("run_time_ns", 0)
    return t / runs if runs else float("nan")
send = ns(lambda p: p.get("name") == "on_send")
recv = ns(lambda p: p.get("name") == "on_recv")
esend = ns(lambda p: p.get("name") == "empty_send")
erecv = ns(lambda p: p.get("name") == "empty_recv")
print(f"| {sys.argv[3]} | {send:.0f} | {recv:.0f} | {esend:.0f} | {erecv:.0f} | {send/esend:.2f} | {recv/erecv:.2f} |")
EOF
done
echo
python3 - "$tmp/rows" <<'EOF'
import statistics, sys
rows = [l.split("|")[1:-1] for l in open(sys.argv[1])]
col = lambda i: statistics.median(float(r[i]) for r in rows)
print(f"Medians: on_send {col(1):.0f} ns vs empty {col(3):.0f} ns (**{col(5):.2f}x**), "
      f"on_recv {col(2):.0f} ns vs empty {col(4):.0f} ns (**{col(6):.2f}x**); target <= 1.5x")
EOF
