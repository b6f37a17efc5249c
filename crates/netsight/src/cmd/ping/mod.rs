//! `netsight ping` (SPEC §9, issue 14): where on the path a probe's
//! latency sits, from tracepoints only.
//!
//! - `packet`: the wire format and the (untrusted) reply parser;
//! - `socket`: the raw ICMP socket and the monotonic clock;
//! - `stages`: the stage table and its values; `stats`: the run's summary;
//! - `client`, `server`: the two sides; `record`, `output`, `logfile`,
//!   `image`, `svg`: where results go.

mod client;
pub mod doctor_rows;
mod hops;
mod image;
mod logfile;
mod output;
mod packet;
mod record;
mod server;
mod socket;
mod stages;
mod stats;
mod svg;

use std::net::{IpAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::ValueEnum;

use crate::error::usage;
use client::ClientConfig;
use output::Sink;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Use the server's timestamps while it answers.
    Auto,
    /// Only the kernel's reply: remote stages are not seen.
    Pingpong,
    /// Always wait for the server's reply.
    Compact,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
    Log,
    Image,
}

#[derive(Debug, clap::Args)]
pub struct PingArgs {
    /// Probe HOST (IPv4 or IPv6 address, or name).
    #[arg(short = 'c', long = "client", value_name = "HOST")]
    pub client: Option<String>,
    /// Answer probes with this host's timestamps.
    #[arg(short = 's', long = "server", conflicts_with = "client")]
    pub server: bool,
    /// Probes to send (server: probes to answer); default: until Ctrl-C.
    #[arg(short = 'C', long = "count", value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// Microseconds between probes.
    #[arg(short = 'i', value_name = "INTERVAL_US", default_value = "1000000", value_parser = clap::value_parser!(u64).range(100..=60_000_000))]
    pub interval_us: u64,
    /// Stop sending after SECONDS.
    #[arg(short = 't', value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub seconds: Option<u64>,
    /// Record only probes whose total exceeds this many microseconds (spikes).
    #[arg(short = 'm', long = "maxdelay", value_name = "MAXDELAY_US")]
    pub maxdelay_us: Option<f64>,
    /// Probe payload bytes after the ICMP header (at least 144).
    #[arg(short = 'b', value_name = "BYTES", default_value = "548")]
    pub bytes: usize,
    #[arg(long, value_enum, default_value = "auto")]
    pub mode: Mode,
    #[arg(short = 'o', long = "output", value_enum, default_value = "text")]
    pub output: Format,
    /// The log file of `-o log` (rotated to FILE.1 .. FILE.N).
    #[arg(long, value_name = "FILE", default_value = "./netsight-ping.log")]
    pub log: PathBuf,
    /// Largest size of one log file, in bytes.
    #[arg(long, value_name = "BYTES", default_value = "2097152", value_parser = clap::value_parser!(u64).range(256..))]
    pub logsize: u64,
    /// Rotated log files kept.
    #[arg(long, value_name = "N", default_value = "3")]
    pub logbackup: u32,
    /// Also every sighting in the network namespaces of this host (per probe `path`).
    #[arg(short = 'n', long = "namespace")]
    pub namespace: bool,
    /// The far end is a namespace of this host: read its stages from this host's kernel.
    #[arg(long)]
    pub nslocal: bool,
    /// Server: the user id put in its replies (tells hosts apart).
    #[arg(long, value_name = "N", default_value = "0")]
    pub userid: u16,
    /// Write a chart of the run (stacked stages per probe, spikes marked).
    #[arg(long, value_name = "FILE")]
    pub svg: Option<PathBuf>,
}

/// HOST as an address: a literal, else a name's first IPv4 address (its
/// first IPv6 one if it has none).
fn resolve(host: &str) -> anyhow::Result<IpAddr> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = (host, 0)
        .to_socket_addrs()
        .map_err(|e| usage(format!("-c {host}: unknown host ({e})")))?
        .map(|a| a.ip())
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| usage(format!("-c {host}: no address")))
}

pub fn run(args: &PingArgs) -> anyhow::Result<()> {
    if args.client.is_none() && !args.server {
        return Err(usage("ping: give --client/-c HOST, or --server/-s"));
    }
    if args.bytes < packet::MIN_PAYLOAD {
        return Err(usage(format!(
            "-b {}: a probe needs at least {} bytes",
            args.bytes,
            packet::MIN_PAYLOAD
        )));
    }
    if args.bytes > 65_000 {
        return Err(usage(format!("-b {}: at most 65000 bytes", args.bytes)));
    }
    if args
        .maxdelay_us
        .is_some_and(|m| !(m >= 0.0 && m.is_finite()))
    {
        return Err(usage("-m: a number of microseconds >= 0"));
    }
    let target = args.client.as_deref().map(resolve).transpose()?;
    super::require_root()?;
    crate::signals::install();
    let Some(target) = target else {
        return server::run(args.userid, args.count);
    };
    let cfg = ClientConfig {
        target,
        count: args.count,
        interval: Duration::from_micros(args.interval_us),
        duration: args.seconds.map(Duration::from_secs),
        payload: args.bytes,
        mode: args.mode,
        maxdelay_us: args.maxdelay_us,
        nslocal: args.nslocal,
        namespace: args.namespace,
    };
    let mut sink = match args.output {
        Format::Text => Sink::Text,
        Format::Json => Sink::Json,
        Format::Log => Sink::Log(
            logfile::RotatingLog::create(&args.log, args.logsize, args.logbackup)
                .with_context(|| format!("--log {}", args.log.display()))?,
        ),
        Format::Image => Sink::Image(Box::new(image::Screen::enter(&target.to_string())?)),
    };
    let mode = format!("{:?}", args.mode).to_lowercase();
    let mut chart = args.svg.as_ref().map(|_| svg::Chart::new(args.maxdelay_us));
    sink.start(&target.to_string(), &mode)?;
    let stats = client::run(&cfg, &mut sink, &mut chart)?;
    sink.finish(&stats, &mode)?;
    if let (Some(path), Some(chart)) = (&args.svg, chart.as_mut()) {
        std::fs::write(path, chart.render())
            .with_context(|| format!("--svg {}", path.display()))?;
    }
    Ok(())
}
