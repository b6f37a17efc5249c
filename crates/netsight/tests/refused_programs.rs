//! A program the kernel refuses costs only what needs it (issue 12).
//! Refusals are made with `--refuse`, which goes through the same path as
//! a kernel's "no". Root only; every test builds its own namespaces.

mod common;

use std::process::Command;

use common::{client, netsight_bin, pid_of, sum, NetPair, Server, StatRun, TraceRun};
use serde_json::Value;

fn target(port: u16) -> String {
    format!("{}:{port}", NetPair::ADDR_B)
}

fn doctor(refuse: Option<&str>) -> Value {
    let mut cmd = Command::new(netsight_bin());
    if let Some(p) = refuse {
        cmd.args(["--refuse", p]);
    }
    let out = common::run(cmd.args(["doctor", "--json"]));
    serde_json::from_slice(&out.stdout).expect("doctor --json is one object")
}

fn features(report: &Value) -> Vec<(String, String, String)> {
    report["features"]
        .as_array()
        .expect("features")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            (s("name"), s("status"), s("reason"))
        })
        .collect()
}

/// The gauge path doctor reports with `refuse` refused.
fn gauge_path(refuse: Option<&str>) -> String {
    doctor(refuse)["gauge_path"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Which iterator this kernel's gauges come from: its verifier or its LSM
/// may refuse the storage-map iterator, the task-file one, or both.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Path {
    StorageMap,
    TaskFiles,
    PerNetns,
}

fn path_of(description: &str) -> Path {
    if description.contains("bpf_sk_storage_map") {
        Path::StorageMap
    } else if description.contains("task_file") {
        Path::TaskFiles
    } else {
        Path::PerNetns
    }
}

/// The gauge paths this machine can run, each once: the per-namespace one
/// always (by refusing the iterators tried before it), the others where
/// the kernel accepts them.
fn gauge_paths() -> Vec<Vec<&'static str>> {
    let mut paths = vec![vec!["--refuse", "dump_sockets,dump_files"]];
    if path_of(&gauge_path(Some("dump_sockets"))) == Path::TaskFiles {
        paths.push(vec!["--refuse", "dump_sockets"]);
    } else {
        eprintln!("this kernel refuses iter/task_file: that path is not run");
    }
    if path_of(&gauge_path(None)) == Path::StorageMap {
        paths.push(vec![]);
    } else {
        eprintln!("this kernel refuses iter/bpf_sk_storage_map: that path is not run");
    }
    paths
}

#[test]
fn a_steady_connection_in_another_namespace_is_exact_in_every_interval() {
    require_root!();
    for extra in gauge_paths() {
        let net = NetPair::new("gp");
        let stat = StatRun::start(&extra);
        let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5301), "1"]));
        let held = client(net.traffic(&net.a, &["hold", &target(5301), "3.6"]));
        let got = server.finish();
        let records = stat.stop();

        let cpid = pid_of(&held[0]);
        let sent = held[0]["tx_bytes"].as_u64().expect("tx_bytes");
        assert_eq!(got["rx_bytes"], sent, "the server got what the client sent");
        assert_eq!(sum(&records, cpid, "tcp_tx_bytes"), sent, "{extra:?}");
        let mine: Vec<&Value> = records
            .iter()
            .filter(|r| r["type"] == "process" && r["pid"] == cpid)
            .collect();
        // The first and last intervals are partial (connect, close).
        let open = &mine[1..mine.len().saturating_sub(1)];
        assert!(open.len() >= 5, "{extra:?}: {} full intervals", open.len());
        for r in open {
            assert!(r["tcp_tx_bytes"].as_u64() > Some(0), "{extra:?}: {r}");
            assert_eq!(r["tcp_conns"], 1, "{extra:?}: {r}");
            assert!(r["tcp_rtt_us_avg"].as_u64() > Some(0), "{extra:?}: {r}");
            assert!(r["tcp_cwnd_avg"].as_f64() > Some(0.0), "{extra:?}: {r}");
        }
    }
}

/// What refusing each program must cost, written from what each program
/// does in the kernel: (feature name prefix, status it falls to).
const COST: &[(&str, &[(&str, &str)])] = &[
    (
        "on_send",
        &[
            ("per-process tcp", "degraded"),
            ("per-process udp", "degraded"),
            ("trace close", "degraded"),
        ],
    ),
    (
        "on_recv",
        &[
            ("per-process tcp", "degraded"),
            ("per-process udp", "degraded"),
            ("trace close", "degraded"),
        ],
    ),
    (
        "on_state",
        &[
            ("per-process tcp", "degraded"),
            ("trace connect", "off"),
            ("trace close", "off"),
            ("trace overflow", "off"),
        ],
    ),
    ("on_destroy", &[("trace close", "off")]),
    (
        "on_retransmit",
        &[
            ("per-process tcp", "degraded"),
            ("trace retrans", "degraded"),
        ],
    ),
    (
        "on_retransmit_synack",
        &[
            ("per-process tcp", "degraded"),
            ("trace retrans", "degraded"),
        ],
    ),
    (
        "on_send_reset",
        &[("per-process tcp", "degraded"), ("trace reset", "degraded")],
    ),
    (
        "on_receive_reset",
        &[("per-process tcp", "degraded"), ("trace reset", "degraded")],
    ),
    ("on_cong_state", &[("per-process tcp", "degraded")]),
    ("on_udp_fail", &[("per-process udp", "degraded")]),
    (
        "on_kfree_skb",
        &[("trace drop", "off"), ("trace overflow", "degraded")],
    ),
    ("on_consume_skb", &[("trace overflow", "degraded")]),
    ("on_accept4_exit", &[("trace accept", "degraded")]),
    ("on_accept_exit_plain", &[("trace accept", "degraded")]),
    // Only speed: the I/O cache asks the kernel who calls instead.
    ("on_task_exit", &[]),
];

#[test]
fn each_refused_program_degrades_exactly_its_features_and_the_rest_runs() {
    require_root!();
    let baseline = features(&doctor(None));
    let path = path_of(&gauge_path(None));
    let mut cases: Vec<(&str, Vec<(&str, &str)>)> =
        COST.iter().map(|(p, c)| (*p, c.to_vec())).collect();
    // The iterators: a refusal touches the gauges only if this kernel takes
    // the path of the refused one (refusing one it refuses itself changes
    // nothing).
    let gauges = ("connection gauges", "degraded");
    let cost_if = |p: Path| if path == p { vec![gauges] } else { vec![] };
    cases.push(("dump_sockets", cost_if(Path::StorageMap)));
    cases.push(("dump_files", cost_if(Path::TaskFiles)));
    // The per-namespace pair loads only once both of the above are gone.
    for p in ["dump_tcp", "dump_udp"] {
        cases.push((p, cost_if(Path::PerNetns)));
    }
    let net = NetPair::new("rf");
    for (program, cost) in cases {
        let now = features(&doctor(Some(program)));
        // Touched: its status moved, or its reason now names the program.
        let changed: Vec<(&str, &str)> = now
            .iter()
            .zip(&baseline)
            .filter(|(n, b)| n.1 != b.1 || (n.2.contains(program) && !b.2.contains(program)))
            .map(|(n, _)| (n.0.as_str(), n.1.as_str()))
            .collect();
        assert_eq!(changed.len(), cost.len(), "{program}: {changed:?}");
        for ((name, status), (prefix, want)) in changed.iter().zip(&cost) {
            assert!(name.starts_with(prefix), "{program}: {changed:?}");
            assert_eq!(status, want, "{program}: {name}");
        }
        for (name, _, reason) in now.iter().filter(|f| f.1 != "on") {
            if changed.iter().any(|c| c.0 == name) {
                assert!(reason.contains(program), "{program}: {name}: {reason}");
            }
        }
        still_runs(&net, program);
    }
}

/// `stat` and `trace` run with `program` refused: records, summaries, the
/// bytes still exact where they do not depend on it.
fn still_runs(net: &NetPair, program: &str) {
    let stat = StatRun::start(&["--refuse", program]);
    let trace = TraceRun::start(&["connect", "--refuse", program]);
    let server = Server::start(net.traffic(&net.b, &["tcp-serve", &target(5302), "1"]));
    let sent = client(net.traffic(&net.a, &["tcp-send", &target(5302), "300000", "1"]));
    let got = server.finish();
    let records = stat.stop();
    let events = trace.stop();
    let (cpid, spid) = (pid_of(&sent[0]), pid_of(&got));
    assert!(
        records.iter().any(|r| r["type"] == "summary"),
        "{program}: no summary"
    );
    assert!(
        records.iter().any(|r| r["type"] == "process"),
        "{program}: no process record"
    );
    if program != "on_send" {
        assert_eq!(sum(&records, cpid, "tcp_tx_bytes"), 300_000, "{program}");
    }
    if program != "on_recv" {
        assert_eq!(sum(&records, spid, "tcp_rx_bytes"), 300_000, "{program}");
    }
    let connects = common::events(&events, "connect")
        .iter()
        .filter(|e| e["pid"] == cpid)
        .count();
    assert_eq!(connects, usize::from(program != "on_state"), "{program}");
}

#[test]
fn an_unknown_program_name_is_a_usage_error() {
    let out = Command::new(netsight_bin())
        .args(["--refuse", "nope", "stat"])
        .output()
        .expect("run netsight");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("nope"), "{err}");
}
