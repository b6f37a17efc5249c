//! Socket and packet events (`netsight trace`, SPEC §5).

use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::process::{ProcIdentity, TcpState};

/// Event kinds, in the order `trace all` lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    Connect,
    Accept,
    Close,
    State,
    Retrans,
    Reset,
    Drop,
    Overflow,
}

impl EventKind {
    pub const ALL: [EventKind; 8] = [
        EventKind::Connect,
        EventKind::Accept,
        EventKind::Close,
        EventKind::State,
        EventKind::Retrans,
        EventKind::Reset,
        EventKind::Drop,
        EventKind::Overflow,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Connect => "connect",
            EventKind::Accept => "accept",
            EventKind::Close => "close",
            EventKind::State => "state",
            EventKind::Retrans => "retrans",
            EventKind::Reset => "reset",
            EventKind::Drop => "drop",
            EventKind::Overflow => "overflow",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }
}

/// Who closed a connection first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closer {
    Unknown,
    Local,
    Remote,
    Reset,
}

impl Closer {
    pub fn name(self) -> &'static str {
        match self {
            Closer::Unknown => "unknown",
            Closer::Local => "local",
            Closer::Remote => "remote",
            Closer::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetransKind {
    Unknown,
    Rto,
    Fast,
    Tlp,
    Synack,
}

impl RetransKind {
    pub fn name(self) -> &'static str {
        match self {
            RetransKind::Unknown => "unknown",
            RetransKind::Rto => "rto",
            RetransKind::Fast => "fast",
            RetransKind::Tlp => "tlp",
            RetransKind::Synack => "synack",
        }
    }
}

/// What is specific to each kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// `error`: 0 on success, else the errno the socket failed with
    /// (-1: abandoned by the application).
    Connect {
        latency_ns: u64,
        error: i32,
    },
    Accept,
    Close {
        duration_ns: u64,
        tx_bytes: u64,
        rx_bytes: u64,
        closer: Closer,
    },
    State {
        old: TcpState,
        new: TcpState,
        old_ns: u64,
    },
    Retrans {
        segs: u32,
        kind: RetransKind,
    },
    /// `received`: false when this host sent the reset.
    Reset {
        received: bool,
    },
    /// `reason`: the kernel's skb_drop_reason number; `location`: address.
    Drop {
        reason: u32,
        location: u64,
    },
    /// `syn_queue`: false for the accept queue.
    Overflow {
        syn_queue: bool,
        backlog: u32,
        max_backlog: u32,
    },
}

/// One event as the kernel reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct SockEvent {
    /// Monotonic ns (the kernel's clock).
    pub ts_ns: u64,
    pub owner: Option<ProcIdentity>,
    pub netns: u32,
    pub protocol: u8,
    pub state: TcpState,
    /// Local end for socket events; the packet's source for drops.
    pub src: (IpAddr, u16),
    pub dst: (IpAddr, u16),
    pub detail: Detail,
}

impl SockEvent {
    pub fn kind(&self) -> EventKind {
        match self.detail {
            Detail::Connect { .. } => EventKind::Connect,
            Detail::Accept => EventKind::Accept,
            Detail::Close { .. } => EventKind::Close,
            Detail::State { .. } => EventKind::State,
            Detail::Retrans { .. } => EventKind::Retrans,
            Detail::Reset { .. } => EventKind::Reset,
            Detail::Drop { .. } => EventKind::Drop,
            Detail::Overflow { .. } => EventKind::Overflow,
        }
    }

    pub fn pid(&self) -> u32 {
        self.owner.as_ref().map_or(0, |o| o.key.pid)
    }

    pub fn comm(&self) -> &str {
        self.owner.as_ref().map_or("", |o| o.comm.as_str())
    }
}

/// Names the kernel knows and the event only numbers.
pub trait Names {
    /// "TCP_LISTEN_OVERFLOW" for a skb_drop_reason number.
    fn drop_reason(&self, reason: u32) -> String;
    /// "tcp_v4_rcv+0x2a" for a kernel address.
    fn symbol(&self, addr: u64) -> String;
}

/// connect's `result`: "ok", or the errno's short name.
pub fn connect_result(error: i32) -> String {
    match error {
        0 => "ok".into(),
        -1 => "aborted".into(),
        111 => "refused".into(),
        110 => "timeout".into(),
        113 => "unreachable".into(),
        101 => "network_unreachable".into(),
        104 => "reset".into(),
        e => format!("errno {e}"),
    }
}

/// The SPEC §5 JSON object of an event; `ts` is the wall-clock time.
pub fn to_json(e: &SockEvent, ts: &str, names: &dyn Names) -> Value {
    let mut m = Map::new();
    m.insert("type".into(), json!("event"));
    m.insert("kind".into(), json!(e.kind().name()));
    m.insert("ts".into(), json!(ts));
    m.insert("pid".into(), json!(e.pid()));
    m.insert("comm".into(), json!(e.comm()));
    m.insert("saddr".into(), json!(e.src.0.to_string()));
    m.insert("sport".into(), json!(e.src.1));
    m.insert("daddr".into(), json!(e.dst.0.to_string()));
    m.insert("dport".into(), json!(e.dst.1));
    m.insert("netns".into(), json!(e.netns));
    let mut put = |k: &str, v: Value| {
        m.insert(k.into(), v);
    };
    match &e.detail {
        Detail::Connect { latency_ns, error } => {
            put("latency_us", json!(latency_ns / 1000));
            put("result", json!(connect_result(*error)));
        }
        Detail::Accept => {}
        Detail::Close {
            duration_ns,
            tx_bytes,
            rx_bytes,
            closer,
        } => {
            put("duration_ms", json!(duration_ns / 1_000_000));
            put("tx_bytes", json!(tx_bytes));
            put("rx_bytes", json!(rx_bytes));
            put("closed_by", json!(closer.name()));
        }
        Detail::State { old, new, old_ns } => {
            put("old", json!(old.name()));
            put("new", json!(new.name()));
            put("old_state_us", json!(old_ns / 1000));
        }
        Detail::Retrans { segs, kind } => {
            put("segs", json!(segs));
            put("state", json!(e.state.name()));
            // "kind" already names the event; SPEC's retransmit kind goes here.
            put("retrans_kind", json!(kind.name()));
        }
        Detail::Reset { received } => {
            put(
                "direction",
                json!(if *received { "received" } else { "sent" }),
            );
        }
        Detail::Drop { reason, location } => {
            put("reason", json!(names.drop_reason(*reason)));
            put("location", json!(names.symbol(*location)));
            put("protocol", json!(protocol_name(e.protocol)));
        }
        Detail::Overflow {
            syn_queue,
            backlog,
            max_backlog,
        } => {
            put("queue", json!(if *syn_queue { "syn" } else { "accept" }));
            put("backlog", json!(backlog));
            put("max_backlog", json!(max_backlog));
            put("port", json!(e.src.1));
        }
    }
    Value::Object(m)
}

/// "tcp", "udp", "icmp"... for an IP protocol number.
pub fn protocol_name(p: u8) -> String {
    match p {
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "icmpv6".into(),
        0 => "".into(),
        other => other.to_string(),
    }
}

/// The human line's kind-specific part.
pub fn detail_text(e: &SockEvent, names: &dyn Names) -> String {
    match &e.detail {
        Detail::Connect { latency_ns, error } => {
            format!(
                "{} in {:.3} ms",
                connect_result(*error),
                *latency_ns as f64 / 1e6
            )
        }
        Detail::Accept => String::new(),
        Detail::Close {
            duration_ns,
            tx_bytes,
            rx_bytes,
            closer,
        } => format!(
            "tx {tx_bytes} rx {rx_bytes} after {:.3} ms, closed by {}",
            *duration_ns as f64 / 1e6,
            closer.name()
        ),
        Detail::State { old, new, old_ns } => {
            format!(
                "{} -> {} after {:.3} ms",
                old.name(),
                new.name(),
                *old_ns as f64 / 1e6
            )
        }
        Detail::Retrans { segs, kind } => {
            format!("{segs} seg(s), {} in {}", kind.name(), e.state.name())
        }
        Detail::Reset { received } => (if *received { "received" } else { "sent" }).into(),
        Detail::Drop { reason, location } => format!(
            "{} {} at {}",
            protocol_name(e.protocol),
            names.drop_reason(*reason),
            names.symbol(*location)
        ),
        Detail::Overflow {
            syn_queue,
            backlog,
            max_backlog,
        } => format!(
            "{} queue full ({backlog}/{max_backlog})",
            if *syn_queue { "syn" } else { "accept" }
        ),
    }
}
