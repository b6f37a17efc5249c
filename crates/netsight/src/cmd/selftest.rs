//! `netsight selftest`: load and attach every probe once and say how each
//! went and how long it took (the start-up cost users pay, and the check
//! run on every kernel of the test matrix).

use std::io::Write;
use std::time::Instant;

use netsight_bpf::probes::sockets::{Options, SocketProbe};
use netsight_events::event::EventKind;
use serde::Serialize;

use crate::cli::SelftestArgs;

#[derive(Serialize)]
struct ProbeResult {
    probe: &'static str,
    ok: bool,
    ms: f64,
    error: String,
}

fn timed(probe: &'static str, f: impl FnOnce() -> Result<(), String>) -> ProbeResult {
    let t = Instant::now();
    let r = f();
    let ms = (t.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    ProbeResult {
        probe,
        ok: r.is_ok(),
        ms,
        error: r.err().unwrap_or_default(),
    }
}

/// Loads, attaches, and runs one interval: the epoch flip, the map drain,
/// the socket iterator and (with events) a ring buffer poll.
fn exercise(opts: &Options) -> Result<(), String> {
    let mut p = SocketProbe::load(opts).map_err(|e| e.to_string())?;
    p.drain().map_err(|e| e.to_string())?;
    p.poll_events(std::time::Duration::ZERO)
        .map(drop)
        .map_err(|e| e.to_string())
}

pub fn run(args: &SelftestArgs) -> anyhow::Result<()> {
    super::require_root()?;
    let start = Instant::now();
    let metrics = Options::default();
    let everything = Options {
        accept_syscalls: true,
        events: EventKind::ALL.to_vec(),
    };
    let results = vec![
        timed("sockets", || exercise(&metrics)),
        timed("sockets+events", || exercise(&everything)),
    ];
    let total_ms = (start.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    let failed = results.iter().filter(|r| !r.ok).count();
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer(
            &mut out,
            &serde_json::json!({"probes": results, "total_ms": total_ms}),
        )?;
        writeln!(out)?;
    } else {
        for r in &results {
            let status = if r.ok { "ok" } else { "FAILED" };
            writeln!(
                out,
                "{:<12} {status:<6} {:>7.1} ms  {}",
                r.probe, r.ms, r.error
            )?;
        }
        writeln!(out, "total {total_ms:.1} ms")?;
    }
    if failed > 0 {
        anyhow::bail!("{failed} probe(s) failed to load or attach");
    }
    Ok(())
}
