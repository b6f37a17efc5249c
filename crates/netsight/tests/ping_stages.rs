//! `netsight ping` against what the kernel really did (issue 14). Root
//! only; client in namespace a, server in b, joined by veth. Each test
//! injects a known delay into one stage and checks that that stage, and
//! only that stage, grows by it. Margins suit noisy 2-core VMs: tens of
//! ms injected against baselines of tens of us.

mod common;
mod ping_support;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{netns_inode, sh, NetPair};
use ping_support::*;

const LOCAL: [&str; 8] = [
    "total",
    "tx_user",
    "tx_qdisc",
    "tx_driver",
    "rx_softirq",
    "rx_stack",
    "rx_wakeup",
    "rx_queue",
];
const REMOTE: [&str; 4] = ["outlink", "remote_rx", "remote_tx", "inlink"];

/// Every stage is seen in each probe (the first may beat the server's
/// probe load), with one exception: `rx_wakeup` exists only when the client
/// thread was asleep as the reply became ready; a client still on its way
/// into the read has none, and its wait is all `rx_queue`. The wake-up must
/// still show in some probe of the run.
fn assert_every_stage(probes: &[serde_json::Value], what: &str) {
    for p in &probes[1..] {
        for name in LOCAL.iter().chain(&REMOTE) {
            let seen = stage(p, name).is_some()
                || (*name == "rx_wakeup" && stage(p, "rx_queue").is_some());
            assert!(seen, "{name} unseen{what}: {p}");
        }
    }
    assert!(
        probes.iter().any(|p| stage(p, "rx_wakeup").is_some()),
        "rx_wakeup never seen{what}: {probes:?}"
    );
}

/// Stages an injected delay of `ms` must not reach (well under it).
fn assert_small(probes: &[serde_json::Value], stages: &[&str], limit_us: f64) {
    for name in stages {
        for p in probes {
            if let Some(v) = stage(p, name) {
                assert!(v < limit_us, "{name} = {v} us should stay small: {p}");
            }
        }
    }
}

#[test]
fn pingpong_without_a_server_has_local_stages_and_null_remote_ones() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("pp");
    let (probes, stat) = client(&net, &["--mode", "pingpong", "-C", "5", "-i", "50000"]);
    assert_eq!(
        (stat["sent"].as_u64(), stat["replied"].as_u64()),
        (Some(5), Some(5))
    );
    assert_eq!(probes.len(), 5);
    for p in &probes {
        for name in [
            "total",
            "tx_user",
            "tx_qdisc",
            "tx_driver",
            "rx_stack",
            "rx_queue",
        ] {
            assert!(stage(p, name).is_some(), "{name} unseen: {p}");
        }
        for name in REMOTE {
            assert!(p["stages"][name].is_null(), "{name} must be null: {p}");
        }
        assert_eq!(p["proxy"], serde_json::json!([]));
    }
    for name in REMOTE {
        assert!(stat["stages"][name].is_null(), "stat {name}: {stat}");
    }
}

#[test]
fn with_a_server_every_stage_is_seen_and_the_icmp_handler_is_a_proxy() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("sv");
    let _server = PingServer::start_with(&net, &["--userid", "7"]);
    let (probes, stat) = client(&net, &["-C", "8", "-i", "50000"]);
    assert_eq!(stat["replied"], 8);
    assert_eq!(stat["mode"], "auto");
    assert_every_stage(&probes, "");
    for p in &probes[1..] {
        assert_eq!(p["proxy"], serde_json::json!(["remote_rx", "remote_tx"]));
        assert_eq!(p["remote_userid"], 7, "the server's --userid: {p}");
    }
    let min_out = values(&probes, "outlink")
        .into_iter()
        .fold(f64::MAX, f64::min);
    assert_eq!(min_out, 0.0, "outlink is excess over the smallest seen");
}

/// The qdisc's backlog in bytes, from `tc -s`.
fn backlog(ns: &str, dev: &str) -> Option<f64> {
    let out = sh(&["tc", "-s", "-n", ns, "qdisc", "show", "dev", dev]);
    let at = out.find("backlog ")?;
    let num: String = out[at + 8..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    num.parse().ok()
}

/// A tbf queue on `dev` in `ns` (2 mbit/s = 250 kB/s; 12 kB holds up to
/// ~48 ms), kept standing by a UDP filler to `dst` at twice the rate
/// (bounded: 5 s). Returns the filler, to kill when done.
fn standing_queue(ns: &str, dev: &str, dst: &str) -> std::process::Child {
    sh(&[
        "tc", "-n", ns, "qdisc", "add", "dev", dev, "root", "tbf", "rate", "2mbit", "burst", "4kb",
        "limit", "12kb",
    ]);
    let filler = format!(
        "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         end=time.time()+5\nwhile time.time()<end:\n s.sendto(b'x'*1000,('{dst}',9))\n time.sleep(0.002)"
    );
    let fill = Command::new("ip")
        .args(["netns", "exec", ns, "python3", "-c", &filler])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("filler");
    std::thread::sleep(Duration::from_millis(500));
    fill
}

#[test]
fn a_tbf_standing_queue_shows_in_tx_qdisc_only() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("tq");
    let va = veth(&net, &net.a);
    let _server = PingServer::start(&net);
    // 2 mbit/s = 250 kB/s; a 12 kB queue holds up to ~48 ms.
    let rate = 250_000.0;
    let mut fill = standing_queue(&net.a, &va, NetPair::ADDR_B);
    let sampler = {
        let (ns, dev) = (net.a.clone(), va.clone());
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(3);
            let mut seen = Vec::new();
            while Instant::now() < end {
                seen.extend(backlog(&ns, &dev));
                std::thread::sleep(Duration::from_millis(50));
            }
            seen
        })
    };
    let (probes, stat) = client(&net, &["-C", "25", "-i", "100000", "--mode", "compact"]);
    let backlogs = sampler.join().expect("sampler");
    let _ = fill.kill();
    let _ = fill.wait();
    assert!(probes.len() >= 8, "too few probes got through tbf: {stat}");
    let implied = median(backlogs) / rate * 1e6;
    let qdisc = median(values(&probes, "tx_qdisc"));
    eprintln!("tbf: queue delay implied {implied:.0} us, tx_qdisc median {qdisc:.0} us");
    assert!(implied > 20_000.0, "the queue did not stand: {implied} us");
    assert!(
        (qdisc - implied).abs() <= 0.3 * implied,
        "tx_qdisc {qdisc} us vs {implied} us implied by tbf"
    );
    assert!(median(values(&probes, "tx_user")) < 1_000.0);
    assert!(median(values(&probes, "remote_rx")) < 1_000.0);
    assert_small(&probes, &["tx_user", "remote_rx"], 10_000.0);
}

#[test]
fn a_busy_wait_on_client_ingress_shows_in_receive_stages_not_transmit() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("sp");
    let va = veth(&net, &net.a);
    let _server = PingServer::start(&net);
    spin_on_ingress(&net.a, &va, &spin_object(20, 1));
    let (probes, stat) = client(&net, &["-C", "10", "-i", "100000", "--mode", "compact"]);
    assert_eq!(stat["replied"], 10);
    let rx = median(values(&probes, "rx_stack"));
    eprintln!("spin 20 ms: rx_stack median {rx:.0} us");
    assert!(
        (18_000.0..30_000.0).contains(&rx),
        "rx_stack {rx} us for a 20 ms spin"
    );
    assert_small(
        &probes,
        &[
            "tx_user",
            "tx_qdisc",
            "tx_driver",
            "remote_rx",
            "remote_tx",
            "rx_softirq",
        ],
        5_000.0,
    );
}

#[test]
fn maxdelay_records_exactly_the_probes_above_it() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("mx");
    let va = veth(&net, &net.a);
    // Every 5th reply is held 30 ms: those, and only those, are spikes
    // over 20 ms (a margin a busy host's scheduling delays stay under: a
    // 12 ms wake-up was seen against a 10 ms threshold).
    spin_on_ingress(&net.a, &va, &spin_object(30, 5));
    let (probes, stat) = client(
        &net,
        &[
            "-C", "20", "-i", "50000", "--mode", "pingpong", "-m", "20000",
        ],
    );
    let seqs: BTreeSet<u64> = probes.iter().filter_map(|p| p["seq"].as_u64()).collect();
    assert_eq!(seqs, BTreeSet::from([5, 10, 15, 20]), "{probes:?}");
    for p in &probes {
        assert!(stage(p, "total").unwrap() > 20_000.0);
    }
    assert_eq!(stat["sent"], 20);
    assert_eq!(stat["replied"], 20);
    assert_eq!(
        stat["stages"]["total"]["count"], 20,
        "stat counts every probe"
    );
}

#[test]
fn fifty_probes_with_five_replies_dropped_are_counted_exactly() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("dr");
    sh(&[
        "ip",
        "netns",
        "exec",
        &net.a,
        "iptables",
        "-A",
        "INPUT",
        "-p",
        "icmp",
        "--icmp-type",
        "echo-reply",
        "-m",
        "statistic",
        "--mode",
        "nth",
        "--every",
        "10",
        "--packet",
        "0",
        "-j",
        "DROP",
    ]);
    let (probes, stat) = client(&net, &["-C", "50", "-i", "20000", "--mode", "pingpong"]);
    assert_eq!(stat["sent"], 50, "{stat}");
    assert_eq!(stat["replied"], 45, "{stat}");
    assert_eq!(stat["lost"], 5, "{stat}");
    assert_eq!(probes.len(), 45);
}

#[test]
fn log_files_never_exceed_logsize_times_backups_plus_one() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("lg");
    let dir = std::env::temp_dir().join(format!("netsight-ping-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("log dir");
    let log = dir.join("ping.log");
    let out = Command::new("ip")
        .args(["netns", "exec", &net.a])
        .arg(common::netsight_bin())
        .args([
            "ping",
            "-c",
            NetPair::ADDR_B,
            "--mode",
            "pingpong",
            "-C",
            "40",
            "-i",
            "5000",
        ])
        .args([
            "-o",
            "log",
            "--logsize",
            "1500",
            "--logbackup",
            "2",
            "--log",
        ])
        .arg(&log)
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut total = 0;
    let mut names = Vec::new();
    for e in std::fs::read_dir(&dir).expect("read dir") {
        let e = e.expect("entry");
        let len = e.metadata().expect("meta").len();
        assert!(len <= 1500, "{:?} is {len} bytes", e.path());
        total += len;
        names.push(e.file_name().to_string_lossy().into_owned());
    }
    names.sort();
    assert_eq!(names, ["ping.log", "ping.log.1", "ping.log.2"]);
    assert!(total <= 1500 * 3);
    let last = std::fs::read_to_string(&log).expect("log");
    let stat: serde_json::Value =
        serde_json::from_str(last.lines().last().expect("a line")).expect("json");
    assert_eq!(stat["type"], "stat");
    assert_eq!(stat["sent"], 40);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_refused_program_nulls_only_the_stages_it_bounds() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("rf");
    let out = Command::new("ip")
        .args(["netns", "exec", &net.a])
        .arg(common::netsight_bin())
        .args(["--refuse", "on_dev_xmit", "ping", "-c", NetPair::ADDR_B])
        .args(["--mode", "pingpong", "-C", "3", "-i", "50000", "-o", "json"])
        .output()
        .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("on_dev_xmit refused"), "{err}");
    let probes: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "probe")
        .collect();
    assert_eq!(probes.len(), 3);
    for p in &probes {
        assert!(p["stages"]["tx_driver"].is_null(), "{p}");
        for name in ["total", "tx_user", "tx_qdisc", "rx_stack", "rx_queue"] {
            assert!(
                stage(p, name).is_some(),
                "{name} lost with on_dev_xmit: {p}"
            );
        }
    }
}

#[test]
fn over_ipv6_every_stage_is_seen_too() {
    require_root!();
    let _one = serial();
    let net = NetPair::new("v6");
    // Resolve the neighbour first: a probe held by neighbour discovery
    // would (truly) spend most of a second in tx_user.
    sh(&[
        "ip", "netns", "exec", &net.a, "ping", "-6", "-c", "2", "-i", "0.2", "-W", "3", "fd77::2",
    ]);
    let _server = PingServer::start(&net);
    let out = Command::new("ip")
        .args(["netns", "exec", &net.a])
        .arg(common::netsight_bin())
        .args([
            "ping", "-c", "fd77::2", "-C", "6", "-i", "50000", "-o", "json",
        ])
        .output()
        .expect("run");
    let (probes, stat) = parse_run(&out);
    assert_eq!(stat["replied"], 6, "{stat}");
    assert_every_stage(&probes, " over IPv6");
}

/// The `-n` visits of one packet in one namespace, per probe.
fn inside(probes: &[serde_json::Value], packet: &str, netns: u64) -> Vec<f64> {
    probes
        .iter()
        .filter_map(|p| {
            p["namespaces"]
                .as_array()?
                .iter()
                .find(|v| v["packet"] == packet && v["netns"] == netns)?["inside_us"]
                .as_f64()
        })
        .collect()
}

#[test]
fn with_n_a_queue_in_the_far_namespace_shows_in_that_namespace_only() {
    require_root!();
    let _one = serial();
    let net = NetPair::ipv4_only("nsq");
    let vb = veth(&net, &net.b);
    let (ns_a, ns_b) = (netns_inode(&net.a), netns_inode(&net.b));
    // A standing tbf queue on b's way back to a: the kernel's echo reply
    // waits in b's qdisc (net_dev_queue .. net_dev_start_xmit, both in b).
    let mut fill = standing_queue(&net.b, &vb, NetPair::ADDR_A);
    let (probes, stat) = client(
        &net,
        &["--mode", "pingpong", "-n", "-C", "10", "-i", "100000"],
    );
    let _ = fill.kill();
    let _ = fill.wait();
    // b's egress is saturated on purpose: one reply in a run was lost once
    // in CI (at 68b7564; reruns 6 of 6 whole). Every probe is accounted for.
    let replied = stat["replied"].as_u64().expect("replied");
    assert!(replied >= 9, "{stat}");
    assert_eq!(
        stat["sent"].as_u64(),
        Some(replied + stat["lost"].as_u64().expect("lost")),
        "{stat}"
    );
    let median = |mut v: Vec<f64>| {
        assert!(!v.is_empty());
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    // 12 kB at 250 kB/s holds up to 48 ms; the queue stands well above 5 ms.
    let queued = median(inside(&probes, "reply", ns_b));
    assert!(queued > 5000.0, "reply inside b: {queued} us");
    for (packet, ns, name) in [
        ("echo", ns_a, "a"),
        ("echo", ns_b, "b"),
        ("reply", ns_a, "a"),
    ] {
        let v = median(inside(&probes, packet, ns));
        assert!(
            v < 2000.0,
            "{packet} inside {name}: {v} us should stay small"
        );
    }
    // The crossing from a to b (veth) is seen, and the run's table has a
    // row per packet and namespace.
    for p in &probes {
        let visits = p["namespaces"].as_array().expect("namespaces with -n");
        let echo_a = visits
            .iter()
            .find(|v| v["packet"] == "echo" && v["netns"] == ns_a)
            .expect("echo seen in a");
        assert!(echo_a["to_next_us"].as_f64().is_some(), "{p}");
    }
    let rows = stat["namespaces"].as_array().expect("stat namespaces");
    for (packet, ns) in [
        ("echo", ns_a),
        ("echo", ns_b),
        ("reply", ns_b),
        ("reply", ns_a),
    ] {
        assert!(
            rows.iter()
                .any(|r| r["packet"] == packet && r["netns"] == ns),
            "no {packet} row for {ns}: {stat}"
        );
    }
}
