//! `netsight sock` on real Redis (root only): redis-server in one
//! namespace, redis-cli in another running AUTH then a random mix of
//! SET/GET/INCR/LPUSH and one failing command. The client's records match
//! the commands one to one, in order, the failure is flagged, and the
//! password appears nowhere in the output.

mod common;
mod sock_support;

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{listen_port, random_in, NetPair};
use serde_json::Value;
use sock_support::{of_type, SockRun};

const PASSWORD: &str = "s3cret-pw-for-netsight";

struct Redis(Child);

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_redis(ns: &str, port: u16) -> Redis {
    let child = Command::new("ip")
        .args([
            "netns",
            "exec",
            ns,
            "redis-server",
            "--port",
            &port.to_string(),
        ])
        .args(["--bind", "10.77.0.2", "--save", "", "--appendonly", "no"])
        .args(["--requirepass", PASSWORD, "--dir", "/tmp"])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn redis-server");
    let deadline = Instant::now() + Duration::from_secs(10);
    let filter = format!("sport = :{port}");
    while common::sh(&["ip", "netns", "exec", ns, "ss", "-Htln", &filter])
        .trim()
        .is_empty()
    {
        assert!(Instant::now() < deadline, "redis-server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Redis(child)
}

/// (command line, expected command name, key, error expected)
fn commands() -> Vec<(String, &'static str, Option<String>, bool)> {
    let mut out = vec![(format!("AUTH {PASSWORD}"), "AUTH", None, false)];
    for i in 0..15 {
        let key = format!("k{}", random_in(0, 3));
        let (line, name) = match random_in(0, 3) {
            0 => (format!("SET {key}s v{i}"), "SET"),
            1 => (format!("GET {key}s"), "GET"),
            2 => (format!("INCR {key}n"), "INCR"),
            _ => (format!("LPUSH {key}l e{i}"), "LPUSH"),
        };
        let k = line.split_whitespace().nth(1).map(String::from);
        out.push((line, name, k, false));
    }
    // INCR on a list: WRONGTYPE.
    out.push((
        "LPUSH badkey x".into(),
        "LPUSH",
        Some("badkey".into()),
        false,
    ));
    out.push(("INCR badkey".into(), "INCR", Some("badkey".into()), true));
    out
}

#[test]
fn redis_records_match_the_commands() {
    require_root!();
    let net = NetPair::ipv4_only("skredis");
    let port = listen_port(30000, 31999);
    let _redis = start_redis(&net.b, port);
    let sock = SockRun::start(&["--port", &port.to_string()]);
    let cmds = commands();
    let mut cli = Command::new("ip")
        .args([
            "netns",
            "exec",
            &net.a,
            "redis-cli",
            "-h",
            "10.77.0.2",
            "-p",
        ])
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let cli_pid = u64::from(cli.id());
    let script: String = cmds.iter().map(|c| format!("{}\n", c.0)).collect();
    cli.stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = cli.wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("WRONGTYPE"));
    sock.wait_for("l7", 2 * cmds.len());
    let lines = sock.stop();
    let text: String = lines.iter().map(|l| l.to_string()).collect();
    assert!(!text.contains(PASSWORD), "the password leaked");
    // redis-cli asks for COMMAND DOCS at start (for its hints): its own.
    let own = |r: &Value| {
        r["request"]["command"]
            .as_str()
            .is_some_and(|c| c.starts_with("COMMAND"))
    };
    let all_client: Vec<&Value> = of_type(&lines, "l7")
        .into_iter()
        .filter(|r| r["pid"] == cli_pid)
        .collect();
    let extra = all_client.iter().filter(|r| own(r)).count();
    assert!(extra <= 2, "{all_client:#?}");
    let client: Vec<&Value> = all_client.into_iter().filter(|r| !own(r)).collect();
    assert_eq!(client.len(), cmds.len(), "{client:#?}");
    for (r, (line, name, key, fails)) in client.iter().zip(&cmds) {
        assert_eq!(r["protocol"], "redis");
        assert_eq!(r["role"], "client");
        assert_eq!(r["request"]["command"], *name, "{line}: {r}");
        match key {
            Some(k) => assert_eq!(r["request"]["key"], k.as_str(), "{line}: {r}"),
            None => assert!(r["request"]["key"].is_null(), "{r}"),
        }
        let reply = r["response"]["reply"].as_str().unwrap_or("none");
        assert_eq!(reply == "error", *fails, "{line}: {r}");
        assert_eq!(r["status"], if *fails { "error" } else { "ok" }, "{r}");
        assert!(r["latency_us"].as_u64().unwrap() > 0);
    }
    let server = of_type(&lines, "l7")
        .into_iter()
        .filter(|r| r["role"] == "server" && r["comm"] == "redis-server")
        .count();
    assert_eq!(
        server,
        cmds.len() + extra,
        "the server sees each command once"
    );
}
