//! For the `netsight agent` tests: real servers from Debian packages
//! (influxd 1.x, prometheus, promtool) in private temp dirs on free
//! loopback ports, the agent itself in the background, and small HTTP
//! helpers. Everything is stopped by Drop guards, even when a test fails.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use netsight_export::http::{self, query_escape, HttpUrl, Request, Response};
use serde_json::Value;

/// The path of a program, or None (the test then skips with a message).
pub fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// Skips a test when a server binary is missing.
#[macro_export]
macro_rules! require_program {
    ($p:expr) => {
        if agent_support::which($p).is_none() {
            eprintln!(
                "skipped: {} not installed (apt-get install influxdb prometheus)",
                $p
            );
            return;
        }
    };
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let p = std::env::temp_dir().join(format!("netsight-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).expect("temp dir");
        TempDir(p)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub fn request(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: &[u8],
) -> std::io::Result<Response> {
    let url = HttpUrl::parse(&format!("http://{addr}")).expect("url");
    let req = Request {
        method,
        target: target.to_string(),
        headers: vec![("Content-Type", "application/x-www-form-urlencoded".into())],
        body,
    };
    http::send(&url, &req, Duration::from_secs(10))
}

pub fn get_text(addr: SocketAddr, target: &str) -> Option<String> {
    let r = request(addr, "GET", target, b"").ok()?;
    (r.status == 200).then(|| String::from_utf8_lossy(&r.body).into_owned())
}

/// Polls `f` every 200 ms until it gives Some, for at most `secs`.
pub fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn kill(child: &mut Child, sig: i32) {
    // SAFETY: kill with the pid of our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// influxd 1.x on a free loopback port, its data in a temp dir.
pub struct Influxd {
    pub addr: SocketAddr,
    dir: TempDir,
    child: Option<Child>,
}

impl Influxd {
    pub fn start() -> Self {
        let dir = TempDir::new("influxd");
        let (http_port, rpc_port) = (free_port(), free_port());
        let conf = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{rpc_port}\"\n\
             [meta]\n  dir = \"{d}/meta\"\n\
             [data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n\
             [retention]\n  enabled = false\n[shard-precreation]\n  enabled = false\n\
             [monitor]\n  store-enabled = false\n[continuous_queries]\n  enabled = false\n\
             [http]\n  enabled = true\n  bind-address = \"127.0.0.1:{http_port}\"\n  log-enabled = false\n",
            d = dir.0.display()
        );
        std::fs::write(dir.join("influxdb.conf"), conf).expect("influxdb.conf");
        let mut me = Influxd {
            addr: format!("127.0.0.1:{http_port}").parse().expect("addr"),
            dir,
            child: None,
        };
        me.resume();
        me.query_post("CREATE DATABASE netsight");
        me
    }

    /// Starts (again) on the same port and data.
    pub fn resume(&mut self) {
        let log = std::fs::File::create(self.dir.join("influxd.log")).expect("log");
        let child = Command::new("influxd")
            .arg("-config")
            .arg(self.dir.join("influxdb.conf"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn influxd");
        self.child = Some(child);
        let addr = self.addr;
        wait_for("influxd /ping", 30, || {
            request(addr, "GET", "/ping", b"")
                .ok()
                .filter(|r| r.status == 204)
        });
    }

    /// Stops the server (SIGTERM, then waits): clients see refused connections.
    pub fn pause(&mut self) {
        if let Some(mut c) = self.child.take() {
            kill(&mut c, libc::SIGTERM);
            let _ = c.wait();
        }
    }

    pub fn query_post(&self, q: &str) {
        let body = format!("q={}", query_escape(q));
        let r = request(self.addr, "POST", "/query", body.as_bytes()).expect("influx query");
        assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
    }

    /// Writes raw line protocol; returns the status.
    pub fn write(&self, lines: &str) -> u16 {
        request(
            self.addr,
            "POST",
            "/write?db=netsight&precision=ms",
            lines.as_bytes(),
        )
        .expect("influx write")
        .status
    }

    /// The rows of a SELECT in database netsight (empty when none).
    pub fn select(&self, q: &str) -> Vec<Vec<Value>> {
        let target = format!("/query?db=netsight&epoch=ms&q={}", query_escape(q));
        let r = request(self.addr, "GET", &target, b"").expect("influx select");
        assert_eq!(r.status, 200, "{q}: {}", String::from_utf8_lossy(&r.body));
        let v: Value = serde_json::from_slice(&r.body).expect("influx json");
        v["results"][0]["series"][0]["values"]
            .as_array()
            .map(|rows| {
                rows.iter()
                    .map(|r| r.as_array().cloned().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A single number from `SELECT sum(...)`/`count(...)`, 0 when no rows.
    pub fn number(&self, q: &str) -> u64 {
        self.select(q)
            .first()
            .and_then(|row| row.get(1))
            .and_then(Value::as_f64)
            .map(|v| v as u64)
            .unwrap_or(0)
    }
}

impl Drop for Influxd {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `netsight agent` in the background with a config written to a temp dir;
/// stderr lines are collected.
pub struct Agent {
    child: Child,
    pub stderr: Arc<Mutex<Vec<String>>>,
    pub metrics: Option<SocketAddr>,
    _dir: TempDir,
    pub config_path: PathBuf,
}

impl Agent {
    /// Starts the agent and waits until its first interval is out (its
    /// /metrics shows one interval), so the probes are attached.
    pub fn start(config: &str) -> Self {
        let dir = TempDir::new("agent");
        let config_path = dir.join("agent.toml");
        std::fs::write(&config_path, config).expect("agent.toml");
        let mut child = Command::new(env!("CARGO_BIN_EXE_netsight"))
            .arg("agent")
            .arg("--config")
            .arg(&config_path)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netsight agent");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        let pipe = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("[agent] {line}");
                sink.lock().expect("stderr").push(line);
            }
        });
        let metrics = config
            .lines()
            .find_map(|l| l.trim().strip_prefix("listen = "))
            .and_then(|v| v.trim_matches('"').parse().ok());
        let agent = Agent {
            child,
            stderr,
            metrics,
            _dir: dir,
            config_path,
        };
        if agent.metrics.is_some() {
            wait_for("the agent's first interval", 30, || {
                agent
                    .metric("netsight_agent_intervals_total", "")
                    .filter(|v| *v >= 1.0)
            });
        } else {
            wait_for("the agent to start", 30, || {
                agent.logged("started").then_some(())
            });
            std::thread::sleep(Duration::from_secs(1));
        }
        agent
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn logged(&self, needle: &str) -> bool {
        self.stderr
            .lock()
            .expect("stderr")
            .iter()
            .any(|l| l.contains(needle))
    }

    pub fn log_text(&self) -> String {
        self.stderr.lock().expect("stderr").join("\n")
    }

    /// Still running (never exited on its own)?
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn metrics_text(&self) -> Option<String> {
        get_text(self.metrics?, "/metrics")
    }

    /// The value of `name{labels}` (labels as written, "" for none).
    pub fn metric(&self, name: &str, labels: &str) -> Option<f64> {
        let want = if labels.is_empty() {
            format!("{name} ")
        } else {
            format!("{name}{{{labels}}} ")
        };
        self.metrics_text()?
            .lines()
            .find_map(|l| l.strip_prefix(&want).and_then(|v| v.trim().parse().ok()))
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with the pid of our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    /// SIGTERM, then waits (bounded): returns the exit status success.
    pub fn stop(mut self) -> bool {
        self.signal(libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                return status.success();
            }
            assert!(Instant::now() < deadline, "agent did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Resident memory of a process in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The queries of a shipped Grafana dashboard (`expr` for PromQL, `query`
/// for InfluxQL), panels and variables, with Grafana's macros replaced by
/// values a server accepts.
pub fn dashboard_queries(file: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib/grafana")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut out = Vec::new();
    for p in v["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().expect("targets") {
            out.extend(
                t["expr"]
                    .as_str()
                    .or(t["query"].as_str())
                    .map(str::to_string),
            );
        }
    }
    for var in v["templating"]["list"].as_array().expect("templating") {
        out.extend(var["definition"].as_str().map(str::to_string));
    }
    out.iter()
        .map(|q| {
            q.replace("$timeFilter", "time > now() - 1h")
                .replace("$__interval_ms", "10000")
                .replace("$__interval", "10s")
                .replace("$__rate_interval", "1m")
                .replace("/^$host$/", "/.*/")
                .replace("/^$comm$/", "/.*/")
                .replace("\"$instance\"", "\".*\"")
                .replace("\"$comm\"", "\".*\"")
        })
        .collect()
}
