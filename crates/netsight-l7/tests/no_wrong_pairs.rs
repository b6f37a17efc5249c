//! The pairing invariant on every fixture: whatever is cut or lost, a record that pairs a
//! request with a response pairs two messages that belong together in the full capture.
mod common;

use common::{json, load, Rec};
use netsight_l7::{Config, L7Record, Tracker};

fn feed(recs: &[&Rec], cap: usize) -> Vec<L7Record> {
    feed_with(recs, cap, None)
}

/// `seq`: each record's cap_seq (its index per socket in the full capture), for `feed_seq`.
fn feed_with(recs: &[&Rec], cap: usize, seq: Option<&[u64]>) -> Vec<L7Record> {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        match seq {
            Some(s) => t.feed_seq(&r.seg(cap), s[i], &mut out),
            None => t.feed(&r.seg(cap), &mut out),
        }
    }
    let last = recs.last().map_or(0, |r| r.ts_ns);
    for id in 0..16 {
        t.close_socket(id, last + 1, &mut out);
    }
    out
}

/// A pair is right if the full capture has a pair with the same request and response times
/// (messages are identified by when they began).
fn check(name: &str, what: &str, full: &[L7Record], got: &[L7Record]) {
    for r in got
        .iter()
        .filter(|r| r.request.is_some() && r.response.is_some())
    {
        let ok = full.iter().any(|f| {
            f.request.is_some()
                && f.response.is_some()
                && f.socket_id == r.socket_id
                && f.req_ts_ns == r.req_ts_ns
                && f.resp_ts_ns == r.resp_ts_ns
        });
        assert!(ok, "{name} {what}: wrong pair {}", json(r));
    }
}

const FIXTURES: &[&str] = &[
    "http_curl_keepalive.txt",
    "http_curl_chunked.txt",
    "http_curl_expect.txt",
    "http_curl_head.txt",
    "http_pipelined_client.txt",
    "http_nginx_server.txt",
    "redis_client.txt",
    "redis_pubsub.txt",
    "dns_dig_udp.txt",
    "dns_dig_tcp.txt",
    "dns_tcp_pipelined.txt",
];

#[test]
fn any_capture_size() {
    for name in FIXTURES {
        let recs = load(name);
        let all: Vec<&Rec> = recs.iter().collect();
        let full = feed(&all, 16384);
        for cap in (1..64).chain((64..2048).step_by(37)) {
            check(name, &format!("cap {cap}"), &full, &feed(&all, cap));
        }
    }
}

#[test]
fn any_one_segment_lost() {
    // The kernel dropped one event and nobody told the tracker (no `lost()` call).
    for name in FIXTURES {
        let recs = load(name);
        let all: Vec<&Rec> = recs.iter().collect();
        let full = feed(&all, 16384);
        for cap in [16384, 1024, 100] {
            for skip in 0..recs.len() {
                let some: Vec<&Rec> = recs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != skip)
                    .map(|(_, r)| r)
                    .collect();
                check(
                    name,
                    &format!("cap {cap} without segment {skip}"),
                    &full,
                    &feed(&some, cap),
                );
            }
        }
    }
}

/// Each record's cap_seq: its index among its socket's records.
fn cap_seqs(recs: &[Rec]) -> Vec<u64> {
    let mut next = std::collections::HashMap::new();
    recs.iter()
        .map(|r| {
            let n = next.entry(r.socket).or_insert(0u64);
            *n += 1;
            *n - 1
        })
        .collect()
}

#[test]
fn any_two_segments_lost_with_cap_seq() {
    // Losing a response *and* the next request looks exactly like a normal exchange; only the
    // capture's sequence numbers can tell, so this goes through `feed_seq`.
    for name in FIXTURES {
        let recs = load(name);
        let seqs = cap_seqs(&recs);
        let all: Vec<&Rec> = recs.iter().collect();
        let full = feed(&all, 16384);
        for a in 0..recs.len() {
            for b in a + 1..recs.len() {
                let keep = |i: &usize| *i != a && *i != b;
                let some: Vec<&Rec> = recs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(_, r)| r)
                    .collect();
                let s: Vec<u64> = seqs
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| keep(i))
                    .map(|(_, s)| *s)
                    .collect();
                let got = feed_with(&some, 1024, Some(&s));
                check(name, &format!("without segments {a} and {b}"), &full, &got);
            }
        }
    }
}
