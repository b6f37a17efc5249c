//! `netsight sock status`: asks every running tracer (this CLI, the agent,
//! a program using netsight-tracer) for its state, like seeds/001's
//! `tracer show` and `socktrace show`.

use std::io::Write;

use netsight_tracer::{running_tracers, Status, TRACERS_DIR};

use super::StatusArgs;

pub fn run(args: &StatusArgs) -> anyhow::Result<()> {
    let tracers = running_tracers();
    if tracers.is_empty() {
        anyhow::bail!("no tracer is running (none answered in {TRACERS_DIR})");
    }
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for t in &tracers {
        if args.json {
            writeln!(out, "{}", serde_json::to_string(t)?)?;
        } else {
            text(&mut out, t)?;
        }
    }
    Ok(())
}

fn text(out: &mut dyn Write, t: &Status) -> std::io::Result<()> {
    let state = serde_json::to_value(t.state).unwrap_or_default();
    writeln!(out, "Tracer         {} (pid {})", t.name, t.pid)?;
    writeln!(out, "State          {}", state.as_str().unwrap_or("?"))?;
    writeln!(out, "Payload bytes  {}", t.payload_bytes)?;
    writeln!(out, "Ring bytes     {}", t.ring_bytes)?;
    writeln!(
        out,
        "Kernel lost    {}  (ring buffer full {}, runs the kernel skipped {})",
        t.kernel_lost,
        t.kernel_lost.saturating_sub(t.skipped_runs),
        t.skipped_runs
    )?;
    writeln!(out, "User lost      {}  (worker queue full)", t.user_lost)?;
    writeln!(
        out,
        "Socket map     {}/{}\nTrace map      {}/{}\nMap full       {}",
        t.socket_map.used, t.socket_map.max, t.trace_map.used, t.trace_map.max, t.map_full
    )?;
    writeln!(out, "Hooks")?;
    for h in &t.hooks {
        let on = if h.on { "on " } else { "off" };
        writeln!(out, "  {on} {:<26} {}", h.tracepoint, h.reason)?;
    }
    writeln!(
        out,
        "Programs (run time kept only with kernel.bpf_stats_enabled=1)"
    )?;
    for p in &t.programs {
        let per_run = p.run_time_ns.checked_div(p.runs).unwrap_or(0);
        writeln!(
            out,
            "  {:<16} runs {:>12}  {per_run} ns/run  skipped {}",
            p.program, p.runs, p.skipped
        )?;
    }
    if t.workers.is_empty() {
        writeln!(
            out,
            "Queues         none (the ring reader parses: --workers 0)"
        )?;
    } else {
        writeln!(out, "Queues")?;
    }
    for (i, w) in t.workers.iter().enumerate() {
        writeln!(
            out,
            "  worker {i}: enqueued {} dequeued {} lost {} queued {} capacity {}",
            w.enqueued,
            w.dequeued,
            w.lost,
            w.enqueued.saturating_sub(w.dequeued),
            w.capacity
        )?;
    }
    let u = &t.uncaptured;
    writeln!(
        out,
        "Not captured   peek reads {}, sendfile {} calls/{} B, splice {} calls/{} B, \
         io_uring {} calls/{} B (not seen), other {} calls/{} B",
        u.peek_reads,
        u.sendfile_calls,
        u.sendfile_bytes,
        u.splice_calls,
        u.splice_bytes,
        u.io_uring_calls,
        u.io_uring_bytes,
        u.other_calls,
        u.other_bytes
    )?;
    writeln!(
        out,
        "Records        data {}, l7 {}",
        t.data_records, t.l7_records
    )?;
    let l = &t.l7_unparsed;
    writeln!(
        out,
        "Not parsed     {} B of no known protocol ({} sockets given up on; {} calls/{} B of it \
         muted: counted in the kernel only), {} sockets evicted (L7 memory budget), {} capture gaps",
        l.bytes_undetected + l.muted_bytes,
        l.sockets_unknown,
        l.muted_calls,
        l.muted_bytes,
        l.sockets_evicted,
        l.seq_gaps
    )?;
    writeln!(out, "Protocols")?;
    for (p, n) in &t.protocols {
        writeln!(out, "  - {p:<10} {n}")?;
    }
    writeln!(out)
}
