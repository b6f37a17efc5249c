//! `netsight agent` against a real influxd 1.x (Debian's `influxdb`) on a
//! free loopback port: exact bytes through a server outage, drop-oldest
//! on overflow with bounded memory, and a 400 that is never retried.
//! Root only (the agent loads BPF); skipped when influxd is missing.

mod agent_support;
mod common;

use std::time::{Duration, Instant};

use agent_support::{free_port, rss_kib, wait_for, Agent, Influxd};
use common::{client, pid_of, NetPair, Server};

fn config(db: &Influxd, prom_port: u16, extra_influx: &str, top: &str) -> String {
    format!(
        "interval = \"500ms\"\n{top}\n[influxdb]\nurl = \"http://{}\"\ndatabase = \"netsight\"\n\
         retry_initial = \"200ms\"\nretry_max = \"1s\"\n{extra_influx}\n\
         [prometheus]\nlisten = \"127.0.0.1:{prom_port}\"\n",
        db.addr
    )
}

#[test]
fn tcp_bytes_in_influxdb_are_exact_through_a_server_outage() {
    require_root!();
    require_program!("influxd");
    let mut db = Influxd::start();
    let mut agent = Agent::start(&config(&db, free_port(), "", ""));
    let net = NetPair::new("ai");
    let target = format!("{}:5201", NetPair::ADDR_B);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target, "1"]));
    // ~100 KB/s for 9 s, while influxd goes away for 5 s in the middle.
    let hold = net.traffic(&net.a, &["hold", &target, "9"]);
    let sender = std::thread::spawn(move || client(hold));
    std::thread::sleep(Duration::from_secs(2));
    db.pause();
    std::thread::sleep(Duration::from_secs(5));
    assert!(agent.running(), "the agent exited while influxd was down");
    db.resume();
    let sent = sender.join().expect("client thread");
    let got = server.finish();
    let (cpid, spid) = (pid_of(&sent[0]), pid_of(&got));
    let bytes = sent[0]["tx_bytes"].as_u64().expect("tx_bytes");
    assert_eq!(got["rx_bytes"], bytes, "the server received everything");

    let tx = format!("SELECT sum(tcp_tx_bytes) FROM netsight_process WHERE pid = '{cpid}'");
    let rx = format!("SELECT sum(tcp_rx_bytes) FROM netsight_process WHERE pid = '{spid}'");
    let deadline = Instant::now() + Duration::from_secs(40);
    while db.number(&tx) != bytes || db.number(&rx) != bytes {
        assert!(
            Instant::now() < deadline,
            "influxdb has tx {} rx {} for pids {cpid}/{spid}, the applications moved {bytes}",
            db.number(&tx),
            db.number(&rx)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(agent.running(), "the agent never exits on its own");
    let failed = agent
        .metric("netsight_agent_influxdb_failed_requests_total", "")
        .unwrap();
    let dropped = agent
        .metric("netsight_agent_influxdb_points_dropped_total", "")
        .unwrap();
    assert!(
        failed >= 1.0,
        "the outage was seen: {failed} failed requests"
    );
    assert_eq!(dropped, 0.0, "nothing dropped: the buffer was big enough");
    assert!(agent
        .metric("netsight_agent_influxdb_last_success_timestamp_seconds", "")
        .is_some());
    assert!(
        agent.logged("failed") && agent.logged("succeed again"),
        "{}",
        agent.log_text()
    );
    eprintln!("influxdb sum(tcp_tx_bytes) for pid {cpid} = {bytes} = bytes sent; {failed} failed requests retried");
    // The shipped Grafana dashboard's queries run on this server as they are.
    let queries = agent_support::dashboard_queries("netsight-influxdb.json");
    for q in &queries {
        let r = agent_support::request(
            db.addr,
            "GET",
            &format!(
                "/query?db=netsight&q={}",
                netsight_export::http::query_escape(q)
            ),
            b"",
        )
        .expect("dashboard query");
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            r.status == 200 && !body.contains("\"error\""),
            "{q}: {body}"
        );
    }
    // Its first panel (TCP sent per process) shows the client.
    let r = agent_support::request(
        db.addr,
        "GET",
        &format!(
            "/query?db=netsight&q={}",
            netsight_export::http::query_escape(&queries[0])
        ),
        b"",
    )
    .expect("panel query");
    let body = String::from_utf8_lossy(&r.body);
    assert!(
        body.contains(&format!("\"pid\":\"{cpid}\"")),
        "{}: {body}",
        queries[0]
    );
    assert!(agent.stop(), "clean exit on SIGTERM");
}

/// The `intervals` field of every stored `netsight_agent` point, sorted.
fn stored_intervals(db: &Influxd) -> Vec<u64> {
    let mut v: Vec<u64> = db
        .select("SELECT intervals FROM netsight_agent")
        .iter()
        .filter_map(|row| row.get(1).and_then(serde_json::Value::as_u64))
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn overflow_drops_the_oldest_points_counts_them_and_stays_bounded() {
    require_root!();
    require_program!("influxd");
    let mut db = Influxd::start();
    // Several intervals' worth, far less than the outage produces.
    let (cap, cap_bytes) = (300, 256 * 1024);
    let cfg = config(
        &db,
        free_port(),
        &format!("buffer_points = {cap}\nbuffer_bytes = \"{cap_bytes}\"\nbatch_points = 20\n"),
        "system = true",
    );
    let mut agent = Agent::start(&cfg);
    wait_for("first points stored", 20, || {
        (stored_intervals(&db).len() >= 2).then_some(())
    });
    db.pause();
    let rss_before = rss_kib(agent.pid());
    // About 40 host-wide charts per interval: 8 s of outage is ~600 points.
    std::thread::sleep(Duration::from_secs(8));
    let buffered = agent
        .metric("netsight_agent_influxdb_buffer_points", "")
        .unwrap();
    let buffered_bytes = agent
        .metric("netsight_agent_influxdb_buffer_bytes", "")
        .unwrap();
    let dropped = agent
        .metric("netsight_agent_influxdb_points_dropped_total", "")
        .unwrap();
    let rss_after = rss_kib(agent.pid());
    assert!(dropped > 0.0, "the buffer overflowed");
    assert!(
        buffered <= (cap + 20) as f64,
        "bounded by count: {buffered}"
    );
    assert!(
        buffered_bytes <= 65536.0,
        "bounded by bytes: {buffered_bytes}"
    );
    assert!(
        rss_after < rss_before + 16 * 1024,
        "memory grew from {rss_before} to {rss_after} KiB during the outage"
    );
    let resumed_at = agent.metric("netsight_agent_intervals_total", "").unwrap() as u64;
    db.resume();
    wait_for("the buffer to drain", 30, || {
        (agent.metric("netsight_agent_influxdb_buffer_points", "") == Some(0.0)).then_some(())
    });
    let intervals = wait_for("points after the outage", 20, || {
        let v = stored_intervals(&db);
        let last = agent.metric("netsight_agent_intervals_total", "")? as u64;
        (v.last().copied()? + 2 >= last).then_some(v)
    });
    // Drop-oldest: the stored intervals have exactly one gap, right where
    // the outage began; the newest points of the outage were kept.
    let gaps: Vec<(u64, u64)> = intervals
        .windows(2)
        .filter(|w| w[1] > w[0] + 1)
        .map(|w| (w[0], w[1]))
        .collect();
    assert_eq!(
        gaps.len(),
        1,
        "one gap expected, stored intervals {intervals:?}"
    );
    let (before, after) = gaps[0];
    let missing = after - before - 1;
    assert!(
        missing >= 4,
        "several intervals of the outage dropped: {gaps:?}"
    );
    // With drop-newest the gap would reach the resume; here the last
    // intervals of the outage survive.
    assert!(
        after + 2 <= resumed_at,
        "the newest points of the outage (before interval {resumed_at}) were kept: gap {gaps:?}"
    );
    let dropped = agent
        .metric("netsight_agent_influxdb_points_dropped_total", "")
        .unwrap();
    assert!(
        dropped >= missing as f64,
        "every missing agent point is among the {dropped} counted"
    );
    assert!(agent.running());
    eprintln!(
        "outage: dropped {dropped} points (oldest first), intervals {}..{} missing, buffer <= {buffered} points / {buffered_bytes} bytes, rss {rss_before} -> {rss_after} KiB",
        before + 1,
        after - 1
    );
    assert!(agent.stop());
}

#[test]
fn a_field_type_conflict_400_is_logged_and_never_retried() {
    require_root!();
    require_program!("influxd");
    let db = Influxd::start();
    // `intervals` becomes a string field in this shard: every agent point
    // after this conflicts (InfluxDB answers 400 "partial write").
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    assert_eq!(
        db.write(&format!(
            "netsight_agent,host=conflict intervals=\"x\" {now_ms}\n"
        )),
        204
    );
    let mut agent = Agent::start(&config(&db, free_port(), "", "system = false"));
    wait_for("a rejected write", 20, || {
        agent
            .metric("netsight_agent_influxdb_points_rejected_total", "")
            .filter(|v| *v >= 2.0)
    });
    let requests = agent
        .metric("netsight_agent_influxdb_requests_total", "")
        .unwrap();
    let failed = agent
        .metric("netsight_agent_influxdb_failed_requests_total", "")
        .unwrap();
    let rejected = agent
        .metric("netsight_agent_influxdb_points_rejected_total", "")
        .unwrap();
    assert_eq!(failed, 0.0, "a 400 is never retried");
    assert!(requests >= 2.0);
    assert!(
        agent.logged("(HTTP 400, not retried): partial write: field type conflict"),
        "{}",
        agent.log_text()
    );
    assert!(agent.running());
    eprintln!("{requests} requests, {rejected} points rejected with HTTP 400, 0 retried");
    assert!(agent.stop());
}
