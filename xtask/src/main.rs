//! `cargo xtask dist`: the one static, stripped netsight binary for any
//! Linux box of this architecture, at target/dist/netsight.
//! `cargo xtask vmtest [--kernel PKG|PATH]...`: that binary booted on other
//! kernels under qemu (see vmtest/).

mod vmtest;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The size budget for the shipped binary (issue: <= 10 MB).
const MAX_BYTES: u64 = 10 * 1024 * 1024;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("dist") => dist().map(drop),
        Some("vmtest") => vmtest::run(&args[1..]),
        _ => Err("usage: cargo xtask dist | vmtest [--kernel PKG|PATH]...".to_string()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives in the workspace")
        .to_path_buf()
}

/// The cargo target directory: CARGO_TARGET_DIR if set (so parallel work
/// trees can build apart), else the workspace's target/.
fn target_dir(root: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => root.join(dir),
        None => root.join("target"),
    }
}

fn host_target() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("running rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host".to_string())
}

/// Where Debian keeps libelf.a and libz.a for this target.
fn multiarch_lib_dir(target: &str) -> String {
    let arch = target.split('-').next().unwrap_or("x86_64");
    format!("/usr/lib/{arch}-linux-gnu")
}

/// Builds `what` (cargo target selection args, e.g. `--bin netsight`) of
/// the netsight package fully static; returns the directory holding them.
fn build_static(root: &Path, target: &str, what: &[&str]) -> Result<PathBuf, String> {
    // An explicit --target keeps RUSTFLAGS (crt-static) off build scripts.
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root)
        .args([
            "build",
            "--release",
            "--package",
            "netsight",
            "--features",
            "static",
            "--target",
            target,
        ])
        .args(what)
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .env("LIBBPF_SYS_LIBRARY_PATH", multiarch_lib_dir(target))
        .env("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        .status()
        .map_err(|e| format!("running cargo build: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build failed ({status})"));
    }
    Ok(target_dir(root).join(target).join("release"))
}

/// Builds target/dist/netsight and returns its path.
fn dist() -> Result<PathBuf, String> {
    let root = root();
    let target = host_target()?;
    let built = build_static(&root, &target, &["--bin", "netsight"])?.join("netsight");
    let dist_dir = target_dir(&root).join("dist");
    std::fs::create_dir_all(&dist_dir)
        .map_err(|e| format!("creating {}: {e}", dist_dir.display()))?;
    let out = dist_dir.join("netsight");
    std::fs::copy(&built, &out).map_err(|e| format!("copying {}: {e}", built.display()))?;

    let elf = std::fs::read(&out).map_err(|e| format!("reading {}: {e}", out.display()))?;
    if is_dynamic(&elf)? {
        return Err(format!("{} is dynamically linked", out.display()));
    }
    let size = elf.len() as u64;
    if size > MAX_BYTES {
        return Err(format!(
            "{} is {size} bytes, over the {MAX_BYTES}-byte budget",
            out.display()
        ));
    }
    println!(
        "{}: static, stripped, {:.1} MiB ({target})",
        out.display(),
        size as f64 / (1024.0 * 1024.0)
    );
    Ok(out)
}

/// True if the ELF asks for a dynamic loader. A static-pie binary has a
/// dynamic section (to relocate itself) but no interpreter.
fn is_dynamic(elf: &[u8]) -> Result<bool, String> {
    let bad = || "not a 64-bit little-endian ELF".to_string();
    if elf.get(0..6) != Some(b"\x7fELF\x02\x01") {
        return Err(bad());
    }
    let u16_at = |o: usize| {
        elf.get(o..o + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let u32_at = |o: usize| {
        elf.get(o..o + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let u64_at = |o: usize| {
        elf.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let phoff = u64_at(32).ok_or_else(bad)? as usize;
    let (phentsize, phnum) = (u16_at(54).ok_or_else(bad)?, u16_at(56).ok_or_else(bad)?);
    const PT_INTERP: u32 = 3;
    for i in 0..phnum {
        if u32_at(phoff + i * phentsize).ok_or_else(bad)? == PT_INTERP {
            return Ok(true);
        }
    }
    Ok(false)
}
