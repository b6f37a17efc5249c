//! `netsight sock` on real DNS (root only): dnsmasq in one namespace, dig
//! in another asking over UDP and TCP for names that exist (A, AAAA) and
//! one that does not. Each dig makes one client record with the right
//! qname, qtype, rcode and answer count, and dnsmasq one server record.

mod common;
mod sock_support;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{listen_port, NetPair};
use serde_json::Value;
use sock_support::{of_type, SockRun};

struct Dnsmasq(Child);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_dnsmasq(ns: &str, port: u16) -> Dnsmasq {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "dnsmasq",
            "-k",
            "--no-resolv",
            "--no-hosts",
        ])
        .args([
            "--listen-address=10.77.0.2",
            "--bind-interfaces",
            "--user=root",
        ])
        .arg(format!("--port={port}"))
        .args(["--local=/test/", "--address=/www.netsight.test/10.1.2.3"])
        .args([
            "--address=/www.netsight.test/fd00::7",
            "--pid-file=",
            "--log-facility=-",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn dnsmasq");
    let deadline = Instant::now() + Duration::from_secs(10);
    let filter = format!("sport = :{port}");
    while common::sh(&["ip", "netns", "exec", ns, "ss", "-Htln", &filter])
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "dnsmasq did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Dnsmasq(child)
}

struct Query {
    name: &'static str,
    qtype: &'static str,
    tcp: bool,
    rcode: &'static str,
    answers: u64,
}

fn dig(ns: &str, port: u16, q: &Query) -> u64 {
    let mut c = Command::new("ip");
    c.args([
        "netns",
        "exec",
        ns,
        "dig",
        "@10.77.0.2",
        "-p",
        &port.to_string(),
    ]);
    c.args([q.name, q.qtype, "+tries=1", "+time=2", "+noedns"]);
    if q.tcp {
        c.arg("+tcp");
    }
    let child = c.stdout(Stdio::piped()).spawn().unwrap();
    let pid = u64::from(child.id());
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("status: {}", q.rcode)), "{text}");
    pid
}

fn queries() -> [Query; 5] {
    [
        Query {
            name: "www.netsight.test",
            qtype: "A",
            tcp: false,
            rcode: "NOERROR",
            answers: 1,
        },
        Query {
            name: "www.netsight.test",
            qtype: "AAAA",
            tcp: false,
            rcode: "NOERROR",
            answers: 1,
        },
        Query {
            name: "nothing.test",
            qtype: "A",
            tcp: false,
            rcode: "NXDOMAIN",
            answers: 0,
        },
        Query {
            name: "www.netsight.test",
            qtype: "A",
            tcp: true,
            rcode: "NOERROR",
            answers: 1,
        },
        Query {
            name: "nothing.test",
            qtype: "AAAA",
            tcp: true,
            rcode: "NXDOMAIN",
            answers: 0,
        },
    ]
}

/// Runs every query under `netsight sock` and returns (dig pids, records).
fn run_queries(tag: &str, queries: &[Query]) -> (Vec<u64>, Vec<Value>) {
    let net = NetPair::ipv4_only(tag);
    let port = listen_port(28000, 28999);
    let _dnsmasq = start_dnsmasq(&net.b, port);
    let sock = SockRun::start(&["--port", &port.to_string()]);
    let pids: Vec<u64> = queries.iter().map(|q| dig(&net.a, port, q)).collect();
    sock.wait_for("l7", 2 * queries.len());
    (pids, sock.stop())
}

/// dnsmasq's records of the query dig process `pid` made: over TCP the
/// connection's peer port is dig's own; over UDP (an unconnected socket) it
/// is none of dig's TCP ports.
fn served_by_dnsmasq<'a>(
    lines: &'a [Value],
    q: &Query,
    queries: &[Query],
    pids: &[u64],
) -> Vec<&'a Value> {
    let l7 = of_type(lines, "l7");
    let client_port = |pid: u64| {
        l7.iter()
            .find(|r| r["pid"] == pid && r["role"] == "client")
            .map(|r| r["sport"].clone())
    };
    let tcp_ports: Vec<Value> = queries
        .iter()
        .zip(pids)
        .filter(|(q, _)| q.tcp)
        .filter_map(|(_, pid)| client_port(*pid))
        .collect();
    let mine = queries
        .iter()
        .zip(pids)
        .find(|(x, _)| std::ptr::eq(*x, q))
        .and_then(|(_, pid)| client_port(*pid));
    l7.iter()
        .copied()
        .filter(|r| r["comm"] == "dnsmasq" && r["role"] == "server")
        .filter(|r| r["request"]["qname"] == q.name && r["request"]["qtype"] == q.qtype)
        .filter(|r| {
            if q.tcp {
                Some(&r["dport"]) == mine.as_ref()
            } else {
                !tcp_ports.contains(&r["dport"])
            }
        })
        .collect()
}

#[test]
fn dns_records_over_udp_and_tcp() {
    require_root!();
    let queries = queries();
    let (pids, lines) = run_queries("skdns", &queries);
    let l7 = of_type(&lines, "l7");
    for (q, pid) in queries.iter().zip(&pids) {
        let mine: Vec<&&Value> = l7.iter().filter(|r| r["pid"] == *pid).collect();
        assert_eq!(
            mine.len(),
            1,
            "one record for dig {} {}: {mine:#?}",
            q.name,
            q.qtype
        );
        let r = mine[0];
        assert_eq!(r["protocol"], "dns");
        assert_eq!(r["role"], "client");
        assert_eq!(r["request"]["qname"], q.name, "{r}");
        assert_eq!(r["request"]["qtype"], q.qtype, "{r}");
        assert_eq!(r["response"]["rcode"], q.rcode, "{r}");
        assert_eq!(r["response"]["answers"], q.answers, "{r}");
        assert!(r["latency_us"].as_u64().unwrap() > 0);
    }
    // dnsmasq's unconnected UDP socket: its reads name no peer, its records
    // are paired by DNS id.
    for q in queries.iter().filter(|q| !q.tcp) {
        let served = served_by_dnsmasq(&lines, q, &queries, &pids);
        assert_eq!(served.len(), 1, "{} {}: {served:#?}", q.name, q.qtype);
        assert_eq!(served[0]["response"]["rcode"], q.rcode);
        assert_eq!(served[0]["response"]["answers"], q.answers);
    }
}

/// dnsmasq reads a TCP query's length one byte at a time (read 1, read 1,
/// read 30): netsight-l7 holds the pieces until they say what they are.
#[test]
fn dns_server_records_of_split_tcp_reads() {
    require_root!();
    let queries = queries();
    let (pids, lines) = run_queries("skdnt", &queries);
    for q in queries.iter().filter(|q| q.tcp) {
        let served = served_by_dnsmasq(&lines, q, &queries, &pids);
        assert_eq!(served.len(), 1, "{} {}: {lines:#?}", q.name, q.qtype);
        assert_eq!(served[0]["response"]["rcode"], q.rcode);
    }
}
