//! `netsight sock`: the socket data tracer (SPEC §8), wired from the CLI to
//! the netsight-tracer library: L7 records, or with `--raw` one data record
//! per captured syscall; losses in the stream and in the closing summary.

pub(crate) mod features;
mod output;
mod status;

pub use features::doctor_features;

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use clap::{Args, Subcommand};
use netsight_bpf::probes::socktrace::PAYLOAD_MAX;
use netsight_tracer::{Builder, Filters, Protocol, Status, Tracer};

use crate::cli::ProcessFilter;
use crate::error::usage;
use crate::signals;
use output::Printer;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SockArgs {
    #[command(subcommand)]
    pub action: Option<SockAction>,
    /// One data record per captured syscall instead of L7 records.
    #[arg(long)]
    pub raw: bool,
    #[command(flatten)]
    pub procs: ProcessFilter,
    /// Only sockets with this local or remote port.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only these L7 protocols: http1, dns, redis (repeatable).
    #[arg(long = "protocol", value_name = "NAME")]
    pub protocols: Vec<String>,
    /// Only sockets in this network namespace: a name under /run/netns, a path, or an inode number.
    #[arg(long, value_name = "NAME|PATH|INODE")]
    pub netns: Option<String>,
    /// Stop after N records.
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Bytes captured per syscall (at most 16384).
    #[arg(long, default_value_t = 1024, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..=i64::from(PAYLOAD_MAX)))]
    pub payload_bytes: u32,
    /// Kernel ring buffer size: a power of two, e.g. 4M, 65536 (default 4M).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes, default_value = "4M")]
    pub ring_bytes: u32,
    /// Worker threads parsing records; 0: the ring reader parses them
    /// (default: 0 on hosts of 1-2 CPUs, else 1).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(0..=64))]
    pub workers: Option<u16>,
    /// Records each worker queues before dropping (and counting) more.
    #[arg(long, default_value_t = 65536, value_name = "N",
          value_parser = clap::value_parser!(u32).range(1..))]
    pub queue: u32,
    /// Do not redact secrets (Authorization, cookies, Redis AUTH, passwords).
    #[arg(long)]
    pub show_secrets: bool,
    /// JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// No header.
    #[arg(short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum SockAction {
    /// The state of every tracer running on this host.
    Status(StatusArgs),
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// One JSON object per tracer (JSON Lines).
    #[arg(long)]
    pub json: bool,
}

/// "4M", "64k", "65536" -> bytes; must be a power of two the ring accepts.
fn parse_bytes(s: &str) -> Result<u32, String> {
    let t = s.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let shift = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("'{s}' is not a size (e.g. 4M, 64k, 65536)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 4M, 64k, 65536)"))?;
    let bytes = n << shift;
    if !bytes.is_power_of_two() || !(4096..=1 << 30).contains(&bytes) {
        return Err(format!("'{s}' must be a power of two from 4k to 1G"));
    }
    Ok(bytes as u32)
}

fn protocols(names: &[String]) -> anyhow::Result<Vec<Protocol>> {
    names
        .iter()
        .map(|n| {
            Protocol::ALL
                .into_iter()
                .find(|p| p.name() == n.to_ascii_lowercase())
                .ok_or_else(|| {
                    usage(format!(
                        "--protocol: unknown protocol '{n}' (expected: http1 dns redis)"
                    ))
                })
        })
        .collect()
}

fn config(args: &SockArgs) -> anyhow::Result<netsight_tracer::Config> {
    let netns = args
        .netns
        .as_deref()
        .map(crate::cmd::netns_inode)
        .transpose()?;
    let filters = Filters {
        pids: args.procs.pids.clone(),
        comm: args.procs.comm.clone(),
        port: args.port,
        netns,
        protocols: protocols(&args.protocols)?,
    };
    Builder::new()
        .name(format!(
            "netsight sock{}",
            if args.raw { " --raw" } else { "" }
        ))
        .payload_bytes(args.payload_bytes)
        .ring_bytes(args.ring_bytes)
        .workers(
            args.workers
                .map_or_else(netsight_tracer::default_workers, usize::from),
        )
        .queue_capacity(args.queue as usize)
        .data_records(args.raw)
        .l7_records(!args.raw)
        .redact(!args.show_secrets)
        .filters(filters)
        .build()
        .map_err(|e| usage(e.to_string()))
}

pub fn run(args: SockArgs) -> anyhow::Result<()> {
    if let Some(SockAction::Status(s)) = &args.action {
        return status::run(s);
    }
    let cfg = config(&args)?;
    super::require_root()?;
    signals::install();
    let tracer = Tracer::start(cfg).map_err(|e| anyhow::anyhow!("starting the tracer: {e}"))?;
    for h in tracer
        .status()
        .hooks
        .iter()
        .filter(|h| h.on && h.program == "trace_sys_exit")
    {
        eprintln!(
            "netsight: capturing at syscall exit ({}): {}",
            h.tracepoint, h.reason
        );
    }
    eprintln!("netsight: tracing socket data (Ctrl-C to stop)");
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut printer = Printer::new(args.json, args.raw);
    if !args.quiet {
        printer.header(&mut out)?;
    }
    let mut printed = 0u64;
    let reached = |n: u64| args.count.is_some_and(|c| n >= c);
    let events = tracer.events();
    while !signals::stop_requested() && !reached(printed) {
        match events.recv_timeout(Duration::from_millis(100)) {
            Ok(e) => printed += printer.event(&mut out, &e)?,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        }
        // Whatever else is waiting, then one flush (not one per record).
        while !reached(printed) {
            let Ok(e) = events.try_recv() else { break };
            printed += printer.event(&mut out, &e)?;
        }
        out.flush()?;
    }
    let stopped = tracer.stop();
    for e in &stopped.remaining {
        if reached(printed) {
            break;
        }
        printed += printer.event(&mut out, e)?;
    }
    summary(&mut out, &printer, &stopped.status, args.json)?;
    out.flush()?;
    Ok(())
}

/// Records per protocol and every loss, once at the end.
fn summary(out: &mut dyn Write, printer: &Printer, s: &Status, json: bool) -> std::io::Result<()> {
    let printed: &BTreeMap<&str, u64> = printer.per_protocol();
    if json {
        let line = serde_json::json!({
            "type": "summary",
            "records": printed,
            "kernel_lost": s.kernel_lost,
            "user_lost": s.user_lost,
            "uncaptured": s.uncaptured,
            "l7_unparsed": s.l7_unparsed,
        });
        return writeln!(out, "{line}");
    }
    let per: Vec<String> = printed.iter().map(|(p, n)| format!("{p} {n}")).collect();
    writeln!(
        out,
        "summary: records: {}; lost in kernel {}, in user space {}; peek reads skipped {}, \
         sendfile {} B, splice {} B, io_uring {} B not captured; {} B of no known protocol \
         not parsed ({} sockets given up on; {} B of it counted in the kernel only, muted)",
        if per.is_empty() {
            "none".into()
        } else {
            per.join(", ")
        },
        s.kernel_lost,
        s.user_lost,
        s.uncaptured.peek_reads,
        s.uncaptured.sendfile_bytes,
        s.uncaptured.splice_bytes,
        s.uncaptured.io_uring_bytes,
        s.l7_unparsed.bytes_undetected + s.l7_unparsed.muted_bytes,
        s.l7_unparsed.sockets_unknown,
        s.l7_unparsed.muted_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_units() {
        assert_eq!(parse_bytes("4M"), Ok(4 << 20));
        assert_eq!(parse_bytes("64k"), Ok(65536));
        assert_eq!(parse_bytes("8192"), Ok(8192));
        assert!(parse_bytes("5000").is_err());
        assert!(parse_bytes("2k").is_err());
        assert!(parse_bytes("x").is_err());
    }
}
