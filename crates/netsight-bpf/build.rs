//! Compiles every `src/probes/<probe>/<probe>.bpf.c` into a CO-RE object and a
//! libbpf-rs skeleton `<probe>.skel.rs` in OUT_DIR. Adding a probe folder is all
//! it takes to have it built.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::PathBuf;

use libbpf_cargo::SkeletonBuilder;

fn main() {
    let manifest =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let arch = env::var("CARGO_CFG_TARGET_ARCH").expect("cargo sets CARGO_CFG_TARGET_ARCH");
    let (bpf_arch, vmlinux_dir) = match arch.as_str() {
        "x86_64" => ("x86", "x86"),
        "aarch64" => ("arm64", "arm64"),
        other => panic!("no vmlinux.h for target arch {other}"),
    };
    // libbpf-sys exports the path of the libbpf headers it bundles.
    let libbpf_include =
        env::var_os("DEP_BPF_INCLUDE").expect("libbpf-sys exports DEP_BPF_INCLUDE");

    let include = manifest.join("include");
    let mut args: Vec<OsString> = vec![
        format!("-D__TARGET_ARCH_{bpf_arch}").into(),
        "-Wall".into(),
        "-Wno-unused-function".into(),
        "-O2".into(),
        // v3: atomic exchange (kernel 5.12+; the tracepoints we need are newer).
        "-mcpu=v3".into(),
        "-g".into(),
        "-I".into(),
        include.clone().into(),
        "-I".into(),
        include.join(vmlinux_dir).into(),
        "-I".into(),
    ];
    args.push(libbpf_include);

    println!("cargo:rerun-if-changed={}", include.display());
    let probes = manifest.join("src/probes");
    // A new probe folder must rebuild too, not only a changed one.
    println!("cargo:rerun-if-changed={}", probes.display());
    let mut dirs: Vec<_> = fs::read_dir(&probes)
        .expect("src/probes exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 probe name")
            .to_string();
        let src = dir.join(format!("{name}.bpf.c"));
        if !src.exists() {
            continue;
        }
        println!("cargo:rerun-if-changed={}", dir.display());
        SkeletonBuilder::new()
            .source(&src)
            .clang_args(args.iter())
            .build_and_generate(out.join(format!("{name}.skel.rs")))
            .unwrap_or_else(|e| panic!("building {}: {e:#}", src.display()));
    }
}
