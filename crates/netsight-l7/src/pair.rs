//! Request/response pairing for one socket.
//!
//! Requests wait in a FIFO. A response takes the oldest request with the same key (DNS id), or
//! for protocols without ids (HTTP/1, Redis) the oldest request, in order, which is what
//! pipelining needs. Lost or unreadable bytes make pairing doubtful, and doubt ends in
//! `incomplete`, never in a wrong pair:
//! - a gap in the *response* stream may have held the responses of every request already sent:
//!   those requests are emitted as incomplete, so later responses do not shift onto them;
//! - a gap in the *request* stream may have held 0..n requests: it waits in the FIFO as a
//!   marker. A response that began before the next parsed request was fully sent cannot answer
//!   it, so it answered a lost request and is emitted alone. If response bytes came after the
//!   gap and before the next request, the client waited and the hidden requests were answered:
//!   the next response takes the next request. If not, the client pipelined across the gap,
//!   the number of hidden requests is unknown, and every request and response is emitted as
//!   incomplete until the queue drains;
//! - a request known to exist but unreadable (a Redis command without a name) keeps its place
//!   as a placeholder, and its response is emitted alone;
//! - a response that began before the oldest request was fully sent answers something else;
//! - a whole lost response (an event the kernel dropped) leaves no gap. A client that waits for
//!   each response then sends the next request (in a new segment) while the old one still
//!   waits; a response after that answers either one. Unless the client was seen pipelining
//!   across segments (two responses in a row after requests from two or more segments were
//!   outstanding), those requests and that response are emitted as incomplete, and pairing
//!   restarts from an empty queue. A client that pipelines across segments from its first
//!   requests loses that first burst this way, then pairs in order.
//!
//! Losing a response *and* the next request looks exactly like a normal exchange; only the
//! capture's sequence numbers can tell (`Tracker::feed_seq`, `Tracker::lost`).

use crate::parser::{Body, Message};
use crate::record::{L7Record, Role, Status};
use crate::tracker::ProtocolStats;
use crate::{Direction, Protocol};
use std::collections::VecDeque;

enum Entry {
    Req(Message),
    /// One request that could not be read, seen at this time.
    Unknown(u64),
    /// Request bytes not understood, first seen at `ts`; `answered`: response bytes came
    /// after it and before the next request (so the client was not pipelining across it).
    Gap {
        ts: u64,
        answered: bool,
    },
}

/// Where a pairer sends records and counts them.
pub(crate) struct Sink<'a> {
    pub protocol: Protocol,
    pub socket_id: u64,
    pub stats: &'a mut ProtocolStats,
    pub out: &'a mut Vec<L7Record>,
}

impl Sink<'_> {
    fn emit(&mut self, rec: L7Record) {
        self.stats.records += 1;
        match rec.status {
            Status::Ok => self.stats.ok += 1,
            Status::Error => self.stats.error += 1,
            Status::Incomplete => self.stats.incomplete += 1,
        }
        self.out.push(rec);
    }

    fn pair(&mut self, role: Role, req: Message, resp: Message) {
        let (Body::Request(request), Body::Response(response)) = (req.body, resp.body) else {
            return;
        };
        let status = if response.is_error() {
            Status::Error
        } else {
            Status::Ok
        };
        self.emit(L7Record {
            protocol: self.protocol,
            socket_id: self.socket_id,
            role,
            request: Some(request),
            response: Some(response),
            req_ts_ns: req.first_ts_ns,
            resp_ts_ns: resp.first_ts_ns,
            latency_us: Some(resp.first_ts_ns.saturating_sub(req.last_ts_ns) / 1000),
            req_bytes: req.bytes,
            resp_bytes: resp.bytes,
            status,
            reason: None,
        });
    }

    fn lone_request(&mut self, role: Role, req: Message, reason: &str) {
        let Body::Request(request) = req.body else {
            return;
        };
        self.emit(L7Record {
            protocol: self.protocol,
            socket_id: self.socket_id,
            role,
            request: Some(request),
            response: None,
            req_ts_ns: req.first_ts_ns,
            resp_ts_ns: 0,
            latency_us: None,
            req_bytes: req.bytes,
            resp_bytes: 0,
            status: Status::Incomplete,
            reason: Some(reason.to_string()),
        });
    }

    fn lone_response(&mut self, role: Role, resp: Message, reason: &str) {
        let Body::Response(response) = resp.body else {
            return;
        };
        self.stats.lone_responses += 1;
        self.emit(L7Record {
            protocol: self.protocol,
            socket_id: self.socket_id,
            role,
            request: None,
            response: Some(response),
            req_ts_ns: resp.first_ts_ns,
            resp_ts_ns: resp.first_ts_ns,
            latency_us: None,
            req_bytes: 0,
            resp_bytes: resp.bytes,
            status: Status::Incomplete,
            reason: Some(reason.to_string()),
        });
    }
}

/// Reasons, shared with the tests.
pub(crate) mod reason {
    pub const TIMEOUT: &str = "no response within the timeout";
    pub const CLOSED: &str = "socket closed before the response";
    pub const EVICTED: &str = "socket evicted (too many sockets)";
    pub const EVICTED_MEMORY: &str = "socket evicted (L7 memory budget full)";
    pub const TOO_MANY: &str = "too many requests pending on the socket";
    pub const RESP_LOST: &str = "response not parsed (bytes lost or malformed)";
    pub const SUPERSEDED: &str = "a later query reused the id";
    pub const NO_REQUEST: &str = "no matching request seen";
    pub const REQ_LOST: &str = "request not parsed (bytes lost or malformed)";
    pub const EARLY: &str = "response began before the pending request was sent";
    pub const LOST: &str = "capture lost events on the socket";
    pub const DOUBT: &str = "pairing in doubt: requests pipelined across lost bytes";
    pub const AMBIGUOUS: &str =
        "pairing in doubt: a response was lost, or the client pipelines (not seen before)";
}

/// The pairing state of one socket.
#[derive(Default)]
pub(crate) struct Pairer {
    role: Option<Role>,
    queue: VecDeque<Entry>,
    /// Messages carry ids (DNS): gaps do not shift anything, lost answers just time out.
    keyed: bool,
    /// Pairing is in doubt (see [`Pairer::doubtful`]).
    doubt: bool,
    /// The client was seen pipelining across segments (two responses in a row after two
    /// or more requests were outstanding): a request sent while another waits is then not a
    /// sign that the other's response was lost.
    pipelining: bool,
    /// Responses since the last request.
    resps_since_req: u8,
    /// Requests outstanding when the last one was sent.
    burst: usize,
}

fn role_of(body: &Body, dir: Direction) -> Role {
    match (body, dir) {
        (Body::Request(_), Direction::Egress) | (Body::Response(_), Direction::Ingress) => {
            Role::Client
        }
        _ => Role::Server,
    }
}

impl Pairer {
    /// A pairer; `keyed` for protocols whose messages carry ids.
    pub fn new(keyed: bool) -> Self {
        Pairer {
            keyed,
            ..Pairer::default()
        }
    }

    /// Requests waiting (placeholders and gap markers not counted).
    pub fn pending(&self) -> usize {
        self.queue
            .iter()
            .filter(|e| matches!(e, Entry::Req(_)))
            .count()
    }

    /// Fixes the role before any message (when inference already knows it).
    pub fn set_role(&mut self, role: Role) {
        if self.role.is_none() {
            self.role = Some(role);
        }
    }

    /// The direction responses come in, once the role is known.
    pub fn response_dir(&self) -> Option<Direction> {
        self.request_dir().map(Direction::flip)
    }

    fn request_dir(&self) -> Option<Direction> {
        self.role.map(|r| match r {
            Role::Client => Direction::Egress,
            Role::Server => Direction::Ingress,
        })
    }

    /// A parsed message. Returns false when it contradicts the socket's role (a request in the
    /// response direction): the caller counts it as a parse error.
    pub fn message(&mut self, msg: Message, max_pending: usize, sink: &mut Sink) -> bool {
        let role = *self.role.get_or_insert(role_of(&msg.body, msg.dir));
        if role_of(&msg.body, msg.dir) != role {
            return false;
        }
        match msg.body {
            Body::Request(_) => self.request(role, msg, max_pending, sink),
            Body::Response(_) => self.response(role, msg, sink),
        }
        true
    }

    fn request(&mut self, role: Role, msg: Message, max_pending: usize, sink: &mut Sink) {
        if let Some(key) = msg.key {
            let dup = self.queue.iter().position(|e| match e {
                Entry::Req(r) => r.key == Some(key) && r.check == msg.check,
                _ => false,
            });
            if let Some(i) = dup {
                if let Some(Entry::Req(old)) = self.queue.remove(i) {
                    sink.lone_request(role, old, reason::SUPERSEDED);
                }
            }
        }
        self.queue.push_back(Entry::Req(msg));
        self.resps_since_req = 0;
        // Outstanding request *segments*: requests written together count once (the queue is
        // in time order, so equal start times are neighbours).
        let mut last = None;
        self.burst = 0;
        for e in &self.queue {
            if let Entry::Req(r) = e {
                if last != Some(r.first_ts_ns) {
                    self.burst += 1;
                    last = Some(r.first_ts_ns);
                }
            }
        }
        while self.queue.len() > max_pending.max(1) {
            if let Some(Entry::Req(old)) = self.queue.pop_front() {
                sink.stats.pending_overflow += 1;
                sink.lone_request(role, old, reason::TOO_MANY);
            }
        }
    }

    fn response(&mut self, role: Role, resp: Message, sink: &mut Sink) {
        if let Some(key) = resp.key {
            let hit = self.queue.iter().position(|e| match e {
                Entry::Req(r) => {
                    r.key == Some(key)
                        && (r.check.is_none() || resp.check.is_none() || r.check == resp.check)
                }
                _ => false,
            });
            match hit.and_then(|i| self.queue.remove(i)) {
                Some(Entry::Req(req)) => sink.pair(role, req, resp),
                _ => sink.lone_response(role, resp, reason::NO_REQUEST),
            }
            return;
        }
        self.note_response();
        self.resps_since_req = self.resps_since_req.saturating_add(1);
        if self.resps_since_req >= 2 && self.burst >= 2 {
            self.pipelining = true;
        }
        loop {
            if self.doubt {
                return self.doubtful(role, resp, sink);
            }
            match self.queue.front() {
                None => return sink.lone_response(role, resp, reason::NO_REQUEST),
                Some(Entry::Unknown(_)) => {
                    self.queue.pop_front();
                    return sink.lone_response(role, resp, reason::REQ_LOST);
                }
                Some(&Entry::Gap { answered, .. }) => {
                    let next_sent = match self.queue.get(1) {
                        Some(Entry::Req(r)) => Some(r.last_ts_ns),
                        _ => None,
                    };
                    match next_sent {
                        Some(t) if resp.first_ts_ns >= t => {
                            self.queue.pop_front();
                            if !answered {
                                // Requests were sent across the gap without waiting: how many
                                // it hid is unknown, so nothing pairs until the queue drains.
                                self.doubt = true;
                            }
                        }
                        _ => return sink.lone_response(role, resp, reason::REQ_LOST),
                    }
                }
                Some(Entry::Req(r)) => {
                    if resp.first_ts_ns < r.last_ts_ns {
                        return sink.lone_response(role, resp, reason::EARLY);
                    }
                    if !self.pipelining && self.sent_behind(r.last_ts_ns, resp.first_ts_ns) {
                        return self.ambiguous(role, resp, sink);
                    }
                    if let Some(Entry::Req(req)) = self.queue.pop_front() {
                        sink.pair(role, req, resp);
                    }
                    return;
                }
            }
        }
    }

    /// Whether a request in a later segment than the oldest one (which ended at `front_ts`)
    /// was sent before `ts`. Requests written together in one segment are pipelined by
    /// construction and say nothing about lost responses.
    fn sent_behind(&self, front_ts: u64, ts: u64) -> bool {
        self.queue
            .iter()
            .skip(1)
            .any(|e| matches!(e, Entry::Req(r) if r.first_ts_ns > front_ts && r.last_ts_ns <= ts))
    }

    /// A client not known to pipeline sent a request while an earlier one waited, and now a
    /// response comes: either the earlier one's response was lost (and this answers the later
    /// one) or the client pipelines (and this answers the earlier one). Nobody can tell, so
    /// the requests sent before it and the response are incomplete.
    fn ambiguous(&mut self, role: Role, resp: Message, sink: &mut Sink) {
        let ts = resp.first_ts_ns;
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for e in self.queue.drain(..) {
            match e {
                Entry::Req(r) if r.last_ts_ns <= ts => {
                    sink.lone_request(role, r, reason::AMBIGUOUS)
                }
                Entry::Req(_) => kept.push_back(e),
                _ if kept.is_empty() => {}
                _ => kept.push_back(e),
            }
        }
        self.queue = kept;
        sink.lone_response(role, resp, reason::AMBIGUOUS);
    }

    /// Response bytes went by: a request gap at the back of the queue was answered.
    fn note_response(&mut self) {
        if let Some(Entry::Gap { answered, .. }) = self.queue.back_mut() {
            *answered = true;
        }
    }

    /// In doubt: each response ends the oldest request, both incomplete, until none is left.
    fn doubtful(&mut self, role: Role, resp: Message, sink: &mut Sink) {
        while let Some(e) = self.queue.pop_front() {
            if let Entry::Req(r) = e {
                sink.lone_request(role, r, reason::DOUBT);
                break;
            }
        }
        if !self.queue.iter().any(|e| matches!(e, Entry::Req(_))) {
            self.queue.clear();
            self.doubt = false;
        }
        sink.lone_response(role, resp, reason::DOUBT);
    }

    /// Bytes in `dir` that a parser could not use, seen at `ts_ns`.
    pub fn gap(&mut self, dir: Direction, ts_ns: u64, sink: &mut Sink) {
        if self.keyed {
            return;
        }
        let Some(req_dir) = self.request_dir() else {
            return;
        };
        let role = self.role.unwrap_or(Role::Client);
        if dir == req_dir {
            if !matches!(self.queue.back(), Some(Entry::Gap { .. })) {
                self.queue.push_back(Entry::Gap {
                    ts: ts_ns,
                    answered: false,
                });
            }
            return;
        }
        self.note_response();
        // Every request sent before these response bytes may have been answered by them.
        // Request-gap markers stay: lost requests may still be answered later.
        let mut kept = VecDeque::with_capacity(self.queue.len());
        for e in self.queue.drain(..) {
            match e {
                Entry::Req(r) if r.last_ts_ns <= ts_ns => {
                    sink.lone_request(role, r, reason::RESP_LOST)
                }
                Entry::Unknown(t) if t <= ts_ns => {}
                e => kept.push_back(e),
            }
        }
        self.queue = kept;
    }

    /// One request in `dir` that could not be read: it keeps its place in the order.
    pub fn unknown(&mut self, dir: Direction, ts_ns: u64, max_pending: usize) {
        if self.keyed || self.request_dir() != Some(dir) {
            return;
        }
        self.queue.push_back(Entry::Unknown(ts_ns));
        while self.queue.len() > max_pending.max(1) {
            self.queue.pop_front();
        }
    }

    /// Everything pending becomes incomplete with `why`.
    pub fn drain(&mut self, why: &str, sink: &mut Sink) {
        let role = self.role.unwrap_or(Role::Client);
        self.doubt = false;
        for e in self.queue.drain(..) {
            if let Entry::Req(r) = e {
                sink.lone_request(role, r, why);
            }
        }
    }

    /// Requests sent at or before `deadline_ns` become incomplete (timeout).
    /// `answering`: a response is being received right now; it answers the oldest request,
    /// which therefore waits.
    pub fn expire(&mut self, deadline_ns: u64, answering: bool, sink: &mut Sink) {
        let role = self.role.unwrap_or(Role::Client);
        // Keyed (DNS) requests may complete out of order, so look at every entry.
        let mut i = 0;
        if answering && !self.keyed {
            i = self
                .queue
                .iter()
                .position(|e| matches!(e, Entry::Req(_)))
                .map_or(0, |p| p + 1);
        }
        while i < self.queue.len() {
            let old = match &self.queue[i] {
                Entry::Req(r) => r.last_ts_ns <= deadline_ns,
                Entry::Gap { ts: t, .. } | Entry::Unknown(t) => *t <= deadline_ns,
            };
            if !old {
                i += 1;
                continue;
            }
            if let Some(Entry::Req(r)) = self.queue.remove(i) {
                sink.lone_request(role, r, reason::TIMEOUT);
            }
        }
        if !self.queue.iter().any(|e| matches!(e, Entry::Req(_))) {
            self.doubt = false;
        }
    }

    /// The oldest time anything pending was seen.
    pub fn oldest(&self) -> Option<u64> {
        self.queue
            .iter()
            .map(|e| match e {
                Entry::Req(r) => r.last_ts_ns,
                Entry::Gap { ts: t, .. } | Entry::Unknown(t) => *t,
            })
            .min()
    }
}
