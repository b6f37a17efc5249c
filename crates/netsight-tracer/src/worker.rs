//! A worker: owns a share of the sockets (by socket id), turns their data
//! records into L7 records with netsight-l7's Tracker, and delivers both.

use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use netsight_events::sockdata::{self, DataRecord, KernelRecord, L7Hint};
use netsight_l7::{L7Record, Protocol, Segment, SocketMap, Tracker};

use crate::record::{Event, L7Event, SocketInfo};
use crate::status::Shared;
use crate::Config;

const TICK: Duration = Duration::from_millis(200);

/// A socket as the worker knows it.
struct Known {
    info: SocketInfo,
    next_cap_seq: u64,
    last_ns: u64,
}

pub(crate) struct Worker {
    id: usize,
    cfg: Config,
    shared: Arc<Shared>,
    out: SyncSender<Vec<Event>>,
    /// Events of the batch in progress, sent together.
    ready: Vec<Event>,
    tracker: Tracker,
    sockets: SocketMap<Known>,
    produced: Vec<L7Record>,
    last_tick: u64,
}

pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn hint(h: L7Hint) -> Option<Protocol> {
    match h {
        L7Hint::Http1 => Some(Protocol::Http1),
        L7Hint::Dns => Some(Protocol::Dns),
        L7Hint::Redis => Some(Protocol::Redis),
        _ => None,
    }
}

fn l7_direction(d: sockdata::Direction) -> netsight_l7::Direction {
    match d {
        sockdata::Direction::Egress => netsight_l7::Direction::Egress,
        sockdata::Direction::Ingress => netsight_l7::Direction::Ingress,
    }
}

fn l7_transport(t: sockdata::Transport) -> netsight_l7::Transport {
    match t {
        sockdata::Transport::Tcp => netsight_l7::Transport::Tcp,
        sockdata::Transport::Udp => netsight_l7::Transport::Udp,
    }
}

impl Worker {
    pub fn new(id: usize, cfg: Config, shared: Arc<Shared>, out: SyncSender<Vec<Event>>) -> Self {
        let tracker = Tracker::new(netsight_l7::Config {
            redact: cfg.redact,
            timeout_ns: cfg.l7_timeout_ns,
            max_sockets: (cfg.max_sockets as usize / cfg.workers.max(1)).max(1),
            // The budget is the tracer's: each worker's tracker holds its share.
            max_held_bytes: netsight_l7::Config::default().max_held_bytes / cfg.workers.max(1),
            report_given_up: cfg.mutes_unparsed(),
            ..netsight_l7::Config::default()
        });
        Worker {
            id,
            cfg,
            shared,
            out,
            ready: Vec::new(),
            tracker,
            sockets: SocketMap::default(),
            produced: Vec::new(),
            last_tick: monotonic_ns(),
        }
    }

    /// Runs until the queue's sender is gone or the reader left; pending
    /// requests are then reported incomplete.
    pub fn run(mut self, queue: Receiver<Vec<KernelRecord>>) {
        loop {
            match queue.recv_timeout(TICK) {
                Ok(batch) => {
                    self.shared.workers[self.id]
                        .dequeued
                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                    for r in batch {
                        self.handle(r);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            if !self.after_batch() {
                return;
            }
        }
        self.finish();
    }

    /// After a batch: the periodic expiry when due, then the events out.
    /// False when the reader is gone.
    pub fn after_batch(&mut self) -> bool {
        self.publish();
        let now = monotonic_ns();
        if now - self.last_tick >= TICK.as_nanos() as u64 {
            self.last_tick = now;
            self.tick(now);
        }
        self.send_ready()
    }

    /// Pending requests become incomplete records, and everything goes out.
    pub fn finish(mut self) {
        self.tracker.expire(u64::MAX, &mut self.produced);
        self.deliver_l7();
        self.publish();
        self.send_ready();
    }

    /// What the parsers could not make records of, for status readers;
    /// sockets they gave up on are muted in the kernel.
    fn publish(&mut self) {
        for socket_id in self.tracker.take_given_up() {
            if let Some(m) = self.shared.muter.get() {
                // A socket left unmuted is only captured for nothing.
                let _ = m.mute(socket_id);
            }
        }
        if let Some(c) = self.shared.l7.get(self.id) {
            c.publish(self.tracker.counters());
        }
    }

    /// Hands the batch's events to the reader; false when it is gone.
    fn send_ready(&mut self) -> bool {
        if self.ready.is_empty() {
            return true;
        }
        let next = Vec::with_capacity(self.ready.len());
        self.out
            .send(std::mem::replace(&mut self.ready, next))
            .is_ok()
    }

    /// Expires old requests and forgets long-idle sockets.
    fn tick(&mut self, now: u64) {
        self.tracker.expire(now, &mut self.produced);
        self.deliver_l7();
        let idle = self.cfg.l7_timeout_ns.saturating_mul(3);
        self.sockets
            .retain(|_, k| now.saturating_sub(k.last_ns) < idle);
    }

    pub fn handle(&mut self, r: KernelRecord) {
        match r {
            KernelRecord::Close { socket_id, ts_ns } => {
                self.tracker
                    .close_socket(socket_id, ts_ns, &mut self.produced);
                self.deliver_l7();
                self.sockets.remove(&socket_id);
            }
            KernelRecord::Data(d) => self.data(d),
        }
    }

    fn data(&mut self, d: DataRecord) {
        let known = self.sockets.entry(d.socket_id).or_insert_with(|| Known {
            info: SocketInfo::of(&d),
            next_cap_seq: d.cap_seq,
            last_ns: d.ts_ns,
        });
        let gap = d.cap_seq != known.next_cap_seq;
        known.next_cap_seq = d.cap_seq + 1;
        known.last_ns = d.ts_ns;
        // An unconnected UDP socket names its peer only on sends; a socket
        // can change hands (fork, fd passing). Rarely: compare, not copy.
        let moved = (d.remote.1 != 0 && d.remote != known.info.remote) || d.pid != known.info.pid;
        if moved {
            known.info = SocketInfo::of(&d);
        }
        if gap {
            self.tracker.lost(d.socket_id, d.ts_ns, &mut self.produced);
        }
        if self.cfg.l7_records {
            let seg = Segment {
                socket_id: d.socket_id,
                ts_ns: d.ts_ns,
                direction: l7_direction(d.direction),
                transport: l7_transport(d.transport),
                syscall_len: d.syscall_len.min(u64::from(u32::MAX)) as u32,
                payload: &d.payload,
                local_port: d.local.1,
                // Reads on an unconnected UDP socket name no peer: pair its
                // datagrams by protocol id alone, not by peer port.
                remote_port: if d.unconnected { 0 } else { d.remote.1 },
                hint: hint(d.l7_hint),
            };
            self.tracker.feed(&seg, &mut self.produced);
        }
        self.deliver_l7();
        if !self.cfg.data_records || !self.protocol_wanted(hint(d.l7_hint)) {
            return;
        }
        self.shared.data_records.fetch_add(1, Ordering::Relaxed);
        self.ready.push(Event::Data(d));
    }

    fn protocol_wanted(&self, p: Option<Protocol>) -> bool {
        let wanted = &self.cfg.filters.protocols;
        wanted.is_empty() || p.is_some_and(|p| wanted.contains(&p))
    }

    fn deliver_l7(&mut self) {
        // Taken and put back: the buffer keeps its capacity.
        let mut produced = std::mem::take(&mut self.produced);
        for record in produced.drain(..) {
            if !self.protocol_wanted(Some(record.protocol)) {
                continue;
            }
            // Known unless the socket was forgotten while idle.
            let socket = self
                .sockets
                .get(&record.socket_id)
                .map_or_else(SocketInfo::unknown, |k| k.info.clone());
            self.shared.count_l7(record.protocol);
            let ts_ns = record.req_ts_ns;
            let event = Event::L7(L7Event {
                ts_ns,
                socket,
                record,
            });
            self.ready.push(event);
        }
        self.produced = produced;
    }
}
