//! HTTP/1 on recorded fixtures (curl/python <-> nginx, captured with strace) and hand-made bytes.
mod common;

use common::{json, run, seg};
use netsight_l7::{
    Config, Direction::*, HttpRequest, HttpResponse, L7Record, Request, Response, Role, Status,
    Tracker,
};

fn req(r: &L7Record) -> &HttpRequest {
    match r.request.as_ref() {
        Some(Request::Http1(h)) => h,
        other => panic!("no http request: {other:?}"),
    }
}
fn status(r: &L7Record) -> u16 {
    match r.response.as_ref() {
        Some(Response::Http1(HttpResponse { status })) => *status,
        other => panic!("no http response: {other:?}"),
    }
}
fn summary(recs: &[L7Record]) -> Vec<(String, String, u16)> {
    recs.iter()
        .map(|r| (req(r).method.clone(), req(r).path.clone(), status(r)))
        .collect()
}
fn s(m: &str, p: &str, c: u16) -> (String, String, u16) {
    (m.into(), p.into(), c)
}

#[test]
fn keepalive_client_at_every_capture_size() {
    for cap in [16384, 1024, 256] {
        let (recs, t) = run("http_curl_keepalive.txt", cap, Config::default());
        assert_eq!(
            summary(&recs),
            vec![
                s("GET", "/index.html", 200),
                s("GET", "/big.txt", 200),
                s("GET", "/nope?token=REDACTED&page=2", 404)
            ],
            "cap {cap}"
        );
        assert!(recs.iter().all(|r| r.role == Role::Client));
        // The 270 KB body is skipped by Content-Length although only `cap` bytes were seen.
        assert_eq!(recs[1].resp_bytes, 270421);
        assert_eq!(recs[2].status, Status::Error);
        assert_eq!(
            t.stats().protocols[&netsight_l7::Protocol::Http1].parse_errors,
            0
        );
    }
}

#[test]
fn pipelined_client_and_server() {
    let want = vec![
        s("GET", "/index.html", 200),
        s("HEAD", "/big.txt", 200),
        s("GET", "/nope", 404),
        s("GET", "/index.html", 200),
    ];
    for cap in [16384, 1024] {
        let (recs, _) = run("http_pipelined_client.txt", cap, Config::default());
        assert_eq!(summary(&recs), want);
        // HEAD's Content-Length: 270177 is not a body: the next response parsed fine.
        assert_eq!(recs[1].resp_bytes, 244);
        let (recs, _) = run("http_nginx_server.txt", cap, Config::default());
        assert_eq!(recs.len(), 5);
        assert_eq!(summary(&recs[..4]), want);
        assert!(recs.iter().all(|r| r.role == Role::Server));
    }
}

#[test]
fn truncation_never_pairs_wrongly() {
    // At tiny capture sizes heads are cut: records become incomplete, never mismatched.
    for name in [
        "http_pipelined_client.txt",
        "http_nginx_server.txt",
        "http_curl_keepalive.txt",
    ] {
        let (full, _) = run(name, 16384, Config::default());
        for cap in [8, 16, 40, 64, 100, 200] {
            let (recs, _) = run(name, cap, Config::default());
            for r in recs
                .iter()
                .filter(|r| r.request.is_some() && r.response.is_some())
            {
                // The same request (time, method, path as far as captured) with the same
                // response (time, status) is a pair of the full capture.
                let found = full.iter().any(|f| {
                    f.req_ts_ns == r.req_ts_ns
                        && req(f).method == req(r).method
                        && req(f).path.starts_with(&req(r).path)
                        && f.resp_ts_ns == r.resp_ts_ns
                        && status(f) == status(r)
                });
                assert!(found, "{name} cap {cap}: wrong pair {}", json(r));
            }
        }
    }
}

#[test]
fn chunked_response() {
    let (recs, _) = run("http_curl_chunked.txt", 1024, Config::default());
    assert_eq!(summary(&recs), vec![s("GET", "/big.txt", 200)]);
    // Hand-made: chunks split across segments, with extensions and a trailer.
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let body: &[&[u8]] = &[
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhel",
        b"lo\r\n6\r",
        b"\n world\r\n0\r\nX-Trailer: a\r\n",
        b"\r\nHTTP/1.1 204 No Content\r\n\r\n",
    ];
    t.feed(
        &seg(
            1,
            10,
            Egress,
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\n",
            0,
        ),
        &mut out,
    );
    for (i, b) in body.iter().enumerate() {
        t.feed(&seg(1, 20 + i as u64, Ingress, b, b.len()), &mut out);
    }
    assert_eq!(
        summary(&out),
        vec![s("GET", "/a", 200), s("GET", "/b", 204)]
    );
    let first: usize = body[..3].iter().map(|b| b.len()).sum::<usize>() + 2;
    assert_eq!(out[0].resp_bytes as usize, first);
}

#[test]
fn expect_100_continue() {
    // nginx answered 100 and 201 in one read, before curl sent the 300 KB body.
    for cap in [16384, 1024, 64] {
        let (recs, t) = run("http_curl_expect.txt", cap, Config::default());
        assert_eq!(summary(&recs), vec![s("POST", "/echo", 201)], "cap {cap}");
        let st = &t.stats().protocols[&netsight_l7::Protocol::Http1];
        assert_eq!(
            st.parse_errors, 0,
            "cap {cap}: the body after 100 is not parsed as a request"
        );
    }
    // Classic order: head, 100, body, 201.
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let head = b"PUT /up HTTP/1.1\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\n";
    t.feed(&seg(1, 1_000, Egress, head, head.len()), &mut out);
    t.feed(
        &seg(1, 2_000, Ingress, b"HTTP/1.1 100 Continue\r\n\r\n", 0),
        &mut out,
    );
    t.feed(&seg(1, 3_000, Egress, b"0123456789", 0), &mut out);
    t.feed(
        &seg(
            1,
            9_000,
            Ingress,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(summary(&out), vec![s("PUT", "/up", 201)]);
    assert_eq!(out[0].latency_us, Some(6)); // from the body's segment to the 201
                                            // Rejected before the body: the client sends the next request instead.
    let mut out = Vec::new();
    t.feed(&seg(1, 10_000, Egress, head, head.len()), &mut out);
    t.feed(
        &seg(
            1,
            11_000,
            Ingress,
            b"HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(1, 12_000, Egress, b"GET /next HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            13_000,
            Ingress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(
        summary(&out),
        vec![s("PUT", "/up", 417), s("GET", "/next", 200)]
    );
}

#[test]
fn head_and_bodyless_statuses() {
    let (recs, _) = run("http_curl_head.txt", 1024, Config::default());
    assert_eq!(summary(&recs), vec![s("HEAD", "/big.txt", 200)]);
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(
            1,
            1,
            Egress,
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
            0,
        ),
        &mut out,
    );
    let resp = b"HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\nHTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok";
    t.feed(&seg(1, 2, Ingress, resp, resp.len()), &mut out);
    assert_eq!(
        summary(&out),
        vec![
            s("GET", "/a", 304),
            s("GET", "/b", 204),
            s("GET", "/c", 200)
        ]
    );
}

#[test]
fn headers_split_over_segments() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let parts: &[&[u8]] = &[
        b"GE",
        b"T /split?x=1 HTTP/1.1\r",
        b"\nHost: h.example\r\n\r",
        b"\n",
    ];
    for (i, p) in parts.iter().enumerate() {
        t.feed(&seg(7, 100 + i as u64 * 1000, Egress, p, p.len()), &mut out);
    }
    t.feed(
        &seg(
            7,
            9_000,
            Ingress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert!(out.is_empty(), "the body is not complete yet");
    t.feed(&seg(7, 9_500, Ingress, b"abc", 0), &mut out);
    assert_eq!(summary(&out), vec![s("GET", "/split?x=1", 200)]);
    assert_eq!(req(&out[0]).host.as_deref(), Some("h.example"));
    assert_eq!(out[0].req_ts_ns, 100);
    assert_eq!(out[0].latency_us, Some(5)); // last request segment at 3100, response at 9000
    assert_eq!(out[0].req_bytes, 44);
    assert_eq!(out[0].resp_bytes, 41);
}

#[test]
fn response_bigger_than_capture_then_next_pair() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(1, 1, Egress, b"GET /big HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n";
    let mut cap = head.to_vec();
    cap.extend_from_slice(&[b'x'; 100]);
    // One write of head + 60000 body bytes, 144 captured; then 40000 more, 10 captured.
    t.feed(&seg(1, 2, Ingress, &cap, head.len() + 60000), &mut out);
    t.feed(&seg(1, 3, Ingress, &[b'y'; 10], 40000), &mut out);
    t.feed(
        &seg(1, 4, Egress, b"GET /next HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            5,
            Ingress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(
        summary(&out),
        vec![s("GET", "/big", 200), s("GET", "/next", 200)]
    );
    assert_eq!(out[0].resp_bytes, head.len() as u64 + 100000);
}

#[test]
fn lost_response_resynchronizes() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(1, 1_000, Egress, b"GET /1 HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    // The response is garbage (e.g. a misparsed or corrupted capture).
    t.feed(
        &seg(
            1,
            2_000,
            Ingress,
            b"\x00\x01garbage that is not http at all",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(1, 3_000, Egress, b"GET /2 HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            4_000,
            Ingress,
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].status, Status::Incomplete);
    assert_eq!(req(&out[0]).path, "/1");
    assert_eq!(
        summary(&out[1..]),
        vec![s("GET", "/2", 404)],
        "not shifted onto /1"
    );
    // A lost request: its response is alone, the next pair is right.
    let mut out = Vec::new();
    t.feed(
        &seg(1, 5_000, Egress, b"\xffnot a request\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            6_000,
            Ingress,
            b"HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(1, 7_000, Egress, b"GET /3 HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            8_000,
            Ingress,
            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 2);
    assert!(out[0].request.is_none() && out[0].status == Status::Incomplete);
    assert_eq!(summary(&out[1..]), vec![s("GET", "/3", 200)]);
}

#[test]
fn upgrade_stops_parsing() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(
            1,
            1,
            Egress,
            b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            2,
            Ingress,
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
            0,
        ),
        &mut out,
    );
    t.feed(&seg(1, 3, Egress, b"\x81\x85GET / HTTP/1.1", 0), &mut out);
    assert_eq!(summary(&out), vec![s("GET", "/ws", 101)]);
    let st = t.stats();
    assert_eq!(st.protocols[&netsight_l7::Protocol::Http1].parse_errors, 0);
}

#[test]
fn secrets_are_redacted() {
    let (recs, _) = run("http_curl_chunked.txt", 16384, Config::default());
    let (recs2, _) = run("http_nginx_server.txt", 16384, Config::default());
    for r in recs.iter().chain(&recs2) {
        let j = json(r);
        for secret in [
            "SECRETTOKEN",
            "SECRETCOOKIE",
            "c2VjcmV0OnNlY3JldA",
            "Authorization",
            "Cookie",
        ] {
            assert!(!j.contains(secret), "{j}");
        }
    }
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let r = b"GET /login?user=bob&password=hunter2&api_key=k1 HTTP/1.1\r\n\r\n";
    t.feed(&seg(1, 1, Egress, r, r.len()), &mut out);
    t.close_socket(1, 2, &mut out);
    assert_eq!(
        req(&out[0]).path,
        "/login?user=bob&password=REDACTED&api_key=REDACTED"
    );
    let mut t = Tracker::new(Config {
        redact: false,
        ..Config::default()
    });
    let mut out = Vec::new();
    t.feed(&seg(1, 1, Egress, r, r.len()), &mut out);
    t.close_socket(1, 2, &mut out);
    assert_eq!(
        req(&out[0]).path,
        "/login?user=bob&password=hunter2&api_key=k1"
    );
}

#[test]
fn json_shape() {
    let (recs, _) = run("http_curl_keepalive.txt", 1024, Config::default());
    assert_eq!(
        json(&recs[0]),
        r#"{"protocol":"http1","socket_id":1,"role":"client","request":{"method":"GET","path":"/index.html","host":"127.0.0.1:18080"},"response":{"status":200},"latency_us":2270,"req_bytes":89,"resp_bytes":255,"status":"ok"}"#
    );
    // Embeddable with #[serde(flatten)].
    #[derive(serde::Serialize)]
    struct Outer<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        pid: u32,
        #[serde(flatten)]
        rec: &'a L7Record,
    }
    let j = serde_json::to_string(&Outer {
        kind: "l7",
        pid: 4711,
        rec: &recs[0],
    })
    .unwrap();
    assert!(
        j.starts_with(
            r#"{"type":"l7","pid":4711,"protocol":"http1","socket_id":1,"role":"client""#
        ),
        "{j}"
    );
}

#[test]
fn lost_request_in_a_pipeline_is_never_mispaired() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    // A, then a request the parser cannot read, then B and C, all before any response.
    t.feed(
        &seg(
            1,
            1_000,
            Egress,
            b"GET /a HTTP/1.1\r\n\r\nGET /\x01bad HTTP/1.1\r\n\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            1_100,
            Egress,
            b"GET /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n",
            0,
        ),
        &mut out,
    );
    for (i, code) in [200, 400, 201, 202].iter().enumerate() {
        let r = format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\n\r\n");
        t.feed(
            &seg(1, 2_000 + i as u64, Ingress, r.as_bytes(), 0),
            &mut out,
        );
    }
    // Then the client waits again: pairing is back.
    t.feed(
        &seg(1, 3_000, Egress, b"GET /d HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            3_100,
            Ingress,
            b"HTTP/1.1 203 X\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    let paired: Vec<_> = out
        .iter()
        .filter(|r| r.request.is_some() && r.response.is_some())
        .collect();
    // /a too is in doubt: B and C came in a later segment before /a's response, from a
    // client not yet seen pipelining, so /a's response might have been lost.
    let paired: Vec<L7Record> = paired.into_iter().cloned().collect();
    assert_eq!(summary(&paired), vec![s("GET", "/d", 203)]);
    assert!(out
        .iter()
        .all(|r| r.status != Status::Ok || r.request.is_some()));
    // The same with a client that waits for each response: the pair after the bad request is kept.
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(1, 1_000, Egress, b"GET /a HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            1_500,
            Ingress,
            b"HTTP/1.1 200 X\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(1, 2_000, Egress, b"GET /\x01bad HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            2_500,
            Ingress,
            b"HTTP/1.1 400 X\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(1, 3_000, Egress, b"GET /b HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            3_500,
            Ingress,
            b"HTTP/1.1 201 X\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    let paired: Vec<_> = out
        .iter()
        .filter(|r| r.request.is_some() && r.response.is_some())
        .cloned()
        .collect();
    assert_eq!(
        summary(&paired),
        vec![s("GET", "/a", 200), s("GET", "/b", 201)]
    );
    assert_eq!(out.len(), 3);
}

#[test]
fn sendfile_body_fed_as_an_empty_segment() {
    // nginx server side: the head by writev (captured), the body by sendfile (counted only).
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let mut s1 = seg(
        3,
        1_000,
        Ingress,
        b"GET /big HTTP/1.1\r\nHost: h\r\n\r\n",
        0,
    );
    s1.local_port = 80;
    s1.remote_port = 40000;
    t.feed(&s1, &mut out);
    let head = b"HTTP/1.1 200 OK\r\nContent-Length: 270177\r\n\r\n";
    t.feed(&seg(3, 2_000, Egress, head, 0), &mut out);
    t.feed(&seg(3, 3_000, Egress, b"", 200_000), &mut out);
    t.feed(&seg(3, 4_000, Egress, b"", 70_177), &mut out);
    t.feed(
        &seg(3, 5_000, Ingress, b"GET /next HTTP/1.1\r\n\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(3, 6_000, Egress, b"HTTP/1.1 304 Not Modified\r\n\r\n", 0),
        &mut out,
    );
    assert_eq!(
        summary(&out),
        vec![s("GET", "/big", 200), s("GET", "/next", 304)]
    );
    assert_eq!(out[0].role, Role::Server);
    assert_eq!(out[0].resp_bytes, head.len() as u64 + 270_177);
    assert_eq!(out[0].latency_us, Some(1));
}

#[test]
fn server_reads_a_post_body_in_pieces() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    let head = b"POST /api?secret=s3 HTTP/1.1\r\nHost: api\r\nContent-Length: 5000\r\n\r\n";
    t.feed(&seg(4, 1_000, Ingress, head, 0), &mut out);
    for i in 0..5u64 {
        // 1000 bytes each, only 10 captured.
        t.feed(
            &seg(4, 2_000 + i * 1_000, Ingress, &[b'z'; 10], 1000),
            &mut out,
        );
    }
    t.feed(
        &seg(
            4,
            9_000,
            Egress,
            b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(summary(&out), vec![s("POST", "/api?secret=REDACTED", 201)]);
    assert_eq!(out[0].req_bytes, head.len() as u64 + 5000);
    assert_eq!(out[0].latency_us, Some(3)); // from the last body piece at 6000
}
