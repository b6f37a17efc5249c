#!/usr/bin/env bash
# Installs what building and testing netsight needs on Debian 12 (as root):
# the BPF toolchain, the test networks' tools, and Rust if it is missing.
set -euo pipefail

packages=(
    # build: clang compiles the BPF C; libbpf-sys builds libbpf against libelf/zlib
    clang llvm gcc libc6-dev make pkg-config libelf-dev zlib1g-dev
    # tests: namespaces, firewalls to make loss and drops, kernel counters
    iproute2 iptables nftables ipset ethtool iputils-ping procps tmux
    # exporter tests talk to the real servers
    influxdb prometheus
    # socket tracer tests and benchmarks: real servers and clients, and a
    # packet capture as the independent truth for tcp_seq
    nginx redis-server redis-tools dnsmasq bind9-dnsutils tcpdump curl wrk python3
    # ping tests and bench: a tc spin fixture (clang, above), UDP filler and hog (python3),
    # SCHED_FIFO (util-linux chrt/taskset), TCP load (iperf3), rendering --svg (rsvg-convert)
    python3 util-linux iperf3 bpftool librsvg2-bin
    # cargo xtask vmtest: boots Debian kernels under qemu with a busybox initramfs
    qemu-system-x86 busybox-static
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
        echo "setup: installing Rust with rustup"
        apt-get install -y -qq curl ca-certificates >/dev/null
        curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
    }
    export PATH="$HOME/.cargo/bin:$PATH"
fi

# BPF programs attach through tracefs (classic tracepoints) and pin on bpffs.
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf 2>/dev/null || true
