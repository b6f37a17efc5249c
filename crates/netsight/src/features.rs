//! netsight's features and the BPF programs each stands on: one table for
//! `doctor` (status of every feature) and for the line a command prints at
//! start when the kernel refused a program (what that costs).

use netsight_bpf::probes::doctor::HookResult;
use netsight_bpf::probes::sockets::Missing;
use serde::Serialize;

/// A netsight feature and what it stands on. Every one of them lives in the
/// sockets probe, which doctor also loads for real.
pub struct FeatureSpec {
    pub name: &'static str,
    hooks: &'static [&'static str],
    /// Shown in doctor's tracepoint table.
    pub tracepoints: &'static [&'static str],
    /// Programs without which the feature is off.
    needs: &'static [&'static str],
    /// Programs that each carry part of it: degraded when some are missing
    /// (or run through a fallback), off when all are.
    uses: &'static [&'static str],
    /// A check that can degrade an otherwise working feature.
    degraded_if: Option<fn() -> Option<String>>,
}

const fn spec(
    name: &'static str,
    hooks: &'static [&'static str],
    tracepoints: &'static [&'static str],
    needs: &'static [&'static str],
    uses: &'static [&'static str],
) -> FeatureSpec {
    FeatureSpec {
        name,
        hooks,
        tracepoints,
        needs,
        uses,
        degraded_if: None,
    }
}

pub const FEATURES: &[FeatureSpec] = &[
    spec(
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
        &[],
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
    spec(
        "per-process udp metrics",
        &["tp_btf"],
        &[
            "sock:sock_send_length",
            "sock:sock_recv_length",
            "udp:udp_fail_queue_rcv_skb",
        ],
        &[],
        &["on_send", "on_recv", "on_udp_fail"],
    ),
    spec(
        "connection gauges (rtt, cwnd, windows, in flight, write queue)",
        &["iter"],
        &[],
        &[],
        &["dump_sockets", "dump_files", "dump_tcp", "dump_udp"],
    ),
    spec(
        "trace connect, state",
        &["tp_btf", "ringbuf"],
        &["sock:inet_sock_set_state"],
        &["on_state"],
        &[],
    ),
    spec(
        "trace accept (on the accepting process)",
        &["tracepoint", "ringbuf"],
        &["syscalls:sys_exit_accept", "syscalls:sys_exit_accept4"],
        &[],
        &["on_accept4_exit", "on_accept_exit_plain"],
    ),
    // A close event needs the connection's start (on_state) and carries
    // the bytes the application moved (on_send/on_recv).
    spec(
        "trace close",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_destroy_sock"],
        &["on_destroy", "on_state"],
        &["on_send", "on_recv"],
    ),
    spec(
        "trace retrans",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_retransmit_skb", "tcp:tcp_retransmit_synack"],
        &[],
        &["on_retransmit", "on_retransmit_synack"],
    ),
    spec(
        "trace reset",
        &["tp_btf", "ringbuf"],
        &["tcp:tcp_send_reset", "tcp:tcp_receive_reset"],
        &[],
        &["on_send_reset", "on_receive_reset"],
    ),
    FeatureSpec {
        name: "trace drop (reasons named from BTF)",
        hooks: &["tp_btf", "ringbuf"],
        tracepoints: &["skb:kfree_skb"],
        needs: &["on_kfree_skb"],
        uses: &[],
        degraded_if: Some(|| {
            let reasons = netsight_bpf::btf::enum_values("skb_drop_reason");
            reasons
                .is_empty()
                .then(|| "no skb_drop_reason in BTF: reasons shown as numbers".to_string())
        }),
    },
    // Listeners are learnt from on_state (listen()); SYNs dropped on a full
    // queue from consume_skb, final ACKs from kfree_skb.
    FeatureSpec {
        name: "trace overflow (accept/SYN queue, on the listener)",
        hooks: &["tp_btf", "ringbuf"],
        tracepoints: &["skb:kfree_skb", "skb:consume_skb"],
        needs: &["on_state"],
        uses: &["on_kfree_skb", "on_consume_skb"],
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
pub struct Feature {
    pub name: &'static str,
    pub status: &'static str,
    pub reason: String,
}

/// One feature's status from the hooks that work and the load's outcome.
pub fn feature(
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

/// "on_state: refused at load (EPERM)", with the fallback if there is one.
fn describe(m: &Missing) -> String {
    match &m.replaced_by {
        Some(by) => format!("{}: {} ({by} instead)", m.program, m.reason),
        None => format!("{}: {}", m.program, m.reason),
    }
}

/// A feature's status from the programs this kernel could not load.
fn programs_status(spec: &FeatureSpec, missing: &[Missing]) -> (&'static str, String) {
    let of = |list: &[&str]| -> Vec<&Missing> {
        missing
            .iter()
            .filter(|m| list.contains(&m.program))
            .collect()
    };
    let gone = |m: &&Missing| m.replaced_by.is_none();
    let needed = of(spec.needs);
    let used = of(spec.uses);
    let mut reasons: Vec<String> = needed.iter().chain(&used).map(|m| describe(m)).collect();
    reasons.dedup();
    let all_used_gone = !spec.uses.is_empty()
        && spec
            .uses
            .iter()
            .all(|p| used.iter().any(|m| m.program == *p && gone(m)));
    if needed.iter().any(gone) || all_used_gone {
        return ("off", reasons.join("; "));
    }
    reasons.extend(spec.degraded_if.and_then(|check| check()));
    if reasons.is_empty() {
        ("on", String::new())
    } else {
        ("degraded", reasons.join("; "))
    }
}

/// The features a missing program takes down or degrades.
pub fn affected_by(program: &str) -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|f| f.needs.contains(&program) || f.uses.contains(&program))
        .map(|f| f.name)
        .collect()
}

/// One line on stderr per program the kernel (or `--refuse`) refused,
/// naming the errno and what it costs; the command runs on without it.
pub fn report_refusals(missing: &[Missing]) {
    for m in missing.iter().filter(|m| m.refused) {
        let cost = match &m.replaced_by {
            Some(by) => format!("{by} instead"),
            None => format!("degraded: {}", affected_by(m.program).join(", ")),
        };
        eprintln!("netsight: {} {}: {cost}", m.program, m.reason);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(program: &'static str, replaced_by: Option<&str>) -> Missing {
        Missing {
            program,
            reason: "refused at load (EPERM)".into(),
            replaced_by: replaced_by.map(String::from),
            refused: true,
        }
    }

    fn status_of(name: &str, missing: &[Missing]) -> &'static str {
        let spec = FEATURES.iter().find(|f| f.name.starts_with(name)).unwrap();
        programs_status(spec, missing).0
    }

    #[test]
    fn a_needed_program_turns_its_feature_off_a_used_one_degrades_it() {
        let m = [refused("on_destroy", None), refused("on_cong_state", None)];
        assert_eq!(status_of("trace close", &m), "off");
        assert_eq!(status_of("per-process tcp metrics", &m), "degraded");
        assert_eq!(status_of("trace reset", &m), "on");
    }

    #[test]
    fn a_replaced_iterator_degrades_gauges_and_all_three_gone_turns_them_off() {
        let one = [refused("dump_sockets", Some("iter/tcp + iter/udp"))];
        assert_eq!(status_of("connection gauges", &one), "degraded");
        let all = [
            refused("dump_sockets", None),
            refused("dump_files", None),
            refused("dump_tcp", None),
            refused("dump_udp", None),
        ];
        assert_eq!(status_of("connection gauges", &all), "off");
    }

    #[test]
    fn every_program_named_here_exists() {
        let known = netsight_bpf::probes::sockets::program_names();
        for f in FEATURES {
            for p in f.needs.iter().chain(f.uses) {
                assert!(known.contains(p), "{} names unknown program {p}", f.name);
            }
        }
    }
}
