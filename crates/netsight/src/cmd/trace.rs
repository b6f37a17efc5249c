//! `netsight trace KIND...`: socket and packet events as they happen
//! (SPEC §5), as libbpf-tools-style columns or JSON Lines. Losses are a line
//! in the stream, never silent.

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use netsight_bpf::ksyms::Ksyms;
use netsight_bpf::probes::sockets::{Options, SocketProbe};
use netsight_events::event::{self, Detail, EventKind, Names, SockEvent};
use netsight_events::time::rfc3339_millis;

use crate::cli::{ProcessFilter, TraceArgs};
use crate::collect::monotonic_ns;
use crate::error::usage;
use crate::signals;

const REASON_PREFIX: &str = "SKB_DROP_REASON_";

/// Drop reason numbers and kernel symbols of the running kernel.
struct KernelNames {
    reasons: HashMap<u32, String>,
    ksyms: Ksyms,
}

impl KernelNames {
    fn load() -> Self {
        let reasons = netsight_bpf::btf::enum_values("skb_drop_reason")
            .into_iter()
            .map(|(name, v)| {
                let short = name
                    .strip_prefix(REASON_PREFIX)
                    .unwrap_or(&name)
                    .to_string();
                (v as u32, short)
            })
            .collect();
        KernelNames {
            reasons,
            ksyms: Ksyms::load(),
        }
    }

    /// The numbers of the reasons the user named ("NETFILTER_DROP",
    /// "netfilter_drop" or "SKB_DROP_REASON_NETFILTER_DROP").
    fn reason_numbers(&self, wanted: &[String]) -> anyhow::Result<BTreeSet<u32>> {
        wanted
            .iter()
            .map(|w| {
                let w = w.trim().to_ascii_uppercase();
                let w = w.strip_prefix(REASON_PREFIX).unwrap_or(&w);
                self.reasons
                    .iter()
                    .find(|(_, name)| name.as_str() == w)
                    .map(|(n, _)| *n)
                    .ok_or_else(|| usage(format!("--reason: this kernel has no drop reason '{w}'")))
            })
            .collect()
    }
}

impl Names for KernelNames {
    fn drop_reason(&self, reason: u32) -> String {
        self.reasons
            .get(&reason)
            .cloned()
            .unwrap_or_else(|| format!("reason {reason}"))
    }

    fn symbol(&self, addr: u64) -> String {
        self.ksyms.symbol(addr)
    }
}

fn parse_kinds(kinds: &[String]) -> anyhow::Result<Vec<EventKind>> {
    let mut out = BTreeSet::new();
    for k in kinds {
        if k == "all" {
            out.extend(EventKind::ALL);
            continue;
        }
        let kind = EventKind::from_name(k).ok_or_else(|| {
            usage(format!(
                "unknown event kind '{k}' (expected: connect accept close state retrans reset drop overflow all)"
            ))
        })?;
        out.insert(kind);
    }
    Ok(out.into_iter().collect())
}

/// Which events the user asked to see.
struct Filter {
    procs: ProcessFilter,
    port: Option<u16>,
    netns: Option<u32>,
    reasons: BTreeSet<u32>,
}

impl Filter {
    fn keeps(&self, e: &SockEvent) -> bool {
        self.procs.matches(e.pid(), e.comm())
            && self.port.is_none_or(|p| e.src.1 == p || e.dst.1 == p)
            && self.netns.is_none_or(|n| n == e.netns)
            && match e.detail {
                Detail::Drop { reason, .. } => {
                    self.reasons.is_empty() || self.reasons.contains(&reason)
                }
                _ => true,
            }
    }
}

/// Converts the kernel's monotonic timestamps to wall-clock time.
struct Clock {
    offset_ns: i128,
}

impl Clock {
    fn new() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i128;
        Clock {
            offset_ns: wall - i128::from(monotonic_ns()),
        }
    }

    fn wall(&self, mono_ns: u64) -> SystemTime {
        let ns = (i128::from(mono_ns) + self.offset_ns).max(0) as u64;
        UNIX_EPOCH + Duration::from_nanos(ns)
    }
}

pub fn run(args: &TraceArgs) -> anyhow::Result<()> {
    let kinds = parse_kinds(&args.kinds)?;
    let names = KernelNames::load();
    let filter = Filter {
        procs: args.procs.clone(),
        port: args.port,
        netns: args.netns.as_deref().map(super::netns_inode).transpose()?,
        reasons: names.reason_numbers(&args.reasons)?,
    };
    super::require_root()?;
    let opts = Options {
        accept_syscalls: kinds.contains(&EventKind::Accept),
        events: kinds,
        ..Options::default()
    };
    let mut probe = SocketProbe::load(&opts).context("starting the event probes")?;
    crate::features::report_refusals(probe.missing());
    for m in probe.missing().iter().filter(|m| m.replaced_by.is_none()) {
        eprintln!("netsight: not on this kernel: {} ({})", m.program, m.reason);
    }
    signals::install();
    let list: Vec<&str> = opts.events.iter().map(|k| k.name()).collect();
    eprintln!("netsight: tracing {} (Ctrl-C to stop)", list.join(" "));
    let clock = Clock::new();
    let mut out = std::io::stdout().lock();
    if !args.json && !args.quiet {
        writeln!(out, "{}", header(args.timestamp))?;
        out.flush()?;
    }
    let mut losses = LossReport::new(probe.losses());
    let mut shown = 0u64;
    while !signals::stop_requested() {
        let events = probe.poll_events(Duration::from_millis(100))?;
        for e in events.iter().filter(|e| filter.keeps(e)) {
            let ts = rfc3339_millis(clock.wall(e.ts_ns));
            if args.json {
                serde_json::to_writer(&mut out, &event::to_json(e, &ts, &names))?;
                writeln!(out)?;
            } else {
                writeln!(out, "{}", line(e, &ts, args.timestamp, &names))?;
            }
            shown += 1;
            if args.count.is_some_and(|c| shown >= c) {
                return Ok(out.flush()?);
            }
        }
        // Reading the losses asks the kernel for every program's run
        // record (skipped runs): once a second, not every poll.
        if losses.due() {
            losses.report(probe.losses(), args.json, &mut out)?;
        }
        out.flush().context("writing to stdout")?;
    }
    losses.report(probe.losses(), args.json, &mut out)?;
    Ok(out.flush()?)
}

/// Events lost since the last report, shown as one line when there are any.
struct LossReport {
    before: u64,
    next: Instant,
}

impl LossReport {
    const EVERY: Duration = Duration::from_secs(1);

    fn new(before: u64) -> Self {
        Self {
            before,
            next: Instant::now() + Self::EVERY,
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next
    }

    fn report(&mut self, lost: u64, json: bool, out: &mut impl Write) -> anyhow::Result<()> {
        self.next = Instant::now() + Self::EVERY;
        if lost <= self.before {
            return Ok(());
        }
        let ts = rfc3339_millis(SystemTime::now());
        let n = lost - self.before;
        self.before = lost;
        if json {
            let line = serde_json::json!({"type": "lost", "ts": ts, "lost_events": n});
            writeln!(out, "{line}")?;
        } else {
            writeln!(
                out,
                "-- {n} events lost (kernel buffer full, or runs the kernel skipped)"
            )?;
        }
        Ok(())
    }
}

fn header(timestamp: bool) -> String {
    let cols = format!(
        "{:<7} {:<15} {:<8} {:<39} {:<39} DETAIL",
        "PID", "COMM", "KIND", "SADDR:SPORT", "DADDR:DPORT"
    );
    if timestamp {
        format!("{:<12} {cols}", "TIME")
    } else {
        cols
    }
}

fn endpoint(ep: &(std::net::IpAddr, u16)) -> String {
    match ep.0 {
        std::net::IpAddr::V6(a) => format!("[{a}]:{}", ep.1),
        std::net::IpAddr::V4(a) => format!("{a}:{}", ep.1),
    }
}

fn line(e: &SockEvent, ts: &str, timestamp: bool, names: &dyn Names) -> String {
    let cols = format!(
        "{:<7} {:<15} {:<8} {:<39} {:<39} {}",
        e.pid(),
        e.comm(),
        e.kind().name(),
        endpoint(&e.src),
        endpoint(&e.dst),
        event::detail_text(e, names)
    );
    if timestamp {
        format!("{:<12} {cols}", &ts[11..23])
    } else {
        cols
    }
}
