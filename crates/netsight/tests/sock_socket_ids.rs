//! A socket id is never reused (root only): a UDP client in one namespace
//! opens a socket, sends one datagram and closes it, again and again, so
//! the kernel hands later sockets the memory of earlier ones; every socket
//! gets an id of its own and its record is its first (cap_seq 0). The
//! syscall-exit fallback (run by scripts/test.sh) names sockets by address,
//! and UDP has no close tracepoint to forget one at.

mod common;
mod sock_support;

use std::collections::HashSet;

use common::{listen_port, NetPair, Server};
use sock_support::{of_type, python, unbase64, SockRun};

const SERVER: &str = r#"
import socket, sys, json, os
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", int(sys.argv[1])))
s.settimeout(5)
print(json.dumps({"ready": True}), flush=True)
got = [s.recv(64).decode() for _ in range(int(sys.argv[2]))]
print(json.dumps({"pid": os.getpid(), "got": got}), flush=True)
"#;

const CLIENT: &str = r#"
import socket, sys, json, os, time
inodes = []
for i in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    inodes.append(os.fstat(s.fileno()).st_ino)
    s.sendto(str(i).encode(), ("10.77.0.2", int(sys.argv[1])))
    s.close()
    time.sleep(0.03)  # an RCU grace period: the socket's memory is free again
print(json.dumps({"pid": os.getpid(), "inodes": inodes}))
"#;

const SOCKETS: usize = 30;

#[test]
fn every_socket_gets_an_id_of_its_own() {
    require_root!();
    let net = NetPair::ipv4_only("skids");
    let port = listen_port(19000, 19999).to_string();
    let count = SOCKETS.to_string();
    let sock = SockRun::start(&["--raw", "--port", &port]);
    let server = Server::start(python(&net.b, SERVER, &[&port, &count]));
    let sent = common::client(python(&net.a, CLIENT, &[&port, &count]));
    let got = server.finish();
    let lines = sock.stop();
    assert_eq!(lines.last().unwrap()["kernel_lost"], 0);
    assert_eq!(got["got"].as_array().unwrap().len(), SOCKETS);
    let inodes: HashSet<u64> = sent[0]["inodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert_eq!(inodes.len(), SOCKETS, "the kernel made {SOCKETS} sockets");

    let mine: Vec<_> = of_type(&lines, "data")
        .into_iter()
        .filter(|r| r["pid"] == sent[0]["pid"] && r["direction"] == "egress")
        .collect();
    assert_eq!(mine.len(), SOCKETS, "one record per socket");
    let ids: HashSet<u64> = mine
        .iter()
        .map(|r| r["socket_id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), SOCKETS, "an id per socket: {mine:?}");
    for r in &mine {
        assert_eq!(r["cap_seq"], 0, "each socket's first record: {r}");
        let text = String::from_utf8(unbase64(r["payload"].as_str().unwrap())).unwrap();
        assert!(text.parse::<usize>().unwrap() < SOCKETS, "{r}");
    }
}
