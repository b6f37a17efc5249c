//! The tracker: every socket's protocol, parser and pending requests, bounded.

use crate::dns::DnsParser;
use crate::http1::Http1Parser;
use crate::pair::{reason, Pairer, Sink};
use crate::parser::{Chunk, Event, Parser};
use crate::redis::RedisParser;
use crate::SocketMap;
use crate::{infer, Config, Direction, L7Record, MsgType, Protocol, Role, Segment, Transport};
use serde::Serialize;
use std::collections::BTreeMap;

/// Segments a socket may show without a recognisable protocol before it is given up on.
const MAX_TRIES: u8 = 16;

/// Counters of one protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct ProtocolStats {
    /// Sockets that were found to speak it.
    pub sockets: u64,
    /// Records emitted (all statuses).
    pub records: u64,
    /// Records with `status: ok`.
    pub ok: u64,
    /// Records with `status: error`.
    pub error: u64,
    /// Records with `status: incomplete` (lone requests and lone responses).
    pub incomplete: u64,
    /// Of the incomplete ones, responses whose request was not seen.
    pub lone_responses: u64,
    /// Malformed messages (each starts a gap).
    pub parse_errors: u64,
    /// Bytes that went by but could not be used (malformed, or lost around uncaptured bytes).
    pub bytes_skipped: u64,
    /// Requests emitted as incomplete early because `max_pending_per_socket` were waiting.
    pub pending_overflow: u64,
}

/// The tracker's counters: nothing it drops goes uncounted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TrackerStats {
    /// Segments fed.
    pub segments: u64,
    /// Bytes the fed syscalls moved (`syscall_len`).
    pub bytes: u64,
    /// Of them, bytes not captured (`syscall_len - cap_len`).
    pub bytes_uncaptured: u64,
    /// Per protocol.
    pub protocols: BTreeMap<Protocol, ProtocolStats>,
    /// Sockets tracked now.
    pub sockets_tracked: u64,
    /// Sockets closed through [`Tracker::close_socket`].
    pub sockets_closed: u64,
    /// Sockets evicted because `max_sockets` were tracked (pending requests emitted first).
    pub sockets_evicted: u64,
    /// Sockets given up on: no known protocol in their first segments.
    pub sockets_unknown: u64,
    /// Bytes of sockets whose protocol is unknown (still detecting, or given up).
    pub bytes_undetected: u64,
    /// Times the caller reported lost events ([`Tracker::lost`], or a `cap_seq` gap).
    pub losses_reported: u64,
    /// `cap_seq` gaps seen by [`Tracker::feed_seq`].
    pub seq_gaps: u64,
    /// Records fed by [`Tracker::feed_seq`] with a `cap_seq` older than expected.
    pub seq_reordered: u64,
    /// Bytes held in parser buffers now.
    pub buffered_bytes: u64,
    /// Requests waiting for a response now.
    pub pending_requests: u64,
}

enum AnyParser {
    Http1(Http1Parser),
    Dns(DnsParser),
    Redis(RedisParser),
}

impl AnyParser {
    fn get(&mut self) -> &mut dyn Parser {
        match self {
            AnyParser::Http1(p) => p,
            AnyParser::Dns(p) => p,
            AnyParser::Redis(p) => p,
        }
    }
    fn buffered(&self) -> usize {
        match self {
            AnyParser::Http1(p) => p.buffered(),
            AnyParser::Dns(p) => p.buffered(),
            AnyParser::Redis(p) => p.buffered(),
        }
    }
}

struct Known {
    protocol: Protocol,
    transport: Transport,
    parser: AnyParser,
    pairer: Pairer,
}

/// The start of a message too short to recognise (`GE` of a `GET` split over syscalls), kept
/// to be joined with the next segment in the same direction.
struct Held {
    dir: Direction,
    ts_ns: u64,
    bytes: Vec<u8>,
}

/// Most bytes held while detecting.
const MAX_HELD: usize = 32;

enum State {
    Detecting(u8, Option<Held>),
    Unknown,
    Known(Box<Known>),
}

/// What a socket's state holds, for the memory budget: its parser's buffered bytes, its
/// pending requests at their most ([`crate::MAX_PENDING_BYTES`] each), bytes held while
/// detecting.
fn held_by(state: &State) -> usize {
    match state {
        State::Known(k) => k.parser.buffered() + k.pairer.pending() * crate::MAX_PENDING_BYTES,
        State::Detecting(_, Some(h)) => h.bytes.len(),
        _ => 0,
    }
}

struct Sock {
    tick: u64,
    /// What this socket's state held at its last count ([`Tracker::recount`]).
    held: usize,
    state: State,
    /// The `cap_seq` expected next ([`Tracker::feed_seq`]).
    next_seq: Option<u64>,
}

/// All per-socket L7 state, bounded by [`Config`].
///
/// Feed it every captured segment in capture order (per socket); it emits records as pairs
/// complete. Call [`Tracker::expire`] periodically (say every second) and
/// [`Tracker::close_socket`] when a socket closes. Syscalls that move bytes without capturing
/// them (`sendfile`, `splice`) should be fed as segments with an empty payload and their
/// `syscall_len`: the parsers then skip those bytes as body instead of losing their place.
/// When the capture knows it lost events on a socket, use [`Tracker::feed_seq`] (or call
/// [`Tracker::lost`]): pairing then restarts cleanly instead of guessing.
pub struct Tracker {
    cfg: Config,
    sockets: SocketMap<Sock>,
    /// Counts fed segments; each socket keeps the tick of its last one, so the least recently
    /// used have the smallest (found by a scan only when the map is full).
    tick: u64,
    /// The sum of every socket's `held`, kept within `max_held_bytes`.
    held_total: usize,
    stats: TrackerStats,
    events: Vec<Event>,
    /// Sockets given up on since the last [`Tracker::take_given_up`].
    given_up: Vec<u64>,
}

impl Tracker {
    /// A tracker with these settings.
    pub fn new(cfg: Config) -> Self {
        let mut stats = TrackerStats::default();
        for p in Protocol::ALL {
            stats.protocols.insert(p, ProtocolStats::default());
        }
        Tracker {
            cfg,
            sockets: SocketMap::default(),
            tick: 0,
            held_total: 0,
            stats,
            events: Vec::new(),
            given_up: Vec::new(),
        }
    }

    /// The sockets given up on since the last call, with
    /// [`Config::report_given_up`] (their later bytes only count in
    /// `bytes_undetected`: a caller may stop capturing them).
    pub fn take_given_up(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.given_up)
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Feeds one segment; pushes the records it completes onto `out`.
    pub fn feed(&mut self, seg: &Segment, out: &mut Vec<L7Record>) {
        self.feed_one(seg, out);
        self.recount(seg.socket_id);
        while self.held_total > self.cfg.max_held_bytes && !self.sockets.is_empty() {
            let n = (self.sockets.len() / 16).max(1);
            self.evict_oldest(n, reason::EVICTED_MEMORY, out);
        }
    }

    fn feed_one(&mut self, seg: &Segment, out: &mut Vec<L7Record>) {
        let chunk = Chunk::of(seg);
        self.stats.segments += 1;
        self.stats.bytes += chunk.len;
        self.stats.bytes_uncaptured += chunk.missing();
        self.tick += 1;
        let tick = self.tick;
        let id = seg.socket_id;
        match self.sockets.get_mut(&id) {
            Some(s) => s.tick = tick,
            None => {
                let max = self.cfg.max_sockets.max(1);
                if self.sockets.len() >= max {
                    // A sixteenth at once, at least down to one free slot: the scan that
                    // finds them is paid once per many new sockets.
                    let n = (self.sockets.len() / 16).max(self.sockets.len() + 1 - max);
                    self.evict_oldest(n, reason::EVICTED, out);
                }
                self.sockets.insert(
                    id,
                    Sock {
                        tick,
                        held: 0,
                        state: State::Detecting(0, None),
                        next_seq: None,
                    },
                );
            }
        }
        let Some(sock) = self.sockets.get_mut(&id) else {
            return;
        };
        let mut held_chunk = None;
        if let State::Detecting(tries, held) = &mut sock.state {
            let tries = *tries;
            let joined;
            let mut probe = chunk.bytes;
            let held = held.take();
            if let Some(h) = &held {
                if h.dir == seg.direction && seg.transport == Transport::Tcp {
                    let mut j = h.bytes.clone();
                    j.extend_from_slice(chunk.bytes);
                    joined = j;
                    probe = &joined;
                }
            }
            match infer(
                probe,
                seg.direction,
                seg.transport,
                seg.local_port,
                seg.remote_port,
            ) {
                Some((protocol, mtype)) => {
                    let known = start(protocol, mtype, seg, self.cfg.redact);
                    if let Some(ps) = self.stats.protocols.get_mut(&protocol) {
                        ps.sockets += 1;
                    }
                    sock.state = State::Known(Box::new(known));
                    if probe.len() != chunk.bytes.len() {
                        held_chunk = held;
                        if let Some(h) = &held_chunk {
                            self.stats.bytes_undetected -= h.bytes.len() as u64;
                        }
                    }
                }
                None => {
                    self.stats.bytes_undetected += chunk.len;
                    // Short, whole first pieces may be the start of a message
                    // (dnsmasq reads a TCP query's length one byte at a time):
                    // keep them, joined, until they say what they are.
                    let joined = probe.len() != chunk.bytes.len();
                    let keep = chunk.missing() == 0
                        && probe.len() < MAX_HELD
                        && seg.transport == Transport::Tcp
                        && (held.is_none() || joined);
                    let first_ts = held.as_ref().filter(|_| joined).map(|h| h.ts_ns);
                    let held = keep.then(|| Held {
                        dir: seg.direction,
                        ts_ns: first_ts.unwrap_or(seg.ts_ns),
                        bytes: probe.to_vec(),
                    });
                    sock.state = if tries + 1 >= MAX_TRIES {
                        self.stats.sockets_unknown += 1;
                        if self.cfg.report_given_up {
                            self.given_up.push(id);
                        }
                        State::Unknown
                    } else {
                        State::Detecting(tries + 1, held)
                    };
                    return;
                }
            }
        }
        let State::Known(k) = &mut sock.state else {
            self.stats.bytes_undetected += chunk.len;
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        if let Some(h) = &held_chunk {
            let first = Chunk {
                dir: h.dir,
                bytes: &h.bytes,
                len: h.bytes.len() as u64,
                ts_ns: h.ts_ns,
            };
            k.parser.get().parse(&first, &mut events);
        }
        k.parser.get().parse(&chunk, &mut events);
        let ps = self.stats.protocols.entry(k.protocol).or_default();
        let mut sink = Sink {
            protocol: k.protocol,
            socket_id: id,
            stats: ps,
            out,
        };
        for ev in events.drain(..) {
            handle(
                k,
                ev,
                seg.remote_port,
                self.cfg.max_pending_per_socket,
                &mut sink,
            );
        }
        self.events = events;
    }

    /// Like [`Tracker::feed`], with the segment's `cap_seq` (its index among the socket's
    /// captured records, from 0): a gap in the sequence means the capture lost events on this
    /// socket, and is handled as [`Tracker::lost`] before the segment is fed. Records must be
    /// fed in `cap_seq` order; one older than expected is fed as it is and counted.
    pub fn feed_seq(&mut self, seg: &Segment, cap_seq: u64, out: &mut Vec<L7Record>) {
        let expected = self.sockets.get(&seg.socket_id).and_then(|s| s.next_seq);
        match expected {
            Some(n) if cap_seq > n => {
                self.stats.seq_gaps += 1;
                self.lost(seg.socket_id, seg.ts_ns, out);
            }
            Some(n) if cap_seq < n => self.stats.seq_reordered += 1,
            _ => {}
        }
        self.feed(seg, out);
        if let Some(s) = self.sockets.get_mut(&seg.socket_id) {
            s.next_seq = Some(s.next_seq.map_or(cap_seq + 1, |n| n.max(cap_seq + 1)));
        }
    }

    /// The socket closed: finishes what ends with the connection, emits pending requests as
    /// incomplete and forgets the socket.
    pub fn close_socket(&mut self, socket_id: u64, now_ns: u64, out: &mut Vec<L7Record>) {
        let Some(sock) = self.sockets.remove(&socket_id) else {
            return;
        };
        self.held_total = self.held_total.saturating_sub(sock.held);
        self.stats.sockets_closed += 1;
        self.retire(socket_id, sock, now_ns, reason::CLOSED, out);
    }

    /// The capture lost events on this socket (a `cap_seq` gap, or a full ring): whatever is
    /// pending cannot be paired safely, so it is emitted as incomplete and both directions
    /// resynchronize on the next message start.
    pub fn lost(&mut self, socket_id: u64, now_ns: u64, out: &mut Vec<L7Record>) {
        self.stats.losses_reported += 1;
        let Some(sock) = self.sockets.get_mut(&socket_id) else {
            return;
        };
        let State::Known(k) = &mut sock.state else {
            return;
        };
        let fresh = start_like(k, self.cfg.redact);
        k.parser = fresh;
        if let Some(ps) = self.stats.protocols.get_mut(&k.protocol) {
            let mut sink = Sink {
                protocol: k.protocol,
                socket_id,
                stats: ps,
                out,
            };
            k.pairer.drain(reason::LOST, &mut sink);
        }
        let _ = now_ns;
        self.recount(socket_id);
    }

    /// Requests older than `timeout_ns` at `now_ns` are emitted as incomplete.
    pub fn expire(&mut self, now_ns: u64, out: &mut Vec<L7Record>) {
        let Some(deadline) = now_ns.checked_sub(self.cfg.timeout_ns) else {
            return;
        };
        for (&id, sock) in self.sockets.iter_mut() {
            let State::Known(k) = &mut sock.state else {
                continue;
            };
            if k.pairer.oldest().is_none_or(|t| t > deadline) {
                continue;
            }
            let answering = k
                .pairer
                .response_dir()
                .is_some_and(|d| k.parser.get().busy(d));
            let Some(ps) = self.stats.protocols.get_mut(&k.protocol) else {
                continue;
            };
            let mut sink = Sink {
                protocol: k.protocol,
                socket_id: id,
                stats: ps,
                out,
            };
            k.pairer.expire(deadline, answering, &mut sink);
        }
        self.held_total = 0;
        for sock in self.sockets.values_mut() {
            sock.held = held_by(&sock.state);
            self.held_total += sock.held;
        }
    }

    /// The running counters as they are, without the walk over sockets
    /// that [`Tracker::stats`] adds for the gauges: cheap enough to read
    /// after every batch.
    pub fn counters(&self) -> &TrackerStats {
        &self.stats
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> TrackerStats {
        let mut s = self.stats.clone();
        s.sockets_tracked = self.sockets.len() as u64;
        for sock in self.sockets.values() {
            if let State::Known(k) = &sock.state {
                s.buffered_bytes += k.parser.buffered() as u64;
                s.pending_requests += k.pairer.pending() as u64;
            }
        }
        s
    }

    /// Evicts the `n` least recently used sockets (their pending requests are emitted with
    /// reason `why`).
    fn evict_oldest(&mut self, n: usize, why: &'static str, out: &mut Vec<L7Record>) {
        let n = n.min(self.sockets.len());
        if n == 0 {
            return;
        }
        let mut by_age: Vec<(u64, u64)> =
            self.sockets.iter().map(|(id, s)| (s.tick, *id)).collect();
        by_age.select_nth_unstable(n - 1);
        for &(_, id) in &by_age[..n] {
            if let Some(sock) = self.sockets.remove(&id) {
                self.held_total = self.held_total.saturating_sub(sock.held);
                self.stats.sockets_evicted += 1;
                self.retire(id, sock, 0, why, out);
            }
        }
    }

    /// Counts again what one socket holds (after anything that may have changed it).
    fn recount(&mut self, id: u64) {
        let Some(s) = self.sockets.get_mut(&id) else {
            return;
        };
        let now = held_by(&s.state);
        // Saturating: the count is redone from scratch at every expire().
        self.held_total = self.held_total.saturating_sub(s.held) + now;
        s.held = now;
    }

    fn retire(&mut self, id: u64, sock: Sock, now_ns: u64, why: &str, out: &mut Vec<L7Record>) {
        let State::Known(mut k) = sock.state else {
            return;
        };
        let mut events = std::mem::take(&mut self.events);
        events.clear();
        k.parser.get().finish(now_ns, &mut events);
        if let Some(ps) = self.stats.protocols.get_mut(&k.protocol) {
            let mut sink = Sink {
                protocol: k.protocol,
                socket_id: id,
                stats: ps,
                out,
            };
            for ev in events.drain(..) {
                handle(&mut k, ev, 0, self.cfg.max_pending_per_socket, &mut sink);
            }
            k.pairer.drain(why, &mut sink);
        }
        self.events = events;
    }
}

fn start(protocol: Protocol, mtype: MsgType, seg: &Segment, redact: bool) -> Known {
    // Which direction carries requests, when the first message says so.
    let req_dir = match mtype {
        MsgType::Request => Some(seg.direction),
        MsgType::Response => Some(seg.direction.flip()),
        MsgType::Unknown => None,
    };
    let parser = match protocol {
        Protocol::Http1 => AnyParser::Http1(Http1Parser::new(redact)),
        Protocol::Dns => AnyParser::Dns(DnsParser::new(seg.transport)),
        Protocol::Redis => {
            let dir = req_dir.unwrap_or(if seg.local_port == 6379 {
                Direction::Ingress
            } else {
                Direction::Egress
            });
            AnyParser::Redis(RedisParser::new(dir))
        }
    };
    let mut pairer = Pairer::new(protocol == Protocol::Dns);
    if let Some(d) = req_dir {
        pairer.set_role(if d == Direction::Egress {
            Role::Client
        } else {
            Role::Server
        });
    }
    Known {
        protocol,
        transport: seg.transport,
        parser,
        pairer,
    }
}

fn start_like(k: &Known, redact: bool) -> AnyParser {
    match &k.parser {
        AnyParser::Http1(_) => AnyParser::Http1(Http1Parser::new(redact)),
        AnyParser::Dns(_) => AnyParser::Dns(DnsParser::new(k.transport)),
        AnyParser::Redis(p) => AnyParser::Redis(RedisParser::new(p.request_dir())),
    }
}

fn handle(k: &mut Known, ev: Event, remote_port: u16, max_pending: usize, sink: &mut Sink) {
    match ev {
        Event::Message(mut m) => {
            // An unconnected UDP socket talks to many peers whose ids may collide.
            if k.transport == Transport::Udp {
                if let Some(key) = m.key.as_mut() {
                    *key |= u64::from(remote_port) << 16;
                }
            }
            let dir = m.dir;
            let ts = m.last_ts_ns;
            if !k.pairer.message(m, max_pending, sink) {
                sink.stats.parse_errors += 1;
                k.pairer.gap(dir, ts, sink);
            }
        }
        Event::Gap {
            dir,
            ts_ns,
            bytes,
            error,
        } => {
            sink.stats.bytes_skipped += bytes;
            if error {
                sink.stats.parse_errors += 1;
            }
            k.pairer.gap(dir, ts_ns, sink);
        }
        Event::Unreadable { dir, ts_ns, bytes } => {
            sink.stats.bytes_skipped += bytes;
            sink.stats.parse_errors += 1;
            k.pairer.unknown(dir, ts_ns, max_pending);
        }
        // Events added later are counted as nothing until handled here.
        #[allow(unreachable_patterns)]
        _ => {}
    }
}
