//! `netsight stat --system` against the kernel's own counters: known
//! traffic between two network namespaces this test creates (joined by a
//! veth pair), measured by the real binary with `--netns`, compared with the
//! traffic's exact size and with `nstat` read in the same namespace.
//!
//! Root only (namespaces, setns); without root the traffic tests print why
//! and pass. Every namespace is removed by a guard, even on panic.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

mod common;
use common::{is_root, NetPair};

const BIN: &str = env!("CARGO_BIN_EXE_netsight");
const ADDR_A: &str = NetPair::ADDR_A;
const ADDR_B: &str = NetPair::ADDR_B;

/// The chart ids of seeds/000 §2.1.2, written out here independently of
/// the implementation's table.
const SEED_CHARTS: &[&str] = &[
    "ip.tcpconnaborts",
    "ip.tcp_accept_queue",
    "ip.tcpreorders",
    "ip.tcpofo",
    "ip.tcpsyncookies",
    "ip.mcast",
    "ip.mcastpkts",
    "ip.ecnpkts",
    "ipv4.sockstat_sockets",
    "ipv4.packets",
    "ipv4.errors",
    "ipv4.icmp",
    "ipv4.icmp_errors",
    "ipv4.icmpmsg",
    "ipv4.tcpsock",
    "ipv4.sockstat_tcp_sockets",
    "ipv4.tcppackets",
    "ipv4.tcpopens",
    "ipv4.tcperrors",
    "ipv4.tcphandshake",
    "ipv4.tcpbytes",
    "ipv4.sockstat_tcp_mem",
    "ipv4.sockstat_udp_sockets",
    "ipv4.udppackets",
    "ipv4.udperrors",
    "ipv4.sockstat_udp_mem",
    "ipv4.sockstat_raw_sockets",
    "ipv6.packets",
    "ipv6.ect",
    "ipv6.sockstat6_tcp_sockets",
    "ipv6.sockstat6_udp_sockets",
    "ipv6.udppackets",
    "ipv6.mcast",
    "ipv6.mcastpkts",
    "ipv6.icmp",
    "ipv6.icmprouter",
    "ipv6.icmpneighbor",
    "ipv6.icmpmldv2",
    "ipv6.icmptypes",
];

/// The records of a finished `netsight ... --json` run that must have succeeded.
fn json_lines(out: std::process::Output) -> Vec<Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Runs `f` on a thread inside namespace `ns`: sockets it makes live there.
fn in_netns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> JoinHandle<T> {
    let path = format!("/run/netns/{ns}");
    std::thread::spawn(move || {
        let nsf = File::open(&path).expect("open netns");
        // SAFETY: valid descriptor held by `nsf`; affects only this thread.
        let rc = unsafe { libc::setns(nsf.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
        f()
    })
}

/// `nstat` absolute counters of namespace `ns` (history left untouched).
fn nstat(ns: &str) -> HashMap<String, u64> {
    let out = Command::new("ip")
        .args(["netns", "exec", ns, "nstat", "-asz"])
        .output()
        .expect("nstat");
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let mut t = l.split_whitespace();
            Some((t.next()?.to_string(), t.next()?.parse().ok()?))
        })
        .collect()
}

/// A running `netsight stat --system --json`, killed if the test ends early.
struct Netsight {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Netsight {
    fn start(ns: &str, count: u32) -> Netsight {
        let mut child = Command::new(BIN)
            .args([
                "stat",
                "--system",
                "--json",
                "--netns",
                ns,
                "-i",
                "1",
                "-c",
                &count.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start netsight");
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Netsight { child, lines }
    }

    fn first_line(&self) -> String {
        self.lines
            .recv_timeout(Duration::from_secs(10))
            .expect("netsight printed nothing in 10 s")
    }

    /// Waits for the exit (bounded) and returns every JSON record.
    fn finish(mut self, first: String) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "netsight did not finish");
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "netsight exited with {status}");
        let mut all = vec![first];
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
            all.push(l);
        }
        all.iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }
}

impl Drop for Netsight {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum over every interval of rate x interval_s for `chart`.`dim`, each
/// interval rounded to the whole count the kernel counted.
fn total(records: &[Value], chart: &str, dim: &str) -> u64 {
    records
        .iter()
        .filter(|r| r["chart"] == chart)
        .map(|r| {
            let rate = r["values"][dim]
                .as_f64()
                .unwrap_or_else(|| panic!("{chart}.{dim} missing in {r}"));
            let n = (rate * r["interval_s"].as_f64().unwrap()).round();
            assert!(n >= 0.0, "{chart}.{dim} negative: {r}");
            n as u64
        })
        .sum()
}

fn intervals(records: &[Value]) -> usize {
    records
        .iter()
        .filter(|r| r["chart"] == "ipv4.tcpopens")
        .count()
}

const SHORT_CONNS: usize = 19;
const LONG_BYTES: usize = 100_000;
const PINGS: u32 = 5;
const DATAGRAMS: usize = 50;
const INTERVALS: u32 = 5;

#[test]
fn known_traffic_in_a_namespace_matches_the_kernel_and_the_traffic() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    let net = NetPair::ipv4_only("t");
    let short_addr: SocketAddr = format!("{ADDR_B}:7001").parse().unwrap();
    let long_addr: SocketAddr = format!("{ADDR_B}:7002").parse().unwrap();
    let udp_addr: SocketAddr = format!("{ADDR_B}:7003").parse().unwrap();

    // Servers in B, ready before anything is measured.
    let (ready_tx, ready) = mpsc::channel();
    let server = in_netns(&net.b, move || {
        let short = TcpListener::bind(short_addr).unwrap();
        let long = TcpListener::bind(long_addr).unwrap();
        let udp = UdpSocket::bind(udp_addr).unwrap();
        udp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        ready_tx.send(()).unwrap();
        let (mut long_conn, _) = long.accept().unwrap();
        long_conn
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut got = vec![0u8; LONG_BYTES];
        long_conn.read_exact(&mut got).unwrap();
        for _ in 0..SHORT_CONNS {
            drop(short.accept().unwrap());
        }
        let mut buf = [0u8; 256];
        for _ in 0..DATAGRAMS {
            udp.recv(&mut buf).unwrap();
        }
        long_conn // kept open until every measurement is over
    });
    ready
        .recv_timeout(Duration::from_secs(10))
        .expect("servers did not start");

    let before_a = nstat(&net.a);
    let ns_a = Netsight::start(&net.a, INTERVALS);
    let ns_b = Netsight::start(&net.b, INTERVALS);
    // One interval printed by both: their baselines are taken, traffic from
    // now on falls inside what they measure.
    let (first_a, first_b) = (ns_a.first_line(), ns_b.first_line());

    let client = in_netns(&net.a, move || {
        let mut long = TcpStream::connect(long_addr).unwrap();
        long.write_all(&[0x5a; LONG_BYTES]).unwrap();
        for _ in 0..SHORT_CONNS {
            drop(TcpStream::connect(short_addr).unwrap());
        }
        let udp = UdpSocket::bind(format!("{ADDR_A}:0")).unwrap();
        for _ in 0..DATAGRAMS {
            udp.send_to(&[1u8; 100], udp_addr).unwrap();
            std::thread::sleep(Duration::from_millis(2));
        }
        long
    });
    let ping = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.a,
            "ping",
            "-q",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            ADDR_B,
        ])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(ping.success(), "ping failed");
    let long_client = client.join().expect("client");
    let long_server = server.join().expect("server");

    let a = ns_a.finish(first_a);
    let b = ns_b.finish(first_b);
    let after_a = nstat(&net.a);
    drop((long_client, long_server));

    assert_eq!(intervals(&a), INTERVALS as usize);
    for rec in &a {
        assert_eq!(rec["type"], "system");
        assert!(rec["ts"].as_str().unwrap().ends_with('Z'));
        let i = rec["interval_s"].as_f64().unwrap();
        assert!((0.5..2.0).contains(&i), "interval_s {i}");
    }

    let conns = SHORT_CONNS as u64 + 1;
    let active = total(&a, "ipv4.tcpopens", "Active");
    let passive = total(&b, "ipv4.tcpopens", "Passive");
    eprintln!("tcpopens: Active {active} (A), Passive {passive} (B), expected {conns}");
    assert_eq!(active, conns);
    assert_eq!(passive, conns);

    let sent_segs = total(&a, "ipv4.tcppackets", "Sent");
    let nstat_segs = after_a["TcpOutSegs"] - before_a["TcpOutSegs"];
    eprintln!("tcppackets Sent {sent_segs}, nstat TcpOutSegs delta {nstat_segs}");
    assert!(nstat_segs > 0);
    assert!(
        sent_segs.abs_diff(nstat_segs) as f64 <= 0.02 * nstat_segs as f64,
        "{sent_segs} vs nstat {nstat_segs}"
    );

    let pings = u64::from(PINGS);
    let (out_echos, in_reps) = (
        total(&a, "ipv4.icmpmsg", "OutEchos"),
        total(&a, "ipv4.icmpmsg", "InEchoReps"),
    );
    let (in_echos, out_reps) = (
        total(&b, "ipv4.icmpmsg", "InEchos"),
        total(&b, "ipv4.icmpmsg", "OutEchoReps"),
    );
    eprintln!("icmp: A OutEchos {out_echos} InEchoReps {in_reps}; B InEchos {in_echos} OutEchoReps {out_reps}");
    assert_eq!([out_echos, in_reps, in_echos, out_reps], [pings; 4]);
    assert_eq!(total(&a, "ipv4.icmp", "Sent"), pings);
    assert_eq!(after_a["IcmpOutEchos"] - before_a["IcmpOutEchos"], pings);

    let (udp_sent, udp_received) = (
        total(&a, "ipv4.udppackets", "Sent"),
        total(&b, "ipv4.udppackets", "Received"),
    );
    eprintln!("udp: Sent {udp_sent} (A), Received {udp_received} (B), expected {DATAGRAMS}");
    assert_eq!(udp_sent, DATAGRAMS as u64);
    assert_eq!(udp_received, DATAGRAMS as u64);

    // The long connection stayed open across every sample, so sock_diag saw
    // all of its bytes. `tcpi_bytes_acked` also counts the active opener's
    // SYN (1 sequence number), hence +1; a short connection caught open at a
    // sample would add its own 1.
    let bytes = |records: &[Value], dim: &str| -> usize {
        let kib: f64 = records
            .iter()
            .filter(|r| r["chart"] == "ipv4.tcpbytes")
            .map(|r| r["values"][dim].as_f64().unwrap() * r["interval_s"].as_f64().unwrap())
            .sum();
        (kib * 1024.0).round() as usize
    };
    let (bytes_sent, bytes_received) = (bytes(&a, "Sent"), bytes(&b, "Received"));
    eprintln!(
        "tcpbytes: Sent {bytes_sent} B (A), Received {bytes_received} B (B), written {LONG_BYTES}"
    );
    assert!(
        (LONG_BYTES + 1..=LONG_BYTES + 1 + SHORT_CONNS).contains(&bytes_sent),
        "{bytes_sent}"
    );
    assert_eq!(bytes_received, LONG_BYTES);

    // Gauges are current values: the long connection is established at
    // each end while measured.
    let last_estab = a
        .iter()
        .rev()
        .find(|r| r["chart"] == "ipv4.tcpsock")
        .unwrap();
    assert_eq!(last_estab["values"]["Connections"], 1.0);

    // Every seed chart in every interval, in both namespaces.
    for records in [&a, &b] {
        for id in SEED_CHARTS {
            let n = records.iter().filter(|r| r["chart"] == *id).count();
            assert_eq!(n, INTERVALS as usize, "{id} appears {n} times");
        }
    }
}

#[test]
fn every_seed_chart_is_in_the_json_output() {
    let out = Command::new(BIN)
        .args(["stat", "--system", "--json", "-i", "0.2", "-c", "2"])
        .output()
        .unwrap();
    let records = json_lines(out);
    for id in SEED_CHARTS {
        let recs: Vec<_> = records.iter().filter(|r| r["chart"] == *id).collect();
        assert_eq!(recs.len(), 2, "{id}");
        for r in recs {
            assert!(
                r["unit"].is_string()
                    && r["values"].is_object()
                    && r["interval_s"].as_f64().unwrap() > 0.0
            );
            for (dim, v) in r["values"].as_object().unwrap() {
                let v = v
                    .as_f64()
                    .unwrap_or_else(|| panic!("{id}.{dim} not a number"));
                assert!(v >= 0.0 && v.is_finite(), "{id}.{dim} = {v}");
            }
        }
    }
}

#[test]
fn human_table_groups_charts() {
    let out = Command::new(BIN)
        .args(["stat", "--system", "-i", "0.2", "-c", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for heading in ["TCP/IP extensions", "IPv4", "IPv6", "rates per second over"] {
        assert!(text.contains(heading), "{heading} missing:\n{text}");
    }
    assert!(text.contains("ipv4.tcppackets"));
    let quiet = Command::new(BIN)
        .args(["stat", "--system", "-q", "-i", "0.2", "-c", "1"])
        .output()
        .unwrap();
    assert!(!String::from_utf8(quiet.stdout)
        .unwrap()
        .contains("rates per second over"));
}

#[test]
fn bad_namespaces_are_usage_errors() {
    let run = |ns: &str| {
        let out = Command::new(BIN)
            .args(["stat", "--system", "--netns", ns, "-c", "1"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, err) = run("netsight-no-such-namespace");
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.starts_with("netsight: --netns") && err.lines().count() == 1,
        "{err}"
    );
    assert_eq!(run("/nonexistent/ns").0, Some(2));
    assert_eq!(run("1").0, Some(2), "no namespace has inode 1");
    if is_root() {
        let (code, err) = run("/etc/hostname");
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("not a network namespace"), "{err}");
    }
}

#[test]
fn namespace_by_inode_reads_that_namespace() {
    if !is_root() {
        eprintln!("skipped: needs root (network namespaces)");
        return;
    }
    use std::os::unix::fs::MetadataExt;
    // An unnamed namespace (no /run/netns entry): only its process leads to
    // it. It pings its own loopback ~100 times a second, the host does not.
    let mut pinger = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec ping -q -c 1500 -i 0.01 127.0.0.1",
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("unshare");
    std::thread::sleep(Duration::from_millis(300));
    let ino = std::fs::metadata(format!("/proc/{}/ns/net", pinger.id()))
        .unwrap()
        .ino();
    assert_ne!(ino, std::fs::metadata("/proc/self/ns/net").unwrap().ino());
    let out = Command::new(BIN)
        .args([
            "stat",
            "--system",
            "--json",
            "--netns",
            &ino.to_string(),
            "-i",
            "0.5",
            "-c",
            "2",
        ])
        .output();
    let _ = pinger.kill();
    let _ = pinger.wait();
    let out = out.unwrap();
    let records = json_lines(out);
    let echos = total(&records, "ipv4.icmpmsg", "OutEchos");
    eprintln!("namespace {ino}: {echos} echo requests in ~1 s");
    assert!(echos >= 30, "{echos}");
}
