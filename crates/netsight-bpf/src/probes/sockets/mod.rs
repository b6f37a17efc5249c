//! The sockets probe: socket ownership, per-process TCP/UDP metrics
//! (SPEC §3) drained once per interval, and socket/packet events (SPEC §5).
//!
//! Kernel side: sockets.bpf.c. Counters go to one of two maps chosen by
//! `epoch`; [`SocketProbe::drain`] flips the epoch, lets in-flight programs
//! finish, then empties the map that is no longer written, so every increment
//! lands in exactly one interval. Gauges come from a socket iterator run at
//! the same moment.

mod facts;
mod plan;
mod raw;

use std::cell::RefCell;
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Iter, Link, MapCore, MapFlags, OpenObject, RingBuffer, RingBufferBuilder};
use netsight_events::event::{EventKind, SockEvent};
use netsight_events::process::{self, ProcCounters, ProcIdentity, SocketSnapshot};

use crate::ksyms::Ksyms;
use crate::loader::{self, Error};
pub use plan::{IoHooks, Missing};

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
}

/// The loaded and attached per-process probe.
pub struct SocketProbe {
    skel: SocketsSkel<'static>,
    _links: Vec<Link>,
    iter_link: Link,
    epoch: u32,
    /// I/O calls found on sockets without an owner (cumulative).
    orphaned_io: u64,
    ring: Option<RingBuffer<'static>>,
    received: Rc<RefCell<Vec<SockEvent>>>,
    missing: Vec<Missing>,
    io: Option<IoHooks>,
}

/// skb_drop_reason numbers of this kernel for the names the programs test.
fn drop_reason(reasons: &[(String, i64)], name: &str, default: u32) -> u32 {
    reasons
        .iter()
        .find(|(n, _)| n == name)
        .map_or(default, |(_, v)| *v as u32)
}

impl SocketProbe {
    /// Opens, loads and attaches the programs `opts` asks for. Needs root.
    pub fn load(opts: &Options) -> Result<Self, Error> {
        loader::init();
        // The skeleton borrows its object for its whole life; netsight loads
        // a probe once per run, so leaking this small allocation is simplest.
        let object: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut builder = SocketsSkelBuilder::default();
        loader::use_custom_btf(&mut builder, "sockets")?;
        let mut open = builder.open(object).map_err(|source| Error::Open {
            object: "sockets",
            source,
        })?;
        let syn_consumer = if opts.events.contains(&EventKind::Overflow) {
            Ksyms::load().range("tcp_rcv_state_process")
        } else {
            None
        };
        let kernel = facts::RunningKernel::new();
        let plan = plan::plan(&kernel, opts, syn_consumer.is_some());
        open.progs.dump_sockets.set_autoattach(false);
        for mut prog in open.open_object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            if let Some((_, on)) = plan.load.iter().find(|(n, _)| *n == name) {
                prog.set_autoload(*on);
            }
        }
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
            let reasons = crate::btf::enum_values("skb_drop_reason");
            rodata.drop_reason_consumed = drop_reason(&reasons, "SKB_CONSUMED", 1);
            rodata.drop_reason_listen_overflow =
                drop_reason(&reasons, "SKB_DROP_REASON_TCP_LISTEN_OVERFLOW", u32::MAX);
            if let Some((lo, hi)) = syn_consumer {
                rodata.syn_consumer_lo = lo;
                rodata.syn_consumer_hi = hi;
            }
        }
        loader::take_log();
        let mut skel = open.load().map_err(|source| Error::Load {
            object: "sockets",
            source,
            log: loader::take_log(),
        })?;
        let mut manual = vec!["dump_sockets"];
        manual.extend(plan.load.iter().filter(|(_, on)| !on).map(|(n, _)| *n));
        let links = loader::attach_all(skel.object_mut(), &manual)?;
        let iter_link = skel
            .progs
            .dump_sockets
            .attach_iter(skel.maps.sk_states.as_fd())
            .map_err(|source| Error::Attach {
                program: "dump_sockets".into(),
                source,
                log: loader::take_log(),
            })?;
        let received = Rc::new(RefCell::new(Vec::new()));
        let ring = if opts.events.is_empty() {
            None
        } else {
            let sink = Rc::clone(&received);
            let mut builder = RingBufferBuilder::new();
            builder
                .add(&skel.maps.events, move |data: &[u8]| {
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
            skel,
            _links: links,
            iter_link,
            epoch: 0,
            orphaned_io: 0,
            ring,
            received,
            missing: plan.missing,
            io: plan.io,
        })
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
        let old = self.epoch;
        self.epoch ^= 1;
        self.set_epoch(self.epoch);
        std::thread::sleep(EPOCH_GRACE);
        let map = if old & 1 == 1 {
            &self.skel.maps.stats_b
        } else {
            &self.skel.maps.stats_a
        };
        let mut counters = drain_map(map)?;
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

    fn kernel_losses(&self) -> u64 {
        match self.skel.maps.bss_data.as_deref() {
            Some(bss) => {
                // SAFETY: plain u64s in the mmap'ed .bss that BPF updates with
                // atomic adds; a volatile aligned read sees a whole value.
                let l = unsafe { std::ptr::read_volatile(&bss.losses) };
                l.stats_map_full + l.accepted_map_full + l.ringbuf_full
            }
            None => 0,
        }
    }

    fn sockets(&self) -> Result<Vec<SocketSnapshot>, Error> {
        let mut iter = Iter::new(&self.iter_link).map_err(|source| Error::Map {
            map: "sk_states iterator",
            source,
        })?;
        let mut buf = Vec::new();
        iter.read_to_end(&mut buf).map_err(|source| Error::Read {
            what: "socket iterator",
            source,
        })?;
        Ok(raw::snapshots(&buf))
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
