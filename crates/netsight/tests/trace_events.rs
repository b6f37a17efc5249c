//! `netsight trace` against the truth: the kernel's counters in the
//! namespace that carried the traffic, iptables' own rule counters, and what
//! the applications report. Root only; every test builds its own namespaces.

mod common;

use common::{client, events, netns_inode, pid_of, NetPair, Server, TraceRun};

fn target(port: u16) -> String {
    format!("{}:{port}", NetPair::ADDR_B)
}

#[test]
fn listen_overflows_match_nstat_on_the_listener() {
    require_root!();
    let net = NetPair::new("ov");
    let trace = TraceRun::start(&["overflow"]);
    let before = net.nstat(&net.b);
    let listener = Server::start(net.traffic(&net.b, &["listen-only", &target(7001), "4"]));
    client(net.traffic(&net.a, &["connect-flood", &target(7001), "30", "2"]));
    let listened = listener.finish();
    let after = net.nstat(&net.b);
    let all = trace.stop();

    let kernel =
        after["TcpExtListenOverflows"] - before.get("TcpExtListenOverflows").copied().unwrap_or(0);
    let lpid = pid_of(&listened);
    let ours: Vec<_> = events(&all, "overflow")
        .into_iter()
        .filter(|e| e["sport"] == 7001)
        .collect();
    assert!(kernel > 0, "the flood overflowed nothing");
    assert_eq!(
        ours.len() as u64,
        kernel,
        "overflow events vs ListenOverflows"
    );
    for e in &ours {
        assert_eq!(e["pid"], lpid, "on the listener's process: {e}");
        assert_eq!(e["comm"], "traffic");
        assert_eq!(e["queue"], "accept");
        assert_eq!(e["max_backlog"], 1);
        assert_eq!(e["netns"], netns_inode(&net.b));
    }
}

#[test]
fn netfilter_drops_match_the_rule_counter() {
    require_root!();
    let net = NetPair::new("nf");
    common::sh(&[
        "ip", "netns", "exec", &net.b, "iptables", "-A", "INPUT", "-p", "udp", "--dport", "7002",
        "-j", "DROP",
    ]);
    let trace = TraceRun::start(&["drop", "--reason", "NETFILTER_DROP", "--netns", &net.b]);
    client(net.traffic(&net.a, &["udp-send", &target(7002), "40", "100"]));
    let all = trace.stop();
    let rules = common::sh(&[
        "ip", "netns", "exec", &net.b, "iptables", "-L", "INPUT", "-v", "-x", "-n",
    ]);
    let counter: u64 = rules
        .lines()
        .find(|l| l.contains("dpt:7002"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("rule counter");

    let drops: Vec<_> = events(&all, "drop")
        .into_iter()
        .filter(|e| e["dport"] == 7002)
        .collect();
    assert_eq!(counter, 40);
    assert_eq!(
        drops.len() as u64,
        counter,
        "drop events vs the rule's packet counter"
    );
    for d in &drops {
        assert_eq!(d["reason"], "NETFILTER_DROP");
        assert_eq!(d["saddr"], NetPair::ADDR_A, "the packet's own source");
        assert_eq!(d["protocol"], "udp");
    }
}

#[test]
fn connects_accepts_and_closes_land_on_the_right_processes() {
    require_root!();
    let net = NetPair::new("ca");
    let m = 5u64;
    let bytes = 300_000u64;
    let trace = TraceRun::start(&["connect", "accept", "close", "--port", "7003"]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(7003), &m.to_string()]));
    let sent = client(net.traffic(
        &net.a,
        &[
            "tcp-send",
            &target(7003),
            &bytes.to_string(),
            &m.to_string(),
        ],
    ));
    let got = server.finish();
    let all = trace.stop();

    let (cpid, spid) = (pid_of(&sent[0]), pid_of(&got));
    let on = |kind: &str, pid: u64| -> Vec<serde_json::Value> {
        events(&all, kind)
            .into_iter()
            .filter(|e| e["pid"] == pid && (e["dport"] == 7003 || e["sport"] == 7003))
            .cloned()
            .collect()
    };
    let connects = on("connect", cpid);
    assert_eq!(connects.len() as u64, m);
    assert!(connects
        .iter()
        .all(|e| e["result"] == "ok" && e["dport"] == 7003));
    let accepts = on("accept", spid);
    assert_eq!(
        accepts.len() as u64,
        m,
        "accept events on the server: {all:?}"
    );
    assert!(accepts
        .iter()
        .all(|e| e["sport"] == 7003 && e["daddr"] == NetPair::ADDR_A));
    let client_closes = on("close", cpid);
    let server_closes = on("close", spid);
    assert_eq!(client_closes.len() as u64, m);
    assert_eq!(server_closes.len() as u64, m);
    let total =
        |v: &[serde_json::Value], f: &str| v.iter().map(|e| e[f].as_u64().unwrap()).sum::<u64>();
    assert_eq!(
        total(&client_closes, "tx_bytes"),
        sent[0]["tx_bytes"].as_u64().unwrap()
    );
    assert_eq!(
        total(&server_closes, "rx_bytes"),
        got["rx_bytes"].as_u64().unwrap()
    );
    assert_eq!(total(&client_closes, "rx_bytes"), 0);
}

#[test]
fn refused_connect_and_its_reset_are_on_the_caller() {
    require_root!();
    let net = NetPair::new("rf");
    let trace = TraceRun::start(&["connect", "reset", "--port", "7999"]);
    let refused = client(net.traffic(&net.a, &["connect", &target(7999)]));
    let all = trace.stop();

    let pid = pid_of(&refused[0]);
    let connects = events(&all, "connect");
    assert_eq!(connects.len(), 1, "{all:?}");
    assert_eq!(connects[0]["pid"], pid);
    assert_eq!(connects[0]["result"], "refused");
    let resets = events(&all, "reset");
    let received: Vec<_> = resets
        .iter()
        .filter(|e| e["direction"] == "received")
        .collect();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0]["pid"], pid);
    // The RST from the closed port has no socket, so no process.
    let sent: Vec<_> = resets.iter().filter(|e| e["direction"] == "sent").collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["pid"], 0);
    assert_eq!(sent[0]["sport"], 7999);
}

#[test]
fn retransmit_events_add_up_to_the_namespace_counter() {
    require_root!();
    let net = NetPair::new("re");
    common::lossy_port(&net.b, 7004);
    let trace = TraceRun::start(&["retrans", "--netns", &net.a]);
    let before = net.nstat(&net.a);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(7004), "1"]));
    let sent = client(net.traffic(&net.a, &["tcp-send", &target(7004), "20000000", "1"]));
    server.finish();
    common::wait_quiet(&net.a, 7004);
    let after = net.nstat(&net.a);
    let all = trace.stop();

    let delta = |k: &str| after.get(k).copied().unwrap_or(0) - before.get(k).copied().unwrap_or(0);
    let kernel = delta("TcpRetransSegs") - delta("TcpExtTCPRetransFail");
    let retrans = events(&all, "retrans");
    let segs: u64 = retrans.iter().map(|e| e["segs"].as_u64().unwrap()).sum();
    assert!(kernel > 0, "the lossy path produced no retransmission");
    assert_eq!(
        segs, kernel,
        "retransmitted segments vs RetransSegs - TCPRetransFail"
    );
    let cpid = pid_of(&sent[0]);
    assert!(
        retrans.iter().all(|e| e["pid"] == cpid),
        "all on the sender"
    );
    assert!(retrans
        .iter()
        .all(|e| ["rto", "fast", "tlp", "unknown"].contains(&e["retrans_kind"].as_str().unwrap())));
}
