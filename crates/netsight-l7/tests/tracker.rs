//! The tracker's bounds and bookkeeping: timeouts, closes, eviction, overflow, losses.
mod common;

use common::seg;
use netsight_l7::{Config, Direction::*, Protocol, Status, Tracker};

const GET: &[u8] = b"GET / HTTP/1.1\r\n\r\n";
const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";

fn reasons(out: &[netsight_l7::L7Record]) -> Vec<&str> {
    out.iter()
        .map(|r| r.reason.as_deref().unwrap_or(""))
        .collect()
}

#[test]
fn timeout_and_close() {
    let cfg = Config {
        timeout_ns: 1_000,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    t.feed(&seg(1, 100, Egress, GET, 0), &mut out);
    t.feed(&seg(1, 900, Egress, GET, 0), &mut out);
    t.expire(1_000, &mut out);
    assert!(out.is_empty());
    t.expire(1_100, &mut out);
    assert_eq!(reasons(&out), vec!["no response within the timeout"]);
    t.close_socket(1, 1_200, &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        out[1].reason.as_deref(),
        Some("socket closed before the response")
    );
    assert!(out
        .iter()
        .all(|r| r.status == Status::Incomplete && r.response.is_none()));
    let st = t.stats();
    assert_eq!(st.sockets_tracked, 0);
    assert_eq!(st.sockets_closed, 1);
    assert_eq!(st.protocols[&Protocol::Http1].incomplete, 2);
    // A response after the request timed out is alone, not paired with a later request.
    let mut out = Vec::new();
    t.feed(&seg(2, 10_000, Egress, GET, 0), &mut out);
    t.expire(20_000, &mut out);
    t.feed(&seg(2, 20_001, Ingress, OK, 0), &mut out);
    assert_eq!(out.len(), 2);
    assert!(out[1].request.is_none());
}

#[test]
fn eviction_is_lru_and_counted() {
    let cfg = Config {
        max_sockets: 3,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    for id in 1..=3 {
        t.feed(&seg(id, id, Egress, GET, 0), &mut out);
    }
    // Touch socket 1, so 2 is the least recently used.
    t.feed(&seg(1, 10, Ingress, OK, 0), &mut out);
    assert_eq!(out.len(), 1);
    t.feed(&seg(4, 11, Egress, GET, 0), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].socket_id, 2);
    assert_eq!(
        out[1].reason.as_deref(),
        Some("socket evicted (too many sockets)")
    );
    let st = t.stats();
    assert_eq!((st.sockets_tracked, st.sockets_evicted), (3, 1));
}

#[test]
fn a_full_map_evicts_its_oldest_sixteenth_at_once() {
    let cfg = Config {
        max_sockets: 64,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    for id in 1..=64 {
        t.feed(&seg(id, id, Egress, GET, 0), &mut out);
    }
    // Touch the first eight: 9..=12 are now the four least recently used.
    for id in 1..=8 {
        t.feed(&seg(id, 100 + id, Egress, GET, 0), &mut out);
    }
    assert!(out.is_empty());
    t.feed(&seg(65, 200, Egress, GET, 0), &mut out);
    let mut evicted: Vec<u64> = out.iter().map(|r| r.socket_id).collect();
    evicted.sort_unstable();
    assert_eq!(evicted, [9, 10, 11, 12], "64 / 16 sockets, the oldest");
    let st = t.stats();
    assert_eq!((st.sockets_tracked, st.sockets_evicted), (61, 4));
}

#[test]
fn pending_overflow_is_counted() {
    let cfg = Config {
        max_pending_per_socket: 4,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    // Ten pipelined requests in one write.
    let reqs: Vec<u8> = (0..10)
        .flat_map(|i| format!("GET /{i} HTTP/1.1\r\n\r\n").into_bytes())
        .collect();
    t.feed(&seg(1, 1, Egress, &reqs, 0), &mut out);
    assert_eq!(out.len(), 6);
    assert_eq!(t.stats().protocols[&Protocol::Http1].pending_overflow, 6);
    // The oldest went; the newest four pair in order.
    for i in 0..4 {
        t.feed(&seg(1, 100 + i, Ingress, OK, 0), &mut out);
    }
    let paired: Vec<String> = out[6..]
        .iter()
        .map(|r| match &r.request {
            Some(netsight_l7::Request::Http1(h)) => h.path.clone(),
            _ => String::new(),
        })
        .collect();
    assert_eq!(paired, vec!["/6", "/7", "/8", "/9"]);
    assert!(out[6..].iter().all(|r| r.status == Status::Ok));
}

#[test]
fn lost_events_end_pending_pairs() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(&seg(1, 1, Egress, GET, 0), &mut out);
    t.feed(&seg(1, 2, Egress, b"GET /half HTTP/1.1\r\nHo", 0), &mut out);
    t.lost(1, 3, &mut out);
    assert_eq!(reasons(&out), vec!["capture lost events on the socket"]);
    t.feed(&seg(1, 4, Ingress, b"st: x\r\n\r\n", 0), &mut out);
    t.feed(&seg(1, 5, Egress, GET, 0), &mut out);
    t.feed(&seg(1, 6, Ingress, OK, 0), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].status, Status::Ok);
    assert_eq!(out[1].req_ts_ns, 5);
    assert_eq!(t.stats().losses_reported, 1);
}

#[test]
fn unknown_protocols_are_given_up_and_counted() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    for i in 0..100u64 {
        t.feed(
            &seg(
                1,
                i,
                Egress,
                b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls-ish",
                0,
            ),
            &mut out,
        );
    }
    assert!(out.is_empty());
    let st = t.stats();
    assert_eq!(st.sockets_unknown, 1);
    assert_eq!(st.bytes_undetected, 100 * 19);
    assert_eq!(st.sockets_tracked, 1);
}

#[test]
fn starting_mid_stream() {
    // The tracer attached during a response body: those bytes are not a protocol start; the
    // next request is.
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(1, 1, Ingress, b"...tail of a body from before...", 0),
        &mut out,
    );
    t.feed(&seg(1, 2, Egress, GET, 0), &mut out);
    t.feed(&seg(1, 3, Ingress, OK, 0), &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].status, Status::Ok);
}

#[test]
fn memory_stays_bounded() {
    // Many sockets each holding a partial head of garbage-free but endless header lines.
    let cfg = Config {
        max_sockets: 64,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    let line = [b"GET / HTTP/1.1\r\n".as_slice(), &[b'a'; 1000]].concat();
    for id in 0..1000u64 {
        t.feed(&seg(id, id, Egress, &line, 0), &mut out);
        for j in 0..20 {
            t.feed(&seg(id, id, Egress, &line[16..], 0), &mut out);
            let _ = j;
        }
    }
    let st = t.stats();
    assert_eq!(st.sockets_tracked, 64);
    assert!(
        st.buffered_bytes <= 64 * 2 * netsight_l7::MAX_PARSER_BYTES as u64,
        "{}",
        st.buffered_bytes
    );
    assert!(
        st.protocols[&Protocol::Http1].parse_errors >= 900,
        "over-long heads are errors"
    );
}

#[test]
fn the_held_bytes_budget_evicts_the_least_recently_used() {
    // Each socket holds one pending request and a partial second head (~1 KiB each).
    let budget = 40 * 1024;
    let cfg = Config {
        max_held_bytes: budget,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    let partial = [b"GET /next HTTP/1.1\r\n".as_slice(), &[b'a'; 1000]].concat();
    for id in 0..200u64 {
        t.feed(&seg(id, id, Egress, GET, 0), &mut out);
        t.feed(&seg(id, id, Egress, &partial, 0), &mut out);
        let st = t.stats();
        let held = st.buffered_bytes + st.pending_requests * netsight_l7::MAX_PENDING_BYTES as u64;
        assert!(held <= budget as u64, "socket {id}: {held} held");
    }
    let st = t.stats();
    assert!(st.sockets_evicted > 100, "{st:?}");
    assert!(st.sockets_tracked < 40, "{st:?}");
    // Every evicted socket's pending request came out incomplete, naming why; the newest
    // sockets are the ones kept.
    assert_eq!(out.len() as u64, st.sockets_evicted);
    assert!(reasons(&out)
        .iter()
        .all(|r| *r == "socket evicted (L7 memory budget full)"));
    let evicted: std::collections::BTreeSet<u64> = out.iter().map(|r| r.socket_id).collect();
    assert!(!evicted.contains(&199) && evicted.contains(&0));
    assert!(Config::default().memory_bound() < 80 << 20);
}

#[test]
fn a_long_download_is_not_timed_out() {
    let cfg = Config {
        timeout_ns: 1_000,
        ..Config::default()
    };
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    t.feed(&seg(1, 100, Egress, GET, 0), &mut out);
    t.feed(
        &seg(1, 100, Egress, b"GET /second HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            200,
            Ingress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n",
            0,
        ),
        &mut out,
    );
    for i in 0..10u64 {
        t.feed(&seg(1, 1_000 * (i + 1), Ingress, &[b'x'; 400], 0), &mut out);
        t.expire(1_000 * (i + 1) + 500, &mut out);
    }
    // The second (pipelined) request timed out; the first is being answered.
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].reason.as_deref(),
        Some("no response within the timeout")
    );
    t.feed(&seg(1, 20_000, Ingress, &[b'x'; 1000], 0), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[1].status, Status::Ok);
    assert_eq!(out[1].req_ts_ns, 100);
}

#[test]
fn pipelining_across_segments_is_learned() {
    // An async client writes each request as it comes, without waiting (Redis clients do).
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let mut ts = 0;
    for _round in 0..3 {
        for i in 0..3 {
            ts += 10;
            let r = format!("GET /{i} HTTP/1.1\r\n\r\n");
            t.feed(&seg(1, ts, Egress, r.as_bytes(), 0), &mut out);
        }
        for _ in 0..3 {
            ts += 10;
            t.feed(&seg(1, ts, Ingress, OK, 0), &mut out);
        }
    }
    // The first burst is in doubt (a lost response looks the same); then it pairs in order.
    let ok = out.iter().filter(|r| r.status == Status::Ok).count();
    assert_eq!(ok, 6, "{out:?}");
    assert!(out[..out.len() - 6]
        .iter()
        .all(|r| r.status == Status::Incomplete));
}

#[test]
fn cap_seq_gaps_restart_pairing() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed_seq(&seg(1, 10, Egress, GET, 0), 0, &mut out);
    // Seq 1 (the response) and 2 (the next request) were lost.
    t.feed_seq(&seg(1, 40, Ingress, OK, 0), 3, &mut out);
    t.feed_seq(&seg(1, 50, Egress, GET, 0), 4, &mut out);
    t.feed_seq(&seg(1, 60, Ingress, OK, 0), 5, &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0].reason.as_deref(),
        Some("capture lost events on the socket")
    );
    assert!(out[1].request.is_none());
    assert_eq!((out[2].req_ts_ns, out[2].status), (50, Status::Ok));
    assert_eq!(t.stats().seq_gaps, 1);
}

#[test]
fn names_and_summaries() {
    use std::str::FromStr;
    for p in Protocol::ALL {
        assert_eq!(Protocol::from_str(p.name()), Ok(p));
        assert_eq!(serde_json::to_string(&p).unwrap(), format!("\"{p}\""));
    }
    assert!(Protocol::from_str("http2").is_err());
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(&seg(1, 1, Egress, b"GET /x HTTP/1.1\r\n\r\n", 0), &mut out);
    assert_eq!(t.stats().pending_requests, 1);
    t.feed(
        &seg(
            1,
            2,
            Ingress,
            b"HTTP/1.1 404 Nope\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    let r = &out[0];
    assert_eq!(r.request.as_ref().unwrap().to_string(), "GET /x");
    assert_eq!(r.response.as_ref().unwrap().to_string(), "404");
    assert_eq!((r.role.name(), r.status.name()), ("client", "error"));
    assert_eq!(t.stats().pending_requests, 0);
}

#[test]
fn tracker_is_send() {
    fn send<T: Send>() {}
    send::<Tracker>();
    send::<netsight_l7::L7Record>();
}
