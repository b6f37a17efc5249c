#!/usr/bin/env python3
"""CPU cost of one interval's gauges (issue 12): `netsight stat` with N open
TCP connections spread over M network namespaces, against the same run with
none, on each gauge path this kernel can take.

    python3 bench/gauges.py [--netsight target/release/netsight] [--ns 10] [--conns 1000] [--intervals 20]

Each namespace gets one holder process: a loopback listener and CONNS
client connections to it. After netsight's first interval every holder sends
one byte each way on every connection (so netsight tracks both ends). netsight runs `stat --json -i 0.5`; the CPU time of
its threads (schedstat, ns; the iterators run in its read() calls, so kernel
time is included) over INTERVALS intervals after the second, divided by
INTERVALS, is the cost of one interval. The same without holders is the
floor. Run as root. Namespaces are removed on exit, even on Ctrl-C.
"""

import argparse
import os
import resource
import subprocess
import sys
import time

HOLDER = r"""
import socket, sys
conns = int(sys.argv[1])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(conns)
port = ls.getsockname()[1]
pairs = []
for _ in range(conns):
    c = socket.create_connection(("127.0.0.1", port))
    s, _ = ls.accept()
    pairs.append((c, s))
def touch():
    for c, s in pairs:
        c.sendall(b"x"); s.recv(1); s.sendall(b"y"); c.recv(1)
print("ready", flush=True)
# Each line on stdin: one byte each way on every connection again, so that a
# netsight started since then tracks both ends (it knows a socket once used).
for line in sys.stdin:
    touch()
    print("touched", flush=True)
"""


def sh(*args):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)


def task_cpu_ns(pid):
    """CPU time of every thread of pid so far, in ns (schedstat's first field)."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


def touch(holders):
    for p in holders:
        p.stdin.write("touch\n")
        p.stdin.flush()
    for p in holders:
        assert p.stdout.readline().strip() == "touched", "holder failed"


def cpu_per_interval(cmd, intervals, holders):
    """ms of CPU netsight spends per interval, between its 3rd interval and
    INTERVALS later (start-up, which loads and verifies the programs, is
    left out). The holders use every connection once after the first
    interval, so netsight tracks them all."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    seen, start = 0, None
    try:
        for line in proc.stdout:
            if '"type":"summary"' not in line:
                continue
            seen += 1
            if seen == 1:
                touch(holders)
            if seen == 3:
                start = task_cpu_ns(proc.pid)
            elif seen == 3 + intervals:
                return (task_cpu_ns(proc.pid) - start) / intervals / 1e6
    finally:
        proc.kill()
        proc.wait()
    raise SystemExit("netsight stopped early")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--netsight", default="target/release/netsight")
    ap.add_argument("--ns", type=int, default=10)
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--intervals", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    names = [f"nsg-bench-{os.getpid()}-{i}" for i in range(a.ns)]
    holders = []
    try:
        for n in names:
            sh("ip", "netns", "add", n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        paths = {
            "task files (iter/task_file)": ["--refuse", "dump_sockets"],
            "per namespace (iter/tcp + iter/udp)": ["--refuse", "dump_sockets,dump_files"],
        }
        doctor = subprocess.run([a.netsight, "doctor", "--json"], capture_output=True, text=True)
        if '"gauge_path":"socket-storage' in doctor.stdout:
            paths = {"storage map (iter/bpf_sk_storage_map)": [], **paths}
        else:
            print("this kernel refuses iter/bpf_sk_storage_map: storage-map path not measured")

        stat = lambda extra: [a.netsight, *extra, "stat", "--json", "-i", "0.5"]
        best = lambda extra, holders: min(
            cpu_per_interval(stat(extra), a.intervals, holders) for _ in range(a.rounds))
        empty = {label: best(extra, []) for label, extra in paths.items()}

        t0 = time.time()
        for n in names:
            p = subprocess.Popen(
                ["ip", "netns", "exec", n, "prlimit", f"--nofile={a.conns * 2 + 64}",
                 sys.executable, "-c", HOLDER, str(a.conns)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            holders.append(p)
        for p in holders:
            assert p.stdout.readline().strip() == "ready", "holder failed"
        print(f"{a.ns} namespaces x {a.conns} connections ({a.ns * a.conns * 2} sockets) "
              f"set up in {time.time() - t0:.1f} s")
        # The peer: what `ss -tin` (sock_diag over netlink) costs to read the
        # same gauges from every namespace once.
        ss_ms = []
        for _ in range(a.rounds):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            for n in names:
                subprocess.run(["ip", "netns", "exec", n, "ss", "-tin"], stdout=subprocess.DEVNULL,
                               check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            ss_ms.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1e3)
        print(f"peer: `ss -tin` in each namespace: {min(ss_ms):.2f} ms CPU (best of {a.rounds})")
        for label, extra in paths.items():
            print(f"{label}: {best(extra, holders):.2f} ms CPU per interval with them, "
                  f"{empty[label]:.2f} ms without (best of {a.rounds} runs of {a.intervals} "
                  "intervals)")
    finally:
        for p in holders:
            p.kill()
            p.wait()
        for n in names:
            subprocess.run(["ip", "netns", "del", n], stderr=subprocess.DEVNULL)


if __name__ == "__main__":
    main()
