//! A tracer's state (seeds/001's `SK_TRACE_STATS`, `tracer show` and
//! `socktrace show` in one snapshot), and the live counters it is made from.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use netsight_bpf::probes::socktrace::{Hook, KernelCounters, MapUsage, Muter, ProgramRuns};
use netsight_l7::Protocol;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Running,
    Stopped,
}

/// A program of the tracer: in use or not, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HookStatus {
    pub tracepoint: String,
    pub program: String,
    pub on: bool,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MapStatus {
    pub used: u64,
    pub max: u64,
}

/// One program's runs (run time zero unless kernel.bpf_stats_enabled is
/// on), and the runs the kernel skipped because the program was already
/// running on that CPU (each one a read or write not captured).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramStatus {
    pub program: String,
    pub runs: u64,
    pub run_time_ns: u64,
    #[serde(default)]
    pub skipped: u64,
}

/// One worker's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStatus {
    pub enqueued: u64,
    pub dequeued: u64,
    pub lost: u64,
    pub capacity: u64,
}

/// What the kernel side saw but did not capture (cumulative).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uncaptured {
    /// MSG_PEEK reads, skipped.
    pub peek_reads: u64,
    pub sendfile_calls: u64,
    pub sendfile_bytes: u64,
    pub splice_calls: u64,
    pub splice_bytes: u64,
    /// Socket I/O done by io_uring: not seen by this tracer.
    pub io_uring_calls: u64,
    pub io_uring_bytes: u64,
    /// Kernel sockets, 32-bit syscalls, other syscalls.
    pub other_calls: u64,
    pub other_bytes: u64,
    /// Records sent with no payload because the user buffer was unreadable.
    pub payload_unreadable: u64,
    /// sendmmsg/recvmmsg messages whose buffer could not be located.
    pub mmsg_unlocated: u64,
    /// Close notices lost (ring full): not data; pending requests of those
    /// sockets end by timeout instead.
    pub close_notices_lost: u64,
}

/// What the L7 side saw but could not make records of (cumulative, every
/// worker): traffic of no protocol the parsers know, and state given up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct L7Unparsed {
    /// Sockets given up on: no known protocol in their first segments.
    pub sockets_unknown: u64,
    /// Bytes moved on sockets of unknown protocol (still detecting, or
    /// given up): seen, counted, not parsed.
    pub bytes_undetected: u64,
    /// Sockets evicted to keep L7 state within its budget (their pending
    /// requests were reported incomplete).
    pub sockets_evicted: u64,
    /// Gaps in a socket's `cap_seq`: records lost before the parsers.
    pub seq_gaps: u64,
    /// Reads and writes on sockets given up on, once muted in the kernel
    /// (L7 records only: no one wants their bytes): counted there, not
    /// captured. Their bytes are not in `bytes_undetected`.
    pub muted_calls: u64,
    pub muted_bytes: u64,
}

/// A tracer's state, as `netsight sock status --json` prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub pid: u32,
    pub name: String,
    pub state: State,
    pub hooks: Vec<HookStatus>,
    pub programs: Vec<ProgramStatus>,
    pub payload_bytes: u32,
    pub ring_bytes: u32,
    /// Records lost in the kernel: the ring buffer was full, or the kernel
    /// skipped a program's run (`skipped_runs` of them).
    pub kernel_lost: u64,
    #[serde(default)]
    pub skipped_runs: u64,
    /// Records dropped in user space (a worker queue full).
    pub user_lost: u64,
    pub socket_map: MapStatus,
    pub trace_map: MapStatus,
    /// Sockets or threads that got no kernel state (map update failed).
    pub map_full: u64,
    pub uncaptured: Uncaptured,
    pub workers: Vec<WorkerStatus>,
    pub data_records: u64,
    pub l7_records: u64,
    /// L7 records delivered, per protocol.
    pub protocols: BTreeMap<String, u64>,
    #[serde(default)]
    pub l7_unparsed: L7Unparsed,
}

/// One worker's live counters.
#[derive(Debug, Default)]
pub(crate) struct WorkerCounters {
    pub enqueued: AtomicU64,
    pub dequeued: AtomicU64,
    pub lost: AtomicU64,
}

/// One parser's [`L7Unparsed`] counters, published after every batch.
#[derive(Debug, Default)]
pub(crate) struct L7Counters {
    pub sockets_unknown: AtomicU64,
    pub bytes_undetected: AtomicU64,
    pub sockets_evicted: AtomicU64,
    pub seq_gaps: AtomicU64,
}

impl L7Counters {
    pub fn publish(&self, t: &netsight_l7::TrackerStats) {
        self.sockets_unknown
            .store(t.sockets_unknown, Ordering::Relaxed);
        self.bytes_undetected
            .store(t.bytes_undetected, Ordering::Relaxed);
        self.sockets_evicted
            .store(t.sockets_evicted, Ordering::Relaxed);
        // The worker reports each gap it finds itself (Tracker::lost).
        self.seq_gaps
            .store(t.seq_gaps + t.losses_reported, Ordering::Relaxed);
    }
}

/// What the kernel side last reported (refreshed by the poll thread).
#[derive(Debug, Default)]
pub(crate) struct KernelView {
    pub hooks: Vec<Hook>,
    pub counters: KernelCounters,
    pub maps: MapUsage,
    pub costs: Vec<ProgramRuns>,
}

/// Counters shared by the poll thread, the workers and status readers.
#[derive(Debug)]
pub(crate) struct Shared {
    pub name: String,
    pub payload_bytes: u32,
    pub ring_bytes: u32,
    pub capacity: u64,
    pub running: AtomicBool,
    pub workers: Vec<WorkerCounters>,
    pub data_records: AtomicU64,
    pub l7_records: AtomicU64,
    /// L7 records per protocol, in [`Protocol::ALL`] order (an atomic
    /// each: counted on every record, no lock).
    pub protocols: [AtomicU64; Protocol::ALL.len()],
    /// Per parser: one per worker, or the ring reader's (`--workers 0`).
    pub l7: Vec<L7Counters>,
    /// Set once the probe is loaded, when sockets given up on are muted.
    pub muter: OnceLock<Muter>,
    pub kernel: Mutex<KernelView>,
}

impl Shared {
    pub fn new(cfg: &crate::Config) -> Self {
        Shared {
            name: cfg.name.clone(),
            payload_bytes: cfg.payload_bytes,
            ring_bytes: cfg.ring_bytes,
            capacity: cfg.queue_capacity as u64,
            running: AtomicBool::new(true),
            workers: (0..cfg.workers)
                .map(|_| WorkerCounters::default())
                .collect(),
            data_records: AtomicU64::new(0),
            l7_records: AtomicU64::new(0),
            protocols: Default::default(),
            l7: (0..cfg.workers.max(1))
                .map(|_| L7Counters::default())
                .collect(),
            muter: OnceLock::new(),
            kernel: Mutex::new(KernelView::default()),
        }
    }

    pub fn count_l7(&self, protocol: Protocol) {
        self.l7_records.fetch_add(1, Ordering::Relaxed);
        if let Some(i) = Protocol::ALL.iter().position(|p| *p == protocol) {
            self.protocols[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Every parser's counters, and the kernel's for muted sockets.
    fn l7_unparsed(&self, kernel: &KernelCounters) -> L7Unparsed {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut u = L7Unparsed {
            muted_calls: kernel.muted_calls,
            muted_bytes: kernel.muted_bytes,
            ..L7Unparsed::default()
        };
        for c in &self.l7 {
            u.sockets_unknown += load(&c.sockets_unknown);
            u.bytes_undetected += load(&c.bytes_undetected);
            u.sockets_evicted += load(&c.sockets_evicted);
            u.seq_gaps += load(&c.seq_gaps);
        }
        u
    }

    /// Runs the kernel skipped, as of the last refresh of the programs.
    pub fn skipped_runs(&self) -> u64 {
        self.kernel
            .lock()
            .map_or(0, |k| k.costs.iter().map(|p| p.skipped).sum())
    }

    pub fn user_lost(&self) -> u64 {
        self.workers
            .iter()
            .map(|w| w.lost.load(Ordering::Relaxed))
            .sum()
    }

    pub fn snapshot(&self) -> Status {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let workers = self
            .workers
            .iter()
            .map(|w| WorkerStatus {
                enqueued: load(&w.enqueued),
                dequeued: load(&w.dequeued),
                lost: load(&w.lost),
                capacity: self.capacity,
            })
            .collect();
        let protocols = Protocol::ALL
            .iter()
            .zip(&self.protocols)
            .map(|(p, n)| (p.name().to_string(), load(n)))
            .filter(|(_, n)| *n > 0)
            .collect();
        let (hooks, c, m, costs) = match self.kernel.lock() {
            Ok(k) => (k.hooks.clone(), k.counters, k.maps, k.costs.clone()),
            Err(_) => Default::default(),
        };
        let skipped_runs = costs.iter().map(|p| p.skipped).sum::<u64>();
        Status {
            pid: std::process::id(),
            name: self.name.clone(),
            state: if self.running.load(Ordering::Relaxed) {
                State::Running
            } else {
                State::Stopped
            },
            hooks: hooks
                .iter()
                .map(|h| HookStatus {
                    tracepoint: h.tracepoint.into(),
                    program: h.name.into(),
                    on: h.on,
                    reason: h.reason.clone(),
                })
                .collect(),
            programs: costs
                .into_iter()
                .map(|c| ProgramStatus {
                    program: c.name,
                    runs: c.run_cnt,
                    run_time_ns: c.run_time_ns,
                    skipped: c.skipped,
                })
                .collect(),
            payload_bytes: self.payload_bytes,
            ring_bytes: self.ring_bytes,
            kernel_lost: c.ringbuf_full + skipped_runs,
            skipped_runs,
            user_lost: self.user_lost(),
            socket_map: MapStatus {
                used: m.sockets_used,
                max: m.sockets_max,
            },
            trace_map: MapStatus {
                used: m.traces_used,
                max: m.traces_max,
            },
            map_full: c.socket_map_full + c.trace_map_full,
            uncaptured: Uncaptured {
                peek_reads: c.peek_skipped,
                sendfile_calls: c.sendfile_calls,
                sendfile_bytes: c.sendfile_bytes,
                splice_calls: c.splice_calls,
                splice_bytes: c.splice_bytes,
                io_uring_calls: c.io_uring_calls,
                io_uring_bytes: c.io_uring_bytes,
                other_calls: c.other_calls,
                other_bytes: c.other_bytes,
                payload_unreadable: c.read_user_failed,
                mmsg_unlocated: c.mmsg_unmatched,
                close_notices_lost: c.close_lost,
            },
            workers,
            data_records: load(&self.data_records),
            l7_records: load(&self.l7_records),
            protocols,
            l7_unparsed: self.l7_unparsed(&c),
        }
    }
}
