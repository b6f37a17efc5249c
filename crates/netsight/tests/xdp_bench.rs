//! `netsight xdp bench --quick` runs in a few seconds and writes a complete
//! report: every case, both rule-set sizes, a table, JSON and an SVG chart
//! (root only).

use std::process::Command;

use serde_json::Value;

const CASES: [&str; 7] = [
    "none",
    "iptables-raw",
    "iptables-input",
    "nftables",
    "ipset",
    "xdp-generic",
    "xdp-native",
];

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: needs root");
    }
    root
}

/// `netsight xdp bench --quick ARGS --json DIR/bench.json --svg DIR/bench.svg`
/// in a fresh DIR of its own.
fn bench(tag: &str, args: &[&str]) -> (Command, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("netsight-xdp-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_netsight"));
    cmd.args(["xdp", "bench", "--quick"])
        .args(args)
        .arg("--json")
        .arg(dir.join("bench.json"))
        .arg("--svg")
        .arg(dir.join("bench.svg"));
    (cmd, dir)
}

#[test]
fn quick_bench_writes_a_complete_report() {
    if !is_root() {
        return;
    }
    let (mut cmd, dir) = bench("bench", &[]);
    let (json, svg) = (dir.join("bench.json"), dir.join("bench.svg"));
    let started = std::time::Instant::now();
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The bench names its namespaces after its pid; another bench may run.
    let own_suffix = format!("-{}", child.id());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench failed: {stderr}");
    assert!(
        started.elapsed().as_secs() < 60,
        "--quick took {:?}",
        started.elapsed()
    );

    let report: Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), CASES.len() * 2, "{report:#}");
    for case in CASES {
        for prefixes in [1, 1000] {
            let c = cases
                .iter()
                .find(|c| c["case"] == case && c["prefixes"] == prefixes)
                .unwrap_or_else(|| panic!("{case} with {prefixes} prefixes missing"));
            assert!(c.get("skipped").is_none(), "{case}: {c}");
            for key in [
                "offered_pps",
                "received_pps",
                "dropped_pps",
                "cpu_ns_per_packet",
                "legit_tps",
            ] {
                assert!(
                    c[key].as_f64().is_some_and(|v| v >= 0.0),
                    "{case}.{key}: {c}"
                );
            }
            assert!(
                c["received_pps"].as_f64().unwrap() > 0.0,
                "{case} received nothing: {c}"
            );
            if case != "none" {
                assert!(
                    c["dropped_pps"].as_f64().unwrap() > 0.0,
                    "{case} dropped nothing: {c}"
                );
            }
        }
    }
    assert!(
        stdout.contains("XDP native") && stdout.contains("iptables raw"),
        "{stdout}"
    );
    assert!(stderr.contains("[14/14]"), "progress missing: {stderr}");
    let chart = std::fs::read_to_string(&svg).unwrap();
    assert!(chart.starts_with("<svg") && chart.contains("XDP native"));
    // Nothing left behind: namespaces are gone.
    let netns = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let left: Vec<&str> = netns
        .lines()
        .filter(|l| {
            l.starts_with("nsbench-")
                && l.split_whitespace()
                    .next()
                    .unwrap_or("")
                    .ends_with(&own_suffix)
        })
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--rate` paces the flood (unpaced it is several Mpps here) and `--hot`
/// narrows its sources; both are recorded in the report.
#[test]
fn paced_concentrated_flood_keeps_its_rate() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let dir = std::env::temp_dir().join(format!("netsight-xdp-paced-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (json, svg) = (dir.join("bench.json"), dir.join("bench.svg"));
    let out = Command::new(env!("CARGO_BIN_EXE_netsight"))
        .args([
            "xdp",
            "bench",
            "--quick",
            "--duration",
            "1",
            "--rate",
            "200",
        ])
        .args(["--hot", "4", "--cases", "xdp-native", "--json"])
        .arg(&json)
        .arg("--svg")
        .arg(&svg)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bench failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json")).unwrap()).unwrap();
    assert_eq!(report["flood_rate_pps"], 200_000.0, "{report:#}");
    assert_eq!(report["flood_prefixes"], 4, "{report:#}");
    let cases = report["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2, "{report:#}");
    for c in cases {
        let offered = c["offered_pps"].as_f64().unwrap();
        let dropped = c["dropped_pps"].as_f64().unwrap();
        // The schedule never runs ahead (it may fall behind on a busy CPU).
        assert!(offered > 0.0 && offered < 200_000.0 * 1.1, "{c}");
        assert!(dropped > 0.0 && dropped < 200_000.0 * 1.2, "{c}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Ctrl-C in the middle of a flood: the bench stops within seconds, writes
/// the partial report, says so with a non-zero exit, and leaves nothing.
#[test]
fn interrupted_bench_cleans_up() {
    if !is_root() {
        return;
    }
    let (mut cmd, dir) = bench("interrupted", &["--duration", "4"]);
    let mut child = cmd
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let own_suffix = format!("-{}", child.id());
    let mut progress = std::io::BufReader::new(child.stderr.take().unwrap());
    let mut seen = String::new();
    // The first case's line starts once the flood is up.
    while !seen.contains("[ 1/") {
        let mut line = Vec::new();
        let n = std::io::BufRead::read_until(&mut progress, b' ', &mut line).unwrap();
        assert!(n > 0, "bench ended early: {seen}");
        seen.push_str(&String::from_utf8_lossy(&line));
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let stopped = std::time::Instant::now();
    // SAFETY: kill has no memory preconditions; the pid is our child's.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut progress, &mut rest).unwrap();
    assert!(
        stopped.elapsed().as_secs() < 10,
        "took {:?} to stop",
        stopped.elapsed()
    );
    assert_eq!(status.code(), Some(1), "{seen}{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("bench.json")).unwrap()).unwrap();
    assert_eq!(report["interrupted"], true, "{report:#}");
    let netns = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let left: Vec<String> = String::from_utf8_lossy(&netns.stdout)
        .lines()
        .filter(|l| l.starts_with("nsbench-") && l.contains(&own_suffix))
        .map(str::to_string)
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
