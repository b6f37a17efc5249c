//! `netsight ping`'s errors (SPEC §2): bad arguments exit 2 with one line
//! naming the argument, missing privilege exits 1; never a panic.

mod common;

use std::process::Command;

fn ping(args: &[&str]) -> (i32, String) {
    let out = Command::new(common::netsight_bin())
        .arg("ping")
        .args(args)
        .output()
        .expect("run netsight");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!err.contains("panicked"), "{err}");
    (out.status.code().unwrap_or(-1), err)
}

#[test]
fn bad_arguments_exit_2_naming_the_argument() {
    for (args, says) in [
        (&[][..], "--client"),
        (&["-c", "no-such-host.invalid"][..], "unknown host"),
        (&["-c", "127.0.0.1", "-b", "143"][..], "at least 144"),
        (&["-c", "127.0.0.1", "--mode", "fast"][..], "--mode"),
        (&["-c", "127.0.0.1", "-o", "xml"][..], "--output"),
        (&["-c", "127.0.0.1", "-s"][..], "cannot be used with"),
        (&["-c", "127.0.0.1", "-m=-5"][..], "-m"),
    ] {
        let (code, err) = ping(args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    }
}

#[test]
fn without_privilege_it_exits_1_and_says_so() {
    if !common::is_root() {
        let (code, err) = ping(&["-c", "127.0.0.1", "-C", "1"]);
        assert_eq!(code, 1, "{err}");
        return;
    }
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
        ])
        .arg(common::netsight_bin())
        .args(["ping", "-c", "127.0.0.1", "-C", "1"])
        .output()
        .expect("setpriv");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("permission denied"), "{err}");
}
