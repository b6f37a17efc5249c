//! DNS on recorded fixtures (dig/python <-> dnsmasq, captured with strace) and hand-made bytes.
mod common;

use common::{json, run};
use netsight_l7::{
    Config, Direction, DnsQuery, DnsResponse, L7Record, Request, Response, Segment, Status,
    Tracker, Transport,
};

fn q(r: &L7Record) -> &DnsQuery {
    match r.request.as_ref() {
        Some(Request::Dns(d)) => d,
        other => panic!("no dns query: {other:?}"),
    }
}
fn a(r: &L7Record) -> &DnsResponse {
    match r.response.as_ref() {
        Some(Response::Dns(d)) => d,
        other => panic!("no dns response: {other:?}"),
    }
}
fn summary(recs: &[L7Record]) -> Vec<(String, String, String, u16)> {
    recs.iter()
        .map(|r| {
            (
                q(r).qname.clone().unwrap_or_default(),
                q(r).qtype.clone().unwrap_or_default(),
                a(r).rcode.clone(),
                a(r).answers,
            )
        })
        .collect()
}
fn s(n: &str, t: &str, rc: &str, an: u16) -> (String, String, String, u16) {
    (n.into(), t.into(), rc.into(), an)
}

#[test]
fn dig_udp() {
    let (recs, _) = run("dns_dig_udp.txt", 1024, Config::default());
    assert_eq!(
        summary(&recs),
        vec![
            s("example.test", "A", "NOERROR", 1),
            s("www.example.test", "AAAA", "REFUSED", 0),
            s("nothere.invalid", "A", "REFUSED", 0)
        ]
    );
    assert_eq!(
        json(&recs[0]),
        r#"{"protocol":"dns","socket_id":1,"role":"client","request":{"id":28331,"qname":"example.test","qtype":"A"},"response":{"rcode":"NOERROR","answers":1},"latency_us":430,"req_bytes":53,"resp_bytes":57,"status":"ok"}"#
    );
    assert_eq!(recs[1].status, Status::Error);
}

#[test]
fn tcp_several_per_segment_and_split() {
    for cap in [16384, 64] {
        let (recs, _) = run("dns_dig_tcp.txt", cap, Config::default());
        assert_eq!(
            summary(&recs),
            vec![
                s("example.test", "A", "NOERROR", 1),
                s("www.example.test", "MX", "REFUSED", 0)
            ]
        );
    }
    let (recs, _) = run("dns_tcp_pipelined.txt", 16384, Config::default());
    assert_eq!(
        summary(&recs),
        vec![
            s("example.test", "A", "NOERROR", 1),
            s("a.example.test", "AAAA", "REFUSED", 0),
            s("example.test", "TXT", "REFUSED", 0)
        ]
    );
    assert_eq!(recs[2].req_bytes, 32, "a query split over two sends");
    // Capture cut inside the second query of a segment: that pair is lost on both sides,
    // the others are right.
    let (recs, t) = run("dns_tcp_pipelined.txt", 40, Config::default());
    assert_eq!(
        summary(&recs),
        vec![
            s("example.test", "A", "NOERROR", 1),
            s("example.test", "TXT", "REFUSED", 0)
        ]
    );
    assert_eq!(
        t.stats().protocols[&netsight_l7::Protocol::Dns].parse_errors,
        1
    );
}

fn msg(id: u16, flags: u16, an: u16, name: &[u8], qtype: u16) -> Vec<u8> {
    let mut m = Vec::new();
    for w in [id, flags, 1, an, 0, 0] {
        m.extend_from_slice(&w.to_be_bytes());
    }
    m.extend_from_slice(name);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&1u16.to_be_bytes());
    m
}

fn udp<'a>(ts: u64, dir: Direction, p: &'a [u8], remote_port: u16) -> Segment<'a> {
    Segment {
        socket_id: 9,
        ts_ns: ts,
        direction: dir,
        transport: Transport::Udp,
        syscall_len: p.len() as u32,
        payload: p,
        local_port: 53,
        remote_port,
        hint: None,
    }
}

#[test]
fn server_socket_pairs_by_id_and_peer_out_of_order() {
    let name = b"\x03foo\x07example\x03com\x00";
    let q1 = msg(7, 0x0100, 0, name, 1);
    let q2 = msg(7, 0x0100, 0, name, 28); // same id, other peer
    let q3 = msg(8, 0x0100, 0, b"\x03bar\xc0\x00", 1); // bad pointer: qname unknown
    let mut r2 = msg(7, 0x8183, 0, name, 28);
    r2.extend_from_slice(b"\xc0\x0c"); // trailing compressed name, ignored
    let r1 = msg(7, 0x8180, 2, name, 1);
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(&udp(1_000, Direction::Ingress, &q1, 5001), &mut out);
    t.feed(&udp(2_000, Direction::Ingress, &q2, 5002), &mut out);
    t.feed(&udp(3_000, Direction::Ingress, &q3, 5003), &mut out);
    t.feed(&udp(4_000, Direction::Egress, &r2, 5002), &mut out);
    t.feed(&udp(5_000, Direction::Egress, &r1, 5001), &mut out);
    assert_eq!(
        summary(&out),
        vec![
            s("foo.example.com", "AAAA", "NXDOMAIN", 0),
            s("foo.example.com", "A", "NOERROR", 2)
        ]
    );
    assert_eq!(out[0].latency_us, Some(2));
    assert!(out.iter().all(|r| r.role == netsight_l7::Role::Server));
    // The unanswered query times out as incomplete.
    t.expire(3_000 + Config::default().timeout_ns, &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(out[2].status, Status::Incomplete);
    assert_eq!(q(&out[2]).id, 8);
    assert_eq!(q(&out[2]).qname, None);
}

#[test]
fn retransmission_and_wrong_name() {
    let name = b"\x01a\x00";
    let q1 = msg(1, 0x0100, 0, name, 1);
    let other = msg(1, 0x8180, 1, b"\x01b\x00", 1);
    let r = msg(1, 0x8180, 1, name, 1);
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(&udp(1_000, Direction::Egress, &q1, 53), &mut out);
    t.feed(&udp(2_000, Direction::Egress, &q1, 53), &mut out); // retransmitted
    t.feed(&udp(2_500, Direction::Ingress, &other, 53), &mut out); // same id, other name
    t.feed(&udp(3_000, Direction::Ingress, &r, 53), &mut out);
    assert_eq!(out.len(), 3);
    assert_eq!(
        out[0].status,
        Status::Incomplete,
        "the first copy was superseded"
    );
    assert!(
        out[1].request.is_none(),
        "an answer for another name is not this query's"
    );
    assert_eq!(out[2].latency_us, Some(1));
}
