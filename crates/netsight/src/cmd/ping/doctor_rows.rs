//! `doctor`'s `ping` rows: the probe loaded for real, then one row per
//! stage saying whether this kernel bounds it by its own events, only by a
//! stand-in (proxy), or not at all (a refused program).

use netsight_bpf::loader::Refused;
use netsight_bpf::probes::doctor::HookResult;
use netsight_bpf::probes::ping::{Options, PingProbe, Point};

use super::stages::Stage;
use crate::features::Feature;

/// The tracepoints the ping probe attaches to (doctor's table).
pub const TRACEPOINTS: [&str; 7] = [
    "net:net_dev_queue",
    "net:net_dev_start_xmit",
    "net:net_dev_xmit",
    "net:netif_receive_skb",
    "irq:softirq_raise",
    "sock:sk_data_ready",
    "sched:sched_wakeup",
];

/// Row names (static: doctor's rows are a fixed table).
fn row_name(s: Stage) -> &'static str {
    match s {
        Stage::Total => "ping: total (user clocks around the exchange)",
        Stage::TxUser => "ping: tx_user",
        Stage::TxQdisc => "ping: tx_qdisc",
        Stage::TxDriver => "ping: tx_driver",
        Stage::Outlink => "ping: outlink",
        Stage::RemoteRx => "ping: remote_rx",
        Stage::RemoteTx => "ping: remote_tx",
        Stage::Inlink => "ping: inlink",
        Stage::RxSoftirq => "ping: rx_softirq",
        Stage::RxStack => "ping: rx_stack",
        Stage::RxWakeup => "ping: rx_wakeup",
        Stage::RxQueue => "ping: rx_queue",
    }
}

/// One row for the probe, one per stage.
pub fn features(hooks: &[HookResult]) -> Vec<Feature> {
    let tp_btf = hooks.iter().any(|h| h.hook == "tp_btf" && h.ok);
    let load: Result<Vec<Refused>, String> = if tp_btf {
        PingProbe::load(&Options::default())
            .map(|p| p.refused().to_vec())
            .map_err(|e| e.to_string())
    } else {
        Err("hook type not supported: tp_btf".into())
    };
    let mut rows = vec![match &load {
        Ok(r) if r.is_empty() => row("ping (netsight ping -c/-s)", "on", String::new()),
        Ok(r) => row(
            "ping (netsight ping -c/-s)",
            "degraded",
            r.iter()
                .map(|r| format!("{}: {}", r.program, r.reason))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => row("ping (netsight ping -c/-s)", "off", e.clone()),
    }];
    for s in Stage::ALL {
        rows.push(stage_row(s, &load));
    }
    rows
}

fn row(name: &'static str, status: &'static str, reason: String) -> Feature {
    Feature {
        name,
        status,
        reason,
    }
}

fn stage_row(s: Stage, load: &Result<Vec<Refused>, String>) -> Feature {
    let (from, to) = s.bounds();
    let refused = match load {
        Err(e) => return row(row_name(s), "off", e.clone()),
        Ok(r) => r,
    };
    let gone: Vec<&str> = s
        .local_points()
        .iter()
        .map(|p: &Point| p.program())
        .filter(|p| refused.iter().any(|r| r.program == *p))
        .collect();
    if !gone.is_empty() {
        return row(
            row_name(s),
            "off",
            format!("refused: {} (from {from} to {to})", gone.join(", ")),
        );
    }
    if s.proxy() {
        return row(
            row_name(s),
            "degraded",
            format!(
                "proxy: no tracepoint marks icmp_rcv; bounded from {from} to {to} \
                 (needs netsight ping -s on the far host)"
            ),
        );
    }
    let note = if s.baseline_relative() {
        " (needs netsight ping -s on the far host)"
    } else {
        ""
    };
    row(row_name(s), "on", format!("{from} -> {to}{note}"))
}
