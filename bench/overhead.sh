#!/usr/bin/env bash
# Side-by-side overhead (issue 15): nginx + wrk on loopback, alternating in
# every round: no monitor, `netsight stat`, a bpftrace one-liner that sums
# bytes and calls per pid on the same two tracepoints, `netsight trace all`,
# and `netsight agent` (Prometheus sink). ROUNDS rounds; each monitor's ratio
# to the no-monitor run of its own round; the median per monitor. Printed as
# markdown for BENCHMARKS.md. MONITORS picks the cases (default: stat bpftrace
# trace agent); `empty` is netsight-bpf's empty programs on the same two
# tracepoints: the floor any program there pays, whatever its body.
# Run as root after `cargo build --release` (and, for `empty`,
# `cargo build --release --workspace --examples`); needs nginx, wrk,
# bpftrace, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
ROUNDS=${ROUNDS:-7}
DUR=${DUR:-5}
PORT=${PORT:-18081}
EMPTY=${EMPTY:-target/release/examples/empty_probe}
read -r -a monitors <<< "${MONITORS:-stat bpftrace trace agent}"

source bench/nginx-load.sh
need nginx wrk bpftrace python3
[ -x "$BIN" ] || { echo "bench: $BIN missing; run cargo build --release" >&2; exit 1; }
for m in "${monitors[@]}"; do
    case "$m" in
        stat | bpftrace | trace | agent) ;;
        empty) [ -x "$EMPTY" ] || { echo "bench: $EMPTY missing; run cargo build --release --workspace --examples" >&2; exit 1; } ;;
        *) echo "bench: unknown monitor $m (stat, bpftrace, trace, agent, empty)" >&2; exit 1 ;;
    esac
done

tmp=$(mktemp -d)
mon_pid=
cleanup() {
    [ -n "$mon_pid" ] && kill "$mon_pid" 2>/dev/null || true
    stop_nginx
    rm -rf "$tmp"
}
trap cleanup EXIT

start_nginx "$PORT"
cat > "$tmp/agent.toml" <<EOF
interval = "1s"
[prometheus]
listen = "127.0.0.1:19718"
EOF
# The peer: what a user would write to get bytes and calls per pid.
cat > "$tmp/peer.bt" <<'EOF'
tracepoint:sock:sock_send_length /args->ret > 0/ { @tx[pid] = sum(args->ret); @txc[pid] = count(); }
tracepoint:sock:sock_recv_length /args->ret > 0/ { @rx[pid] = sum(args->ret); @rxc[pid] = count(); }
interval:s:1 { print(@tx); print(@txc); print(@rx); print(@rxc); clear(@tx); clear(@txc); clear(@rx); clear(@rxc); }
EOF
sleep 0.5


# monitor NAME: starts it in the background (mon_pid) and waits until it runs.
monitor() {
    case "$1" in
        stat) "$BIN" stat --json -i 1 > /dev/null 2>&1 & ;;
        bpftrace) bpftrace "$tmp/peer.bt" > /dev/null 2>&1 & ;;
        trace) "$BIN" trace all --json > /dev/null 2>&1 & ;;
        agent) "$BIN" agent --config "$tmp/agent.toml" > /dev/null 2>&1 & ;;
        empty) "$EMPTY" 3600 > /dev/null 2>&1 & ;;
        *) echo "bench: unknown monitor $1 (stat, bpftrace, trace, agent, empty)" >&2; exit 1 ;;
    esac
    mon_pid=$!
    sleep 2
}
# SIGINT, as a user's Ctrl-C (the empty programs' holder, a background job
# that ignores it, ends on SIGTERM).
stop_monitor() {
    if [ "$1" = empty ]; then kill -TERM "$mon_pid"; else kill -INT "$mon_pid"; fi
    wait "$mon_pid" || true
    mon_pid=
}

echo "## Side-by-side overhead ($(date -u +%F), $(uname -r), $(nproc) cores, load average before: $(cut -d" " -f1-3 /proc/loadavg))"
echo
echo "nginx 1 worker + wrk -t1 -c32 -d${DUR}s on loopback${PIN:+ (nginx pinned to CPU 1, wrk to CPU 0)}; every round runs each case once, in this order, each monitored run between two unmonitored ones (ratio: to their mean; the none column is the round's first):"
echo
echo "| round | none (req/s) | $(printf '%s | ' "${monitors[@]}" | sed 's/ | $//') |"
echo "|---|---|$(printf -- '---|%.0s' "${monitors[@]}")"
declare -A ratios
# Each monitored run is bracketed by unmonitored ones and compared with
# their mean: a drift of the machine during the round cancels out.
for r in $(seq 1 "$ROUNDS"); do
    before=$(rps)
    row="| $r | $before |"
    for m in "${monitors[@]}"; do
        monitor "$m"
        with=$(rps)
        stop_monitor "$m"
        after=$(rps)
        ratio=$(python3 -c "print(f'{2 * $with / ($before + $after):.4f}')")
        ratios[$m]+="$ratio "
        row+=" $with ($ratio) |"
        before=$after
    done
    echo "$row"
done
echo
for m in "${monitors[@]}"; do
    median=$(printf '%s\n' ${ratios[$m]} | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
    echo "- median ratio with $m: **$median**"
done
