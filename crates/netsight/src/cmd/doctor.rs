//! `netsight doctor`: what this kernel offers and which netsight features
//! run here. Every hook answer comes from really loading a program; every
//! feature answer from its tracepoints and a real load of its probe.

use std::collections::BTreeMap;
use std::io::Write;

use netsight_bpf::probes::doctor::{self, HookResult};
use netsight_bpf::probes::sockets::{Options, SocketProbe};
use netsight_events::event::EventKind;
use serde::Serialize;

use crate::cli::DoctorArgs;

/// A netsight feature and what it stands on. Every one of them lives in the
/// sockets probe, which doctor also loads for real.
struct FeatureSpec {
    name: &'static str,
    hooks: &'static [&'static str],
    tracepoints: &'static [&'static str],
    /// A check that can degrade an otherwise working feature.
    degraded_if: Option<fn() -> Option<String>>,
}

const fn feature_spec(
    name: &'static str,
    hooks: &'static [&'static str],
    tracepoints: &'static [&'static str],
) -> FeatureSpec {
    FeatureSpec {
        name,
        hooks,
        tracepoints,
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
    ),
    feature_spec(
        "per-process udp metrics",
        &["tp_btf"],
        &[
            "sock:sock_send_length",
            "sock:sock_recv_length",
            "udp:udp_fail_queue_rcv_skb",
        ],
    ),
    feature_spec(
        "connection gauges (rtt, cwnd, windows, in flight, write queue)",
        &["iter"],
        &[],
    ),
    feature_spec(
        "trace connect, state",
        &["tp_btf", "ringbuf"],
        &["sock:inet_sock_set_state"],
    ),
    feature_spec(
        "trace accept (on the accepting process)",
        &["tracepoint", "ringbuf"],
        &["syscalls:sys_exit_accept", "syscalls:sys_exit_accept4"],
    ),
    feature_spec(
        "trace close",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_destroy_sock"],
    ),
    feature_spec(
        "trace retrans",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_retransmit_skb", "tcp:tcp_retransmit_synack"],
    ),
    feature_spec(
        "trace reset",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_send_reset", "tcp:tcp_receive_reset"],
    ),
    FeatureSpec {
        name: "trace drop (reasons named from BTF)",
        hooks: &["tp_btf", "ringbuf"],
        tracepoints: &["skb:kfree_skb"],
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
    tps: &BTreeMap<&str, bool>,
    load: &Result<(), String>,
) -> Feature {
    let missing_hooks: Vec<&str> = spec
        .hooks
        .iter()
        .copied()
        .filter(|h| !hooks.iter().any(|r| r.hook == *h && r.ok))
        .collect();
    let missing_tps: Vec<&str> = spec
        .tracepoints
        .iter()
        .copied()
        .filter(|t| !tps.get(t).copied().unwrap_or(false))
        .collect();
    let (status, reason) = if !missing_hooks.is_empty() {
        (
            "off",
            format!("hook type not supported: {}", missing_hooks.join(", ")),
        )
    } else if !missing_tps.is_empty() {
        (
            "off",
            format!("tracepoints missing: {}", missing_tps.join(", ")),
        )
    } else if let Err(e) = load {
        ("off", format!("probe failed to load: {e}"))
    } else if let Some(why) = spec.degraded_if.and_then(|check| check()) {
        ("degraded", why)
    } else {
        ("on", String::new())
    };
    Feature {
        name: spec.name,
        status,
        reason,
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
    };
    let load = SocketProbe::load(&everything)
        .map(drop)
        .map_err(|e| e.to_string());
    let mut features: Vec<Feature> = FEATURES
        .iter()
        .map(|f| feature(f, &hooks, &tracepoints, &load))
        .collect();
    features.push(host_counters());
    let report = Report {
        kernel: kernel_version(&release),
        kernel_release: release,
        btf: doctor::btf_available(),
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
    writeln!(out, "BTF          {}", yes_no(r.btf))?;
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
