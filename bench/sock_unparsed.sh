#!/usr/bin/env bash
# Traffic of no known protocol under `netsight sock` (L7 mode): iperf3 over
# loopback with small writes (one syscall per LEN bytes), alternating no
# tracer, BEFORE (a netsight without muting) and BIN; Gbit/s per run and
# the tracer's CPU seconds. Run as root after `cargo build --release`; needs iperf3.
#   BEFORE=/path/to/old/netsight ROUNDS=3 DUR=5 LEN=1K bash bench/sock_unparsed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-target/release/netsight}
BEFORE=${BEFORE:?a netsight binary to compare with}
ROUNDS=${ROUNDS:-3}
DUR=${DUR:-5}
LEN=${LEN:-1K}
PORT=${PORT:-15201}
command -v iperf3 >/dev/null || { echo "bench: needs iperf3" >&2; exit 1; }
iperf3 -s -p "$PORT" -D
trap 'pkill -f "iperf3 -s -p $PORT" || true' EXIT
sleep 0.5
run() { # $1: label, $2: tracer binary or "none"
    local pid="" t0 t1 gbps
    if [ "$2" != none ]; then
        "$2" sock -q --port "$PORT" > /dev/null 2>&1 & pid=$!
        sleep 2
    fi
    gbps=$(iperf3 -c 127.0.0.1 -p "$PORT" -t "$DUR" -l "$LEN" -J | python3 -c 'import json,sys; print("%.2f" % (json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/1e9))')
    local cpu="-"
    if [ -n "$pid" ]; then
        cpu=$(awk '{printf "%.2f", ($14+$15)/100}' "/proc/$pid/stat")
        kill -INT "$pid"; wait "$pid" 2>/dev/null || true
    fi
    echo "| $1 | $gbps | $cpu |"
}
echo "## iperf3 -l $LEN, ${DUR}s, loopback ($(date -u +%F), $(uname -r))"
echo
echo "| case | Gbit/s | tracer CPU s |"
echo "|---|---|---|"
for r in $(seq 1 "$ROUNDS"); do
    run none none
    run "netsight sock, no muting" "$BEFORE"
    run "netsight sock, muting" "$BIN"
done
