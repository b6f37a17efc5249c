//! Parsing + pairing throughput per protocol on one core: records per second through
//! `Tracker::feed` (inference, parser, pairing, record building, redaction).
//!
//! `cargo bench -p netsight-l7` (a plain timing loop; no criterion, to keep the build small).
//! Each case runs for about a second, three times; the best and median rates are printed.

use netsight_l7::{Config, Direction, L7Record, Segment, Tracker, Transport};
use std::hint::black_box;
use std::time::{Duration, Instant};

/// One conversation step: direction, captured bytes, syscall_len.
type Step = (Direction, Vec<u8>, u32);

struct Case {
    name: &'static str,
    transport: Transport,
    ports: (u16, u16),
    /// Steps of one round; a round yields `records` records.
    steps: Vec<Step>,
    records: u64,
}

fn whole(dir: Direction, b: &[u8]) -> Step {
    (dir, b.to_vec(), b.len() as u32)
}

fn http_req(path: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 10.0.0.2\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n"
    )
    .into_bytes()
}

fn http_resp(body: usize) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 01 Dec 2026 11:35:59 GMT\r\n\
         Content-Type: text/html\r\nContent-Length: {body}\r\nLast-Modified: Tue, 01 Dec 2026 \
         11:35:55 GMT\r\nConnection: keep-alive\r\nETag: \"6b0eb11b-13\"\r\nAccept-Ranges: bytes\r\n\r\n"
    )
    .into_bytes();
    r.extend(std::iter::repeat_n(b'x', body));
    r
}

fn resp_cmd(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

fn dns_msg(id: u16, flags: u16, an: u16) -> Vec<u8> {
    let mut m = Vec::new();
    for w in [id, flags, 1, an, 0, 0] {
        m.extend_from_slice(&w.to_be_bytes());
    }
    m.extend_from_slice(b"\x03www\x07example\x03com\x00\x00\x01\x00\x01");
    if an > 0 {
        m.extend_from_slice(b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x0e\x10\x00\x04\x5d\xb8\xd8\x22");
    }
    m
}

fn cases() -> Vec<Case> {
    use Direction::{Egress as E, Ingress as I};
    let mut v = Vec::new();
    v.push(Case {
        name: "http1 keep-alive GET / 200 (19 B body)",
        transport: Transport::Tcp,
        ports: (48054, 80),
        steps: vec![
            whole(E, &http_req("/index.html?id=42")),
            whole(I, &http_resp(19)),
        ],
        records: 1,
    });
    let mut big = http_resp(100_000);
    let big_len = big.len() as u32;
    big.truncate(1024);
    v.push(Case {
        name: "http1 100 KB response, 1024 B captured",
        transport: Transport::Tcp,
        ports: (48054, 80),
        steps: vec![whole(E, &http_req("/big.bin")), (I, big, big_len)],
        records: 1,
    });
    let mut reqs = Vec::new();
    let mut resps = Vec::new();
    for i in 0..10 {
        reqs.extend(http_req(&format!("/p/{i}?token=abc")));
        resps.extend(http_resp(19));
    }
    v.push(Case {
        name: "http1 10 pipelined requests per segment",
        transport: Transport::Tcp,
        ports: (48054, 80),
        steps: vec![whole(E, &reqs), whole(I, &resps)],
        records: 10,
    });
    v.push(Case {
        name: "dns udp A query/answer",
        transport: Transport::Udp,
        ports: (40000, 53),
        steps: vec![
            whole(E, &dns_msg(7, 0x0100, 0)),
            whole(I, &dns_msg(7, 0x8180, 1)),
        ],
        records: 1,
    });
    let mut tq = Vec::new();
    let mut ta = Vec::new();
    for id in 1..=4u16 {
        let q = dns_msg(id, 0x0100, 0);
        tq.extend((q.len() as u16).to_be_bytes());
        tq.extend(q);
        let a = dns_msg(id, 0x8180, 1);
        ta.extend((a.len() as u16).to_be_bytes());
        ta.extend(a);
    }
    v.push(Case {
        name: "dns tcp 4 queries per segment",
        transport: Transport::Tcp,
        ports: (40000, 53),
        steps: vec![whole(E, &tq), whole(I, &ta)],
        records: 4,
    });
    v.push(Case {
        name: "redis GET / bulk reply",
        transport: Transport::Tcp,
        ports: (40000, 6379),
        steps: vec![
            whole(E, &resp_cmd(&["GET", "user:1000"])),
            whole(I, b"$5\r\nalice\r\n"),
        ],
        records: 1,
    });
    let mut pc = Vec::new();
    let mut pr = Vec::new();
    for i in 0..10 {
        pc.extend(resp_cmd(&["SET", &format!("key:{i}"), "value-value"]));
        pr.extend_from_slice(b"+OK\r\n");
    }
    v.push(Case {
        name: "redis 10 pipelined SET per segment",
        transport: Transport::Tcp,
        ports: (40000, 6379),
        steps: vec![whole(E, &pc), whole(I, &pr)],
        records: 10,
    });
    v
}

/// Runs `case` for about `dur` over 64 sockets; returns records per second.
fn measure(case: &Case, dur: Duration) -> f64 {
    const SOCKETS: u64 = 64;
    let mut t = Tracker::new(Config::default());
    let mut out: Vec<L7Record> = Vec::with_capacity(64);
    let mut records = 0u64;
    let mut ts = 1u64;
    let start = Instant::now();
    let mut rounds = 0u64;
    loop {
        for _ in 0..1024 {
            let sock = rounds % SOCKETS;
            for (dir, bytes, len) in &case.steps {
                ts += 1000;
                let seg = Segment {
                    socket_id: sock,
                    ts_ns: ts,
                    direction: *dir,
                    transport: case.transport,
                    syscall_len: *len,
                    payload: black_box(bytes),
                    local_port: case.ports.0,
                    remote_port: case.ports.1,
                    hint: None,
                };
                t.feed(&seg, &mut out);
            }
            records += out.len() as u64;
            black_box(&out);
            out.clear();
            rounds += 1;
        }
        if start.elapsed() >= dur {
            break;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(
        records,
        rounds * case.records,
        "{}: every round pairs",
        case.name
    );
    records as f64 / secs
}

fn main() {
    // `cargo bench` passes `--bench`; a number sets the seconds per run, another word keeps
    // the cases whose name contains it.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let secs: f64 = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1.0);
    let filter = args.iter().find(|a| a.parse::<f64>().is_err());
    let dur = Duration::from_secs_f64(secs);
    println!(
        "netsight-l7: records/s through Tracker::feed, one core, 64 sockets, {secs} s x 3 runs"
    );
    println!(
        "{:44} {:>12} {:>12} {:>10}",
        "case", "best rec/s", "median", "ns/rec"
    );
    for case in cases() {
        if filter.is_some_and(|f| !case.name.contains(f.as_str())) {
            continue;
        }
        let mut r: Vec<f64> = (0..3).map(|_| measure(&case, dur)).collect();
        r.sort_by(f64::total_cmp);
        println!(
            "{:44} {:>12.0} {:>12.0} {:>10.0}",
            case.name,
            r[2],
            r[1],
            1e9 / r[1]
        );
    }
}
