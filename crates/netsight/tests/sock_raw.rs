//! `netsight sock --raw` is exact (root only): a client in one namespace
//! writes random bytes with write, send, sendmsg (several buffers) and
//! writev; each data record's payload is what the application wrote,
//! syscall_len what the syscall returned, cap_seq has no gap, and tcp_seq is
//! the sequence number tcpdump shows for that byte. The client runs in a
//! cgroup of its own, which its records name.

mod common;
mod sock_support;

use common::{listen_port, random_in, NetPair, Server};
use serde_json::Value;
use sock_support::{of_type, python, unbase64, Capture, SockRun};
use std::process::Command;

const SERVER: &str = r#"
import socket, sys, json
sizes = [int(x) for x in sys.argv[2].split(",")]
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.2", int(sys.argv[1]))); l.listen()
print(json.dumps({"ready": True}), flush=True)
c, _ = l.accept()
for n in sizes:
    while n:
        n -= len(c.recv(min(n, 8192)))
    c.sendall(b"k")
print(json.dumps({"done": True}), flush=True)
"#;

const CLIENT: &str = r#"
import socket, sys, json, os
sizes = [int(x) for x in sys.argv[2].split(",")]
cgroup = [l[3:].strip() for l in open("/proc/self/cgroup") if l.startswith("0::")]
s = socket.create_connection(("10.77.0.2", int(sys.argv[1])))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
out = []
for i, n in enumerate(sizes):
    data = os.urandom(n)
    kind = ["write", "sendto", "sendmsg", "writev"][i % 4]
    if kind == "write":
        ret = os.write(s.fileno(), data)
    elif kind == "sendto":
        ret = s.send(data)
    elif kind == "sendmsg":
        ret = s.sendmsg([data[: n // 2], data[n // 2 :]])
    else:
        ret = os.writev(s.fileno(), [data[: n // 3], data[n // 3 : 2 * n // 3], data[2 * n // 3 :]])
    out.append({"syscall": kind, "ret": ret, "hex": data[:ret].hex()})
    s.recv(1)
print(json.dumps({"pid": os.getpid(), "cgroup": (cgroup or ["/"])[0], "writes": out}))
"#;

/// A cgroup v2 directory for one test, removed when dropped (after the
/// processes in it ended); None where no cgroup2 hierarchy is mounted.
struct TestCgroup(std::path::PathBuf);

impl TestCgroup {
    fn new(name: &str) -> Option<TestCgroup> {
        // Where cgroup2 is mounted: /sys/fs/cgroup, or .../unified on hybrid hosts.
        let mounts = std::fs::read_to_string("/proc/self/mounts").ok()?;
        let root = mounts.lines().find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(2) == Some(&"cgroup2")).then(|| std::path::PathBuf::from(f[1]))
        })?;
        let dir = root.join(format!("netsight-test-{name}-{}", std::process::id()));
        std::fs::create_dir(&dir).ok()?;
        Some(TestCgroup(dir))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// `command`, started inside `cgroup` (moved there before `ip netns exec`,
/// which mounts a sysfs of its own over the cgroup hierarchy).
fn in_cgroup(cgroup: Option<&TestCgroup>, command: Command) -> Command {
    let Some(c) = cgroup else {
        return command;
    };
    let mut sh = Command::new("sh");
    sh.args(["-c", "echo $$ > \"$0/cgroup.procs\" && exec \"$@\""]);
    sh.arg(&c.0)
        .arg(command.get_program())
        .args(command.get_args());
    sh
}

fn records_of(all: &[Value], pid: u64, port: u16) -> Vec<&Value> {
    let mut v: Vec<&Value> = of_type(all, "data")
        .into_iter()
        .filter(|r| r["pid"] == pid && (r["dport"] == port || r["sport"] == port))
        .collect();
    v.sort_by_key(|r| r["cap_seq"].as_u64());
    v
}

fn assert_gapless(records: &[&Value]) {
    for (i, r) in records.iter().enumerate() {
        assert_eq!(r["cap_seq"], i as u64, "cap_seq gap at {i}: {r}");
        assert_eq!(r["socket_id"], records[0]["socket_id"]);
    }
}

#[test]
fn raw_records_equal_what_the_application_wrote() {
    require_root!();
    let net = NetPair::ipv4_only("skraw");
    let port = listen_port(20000, 21999);
    // Random sizes; one bigger than the capture (truncated to 16384).
    let mut sizes: Vec<String> = (0..23)
        .map(|i| random_in(1, 12000 + i).to_string())
        .collect();
    sizes.push("20000".into());
    let sizes = sizes.join(",");
    let port_s = port.to_string();
    let capture = Capture::start(
        &net.a,
        &format!("tcp and src host 10.77.0.1 and dst port {port}"),
    );
    let sock = SockRun::start(&["--raw", "--port", &port_s, "--payload-bytes", "16384"]);
    let server = Server::start(python(&net.b, SERVER, &[&port_s, &sizes]));
    let cgroup = TestCgroup::new("skraw");
    let report = common::client(in_cgroup(
        cgroup.as_ref(),
        python(&net.a, CLIENT, &[&port_s, &sizes]),
    ));
    let _ = server.finish();
    let packets = capture.stop();
    let lines = sock.stop();
    let summary = lines.last().expect("summary");
    assert_eq!(summary["type"], "summary");
    assert_eq!(summary["kernel_lost"], 0);
    assert_eq!(summary["user_lost"], 0);
    assert!(of_type(&lines, "lost").is_empty());

    let pid = report[0]["pid"].as_u64().unwrap();
    let writes = report[0]["writes"].as_array().unwrap();
    let client = records_of(&lines, pid, port);
    assert_gapless(&client);
    // The cgroup the kernel side read for each record is the client's own.
    let client_cgroup = report[0]["cgroup"].as_str().unwrap();
    if let Some(c) = &cgroup {
        assert!(
            c.0.ends_with(client_cgroup.trim_start_matches('/')),
            "{client_cgroup}"
        );
    }
    for r in &client {
        assert_eq!(r["cgroup"], client_cgroup, "cap_seq {}", r["cap_seq"]);
    }
    let egress: Vec<&&Value> = client
        .iter()
        .filter(|r| r["direction"] == "egress")
        .collect();
    assert_eq!(egress.len(), writes.len(), "one record per write");
    let starts: Vec<u32> = packets.iter().map(|p| p.0).collect();
    let mut stream = Vec::new();
    for (r, w) in egress.iter().zip(writes) {
        let wrote = hex(w["hex"].as_str().unwrap());
        let ret = w["ret"].as_u64().unwrap();
        assert_eq!(r["syscall"], w["syscall"], "{r}");
        assert_eq!(r["syscall_len"], ret, "{r}");
        let cap = ret.min(16384) as usize;
        assert_eq!(r["cap_len"], cap as u64);
        assert_eq!(
            unbase64(r["payload"].as_str().unwrap()),
            &wrote[..cap],
            "payload of {r}"
        );
        let seq = r["tcp_seq"].as_u64().unwrap() as u32;
        assert!(
            starts.contains(&seq),
            "tcp_seq {seq} is no packet's first byte: {packets:?}"
        );
        assert_eq!(r["l7_hint"], "unknown");
        stream.extend_from_slice(&wrote);
    }
    // The server's reads, in order, are the same stream, and their tcp_seq
    // runs on from the client's first byte.
    let server_side: Vec<&Value> = of_type(&lines, "data")
        .into_iter()
        .filter(|r| r["sport"] == port && r["pid"] != pid)
        .collect();
    let mut server_side = server_side;
    server_side.sort_by_key(|r| r["cap_seq"].as_u64());
    assert_gapless(&server_side);
    let reads: Vec<&&Value> = server_side
        .iter()
        .filter(|r| r["direction"] == "ingress")
        .collect();
    let mut got = Vec::new();
    let mut next_seq = egress[0]["tcp_seq"].as_u64().unwrap() as u32;
    for r in &reads {
        assert_eq!(r["tcp_seq"].as_u64().unwrap() as u32, next_seq, "{r}");
        assert_eq!(r["syscall"], "recvfrom");
        next_seq = next_seq.wrapping_add(r["syscall_len"].as_u64().unwrap() as u32);
        got.extend(unbase64(r["payload"].as_str().unwrap()));
    }
    assert_eq!(got.len(), stream.len());
    assert!(
        got == stream,
        "the server's reads differ from the client's writes"
    );
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const SENDFILE_CLIENT: &str = r#"
import socket, sys, os, json, tempfile
n = int(sys.argv[2])
f = tempfile.TemporaryFile()
f.write(os.urandom(n)); f.flush()
cgroup = [l[3:].strip() for l in open("/proc/self/cgroup") if l.startswith("0::")]
s = socket.create_connection(("10.77.0.2", int(sys.argv[1])))
sent = 0
while sent < n:
    sent += os.sendfile(s.fileno(), f.fileno(), sent, n - sent)
s.recv(1)
print(json.dumps({"pid": os.getpid(), "sent": sent}))
"#;

/// sendfile has no user buffer: its bytes are counted, not captured (the
/// doctor row that is `off`), and the count equals what the client sent.
#[test]
fn sendfile_bytes_are_counted_exactly() {
    require_root!();
    let net = NetPair::ipv4_only("sksf");
    let port = listen_port(18000, 18999).to_string();
    let n = random_in(100_000, 300_000);
    let sock = SockRun::start(&["--raw", "--port", &port]);
    let server = Server::start(python(&net.b, SERVER, &[&port, &n.to_string()]));
    let report = common::client(python(&net.a, SENDFILE_CLIENT, &[&port, &n.to_string()]));
    let _ = server.finish();
    let lines = sock.stop();
    assert_eq!(report[0]["sent"], n);
    let summary = lines.last().expect("summary");
    assert_eq!(summary["uncaptured"]["sendfile_bytes"], n, "{summary}");
    assert!(summary["uncaptured"]["sendfile_calls"].as_u64().unwrap() >= 1);
    // The receiving side's reads are ordinary captured records.
    let read: u64 = of_type(&lines, "data")
        .iter()
        .filter(|r| r["direction"] == "ingress" && r["sport"] == port.parse::<u16>().unwrap())
        .map(|r| r["syscall_len"].as_u64().unwrap())
        .sum();
    assert_eq!(read, n);
}
