//! `netsight doctor`: what this kernel offers and which netsight features
//! run here. Every hook answer comes from really loading a program; every
//! feature answer from its tracepoints and a real load of its probe.

use std::collections::BTreeMap;
use std::io::Write;

use netsight_bpf::probes::doctor;
use netsight_bpf::probes::sockets::{self, GaugePath, IoHooks, Options, SocketProbe};
use netsight_events::event::EventKind;
use serde::Serialize;

use crate::cli::DoctorArgs;
use crate::features::{feature, Feature, FEATURES};

#[derive(Serialize)]
struct Report {
    kernel: String,
    kernel_release: String,
    btf: bool,
    /// Where the kernel's types came from (`--btf` or the kernel's own).
    btf_path: String,
    /// Where per-process send/recv bytes are counted.
    io_hooks: &'static str,
    /// Whether the common send/recv is counted in the per-CPU cache (no
    /// atomics); off where the kernel preempts the fexit fallback.
    io_cache: bool,
    /// How the interval's connection gauges are taken.
    gauge_path: &'static str,
    /// Programs the kernel (or --refuse) refused, one line each.
    refused: Vec<String>,
    hooks: BTreeMap<&'static str, bool>,
    hook_errors: BTreeMap<&'static str, String>,
    tracepoints: BTreeMap<&'static str, bool>,
    features: Vec<Feature>,
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// "6.18.44-fc-v769" -> "6.18.44".
fn kernel_version(release: &str) -> String {
    release
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .next()
        .unwrap_or("")
        .to_string()
}

/// Host-wide counters need no BPF, only /proc/net; a kernel that lacks some
/// counters degrades the charts that use them.
fn host_counters() -> Feature {
    let name = "host-wide counters (stat --system)";
    match netsight_sysstat::missing_dimensions() {
        Ok(missing) if missing.is_empty() => Feature {
            name,
            status: "on",
            reason: String::new(),
        },
        Ok(missing) => Feature {
            name,
            status: "degraded",
            reason: format!("this kernel lacks: {}", missing.join(", ")),
        },
        Err(e) => Feature {
            name,
            status: "off",
            reason: e.to_string(),
        },
    }
}

pub fn run(args: &DoctorArgs) -> anyhow::Result<()> {
    super::require_root()?;
    let release = kernel_release();
    let hooks = doctor::probe_hooks();
    let names: Vec<&'static str> = FEATURES
        .iter()
        .flat_map(|f| f.tracepoints.iter().copied())
        .chain(super::ping::doctor_rows::TRACEPOINTS)
        .collect();
    let tracepoints: BTreeMap<&'static str, bool> = names
        .iter()
        .copied()
        .zip(doctor::tracepoints_exist(&names))
        .collect();
    let everything = Options {
        accept_syscalls: true,
        events: EventKind::ALL.to_vec(),
        ..Options::default()
    };
    let probe = SocketProbe::load(&everything).map_err(|e| e.to_string());
    let io_hooks = probe.as_ref().ok().and_then(SocketProbe::io_hooks);
    let gauge_path = probe
        .as_ref()
        .map_or(GaugePath::None, SocketProbe::gauge_path);
    let load = probe.map(|p| p.missing().to_vec());
    let mut features: Vec<Feature> = FEATURES.iter().map(|f| feature(f, &hooks, &load)).collect();
    features.push(host_counters());
    features.extend(super::sock::doctor_features());
    features.extend(super::ping::doctor_rows::features(&hooks));
    let report = Report {
        kernel: kernel_version(&release),
        kernel_release: release,
        btf: doctor::btf_available(),
        btf_path: netsight_bpf::btf::custom_path()
            .unwrap_or(std::path::Path::new("/sys/kernel/btf/vmlinux"))
            .display()
            .to_string(),
        io_hooks: match io_hooks {
            Some(IoHooks::Fexit) => "fexit",
            Some(_) => "tracepoints",
            None => "none",
        },
        io_cache: match io_hooks {
            Some(IoHooks::Fexit) => !sockets::kernel_preempts(),
            Some(_) => true,
            None => false,
        },
        gauge_path: gauge_path.describe(),
        refused: load
            .as_ref()
            .map(|missing| {
                missing
                    .iter()
                    .filter(|m| m.refused)
                    .map(|m| {
                        let instead = m.replaced_by.as_ref().map(|b| format!(" -> {b}"));
                        format!("{}: {}{}", m.program, m.reason, instead.unwrap_or_default())
                    })
                    .collect()
            })
            .unwrap_or_default(),
        hooks: hooks.iter().map(|h| (h.hook, h.ok)).collect(),
        hook_errors: hooks
            .iter()
            .filter(|h| !h.ok)
            .map(|h| (h.hook, h.reason.clone()))
            .collect(),
        tracepoints,
        features,
    };

    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &report)?;
    }
    Ok(())
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "NO"
    }
}

fn write_text(out: &mut dyn Write, r: &Report) -> std::io::Result<()> {
    writeln!(out, "kernel       {} ({})", r.kernel, r.kernel_release)?;
    writeln!(out, "BTF          {} ({})", yes_no(r.btf), r.btf_path)?;
    let cache = if r.io_cache {
        "per-CPU cache"
    } else {
        "atomic adds (no per-CPU cache: fexit programs are preemptible on this kernel)"
    };
    match r.io_hooks {
        "none" => writeln!(out, "I/O bytes    counted by none")?,
        hooks => writeln!(out, "I/O bytes    counted by {hooks}, {cache}")?,
    }
    writeln!(out, "gauges       from {}", r.gauge_path)?;
    for line in &r.refused {
        writeln!(out, "refused      {line}")?;
    }
    writeln!(out, "\nhook types")?;
    for hook in doctor::HOOKS {
        let ok = r.hooks.get(hook).copied().unwrap_or(false);
        let why = r
            .hook_errors
            .get(hook)
            .map(|e| format!("  ({e})"))
            .unwrap_or_default();
        writeln!(out, "  {hook:<11} {}{why}", yes_no(ok))?;
    }
    writeln!(out, "\ntracepoints")?;
    for (tp, ok) in &r.tracepoints {
        writeln!(out, "  {tp:<32} {}", yes_no(*ok))?;
    }
    writeln!(out, "\nfeatures")?;
    for f in &r.features {
        let why = if f.reason.is_empty() {
            String::new()
        } else {
            format!("  ({})", f.reason)
        };
        writeln!(out, "  {:<9} {}{why}", f.status, f.name)?;
    }
    Ok(())
}
