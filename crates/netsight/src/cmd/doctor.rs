//! `netsight doctor`: what this kernel offers and which netsight features
//! run here. Every hook answer comes from really loading a program; every
//! feature answer from its tracepoints and a real load of its probe.

use std::collections::BTreeMap;
use std::io::Write;

use netsight_bpf::probes::doctor::{self, HookResult};
use netsight_bpf::probes::sockets::{IoHooks, Missing, Options, SocketProbe};
use netsight_events::event::EventKind;
use serde::Serialize;

use crate::cli::DoctorArgs;

/// A netsight feature and what it stands on. Every one of them lives in the
/// sockets probe, which doctor also loads for real.
struct FeatureSpec {
    name: &'static str,
    hooks: &'static [&'static str],
    /// Shown in the tracepoint table.
    tracepoints: &'static [&'static str],
    /// Programs of the sockets probe it needs: off when none loads,
    /// degraded when some do not (or run through a fallback).
    programs: &'static [&'static str],
    /// A check that can degrade an otherwise working feature.
    degraded_if: Option<fn() -> Option<String>>,
}

const fn feature_spec(
    name: &'static str,
    hooks: &'static [&'static str],
    tracepoints: &'static [&'static str],
    programs: &'static [&'static str],
) -> FeatureSpec {
    FeatureSpec {
        name,
        hooks,
        tracepoints,
        programs,
        degraded_if: None,
    }
}

const FEATURES: &[FeatureSpec] = &[
    feature_spec(
        "per-process tcp metrics",
        &["tp_btf"],
        &[
            "sock:inet_sock_set_state",
            "sock:sock_send_length",
            "sock:sock_recv_length",
            "tcp:tcp_retransmit_skb",
            "tcp:tcp_retransmit_synack",
            "tcp:tcp_send_reset",
            "tcp:tcp_receive_reset",
            "tcp:tcp_cong_state_set",
        ],
        &[
            "on_send",
            "on_recv",
            "on_state",
            "on_retransmit",
            "on_retransmit_synack",
            "on_send_reset",
            "on_receive_reset",
            "on_cong_state",
        ],
    ),
    feature_spec(
        "per-process udp metrics",
        &["tp_btf"],
        &[
            "sock:sock_send_length",
            "sock:sock_recv_length",
            "udp:udp_fail_queue_rcv_skb",
        ],
        &["on_send", "on_recv", "on_udp_fail"],
    ),
    feature_spec(
        "connection gauges (rtt, cwnd, windows, in flight, write queue)",
        &["iter"],
        &[],
        &[],
    ),
    feature_spec(
        "trace connect, state",
        &["tp_btf", "ringbuf"],
        &["sock:inet_sock_set_state"],
        &["on_state"],
    ),
    feature_spec(
        "trace accept (on the accepting process)",
        &["tracepoint", "ringbuf"],
        &["syscalls:sys_exit_accept", "syscalls:sys_exit_accept4"],
        &["on_accept4_exit", "on_accept_exit_plain"],
    ),
    feature_spec(
        "trace close",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_destroy_sock"],
        &["on_destroy"],
    ),
    feature_spec(
        "trace retrans",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_retransmit_skb", "tcp:tcp_retransmit_synack"],
        &["on_retransmit", "on_retransmit_synack"],
    ),
    feature_spec(
        "trace reset",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_send_reset", "tcp:tcp_receive_reset"],
        &["on_send_reset", "on_receive_reset"],
    ),
    FeatureSpec {
        name: "trace drop (reasons named from BTF)",
        hooks: &["tp_btf", "ringbuf"],
        tracepoints: &["skb:kfree_skb"],
        programs: &["on_kfree_skb"],
        degraded_if: Some(|| {
            let reasons = netsight_bpf::btf::enum_values("skb_drop_reason");
            reasons
                .is_empty()
                .then(|| "no skb_drop_reason in BTF: reasons shown as numbers".to_string())
        }),
    },
    FeatureSpec {
        name: "trace overflow (accept/SYN queue, on the listener)",
        hooks: &["tp_btf", "ringbuf"],
        tracepoints: &["skb:kfree_skb", "skb:consume_skb"],
        programs: &["on_kfree_skb", "on_consume_skb"],
        degraded_if: Some(overflow_degraded),
    },
];

/// SYNs are seen through consume_skb from tcp_rcv_state_process (kallsyms);
/// final ACKs through the TCP_LISTEN_OVERFLOW drop reason (6.15+).
fn overflow_degraded() -> Option<String> {
    let mut missing = Vec::new();
    if netsight_bpf::ksyms::Ksyms::load()
        .range("tcp_rcv_state_process")
        .is_none()
    {
        missing.push("tcp_rcv_state_process not in /proc/kallsyms: SYNs dropped on a full queue are not seen");
    }
    let reasons = netsight_bpf::btf::enum_values("skb_drop_reason");
    if !reasons
        .iter()
        .any(|(n, _)| n == "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW")
    {
        missing.push(
            "no TCP_LISTEN_OVERFLOW drop reason: final ACKs dropped on a full queue are not seen",
        );
    }
    (!missing.is_empty()).then(|| missing.join("; "))
}

#[derive(Serialize)]
struct Feature {
    name: &'static str,
    status: &'static str,
    reason: String,
}

#[derive(Serialize)]
struct Report {
    kernel: String,
    kernel_release: String,
    btf: bool,
    /// Where the kernel's types came from (`--btf` or the kernel's own).
    btf_path: String,
    /// Where per-process send/recv bytes are counted.
    io_hooks: &'static str,
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

fn feature(
    spec: &FeatureSpec,
    hooks: &[HookResult],
    load: &Result<Vec<Missing>, String>,
) -> Feature {
    let missing_hooks: Vec<&str> = spec
        .hooks
        .iter()
        .copied()
        .filter(|h| !hooks.iter().any(|r| r.hook == *h && r.ok))
        .collect();
    let (status, reason) = if !missing_hooks.is_empty() {
        (
            "off",
            format!("hook type not supported: {}", missing_hooks.join(", ")),
        )
    } else {
        match load {
            Err(e) => ("off", format!("probe failed to load: {e}")),
            Ok(missing) => programs_status(spec, missing),
        }
    };
    Feature {
        name: spec.name,
        status,
        reason,
    }
}

/// A feature's status from the programs this kernel could not load.
fn programs_status(spec: &FeatureSpec, missing: &[Missing]) -> (&'static str, String) {
    let gone: Vec<&Missing> = missing
        .iter()
        .filter(|m| spec.programs.contains(&m.program))
        .collect();
    let mut reasons: Vec<String> = gone
        .iter()
        .map(|m| match &m.replaced_by {
            Some(by) => format!("{} (counted by {by} instead)", m.reason),
            None => m.reason.clone(),
        })
        .collect();
    reasons.dedup();
    let all_gone = !spec.programs.is_empty()
        && spec.programs.iter().all(|p| {
            gone.iter()
                .any(|m| m.program == *p && m.replaced_by.is_none())
        });
    if all_gone {
        return ("off", reasons.join("; "));
    }
    reasons.extend(spec.degraded_if.and_then(|check| check()));
    if reasons.is_empty() {
        ("on", String::new())
    } else {
        ("degraded", reasons.join("; "))
    }
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
    let load = probe.map(|p| p.missing().to_vec());
    let mut features: Vec<Feature> = FEATURES.iter().map(|f| feature(f, &hooks, &load)).collect();
    features.push(host_counters());
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
    writeln!(out, "I/O bytes    counted by {}", r.io_hooks)?;
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
