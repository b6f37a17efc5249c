//! Shared by the root integration tests: private network namespaces that
//! clean themselves up, the real `netsight` binary run in the background,
//! and the `traffic` example that reports what it really sent.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Skips (returns early from) a test that needs root and a kernel.
#[macro_export]
macro_rules! require_root {
    () => {
        if !common::is_root() {
            eprintln!("skipped: needs root");
            return;
        }
    };
}

pub fn netsight_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_netsight"))
}

/// `cargo test` builds the examples next to the binary.
pub fn traffic_bin() -> PathBuf {
    let p = netsight_bin()
        .parent()
        .expect("bin dir")
        .join("examples/traffic");
    assert!(
        p.exists(),
        "{} missing: run the tests with cargo test (which builds examples)",
        p.display()
    );
    p
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn sh(args: &[&str]) -> String {
    let out = run(Command::new(args[0]).args(&args[1..]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Two namespaces joined by a veth pair: `a` is 10.77.0.1, `b` 10.77.0.2
/// (and fd77::1 / fd77::2). Deleted on drop, even when the test panics.
pub struct NetPair {
    pub a: String,
    pub b: String,
}

impl NetPair {
    pub const ADDR_A: &'static str = "10.77.0.1";
    pub const ADDR_B: &'static str = "10.77.0.2";

    pub fn new(tag: &str) -> Self {
        Self::build(tag, true)
    }

    /// The same without the IPv6 addresses, for tests that count every
    /// packet on the link (the link then settles for 500 ms, so that its
    /// IPv6 autoconfiguration chatter has passed).
    pub fn ipv4_only(tag: &str) -> Self {
        let pair = Self::build(tag, false);
        std::thread::sleep(Duration::from_millis(500));
        pair
    }

    /// Deletes namespaces a killed test process left behind (a kill skips
    /// Drop): ours are named ns-TAG-PID-a/b; the PID's process is gone.
    fn sweep_stale() {
        let mine = std::process::id() % 100_000;
        let out = sh(&["ip", "netns", "list"]);
        for name in out.split_whitespace().filter(|n| n.starts_with("ns-")) {
            let pid = name.rsplit('-').nth(1).and_then(|p| p.parse::<u32>().ok());
            if let Some(pid) = pid.filter(|p| *p != mine) {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    let _ = Command::new("ip").args(["netns", "del", name]).status();
                }
            }
        }
    }

    fn build(tag: &str, ipv6: bool) -> Self {
        Self::sweep_stale();
        let id = std::process::id() % 100_000;
        let pair = NetPair {
            a: format!("ns-{tag}-{id}-a"),
            b: format!("ns-{tag}-{id}-b"),
        };
        let (va, vb) = (format!("v{id}{tag}a"), format!("v{id}{tag}b"));
        let (va, vb) = (&va[..va.len().min(15)], &vb[..vb.len().min(15)]);
        sh(&["ip", "netns", "add", &pair.a]);
        sh(&["ip", "netns", "add", &pair.b]);
        sh(&[
            "ip", "link", "add", va, "netns", &pair.a, "type", "veth", "peer", "name", vb, "netns",
            &pair.b,
        ]);
        for (ns, dev, addr, addr6) in [
            (&pair.a, va, Self::ADDR_A, "fd77::1"),
            (&pair.b, vb, Self::ADDR_B, "fd77::2"),
        ] {
            let v4 = format!("{addr}/24");
            sh(&["ip", "-n", ns, "addr", "add", &v4, "dev", dev]);
            if ipv6 {
                let v6 = format!("{addr6}/64");
                sh(&["ip", "-n", ns, "addr", "add", &v6, "dev", dev, "nodad"]);
            }
            sh(&["ip", "-n", ns, "link", "set", dev, "up"]);
            sh(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        pair
    }

    /// A command run inside namespace `ns`.
    pub fn cmd(&self, ns: &str, program: &std::path::Path) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).arg(program);
        c
    }

    pub fn traffic(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = self.cmd(ns, &traffic_bin());
        c.args(args);
        c
    }

    /// Absolute values of kernel SNMP counters inside `ns`, from nstat.
    pub fn nstat(&self, ns: &str) -> std::collections::HashMap<String, u64> {
        let out = sh(&["ip", "netns", "exec", ns, "nstat", "-asz"]);
        out.lines()
            .filter_map(|l| {
                let mut f = l.split_whitespace();
                Some((f.next()?.to_string(), f.next()?.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for NetPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// Spawns a traffic server and waits for its `{"ready":true}` line.
pub struct Server {
    child: Child,
    reader: BufReader<std::process::ChildStdout>,
}

impl Server {
    pub fn start(mut cmd: Command) -> Self {
        let mut child = cmd.stdout(Stdio::piped()).spawn().expect("spawn server");
        let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("server output");
        assert!(line.contains("ready"), "server did not start: {line:?}");
        Server { child, reader }
    }

    /// Waits for the server's report (its last line).
    pub fn finish(mut self) -> Value {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("server report");
        let _ = self.child.wait();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("bad report {line:?}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs a traffic client to completion and returns its report lines.
pub fn client(mut cmd: Command) -> Vec<Value> {
    let out = run(&mut cmd);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad report {l:?}: {e}")))
        .collect()
}

/// Parses every JSON line of a child's stdout into a shared list.
fn collect_json_lines(stdout: std::process::ChildStdout) -> Arc<Mutex<Vec<Value>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let v: Value = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("netsight printed {line:?}: {e}"));
            sink.lock().expect("lines").push(v);
        }
    });
    lines
}

/// Stops a netsight child with SIGINT (as a user would) and checks it exited cleanly.
fn interrupt(child: &mut Child) {
    // SAFETY: kill with a valid pid of our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().expect("wait netsight");
    assert!(status.success(), "netsight exited with {status}");
    std::thread::sleep(Duration::from_millis(100));
}

/// Makes namespace `ns` drop a random 5% of the TCP segments arriving on `port`.
pub fn lossy_port(ns: &str, port: u16) {
    let port = port.to_string();
    sh(&[
        "ip",
        "netns",
        "exec",
        ns,
        "iptables",
        "-A",
        "INPUT",
        "-p",
        "tcp",
        "--dport",
        &port,
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        "0.05",
        "-j",
        "DROP",
    ]);
}

/// `netsight stat --json` in the background, collecting every line.
pub struct StatRun {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl StatRun {
    /// Starts it and waits until its first interval is out (probes attached).
    pub fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(netsight_bin())
            .args(["stat", "--json", "-i", "0.5"])
            .args(extra)
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn netsight");
        let lines = collect_json_lines(child.stdout.take().expect("stdout"));
        let run = StatRun { child, lines };
        run.wait_summaries(1);
        run
    }

    fn summaries(&self) -> usize {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .filter(|v| v["type"] == "summary")
            .count()
    }

    fn wait_summaries(&self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.summaries() < n {
            assert!(
                Instant::now() < deadline,
                "netsight produced no interval in time"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Lets two more intervals pass (so everything so far is drained), stops
    /// netsight with SIGINT and returns all its records.
    pub fn stop(mut self) -> Vec<Value> {
        let n = self.summaries();
        self.wait_summaries(n + 2);
        interrupt(&mut self.child);
        std::mem::take(&mut *self.lines.lock().expect("lines"))
    }
}

impl Drop for StatRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sum of a field over the process records of one pid.
pub fn sum(records: &[Value], pid: u64, field: &str) -> u64 {
    records
        .iter()
        .filter(|r| r["type"] == "process" && r["pid"] == pid)
        .map(|r| {
            r[field]
                .as_u64()
                .unwrap_or_else(|| panic!("{field} missing in {r}"))
        })
        .sum()
}

pub fn pid_of(report: &Value) -> u64 {
    report["pid"].as_u64().expect("pid in report")
}

/// A random-enough number from the clock (tests need variety, not crypto).
pub fn random_in(lo: u64, hi: u64) -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let mut x = u64::from(nanos) ^ (u64::from(std::process::id()) << 32) | 1;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    lo + x % (hi - lo + 1)
}

/// A port for a test server, below the kernel's ephemeral range (32768 and
/// up by default) so no client elsewhere on the host can be using it as its
/// own source port and leak records into a test filtering on the port.
pub fn listen_port(lo: u16, hi: u16) -> u16 {
    assert!(hi < 32768, "test ports stay below the ephemeral range");
    random_in(lo.into(), hi.into()) as u16
}

/// `netsight trace KIND... --json` in the background, collecting events.
pub struct TraceRun {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl TraceRun {
    /// Starts it and waits until it says its probes are attached.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(netsight_bin())
            .arg("trace")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netsight trace");
        // Lines about refused programs may come first (one per program).
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut said = String::new();
        while !said.lines().any(|l| l.contains("tracing")) {
            let n = err.read_line(&mut said).expect("netsight trace stderr");
            assert!(n > 0, "netsight trace failed to start: {said}");
        }
        let lines = collect_json_lines(child.stdout.take().expect("stdout"));
        TraceRun { child, lines }
    }

    /// Lets late events arrive, stops netsight and returns every event.
    pub fn stop(mut self) -> Vec<Value> {
        std::thread::sleep(Duration::from_millis(800));
        interrupt(&mut self.child);
        let lines = std::mem::take(&mut *self.lines.lock().expect("lines"));
        assert!(
            !lines.iter().any(|v| v["type"] == "lost"),
            "events were lost"
        );
        lines
    }
}

impl Drop for TraceRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Events of one kind.
pub fn events<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter()
        .filter(|e| e["type"] == "event" && e["kind"] == kind)
        .collect()
}

/// The inode of a named network namespace (the `netns` field of events).
pub fn netns_inode(name: &str) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/run/netns/{name}"))
        .expect("netns file")
        .ino()
}

/// Waits until namespace `ns` has no TCP socket left towards `port` other
/// than TIME_WAIT: every retransmission has happened by then.
pub fn wait_quiet(ns: &str, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let filter = format!("( sport = :{port} or dport = :{port} )");
        let out = sh(&[
            "ip",
            "netns",
            "exec",
            ns,
            "ss",
            "-Htn",
            "exclude",
            "time-wait",
            &filter,
        ]);
        if out.trim().is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "connections to {port} never finished: {out}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
