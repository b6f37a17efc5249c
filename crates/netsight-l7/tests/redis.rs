//! Redis on recorded fixtures (python/redis-cli <-> redis-server 7, captured with strace) and
//! hand-made bytes.
mod common;

use common::{json, run, seg};
use netsight_l7::{
    Config, Direction::*, L7Record, RedisCommand, RedisReply, ReplyKind, Request, Response, Status,
    Tracker,
};

fn c(r: &L7Record) -> &RedisCommand {
    match r.request.as_ref() {
        Some(Request::Redis(x)) => x,
        other => panic!("no redis command: {other:?}"),
    }
}
fn rep(r: &L7Record) -> &RedisReply {
    match r.response.as_ref() {
        Some(Response::Redis(x)) => x,
        other => panic!("no redis reply: {other:?}"),
    }
}
fn summary(recs: &[L7Record]) -> Vec<String> {
    recs.iter()
        .map(|r| {
            let k = c(r)
                .key
                .as_deref()
                .map(|k| format!(" {k}"))
                .unwrap_or_default();
            let kind = match rep(r).reply {
                ReplyKind::Ok => "ok",
                ReplyKind::Error => "error",
                ReplyKind::Value => "value",
            };
            format!("{}{k} -> {kind}", c(r).command)
        })
        .collect()
}

const CLIENT: &[&str] = &[
    "AUTH -> ok",
    "SET user:1 -> ok",
    "GET user:1 -> value",
    "INCR user:1 -> error",
    "LRANGE nolist -> value",
    "DEL user:1 -> value",
    "PING -> ok",
    "SET big -> ok",
    "GET big -> value",
    "HELLO -> value",
    "HSET h -> value",
    "HGETALL h -> value",
    "CONFIG SET -> ok",
    "GET nokey -> value",
    "NOSUCHCMD x -> error",
    "MULTI -> ok",
    "SET a -> ok",
    "EXEC -> value",
];

#[test]
fn client_session() {
    for cap in [16384, 1024] {
        let (recs, t) = run("redis_client.txt", cap, Config::default());
        assert_eq!(summary(&recs), CLIENT, "cap {cap}");
        assert_eq!(
            rep(&recs[3]).error.as_deref(),
            Some("ERR value is not an integer or out of range")
        );
        assert_eq!(recs[3].status, Status::Error);
        // The 100 KB value went by in syscalls far bigger than the capture.
        assert_eq!(recs[7].req_bytes, 100033);
        assert_eq!(recs[8].resp_bytes, 100011);
        assert_eq!(
            t.stats().protocols[&netsight_l7::Protocol::Redis].parse_errors,
            0
        );
    }
}

#[test]
fn no_secret_in_records() {
    for cap in [16384, 1024, 40, 20] {
        for redact in [true, false] {
            let (recs, _) = run(
                "redis_client.txt",
                cap,
                Config {
                    redact,
                    ..Config::default()
                },
            );
            for r in &recs {
                assert!(!json(r).contains("secretpw"), "cap {cap}: {}", json(r));
            }
        }
    }
}

#[test]
fn pubsub() {
    let (recs, _) = run("redis_pubsub.txt", 16384, Config::default());
    assert_eq!(
        summary(&recs),
        vec![
            "AUTH -> ok",
            "SUBSCRIBE c1 -> value",
            "AUTH -> ok",
            "PUBLISH c1 -> value",
            "PING -> value"
        ]
    );
    // The second confirmation and the message did not shift PING's reply.
    assert_eq!(recs[4].resp_bytes, 20);
}

#[test]
fn truncation_never_pairs_wrongly() {
    let (full, _) = run("redis_client.txt", 16384, Config::default());
    for cap in [1, 5, 12, 20, 33, 40, 64, 100] {
        let (recs, _) = run("redis_client.txt", cap, Config::default());
        for r in recs
            .iter()
            .filter(|r| r.request.is_some() && r.response.is_some())
        {
            let ok = full.iter().any(|f| {
                f.req_ts_ns == r.req_ts_ns
                    && f.resp_ts_ns == r.resp_ts_ns
                    && c(f).command.starts_with(&c(r).command)
                    && rep(f).reply == rep(r).reply
            });
            assert!(ok, "cap {cap}: wrong pair {}", json(r));
        }
    }
}

#[test]
fn inline_nested_resp3_and_pushes() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    // One write: a RESP command, then inline ones, then RESP again.
    let cmds = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nping\r\nECHO hi\r\n*1\r\n$4\r\nEXEC\r\n";
    t.feed(&seg(1, 1, Egress, cmds, 0), &mut out);
    // A RESP3 push between replies, a nested array, an attribute, a blob error split up.
    let replies: &[&[u8]] = &[
        b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nx\r\n",
        b"$-1\r\n+PONG\r\n$2\r\nhi\r\n|1\r\n+key\r\n+val\r\n*2\r\n*2\r\n:1\r\n%1\r\n+a\r\n#t\r\n",
        b"_\r\n",
    ];
    for (i, r) in replies.iter().enumerate() {
        t.feed(&seg(1, 10 + i as u64, Ingress, r, 0), &mut out);
    }
    assert_eq!(
        summary(&out),
        vec![
            "GET k -> value",
            "PING -> ok",
            "ECHO -> value",
            "EXEC -> value"
        ]
    );
    let mut out = Vec::new();
    t.feed(&seg(1, 20, Egress, b"*1\r\n$4\r\nPING\r\n", 0), &mut out);
    t.feed(
        &seg(1, 21, Ingress, b"!21\r\nSYNTAX invalid syntax\r\n", 0),
        &mut out,
    );
    assert_eq!(rep(&out[0]).error.as_deref(), Some("SYNTAX invalid syntax"));
}

#[test]
fn lost_reply_resynchronizes() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(
        &seg(1, 1_000, Egress, b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n", 0),
        &mut out,
    );
    t.feed(&seg(1, 2_000, Ingress, b"?garbage\r\n", 0), &mut out);
    t.feed(
        &seg(1, 3_000, Egress, b"*2\r\n$3\r\nGET\r\n$1\r\nb\r\n", 0),
        &mut out,
    );
    t.feed(&seg(1, 4_000, Ingress, b"$1\r\nB\r\n", 0), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].status, Status::Incomplete);
    assert_eq!(summary(&out[1..]), vec!["GET b -> value"]);
}

#[test]
fn auth_variants_never_leak() {
    let cmds: &[&[u8]] = &[
        b"*2\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n",
        b"*3\r\n$4\r\nauth\r\n$4\r\nuser\r\n$6\r\nhunter\r\n",
        b"*5\r\n$5\r\nHELLO\r\n$1\r\n3\r\n$4\r\nAUTH\r\n$1\r\nu\r\n$6\r\nhunter\r\n",
        b"*9\r\n$7\r\nMIGRATE\r\n$1\r\nh\r\n$4\r\n6379\r\n$0\r\n\r\n$1\r\n0\r\n$4\r\n5000\r\n$4\r\nAUTH\r\n$6\r\nhunter\r\n$4\r\nKEYS\r\n",
        b"*4\r\n$6\r\nCONFIG\r\n$3\r\nSET\r\n$11\r\nrequirepass\r\n$6\r\nhunter\r\n",
        b"AUTH hunter\r\n",
    ];
    for (i, cmd) in cmds.iter().enumerate() {
        let mut t = Tracker::new(Config {
            redact: false,
            ..Config::default()
        });
        let mut out = Vec::new();
        let mut s = seg(1, 1, Egress, cmd, 0);
        s.remote_port = 6379;
        t.feed(&s, &mut out);
        t.close_socket(1, 2, &mut out);
        assert_eq!(out.len(), 1, "command {i}");
        assert!(!json(&out[0]).contains("hunter"), "{}", json(&out[0]));
    }
}

#[test]
fn monitor_and_nameless_commands_do_not_shift_pairs() {
    let mut t = Tracker::new(Config::default());
    let mut out = Vec::new();
    t.feed(&seg(1, 10, Egress, b"*1\r\n$4\r\nPING\r\n", 0), &mut out);
    t.feed(&seg(1, 20, Ingress, b"+PONG\r\n", 0), &mut out);
    out.clear();
    // A command array whose name is a null bulk: no command to show, but it gets a reply.
    t.feed(&seg(1, 1_000, Egress, b"*1\r\n$-1\r\n", 0), &mut out);
    t.feed(
        &seg(1, 2_000, Ingress, b"-ERR Protocol error\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(1, 3_000, Egress, b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n", 0),
        &mut out,
    );
    t.feed(&seg(1, 4_000, Ingress, b"$1\r\nv\r\n", 0), &mut out);
    assert_eq!(out.len(), 2);
    assert!(out[0].request.is_none(), "the error is not GET's");
    assert_eq!(summary(&out[1..]), vec!["GET k -> value"]);
    // The same, pipelined: GET a, the nameless command and GET b before any reply.
    let mut out = Vec::new();
    let cmds = b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$-1\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n";
    t.feed(&seg(1, 4_100, Egress, cmds, 0), &mut out);
    t.feed(
        &seg(
            1,
            4_200,
            Ingress,
            b"$1\r\nA\r\n-ERR Protocol error\r\n$1\r\nB\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(out.len(), 3);
    assert_eq!(summary(&out[..1]), vec!["GET a -> value"]);
    assert!(out[1].request.is_none());
    assert_eq!(summary(&out[2..]), vec!["GET b -> value"]);
    let mut out = Vec::new();
    t.feed(
        &seg(1, 5_000, Egress, b"*1\r\n$7\r\nMONITOR\r\n", 0),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            6_000,
            Ingress,
            b"+OK\r\n+1700000000.1 [0 127.0.0.1:5] \"GET\" \"x\"\r\n",
            0,
        ),
        &mut out,
    );
    t.feed(
        &seg(
            1,
            7_000,
            Ingress,
            b"+1700000000.2 [0 127.0.0.1:5] \"SET\" \"x\"\r\n",
            0,
        ),
        &mut out,
    );
    assert_eq!(summary(&out), vec!["MONITOR -> ok"]);
}
