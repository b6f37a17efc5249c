#!/usr/bin/env bash
# Where the floor of "a record per socket syscall" lies on this host (issue
# 13's throughput target): nginx + wrk on loopback, in rounds that alternate
#   none       no tracer
#   empty      empty tp_btf programs on sock_send_length / sock_recv_length
#              (netsight-bpf's empty_probe example): the cost of being attached
#   count      bpftrace counting calls per pid on the same tracepoints: in-kernel
#              aggregation, nothing delivered per call
#   print      bpftrace printing one short line (pid, comm, length) per call:
#              the cheapest peer that hands every call to user space
#   sock       netsight sock -q (every call captured with its first bytes, L7
#              records parsed and paired)
# and the median of each mode's ratio to the `none` run of its round.
# Run as root after `cargo build --release --workspace --examples`; needs
# nginx, wrk, bpftrace, python3.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
EMPTY=${EMPTY:-target/release/examples/empty_probe}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-6}
PORT=${PORT:-18094}
MODES=${MODES:-"empty count print sock"}

source bench/nginx-load.sh
need nginx wrk bpftrace python3
for b in "$BIN" "$EMPTY"; do
    [ -x "$b" ] || { echo "bench: $b missing; run cargo build --release --workspace --examples" >&2; exit 1; }
done

tmp=$(mktemp -d)
bg_pid=
cleanup() {
    if [ -n "$bg_pid" ]; then
        kill -TERM "$bg_pid" 2>/dev/null || true
        wait "$bg_pid" 2>/dev/null || true
    fi
    stop_nginx
    rm -rf "$tmp"
}
trap cleanup EXIT
start_nginx "$PORT"
rps > /dev/null # warm-up: the first run after start is cold

cat > "$tmp/count.bt" <<'EOF'
tracepoint:sock:sock_send_length, tracepoint:sock:sock_recv_length { @calls[pid] = count(); }
EOF
cat > "$tmp/print.bt" <<'EOF'
tracepoint:sock:sock_send_length, tracepoint:sock:sock_recv_length
{ printf("%d %s %d\n", pid, comm, args->ret); }
EOF

start_mode() {
    case $1 in
        empty) "$EMPTY" 3600 > /dev/null & bg_pid=$!; sleep 1 ;;
        count | print) bpftrace "$tmp/$1.bt" > /dev/null 2>&1 & bg_pid=$!; sleep 3 ;;
        sock)
            "$BIN" sock -q > /dev/null 2> "$tmp/sock.err" &
            bg_pid=$!
            for _ in $(seq 50); do grep -q tracing "$tmp/sock.err" && break; sleep 0.1; done
            ;;
    esac
}
# A background job of a script ignores SIGINT unless it handles it (the
# tracers do; empty_probe does not).
stop_mode() {
    kill -INT "$bg_pid"
    [ "$1" = empty ] && kill -TERM "$bg_pid"
    wait "$bg_pid" || true
    bg_pid=
}

echo "## Floor of a record per socket syscall ($(date -u +%F), $(uname -r), $(nproc) cores, load average before: $(cut -d" " -f1-3 /proc/loadavg))"
echo
echo "nginx 1 worker + wrk -t1 -c32 -d${DUR}s on loopback; ratio to the round's run with no tracer."
echo
printf '| round | none (req/s) |'
for m in $MODES; do printf ' %s |' "$m"; done
echo
printf '|---|---|'
for m in $MODES; do printf -- '---|'; done
echo
for r in $(seq 1 "$ROUNDS"); do
    base=$(rps)
    row="| $r | $base |"
    for m in $MODES; do
        start_mode "$m"
        v=$(rps)
        stop_mode "$m"
        ratio=$(python3 -c "print(f'{$v / $base:.3f}')")
        echo "$m $ratio" >> "$tmp/ratios"
        row="$row $v ($ratio) |"
    done
    echo "$row"
done
echo
python3 - "$tmp/ratios" "$MODES" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print("Median ratios: " + ", ".join(
    f"{m} **{statistics.median(float(r) for k, r in rows if k == m):.3f}**" for m in sys.argv[2].split()))
EOF
