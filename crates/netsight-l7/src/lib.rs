//! The L7 side of netsight's socket data tracer (SPEC §8).
//!
//! The kernel side captures one [`Segment`] per read/write-family syscall on a socket. This crate
//! turns those segments into [`L7Record`]s: it infers the protocol ([`infer`]), parses each
//! direction of each socket with a streaming parser that never panics and holds a bounded number
//! of bytes ([`parser`]), pairs requests with responses ([`Tracker`]) and redacts secrets by
//! default ([`Config::redact`]).
//!
//! Everything here works on untrusted bytes: a segment may be truncated (`payload` shorter than
//! `syscall_len`), start in the middle of a message, or be garbage. The rule is *nothing lost
//! silently*: a request that gets no response is emitted as `incomplete` with a reason, a
//! response whose request was not seen is emitted on its own, and every byte the parsers could
//! not use is counted in [`TrackerStats`].
//!
//! Driving it from a capture engine:
//! - feed every data record of a socket in `cap_seq` order, with [`Tracker::feed_seq`] (or
//!   [`Tracker::feed`] plus [`Tracker::lost`] when the engine knows it dropped events): a lost
//!   event then restarts pairing instead of risking a wrong pair;
//! - feed syscalls that move bytes without capturing them (`sendfile`, `splice`) as segments
//!   with an empty payload and their `syscall_len`, so bodies are skipped correctly;
//! - call [`Tracker::expire`] about once a second and [`Tracker::close_socket`] on close;
//! - one `Tracker` per worker thread, sockets sharded by `socket_id` (it is `Send`, not shared).
//!
//! What each parser handles is in its module: [`http1`], [`dns`], [`redis`]; how pairing stays
//! right when bytes are lost is in [`Tracker`]'s notes and `src/pair.rs`.
//!
//! ```
//! use netsight_l7::{Config, Direction, Segment, Tracker, Transport};
//! let mut t = Tracker::new(Config::default());
//! let mut out = Vec::new();
//! let seg = |ts, direction, payload: &'static [u8]| Segment {
//!     socket_id: 1, ts_ns: ts, direction, transport: Transport::Tcp,
//!     syscall_len: payload.len() as u32, payload, local_port: 40000, remote_port: 80, hint: None,
//! };
//! t.feed(&seg(1_000, Direction::Egress, b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"), &mut out);
//! t.feed(&seg(9_000, Direction::Ingress, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), &mut out);
//! assert_eq!(out.len(), 1);
//! assert_eq!(out[0].latency_us, Some(8));
//! ```

#![warn(missing_docs)]

pub mod dns;
pub mod fuzz;
pub mod http1;
mod infer;
mod pair;
pub mod parser;
mod record;
pub mod redact;
pub mod redis;
mod tracker;

pub use infer::infer;
pub use record::{
    DnsQuery, DnsResponse, HttpRequest, HttpResponse, L7Record, RedisCommand, RedisReply,
    ReplyKind, Request, Response, Role, Status,
};
pub use tracker::{ProtocolStats, Tracker, TrackerStats};

use serde::Serialize;
use std::hash::{BuildHasherDefault, Hasher};

/// Which way the bytes went, seen from the traced application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The application wrote (send, write, sendmsg, ...).
    Egress,
    /// The application read (recv, read, recvmsg, ...).
    Ingress,
}

impl Direction {
    /// The other direction.
    pub fn flip(self) -> Direction {
        match self {
            Direction::Egress => Direction::Ingress,
            Direction::Ingress => Direction::Egress,
        }
    }
}

/// The socket's transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// A byte stream: messages may span segments and segments may hold several messages.
    Tcp,
    /// Datagrams: one message per segment.
    Udp,
}

/// An L7 protocol this crate can parse.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.0 and HTTP/1.1.
    Http1,
    /// DNS over UDP or TCP.
    Dns,
    /// Redis RESP2/RESP3.
    Redis,
}

impl Protocol {
    /// Every protocol, in a fixed order.
    pub const ALL: [Protocol; 3] = [Protocol::Http1, Protocol::Dns, Protocol::Redis];

    /// The name used in JSON (`"http1"`, `"dns"`, `"redis"`).
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Http1 => "http1",
            Protocol::Dns => "dns",
            Protocol::Redis => "redis",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The protocol of a JSON name, as [`Protocol::name`] writes it.
impl std::str::FromStr for Protocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Protocol::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| UnknownProtocol(s.to_string()))
    }
}

/// A protocol name this crate does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownProtocol(pub String);

impl std::fmt::Display for UnknownProtocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unknown L7 protocol {:?}", self.0)
    }
}

impl std::error::Error for UnknownProtocol {}

/// Whether a message asks or answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MsgType {
    /// A request (HTTP request, DNS query, Redis command).
    Request,
    /// A response (HTTP response, DNS answer, Redis reply).
    Response,
    /// Not known.
    Unknown,
}

/// One captured syscall on one socket.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Unique per socket for the tracer's life.
    pub socket_id: u64,
    /// CLOCK_MONOTONIC ns when the syscall returned.
    pub ts_ns: u64,
    /// Which way the bytes went.
    pub direction: Direction,
    /// TCP or UDP.
    pub transport: Transport,
    /// Bytes the syscall moved.
    pub syscall_len: u32,
    /// The first `cap_len` bytes of them (`cap_len <= syscall_len`; may be truncated). A payload
    /// longer than `syscall_len` is treated as if `syscall_len` were its length.
    pub payload: &'a [u8],
    /// The socket's local port.
    pub local_port: u16,
    /// The socket's remote port (for an unconnected UDP socket: the peer of this datagram, or 0).
    pub remote_port: u16,
    /// The kernel side's cheap guess; may be wrong or `None`. Not trusted: [`infer`] decides
    /// from the bytes (the current rules never conflict, so the hint is not consulted yet).
    pub hint: Option<Protocol>,
}

/// Settings of a [`Tracker`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Redact secrets (default `true`): values of sensitive query parameters and URL passwords
    /// in HTTP paths. Redis records never carry `AUTH`/`HELLO AUTH`/`MIGRATE AUTH` arguments or
    /// `CONFIG SET` values in any case; HTTP headers are never exposed.
    pub redact: bool,
    /// A request older than this without a response is emitted as incomplete by
    /// [`Tracker::expire`] (default 10 s).
    pub timeout_ns: u64,
    /// Sockets tracked at once; the least recently used one is evicted beyond (default 16384).
    pub max_sockets: usize,
    /// Requests awaiting a response per socket; the oldest is emitted as incomplete beyond
    /// (default 32).
    pub max_pending_per_socket: usize,
    /// Bytes all sockets may hold at once in parser buffers and pending requests (each
    /// counted at its most); beyond, the least recently used sockets are evicted (default
    /// 64 MiB).
    pub max_held_bytes: usize,
    /// Keep the ids of the sockets given up on (no known protocol in their first segments)
    /// for [`Tracker::take_given_up`] (default `false`: only a caller that takes them
    /// regularly keeps the list short).
    pub report_given_up: bool,
}

/// Most bytes one socket's parser holds, by length (HTTP: two heads of [`http1::MAX_HEAD`]
/// and the methods of pipelined requests; Redis and DNS hold less). Allocations can round up,
/// to at most twice this.
pub const MAX_PARSER_BYTES: usize = 2 * http1::MAX_HEAD + 2048;
/// Most bytes one pending request holds (an HTTP path of 512 bytes, a Host of 256, ...).
pub const MAX_PENDING_BYTES: usize = 1024;
/// Bookkeeping per socket.
const SOCKET_OVERHEAD: usize = 256;

impl Config {
    /// The most memory a [`Tracker`] with these settings can hold, in bytes: the held-bytes
    /// budget (or every socket full, if that is less) plus each socket's bookkeeping (typical
    /// use is far below: a few KiB per busy socket). The defaults give about 68 MiB.
    pub fn memory_bound(&self) -> usize {
        let sockets = self.max_sockets.max(1);
        let full = sockets.saturating_mul(
            MAX_PARSER_BYTES
                + self
                    .max_pending_per_socket
                    .max(1)
                    .saturating_mul(MAX_PENDING_BYTES),
        );
        // A feed may pass the budget by one socket's worth before eviction brings it back.
        let one = MAX_PARSER_BYTES + self.max_pending_per_socket.max(1) * MAX_PENDING_BYTES;
        full.min(self.max_held_bytes.saturating_add(one))
            .saturating_add(sockets.saturating_mul(SOCKET_OVERHEAD))
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            redact: true,
            timeout_ns: 10_000_000_000,
            max_sockets: 16384,
            max_pending_per_socket: 32,
            max_held_bytes: 64 << 20,
            report_given_up: false,
        }
    }
}

/// A map keyed by socket id. Ids are the kernel's socket cookies (a counter), not input an
/// attacker picks, so a multiplicative hash does; SipHash cost a tenth of the tracker's time.
pub type SocketMap<V> = std::collections::HashMap<u64, V, BuildHasherDefault<IdHasher>>;

/// The hasher of [`SocketMap`]: one multiplication by the golden ratio (Fibonacci hashing).
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, x: u64) {
        self.0 = (self.0 ^ x).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}
