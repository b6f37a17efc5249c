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
# The kernel matrix: the static binary booted on Debian's 6.1 and 6.12
# kernels under qemu (doctor, selftest, exact loopback bytes); ~2-3 min.
cargo xtask vmtest
