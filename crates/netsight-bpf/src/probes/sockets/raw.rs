//! Raw kernel layouts (generated from sockets.h) to typed records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netsight_events::process::{
    ProcCounters, ProcIdentity, ProcKey, Protocol, SocketIo, SocketSnapshot, TcpGauges, TcpState,
};
use netsight_events::rtt::{RttHistogram, BUCKETS};

use netsight_events::event::{Closer, Detail, RetransKind, SockEvent};

use super::skel::types::{io_slot, owner, proc_key, proc_stats, sock_event, sock_snapshot};

const AF_INET: u16 = 2;

// The histogram layout is shared by C and Rust; fail the build if they drift.
const _: () = assert!(std::mem::size_of::<[u32; BUCKETS]>() == std::mem::size_of::<[u32; 128]>());

use crate::pod::{comm, read as read_pod};

fn key(k: &proc_key) -> ProcKey {
    ProcKey {
        pid: k.tgid,
        start_ns: k.start_ns,
    }
}

fn identity(o: &owner) -> ProcIdentity {
    ProcIdentity {
        key: key(&o.key),
        comm: comm(&o.comm),
        cgroup_id: o.cgroup_id,
    }
}

/// One CPU's copy of an I/O cache slot, if it holds counts of interval
/// `gen`: whose, how much, and on which protocol (the low bit of `caller`).
pub fn io_slot(value: &[u8], gen: u32) -> Option<(ProcIdentity, SocketIo, Protocol)> {
    let s: io_slot = read_pod(value)?;
    (s.gen == gen && s.sk != 0 && (s.tx_calls > 0 || s.rx_calls > 0)).then(|| {
        (
            identity(&s.owner),
            SocketIo {
                tx_bytes: s.tx_bytes,
                rx_bytes: s.rx_bytes,
                tx_calls: s.tx_calls.into(),
                rx_calls: s.rx_calls.into(),
            },
            if s.caller & 1 == 1 {
                Protocol::Udp
            } else {
                Protocol::Tcp
            },
        )
    })
}

/// One entry of a stats map.
pub fn counters(k: &[u8], v: &[u8]) -> Option<(ProcIdentity, ProcCounters)> {
    let k: proc_key = read_pod(k)?;
    let s: proc_stats = read_pod_stats(v)?;
    let id = ProcIdentity {
        key: key(&k),
        comm: comm(&s.comm),
        cgroup_id: s.cgroup_id,
    };
    let c = ProcCounters {
        tcp_tx_bytes: s.tcp_tx_bytes,
        tcp_rx_bytes: s.tcp_rx_bytes,
        tcp_tx_calls: s.tcp_tx_calls,
        tcp_rx_calls: s.tcp_rx_calls,
        tcp_active_opens: s.tcp_active_opens,
        tcp_passive_opens: s.tcp_passive_opens,
        tcp_closes: s.tcp_closes,
        tcp_connect_failures: s.tcp_connect_failures,
        tcp_resets_sent: s.tcp_resets_sent,
        tcp_resets_received: s.tcp_resets_received,
        tcp_retrans_segs: s.tcp_retrans_segs,
        tcp_synack_retrans: s.tcp_synack_retrans,
        tcp_fast_recoveries: s.tcp_fast_recoveries,
        tcp_rto_timeouts: s.tcp_rto_timeouts,
        udp_tx_bytes: s.udp_tx_bytes,
        udp_rx_bytes: s.udp_rx_bytes,
        udp_tx_packets: s.udp_tx_packets,
        udp_rx_packets: s.udp_rx_packets,
        udp_rcvbuf_errors: s.udp_rcvbuf_errors,
        closed_duration_ns_max: s.closed_duration_ns_max,
        rtt: RttHistogram {
            sum_us: s.rtt_sum_us,
            count: s.rtt_count,
            min_us: s.rtt_min_us,
            max_us: s.rtt_max_us,
            buckets: s.rtt_hist.to_vec(),
        },
    };
    Some((id, c))
}

/// proc_stats has no Default in the generated code's sense we need here
/// (arrays > 32), so read it through a zeroed value.
fn read_pod_stats(bytes: &[u8]) -> Option<proc_stats> {
    read_pod::<proc_stats>(bytes)
}

fn addr(family: u16, raw: &[u8; 16]) -> IpAddr {
    if family == AF_INET {
        IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]))
    } else {
        IpAddr::V6(Ipv6Addr::from(*raw))
    }
}

/// The socket iterator's output: a sequence of sock_snapshot records. A
/// socket met twice (the task-file iterator sees it once per file table
/// holding it) is kept once, with the I/O of every visit (only the first
/// normally has any: each visit takes what is pending).
pub fn snapshots(buf: &[u8]) -> Vec<SocketSnapshot> {
    let mut index: std::collections::HashMap<u64, usize> = std::collections::HashMap::new();
    let mut out: Vec<SocketSnapshot> = Vec::new();
    for r in buf
        .chunks_exact(std::mem::size_of::<sock_snapshot>())
        .filter_map(read_pod::<sock_snapshot>)
    {
        let io = SocketIo {
            tx_bytes: r.tx_bytes,
            rx_bytes: r.rx_bytes,
            tx_calls: r.tx_calls,
            rx_calls: r.rx_calls,
        };
        if let Some(&i) = index.get(&r.sk) {
            let first = &mut out[i].io;
            first.tx_bytes += io.tx_bytes;
            first.rx_bytes += io.rx_bytes;
            first.tx_calls += io.tx_calls;
            first.rx_calls += io.rx_calls;
            continue;
        }
        index.insert(r.sk, out.len());
        out.push(snapshot(&r, io));
    }
    out
}

fn snapshot(r: &sock_snapshot, io: SocketIo) -> SocketSnapshot {
    SocketSnapshot {
        owner: (r.owner.key.tgid != 0).then(|| identity(&r.owner)),
        protocol: Protocol::from_ip_proto(r.protocol),
        state: TcpState::from_kernel(r.state),
        local: (addr(r.family, &r.saddr), r.sport),
        remote: (addr(r.family, &r.daddr), r.dport),
        netns: r.netns,
        established_ns: r.established_ns,
        tcp: TcpGauges {
            srtt_us: r.srtt_us,
            cwnd: r.snd_cwnd,
            snd_wnd: r.snd_wnd,
            rcv_wnd: r.rcv_wnd,
            mss: r.mss,
            in_flight: r.in_flight,
            write_queue_bytes: r.write_queue_bytes,
            total_retrans: r.total_retrans,
            bytes_acked: r.bytes_acked,
            bytes_received: r.bytes_received,
        },
        io,
    }
}

fn closer(v: u8) -> Closer {
    match v {
        1 => Closer::Local,
        2 => Closer::Remote,
        3 => Closer::Reset,
        _ => Closer::Unknown,
    }
}

fn retrans_kind(v: u8) -> RetransKind {
    match v {
        1 => RetransKind::Rto,
        2 => RetransKind::Fast,
        3 => RetransKind::Tlp,
        4 => RetransKind::Synack,
        _ => RetransKind::Unknown,
    }
}

/// One ring buffer record (a sock_event); None for a short or unknown one.
pub fn event(data: &[u8]) -> Option<SockEvent> {
    let r: sock_event = read_pod(data)?;
    let detail = match r.kind {
        1 => Detail::Connect {
            latency_ns: r.latency_ns,
            error: r.error,
        },
        2 => Detail::Accept,
        3 => Detail::Close {
            duration_ns: r.duration_ns,
            tx_bytes: r.tx_bytes,
            rx_bytes: r.rx_bytes,
            closer: closer(r.closer),
        },
        4 => Detail::State {
            old: TcpState::from_kernel(r.old_state),
            new: TcpState::from_kernel(r.new_state),
            old_ns: r.old_state_ns,
        },
        5 => Detail::Retrans {
            segs: r.segs,
            kind: retrans_kind(r.retrans_kind),
        },
        6 => Detail::Reset {
            received: r.direction == 1,
        },
        7 => Detail::Drop {
            reason: r.reason,
            location: r.location,
        },
        8 => Detail::Overflow {
            syn_queue: r.queue == 1,
            backlog: r.backlog,
            max_backlog: r.max_backlog,
        },
        _ => return None,
    };
    Some(SockEvent {
        ts_ns: r.ts_ns,
        owner: (r.owner.key.tgid != 0).then(|| identity(&r.owner)),
        netns: r.netns,
        protocol: r.protocol,
        state: TcpState::from_kernel(r.state),
        src: (addr(u16::from(r.family), &r.saddr), r.sport),
        dst: (addr(u16::from(r.family), &r.daddr), r.dport),
        detail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(sk: u64, tx_bytes: u64) -> Vec<u8> {
        let mut r = sock_snapshot {
            sk,
            tx_bytes,
            tx_calls: u64::from(tx_bytes > 0),
            ..Default::default()
        };
        r.family = AF_INET;
        // SAFETY: sock_snapshot is plain old data generated from BTF; its
        // bytes are all initialised (Default zeroes every field and padding
        // is not read back as anything but bytes).
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&r as *const sock_snapshot).cast::<u8>(),
                std::mem::size_of::<sock_snapshot>(),
            )
        };
        bytes.to_vec()
    }

    #[test]
    fn a_socket_met_twice_is_kept_once_with_all_its_io() {
        let buf = [record(1, 100), record(2, 0), record(1, 7)].concat();
        let s = snapshots(&buf);
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].io.tx_bytes, s[0].io.tx_calls), (107, 2));
        assert_eq!(s[1].io.tx_bytes, 0);
    }
}
