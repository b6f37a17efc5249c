//! `cargo xtask vmtest [--kernel PKG|PATH]...`: proves the one static binary
//! on kernels it was not built on. Each kernel boots under qemu with an
//! initramfs of busybox, netsight and the `traffic` test tool; inside, init.sh
//! runs `doctor --json`, `selftest --json` and a loopback bytes check. One
//! line per kernel; the exit status is non-zero if any check failed.

mod cpio;
mod kernels;
mod qemu;
mod verdict;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Boot, checks and power-off take ~1 min under TCG; this is the hang guard.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const BUSYBOX: &str = "/bin/busybox";

pub fn run(args: &[String]) -> Result<(), String> {
    let mut specs = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--kernel" => specs.push(it.next().ok_or("--kernel needs PKG or PATH")?.clone()),
            other => return Err(format!("vmtest: unknown argument '{other}'")),
        }
    }
    let root = crate::root();
    let target = crate::host_target()?;
    let arch = target.split('-').next().unwrap_or("x86_64").to_string();
    if specs.is_empty() {
        specs = kernels::default_packages(debian_arch(&arch))?;
    }
    let dir = crate::target_dir(&root).join("vmtest-cache");
    let initramfs = build_initramfs(&root, &target, &dir)?;
    let mut failed = 0;
    for spec in &specs {
        let kernel = kernels::resolve(spec, &dir)?;
        let start = Instant::now();
        let boot = qemu::boot(&arch, &kernel.image, &initramfs, &kernel.args, BOOT_TIMEOUT)?;
        let secs = start.elapsed().as_secs();
        let log = dir.join(format!("{}.console", kernel.name.replace(' ', "_")));
        let _ = std::fs::write(&log, &boot.console);
        let preempts = kernel.args.contains(kernels::PREEMPT_FULL);
        let (ok, line) = judge(&kernel.name, &boot, preempts);
        println!("{line} [{secs} s]");
        if !ok {
            failed += 1;
            eprintln!(
                "vmtest: console of {} kept in {}",
                kernel.name,
                log.display()
            );
        }
    }
    println!("vmtest: {} passed, {failed} failed", specs.len() - failed);
    if failed > 0 {
        return Err(format!("{failed} of {} kernel(s) failed", specs.len()));
    }
    Ok(())
}

fn debian_arch(arch: &str) -> &str {
    match arch {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// One line for one kernel, and whether every check passed.
/// `preempts`: booted fully preemptible, so a fexit fallback must count
/// without the per-CPU cache.
fn judge(name: &str, boot: &qemu::Boot, preempts: bool) -> (bool, String) {
    let c = verdict::Console::parse(&boot.console);
    let release = c
        .lines("kernel")
        .first()
        .cloned()
        .map_or(name.to_string(), |r| {
            // The release, and the boot arguments that make this run differ.
            let args = name.split_once(' ').map_or("", |(_, a)| a);
            format!("{r} {args}").trim_end().to_string()
        });
    if c.lines("kernel").is_empty() {
        let tail: Vec<&str> = boot.console.lines().rev().take(5).collect();
        return (
            false,
            format!("{release}: did not boot ({})", tail.join(" | ")),
        );
    }
    let checks = [
        verdict::doctor(&c, preempts),
        verdict::selftest(&c),
        verdict::bytes(&c),
        verdict::sock(&c),
    ];
    let mut ok = checks.iter().all(|c| c.ok) && c.done;
    let mut text: Vec<String> = checks.into_iter().map(|c| c.text).collect();
    if boot.timed_out || !c.done {
        ok = false;
        text.push(format!("did not finish (timed out: {})", boot.timed_out));
    }
    if !ok {
        for l in c
            .lines("selftest-log")
            .iter()
            .chain(c.lines("stat-err"))
            .chain(c.lines("sock-err"))
        {
            eprintln!("  {release}: {l}");
        }
    }
    (ok, format!("{release}: {}", text.join(", ")))
}

/// busybox + the static netsight and traffic binaries + init.sh, as a cpio
/// archive the kernel unpacks into its root file system.
fn build_initramfs(root: &Path, target: &str, dir: &Path) -> Result<PathBuf, String> {
    let release =
        crate::build_static(root, target, &["--bin", "netsight", "--example", "traffic"])?;
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()));
    let busybox =
        read(Path::new(BUSYBOX)).map_err(|e| format!("{e} (apt package busybox-static)"))?;
    let mut c = cpio::Cpio::default();
    for d in ["bin", "dev", "proc", "sys", "tmp", "run"] {
        c.dir(d);
    }
    // The kernel opens /dev/console for init before anything is mounted.
    c.char_dev("dev/console", 5, 1);
    c.file("bin/busybox", 0o755, &busybox);
    c.symlink("bin/sh", "busybox");
    c.file("bin/netsight", 0o755, &read(&release.join("netsight"))?);
    c.file(
        "bin/traffic",
        0o755,
        &read(&release.join("examples/traffic"))?,
    );
    c.file("init", 0o755, include_bytes!("init.sh"));
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let out = dir.join("initramfs.cpio");
    std::fs::write(&out, c.finish()).map_err(|e| format!("writing {}: {e}", out.display()))?;
    Ok(out)
}
