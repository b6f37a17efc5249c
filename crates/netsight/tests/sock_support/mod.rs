//! Shared by the `sock_*` tests: `netsight sock --json` in the background,
//! scripts run inside a namespace, and a packet capture to compare with.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::netsight_bin;

/// `netsight sock ... --json` running in the background.
pub struct SockRun {
    child: Child,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl SockRun {
    /// Starts it and waits until it says capture is on.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(netsight_bin())
            .arg("sock")
            .args(args)
            .arg("--json")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn netsight sock");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        // Notices (e.g. the syscall-exit fallback) may come first.
        let mut said = String::new();
        while !said.contains("tracing") {
            let n = err.read_line(&mut said).expect("netsight sock stderr");
            assert!(n > 0, "netsight sock failed: {said}");
        }
        // The rest of stderr into the test's output (a failure shows why).
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                eprintln!("netsight sock: {line}");
            }
        });
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("netsight sock printed {line:?}: {e}"));
                sink.lock().expect("lines").push(v);
            }
        });
        SockRun { child, lines }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Records printed so far.
    pub fn count(&self, kind: &str) -> usize {
        let lines = self.lines.lock().expect("lines");
        lines.iter().filter(|v| v["type"] == kind).count()
    }

    /// Waits (up to 10 s) until `n` records of `kind` were printed.
    pub fn wait_for(&self, kind: &str, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.count(kind) < n && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops it with SIGINT (it must exit 0) and returns every line, the
    /// summary last.
    pub fn stop(mut self) -> Vec<Value> {
        std::thread::sleep(Duration::from_millis(500));
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let status = self.child.wait().expect("wait netsight sock");
        assert!(status.success(), "netsight sock exited with {status}");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !self.has_summary() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::mem::take(&mut *self.lines.lock().expect("lines"))
    }

    fn has_summary(&self) -> bool {
        self.count("summary") > 0
    }
}

impl Drop for SockRun {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Records of one type.
pub fn of_type<'a>(all: &'a [Value], kind: &str) -> Vec<&'a Value> {
    all.iter().filter(|v| v["type"] == kind).collect()
}

/// A python3 script run inside namespace `ns`.
pub fn python(ns: &str, script: &str, args: &[&str]) -> Command {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "python3", "-c", script]);
    c.args(args);
    c
}

/// Base64 (RFC 4648) decoding of a record's payload.
pub fn unbase64(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let v: Vec<u32> = chunk.iter().map(|&c| u32::from(val(c))).collect();
        let n = v
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, x)| n | x << (18 - 6 * i));
        out.push((n >> 16) as u8);
        if v.len() > 2 {
            out.push((n >> 8) as u8);
        }
        if v.len() > 3 {
            out.push(n as u8);
        }
    }
    out
}

/// tcpdump inside a namespace, printing each packet (a capture file would
/// have to be somewhere tcpdump's AppArmor profile lets it write).
pub struct Capture {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Capture {
    pub fn start(ns: &str, filter: &str) -> Self {
        let mut child = Command::new("ip")
            .args([
                "netns", "exec", ns, "tcpdump", "-l", "-nn", "-S", "-i", "any",
            ])
            .arg(filter)
            .stderr(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn tcpdump");
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        let mut said = String::new();
        while !said.contains("listening") {
            let mut line = String::new();
            let n = err.read_line(&mut line).expect("tcpdump stderr");
            assert!(n > 0, "tcpdump did not start: {said}");
            said.push_str(&line);
        }
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let out = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().expect("lines").push(line);
            }
        });
        Capture { child, lines }
    }

    /// Stops the capture and returns each data packet's (seq start, seq end)
    /// (absolute sequence numbers).
    pub fn stop(mut self) -> Vec<(u32, u32)> {
        std::thread::sleep(Duration::from_millis(300));
        // SAFETY: kill with a valid pid of our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        let _ = self.child.wait();
        std::thread::sleep(Duration::from_millis(100));
        let lines = self.lines.lock().expect("lines");
        lines
            .iter()
            .filter_map(|l| {
                let seq = l.split(", seq ").nth(1)?.split(',').next()?;
                let (a, b) = seq.split_once(':')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
