#!/usr/bin/env bash
# Benchmarks of the socket data tracer (issue 13), printed as markdown:
#  1. nginx + wrk on loopback: requests/s without and with `netsight sock`
#     (L7 records of every socket, output to /dev/null), alternated PAIRS times.
#  2. The same with the tracer on its syscall-exit fallback (what kernels
#     before 6.3 run: NETSIGHT_REFUSE=trace_send,trace_recv), and against the
#     syscall-tracepoint design's hooks alone (bpftrace on
#     raw_syscalls sys_enter/sys_exit stashing read/write-family arguments per
#     thread, no capture): the floor that design starts from.
#  3. Non-socket syscalls (dd bs=1 on /dev/zero -> /dev/null): what each design
#     costs the rest of the host.
#  4. One loaded run with kernel.bpf_stats_enabled: ns per captured syscall,
#     and records delivered per second with `--raw` and their losses.
# Run as root after `cargo build --release`; needs nginx, wrk, bpftrace, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
PAIRS=${PAIRS:-5}
DUR=${DUR:-6}
PORT=${PORT:-18093}
DD_COUNT=${DD_COUNT:-1000000}

source bench/nginx-load.sh
need nginx wrk bpftrace python3
[ -x "$BIN" ] || { echo "bench: $BIN missing; run cargo build --release" >&2; exit 1; }

tmp=$(mktemp -d)
bg_pid=
cleanup() {
    [ -n "$bg_pid" ] && kill -INT "$bg_pid" 2>/dev/null && wait "$bg_pid" 2>/dev/null || true
    stop_nginx
    sysctl -qw kernel.bpf_stats_enabled=0 || true
    rm -rf "$tmp"
}
trap cleanup EXIT

start_nginx "$PORT"


# The syscall-tracepoint design's hooks: enter stashes the buffer per
# thread for the read/write family, exit finds and deletes it.
cat > "$tmp/syscalls.bt" <<'EOF'
tracepoint:raw_syscalls:sys_enter
/args->id == 0 || args->id == 1 || args->id == 19 || args->id == 20 ||
 (args->id >= 44 && args->id <= 47) || args->id == 299 || args->id == 307/
{ @buf[tid] = args->args[1]; }
tracepoint:raw_syscalls:sys_exit /@buf[tid]/ { @n = count(); delete(@buf[tid]); }
EOF

start_tracer() {
    NETSIGHT_REFUSE=${REFUSE:-} "$BIN" sock -q "$@" > /dev/null 2> "$tmp/tracer.err" &
    bg_pid=$!
    for _ in $(seq 50); do grep -q tracing "$tmp/tracer.err" && break; sleep 0.1; done
}
start_fallback() { REFUSE=trace_send,trace_recv start_tracer "$@"; }
start_syscalls() {
    bpftrace "$tmp/syscalls.bt" > /dev/null 2>&1 &
    bg_pid=$!
    sleep 3
}
stop_bg() { kill -INT "$bg_pid"; wait "$bg_pid" || true; bg_pid=; }

median() { sort -g | awk '{a[NR]=$1} END {m=(NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; printf "%.4f", m}'; }

pairs() {
    local label=$1 start=$2
    echo "| pair | without (req/s) | with $label (req/s) | ratio |"
    echo "|---|---|---|---|"
    local ratios=()
    for i in $(seq 1 "$PAIRS"); do
        local a b
        a=$(rps)
        $start
        b=$(rps)
        stop_bg
        local r
        r=$(python3 -c "print(f'{$b / $a:.4f}')")
        ratios+=("$r")
        echo "| $i | $a | $b | $r |"
    done
    echo
    echo "Median ratio ($label): **$(printf '%s\n' "${ratios[@]}" | median)**"
    echo
}

echo "## netsight sock overhead ($(date -u +%F), $(uname -r), $(nproc) cores, load average before: $(cut -d" " -f1-3 /proc/loadavg))"
echo
echo "nginx 1 worker + wrk -t1 -c32 -d${DUR}s on loopback, alternated."
echo
pairs "netsight sock" start_tracer
pairs "netsight sock, syscall-exit fallback" start_fallback
pairs "syscall-tracepoint hooks (bpftrace, no capture)" start_syscalls

dd_rate() {
    dd if=/dev/zero of=/dev/null bs=1 count="$DD_COUNT" 2>&1 | awk '/copied/ {print $(NF-1), $NF}'
}
echo "Non-socket syscalls: dd bs=1 count=$DD_COUNT (one read + one write per byte):"
echo
echo "| run | none | netsight sock | sock, syscall-exit fallback | syscall-tracepoint hooks |"
echo "|---|---|---|---|---|"
for i in 1 2 3; do
    n=$(dd_rate)
    start_tracer; t=$(dd_rate); stop_bg
    start_fallback; f=$(dd_rate); stop_bg
    start_syscalls; s=$(dd_rate); stop_bg
    echo "| $i | $n | $t | $f | $s |"
done
echo

sysctl -qw kernel.bpf_stats_enabled=1
for mode in l7 raw fallback; do
    case $mode in
        raw) start_tracer --raw ;;
        fallback) start_fallback ;;
        *) start_tracer ;;
    esac
    reqs=$(wrk -t1 -c32 -d"${DUR}s" "http://127.0.0.1:$PORT/" | awk '/requests in/ {print $1}')
    sleep 1
    # CPU seconds each tracer thread used (utime + stime, in clock ticks).
    threads=$(for t in /proc/"$bg_pid"/task/*; do
        printf '%s=%s ' "$(cat "$t/comm")" "$(awk '{print $14 + $15}' "$t/stat")"; done)
    "$BIN" sock status --json | python3 -c "
import json, sys
for s in map(json.loads, sys.stdin):
    if s['pid'] != $bg_pid: continue
    costs = ', '.join(f\"{p['program']} {p['run_time_ns'] // max(p['runs'], 1)} ns/run ({p['runs']} runs)\" for p in s['programs'] if p['runs'])
    recs = s['data_records'] if '$mode' == 'raw' else s['l7_records']
    print(f\"- {'$mode'}: $reqs requests; {recs} records delivered \"
          f\"({recs / $DUR:.0f}/s), kernel lost {s['kernel_lost']}, user lost {s['user_lost']}; {costs}; \"
          f\"tracer CPU ticks (1/$(getconf CLK_TCK) s) per thread: $threads\")
"
    stop_bg
done
sysctl -qw kernel.bpf_stats_enabled=0
echo
echo "(bpf_stats adds its own two clock reads to every run it measures.)"
