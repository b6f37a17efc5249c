//! `netsight sock` on real HTTP/1 (root only): nginx in one namespace, a
//! curl making K keep-alive requests (random paths, some 404) and a client
//! pipelining N requests in another. Exactly K records on curl's pid and K
//! on the nginx worker (plus N on each side of the pipeline), each with
//! the right method, path and status, and 0 < latency_us <= curl's time.

mod common;
mod sock_support;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{listen_port, random_in, NetPair};
use serde_json::Value;
use sock_support::{of_type, python, SockRun};

/// nginx with its own prefix, stopped (and its files removed) on drop.
struct Nginx {
    child: Child,
    dir: PathBuf,
}

impl Nginx {
    fn start(net: &NetPair, port: u16) -> Self {
        let dir = std::env::temp_dir().join(format!("netsight-nginx-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("root/k")).unwrap();
        std::fs::create_dir_all(dir.join("root/p")).unwrap();
        for i in 0..8 {
            let body = "x".repeat(100 * (i + 1));
            std::fs::write(dir.join(format!("root/k/f{i}")), &body).unwrap();
            std::fs::write(dir.join(format!("root/p/f{i}")), &body).unwrap();
        }
        let d = dir.display();
        let conf = format!(
            "worker_processes 1; daemon off; pid {d}/nginx.pid; error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{ access_log off; keepalive_requests 10000;\n\
               client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
               server {{ listen 10.77.0.2:{port}; root {d}/root; }} }}\n"
        );
        std::fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new("ip")
            .args(["netns", "exec", &net.b, "nginx", "-e"])
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx");
        let nginx = Nginx { child, dir };
        wait_listening(&net.b, port);
        nginx
    }

    fn master_pid(&self) -> u64 {
        std::fs::read_to_string(self.dir.join("nginx.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SAFETY: kill with a valid pid of our own child (nginx's master:
        // SIGQUIT stops its workers too).
        unsafe { libc::kill(self.child.id() as i32, libc::SIGQUIT) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_listening(ns: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let filter = format!("sport = :{port}");
    while Instant::now() < deadline {
        let out = common::sh(&["ip", "netns", "exec", ns, "ss", "-Htln", &filter]);
        if !out.trim().is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port} in {ns}");
}

const PIPELINE: &str = r#"
import socket, sys, json, os, re
port, paths = int(sys.argv[1]), sys.argv[2].split(",")
s = socket.create_connection(("10.77.0.2", port))
reqs = b"".join(b"GET %s HTTP/1.1\r\nHost: t\r\n%s\r\n" % (p.encode(), b"Connection: close\r\n" if i == len(paths) - 1 else b"") for i, p in enumerate(paths))
s.sendall(reqs)
data = b""
while True:
    b = s.recv(65536)
    if not b: break
    data += b
codes = [int(c) for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)]
print(json.dumps({"pid": os.getpid(), "codes": codes}))
"#;

fn random_paths(prefix: &str, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let r = random_in(0, 11);
            // f8..f11 do not exist: 404.
            format!("/{prefix}/f{r}?q={i}")
        })
        .collect()
}

fn l7_of<'a>(lines: &'a [Value], pid: u64, role: &str, prefix: &str) -> Vec<&'a Value> {
    of_type(lines, "l7")
        .into_iter()
        .filter(|r| r["pid"] == pid && r["role"] == role)
        .filter(|r| {
            r["request"]["path"]
                .as_str()
                .is_some_and(|p| p.starts_with(prefix))
        })
        .collect()
}

fn assert_matches(records: &[&Value], paths: &[String], codes: &[u64]) {
    assert_eq!(records.len(), paths.len(), "{records:#?}");
    for ((r, path), code) in records.iter().zip(paths).zip(codes) {
        assert_eq!(r["protocol"], "http1");
        assert_eq!(r["request"]["method"], "GET");
        assert_eq!(r["request"]["path"], path.as_str(), "{r}");
        assert_eq!(r["response"]["status"], *code, "{r}");
        assert!(r["latency_us"].as_u64().unwrap() > 0, "{r}");
    }
}

#[test]
fn http_records_match_curl_and_nginx() {
    require_root!();
    let net = NetPair::ipv4_only("skhttp");
    let port = listen_port(22000, 23999);
    let nginx = Nginx::start(&net, port);
    // The pipelined responses arrive in one read: the capture must hold
    // them all for the client side to parse every one.
    let sock = SockRun::start(&["--port", &port.to_string(), "--payload-bytes", "16384"]);
    let k = 12;
    let paths = random_paths("k", k);
    let mut curl = Command::new("ip");
    curl.args([
        "netns",
        "exec",
        &net.a,
        "curl",
        "-s",
        "-w",
        "%{http_code} %{time_total}\\n",
    ]);
    for p in &paths {
        curl.arg(format!("http://10.77.0.2:{port}{p}"));
        curl.args(["-o", "/dev/null"]);
    }
    let curl_child = curl.stdout(Stdio::piped()).spawn().unwrap();
    let curl_pid = u64::from(curl_child.id());
    let out = curl_child.wait_with_output().unwrap();
    assert!(out.status.success());
    let curl_lines = String::from_utf8(out.stdout).unwrap();
    let (codes, times): (Vec<u64>, Vec<f64>) = curl_lines
        .lines()
        .map(|l| {
            let (c, t) = l.split_once(' ').unwrap();
            (c.parse::<u64>().unwrap(), t.parse::<f64>().unwrap())
        })
        .unzip();
    assert!(codes.contains(&404) || codes.contains(&200));

    let n = 6;
    let piped = random_paths("p", n);
    let report = common::client(python(
        &net.a,
        PIPELINE,
        &[&port.to_string(), &piped.join(",")],
    ));
    let pipe_pid = report[0]["pid"].as_u64().unwrap();
    let pipe_codes: Vec<u64> = report[0]["codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_u64().unwrap())
        .collect();
    assert_eq!(pipe_codes.len(), n);

    sock.wait_for("l7", 2 * (k + n));
    let lines = sock.stop();
    let summary = lines.last().unwrap();
    assert_eq!(summary["kernel_lost"], 0);
    assert_eq!(summary["user_lost"], 0);

    let client = l7_of(&lines, curl_pid, "client", "/k/");
    assert_matches(&client, &paths, &codes);
    for (r, t) in client.iter().zip(&times) {
        let limit = (t * 1e6).ceil() as u64;
        assert!(
            r["latency_us"].as_u64().unwrap() <= limit,
            "{r} vs curl's {t} s"
        );
    }
    let worker = of_type(&lines, "l7")
        .into_iter()
        .find(|r| r["comm"] == "nginx")
        .map(|r| r["pid"].as_u64().unwrap())
        .expect("an nginx record");
    assert_ne!(
        worker,
        nginx.master_pid(),
        "the worker serves, not the master"
    );
    assert_matches(&l7_of(&lines, worker, "server", "/k/"), &paths, &codes);
    assert_matches(
        &l7_of(&lines, pipe_pid, "client", "/p/"),
        &piped,
        &pipe_codes,
    );
    assert_matches(&l7_of(&lines, worker, "server", "/p/"), &piped, &pipe_codes);
    let all_l7 = of_type(&lines, "l7").len();
    assert_eq!(all_l7, 2 * (k + n), "no other record on the port");
    assert_eq!(summary["records"]["http1"], all_l7 as u64);
}
