//! The socket data tracer's typed records (SPEC §8): one [`DataRecord`]
//! per captured syscall, as the kernel side delivered it.

use std::net::IpAddr;

/// `egress`: the application wrote; `ingress`: it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    Egress,
    Ingress,
}

impl Direction {
    pub fn name(self) -> &'static str {
        match self {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    Tcp,
    Udp,
}

impl Transport {
    pub fn name(self) -> &'static str {
        match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        }
    }
}

/// The syscall that moved the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Syscall {
    Unknown,
    Read,
    Write,
    Readv,
    Writev,
    Recvfrom,
    Sendto,
    Recvmsg,
    Sendmsg,
    Recvmmsg,
    Sendmmsg,
    Preadv2,
    Pwritev2,
}

impl Syscall {
    pub fn name(self) -> &'static str {
        match self {
            Syscall::Unknown => "unknown",
            Syscall::Read => "read",
            Syscall::Write => "write",
            Syscall::Readv => "readv",
            Syscall::Writev => "writev",
            Syscall::Recvfrom => "recvfrom",
            Syscall::Sendto => "sendto",
            Syscall::Recvmsg => "recvmsg",
            Syscall::Sendmsg => "sendmsg",
            Syscall::Recvmmsg => "recvmmsg",
            Syscall::Sendmmsg => "sendmmsg",
            Syscall::Preadv2 => "preadv2",
            Syscall::Pwritev2 => "pwritev2",
        }
    }
}

/// The kernel side's protocol guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum L7Hint {
    Unknown,
    Http1,
    Http2,
    Dubbo,
    Mysql,
    Redis,
    Kafka,
    Dns,
}

impl L7Hint {
    pub fn name(self) -> &'static str {
        match self {
            L7Hint::Unknown => "unknown",
            L7Hint::Http1 => "http1",
            L7Hint::Http2 => "http2",
            L7Hint::Dubbo => "dubbo",
            L7Hint::Mysql => "mysql",
            L7Hint::Redis => "redis",
            L7Hint::Kafka => "kafka",
            L7Hint::Dns => "dns",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MsgType {
    Unknown,
    Request,
    Response,
}

impl MsgType {
    pub fn name(self) -> &'static str {
        match self {
            MsgType::Unknown => "unknown",
            MsgType::Request => "request",
            MsgType::Response => "response",
        }
    }
}

/// One captured syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRecord {
    /// CLOCK_MONOTONIC nanoseconds, when the syscall finished.
    pub ts_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    pub cgroup_id: u64,
    pub netns: u32,
    pub transport: Transport,
    pub local: (IpAddr, u16),
    /// Unspecified address and port 0 when unknown (a read on an
    /// unconnected UDP socket).
    pub remote: (IpAddr, u16),
    /// A UDP socket with no connected peer: `remote` is this datagram's
    /// destination on sends, unknown on reads.
    pub unconnected: bool,
    /// Unique for the life of the tracer (the socket's cookie).
    pub socket_id: u64,
    pub direction: Direction,
    pub syscall: Syscall,
    pub syscall_len: u64,
    /// Bytes captured: `payload.len()`.
    pub cap_len: u32,
    pub cap_seq: u64,
    /// Sequence number of the first byte moved; `None` for UDP.
    pub tcp_seq: Option<u32>,
    pub trace_id: u64,
    pub l7_hint: L7Hint,
    pub msg_type: MsgType,
    pub need_reconfirm: bool,
    pub payload: Vec<u8>,
}

/// What the kernel side delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KernelRecord {
    Data(DataRecord),
    /// A traced TCP socket closed.
    Close {
        socket_id: u64,
        ts_ns: u64,
    },
}
