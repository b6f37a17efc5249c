//! `netsight stat` against the truth: what the applications really sent and
//! received, and the kernel's own counters (nstat, ss) in the namespace that
//! carried the traffic. Root only; every test builds its own namespaces.

mod common;

use std::time::Duration;

use common::{client, pid_of, random_in, sum, NetPair, Server, StatRun};

fn target(port: u16) -> String {
    format!("{}:{port}", NetPair::ADDR_B)
}

#[test]
fn tcp_bytes_and_opens_are_exact_per_process() {
    require_root!();
    let net = NetPair::new("by");
    let bytes = random_in(10_000_000, 14_000_000);
    let conns = random_in(3, 8);
    let stat = StatRun::start(&[]);
    let server =
        Server::start(net.traffic(&net.b, &["tcp-serve", &target(5001), &conns.to_string()]));
    let sent = client(net.traffic(
        &net.a,
        &[
            "tcp-send",
            &target(5001),
            &bytes.to_string(),
            &conns.to_string(),
        ],
    ));
    let got = server.finish();
    let records = stat.stop();

    let (cpid, spid) = (pid_of(&sent[0]), pid_of(&got));
    assert_eq!(sent[0]["tx_bytes"], bytes, "the client really sent {bytes}");
    assert_eq!(got["rx_bytes"], bytes, "the server really received {bytes}");
    assert_eq!(sum(&records, cpid, "tcp_tx_bytes"), bytes);
    assert_eq!(sum(&records, spid, "tcp_rx_bytes"), bytes);
    assert_eq!(sum(&records, cpid, "tcp_active_opens"), conns);
    assert_eq!(sum(&records, spid, "tcp_passive_opens"), conns);
    assert_eq!(sum(&records, spid, "tcp_active_opens"), 0);
    assert_eq!(sum(&records, cpid, "tcp_passive_opens"), 0);
    assert_eq!(sum(&records, cpid, "tcp_closes"), conns);
    assert!(records
        .iter()
        .any(|r| r["pid"] == cpid && r["comm"] == "traffic"));
}

#[test]
fn retransmits_match_the_namespace_counters_and_land_on_the_sender() {
    require_root!();
    let net = NetPair::new("rt");
    common::lossy_port(&net.b, 5002);
    let (before_a, before_b) = (net.nstat(&net.a), net.nstat(&net.b));
    let stat = StatRun::start(&[]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5002), "2"]));
    let sent = client(net.traffic(&net.a, &["tcp-send", &target(5002), "20000000", "2"]));
    let got = server.finish();
    common::wait_quiet(&net.a, 5002);
    common::wait_quiet(&net.b, 5002);
    let (after_a, after_b) = (net.nstat(&net.a), net.nstat(&net.b));
    let records = stat.stop();

    let sent_ok = |before: &std::collections::HashMap<String, u64>,
                   after: &std::collections::HashMap<String, u64>| {
        let delta =
            |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
        delta("TcpRetransSegs") - delta("TcpExtTCPRetransFail")
    };
    let (kernel_a, kernel_b) = (sent_ok(&before_a, &after_a), sent_ok(&before_b, &after_b));
    let (cpid, spid) = (pid_of(&sent[0]), pid_of(&got));
    assert_eq!(got["rx_bytes"], 20_000_000);
    assert!(kernel_a > 0, "the lossy path produced no retransmission");
    assert_eq!(
        sum(&records, cpid, "tcp_retrans_segs"),
        kernel_a,
        "client retransmits vs nstat in its namespace"
    );
    // The server only retransmits its FIN when the client's last ACK was dropped.
    assert_eq!(
        sum(&records, spid, "tcp_retrans_segs"),
        kernel_b,
        "server retransmits vs nstat in its namespace"
    );
    let elsewhere: Vec<_> = records
        .iter()
        .filter(|r| {
            let comm = r["comm"].as_str().unwrap_or("");
            // The classic misattribution: whoever ran the softirq or timer,
            // or another of our own processes.
            let suspect = comm == "traffic"
                || comm.starts_with("ksoftirqd")
                || comm.starts_with("swapper")
                || comm.starts_with("kworker");
            r["type"] == "process"
                && r["pid"] != cpid
                && r["pid"] != spid
                && suspect
                && r["tcp_retrans_segs"].as_u64().unwrap_or(0) > 0
        })
        .collect();
    assert!(
        elsewhere.is_empty(),
        "retransmits charged to other processes: {elsewhere:?}"
    );
}

#[test]
fn many_short_lived_processes_each_get_their_exact_bytes() {
    require_root!();
    let net = NetPair::new("sl");
    let n = 150;
    let stat = StatRun::start(&[]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5003), &n.to_string()]));
    let reports = client(net.traffic(
        &net.a,
        &["tcp-send-many", &target(5003), &n.to_string(), "1000", "13"],
    ));
    server.finish();
    let records = stat.stop();

    assert_eq!(reports.len(), n);
    let mut pids = std::collections::HashSet::new();
    for r in &reports {
        let pid = pid_of(r);
        pids.insert(pid);
        assert_eq!(
            sum(&records, pid, "tcp_tx_bytes"),
            r["tx_bytes"].as_u64().unwrap(),
            "pid {pid}"
        );
        assert_eq!(sum(&records, pid, "tcp_active_opens"), 1, "pid {pid}");
    }
    assert_eq!(pids.len(), n, "every child is its own process");
}

/// One connection that several processes write on (traffic MODE PORT N
/// CHUNK): every writer's bytes, as it reported them, must be exactly what
/// `stat` charged to it; returns how many writers reported.
fn each_writer_of_one_connection_is_exact(
    ns: &str,
    mode: &str,
    port: u16,
    n: u64,
    chunk: u64,
) -> usize {
    let net = NetPair::new(ns);
    let stat = StatRun::start(&[]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(port), "1"]));
    let sent = client(net.traffic(
        &net.a,
        &[mode, &target(port), &n.to_string(), &chunk.to_string()],
    ));
    let got = server.finish();
    let records = stat.stop();

    let total: u64 = sent.iter().map(|r| r["tx_bytes"].as_u64().unwrap()).sum();
    assert_eq!(
        got["rx_bytes"], total,
        "the server received every writer's bytes"
    );
    for r in &sent {
        let pid = pid_of(r);
        assert_eq!(
            sum(&records, pid, "tcp_tx_bytes"),
            r["tx_bytes"].as_u64().unwrap(),
            "pid {pid}: {sent:?}"
        );
    }
    sent.len()
}

/// Two processes taking turns on one socket on the same CPU: each turn is a
/// new owner for the per-CPU I/O cache and for the socket's storage, so a
/// stale idea of which process is running charges the other one.
#[test]
fn a_socket_shared_by_two_processes_charges_each_its_own_bytes() {
    require_root!();
    let (rounds, chunk) = (random_in(200, 300), random_in(1_000, 3_000));
    let writers =
        each_writer_of_one_connection_is_exact("sh", "tcp-send-shared", 5007, rounds, chunk);
    assert_eq!(writers, 2, "parent and child each report");
}

/// Children born one after the other on one CPU, each on the connection
/// it inherited: each must be told from the dead one before it, whose
/// kernel stack it usually even runs on (BENCHMARKS.md, session 8).
#[test]
fn children_inheriting_a_socket_one_after_another_each_get_their_bytes() {
    require_root!();
    let (count, chunk) = (random_in(40, 60), random_in(500, 1_500));
    let writers =
        each_writer_of_one_connection_is_exact("ih", "tcp-send-inherited", 5008, count, chunk);
    assert_eq!(writers as u64, count, "every child reports");
}

#[test]
fn resets_land_on_the_right_processes() {
    require_root!();
    let net = NetPair::new("rs");
    let stat = StatRun::start(&[]);
    // An abortive close (SO_LINGER 0): the client sends RST, the server gets it.
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5004), "1"]));
    let closer = client(net.traffic(&net.a, &["reset", &target(5004)]));
    let got = server.finish();
    // A connect to a closed port: the caller receives RST and fails.
    let refused = client(net.traffic(&net.a, &["connect", &target(5999)]));
    let records = stat.stop();

    let (closer, spid, rpid) = (pid_of(&closer[0]), pid_of(&got), pid_of(&refused[0]));
    assert_eq!(got["resets"], 1, "the server saw ECONNRESET");
    assert_eq!(refused[0]["refused"], true);
    assert_eq!(sum(&records, closer, "tcp_resets_sent"), 1);
    assert_eq!(sum(&records, closer, "tcp_resets_received"), 0);
    assert_eq!(sum(&records, spid, "tcp_resets_received"), 1);
    assert_eq!(sum(&records, spid, "tcp_resets_sent"), 0);
    assert_eq!(sum(&records, rpid, "tcp_resets_received"), 1);
    assert_eq!(sum(&records, rpid, "tcp_connect_failures"), 1);
    assert_eq!(sum(&records, rpid, "tcp_active_opens"), 1);
}

#[test]
fn udp_bytes_and_packets_are_exact() {
    require_root!();
    let net = NetPair::new("ud");
    let stat = StatRun::start(&[]);
    let server = Server::start(net.traffic(&net.b, &["udp-serve", &target(5005), "300"]));
    let sent = client(net.traffic(&net.a, &["udp-send", &target(5005), "300", "777"]));
    let got = server.finish();
    let records = stat.stop();

    let (cpid, spid) = (pid_of(&sent[0]), pid_of(&got));
    assert_eq!(got["rx_packets"], 300, "nothing was lost on the veth");
    assert_eq!(sum(&records, cpid, "udp_tx_packets"), 300);
    assert_eq!(sum(&records, cpid, "udp_tx_bytes"), 300 * 777);
    assert_eq!(sum(&records, spid, "udp_rx_packets"), 300);
    assert_eq!(sum(&records, spid, "udp_rx_bytes"), 300 * 777);
    assert_eq!(sum(&records, cpid, "tcp_tx_bytes"), 0);
}

/// Children one after another on one CPU, each on the UDP socket it
/// inherited: the I/O cache must tell each from the dead one before it,
/// as for TCP, and the receiver's one socket must count every datagram.
#[test]
fn children_inheriting_a_udp_socket_one_after_another_each_get_their_datagrams() {
    require_root!();
    let (children, size) = (random_in(20, 30) as usize, random_in(100, 1_200));
    let total = children * (children + 1) / 2;
    let net = NetPair::new("ui");
    let stat = StatRun::start(&[]);
    let server =
        Server::start(net.traffic(&net.b, &["udp-serve", &target(5009), &total.to_string()]));
    let sent = client(net.traffic(
        &net.a,
        &[
            "udp-send-inherited",
            &target(5009),
            &children.to_string(),
            &size.to_string(),
        ],
    ));
    let got = server.finish();
    let records = stat.stop();

    assert_eq!(sent.len(), children, "every child reports");
    assert_eq!(
        got["rx_packets"], total as u64,
        "nothing was lost on the veth"
    );
    for r in &sent {
        let pid = pid_of(r);
        assert_eq!(
            sum(&records, pid, "udp_tx_packets"),
            r["tx_packets"].as_u64().unwrap(),
            "pid {pid}"
        );
        assert_eq!(
            sum(&records, pid, "udp_tx_bytes"),
            r["tx_bytes"].as_u64().unwrap(),
            "pid {pid}"
        );
    }
    let spid = pid_of(&got);
    assert_eq!(sum(&records, spid, "udp_rx_packets"), total as u64);
    assert_eq!(
        sum(&records, spid, "udp_rx_bytes"),
        got["rx_bytes"].as_u64().unwrap()
    );
}

/// ss prints "rtt:0.051/0.025" (ms): the smoothed RTT in us.
fn ss_rtt_us(out: &str) -> Option<f64> {
    let field = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix("rtt:"))?;
    let ms: f64 = field.split('/').next()?.parse().ok()?;
    Some(ms * 1000.0)
}

#[test]
fn rtt_and_gauges_agree_with_ss() {
    require_root!();
    let net = NetPair::new("tt");
    let stat = StatRun::start(&[]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5006), "1"]));
    let holder = net
        .traffic(&net.a, &["hold", &target(5006), "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Sample ss in the middle of the connection's life, three times 250 ms
    // apart: a loaded host moves a loopback RTT by hundreds of us between
    // instants, and netsight averages over its interval.
    std::thread::sleep(Duration::from_millis(2250));
    let mut samples = Vec::new();
    for _ in 0..3 {
        let ss = common::sh(&[
            "ip",
            "netns",
            "exec",
            &net.a,
            "ss",
            "-Htin",
            "dport = :5006",
        ]);
        samples.push(ss_rtt_us(&ss).unwrap_or_else(|| panic!("no rtt in ss output {ss:?}")));
        std::thread::sleep(Duration::from_millis(250));
    }
    let ss_ts = std::time::SystemTime::now() - Duration::from_millis(500);
    let out = holder.wait_with_output().unwrap();
    server.finish();
    let records = stat.stop();

    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let pid = pid_of(&report);
    let lo = samples.iter().copied().fold(f64::MAX, f64::min);
    let hi = samples.iter().copied().fold(0.0, f64::max);
    // The interval that ended closest after the ss sample.
    let ss_ms = ss_ts
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mine: Vec<&serde_json::Value> = records
        .iter()
        .filter(|r| r["type"] == "process" && r["pid"] == pid)
        .collect();
    assert!(!mine.is_empty(), "no record for the holder");
    let at = mine
        .iter()
        .min_by_key(|r| {
            let ts = r["ts"].as_str().unwrap();
            let ms = parse_ts_ms(ts);
            (ms as i128 - ss_ms as i128).abs()
        })
        .unwrap();
    let ours = at["tcp_rtt_us_avg"].as_f64().unwrap();
    assert!(
        ours >= lo * 0.75 - 50.0 && ours <= hi * 1.25 + 50.0,
        "netsight rtt {ours} us vs ss {samples:?} us (record {at})"
    );
    assert!(
        at["tcp_conns"].as_u64().unwrap() >= 1,
        "the connection is open in {at}"
    );
    assert!(at["tcp_mss_avg"].as_u64().unwrap() > 0 && at["tcp_cwnd_avg"].as_u64().unwrap() > 0);
    assert_eq!(
        sum(&records, pid, "tcp_tx_bytes"),
        report["tx_bytes"].as_u64().unwrap()
    );
}

/// "2026-11-22T10:00:01.250Z" -> ms since the epoch (UTC).
fn parse_ts_ms(ts: &str) -> u64 {
    let num = |a: usize, b: usize| ts[a..b].parse::<u64>().unwrap();
    let (y, m, d) = (num(0, 4) as i64, num(5, 7) as i64, num(8, 10) as i64);
    // Days from civil (inverse of the formatter's algorithm).
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = (era * 146_097 + doe - 719_468) as u64;
    ((days * 86_400 + num(11, 13) * 3600 + num(14, 16) * 60 + num(17, 19)) * 1000) + num(20, 23)
}

#[test]
fn netns_keeps_only_the_processes_with_sockets_there() {
    require_root!();
    let net = NetPair::new("nf");
    let stat = StatRun::start(&["--netns", &net.a]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5009), "1"]));
    let held = client(net.traffic(&net.a, &["hold", &target(5009), "1.5"]));
    let got = server.finish();
    let records = stat.stop();
    let (cpid, spid) = (pid_of(&held[0]), pid_of(&got));
    let pids: std::collections::BTreeSet<u64> = records
        .iter()
        .filter(|r| r["type"] == "process")
        .filter_map(|r| r["pid"].as_u64())
        .collect();
    assert!(
        pids.contains(&cpid),
        "the client in {} is shown: {pids:?}",
        net.a
    );
    assert!(
        !pids.contains(&spid),
        "the server in {} is not: {pids:?}",
        net.b
    );
    assert!(sum(&records, cpid, "tcp_tx_bytes") > 0);
}
