//! The ping probe: every sighting of a netsight probe packet on its path
//! (device queue, driver, receive, socket, wake-up), from tracepoints only.
//! Kernel side: ping.bpf.c; user space joins sightings by the id/seq they
//! carry (crates/netsight/src/cmd/ping).

mod raw;

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::rc::Rc;
use std::time::Duration;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, OpenObject, RingBuffer, RingBufferBuilder};

use crate::loader::{self, Error, Refused};

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    unused_imports
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/ping.skel.rs"));
}
use skel::types::{ping_point, ping_wire};
use skel::{PingSkel, PingSkelBuilder};

/// The wire format's numbers (ping.h `enum ping_wire`), shared with the
/// kernel side through the skeleton.
pub mod wire {
    use super::ping_wire;

    pub const CODE_MAGIC: u8 = ping_wire::PING_CODE_MAGIC.0 as u8;
    pub const HDR_MAGIC: u16 = ping_wire::PING_HDR_MAGIC.0 as u16;
    pub const F_DONTADD: u16 = ping_wire::PING_F_DONTADD.0 as u16;
    pub const MAX_ENTRIES: usize = ping_wire::PING_MAX_ENTRIES.0 as usize;
    pub const MIN_PAYLOAD: usize = ping_wire::PING_MIN_PAYLOAD.0 as usize;
}

/// Where a probe packet was seen (ping.h `enum ping_point`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Point {
    /// The last NET_RX softirq raise on the CPU before the receive.
    Softirq,
    Recv,
    DataReady,
    Queue,
    StartXmit,
    Xmit,
    Wakeup,
}

impl Point {
    pub const ALL: [Point; 7] = [
        Point::Softirq,
        Point::Recv,
        Point::DataReady,
        Point::Queue,
        Point::StartXmit,
        Point::Xmit,
        Point::Wakeup,
    ];

    fn raw(self) -> ping_point {
        match self {
            Point::Softirq => ping_point::PT_SOFTIRQ,
            Point::Recv => ping_point::PT_RECV,
            Point::DataReady => ping_point::PT_DATA_READY,
            Point::Queue => ping_point::PT_QUEUE,
            Point::StartXmit => ping_point::PT_START_XMIT,
            Point::Xmit => ping_point::PT_XMIT,
            Point::Wakeup => ping_point::PT_WAKEUP,
        }
    }

    fn from_raw(v: u8) -> Option<Point> {
        Point::ALL.into_iter().find(|p| p.raw().0 == u32::from(v))
    }

    /// The kernel event behind the point, as `doctor` and the output name it.
    pub fn event(self) -> &'static str {
        match self {
            Point::Softirq => "irq:softirq_raise(NET_RX)",
            Point::Recv => "net:netif_receive_skb",
            Point::DataReady => "sock:sk_data_ready",
            Point::Queue => "net:net_dev_queue",
            Point::StartXmit => "net:net_dev_start_xmit",
            Point::Xmit => "net:net_dev_xmit",
            Point::Wakeup => "sched:sched_wakeup",
        }
    }

    /// The BPF program that records the point.
    pub fn program(self) -> &'static str {
        match self {
            Point::Softirq => "on_softirq_raise",
            Point::Recv => "on_receive",
            Point::DataReady => "on_data_ready",
            Point::Queue => "on_dev_queue",
            Point::StartXmit => "on_start_xmit",
            Point::Xmit => "on_dev_xmit",
            Point::Wakeup => "on_wakeup",
        }
    }
}

/// Which packet of the exchange.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Echo,
    Reply,
}

/// One sighting of a probe packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// CLOCK_MONOTONIC nanoseconds.
    pub ts_ns: u64,
    pub id: u32,
    pub seq: u32,
    /// Inode of the network namespace of the device or socket.
    pub netns: u32,
    pub ifindex: u32,
    pub cpu: u32,
    pub point: Point,
    pub kind: Kind,
}

/// Every program of the object (what `--refuse` accepts).
pub fn program_names() -> Vec<&'static str> {
    Point::ALL.iter().map(|p| p.program()).collect()
}

/// Set to `first` or `last` to also load empty programs that measure the
/// floor cost of a program on each tracepoint used (bench/ping_cost.sh),
/// attached before or after the real ones; `alone` attaches only them.
pub const CALIBRATE_ENV: &str = "NETSIGHT_PING_CALIBRATE";

/// The benchmark's empty programs, one per tracepoint used.
const CALIBRATORS: [&str; 7] = [
    "calibrate_net_dev_queue",
    "calibrate_net_dev_start_xmit",
    "calibrate_net_dev_xmit",
    "calibrate_netif_receive_skb",
    "calibrate_softirq_raise",
    "calibrate_sk_data_ready",
    "calibrate_sched_wakeup",
];

fn attach_calibrators(skel: &mut PingSkel<'static>) -> Result<Vec<Link>, Error> {
    let mut links = Vec::new();
    for prog in skel.object_mut().progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        if CALIBRATORS.contains(&name.as_str()) {
            links.push(prog.attach().map_err(|source| Error::Attach {
                program: name,
                source,
                log: loader::take_log(),
            })?);
        }
    }
    Ok(links)
}

/// What to load.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The client's receiving thread, whose wake-up is watched (0: none).
    pub client_tid: u32,
    /// The client's network namespace inode.
    pub client_netns: u32,
    /// Run only while [`PingProbe::set_armed`] says a probe is in flight
    /// (the client); otherwise always (the server, doctor).
    pub gated: bool,
    /// Leave out the NET_RX softirq raise (only the client's rx_softirq
    /// uses it, and it fires more often than packets arrive).
    pub no_softirq: bool,
}

/// The loaded and attached probe.
pub struct PingProbe {
    skel: PingSkel<'static>,
    _links: Vec<Link>,
    ring: RingBuffer<'static>,
    received: Rc<RefCell<Vec<Hit>>>,
    refused: Vec<Refused>,
}

impl PingProbe {
    /// Loads by trial: a program the kernel refuses is dropped and only the
    /// stages it bounds go unseen. Needs root.
    pub fn load(opts: &Options) -> Result<Self, Error> {
        loader::init();
        let programs = program_names();
        let ((skel, links), refused) =
            loader::load_by_trial(&programs, &[], |refused| Self::attempt(opts, refused))?;
        let received = Rc::new(RefCell::new(Vec::new()));
        let sink = Rc::clone(&received);
        let mut builder = RingBufferBuilder::new();
        let map_err = |source| Error::Map {
            map: "hits",
            source,
        };
        builder
            .add(&skel.maps.hits, move |data: &[u8]| {
                if let Some(h) = raw::hit(data) {
                    sink.borrow_mut().push(h);
                }
                0
            })
            .map_err(map_err)?;
        let ring = builder.build().map_err(map_err)?;
        Ok(PingProbe {
            skel,
            _links: links,
            ring,
            received,
            refused,
        })
    }

    fn attempt(
        opts: &Options,
        refused: &[Refused],
    ) -> Result<(PingSkel<'static>, Vec<Link>), Error> {
        // The skeleton borrows its object for its whole life; a run loads
        // this probe a few times at most, so leaking it is simplest.
        let object: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let mut builder = PingSkelBuilder::default();
        loader::use_custom_btf(&mut builder, "ping")?;
        let mut open = builder.open(object).map_err(|source| Error::Open {
            object: "ping",
            source,
        })?;
        let calibrate = std::env::var(CALIBRATE_ENV).is_ok_and(|v| !v.is_empty());
        for mut prog in open.open_object_mut().progs_mut() {
            let name = prog.name().to_string_lossy().into_owned();
            let on = if name.starts_with("calibrate_") {
                calibrate
            } else if name == Point::Softirq.program() && opts.no_softirq {
                false
            } else {
                !refused.iter().any(|r| r.program == name)
            };
            prog.set_autoload(on);
        }
        if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
            rodata.client_tid = opts.client_tid;
            rodata.client_netns = opts.client_netns;
            rodata.gated = opts.gated;
        }
        loader::take_log();
        let mut skel = open.load().map_err(|source| Error::Load {
            object: "ping",
            source,
            log: loader::take_log(),
        })?;
        let mut manual: Vec<&str> = refused.iter().map(|r| r.program.as_str()).collect();
        manual.extend(CALIBRATORS);
        if opts.no_softirq {
            manual.push(Point::Softirq.program());
        }
        // A tracepoint calls its programs in attach order: the benchmark
        // runs once with the empty programs first and once last.
        let mode = std::env::var(CALIBRATE_ENV).unwrap_or_default();
        let first = calibrate && mode == "first";
        let mut links = Vec::new();
        if calibrate && mode == "alone" {
            // The empty programs only: the floor measured with no other
            // program on the tracepoints (the real ones load, unattached).
            links.extend(attach_calibrators(&mut skel)?);
            return Ok((skel, links));
        }
        if first {
            links.extend(attach_calibrators(&mut skel)?);
        }
        links.extend(loader::attach_all(skel.object_mut(), &manual)?);
        if calibrate && !first {
            links.extend(attach_calibrators(&mut skel)?);
        }
        Ok((skel, links))
    }

    /// Programs this run does without (refused by the kernel or `--refuse`).
    pub fn refused(&self) -> &[Refused] {
        &self.refused
    }

    /// Whether the program recording `point` runs.
    pub fn sees(&self, point: Point) -> bool {
        !self.refused.iter().any(|r| r.program == point.program())
    }

    /// Sightings that arrived within `timeout` (zero: only those waiting).
    pub fn poll(&mut self, timeout: Duration) -> Result<Vec<Hit>, Error> {
        let r = if timeout.is_zero() {
            self.ring.consume()
        } else {
            self.ring.poll(timeout)
        };
        if let Err(source) = r {
            if source.kind() != libbpf_rs::ErrorKind::Interrupted {
                return Err(Error::Map {
                    map: "hits",
                    source,
                });
            }
        }
        Ok(std::mem::take(&mut *self.received.borrow_mut()))
    }

    /// Tells a gated probe whether a probe is in flight.
    pub fn set_armed(&mut self, armed: bool) {
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.armed = u32::from(armed);
        }
    }

    /// Sightings lost since load: the ring buffer had no room, or the
    /// kernel skipped a program's run (already running on that CPU).
    pub fn losses(&self) -> u64 {
        let ring_full = self
            .skel
            .maps
            .bss_data
            .as_deref()
            .map_or(0, |b| b.losses.ringbuf_full);
        ring_full + crate::prog_runs::skipped(self.skel.object())
    }
}
