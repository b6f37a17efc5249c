#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests and the root
# integration tests (real BPF programs, real namespaces). Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# One test at a time: the root tests watch the whole kernel, so a
# neighbour's traffic must not land in their window.
cargo test --workspace -- --test-threads=1
# The per-process, trace, agent and top tests again on the other gauge paths
# (as on kernels that refuse the iterators tried first): they must give the
# same numbers. The first run took the first path this kernel accepts. The
# last pass also refuses on_task_exit: the I/O cache then asks the kernel
# who calls on every send/receive, and must count the same.
gauge_tests=(--test stat_process --test trace_events --test agent_influx
    --test agent_prometheus --test top_tmux)
if ./target/debug/netsight doctor --json | grep -q '"gauge_path":"socket-storage'; then
    NETSIGHT_REFUSE=dump_sockets cargo test --workspace "${gauge_tests[@]}" -- --test-threads=1
fi
NETSIGHT_REFUSE=dump_sockets,dump_files,on_task_exit cargo test --workspace "${gauge_tests[@]}" -- --test-threads=1
# The socket tracer again on its syscall-exit fallback (what kernels before
# 6.3 run): the same records for the same traffic.
sock_tests=(--test sock_raw --test sock_mmsg --test sock_socket_ids --test sock_http --test sock_redis
    --test sock_dns --test sock_trace_id --test sock_status --test example)
NETSIGHT_REFUSE=trace_send,trace_recv cargo test -p netsight -p netsight-tracer "${sock_tests[@]}" -- --test-threads=1
# The kernel matrix: the static binary booted on Debian's 6.1 and 6.12
# kernels under qemu (doctor, selftest, exact loopback bytes); ~2-3 min.
cargo xtask vmtest
