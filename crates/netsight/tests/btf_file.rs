//! `--btf PATH`: the kernel's types from a file instead of
//! /sys/kernel/btf/vmlinux (for kernels that do not expose it). Tested with a
//! copy of this kernel's BTF: every probe must load through it, and doctor
//! must say where its types came from.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};

fn netsight(args: &[&str]) -> Output {
    Command::new(common::netsight_bin())
        .args(args)
        .output()
        .expect("run netsight")
}

/// A copy of the kernel's BTF in a temporary file, removed on drop.
struct BtfCopy(PathBuf);

impl BtfCopy {
    fn new(tag: &str) -> Self {
        let path = std::env::temp_dir().join(format!("netsight-{tag}-{}.btf", std::process::id()));
        std::fs::copy("/sys/kernel/btf/vmlinux", &path).expect("copy the kernel's BTF");
        BtfCopy(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for BtfCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn selftest_loads_every_probe_through_an_external_btf_file() {
    require_root!();
    let btf = BtfCopy::new("selftest");
    let out = netsight(&["selftest", "--json", "--btf", btf.path()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let probes = v["probes"].as_array().expect("probes");
    assert!(probes.len() >= 2, "{v}");
    for p in probes {
        assert_eq!(p["ok"], true, "{p}");
    }
}

#[test]
fn doctor_names_the_external_btf_file() {
    require_root!();
    let btf = BtfCopy::new("doctor");
    // A global flag: accepted before the subcommand too.
    let out = netsight(&["--btf", btf.path(), "doctor", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(v["btf"], true, "{v}");
    assert_eq!(v["btf_path"], btf.path(), "{v}");
    let tcp = v["features"]
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["name"] == "per-process tcp metrics")
        .expect("tcp metrics feature");
    assert_eq!(tcp["status"], "on", "{tcp}");
}

#[test]
fn a_bad_btf_path_is_one_line_and_exit_2() {
    let not_btf = std::env::temp_dir().join(format!("netsight-notbtf-{}", std::process::id()));
    std::fs::write(&not_btf, "not BTF").expect("write temp file");
    let empty = std::env::temp_dir().join(format!("netsight-emptybtf-{}", std::process::id()));
    std::fs::write(&empty, "").expect("write temp file");
    for (path, says) in [
        ("/nonexistent/vmlinux", "no such file"),
        (not_btf.to_str().expect("utf-8"), "not a BTF file"),
        (empty.to_str().expect("utf-8"), "not a BTF file"),
        // It exists: saying "no such file" would send the user looking
        // for the wrong mistake.
        ("/dev/null", "not a regular file (a character device)"),
        ("/tmp", "not a regular file (a directory)"),
    ] {
        let out = netsight(&["doctor", "--btf", path]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{path}: {err}");
        assert!(err.starts_with("netsight: --btf "), "{err}");
        assert!(err.contains(says), "{err}");
    }
    let _ = std::fs::remove_file(&not_btf);
    let _ = std::fs::remove_file(&empty);
}
