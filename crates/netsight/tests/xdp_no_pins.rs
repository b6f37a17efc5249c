//! With no blacklist pinned, the commands that only read or delete (and the
//! ones that fail) create nothing on bpffs, and say why (root only).
//!
//! Each command runs in a private mount and network namespace with a bpffs
//! of its own on /sys/fs/bpf, so the host's blacklist (another test's, or a
//! real one) is neither seen nor touched.

mod common;

use std::process::{Command, Output};

/// Runs `netsight ARGS...` on an empty private bpffs; returns its output and
/// whether anything appeared under /sys/fs/bpf/netsight afterwards.
fn on_empty_bpffs(args: &[&str]) -> (Output, bool) {
    const SCRIPT: &str = r#"
        mount -t bpf bpf /sys/fs/bpf || exit 99
        "$0" "$@"
        rc=$?
        if [ -e /sys/fs/bpf/netsight ]; then ls -R /sys/fs/bpf/netsight >&2; exit 98; fi
        exit $rc
    "#;
    let out = Command::new("unshare")
        .args(["--mount", "--net", "--propagation", "private", "sh", "-c"])
        .arg(SCRIPT)
        .arg(common::netsight_bin())
        .args(args)
        .output()
        .expect("run unshare");
    assert_ne!(
        out.status.code(),
        Some(99),
        "mounting a private bpffs failed"
    );
    let created = out.status.code() == Some(98);
    (out, created)
}

#[test]
fn reads_and_deletes_create_nothing_and_say_so() {
    require_root!();
    // (arguments, exit status, what stderr says)
    let cases: [(&[&str], i32, &str); 7] = [
        (&["xdp", "del", "9.9.9.9/32"], 2, "there is no blacklist"),
        (&["xdp", "list"], 0, "no XDP blacklist is pinned"),
        (&["xdp", "list", "--json"], 0, "no XDP blacklist is pinned"),
        (&["xdp", "stats"], 0, "no XDP blacklist is pinned"),
        (&["xdp", "stats", "--json"], 0, "no XDP blacklist is pinned"),
        (&["xdp", "detach", "lo"], 2, "has no netsight XDP filter"),
        (&["xdp", "detach", "--all"], 0, ""),
    ];
    for (args, status, says) in cases {
        let (out, created) = on_empty_bpffs(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!created, "{args:?} pinned something: {err}");
        assert_eq!(out.status.code(), Some(status), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.trim_end().lines().count() <= 1, "{args:?}: {err}");
    }
    let (out, _) = on_empty_bpffs(&["xdp", "list", "--json"]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "{\"rules\":[]}\n");
}

#[test]
fn a_failed_attach_leaves_no_blacklist_behind() {
    require_root!();
    // Refused before anything is created, and refused after the maps were
    // pinned (loopback has no native XDP): neither leaves pins.
    for (args, says) in [
        (&["xdp", "attach", "nosuchif0"][..], "no network interface"),
        (
            &["xdp", "attach", "lo", "--mode", "native"],
            "no native XDP",
        ),
    ] {
        let (out, created) = on_empty_bpffs(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!created, "{args:?} left pins: {err}");
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
}

#[test]
fn a_refused_xdp_program_is_one_line_exit_1_and_pins_nothing() {
    require_root!();
    let (out, created) = on_empty_bpffs(&[
        "--refuse",
        "netsight_xdp",
        "xdp",
        "attach",
        "lo",
        "--mode",
        "generic",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!created, "left pins behind: {err}");
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("netsight_xdp") && err.contains("refused"),
        "{err}"
    );
}
