//! What the tracer delivers: data records, L7 records with their socket's
//! owner and addresses, and loss notices, each with its SPEC §8 JSON form.

use std::net::IpAddr;

use netsight_events::sockdata::{DataRecord, Transport};
use netsight_l7::L7Record;

/// The process and addresses of a socket, as of its latest data record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    pub pid: u32,
    pub comm: String,
    pub cgroup_id: u64,
    pub netns: u32,
    pub transport: Transport,
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
}

impl SocketInfo {
    pub(crate) fn unknown() -> Self {
        let nowhere = (IpAddr::from([0, 0, 0, 0]), 0);
        SocketInfo {
            pid: 0,
            comm: String::new(),
            cgroup_id: 0,
            netns: 0,
            transport: Transport::Tcp,
            local: nowhere,
            remote: nowhere,
        }
    }

    pub(crate) fn of(d: &DataRecord) -> Self {
        SocketInfo {
            pid: d.pid,
            comm: d.comm.clone(),
            cgroup_id: d.cgroup_id,
            netns: d.netns,
            transport: d.transport,
            local: d.local,
            remote: d.remote,
        }
    }
}

/// One L7 record and the socket it was seen on.
#[derive(Debug, Clone)]
pub struct L7Event {
    /// CLOCK_MONOTONIC ns of the request (or the lone response).
    pub ts_ns: u64,
    pub socket: SocketInfo,
    pub record: L7Record,
}

/// Records that could not be delivered, since the previous notice.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Losses {
    /// Lost in the kernel: the ring buffer was full.
    pub kernel: u64,
    /// Dropped in user space: a worker's queue was full.
    pub user: u64,
}

/// One item of the tracer's stream.
#[derive(Debug, Clone)]
pub enum Event {
    Data(DataRecord),
    L7(L7Event),
    Lost(Losses),
}
