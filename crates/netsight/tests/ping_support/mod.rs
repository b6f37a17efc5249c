//! Shared by the `netsight ping` root tests: the server in namespace b,
//! the client in namespace a, one test at a time (each injects delays that
//! would disturb another's figures), and the delay injectors.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{netsight_bin, sh, NetPair};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

pub fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// The veth device of namespace a or b (NetPair's naming).
pub fn veth(net: &NetPair, ns: &str) -> String {
    let out = sh(&["ip", "-n", ns, "-o", "link", "show", "type", "veth"]);
    let name = out
        .split(':')
        .nth(1)
        .map(|s| s.trim().split('@').next().unwrap_or("").to_string())
        .unwrap_or_default();
    assert!(!name.is_empty(), "no veth in {ns} ({:?}): {out}", net.a);
    name
}

/// `netsight ping -s` in namespace b, ready when it says so.
pub struct PingServer {
    child: Child,
}

impl PingServer {
    pub fn start(net: &NetPair) -> PingServer {
        Self::start_with(net, &[])
    }

    pub fn start_with(net: &NetPair, extra: &[&str]) -> PingServer {
        let mut child = Command::new("ip")
            .args(["netns", "exec", &net.b])
            .arg(netsight_bin())
            .args(["ping", "-s"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn ping server");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut said = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !said.contains("ready") {
            assert!(Instant::now() < deadline, "server never ready: {said}");
            let n = err.read_line(&mut said).expect("server stderr");
            assert!(n > 0, "ping server failed: {said}");
        }
        std::thread::spawn(move || for _ in err.lines() {});
        PingServer { child }
    }
}

impl Drop for PingServer {
    fn drop(&mut self) {
        // SAFETY: kill with the pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
    }
}

/// The command line of a client in namespace a probing b, JSON output.
pub fn client_cmd(net: &NetPair, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &net.a])
        .arg(netsight_bin())
        .args(["ping", "-c", NetPair::ADDR_B, "-o", "json"])
        .args(args);
    c
}

/// Runs a client to the end: (probe records, the final stat).
pub fn client(net: &NetPair, args: &[&str]) -> (Vec<Value>, Value) {
    let out = client_cmd(net, args).output().expect("run ping client");
    parse_run(&out)
}

pub fn parse_run(out: &std::process::Output) -> (Vec<Value>, Value) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ping client failed ({}): {}\n{stdout}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    // A stock kernel refusing one of ours is our bug (it would null stages).
    assert!(!stderr.contains("refused"), "{stderr}");
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect();
    let probes = lines
        .iter()
        .filter(|l| l["type"] == "probe")
        .cloned()
        .collect();
    let stat = lines
        .iter()
        .find(|l| l["type"] == "stat")
        .cloned()
        .expect("a stat record");
    (probes, stat)
}

/// A stage's value in one probe record (None: null).
pub fn stage(p: &Value, name: &str) -> Option<f64> {
    p["stages"][name].as_f64()
}

pub fn median(mut v: Vec<f64>) -> f64 {
    assert!(!v.is_empty(), "no values");
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A stage's values over the probes that saw it.
pub fn values(probes: &[Value], name: &str) -> Vec<f64> {
    probes.iter().filter_map(|p| stage(p, name)).collect()
}

/// Builds the tc spin fixture (clang, uapi headers only).
pub fn spin_object(spin_ms: u64, every: u32) -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ping_spin.bpf.c");
    let out = std::env::temp_dir().join(format!(
        "netsight-ping-spin-{}-{spin_ms}-{every}.o",
        std::process::id()
    ));
    let spin = format!("-DSPIN_NS={}ULL", spin_ms * 1_000_000);
    let every = format!("-DEVERY={every}");
    sh(&[
        "clang",
        "-O2",
        "-g",
        "-target",
        "bpf",
        "-I/usr/include/x86_64-linux-gnu",
        &spin,
        &every,
        "-c",
        src.to_str().expect("utf-8 path"),
        "-o",
        out.to_str().expect("utf-8 path"),
    ]);
    out
}

/// Attaches the spin fixture to `dev`'s ingress in `ns` (gone with the namespace).
pub fn spin_on_ingress(ns: &str, dev: &str, obj: &std::path::Path) {
    sh(&["tc", "-n", ns, "qdisc", "add", "dev", dev, "clsact"]);
    sh(&[
        "tc",
        "-n",
        ns,
        "filter",
        "add",
        "dev",
        dev,
        "ingress",
        "bpf",
        "da",
        "obj",
        obj.to_str().expect("utf-8 path"),
        "sec",
        "tc",
    ]);
}
