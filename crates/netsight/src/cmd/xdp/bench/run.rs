//! Running the cases: one topology, one UDP sink and TCP server for the
//! whole run; per case, install the filter, flood, measure, remove.

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use netsight_bpf::probes::xdp::{enable_run_stats, ifindex_of, RunStats};
use serde::Serialize;

use super::filters::{self, Case};
use super::topo::{self, spawn_in, thread_cpu_ns, Topology, RX_IP};
use super::{flood, legit, prefixes, Settings};
use crate::signals;

/// Clients of the legitimate workload.
const CLIENTS: usize = 2;

#[derive(Debug, Serialize)]
pub struct CaseResult {
    pub case: &'static str,
    pub label: &'static str,
    pub prefixes: usize,
    /// Set when the case could not run (tool missing, setup failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    pub offered_pps: f64,
    pub received_pps: f64,
    pub dropped_pps: f64,
    pub cpu_ns_per_packet: f64,
    pub receiver_cpu_util: f64,
    /// Frames lost before any filter: the receiving veth's ring was full.
    pub ring_lost_pps: f64,
    /// The XDP program's own run time per packet (kernel run-time stats);
    /// XDP cases only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub xdp_prog_ns_per_packet: Option<f64>,
    pub legit_tps: f64,
    /// CPU used by everything else on the machine during the case, in CPUs
    /// (above ~0.1 the figures of this case are disturbed).
    pub other_cpu_util: f64,
    pub setup_s: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub kernel: String,
    pub cpus: usize,
    pub quick: bool,
    pub duration_s: f64,
    /// Paced flood rate in frames/s; absent when unpaced.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_rate_pps: Option<f64>,
    /// The flood's sources span this many blacklisted /26 prefixes.
    pub flood_prefixes: usize,
    pub iptables: String,
    pub baseline_legit_tps: f64,
    pub cases: Vec<CaseResult>,
    pub interrupted: bool,
}

struct Snapshot {
    at: Instant,
    sent: u64,
    rx_packets: u64,
    napi_ns: u64,
    dropped: u64,
    ring_lost: u64,
    prog: RunStats,
    legit: u64,
    busy_ns: u64,
    own_ns: u64,
}

/// Busy time of all CPUs (/proc/stat), in ns.
fn system_busy_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0;
    };
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    let busy: u64 = f
        .iter()
        .take(8)
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy * (1_000_000_000 / clock_ticks())
}

/// CPU time of this whole process, in ns.
fn own_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    // After "(comm)": state is not numeric, so utime/stime are fields 10/11 here.
    let ticks = fields.get(10).copied().unwrap_or(0) + fields.get(11).copied().unwrap_or(0);
    ticks * (1_000_000_000 / clock_ticks())
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn tool_exists(name: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false)
}

fn sleep_secs(secs: f64) -> bool {
    signals::sleep_until(Instant::now() + Duration::from_secs_f64(secs))
}

pub fn all(s: &Settings) -> anyhow::Result<Report> {
    for t in ["ip", "ethtool"] {
        if !tool_exists(t) {
            anyhow::bail!("xdp bench needs '{t}' (Debian packages: iproute2 ethtool)");
        }
    }
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    // The XDP program's own cost per packet; best effort (Linux >= 5.8).
    let _run_stats = enable_run_stats()
        .inspect_err(|e| eprintln!("xdp bench: no XDP program run times: {e}"))
        .ok();
    eprintln!("xdp bench: building namespaces");
    let topo = Topology::create()?;
    let stop_all = Arc::new(AtomicBool::new(false));
    let rx_cpu = (cpus > 1).then_some(1);

    // The UDP sink makes the no-filter case deliver to a socket (no ICMP);
    // it is never read, so it fills and the kernel drops at the socket.
    let (listener_tx, listener_rx) = std::sync::mpsc::channel();
    let server_stop = stop_all.clone();
    let server = spawn_in(&topo.rx_ns, "bench-server", rx_cpu, move || {
        let _sink = UdpSocket::bind((RX_IP, 9)).context("binding the UDP sink")?;
        let listener = TcpListener::bind((RX_IP, legit::PORT)).context("binding the TCP server")?;
        let _ = listener_tx.send(());
        legit::serve(listener, server_stop)
    })?;
    listener_rx
        .recv_timeout(Duration::from_secs(5))
        .context("the TCP server did not start")?;
    let server_addr: SocketAddr = format!("{RX_IP}:{}", legit::PORT).parse()?;

    let mut report = Report {
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .into(),
        cpus,
        quick: s.quick,
        duration_s: s.duration,
        flood_rate_pps: s.rate,
        flood_prefixes: s.flood_blocks,
        iptables: topo::cmd(&["iptables", "--version"])
            .unwrap_or_default()
            .trim()
            .into(),
        baseline_legit_tps: 0.0,
        cases: Vec::new(),
        interrupted: false,
    };
    let runner = Runner {
        topo: &topo,
        s,
        server: server_addr,
        rx_cpu,
    };

    eprintln!(
        "xdp bench: baseline (legitimate traffic alone, {:.1}s)",
        s.duration
    );
    report.baseline_legit_tps = runner
        .measure(None, &[], s.flood_blocks)?
        .map_or(0.0, |r| r.legit_tps);

    let total = s.cases.len() * 2;
    let mut n = 0;
    'outer: for count in [1, s.large] {
        let rules = prefixes::all(count);
        for &case in &s.cases {
            n += 1;
            if signals::stop_requested() {
                report.interrupted = true;
                break 'outer;
            }
            eprint!(
                "[{n:>2}/{total}] {:<34} {:>6} prefixes ... ",
                case.label(),
                count
            );
            let result = match case.tool().filter(|t| !tool_exists(t)) {
                Some(t) => Err(anyhow::anyhow!("'{t}' is not installed")),
                None => runner.measure(Some(case), &rules, s.flood_blocks),
            };
            let result = match result {
                Ok(Some(r)) => r,
                Ok(None) => {
                    report.interrupted = true;
                    eprintln!("interrupted");
                    break 'outer;
                }
                Err(e) => skipped(case, count, format!("{e:#}")),
            };
            match &result.skipped {
                Some(why) => eprintln!("skipped: {why}"),
                None => eprintln!(
                    "{:>6.0} kpps in, {:>6.0} ns/pkt, {:>7.0} legit tps{}",
                    result.received_pps / 1e3,
                    result.cpu_ns_per_packet,
                    result.legit_tps,
                    if result.other_cpu_util > 0.1 {
                        format!(
                            "  (warning: other processes used {:.0}% CPU)",
                            result.other_cpu_util * 100.0
                        )
                    } else {
                        String::new()
                    }
                ),
            }
            report.cases.push(result);
        }
    }
    stop_all.store(true, Ordering::Relaxed);
    let _ = server.join();
    Ok(report)
}

fn skipped(case: Case, prefixes: usize, why: String) -> CaseResult {
    CaseResult {
        case: case.id(),
        label: case.label(),
        prefixes,
        skipped: Some(why),
        offered_pps: 0.0,
        received_pps: 0.0,
        dropped_pps: 0.0,
        cpu_ns_per_packet: 0.0,
        receiver_cpu_util: 0.0,
        ring_lost_pps: 0.0,
        xdp_prog_ns_per_packet: None,
        legit_tps: 0.0,
        other_cpu_util: 0.0,
        setup_s: 0.0,
    }
}

struct Runner<'a> {
    topo: &'a Topology,
    s: &'a Settings,
    server: SocketAddr,
    rx_cpu: Option<usize>,
}

impl Runner<'_> {
    /// One case: `None` means legitimate traffic only (the baseline).
    /// Returns Ok(None) when interrupted.
    fn measure(
        &self,
        case: Option<Case>,
        rules: &[String],
        flood_blocks: usize,
    ) -> anyhow::Result<Option<CaseResult>> {
        let setup_start = Instant::now();
        let installed = match case {
            Some(c) => filters::install(self.topo, c, rules)?,
            None => filters::Installed::Nothing,
        };
        let setup_s = setup_start.elapsed().as_secs_f64();
        let result = self.flood_and_measure(case, &installed, flood_blocks);
        installed.remove(self.topo)?;
        let Some((a, b)) = result? else {
            return Ok(None);
        };

        let dt = (b.at - a.at).as_secs_f64();
        let received = b.rx_packets.saturating_sub(a.rx_packets);
        let napi_ns = b.napi_ns.saturating_sub(a.napi_ns);
        let case_id = case.map_or(("baseline", "legitimate traffic alone"), |c| {
            (c.id(), c.label())
        });
        Ok(Some(CaseResult {
            case: case_id.0,
            label: case_id.1,
            prefixes: rules.len(),
            skipped: None,
            offered_pps: b.sent.saturating_sub(a.sent) as f64 / dt,
            received_pps: received as f64 / dt,
            dropped_pps: b.dropped.saturating_sub(a.dropped) as f64 / dt,
            cpu_ns_per_packet: if received > 0 {
                napi_ns as f64 / received as f64
            } else {
                0.0
            },
            receiver_cpu_util: napi_ns as f64 / (dt * 1e9),
            ring_lost_pps: b.ring_lost.saturating_sub(a.ring_lost) as f64 / dt,
            xdp_prog_ns_per_packet: {
                let runs = b.prog.run_cnt.saturating_sub(a.prog.run_cnt);
                let ns = b.prog.run_time_ns.saturating_sub(a.prog.run_time_ns);
                (runs > 0).then(|| ns as f64 / runs as f64)
            },
            legit_tps: b.legit.saturating_sub(a.legit) as f64 / dt,
            other_cpu_util: {
                let busy = b.busy_ns.saturating_sub(a.busy_ns);
                let ours = b.own_ns.saturating_sub(a.own_ns) + napi_ns;
                busy.saturating_sub(ours) as f64 / (dt * 1e9)
            },
            setup_s,
        }))
    }

    fn flood_and_measure(
        &self,
        case: Option<Case>,
        installed: &filters::Installed,
        flood_blocks: usize,
    ) -> anyhow::Result<Option<(Snapshot, Snapshot)>> {
        let topo = self.topo;
        // Attaching XDP may re-create the NAPI thread: find and pin it now.
        let napi = topo
            .napi_thread()
            .context("the receiver's NAPI thread was not found")?;
        if let Some(cpu) = self.rx_cpu {
            topo::pin_to_cpu(napi, cpu);
        }
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(flood::FloodCounters::default());
        let done = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        let generators = flood::generators(self.s.rate);
        for g in 0..case.map_or(0, |_| generators) {
            let (stop, sent, dev) = (stop.clone(), sent.clone(), topo.gen_dev.clone());
            let rate = self.s.rate.map(|r| r / generators as f64);
            let dst = RX_IP.parse::<std::net::Ipv4Addr>()?.octets();
            let name = format!("bench-flood{g}");
            threads.push(spawn_in(&topo.gen_ns, &name, Some(0), move || {
                flood::run(ifindex_of(&dev)?, flood_blocks, dst, rate, stop, sent)
            })?);
        }
        for i in 0..CLIENTS {
            let (stop, done, server) = (stop.clone(), done.clone(), self.server);
            // Clients share the generator's CPU: the receiver's CPU holds only
            // its NAPI thread and the server, like a server host would.
            threads.push(spawn_in(
                &topo.gen_ns,
                &format!("bench-client{i}"),
                Some(0),
                move || legit::client(server, stop, done),
            )?);
        }
        let snap = |installed: &filters::Installed| -> anyhow::Result<Snapshot> {
            // Cheap reads first, all within microseconds of `at`; the
            // commands below take the same time at both ends of the window.
            let mut s = Snapshot {
                at: Instant::now(),
                sent: sent.sent.load(Ordering::Relaxed),
                napi_ns: thread_cpu_ns(napi).unwrap_or(0),
                legit: done.load(Ordering::Relaxed),
                busy_ns: system_busy_ns(),
                own_ns: own_cpu_ns(),
                rx_packets: 0,
                dropped: 0,
                ring_lost: 0,
                prog: installed.run_stats()?,
            };
            s.rx_packets = topo.dev_stat(&topo.rx_ns, &topo.rx_dev, "rx_packets")?;
            // veth counts frames refused by its full ring as the receiver's rx_dropped.
            s.ring_lost = topo.dev_stat(&topo.rx_ns, &topo.rx_dev, "rx_dropped")?;
            s.dropped = installed.dropped(topo)?.unwrap_or(0);
            Ok(s)
        };
        let measured = (|| {
            if !sleep_secs(self.s.warmup) {
                return Ok(None);
            }
            let a = snap(installed)?;
            if !sleep_secs(self.s.duration) {
                return Ok(None);
            }
            let b = snap(installed)?;
            Ok(Some((a, b)))
        })();
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            match t.join() {
                Ok(r) => r?,
                Err(_) => anyhow::bail!("a benchmark thread panicked"),
            }
        }
        measured
    }
}
