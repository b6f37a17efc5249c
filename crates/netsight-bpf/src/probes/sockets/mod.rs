//! The sockets probe: socket ownership, per-process TCP/UDP metrics
//! (SPEC §3) drained once per interval, and socket/packet events (SPEC §5).
//!
//! Kernel side: sockets.bpf.c. Counters go to one of two maps chosen by
//! `epoch`; [`SocketProbe::drain`] flips the epoch, lets in-flight programs
//! finish, then empties the map that is no longer written, so every increment
//! lands in exactly one interval. Gauges come from a socket iterator run at
//! the same moment.

mod facts;
mod gauges;
mod plan;
mod raw;

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, OpenObject, RingBuffer, RingBufferBuilder};
use netsight_events::event::{EventKind, SockEvent};
use netsight_events::process::{
    self, ProcCounters, ProcIdentity, Protocol, SocketIo, SocketSnapshot,
};

use crate::ksyms::Ksyms;
use crate::loader::{self, Error};
use crate::mapped::MappedU64s;
pub use facts::kernel_preempts;
pub use gauges::GaugePath;
pub use plan::{IoHooks, Missing};

/// Programs that count send/recv bytes: refusing all of one kind's
/// leaves I/O uncounted unless the other kind loads.
const IO_PROGRAMS: [&str; 6] = [
    "on_send",
    "on_recv",
    "on_inet_sendmsg",
    "on_inet6_sendmsg",
    "on_inet_recvmsg",
    "on_inet6_recvmsg",
];

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    unused_imports
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/sockets.skel.rs"));
}
use skel::{SocketsSkel, SocketsSkelBuilder};

/// Time for programs that read the old epoch to finish. They run with
/// preemption disabled and take microseconds; this is a wide margin.
const EPOCH_GRACE: Duration = Duration::from_millis(3);
const BATCH: u32 = 256;

/// What one interval produced.
#[derive(Debug, Default)]
pub struct Drain {
    pub counters: Vec<(ProcIdentity, ProcCounters)>,
    pub sockets: Vec<SocketSnapshot>,
    /// Events the kernel side could not record, since load (cumulative).
    pub kernel_losses: u64,
}

/// What to load besides the per-process metrics.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Trace accept()/accept4() returns, which names the accepting process
    /// at the moment of accept. Off for metrics: any syscall tracepoint puts
    /// every syscall of the host on the slow path, and the first use of an
    /// accepted socket names the same process.
    pub accept_syscalls: bool,
    /// Event kinds sent to user space (none: metrics only).
    pub events: Vec<EventKind>,
    /// Where send/recv bytes are counted.
    pub io: IoHooks,
    /// Programs to do without even if the kernel takes them (selftest uses
    /// this to load every gauge path), besides `--refuse`.
    pub refuse: Vec<String>,
}

/// The loaded and attached per-process probe.
pub struct SocketProbe {
    skel: SocketsSkel<'static>,
    _links: Vec<Link>,
    gauges: gauges::Gauges,
    /// The iterator's output, reused every interval.
    snapshot_buf: Vec<u8>,
    epoch: u32,
    /// I/O calls found on sockets without an owner (cumulative).
    orphaned_io: u64,
    ring: Option<RingBuffer<'static>>,
    received: Rc<RefCell<Vec<SockEvent>>>,
    missing: Vec<Missing>,
    io: Option<IoHooks>,
    /// The I/O cache, read in place (sockets.bpf.c: io_cache).
    io_cache: IoCache,
}

/// The I/O cache seen from user space: every CPU's slots of both halves,
/// mapped once.
struct IoCache {
    words: MappedU64s,
    /// Slots per half (every CPU's).
    half: usize,
    /// u64 words per slot.
    slot_words: usize,
}

impl IoCache {
    fn map(map: &libbpf_rs::Map<'_>) -> Result<IoCache, Error> {
        let err = |source: libbpf_rs::Error| Error::Map {
            map: "io_cache",
            source,
        };
        let handle = MapHandle::try_from(map).map_err(err)?;
        let slots = map.max_entries() as usize;
        let slot_words = map.value_size() as usize / 8;
        let words = MappedU64s::map(&handle, slots * slot_words).map_err(|e| err(e.into()))?;
        Ok(IoCache {
            words,
            half: slots / 2,
            slot_words,
        })
    }

    /// The counts interval `gen` left in its half: the programs write that
    /// half no more once the epoch has moved on.
    fn take(&self, gen: u32) -> Vec<(ProcIdentity, SocketIo, Protocol)> {
        let start = (gen & 1) as usize * self.half;
        let words = self.words.values();
        let mut bytes = vec![0u8; self.slot_words * 8];
        let mut out = Vec::new();
        for slot in start..start + self.half {
            let at = slot * self.slot_words;
            for (i, w) in words[at..at + self.slot_words].iter().enumerate() {
                bytes[i * 8..i * 8 + 8].copy_from_slice(&w.load(Ordering::Relaxed).to_ne_bytes());
            }
            out.extend(raw::io_slot(&bytes, gen));
        }
        out
    }
}

/// skb_drop_reason numbers of this kernel for the names the programs test.
fn drop_reason(reasons: &[(String, i64)], name: &str, default: u32) -> u32 {
    reasons
        .iter()
        .find(|(n, _)| n == name)
        .map_or(default, |(_, v)| *v as u32)
}

/// The socket iterators, in the order they are tried: the storage-map
/// iterator, the task-file iterator, else the per-namespace pair.
const STORAGE_ITER: &str = "dump_sockets";
const FILES_ITER: &str = "dump_files";
const NETNS_ITERS: [&str; 2] = ["dump_tcp", "dump_udp"];

/// Every program of the object, for load by trial.
fn all_programs() -> Vec<&'static str> {
    let mut all: Vec<&str> = plan::PROGRAMS.iter().map(|(n, _)| *n).collect();
    all.extend([STORAGE_ITER, FILES_ITER]);
    all.extend(NETNS_ITERS);
    all
}

/// Every program name the sockets probe has (for validating `--refuse`).
pub fn program_names() -> Vec<&'static str> {
    all_programs()
}

fn is_refused(refused: &[loader::Refused], program: &str) -> bool {
    refused.iter().any(|r| r.program == program)
}

/// What one successful attempt produced.
struct Attempt {
    skel: SocketsSkel<'static>,
    links: Vec<Link>,
    gauges: gauges::Gauges,
}

impl SocketProbe {
    /// Opens, loads and attaches the programs `opts` asks for, by trial: a
    /// program the kernel refuses is dropped (with the features that need
    /// it) and the rest loaded again. Needs root.
    pub fn load(opts: &Options) -> Result<Self, Error> {
        loader::init();
        let syn_consumer = if opts.events.contains(&EventKind::Overflow) {
            Ksyms::load().range("tcp_rcv_state_process")
        } else {
            None
        };
        let kernel = facts::RunningKernel::new();
        let plan = plan::plan(&kernel, opts, syn_consumer.is_some());
        let (attempt, refused) = loader::load_by_trial(&all_programs(), &opts.refuse, |refused| {
            Self::attempt(opts, &plan, &kernel, syn_consumer, refused)
        })?;
        // A program the user refused counts only if this run would have
        // loaded it (the second iterator pair only once the first is gone).
        let storage_gone = is_refused(&refused, STORAGE_ITER);
        let files_gone = storage_gone && is_refused(&refused, FILES_ITER);
        let would_load = |p: &str| {
            p == STORAGE_ITER
                || (p == FILES_ITER && storage_gone)
                || (NETNS_ITERS.contains(&p) && files_gone)
                || plan.load.iter().any(|(n, on)| *n == p && *on)
        };
        let refused: Vec<loader::Refused> = refused
            .into_iter()
            .filter(|r| would_load(&r.program))
            .collect();
        let mut missing = plan.missing;
        // I/O goes uncounted only if every program that would count it was refused.
        let io = plan.io.filter(|_| {
            plan.load
                .iter()
                .any(|(p, on)| *on && IO_PROGRAMS.contains(p) && !is_refused(&refused, p))
        });
        for r in &refused {
            let program = all_programs()
                .into_iter()
                .find(|p| *p == r.program)
                .unwrap_or("?");
            missing.push(Missing {
                program,
                reason: r.reason.clone(),
                replaced_by: plan::replacement(program, &refused).map(String::from),
                refused: true,
            });
        }
        let io_cache = IoCache::map(&attempt.skel.maps.io_cache)?;
        let received = Rc::new(RefCell::new(Vec::new()));
        let ring = if opts.events.is_empty() {
            None
        } else {
            let sink = Rc::clone(&received);
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&attempt.skel.maps.events, move |data: &[u8]| {
                    if let Some(e) = raw::event(data) {
                        sink.borrow_mut().push(e);
                    }
                    0
                })
                .map_err(|source| Error::Map {
                    map: "events",
                    source,
                })?;
            Some(builder.build().map_err(|source| Error::Map {
                map: "events",
                source,
            })?)
        };
        Ok(SocketProbe {
            skel: attempt.skel,
            _links: attempt.links,
            gauges: attempt.gauges,
            snapshot_buf: Vec::new(),
            epoch: 0,
            orphaned_io: 0,
            ring,
            received,
            missing,
            io,
            io_cache,
        })
    }

    /// One try: everything the plan wants but what was refused so far.
    fn attempt(
        opts: &Options,
        plan: &plan::Plan,
        kernel: &facts::RunningKernel,
        syn_consumer: Option<(u64, u64)>,
        refused: &[loader::Refused],
    ) -> Result<Attempt, Error> {
        // The skeleton borrows its object for its whole life; netsight loads
        // a probe a few times per run at most, so leaking this small
        // allocation is simplest.
        let object: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut builder = SocketsSkelBuilder::default();
        loader::use_custom_btf(&mut builder, "sockets")?;
        let mut open = builder.open(object).map_err(|source| Error::Open {
            object: "sockets",
            source,
        })?;
        let path = if !is_refused(refused, STORAGE_ITER) {
            GaugePath::StorageMap
        } else if !is_refused(refused, FILES_ITER) {
            GaugePath::TaskFiles
        } else if NETNS_ITERS.iter().any(|p| !is_refused(refused, p)) {
            GaugePath::PerNetns
        } else {
            GaugePath::None
        };
        for mut prog in open.open_object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let on = if name == STORAGE_ITER {
                path == GaugePath::StorageMap
            } else if name == FILES_ITER {
                path == GaugePath::TaskFiles
            } else if NETNS_ITERS.contains(&name.as_str()) {
                path == GaugePath::PerNetns
            } else {
                plan.load
                    .iter()
                    .find(|(n, _)| *n == name)
                    .is_some_and(|(_, on)| *on)
            };
            prog.set_autoload(on && !is_refused(refused, &name));
            if name == STORAGE_ITER || name == FILES_ITER || NETNS_ITERS.contains(&name.as_str()) {
                prog.set_autoattach(false);
            }
        }
        // Each CPU its own slots (IO_CACHE_SLOTS per half, as compiled).
        let cpus = libbpf_rs::num_possible_cpus().map_err(|source| Error::Map {
            map: "io_cache",
            source,
        })? as u32;
        let io_slots = open.maps.io_cache.max_entries() * cpus;
        open.maps
            .io_cache
            .set_max_entries(io_slots)
            .map_err(|source| Error::Map {
                map: "io_cache",
                source,
            })?;
        if opts.events.is_empty() {
            // The smallest ring buffer the kernel accepts: nothing uses it.
            open.maps
                .events
                .set_max_entries(4096)
                .map_err(|source| Error::Map {
                    map: "events",
                    source,
                })?;
        }
        if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
            rodata.retransmit_has_err = retransmit_has_err();
            rodata.kfree_skb_has_rx_sk = kernel.arity("kfree_skb") >= Some(4);
            rodata.event_mask = opts.events.iter().fold(0, |m, k| m | 1 << event_number(*k));
            // Close events carry each socket's own byte totals: every call
            // must reach the socket's storage then.
            // The cache's slots are written without atomics by programs
            // that must not interleave on a CPU: fexit programs do where
            // the kernel preempts them.
            let preemptible = plan.io == Some(IoHooks::Fexit) && facts::kernel_preempts();
            rodata.use_io_cache = !(opts.events.contains(&EventKind::Close) || preemptible);
            rodata.io_cpus = cpus;
            if let Some(hz) = facts::config_hz() {
                rodata.rtt_sample_jiffies = (hz / 10).max(1);
            }
            let reasons = crate::btf::enum_values("skb_drop_reason");
            rodata.drop_reason_consumed = drop_reason(&reasons, "SKB_CONSUMED", 1);
            rodata.drop_reason_listen_overflow =
                drop_reason(&reasons, "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW", u32::MAX);
            if let Some((lo, hi)) = syn_consumer {
                rodata.syn_consumer_lo = lo;
                rodata.syn_consumer_hi = hi;
            }
            rodata.track_netns = path == GaugePath::PerNetns;
            // Pending I/O is folded by the iterators and at close (on_state):
            // without either, each call is charged as it happens.
            let loads =
                |p: &str| !is_refused(refused, p) && plan.load.iter().any(|(n, on)| *n == p && *on);
            rodata.io_direct = path == GaugePath::None || !loads("on_state");
            // Without deaths counted, the cache asks the kernel who calls.
            rodata.caller_by_stack = rodata.use_io_cache && loads("on_task_exit");
        }
        loader::take_log();
        let mut skel = open.load().map_err(|source| Error::Load {
            object: "sockets",
            source,
            log: loader::take_log(),
        })?;
        let mut manual = vec![STORAGE_ITER, FILES_ITER];
        manual.extend(NETNS_ITERS);
        manual.extend(plan.load.iter().filter(|(_, on)| !on).map(|(n, _)| *n));
        manual.extend(refused.iter().map(|r| r.program.as_str()));
        let links = loader::attach_all(skel.object_mut(), &manual)?;
        let gauges = match path {
            GaugePath::StorageMap => gauges::Gauges::StorageMap(
                skel.progs
                    .dump_sockets
                    .attach_iter(skel.maps.sk_states.as_fd())
                    .map_err(|source| Error::Attach {
                        program: STORAGE_ITER.into(),
                        source,
                        log: loader::take_log(),
                    })?,
            ),
            GaugePath::TaskFiles => {
                gauges::Gauges::TaskFiles(skel.progs.dump_files.attach().map_err(|source| {
                    Error::Attach {
                        program: FILES_ITER.into(),
                        source,
                        log: loader::take_log(),
                    }
                })?)
            }
            GaugePath::PerNetns => {
                let attach = |prog: &mut libbpf_rs::ProgramMut, name: &str| {
                    if is_refused(refused, name) {
                        return Ok(None);
                    }
                    prog.attach().map(Some).map_err(|source| Error::Attach {
                        program: name.into(),
                        source,
                        log: loader::take_log(),
                    })
                };
                let tcp = attach(&mut skel.progs.dump_tcp, "dump_tcp")?;
                let udp = attach(&mut skel.progs.dump_udp, "dump_udp")?;
                let tracked =
                    MapHandle::try_from(&skel.maps.tracked_netns).map_err(|source| Error::Map {
                        map: "tracked_netns",
                        source,
                    })?;
                gauges::Gauges::PerNetns(gauges::PerNetns::new(tcp, udp, tracked)?)
            }
            GaugePath::None => gauges::Gauges::None,
        };
        Ok(Attempt {
            skel,
            links,
            gauges,
        })
    }

    /// How the interval's gauges are taken here.
    pub fn gauge_path(&self) -> GaugePath {
        self.gauges.path()
    }

    /// Programs the options wanted that this kernel cannot run, and why.
    pub fn missing(&self) -> &[Missing] {
        &self.missing
    }

    /// Where send/recv bytes are counted here (`None`: nowhere).
    pub fn io_hooks(&self) -> Option<IoHooks> {
        self.io
    }

    /// Waits up to `timeout` for events and returns those that arrived.
    pub fn poll_events(&mut self, timeout: Duration) -> Result<Vec<SockEvent>, Error> {
        if let Some(ring) = &self.ring {
            // A signal (the user's Ctrl-C) interrupts the wait: not an error.
            if let Err(source) = ring.poll(timeout) {
                if source.kind() != libbpf_rs::ErrorKind::Interrupted {
                    return Err(Error::Map {
                        map: "events",
                        source,
                    });
                }
            }
        } else {
            std::thread::sleep(timeout);
        }
        Ok(std::mem::take(&mut *self.received.borrow_mut()))
    }

    /// Events the kernel side could not record, since load.
    pub fn losses(&self) -> u64 {
        self.kernel_losses() + self.orphaned_io
    }

    /// Ends the current interval: its counters, the open sockets now, and
    /// the kernel-side loss count.
    pub fn drain(&mut self) -> Result<Drain, Error> {
        // A counter, not a bit: the I/O cache tells this interval's slots
        // from those of two intervals ago by it.
        let old = self.epoch;
        self.epoch = old.wrapping_add(1);
        self.set_epoch(self.epoch);
        std::thread::sleep(EPOCH_GRACE);
        let map = if old & 1 == 1 {
            &self.skel.maps.stats_b
        } else {
            &self.skel.maps.stats_a
        };
        let mut counters = drain_map(map)?;
        let cached = self.io_cache.take(old);
        process::merge_owned_io(&mut counters, cached.iter().map(|(o, io, p)| (o, *io, *p)));
        let sockets = self.sockets()?;
        self.orphaned_io += process::merge_socket_io(&mut counters, &sockets);
        Ok(Drain {
            counters,
            sockets,
            kernel_losses: self.kernel_losses() + self.orphaned_io,
        })
    }

    fn set_epoch(&mut self, epoch: u32) {
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            // SAFETY: `epoch` is a u32 in the BPF object's mmap'ed .bss, valid
            // for the skeleton's life; BPF programs read it concurrently, so the
            // write must not be elided or torn (an aligned u32 store is atomic).
            unsafe { std::ptr::write_volatile(&mut bss.epoch, epoch) };
        }
        std::sync::atomic::fence(std::sync::atomic::Ordering::SeqCst);
    }

    /// What the kernel side could not record, and the runs the kernel
    /// skipped (each a send, receive or event not counted).
    fn kernel_losses(&self) -> u64 {
        let recorded = self.skel.maps.bss_data.as_deref().map_or(0, |bss| {
            // SAFETY: plain u64s in the mmap'ed .bss that BPF updates with
            // atomic adds; a volatile aligned read sees a whole value.
            let l = unsafe { std::ptr::read_volatile(&bss.losses) };
            l.stats_map_full + l.accepted_map_full + l.ringbuf_full
        });
        recorded + crate::prog_runs::skipped(self.skel.object())
    }

    fn sockets(&mut self) -> Result<Vec<SocketSnapshot>, Error> {
        let mut buf = std::mem::take(&mut self.snapshot_buf);
        let read = self.gauges.read(&mut buf);
        let snapshots = raw::snapshots(&buf);
        self.snapshot_buf = buf;
        read.map(|()| snapshots)
    }
}

/// Whether tcp_retransmit_skb passes `err` (newer kernels). The tracefs
/// format file answers in microseconds; parsing the kernel's BTF is the
/// fallback when tracefs is not there.
fn retransmit_has_err() -> bool {
    for root in ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"] {
        let path = format!("{root}/events/tcp/tcp_retransmit_skb/format");
        if let Ok(format) = std::fs::read_to_string(path) {
            return format.contains(" err;");
        }
    }
    crate::btf::tracepoint_arity("tcp_retransmit_skb") != Some(2)
}

/// The kernel side's number for a kind (enum event_kind in sockets.h).
fn event_number(k: EventKind) -> u32 {
    match k {
        EventKind::Connect => 1,
        EventKind::Accept => 2,
        EventKind::Close => 3,
        EventKind::State => 4,
        EventKind::Retrans => 5,
        EventKind::Reset => 6,
        EventKind::Drop => 7,
        EventKind::Overflow => 8,
    }
}

/// The I/O the per-CPU cache counted in interval `gen`: its half of the
/// slots, every CPU's copy, those written in that interval. Read only: the
/// kernel side treats slots of an older interval as empty.
/// Empties a counters map. The batch call can stop early (e.g. a hash bucket
/// larger than the batch), so whatever it leaves is taken key by key: nothing
/// is left behind to be merged into the next interval.
fn drain_map(map: &dyn MapCore) -> Result<Vec<(ProcIdentity, ProcCounters)>, Error> {
    let mut out = Vec::new();
    if let Ok(batch) = map.lookup_and_delete_batch(BATCH, MapFlags::ANY, MapFlags::ANY) {
        out.extend(batch.filter_map(|(k, v)| raw::counters(&k, &v)));
    }
    let leftover: Vec<Vec<u8>> = map.keys().collect();
    for key in leftover {
        if let Some(v) = map.lookup_and_delete(&key).map_err(|source| Error::Map {
            map: "proc stats",
            source,
        })? {
            out.extend(raw::counters(&key, &v));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A program in the object that no list names would load outside the
    /// plan and, refused at attach, take the whole probe down (load_by_trial
    /// drops only programs it knows): every one must be listed.
    #[test]
    fn every_program_in_the_object_is_planned() {
        let mut object = MaybeUninit::uninit();
        let open = SocketsSkelBuilder::default()
            .open(&mut object)
            .expect("open the sockets object");
        let mut in_object: Vec<String> = open
            .open_object()
            .progs()
            .map(|p| p.name().to_string_lossy().into_owned())
            .collect();
        in_object.sort();
        let mut listed: Vec<String> = all_programs().iter().map(|p| p.to_string()).collect();
        listed.sort();
        assert_eq!(in_object, listed);
    }
}
