//! Per-process records (SPEC §3) and the typed inputs they are built from.
//!
//! The kernel side delivers, each interval, one [`ProcCounters`] per process
//! that did something and one [`SocketSnapshot`] per open socket; [`build`]
//! turns them into [`ProcessRecord`]s. Pure data in, pure data out.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::Serialize;

use crate::rtt::{RttHistogram, RttSummary};

/// A process, robust to pid reuse: the pid plus its start time (ns since boot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProcKey {
    pub pid: u32,
    pub start_ns: u64,
}

/// Who a process is, as the kernel saw it when it touched the network.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcIdentity {
    pub key: ProcKey,
    pub comm: String,
    pub cgroup_id: u64,
}

/// Counters of one process over one interval (deltas).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcCounters {
    pub tcp_tx_bytes: u64,
    pub tcp_rx_bytes: u64,
    pub tcp_tx_calls: u64,
    pub tcp_rx_calls: u64,
    pub tcp_active_opens: u64,
    pub tcp_passive_opens: u64,
    pub tcp_closes: u64,
    pub tcp_connect_failures: u64,
    pub tcp_resets_sent: u64,
    pub tcp_resets_received: u64,
    pub tcp_retrans_segs: u64,
    pub tcp_synack_retrans: u64,
    pub tcp_fast_recoveries: u64,
    pub tcp_rto_timeouts: u64,
    pub udp_tx_bytes: u64,
    pub udp_rx_bytes: u64,
    pub udp_tx_packets: u64,
    pub udp_rx_packets: u64,
    pub udp_rcvbuf_errors: u64,
    /// Longest lifetime among connections closed in the interval.
    pub closed_duration_ns_max: u64,
    pub rtt: RttHistogram,
}

impl ProcCounters {
    /// True when nothing happened (such a process gets no record unless it
    /// still holds connections).
    pub fn is_idle(&self) -> bool {
        *self == ProcCounters::default()
    }
}

/// One open socket at the end of an interval, with its TCP gauges.
#[derive(Debug, Clone, PartialEq)]
pub struct SocketSnapshot {
    /// `None` when no process has claimed the socket yet.
    pub owner: Option<ProcIdentity>,
    pub protocol: Protocol,
    pub state: TcpState,
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
    /// Inode of the network namespace the socket lives in (as in SPEC §5 `netns`).
    pub netns: u32,
    /// Monotonic ns when the connection was established (0: never).
    pub established_ns: u64,
    pub tcp: TcpGauges,
    /// TCP I/O of this interval not yet in the owner's counters.
    pub io: SocketIo,
}

/// Bytes and calls a socket accumulated (since the last snapshot, for a
/// snapshot's pending TCP I/O).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketIo {
    pub tx_bytes: u64,
    pub rx_bytes: u64,
    pub tx_calls: u64,
    pub rx_calls: u64,
}

impl SocketIo {
    pub fn is_zero(&self) -> bool {
        *self == SocketIo::default()
    }
}

/// Adds each socket's pending TCP I/O to its owner's counters (creating the
/// entry for a process that did nothing else). Returns the I/O of sockets
/// with no known owner, which the caller reports as lost.
pub fn merge_socket_io(
    counters: &mut Vec<(ProcIdentity, ProcCounters)>,
    sockets: &[SocketSnapshot],
) -> u64 {
    let mut orphaned = 0;
    let owned: Vec<(&ProcIdentity, SocketIo, Protocol)> = sockets
        .iter()
        .filter(|s| !s.io.is_zero())
        .filter_map(|s| {
            if s.owner.is_none() {
                orphaned += s.io.tx_calls + s.io.rx_calls;
            }
            Some((s.owner.as_ref()?, s.io, Protocol::Tcp))
        })
        .collect();
    merge_owned_io(counters, owned);
    orphaned
}

/// Adds TCP or UDP I/O counted per owner (the kernel's per-CPU I/O cache,
/// or sockets' pending TCP I/O) to the owners' counters. A UDP call is one
/// datagram.
pub fn merge_owned_io<'a>(
    counters: &mut Vec<(ProcIdentity, ProcCounters)>,
    io: impl IntoIterator<Item = (&'a ProcIdentity, SocketIo, Protocol)>,
) {
    let mut index: HashMap<ProcKey, usize> = counters
        .iter()
        .enumerate()
        .map(|(i, (id, _))| (id.key, i))
        .collect();
    for (owner, io, protocol) in io {
        let i = *index.entry(owner.key).or_insert_with(|| {
            counters.push((owner.clone(), ProcCounters::default()));
            counters.len() - 1
        });
        let c = &mut counters[i].1;
        match protocol {
            Protocol::Tcp => {
                c.tcp_tx_bytes += io.tx_bytes;
                c.tcp_rx_bytes += io.rx_bytes;
                c.tcp_tx_calls += io.tx_calls;
                c.tcp_rx_calls += io.rx_calls;
            }
            Protocol::Udp => {
                c.udp_tx_bytes += io.tx_bytes;
                c.udp_rx_bytes += io.rx_bytes;
                c.udp_tx_packets += io.tx_calls;
                c.udp_rx_packets += io.rx_calls;
            }
            Protocol::Other(_) => {}
        }
    }
}

/// TCP gauges of one connection, as `ss -ti` would show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TcpGauges {
    pub srtt_us: u32,
    pub cwnd: u32,
    pub snd_wnd: u32,
    pub rcv_wnd: u32,
    pub mss: u32,
    pub in_flight: u32,
    pub write_queue_bytes: u32,
    pub total_retrans: u32,
    pub bytes_acked: u64,
    pub bytes_received: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
    Other(u16),
}

impl Protocol {
    pub fn from_ip_proto(p: u16) -> Self {
        match p {
            6 => Protocol::Tcp,
            17 => Protocol::Udp,
            other => Protocol::Other(other),
        }
    }
}

/// TCP states with the kernel's numbering (include/net/tcp_states.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpState {
    Established,
    SynSent,
    SynRecv,
    FinWait1,
    FinWait2,
    TimeWait,
    Close,
    CloseWait,
    LastAck,
    Listen,
    Closing,
    NewSynRecv,
    Unknown(u8),
}

impl TcpState {
    pub fn from_kernel(v: u8) -> Self {
        use TcpState::*;
        match v {
            1 => Established,
            2 => SynSent,
            3 => SynRecv,
            4 => FinWait1,
            5 => FinWait2,
            6 => TimeWait,
            7 => Close,
            8 => CloseWait,
            9 => LastAck,
            10 => Listen,
            11 => Closing,
            12 => NewSynRecv,
            other => Unknown(other),
        }
    }

    /// The name `ss` and the kernel's tracepoints print.
    pub fn name(self) -> &'static str {
        use TcpState::*;
        match self {
            Established => "ESTABLISHED",
            SynSent => "SYN_SENT",
            SynRecv => "SYN_RECV",
            FinWait1 => "FIN_WAIT1",
            FinWait2 => "FIN_WAIT2",
            TimeWait => "TIME_WAIT",
            Close => "CLOSE",
            CloseWait => "CLOSE_WAIT",
            LastAck => "LAST_ACK",
            Listen => "LISTEN",
            Closing => "CLOSING",
            NewSynRecv => "NEW_SYN_RECV",
            Unknown(_) => "UNKNOWN",
        }
    }

    /// A connection that carries (or carried) data: counted in `tcp_conns`.
    pub fn is_connection(self) -> bool {
        use TcpState::*;
        matches!(
            self,
            Established | FinWait1 | FinWait2 | CloseWait | LastAck | Closing
        )
    }
}

/// One line of `netsight stat --json` (SPEC §3). Field order is the contract.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProcessRecord {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ts: String,
    pub interval_s: f64,
    pub pid: u32,
    pub comm: String,
    pub cgroup: String,
    pub tcp_tx_bytes: u64,
    pub tcp_rx_bytes: u64,
    pub tcp_tx_calls: u64,
    pub tcp_rx_calls: u64,
    pub tcp_active_opens: u64,
    pub tcp_passive_opens: u64,
    pub tcp_closes: u64,
    pub tcp_connect_failures: u64,
    pub tcp_resets_sent: u64,
    pub tcp_resets_received: u64,
    pub tcp_retrans_segs: u64,
    pub tcp_synack_retrans: u64,
    pub tcp_fast_recoveries: u64,
    pub tcp_rto_timeouts: u64,
    pub tcp_conns: u64,
    pub tcp_conn_duration_ms_max: u64,
    pub tcp_rtt_us_avg: u64,
    pub tcp_rtt_us_min: u64,
    pub tcp_rtt_us_max: u64,
    pub tcp_rtt_us_p50: u64,
    pub tcp_rtt_us_p99: u64,
    pub tcp_cwnd_avg: u64,
    pub tcp_snd_wnd_avg: u64,
    pub tcp_rcv_wnd_avg: u64,
    pub tcp_mss_avg: u64,
    pub tcp_in_flight: u64,
    pub tcp_write_queue_bytes: u64,
    pub udp_tx_bytes: u64,
    pub udp_rx_bytes: u64,
    pub udp_tx_packets: u64,
    pub udp_rx_packets: u64,
    pub udp_rcvbuf_errors: u64,
    pub sockets: u64,
    pub lost_events: u64,
}

/// The last line of every interval.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SummaryRecord {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ts: String,
    pub lost_events: u64,
    pub processes: u64,
}

/// What [`build`] needs besides the kernel data.
#[derive(Debug, Clone)]
pub struct IntervalInfo {
    pub ts: String,
    pub interval_s: f64,
    /// Monotonic ns at the end of the interval (same clock as the kernel's).
    pub now_ns: u64,
    pub lost_events: u64,
}

/// Per-process view of the open sockets.
#[derive(Default)]
struct SocketTotals {
    identity: Option<ProcIdentity>,
    sockets: u64,
    conns: u64,
    age_ns_max: u64,
    srtt: Vec<u32>,
    cwnd: u64,
    snd_wnd: u64,
    rcv_wnd: u64,
    mss: u64,
    in_flight: u64,
    write_queue: u64,
}

/// Joins an interval's counters and socket snapshots into records, one per
/// process that was active or still holds TCP connections, sorted by pid.
/// `cgroup_path` resolves a cgroup id to its path.
pub fn build(
    counters: &[(ProcIdentity, ProcCounters)],
    sockets: &[SocketSnapshot],
    info: &IntervalInfo,
    cgroup_path: &mut dyn FnMut(u64) -> String,
) -> Vec<ProcessRecord> {
    let mut per_proc: BTreeMap<ProcKey, SocketTotals> = BTreeMap::new();
    for s in sockets {
        let Some(owner) = &s.owner else { continue };
        let t = per_proc.entry(owner.key).or_default();
        t.identity.get_or_insert_with(|| owner.clone());
        t.sockets += 1;
        if s.protocol == Protocol::Tcp && s.state.is_connection() {
            t.conns += 1;
            if s.established_ns > 0 && info.now_ns > s.established_ns {
                t.age_ns_max = t.age_ns_max.max(info.now_ns - s.established_ns);
            }
            if s.tcp.srtt_us > 0 {
                t.srtt.push(s.tcp.srtt_us);
            }
            t.cwnd += u64::from(s.tcp.cwnd);
            t.snd_wnd += u64::from(s.tcp.snd_wnd);
            t.rcv_wnd += u64::from(s.tcp.rcv_wnd);
            t.mss += u64::from(s.tcp.mss);
            t.in_flight += u64::from(s.tcp.in_flight);
            t.write_queue += u64::from(s.tcp.write_queue_bytes);
        }
    }

    let mut identities: BTreeMap<ProcKey, &ProcIdentity> = BTreeMap::new();
    let mut by_key: HashMap<ProcKey, &ProcCounters> = HashMap::new();
    for (id, c) in counters {
        identities.insert(id.key, id);
        by_key.insert(id.key, c);
    }
    for (key, t) in &per_proc {
        if t.conns > 0 {
            if let Some(id) = &t.identity {
                identities.entry(*key).or_insert(id);
            }
        }
    }

    let idle = ProcCounters::default();
    let empty = SocketTotals::default();
    identities
        .into_iter()
        .map(|(key, id)| {
            let c = by_key.get(&key).copied().unwrap_or(&idle);
            let t = per_proc.get(&key).unwrap_or(&empty);
            record(id, c, t, info, cgroup_path(id.cgroup_id))
        })
        .collect()
}

fn avg(sum: u64, n: u64) -> u64 {
    (sum + n / 2).checked_div(n).unwrap_or(0)
}

fn record(
    id: &ProcIdentity,
    c: &ProcCounters,
    t: &SocketTotals,
    info: &IntervalInfo,
    cgroup: String,
) -> ProcessRecord {
    // avg/min/max: the open connections' smoothed RTT now (what `ss`
    // shows); p50/p99: the interval's samples (in-kernel histogram). Each
    // falls back to the other source when its own is empty.
    let now = RttHistogram::from_values(&t.srtt).summary();
    let sampled = c.rtt.summary();
    let (gauge, dist) = match (t.srtt.is_empty(), c.rtt.count() == 0) {
        (false, false) => (now, sampled),
        (false, true) => (now, now),
        (true, _) => (sampled, sampled),
    };
    let rtt = RttSummary {
        p50: dist.p50,
        p99: dist.p99,
        ..gauge
    };
    let duration_ns = c.closed_duration_ns_max.max(t.age_ns_max);
    ProcessRecord {
        kind: "process",
        ts: info.ts.clone(),
        interval_s: info.interval_s,
        pid: id.key.pid,
        comm: id.comm.clone(),
        cgroup,
        tcp_tx_bytes: c.tcp_tx_bytes,
        tcp_rx_bytes: c.tcp_rx_bytes,
        tcp_tx_calls: c.tcp_tx_calls,
        tcp_rx_calls: c.tcp_rx_calls,
        tcp_active_opens: c.tcp_active_opens,
        tcp_passive_opens: c.tcp_passive_opens,
        tcp_closes: c.tcp_closes,
        tcp_connect_failures: c.tcp_connect_failures,
        tcp_resets_sent: c.tcp_resets_sent,
        tcp_resets_received: c.tcp_resets_received,
        tcp_retrans_segs: c.tcp_retrans_segs,
        tcp_synack_retrans: c.tcp_synack_retrans,
        tcp_fast_recoveries: c.tcp_fast_recoveries,
        tcp_rto_timeouts: c.tcp_rto_timeouts,
        tcp_conns: t.conns,
        tcp_conn_duration_ms_max: duration_ns / 1_000_000,
        tcp_rtt_us_avg: rtt.avg,
        tcp_rtt_us_min: rtt.min,
        tcp_rtt_us_max: rtt.max,
        tcp_rtt_us_p50: rtt.p50,
        tcp_rtt_us_p99: rtt.p99,
        tcp_cwnd_avg: avg(t.cwnd, t.conns),
        tcp_snd_wnd_avg: avg(t.snd_wnd, t.conns),
        tcp_rcv_wnd_avg: avg(t.rcv_wnd, t.conns),
        tcp_mss_avg: avg(t.mss, t.conns),
        tcp_in_flight: t.in_flight,
        tcp_write_queue_bytes: t.write_queue,
        udp_tx_bytes: c.udp_tx_bytes,
        udp_rx_bytes: c.udp_rx_bytes,
        udp_tx_packets: c.udp_tx_packets,
        udp_rx_packets: c.udp_rx_packets,
        udp_rcvbuf_errors: c.udp_rcvbuf_errors,
        sockets: t.sockets,
        lost_events: info.lost_events,
    }
}

#[cfg(test)]
mod tests;
