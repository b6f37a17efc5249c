//! Command-line grammar (SPEC §2). Plain data only: validation that needs
//! more than a type lives with each command.

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "netsight",
    version,
    about = "Linux network observability and diagnosis on eBPF"
)]
pub struct Cli {
    /// The kernel's BTF from this file (for kernels without /sys/kernel/btf/vmlinux).
    #[arg(long, global = true, value_name = "PATH")]
    pub btf: Option<std::path::PathBuf>,
    /// Treat these BPF programs as refused by the kernel (comma-separated;
    /// also NETSIGHT_REFUSE): the features that need them degrade, the rest
    /// runs. For kernels that misbehave with one program, and for tests.
    #[arg(long, global = true, value_name = "PROG[,PROG]", value_delimiter = ',')]
    pub refuse: Vec<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Which kernel features, hooks and netsight features work here, and why not.
    Doctor(DoctorArgs),
    /// Per-process network metrics every interval, or host-wide counters with --system.
    Stat(StatArgs),
    /// Event streams: connect accept close state retrans reset drop overflow, or all.
    Trace(TraceArgs),
    /// Load and attach every probe once, report each and the time it took.
    Selftest(SelftestArgs),
    /// Live terminal view: processes sorted by traffic, drill-down to connections.
    Top(crate::cmd::top::TopArgs),
    /// XDP source blacklist: attach, detach, add, del, list, stats, bench.
    Xdp(crate::cmd::xdp::XdpArgs),
    /// Long-running exporter to InfluxDB and Prometheus.
    Agent(crate::cmd::agent::AgentArgs),
    /// Socket data tracer: L7 requests and responses, or with --raw every captured syscall.
    Sock(crate::cmd::sock::SockArgs),
    /// Per-stage ICMP latency probe: client (-c HOST) or server (-s).
    Ping(crate::cmd::ping::PingArgs),
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Which processes to show (`-p`, `--comm`): one type, so that stat, top
/// and trace accept and refuse the same values.
#[derive(Debug, Clone, Default, PartialEq, Args)]
pub struct ProcessFilter {
    /// Only these processes (repeatable).
    #[arg(short = 'p', long = "pid", value_name = "PID", value_parser = parse_pid)]
    pub pids: Vec<u32>,
    /// Only processes whose command name is NAME.
    #[arg(long, value_name = "NAME", value_parser = parse_comm)]
    pub comm: Option<String>,
}

impl ProcessFilter {
    pub fn matches(&self, pid: u32, comm: &str) -> bool {
        (self.pids.is_empty() || self.pids.contains(&pid))
            && self.comm.as_deref().is_none_or(|c| c == comm)
    }
}

/// `-p 0` is refused everywhere. In bcc and libbpf-tools a pid filter of 0
/// means "no filter" (every process), while netsight shows pid 0 for events
/// whose process cannot be known: the same input would mean opposite things
/// to different readers (and nothing at all to stat and top, whose records
/// always have a process), so it is an error rather than a surprise.
fn parse_pid(s: &str) -> Result<u32, String> {
    match s.parse::<u32>() {
        Ok(0) => Err("0 is not a process id (to see every process, leave out --pid)".into()),
        Ok(pid) => Ok(pid),
        Err(_) => Err("not a process id".into()),
    }
}

/// The kernel keeps 15 bytes of a command name; a longer one never matches.
fn parse_comm(s: &str) -> Result<String, String> {
    if s.is_empty() || s.len() > 15 {
        return Err("a command name has 1 to 15 bytes".into());
    }
    Ok(s.to_string())
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Event kinds: connect accept close state retrans reset drop overflow, or all.
    #[arg(value_name = "KIND", required = true)]
    pub kinds: Vec<String>,
    #[command(flatten)]
    pub procs: ProcessFilter,
    /// Only events with this local or remote port.
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,
    /// Only events in this network namespace: a name under /run/netns, a path, or an inode number.
    #[arg(long, value_name = "NAME|PATH|INODE")]
    pub netns: Option<String>,
    /// Only drops with this reason (kernel name, e.g. NETFILTER_DROP; repeatable).
    #[arg(long = "reason", value_name = "REASON")]
    pub reasons: Vec<String>,
    /// Print a timestamp column.
    #[arg(short = 't', long = "timestamp")]
    pub timestamp: bool,
    /// Stop after N events.
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// No header.
    #[arg(short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SelftestArgs {
    /// One JSON object instead of lines.
    #[arg(long)]
    pub json: bool,
}

/// Flags shared by the commands that report every interval.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    #[command(flatten)]
    pub procs: ProcessFilter,
    /// Seconds between reports (fractions allowed).
    #[arg(short = 'i', long, default_value = "1", value_name = "SECS", value_parser = parse_interval)]
    pub interval: f64,
    /// Stop after N intervals.
    #[arg(short = 'c', long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub count: Option<u64>,
    /// JSON Lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// No header.
    #[arg(short = 'q')]
    pub quiet: bool,
}

#[derive(Debug, Clone, Args)]
pub struct StatArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Host-wide counters (SPEC §4) instead of per-process metrics.
    #[arg(long, conflicts_with = "all")]
    pub system: bool,
    /// Per-process metrics and host-wide counters together, on one clock.
    #[arg(long)]
    pub all: bool,
    /// A network namespace (a name under /run/netns, a path, or an inode
    /// number). With --system: whose counters to read. Per process: only
    /// processes with a socket open in it (their counters cover all their sockets).
    #[arg(long, value_name = "NAME|PATH|INODE")]
    pub netns: Option<String>,
    /// Rows in the table (the JSON output has every process).
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
}

pub fn parse_interval(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(0.1..=3600.0).contains(&v) {
        return Err(format!("'{s}' must be between 0.1 and 3600 seconds"));
    }
    Ok(v)
}
