#!/usr/bin/env bash
# Benchmarks of `netsight stat` (issue 2), printed as markdown for BENCHMARKS.md:
#  1. nginx + wrk on loopback: requests/s without and with `netsight stat`
#     running, alternated PAIRS times in one run; the median ratio.
#  2. ns per event of each BPF program under that load (kernel.bpf_stats_enabled).
#  3. start-up: `netsight selftest` (load + attach every probe), median of 5.
#  4. idle RSS of `netsight stat` after a few intervals.
# Run as root after `cargo build --release`; needs nginx, wrk, bpftool, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
PAIRS=${PAIRS:-5}
DUR=${DUR:-10}
PORT=${PORT:-18080}

source bench/nginx-load.sh
need nginx wrk bpftool python3
[ -x "$BIN" ] || { echo "bench: $BIN missing; run cargo build --release" >&2; exit 1; }

tmp=$(mktemp -d)
ns_pid=
cleanup() {
    [ -n "$ns_pid" ] && kill "$ns_pid" 2>/dev/null || true
    stop_nginx
    sysctl -qw kernel.bpf_stats_enabled=0 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

start_nginx "$PORT"


start_netsight() {
    "$BIN" stat --json -i 1 > /dev/null &
    ns_pid=$!
    sleep 1.5
}
stop_netsight() { kill -INT "$ns_pid"; wait "$ns_pid" || true; ns_pid=; }

echo "## netsight stat overhead ($(date -u +%F), $(uname -r), $(nproc) cores, load average before: $(cut -d" " -f1-3 /proc/loadavg))"
echo
echo "nginx 1 worker + wrk -t1 -c32 -d${DUR}s on loopback, alternated:"
echo
echo "| pair | without (req/s) | with netsight stat (req/s) | ratio |"
echo "|---|---|---|---|"
ratios=()
for i in $(seq 1 "$PAIRS"); do
    without=$(rps)
    start_netsight
    with=$(rps)
    stop_netsight
    ratio=$(python3 -c "print(f'{$with/$without:.4f}')")
    ratios+=("$ratio")
    echo "| $i | $without | $with | $ratio |"
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
echo
echo "Median ratio: **$median** (target >= 0.98)"
echo
# Per-program cost: one more loaded run with kernel.bpf_stats_enabled (which
# itself adds two clock reads per program run, so it is kept out of the pairs).
bpftool prog show --json > "$tmp/progs-before.json"
start_netsight
sysctl -qw kernel.bpf_stats_enabled=1
rps > /dev/null
bpftool prog show --json > "$tmp/progs.json"
sysctl -qw kernel.bpf_stats_enabled=0
stop_netsight
echo "Per-program cost under the same load (kernel.bpf_stats_enabled; includes its own clock reads):"
echo
echo "| program | runs | ns/run |"
echo "|---|---|---|"
python3 - "$tmp/progs-before.json" "$tmp/progs.json" <<'EOF'
import json, sys
before = {p["id"] for p in json.load(open(sys.argv[1]))}
for p in json.load(open(sys.argv[2])):
    # Programs that appeared with this netsight run are its own.
    if p["id"] in before:
        continue
    runs = p.get("run_cnt", 0)
    ns = f"{p['run_time_ns'] / runs:.0f}" if runs else "-"
    print(f"| {p['name']} | {runs} | {ns} |")
EOF

echo
starts=()
for _ in 1 2 3 4 5; do
    # The first probe selftest loads is the one `stat` loads (metrics only).
    starts+=("$("$BIN" selftest --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["probes"][0]["ms"])')")
done
echo "Start to all \`stat\` programs attached (\`netsight selftest\`, first probe, 5 runs, ms): ${starts[*]}; median $(printf '%s\n' "${starts[@]}" | sort -n | sed -n 3p) (target <= 300)"

"$BIN" stat --json -i 1 > /dev/null &
ns_pid=$!
sleep 5
rss=$(awk '/VmRSS/ {print $2}' "/proc/$ns_pid/status")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$ns_pid/status")
stop_netsight
echo
echo "Idle \`netsight stat\` after 5 s: RSS $((rss / 1024)) MiB ($rss kB), peak $((hwm / 1024)) MiB (target <= 30 MB)"
