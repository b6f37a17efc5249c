//! The command line's contract: bad input is one line and exit 2, help
//! works, `doctor --json` tells the truth about this kernel.

mod common;

use std::process::Command;

fn netsight(args: &[&str]) -> std::process::Output {
    Command::new(common::netsight_bin())
        .args(args)
        .output()
        .expect("run netsight")
}

#[test]
fn bad_arguments_are_one_line_and_exit_2() {
    for args in [
        &["stat", "--interval", "abc"][..],
        &["stat", "-i", "0"],
        &["stat", "--pid", "x"],
        &["stat", "-c", "0"],
        &["frobnicate"],
        &["stat", "--no-such-flag"],
        &["trace", "bogus"],
        &["trace", "drop", "--reason", "NO_SUCH_REASON"],
        &["trace", "connect", "--netns", "/no/such/netns"],
        &["xdp", "bench", "--hot", "0"],
        &["xdp", "bench", "--prefixes", "500", "--hot", "501"],
        &["xdp", "bench", "--rate", "-5"],
        &["xdp", "bench", "--cases", "pf"],
    ] {
        let out = netsight(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{args:?} printed: {err}");
        assert!(err.starts_with("netsight: "), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    let err = String::from_utf8_lossy(&netsight(&["stat", "-i", "abc"]).stderr).into_owned();
    assert!(err.contains("--interval"), "names the argument: {err}");
}

#[test]
fn process_filters_are_validated_alike_everywhere() {
    for (flag, value) in [("-p", "0"), ("--pid", "x"), ("--comm", "sixteen-bytes-xx")] {
        let errors: Vec<String> = [&["stat"][..], &["top"], &["trace", "connect"]]
            .into_iter()
            .map(|cmd| {
                let args: Vec<&str> = cmd.iter().copied().chain([flag, value]).collect();
                let out = netsight(&args);
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
                assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
                assert!(err.contains("--"), "names the argument: {err}");
                err
            })
            .collect();
        assert!(
            errors.iter().all(|e| *e == errors[0]),
            "{flag} {value}: {errors:?}"
        );
    }
}

#[test]
fn a_bad_network_namespace_is_refused_by_every_command() {
    let not_netns = ["/proc/self/status", "/proc/self/ns/mnt"];
    for ns in ["/nonexistent", "netsight-no-such-ns", "1"]
        .iter()
        .chain(&not_netns)
    {
        for cmd in [
            &["stat"][..],
            &["stat", "--all"],
            &["stat", "--system"],
            &["trace", "connect"],
        ] {
            let args: Vec<&str> = cmd.iter().copied().chain(["--netns", ns]).collect();
            let out = netsight(&args);
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert_eq!(err.trim_end().lines().count(), 1, "{args:?}: {err}");
            assert!(err.starts_with("netsight: --netns"), "{args:?}: {err}");
            if not_netns.contains(ns) {
                assert!(
                    err.contains("is not a network namespace"),
                    "{args:?}: {err}"
                );
            }
        }
    }
}

#[test]
fn help_exits_0() {
    let out = netsight(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("doctor"));
}

#[test]
fn doctor_json_reports_this_kernel() {
    require_root!();
    let out = netsight(&["doctor", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let hooks = &v["hooks"];
    // What ENV.md measured on these machines.
    for h in [
        "tracepoint",
        "raw_tp",
        "tp_btf",
        "ringbuf",
        "xdp",
        "tc",
        "iter",
        "uprobe",
    ] {
        assert_eq!(hooks[h], true, "{h} works here: {v}");
    }
    let kernel_has =
        |opt: &str| std::fs::read_to_string("/proc/kallsyms").is_ok_and(|k| k.contains(opt));
    if !kernel_has(" register_kprobe") {
        assert_eq!(hooks["kprobe"], false, "no kprobes on this kernel: {v}");
    }
    assert!(hooks["fentry"].is_boolean());
    assert_eq!(v["btf"], true);
    assert!(v["kernel"]
        .as_str()
        .unwrap()
        .chars()
        .next()
        .unwrap()
        .is_ascii_digit());
    let features = v["features"].as_array().unwrap();
    let tcp = features
        .iter()
        .find(|f| f["name"] == "per-process tcp metrics")
        .unwrap();
    assert_eq!(tcp["status"], "on", "{tcp}");
    assert_eq!(v["tracepoints"]["sock:inet_sock_set_state"], true);
}

#[test]
fn a_reader_that_leaves_ends_stat_quietly() {
    require_root!();
    use std::io::{BufRead, BufReader};
    let mut child = Command::new(common::netsight_bin())
        .args(["stat", "--json", "-i", "0.2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut first = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut first)
        .expect("a first line");
    // The reader is gone now (`netsight stat | head -1`).
    let out = child.wait_with_output().expect("wait");
    assert!(first.contains("\"type\""), "{first}");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Nothing but the one line per program this kernel refused.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.lines().all(|l| l.contains(" refused ")), "{err}");
}
