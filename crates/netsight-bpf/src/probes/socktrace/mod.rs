//! The socket data tracer's kernel side (socktrace.bpf.c): loading with its
//! settings, the ring buffer of records, and the kernel's counters.
//!
//! A separate object from the sockets probe, loaded only by the tracer:
//! `stat` never pays for it.
//!
//! # Capture design
//! tp_btf on `sock:sock_send_length` / `sock:sock_recv_length` (Linux 6.3+)
//! fires inside the syscall once the data moved. `bpf_task_pt_regs()` gives
//! the syscall number and arguments, so the user buffer is read with
//! `bpf_probe_read_user` (at most `ret` bytes: beyond that it is stale).
//! Only socket I/O runs BPF; syscall tracepoints (`sys_enter`/`sys_exit`)
//! would put every syscall of the host on the slow path (BENCHMARKS.md: a
//! `dd bs=1` ran at a fifth of its speed under bare syscall hooks, unchanged
//! under this tracer).
//!
//! # The fallback: syscall exit (before 6.3, or when the socket
//! tracepoints are refused)
//! One tp_btf program on `raw_syscalls:sys_exit` takes the syscall number,
//! arguments and result from the saved registers and finds the socket from
//! the file descriptor (task -> fdtable -> file -> socket). Every syscall of
//! the host pays for the tracepoint then, which the hooks say. What differs:
//! socket ids are numbers of the tracer's own (bit 52 set) mapped from the
//! socket's address, since the cookie helper needs a trusted pointer; a UDP
//! socket's address reused before its entry ages out keeps the old id;
//! sendmmsg/recvmmsg are walked from the lengths the kernel wrote back;
//! io_uring I/O is not seen at all.
//!
//! # Bounds and what is not covered
//! - Payload: `--payload-bytes` (1..=[`PAYLOAD_MAX`]) per syscall, copied
//!   through a per-CPU, per-direction scratch buffer into the ring.
//! - Vectored calls (readv, writev, preadv2, pwritev2, sendmsg, recvmsg):
//!   the first [`IOV_MAX_CAPTURED`] iovecs; bytes beyond count in
//!   `syscall_len` only.
//! - sendmmsg/recvmmsg: the tracepoint fires per message without saying
//!   which; a per-thread cursor walks the vector (wrong only when a call on
//!   the same vector follows one that moved fewer than vlen messages).
//! - Not captured, counted: MSG_PEEK reads, sendfile and splice, io_uring
//!   (no user buffer in the registers), kernel sockets, 32-bit syscalls.
//! - Reads on unconnected UDP sockets name no peer: recvfrom/recvmsg write
//!   the address out after the tracepoint. The record says `unconnected`.
//! - `socket_id` is the socket cookie (global, never reused). `cap_seq`
//!   lives in an LRU map keyed by it: a socket evicted from a full map
//!   starts again at 0, which a reader sees as a gap.
//! - `tcp_seq` is `write_seq - ret` / `copied_seq - ret` read after the
//!   call: exact unless two threads move data on one socket at once.
//! - The reader is woken only when a quarter of the ring is waiting (a
//!   wakeup per record costs an IPI); it drains the ring every
//!   [`DRAIN_EVERY`] anyway.

mod raw;

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, MapCore, MapFlags, MapHandle, OpenObject, RingBuffer, RingBufferBuilder};

use crate::loader::{self, Error, Refused};
use crate::prog_runs;
pub use crate::prog_runs::ProgramRuns;
pub use raw::Received;

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    unused_imports
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/socktrace.skel.rs"));
}
use skel::{SocktraceSkel, SocktraceSkelBuilder};

use skel::types::socktrace_limits;

/// The largest payload one record can carry (from socktrace.h).
pub const PAYLOAD_MAX: u32 = socktrace_limits::PAYLOAD_MAX.0;
/// iovecs read per vectored syscall (from socktrace.h).
pub const IOV_MAX_CAPTURED: u32 = socktrace_limits::IOV_MAX_CAPTURED.0;
/// Processes `pids` can name at once (from socktrace.h).
pub const MAX_PID_FILTER: usize = socktrace_limits::MAX_PID_FILTER.0 as usize;
/// Slots of the muted-socket table: socket `id` mutes in slot `id % MUTED_SLOTS`.
pub const MUTED_SLOTS: u32 = socktrace_limits::MUTED_SLOTS.0;
/// How often a reader must drain the ring (`RingBuffer::consume`): the
/// kernel side wakes it only when a quarter of the ring is waiting.
pub const DRAIN_EVERY: std::time::Duration = std::time::Duration::from_millis(20);

/// What the kernel side captures and where it keeps state.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Bytes captured per syscall, at most [`PAYLOAD_MAX`].
    pub payload_bytes: u32,
    /// Ring buffer size: a power of two, at least one page.
    pub ring_bytes: u32,
    pub max_sockets: u32,
    pub max_traces: u32,
    /// Only these processes (empty: all), at most [`MAX_PID_FILTER`].
    pub pids: Vec<u32>,
    pub comm: Option<String>,
    pub port: Option<u16>,
    pub netns: Option<u32>,
    /// Programs to treat as refused on top of `--refuse` (selftest loads
    /// the syscall fallback this way).
    pub refuse: Vec<String>,
    /// Honour [`Muter`]: set only when no one wants data records.
    pub mute_unparsed: bool,
}

/// Mutes sockets whose bytes no one will use (the parsers gave up on
/// them): while muted, and where the probe was loaded with
/// [`Settings::mute_unparsed`], a socket's reads and writes are only counted
/// ([`KernelCounters::muted_calls`], `muted_bytes`), with no payload copy
/// and no record. A later muted socket whose id takes the same slot unmutes
/// it.
#[derive(Debug)]
pub struct Muter {
    map: MapHandle,
}

impl Muter {
    pub fn mute(&self, socket_id: u64) -> Result<(), Error> {
        let slot = (socket_id % u64::from(MUTED_SLOTS)) as u32;
        self.map
            .update(&slot.to_ne_bytes(), &socket_id.to_ne_bytes(), MapFlags::ANY)
            .map_err(|source| Error::Map {
                map: "muted",
                source,
            })
    }
}

/// One program of the tracer and whether it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hook {
    pub name: &'static str,
    pub tracepoint: &'static str,
    pub on: bool,
    /// Why it is used, or why not.
    pub reason: String,
}

/// The kernel side's cumulative counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KernelCounters {
    pub ringbuf_full: u64,
    pub peek_skipped: u64,
    pub read_user_failed: u64,
    pub sendfile_calls: u64,
    pub sendfile_bytes: u64,
    pub splice_calls: u64,
    pub splice_bytes: u64,
    pub io_uring_calls: u64,
    pub io_uring_bytes: u64,
    pub other_calls: u64,
    pub other_bytes: u64,
    pub socket_map_full: u64,
    pub trace_map_full: u64,
    pub mmsg_unmatched: u64,
    /// Close notices lost (ring full); their sockets' pending requests
    /// then end by timeout.
    pub close_lost: u64,
    /// Reads and writes on muted sockets (counted, not captured).
    pub muted_calls: u64,
    pub muted_bytes: u64,
}

/// Entries used / max of the tracer's kernel maps.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MapUsage {
    pub sockets_used: u64,
    pub sockets_max: u64,
    pub traces_used: u64,
    pub traces_max: u64,
}

const SEND_PROGRAM: &str = "trace_send";
const RECV_PROGRAM: &str = "trace_recv";
const SYSCALL_PROGRAM: &str = "trace_sys_exit";
const CLOSE_PROGRAM: &str = "trace_close";
/// Every program of the object (for `--refuse`). The socket tracepoint
/// pair, or else the syscall-exit fallback, is needed; the close hook is
/// optional.
pub const PROGRAM_NAMES: [&str; 4] = [SEND_PROGRAM, RECV_PROGRAM, SYSCALL_PROGRAM, CLOSE_PROGRAM];

/// The loaded and attached tracer programs.
pub struct SockTraceProbe {
    skel: SocktraceSkel<'static>,
    links: Vec<Link>,
    hooks: Vec<Hook>,
}

fn configure(
    open: &mut skel::OpenSocktraceSkel<'static>,
    s: &Settings,
    by_syscall: bool,
) -> Result<(), Error> {
    let map_err = |map: &'static str| move |source| Error::Map { map, source };
    let cpus = libbpf_rs::num_possible_cpus().unwrap_or(64) as u32;
    open.maps
        .scratch
        .set_max_entries(cpus * 2)
        .map_err(map_err("scratch"))?;
    open.maps
        .events
        .set_max_entries(s.ring_bytes)
        .map_err(map_err("events"))?;
    open.maps
        .sockets
        .set_max_entries(s.max_sockets)
        .map_err(map_err("sockets"))?;
    open.maps
        .traces
        .set_max_entries(s.max_traces)
        .map_err(map_err("traces"))?;
    let Some(ro) = open.maps.rodata_data.as_deref_mut() else {
        return Ok(());
    };
    ro.ids_by_address = by_syscall;
    ro.mute_unparsed = s.mute_unparsed;
    ro.payload_bytes = s.payload_bytes.min(PAYLOAD_MAX);
    // A quarter of the ring waiting wakes the reader; below that it drains
    // the ring on its timer ([`DRAIN_EVERY`]).
    ro.wakeup_bytes = u64::from(s.ring_bytes / 4);
    // Each CPU asks how full the ring is after adding an eighth of its share
    // of that: all together overshoot the threshold by an eighth at most.
    ro.fill_check_bytes = ro.wakeup_bytes / (8 * u64::from(cpus));
    ro.tracer_tgid = std::process::id();
    for (slot, pid) in ro.filter_pids.iter_mut().zip(&s.pids) {
        *slot = *pid;
    }
    ro.filter_pid_count = s.pids.len().min(MAX_PID_FILTER) as u32;
    ro.filter_port = s.port.unwrap_or(0);
    ro.filter_netns = s.netns.unwrap_or(0);
    if let Some(comm) = &s.comm {
        ro.filter_comm_on = true;
        for (slot, b) in ro.filter_comm.iter_mut().zip(comm.bytes().take(15)) {
            *slot = b as i8;
        }
    }
    Ok(())
}

fn open_and_load(
    s: &Settings,
    off: &[Refused],
    by_syscall: bool,
) -> Result<SocktraceSkel<'static>, Error> {
    // The skeleton borrows its object for its whole life; a tracer loads
    // once per start, so leaking this small allocation is simplest.
    let object: &'static mut MaybeUninit<OpenObject> = Box::leak(Box::new(MaybeUninit::uninit()));
    let mut builder = SocktraceSkelBuilder::default();
    loader::use_custom_btf(&mut builder, "socktrace")?;
    let mut open = builder.open(object).map_err(|source| Error::Open {
        object: "socktrace",
        source,
    })?;
    configure(&mut open, s, by_syscall)?;
    for mut prog in open.open_object_mut().progs_mut() {
        let name = prog.name().to_string_lossy().into_owned();
        prog.set_autoload(!off.iter().any(|r| r.program == name));
    }
    loader::take_log();
    open.load().map_err(|source| Error::Load {
        object: "socktrace",
        source,
        log: loader::take_log(),
    })
}

fn hooks(refused: &[Refused], by_syscall: Option<&Refused>) -> Vec<Hook> {
    let capture = match by_syscall {
        None => (
            true,
            "tp_btf: only socket I/O pays; the user buffer is found through \
             bpf_task_pt_regs (no syscall tracepoints)"
                .to_string(),
        ),
        Some(r) => (false, r.reason.clone()),
    };
    let fallback = match by_syscall {
        Some(r) => (
            true,
            format!(
                "{} {}: every syscall of the host takes the tracing slow path; \
                 io_uring I/O is not seen",
                r.program, r.reason
            ),
        ),
        None => (false, "not needed: the socket tracepoints run".to_string()),
    };
    let close = refused.iter().find(|r| r.program == CLOSE_PROGRAM);
    let hook = |name, tracepoint, (on, reason): (bool, String)| Hook {
        name,
        tracepoint,
        on,
        reason,
    };
    vec![
        hook(SEND_PROGRAM, "sock:sock_send_length", capture.clone()),
        hook(RECV_PROGRAM, "sock:sock_recv_length", capture),
        hook(SYSCALL_PROGRAM, "raw_syscalls:sys_exit", fallback),
        hook(
            CLOSE_PROGRAM,
            "sock:inet_sock_set_state",
            close.map_or_else(
                || {
                    (
                        true,
                        "frees a TCP socket's entry and ends its pending requests at close".into(),
                    )
                },
                |r| {
                    (
                        false,
                        format!("{}; sockets age out of the LRU map instead", r.reason),
                    )
                },
            ),
        ),
    ]
}

impl SockTraceProbe {
    /// Loads and attaches the tracer, by trial: the socket tracepoints
    /// first; if either is missing or refused, the syscall-exit fallback.
    /// The close hook is optional (without it sockets age out of the socket
    /// map instead of leaving it at close).
    pub fn load(s: &Settings) -> Result<Self, Error> {
        loader::init();
        let attempt = |off: &[Refused], by_syscall: bool| {
            let mut skel = open_and_load(s, off, by_syscall)?;
            let manual: Vec<&str> = off.iter().map(|r| r.program.as_str()).collect();
            let links = loader::attach_all(skel.object_mut(), &manual)?;
            Ok((skel, links))
        };
        let (loaded, refused) = loader::load_by_trial(
            &[SEND_PROGRAM, RECV_PROGRAM, SYSCALL_PROGRAM, CLOSE_PROGRAM],
            &[&[SYSCALL_PROGRAM.to_string()], &s.refuse[..]].concat(),
            |off| attempt(off, false),
        )?;
        let lost_capture = refused
            .iter()
            .find(|r| r.program == SEND_PROGRAM || r.program == RECV_PROGRAM)
            .cloned();
        let Some(why) = lost_capture else {
            let (skel, links) = loaded;
            return Ok(SockTraceProbe {
                skel,
                links,
                hooks: hooks(&refused, None),
            });
        };
        drop(loaded);
        if loader::user_refused()
            .iter()
            .chain(&s.refuse)
            .any(|p| p == SYSCALL_PROGRAM)
        {
            return Err(Error::Unavailable {
                what: "the socket tracer",
                why: format!(
                    "{} {}, and {SYSCALL_PROGRAM} refused by --refuse",
                    why.program, why.reason
                ),
            });
        }
        // The fallback is not optional: its refusal is the error.
        let ((skel, links), refused) = loader::load_by_trial(
            &[SEND_PROGRAM, RECV_PROGRAM, CLOSE_PROGRAM],
            &[SEND_PROGRAM.to_string(), RECV_PROGRAM.to_string()],
            |off| attempt(off, true),
        )?;
        Ok(SockTraceProbe {
            skel,
            links,
            hooks: hooks(&refused, Some(&why)),
        })
    }

    /// Detaches the programs (the tracer stops costing anything); maps and
    /// the ring keep their contents.
    pub fn detach(&mut self) {
        self.links.clear();
    }

    /// Attaches the programs again after [`Self::detach`].
    pub fn attach(&mut self) -> Result<(), Error> {
        if !self.links.is_empty() {
            return Ok(());
        }
        let off: Vec<&str> = self
            .hooks
            .iter()
            .filter(|h| !h.on)
            .map(|h| h.name)
            .collect();
        self.links = loader::attach_all(self.skel.object_mut(), &off)?;
        Ok(())
    }

    /// The programs, whether each runs, and why.
    pub fn hooks(&self) -> &[Hook] {
        &self.hooks
    }

    /// A ring buffer reader calling `on_record` for each record.
    pub fn ring(
        &self,
        mut on_record: impl FnMut(Received) + 'static,
    ) -> Result<RingBuffer<'static>, Error> {
        let mut builder = RingBufferBuilder::new();
        builder
            .add(&self.skel.maps.events, move |data: &[u8]| {
                if let Some(r) = raw::record(data) {
                    on_record(r);
                }
                0
            })
            .map_err(|source| Error::Map {
                map: "events",
                source,
            })?;
        builder.build().map_err(|source| Error::Map {
            map: "events",
            source,
        })
    }

    /// A handle that mutes sockets, usable from any thread.
    pub fn muter(&self) -> Result<Muter, Error> {
        MapHandle::try_from(&self.skel.maps.muted)
            .map(|map| Muter { map })
            .map_err(|source| Error::Map {
                map: "muted",
                source,
            })
    }

    /// The kernel side's counters now.
    pub fn counters(&self) -> KernelCounters {
        let Some(bss) = self.skel.maps.bss_data.as_deref() else {
            return KernelCounters::default();
        };
        // SAFETY: plain u64s in the mmap'ed .bss that BPF updates with atomic
        // adds; a volatile aligned read sees whole values.
        let c = unsafe { std::ptr::read_volatile(&bss.counters) };
        KernelCounters {
            ringbuf_full: c.ringbuf_full,
            peek_skipped: c.peek_skipped,
            read_user_failed: c.read_user_failed,
            sendfile_calls: c.sendfile_calls,
            sendfile_bytes: c.sendfile_bytes,
            splice_calls: c.splice_calls,
            splice_bytes: c.splice_bytes,
            io_uring_calls: c.io_uring_calls,
            io_uring_bytes: c.io_uring_bytes,
            other_calls: c.other_calls,
            other_bytes: c.other_bytes,
            socket_map_full: c.socket_map_full,
            trace_map_full: c.trace_map_full,
            mmsg_unmatched: c.mmsg_unmatched,
            close_lost: c.close_lost,
            muted_calls: c.muted_calls,
            muted_bytes: c.muted_bytes,
        }
    }

    /// Each loaded program's runs (run time kept only with
    /// kernel.bpf_stats_enabled on) and runs the kernel skipped.
    pub fn program_runs(&self) -> Vec<ProgramRuns> {
        self.skel
            .object()
            .progs()
            .filter(|prog| {
                let name = prog.name().to_string_lossy();
                self.hooks.iter().any(|h| h.on && h.name == name)
            })
            .filter_map(|prog| prog_runs::of(&prog))
            .collect()
    }

    /// Entries in the socket and thread-trace maps (walks their keys).
    pub fn map_usage(&self) -> MapUsage {
        let maps = &self.skel.maps;
        MapUsage {
            sockets_used: maps.sockets.keys().count() as u64,
            sockets_max: u64::from(maps.sockets.max_entries()),
            traces_used: maps.traces.keys().count() as u64,
            traces_max: u64::from(maps.traces.max_entries()),
        }
    }
}
