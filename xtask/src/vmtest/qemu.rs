//! Boots a kernel with an initramfs under qemu (TCG: the host's KVM is a
//! paravirtual variant that stock kernels do not boot on) and returns what
//! the serial console printed.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The qemu binary, machine options and console device for an architecture.
fn machine(arch: &str) -> Result<(&'static str, &'static [&'static str], &'static str), String> {
    match arch {
        "x86_64" => Ok(("qemu-system-x86_64", &[], "ttyS0")),
        "aarch64" => Ok((
            "qemu-system-aarch64",
            &["-machine", "virt", "-cpu", "max"],
            "ttyAMA0",
        )),
        other => Err(format!("vmtest has no qemu machine for {other}")),
    }
}

/// Console output of one boot, and whether it ended by itself in time.
pub struct Boot {
    pub console: String,
    pub timed_out: bool,
}

pub fn boot(
    arch: &str,
    kernel: &Path,
    initramfs: &Path,
    args: &str,
    timeout: Duration,
) -> Result<Boot, String> {
    let (qemu, machine_args, console) = machine(arch)?;
    let append = format!("console={console} panic=-1 quiet loglevel=1 mitigations=off {args}");
    let mut child = Command::new(qemu)
        .args(machine_args)
        .args(["-m", "1G", "-smp", "1", "-nographic", "-no-reboot"])
        .arg("-kernel")
        .arg(kernel)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", &append])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {qemu}: {e} (apt package qemu-system-x86)"))?;
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        let _ = stdout.read_to_end(&mut out);
        out
    });
    let start = Instant::now();
    let mut timed_out = false;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("waiting for {qemu}: {e}")),
        }
    }
    let out = reader.join().unwrap_or_default();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }
    let mut console = String::from_utf8_lossy(&out).replace('\r', "");
    if !stderr.trim().is_empty() {
        console.push_str(&format!("\n[qemu stderr] {}", stderr.trim()));
    }
    Ok(Boot { console, timed_out })
}
