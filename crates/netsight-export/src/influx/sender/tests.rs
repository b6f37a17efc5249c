//! The sender against scripted HTTP servers on loopback: retries, 400s,
//! Retry-After, v2 headers, overflow and flush.

use std::io::{BufRead, BufReader, Read};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;

use super::*;
use crate::config::Config;

/// One request as the fake server saw it.
#[derive(Debug)]
struct Seen {
    at: Instant,
    head: String,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// Answers each connection with the next scripted response (the last one
/// repeats) and reports what it received.
fn fake_server(listener: TcpListener, script: Vec<&'static str>) -> mpsc::Receiver<Seen> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for (i, conn) in listener.incoming().enumerate() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let seen_len = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .and_then(|v| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let mut raw = vec![0; seen_len];
            r.read_exact(&mut raw).expect("body");
            let gz = head.contains("Content-Encoding: gzip");
            let body = if gz {
                let mut s = String::new();
                GzDecoder::new(&raw[..])
                    .read_to_string(&mut s)
                    .expect("gzip body");
                s
            } else {
                String::from_utf8(raw).expect("utf8 body")
            };
            let _ = tx.send(Seen {
                at: Instant::now(),
                head,
                body,
            });
            let reply = script[i.min(script.len() - 1)];
            let _ = std::io::Write::write_all(&mut conn, reply.as_bytes());
        }
    });
    rx
}

const OK: &str = "HTTP/1.1 204 No Content\r\n\r\n";
const BUSY: &str =
    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nContent-Length: 4\r\n\r\nbusy";
const CONFLICT: &str = "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 63\r\n\r\n{\"error\":\"partial write: field type conflict: x y z dropped=2\"}";

fn config(addr: SocketAddr, extra: &str) -> InfluxConfig {
    let flush = if extra.contains("flush_timeout") {
        ""
    } else {
        "flush_timeout = \"3s\"\n"
    };
    let toml = format!(
        "[influxdb]\nurl = \"http://{addr}\"\nretry_initial = \"100ms\"\nretry_max = \"200ms\"\ntimeout = \"2s\"\n{flush}{extra}"
    );
    Config::parse(&toml).unwrap().influxdb.unwrap()
}

fn logs() -> (Log, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let log: Log = Arc::new(move |m: &str| sink.lock().unwrap().push(m.to_string()));
    (log, lines)
}

fn lines(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("m v={i}i {i}\n")).collect()
}

fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").unwrap()
}

#[test]
fn a_503_with_retry_after_is_retried_after_that_delay() {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let seen = fake_server(l, vec![BUSY, OK]);
    let (log, _) = logs();
    let s = InfluxSender::start(&config(addr, ""), None, log).unwrap();
    s.push(lines(0..5));
    let first = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    let second = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    let gap = second.at - first.at;
    // Our own backoff is at most 200ms here: the gap is the server's 1 s.
    assert!(
        gap >= Duration::from_millis(950) && gap < Duration::from_secs(3),
        "{gap:?}"
    );
    assert_eq!(first.body, second.body, "the same batch again");
    assert_eq!(second.body, lines(0..5).concat());
    wait_for("written", || s.stats().written == 5);
    let st = s.shutdown();
    assert_eq!(
        (st.requests, st.failed_requests, st.dropped, st.rejected),
        (2, 1, 0, 0)
    );
}

#[test]
fn a_400_is_logged_with_the_message_and_never_retried() {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let seen = fake_server(l, vec![CONFLICT]);
    let (log, logged) = logs();
    let s = InfluxSender::start(&config(addr, ""), None, log).unwrap();
    s.push(lines(0..3));
    seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        seen.recv_timeout(Duration::from_millis(1500)).is_err(),
        "retried a 400"
    );
    let st = s.stats();
    // The server said it dropped 2 of the 3 (a partial write).
    assert_eq!(
        (st.rejected, st.written, st.requests, st.buffered_points),
        (2, 1, 1, 0)
    );
    let logged = logged.lock().unwrap().join("\n");
    assert!(
        logged.contains(
            "rejected 2 of 3 points (HTTP 400, not retried): partial write: field type conflict: x y z dropped=2"
        ),
        "{logged}"
    );
}

#[test]
fn v2_writes_carry_token_org_bucket_and_gzip_line_protocol() {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let seen = fake_server(l, vec![OK]);
    let (log, logged) = logs();
    let cfg = config(
        addr,
        "org = \"acme\"\nbucket = \"net\"\ntoken = \"s3cr3t-token\"\n",
    );
    let s = InfluxSender::start(&cfg, None, log).unwrap();
    s.push(lines(0..2));
    let req = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(
        req.head
            .starts_with("POST /api/v2/write?org=acme&bucket=net&precision=ms HTTP/1.1\r\n"),
        "{}",
        req.head
    );
    assert_eq!(req.header("Authorization"), Some("Token s3cr3t-token"));
    assert_eq!(req.header("Content-Encoding"), Some("gzip"));
    assert_eq!(req.header("Host"), Some(addr.to_string().as_str()));
    assert_eq!(req.body, "m v=0i 0\nm v=1i 1\n");
    s.shutdown();
    assert!(!logged.lock().unwrap().concat().contains("s3cr3t"));
}

#[test]
fn an_outage_keeps_the_newest_points_and_counts_the_dropped_oldest() {
    // A port with nothing listening yet: connections are refused.
    let port = listener().local_addr().unwrap().port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (log, logged) = logs();
    let cfg = config(addr, "buffer_points = 10\nbatch_points = 4\n");
    let s = InfluxSender::start(&cfg, None, log).unwrap();
    for i in 0..10 {
        s.push(lines(i * 10..i * 10 + 10));
        std::thread::sleep(Duration::from_millis(30));
    }
    let st = s.stats();
    assert!(
        st.buffered_points + st.in_flight <= 10 + 4,
        "bounded: {st:?}"
    );
    assert!(st.dropped >= 86, "{st:?}");
    let seen = fake_server(TcpListener::bind(addr).unwrap(), vec![OK]);
    wait_for("delivery", || {
        s.stats().buffered_points == 0 && s.stats().in_flight == 0
    });
    let st = s.shutdown();
    let mut got = Vec::new();
    while let Ok(req) = seen.try_recv() {
        got.extend(req.body.lines().map(|l| format!("{l}\n")));
    }
    assert_eq!(got, lines(90..100), "only the newest survive, in order");
    assert_eq!((st.written, st.dropped, st.pushed), (10, 90, 100));
    assert!(
        logged.lock().unwrap()[0].contains("failed"),
        "the outage is logged"
    );
}

#[test]
fn shutdown_flushes_what_is_buffered_and_gives_up_in_time() {
    let l = listener();
    let addr = l.local_addr().unwrap();
    let seen = fake_server(l, vec![OK]);
    let (log, _) = logs();
    let s = InfluxSender::start(&config(addr, "batch_points = 7\n"), None, log).unwrap();
    s.push(lines(0..20));
    let st = s.shutdown();
    assert_eq!((st.written, st.dropped), (20, 0));
    assert_eq!(seen.try_iter().count(), 3);

    let port = listener().local_addr().unwrap().port();
    let down: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (log, logged) = logs();
    let s = InfluxSender::start(&config(down, "flush_timeout = \"500ms\"\n"), None, log).unwrap();
    s.push(lines(0..5));
    let t = Instant::now();
    let st = s.shutdown();
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert_eq!((st.written, st.dropped, st.buffered_points), (0, 5, 0));
    assert!(logged
        .lock()
        .unwrap()
        .concat()
        .contains("5 points not delivered"));
}

#[test]
fn hand_over_keeps_the_points_for_the_next_sender() {
    let port = listener().local_addr().unwrap().port();
    let down: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let (log, _) = logs();
    let s = InfluxSender::start(&config(down, ""), None, log.clone()).unwrap();
    s.push(lines(0..6));
    let (buffer, _) = s.hand_over();
    assert_eq!(buffer.len(), 6);
    let l = listener();
    let addr = l.local_addr().unwrap();
    let seen = fake_server(l, vec![OK]);
    let s = InfluxSender::start(&config(addr, ""), Some(buffer), log).unwrap();
    let req = seen.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(req.body, lines(0..6).concat());
    s.shutdown();
}
