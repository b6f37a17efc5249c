//! `netsight ping -c HOST`: sends probes on a schedule (this thread),
//! reads replies on a second thread (whose wake-up the probe watches), and
//! joins the kernel's sightings of each probe by its id/seq.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use netsight_bpf::probes::ping::{Hit, Options, PingProbe};

use super::output::Sink;
use super::packet::{self, Entry, Family};
use super::record::Record;
use super::socket::{gettid, mono_ns, own_netns, RawIcmp};
use super::stages::{compute, Baselines, HostView, Sample};
use super::stats::RunStats;
use super::svg::Chart;
use super::Mode;
use crate::signals;

pub struct ClientConfig {
    pub target: IpAddr,
    pub count: Option<u64>,
    pub interval: Duration,
    pub duration: Option<Duration>,
    pub payload: usize,
    pub mode: Mode,
    pub maxdelay_us: Option<f64>,
    pub nslocal: bool,
    pub namespace: bool,
}

/// How long to wait for the server's reply after the kernel's.
const COMPACT_WAIT: Duration = Duration::from_millis(200);
/// Sightings kept per probe for `-n` (a probe crosses a few devices; a
/// flood of forged probes with our id must not grow memory).
const MAX_PATH: usize = 256;
/// In auto mode, this many missing server replies in a row mean no server.
const AUTO_MISSES: u32 = 3;

enum Rx {
    Reply {
        seq: u32,
        at_ns: u64,
    },
    Compact {
        seq: u32,
        entries: Vec<Entry>,
        userid: u16,
    },
}

struct Inflight {
    sample: Sample,
    wall: SystemTime,
    sent: Instant,
    replied: Option<Instant>,
    compact: bool,
    path: Vec<Hit>,
    remote_userid: Option<u16>,
}

/// Reads replies for `id` from `target` until told to stop.
fn receiver(
    sock: Arc<RawIcmp>,
    family: Family,
    target: IpAddr,
    id: u32,
    tx: mpsc::Sender<Rx>,
    stop: Arc<AtomicBool>,
    tid: mpsc::Sender<u32>,
) {
    let _ = tid.send(gettid());
    let mut buf = vec![0u8; 65_536];
    while !stop.load(Ordering::Relaxed) {
        let (n, src) = match sock.recv(&mut buf, Duration::from_millis(50)) {
            Ok(Some(got)) => got,
            Ok(None) => continue,
            Err(_) => break,
        };
        let at_ns = mono_ns();
        let Some(p) = packet::parse_datagram(&buf[..n], family) else {
            continue;
        };
        if src != target || p.id != id || !p.reply {
            continue;
        }
        let msg = if p.compact {
            Rx::Compact {
                seq: p.seq,
                entries: p.entries,
                userid: p.userid,
            }
        } else {
            Rx::Reply { seq: p.seq, at_ns }
        };
        if tx.send(msg).is_err() {
            break;
        }
    }
}

fn random_id() -> u32 {
    let mut b = [0u8; 4];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_err()
    {
        b = (mono_ns() as u32 ^ std::process::id()).to_ne_bytes();
    }
    u32::from_ne_bytes(b)
}

pub fn run(
    cfg: &ClientConfig,
    sink: &mut Sink,
    chart: &mut Option<Chart>,
) -> anyhow::Result<RunStats> {
    let family = match cfg.target {
        IpAddr::V4(_) => Family::V4,
        IpAddr::V6(_) => Family::V6,
    };
    let sock = Arc::new(
        RawIcmp::open(family, family.reply_type())
            .context("opening a raw ICMP socket (needs root or CAP_NET_RAW)")?,
    );
    let id = random_id();
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let (tid_tx, tid_rx) = mpsc::channel();
    let reader = {
        let (sock, stop) = (Arc::clone(&sock), Arc::clone(&stop));
        let target = cfg.target;
        std::thread::Builder::new()
            .name("ns-ping-rx".into())
            .spawn(move || receiver(sock, family, target, id, tx, stop, tid_tx))?
    };
    let rx_tid = tid_rx.recv_timeout(Duration::from_secs(5)).unwrap_or(0);
    let netns = own_netns();
    let probe = PingProbe::load(&Options {
        client_tid: rx_tid,
        client_netns: netns,
        gated: true,
        no_softirq: false,
    });
    let result = probe
        .context("loading the ping probe")
        .and_then(|mut probe| {
            for r in probe.refused() {
                eprintln!(
                    "netsight: {} {}: the stages it bounds are not seen",
                    r.program, r.reason
                );
            }
            schedule(cfg, family, &sock, id, netns, &mut probe, &rx, sink, chart)
        });
    stop.store(true, Ordering::Relaxed);
    let _ = reader.join();
    result
}

#[allow(clippy::too_many_arguments)]
fn schedule(
    cfg: &ClientConfig,
    family: Family,
    sock: &RawIcmp,
    id: u32,
    netns: u32,
    probe: &mut PingProbe,
    rx: &mpsc::Receiver<Rx>,
    sink: &mut Sink,
    chart: &mut Option<Chart>,
) -> anyhow::Result<RunStats> {
    let mut stats = RunStats::default();
    let mut baselines = Baselines::default();
    let mut inflight: BTreeMap<u32, Inflight> = BTreeMap::new();
    let timeout = cfg.interval.max(Duration::from_secs(1));
    let start = Instant::now();
    let mut next_send = start;
    let mut seq: u32 = 0;
    let mut use_compact = cfg.mode != Mode::Pingpong && !(cfg.nslocal && cfg.mode == Mode::Auto);
    let mut misses = 0u32;
    loop {
        let now = Instant::now();
        let more = !signals::stop_requested()
            && cfg.count.is_none_or(|c| u64::from(seq) < c)
            && cfg.duration.is_none_or(|d| now - start < d);
        if !more && inflight.is_empty() {
            break;
        }
        if signals::stop_requested() && inflight.values().all(|f| f.replied.is_none()) {
            // Interrupted: probes still on their way are neither sent nor lost.
            stats.sent -= inflight.len() as u64;
            break;
        }
        if more && now >= next_send {
            seq = seq.wrapping_add(1);
            let msg = packet::echo(id, seq, cfg.payload, family);
            let f = Inflight {
                sample: Sample::default(),
                wall: SystemTime::now(),
                sent: now,
                replied: None,
                compact: false,
                path: Vec::new(),
                remote_userid: None,
            };
            inflight.insert(seq, f);
            probe.set_armed(true);
            if let Some(f) = inflight.get_mut(&seq) {
                f.sample.user_tx = mono_ns();
            }
            sock.send_to(&msg, cfg.target).context("sending a probe")?;
            stats.sent += 1;
            next_send += cfg.interval;
            if next_send < now {
                next_send = now;
            }
        }
        // Replies first: their kernel sightings are in the ring by then.
        let wait = next_send
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(5));
        if let Ok(first) = rx.recv_timeout(wait) {
            let mut msgs = vec![first];
            msgs.extend(rx.try_iter());
            for m in msgs {
                match m {
                    Rx::Reply { seq, at_ns } => {
                        if let Some(f) = inflight.get_mut(&seq) {
                            if f.replied.is_none() {
                                f.replied = Some(Instant::now());
                                f.sample.user_rx = Some(at_ns);
                                stats.replied += 1;
                            }
                        }
                    }
                    Rx::Compact {
                        seq,
                        entries,
                        userid,
                    } => {
                        if cfg.mode == Mode::Pingpong {
                            continue;
                        }
                        misses = 0;
                        use_compact = true;
                        if let Some(f) = inflight.get_mut(&seq) {
                            let mut view = HostView::default();
                            for e in entries {
                                view.of(e.kind).first(e.point, e.ts_ns);
                            }
                            f.sample.remote = Some(view);
                            f.compact = true;
                            f.remote_userid = Some(userid);
                        }
                    }
                }
            }
        }
        for h in probe.poll(Duration::ZERO)? {
            if h.id != id {
                continue;
            }
            let Some(f) = inflight.get_mut(&h.seq) else {
                continue;
            };
            if cfg.namespace && f.path.len() < MAX_PATH {
                f.path.push(h);
            }
            if h.netns == netns {
                f.sample.local.of(h.kind).first(h.point, h.ts_ns);
            } else if cfg.nslocal && !f.compact {
                let view = f.sample.remote.get_or_insert_with(HostView::default);
                view.of(h.kind).first(h.point, h.ts_ns);
            }
        }
        let now = Instant::now();
        let done: Vec<u32> = inflight
            .iter()
            .filter(|(_, f)| match f.replied {
                None => now - f.sent >= timeout,
                Some(at) => !use_compact || f.compact || now - at >= COMPACT_WAIT,
            })
            .map(|(s, _)| *s)
            .collect();
        for s in done {
            let Some(mut f) = inflight.remove(&s) else {
                continue;
            };
            if f.replied.is_none() {
                sink.lost(s)?;
                if let Some(c) = chart.as_mut() {
                    c.lost(s);
                }
                continue;
            }
            if use_compact && !f.compact && !cfg.nslocal {
                misses += 1;
                if cfg.mode == Mode::Auto && misses >= AUTO_MISSES {
                    use_compact = false;
                }
            }
            let mut values = compute(&f.sample);
            baselines.apply(&mut values);
            stats.add(&values);
            f.path.sort_by_key(|h| h.ts_ns);
            if cfg.namespace {
                stats.hops.add(&super::hops::visits(&f.path));
            }
            let rec = Record {
                seq: s,
                wall: f.wall,
                values,
                path: cfg.namespace.then_some(f.path),
                remote_userid: f.remote_userid,
            };
            if let Some(c) = chart.as_mut() {
                c.add(&rec);
            }
            if cfg
                .maxdelay_us
                .is_none_or(|m| rec.total().is_some_and(|t| t > m))
            {
                sink.probe(&rec)?;
            }
        }
        if inflight.is_empty() {
            probe.set_armed(false);
        }
        sink.tick(&stats)?;
    }
    let lost = probe.losses();
    if lost > 0 {
        eprintln!("netsight: {lost} kernel sightings lost (ring buffer full, or runs the kernel skipped): some stages unseen");
    }
    Ok(stats)
}
