//! `netsight selftest`: load and attach every probe once and say how each
//! went and how long it took (the start-up cost users pay, and the check
//! run on every kernel of the test matrix). Programs a kernel cannot run
//! are listed, not failed; where fentry works, the fexit I/O fallback is
//! loaded too, so both ways of counting bytes are proven on that kernel.

use std::io::Write;
use std::time::Instant;

use netsight_bpf::probes::doctor;
use netsight_bpf::probes::ping::{self, PingProbe, Point};
use netsight_bpf::probes::sockets::{IoHooks, Missing, Options, SocketProbe};
use netsight_bpf::probes::socktrace::SockTraceProbe;
use netsight_events::event::EventKind;
use serde::Serialize;

use crate::cli::SelftestArgs;

#[derive(Serialize)]
struct ProbeResult {
    probe: &'static str,
    ok: bool,
    ms: f64,
    error: String,
    /// Where send/recv bytes were counted.
    io: &'static str,
    /// Programs this kernel could not run, and why.
    degraded: Vec<Degraded>,
}

#[derive(Serialize)]
struct Degraded {
    program: &'static str,
    reason: String,
    replaced_by: Option<String>,
    /// The kernel (or --refuse) refused it, rather than lacking its hook.
    refused: bool,
}

/// What a successful load left out.
struct Loaded {
    /// Where send/recv bytes were seen: "tracepoints", "fexit", "syscalls".
    io: &'static str,
    missing: Vec<Missing>,
}

fn timed(probe: &'static str, f: impl FnOnce() -> Result<Loaded, String>) -> ProbeResult {
    let t = Instant::now();
    let r = f();
    let ms = (t.elapsed().as_secs_f64() * 1e4).round() / 10.0;
    let loaded = r.as_ref().ok();
    ProbeResult {
        probe,
        ok: r.is_ok(),
        ms,
        io: loaded.map_or("none", |l| l.io),
        degraded: loaded
            .map(|l| {
                l.missing
                    .iter()
                    .map(|m| Degraded {
                        program: m.program,
                        reason: m.reason.clone(),
                        replaced_by: m.replaced_by.clone(),
                        refused: m.refused,
                    })
                    .collect()
            })
            .unwrap_or_default(),
        error: r.err().unwrap_or_default(),
    }
}

/// Loads, attaches, and runs one interval: the epoch flip, the map drain,
/// the socket iterator and (with events) a ring buffer poll.
fn exercise(opts: &Options) -> Result<Loaded, String> {
    let mut p = SocketProbe::load(opts).map_err(|e| e.to_string())?;
    p.drain().map_err(|e| e.to_string())?;
    p.poll_events(std::time::Duration::ZERO)
        .map_err(|e| e.to_string())?;
    Ok(Loaded {
        io: match p.io_hooks() {
            Some(IoHooks::Fexit) => "fexit",
            Some(_) => "tracepoints",
            None => "none",
        },
        missing: p.missing().to_vec(),
    })
}

/// Loads and attaches the socket tracer (capturing nothing) and drains its
/// ring once.
fn load_tracer(refuse: &[&str]) -> Result<Loaded, String> {
    let p = SockTraceProbe::load(&super::sock::features::idle_settings(refuse))
        .map_err(|e| e.to_string())?;
    let ring = p.ring(|_| {}).map_err(|e| e.to_string())?;
    ring.consume().map_err(|e| e.to_string())?;
    let fallback = p.hooks().iter().any(|h| h.name == "trace_sys_exit" && h.on);
    let missing = p
        .hooks()
        .iter()
        // The fallback is not missing when the tracepoints run.
        .filter(|h| !h.on && (fallback || h.name != "trace_sys_exit"))
        .map(|h| Missing {
            program: h.name,
            reason: h.reason.clone(),
            replaced_by: (h.name != "trace_close" && fallback)
                .then(|| "raw_syscalls:sys_exit".to_string()),
            refused: h.reason.starts_with("refused"),
        })
        .collect();
    Ok(Loaded {
        io: if fallback { "syscalls" } else { "tracepoints" },
        missing,
    })
}

/// Loads and attaches the ping probe (every stage's program) and drains
/// its ring once; the stages a kernel cannot bound are listed.
fn load_ping() -> Result<Loaded, String> {
    let mut p = PingProbe::load(&ping::Options::default()).map_err(|e| e.to_string())?;
    p.poll(std::time::Duration::ZERO)
        .map_err(|e| e.to_string())?;
    let missing = p
        .refused()
        .iter()
        .filter_map(|r| {
            let point = Point::ALL
                .into_iter()
                .find(|pt| pt.program() == r.program)?;
            Some(Missing {
                program: point.program(),
                reason: r.reason.clone(),
                replaced_by: None,
                refused: r.reason.starts_with("refused"),
            })
        })
        .collect();
    Ok(Loaded {
        io: "tracepoints",
        missing,
    })
}

/// An Ethernet frame with an IP header from `src` (all the program reads).
fn frame_from(src: std::net::IpAddr) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1];
    match src {
        std::net::IpAddr::V4(a) => {
            f.extend_from_slice(&[0x08, 0x00, 0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0]);
            f.extend_from_slice(&a.octets());
            f.extend_from_slice(&[192, 0, 2, 1]);
        }
        std::net::IpAddr::V6(a) => {
            f.extend_from_slice(&[0x86, 0xdd, 0x60, 0, 0, 0, 0, 8, 17, 64]);
            f.extend_from_slice(&a.octets());
            f.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        }
    }
    f.resize(f.len().max(60) + 8, 0);
    f
}

/// Loads the XDP program on fresh, unpinned maps (nothing attached,
/// nothing pinned) and runs one crafted frame through it per family: a
/// blacklisted source must be dropped and counted, another passed.
fn load_xdp() -> Result<Loaded, String> {
    use netsight_bpf::probes::xdp::{Blacklist, Cidr, Verdict};
    let bl = Blacklist::private().map_err(|e| e.to_string())?;
    let rules: Vec<Cidr> = ["192.0.2.0/24", "2001:db8::/32"]
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect();
    bl.add(&rules).map_err(|e| e.to_string())?;
    let prog = bl.test_program(0).map_err(|e| e.to_string())?;
    for (src, want) in [
        ("192.0.2.7", Verdict::Drop),
        ("198.51.100.7", Verdict::Pass),
        ("2001:db8::7", Verdict::Drop),
        ("2001:db9::7", Verdict::Pass),
    ] {
        let ip: std::net::IpAddr = src.parse().map_err(|_| "bad address".to_string())?;
        let got = prog.run(&frame_from(ip)).map_err(|e| e.to_string())?;
        if got != want {
            return Err(format!("a frame from {src}: {got:?}, expected {want:?}"));
        }
    }
    Ok(Loaded {
        io: "none",
        missing: Vec::new(),
    })
}

pub fn run(args: &SelftestArgs) -> anyhow::Result<()> {
    super::require_root()?;
    let start = Instant::now();
    let metrics = Options::default();
    let everything = Options {
        accept_syscalls: true,
        events: EventKind::ALL.to_vec(),
        ..Options::default()
    };
    let mut results = vec![
        timed("sockets", || exercise(&metrics)),
        timed("sockets+events", || exercise(&everything)),
    ];
    // The fallback, where the default took the tracepoints.
    if results[0].io == "tracepoints" && doctor::hook_works("fentry") {
        let fexit = Options {
            io: IoHooks::Fexit,
            ..Options::default()
        };
        results.push(timed("sockets/fexit-io", || exercise(&fexit)));
    }
    // The other gauge paths, as on kernels that refuse the iterators tried
    // before them.
    for (name, refuse) in [
        ("sockets/task-files", &["dump_sockets"][..]),
        ("sockets/per-netns", &["dump_sockets", "dump_files"]),
    ] {
        let opts = Options {
            refuse: refuse.iter().map(|p| p.to_string()).collect(),
            ..Options::default()
        };
        results.push(timed(name, || exercise(&opts)));
    }
    // The socket tracer, and its syscall-exit fallback where the socket
    // tracepoints ran.
    results.push(timed("socktrace", || load_tracer(&[])));
    if results.last().is_some_and(|r| r.io == "tracepoints") {
        let refuse = ["trace_send", "trace_recv"];
        results.push(timed("socktrace/syscall-exit", || load_tracer(&refuse)));
    }
    results.push(timed("ping", load_ping));
    results.push(timed("xdp", load_xdp));
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
            let error = if r.error.is_empty() {
                String::new()
            } else {
                format!("  {}", r.error)
            };
            writeln!(
                out,
                "{:<22} {status:<6} {:>7.1} ms  io: {}{error}",
                r.probe, r.ms, r.io
            )?;
            for d in &r.degraded {
                let by = d
                    .replaced_by
                    .as_ref()
                    .map(|b| format!(" -> {b}"))
                    .unwrap_or_default();
                writeln!(out, "  not loaded: {} ({}){by}", d.program, d.reason)?;
            }
        }
        writeln!(out, "total {total_ms:.1} ms")?;
    }
    if failed > 0 {
        anyhow::bail!("{failed} probe(s) failed to load or attach");
    }
    Ok(())
}
