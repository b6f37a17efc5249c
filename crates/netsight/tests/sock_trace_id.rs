//! trace_id links a proxy's read with the write it forwards (root only): a
//! small proxy reads a request from its client and writes it upstream,
//! then reads the reply and writes it back; each forwarded pair shares one
//! trace_id, and different requests get different ones.

mod common;
mod sock_support;

use common::{listen_port, NetPair, Server};
use serde_json::Value;
use sock_support::{of_type, python, SockRun};

const UPSTREAM: &str = r#"
import socket, sys, json
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("127.0.0.1", int(sys.argv[1]))); l.listen()
print(json.dumps({"ready": True}), flush=True)
c, _ = l.accept()
while True:
    b = c.recv(4096)
    if not b: break
    c.sendall(b"reply to " + b)
print(json.dumps({"done": True}), flush=True)
"#;

const PROXY: &str = r#"
import socket, sys, json, os
l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
l.bind(("10.77.0.2", int(sys.argv[1]))); l.listen()
up = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
c, _ = l.accept()
while True:
    b = c.recv(4096)
    if not b: break
    up.sendall(b)
    c.sendall(up.recv(4096))
up.close()
print(json.dumps({"done": True, "pid": os.getpid()}), flush=True)
"#;

const CLIENT: &str = r#"
import socket, sys, json
s = socket.create_connection(("10.77.0.2", int(sys.argv[1])))
for i in range(int(sys.argv[2])):
    s.sendall(b"request %d" % i)
    s.recv(4096)
print(json.dumps({"done": True}))
"#;

#[test]
fn a_proxy_forwards_with_one_trace_id() {
    require_root!();
    let net = NetPair::ipv4_only("sktid");
    let front = listen_port(29000, 29499);
    let back = front + 500;
    let inode = common::netns_inode(&net.b).to_string();
    let sock = SockRun::start(&["--raw", "--netns", &inode]);
    let upstream = Server::start(python(&net.b, UPSTREAM, &[&back.to_string()]));
    let proxy = Server::start(python(
        &net.b,
        PROXY,
        &[&front.to_string(), &back.to_string()],
    ));
    let n = 8;
    common::client(python(
        &net.a,
        CLIENT,
        &[&front.to_string(), &n.to_string()],
    ));
    let proxy_pid = proxy.finish()["pid"].as_u64().unwrap();
    let _ = upstream.finish();
    let lines = sock.stop();
    let mut mine: Vec<&Value> = of_type(&lines, "data")
        .into_iter()
        .filter(|r| r["pid"] == proxy_pid)
        .collect();
    mine.sort_by_key(|r| r["ts"].as_str().map(String::from));
    let is = |r: &Value, dir: &str, port: u16| {
        r["direction"] == dir && (r["sport"] == port || r["dport"] == port)
    };
    let from_client: Vec<&&Value> = mine.iter().filter(|r| is(r, "ingress", front)).collect();
    let to_upstream: Vec<&&Value> = mine.iter().filter(|r| is(r, "egress", back)).collect();
    let from_upstream: Vec<&&Value> = mine.iter().filter(|r| is(r, "ingress", back)).collect();
    let to_client: Vec<&&Value> = mine.iter().filter(|r| is(r, "egress", front)).collect();
    assert_eq!(from_client.len(), n, "{mine:#?}");
    assert_eq!(to_upstream.len(), n);
    assert_eq!(from_upstream.len(), n);
    assert_eq!(to_client.len(), n);
    let mut ids = std::collections::BTreeSet::new();
    for i in 0..n {
        let request = from_client[i]["trace_id"].as_u64().unwrap();
        assert_ne!(request, 0);
        assert_eq!(to_upstream[i]["trace_id"], request, "request {i} forwarded");
        let reply = from_upstream[i]["trace_id"].as_u64().unwrap();
        assert_ne!(reply, 0);
        assert_ne!(reply, request);
        assert_eq!(to_client[i]["trace_id"], reply, "reply {i} forwarded");
        assert!(
            ids.insert(request) && ids.insert(reply),
            "ids are not reused"
        );
    }
}
