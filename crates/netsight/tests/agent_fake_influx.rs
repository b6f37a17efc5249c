//! `netsight agent` against a small fake InfluxDB 2.x endpoint (InfluxDB 2
//! is not packaged in Debian): the v2 path, token and line format, a 503
//! with Retry-After that is retried after that delay, a SIGHUP reload (a
//! bad file is refused, a good one takes effect) and the JSON sink. Root
//! only (the agent loads BPF).

mod agent_support;
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use agent_support::{wait_for, Agent, TempDir};

#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    request_line: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Seen {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Answers the first request with 503 + Retry-After: 2, later ones 204.
fn fake_v2() -> (std::net::SocketAddr, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut r = BufReader::new(conn.try_clone().expect("clone"));
            let mut request_line = String::new();
            let _ = r.read_line(&mut request_line);
            let mut headers = Vec::new();
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.push((k.to_string(), v.trim().to_string()));
                }
            }
            let len = headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .and_then(|(_, v)| v.parse::<usize>().ok())
                .unwrap_or(0);
            let mut body = vec![0; len];
            let _ = r.read_exact(&mut body);
            let mut all = log.lock().expect("seen");
            let reply = if all.is_empty() {
                "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 2\r\nContent-Length: 0\r\n\r\n"
            } else {
                "HTTP/1.1 204 No Content\r\n\r\n"
            };
            all.push(Seen {
                at: Instant::now(),
                request_line: request_line.trim_end().to_string(),
                headers,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            drop(all);
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    (addr, seen)
}

const TOKEN: &str = "tok-3f9a-very-secret";

fn config(addr: std::net::SocketAddr, bucket: &str, json: &std::path::Path) -> String {
    format!(
        "interval = \"500ms\"\n[influxdb]\nurl = \"http://{addr}\"\norg = \"acme\"\nbucket = \"{bucket}\"\n\
         token = \"{TOKEN}\"\ngzip = false\nretry_initial = \"100ms\"\nretry_max = \"200ms\"\n\
         [json]\npath = \"{}\"\n",
        json.display()
    )
}

/// `measurement,host=...[,tags] fields 1234567890123`
fn check_line(line: &str) {
    let (head, ts) = line.rsplit_once(' ').expect("timestamp");
    assert!(
        ts.len() == 13 && ts.bytes().all(|b| b.is_ascii_digit()),
        "ms timestamp: {line}"
    );
    let measurement = head.split(',').next().unwrap_or("");
    assert!(
        ["netsight_process", "netsight_system", "netsight_agent"].contains(&measurement),
        "{line}"
    );
    assert!(head.contains(",host="), "{line}");
    if measurement == "netsight_process" {
        assert!(
            head.contains(",pid=") && head.contains(" interval_s="),
            "{line}"
        );
        assert!(
            head.contains("tcp_tx_bytes=") && head.contains("i,"),
            "{line}"
        );
    }
}

#[test]
fn v2_writes_retry_after_503_reload_on_sighup_and_json_lines() {
    require_root!();
    let (addr, seen) = fake_v2();
    let dir = TempDir::new("agent-v2");
    let json = dir.join("out.jsonl");
    let agent = Agent::start(&config(addr, "first", &json));
    let requests = |n: usize| {
        wait_for(&format!("{n} requests"), 20, || {
            let s = seen.lock().expect("seen");
            (s.len() >= n).then(|| s.clone())
        })
    };
    let got = requests(2);
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(
        first.request_line,
        "POST /api/v2/write?org=acme&bucket=first&precision=ms HTTP/1.1"
    );
    assert_eq!(
        first.header("Authorization"),
        Some(format!("Token {TOKEN}").as_str())
    );
    assert_eq!(
        first.header("Content-Type"),
        Some("text/plain; charset=utf-8")
    );
    let gap = second.at - first.at;
    assert!(
        gap >= Duration::from_millis(1900) && gap < Duration::from_secs(5),
        "Retry-After: 2 honoured (own backoff is 200 ms at most): {gap:?}"
    );
    assert!(
        second.body.starts_with(&first.body),
        "the refused points go first"
    );
    for line in first.body.lines().chain(second.body.lines()) {
        check_line(line);
    }

    // A bad file is refused and the agent goes on as it was.
    std::fs::write(
        &agent.config_path,
        "interval = \"1s\"\n[influxdb]\nbukcet = \"x\"\n",
    )
    .unwrap();
    agent.signal(libc::SIGHUP);
    wait_for("the refused reload", 10, || {
        agent.logged("cannot reload").then_some(())
    });
    assert!(
        agent
            .log_text()
            .contains("line 3: influxdb.bukcet: unknown key"),
        "{}",
        agent.log_text()
    );
    // A good one takes effect: the next writes go to the new bucket.
    std::fs::write(&agent.config_path, config(addr, "second", &json)).unwrap();
    agent.signal(libc::SIGHUP);
    wait_for("writes to the new bucket", 20, || {
        seen.lock()
            .expect("seen")
            .iter()
            .any(|s| s.request_line.contains("bucket=second"))
            .then_some(())
    });
    assert!(agent.logged("config reloaded"));
    assert!(
        !agent.log_text().contains(TOKEN),
        "the token is never printed"
    );
    assert!(agent.stop());

    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    for kind in ["process", "summary", "system"] {
        assert!(
            lines.iter().any(|v| v["type"] == kind),
            "no {kind} line in {json:?}"
        );
    }
    eprintln!(
        "v2: {} requests, retry after {:?}, {} JSON lines",
        seen.lock().unwrap().len(),
        gap,
        lines.len()
    );
}
