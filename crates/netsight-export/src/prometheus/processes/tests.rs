use std::collections::HashMap;

use super::*;

pub fn record(pid: u32, comm: &str, tx: u64) -> ProcessRecord {
    ProcessRecord {
        kind: "process",
        ts: "2026-11-22T10:00:01.000Z".into(),
        interval_s: 1.0,
        pid,
        comm: comm.into(),
        cgroup: String::new(),
        tcp_tx_bytes: tx,
        tcp_rx_bytes: 0,
        tcp_tx_calls: u64::from(tx > 0),
        tcp_rx_calls: 0,
        tcp_active_opens: 0,
        tcp_passive_opens: 0,
        tcp_closes: 0,
        tcp_connect_failures: 0,
        tcp_resets_sent: 0,
        tcp_resets_received: 0,
        tcp_retrans_segs: 0,
        tcp_synack_retrans: 0,
        tcp_fast_recoveries: 0,
        tcp_rto_timeouts: 0,
        tcp_conns: 1,
        tcp_conn_duration_ms_max: 0,
        tcp_rtt_us_avg: 250,
        tcp_rtt_us_min: 0,
        tcp_rtt_us_max: 0,
        tcp_rtt_us_p50: 0,
        tcp_rtt_us_p99: 0,
        tcp_cwnd_avg: 10,
        tcp_snd_wnd_avg: 0,
        tcp_rcv_wnd_avg: 0,
        tcp_mss_avg: 0,
        tcp_in_flight: 0,
        tcp_write_queue_bytes: 0,
        udp_tx_bytes: 0,
        udp_rx_bytes: 0,
        udp_tx_packets: 0,
        udp_rx_packets: 0,
        udp_rcvbuf_errors: 0,
        sockets: 1,
        lost_events: 0,
    }
}

/// `comm[pid]` (or `other`) -> value of one family.
fn series(t: &ProcessTable, name: &str) -> HashMap<String, f64> {
    let f = t
        .families()
        .into_iter()
        .find(|f| f.name == name)
        .expect(name);
    f.samples
        .iter()
        .map(|s| {
            let l: HashMap<_, _> = s.labels.iter().cloned().collect();
            let key = match l.get("pid") {
                Some(pid) => format!("{}[{pid}]", l["comm"]),
                None => l["comm"].clone(),
            };
            (key, s.value)
        })
        .collect()
}

const TX: &str = "netsight_process_tcp_tx_bytes_total";
const S: Duration = Duration::from_secs(1);

#[test]
fn counters_add_up_deltas_and_gauges_take_the_last_value_in_base_units() {
    let mut t = ProcessTable::new(10, S * 60);
    let now = Instant::now();
    t.update(&[record(1, "curl", 100)], now);
    t.update(&[record(1, "curl", 23)], now + S);
    assert_eq!(series(&t, TX)["curl[1]"], 123.0);
    assert_eq!(series(&t, TX)["other"], 0.0);
    assert_eq!(
        series(&t, "netsight_process_tcp_rtt_avg_seconds")["curl[1]"],
        0.00025
    );
    assert_eq!(
        series(&t, "netsight_process_tcp_cwnd_avg_segments")["curl[1]"],
        10.0
    );
    assert!(!series(&t, "netsight_process_tcp_conns").contains_key("other"));
}

#[test]
fn beyond_top_n_processes_fold_into_other() {
    let mut t = ProcessTable::new(2, S * 60);
    let now = Instant::now();
    t.update(
        &[
            record(1, "a", 1000),
            record(2, "b", 500),
            record(3, "c", 10),
        ],
        now,
    );
    let s = series(&t, TX);
    assert_eq!(s.len(), 3, "{s:?}");
    assert_eq!((s["a[1]"], s["b[2]"], s["other"]), (1000.0, 500.0, 10.0));
    assert_eq!((t.tracked(), t.shown()), (3, 2));
}

#[test]
fn a_clearly_busier_process_takes_a_slot_and_nothing_goes_down() {
    let mut t = ProcessTable::new(2, S * 60);
    let now = Instant::now();
    let mut last: HashMap<String, f64> = HashMap::new();
    let mut check_monotonic = |t: &ProcessTable| {
        for (k, v) in series(t, TX) {
            if let Some(prev) = last.get(&k) {
                assert!(v >= *prev, "{k} went from {prev} to {v}");
            }
            last.insert(k, v);
        }
    };
    t.update(
        &[
            record(1, "a", 1000),
            record(2, "b", 500),
            record(3, "c", 10),
        ],
        now,
    );
    check_monotonic(&t);
    // c slightly busier than b: no flapping.
    t.update(
        &[
            record(1, "a", 1000),
            record(2, "b", 500),
            record(3, "c", 600),
        ],
        now + S,
    );
    check_monotonic(&t);
    assert!(series(&t, TX).contains_key("b[2]"));
    // c much busier: it takes b's slot; b is now summed in other.
    for i in 2..6 {
        t.update(
            &[
                record(1, "a", 1000),
                record(2, "b", 1),
                record(3, "c", 50_000),
            ],
            now + S * i,
        );
        check_monotonic(&t);
    }
    let s = series(&t, TX);
    assert!(s.contains_key("c[3]") && !s.contains_key("b[2]"), "{s:?}");
    // c's lifetime total, b's later traffic in other.
    assert_eq!(s["c[3]"], 10.0 + 600.0 + 4.0 * 50_000.0);
}

#[test]
fn processes_not_seen_for_the_grace_period_are_retired() {
    let mut t = ProcessTable::new(10, S * 5);
    let now = Instant::now();
    t.update(&[record(1, "gone", 5), record(2, "stays", 5)], now);
    t.update(&[record(2, "stays", 5)], now + S * 5);
    assert!(
        series(&t, TX).contains_key("gone[1]"),
        "within the grace period"
    );
    t.update(&[record(2, "stays", 5)], now + S * 6);
    let s = series(&t, TX);
    assert!(
        !s.contains_key("gone[1]") && s.contains_key("stays[2]"),
        "{s:?}"
    );
    assert_eq!(t.tracked(), 1);
}

#[test]
fn a_lower_limit_at_reload_hides_the_least_busy() {
    let mut t = ProcessTable::new(3, S * 60);
    let now = Instant::now();
    t.update(
        &[record(1, "a", 30), record(2, "b", 20), record(3, "c", 10)],
        now,
    );
    t.set_limits(1, S * 60);
    t.update(&[], now + S);
    let s = series(&t, TX);
    assert_eq!(s.len(), 2, "{s:?}");
    assert!(s.contains_key("a[1]"));
}
