//! What `top` shows, as plain data, and where it comes from. The UI only
//! sees [`Sample`]s through the [`Source`] trait, so tests feed it fakes
//! and never need root or a kernel.

use std::net::IpAddr;

use netsight_events::process::{ProcessRecord, Protocol, SocketSnapshot};

use crate::cmd::top::host::{HostRates, HostSampler};
use crate::collect::ProcessCollector;

/// One refresh worth of data.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// RFC 3339 end of the interval (the header shows its time of day).
    pub ts: String,
    pub interval_s: f64,
    /// Events the kernel side could not deliver during the interval.
    pub lost_events: u64,
    pub host: HostRates,
    pub processes: Vec<ProcRow>,
    /// Every socket with a known owner.
    pub connections: Vec<ConnRow>,
}

/// One line of the process table; rates are per second over the interval.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcRow {
    pub pid: u32,
    pub comm: String,
    pub cgroup: String,
    pub rx_bps: f64,
    pub tx_bps: f64,
    pub conns: u64,
    pub retrans_ps: f64,
    /// 0 when the process had no RTT sample (shown as `-`).
    pub rtt_p50_us: u64,
    pub rtt_p99_us: u64,
    pub resets_ps: f64,
}

impl ProcRow {
    /// TCP and UDP payload both count as traffic; resets are sent + received.
    pub fn from_record(r: &ProcessRecord) -> ProcRow {
        let per_s = |n: u64| {
            if r.interval_s > 0.0 {
                n as f64 / r.interval_s
            } else {
                0.0
            }
        };
        ProcRow {
            pid: r.pid,
            comm: r.comm.clone(),
            cgroup: r.cgroup.clone(),
            rx_bps: per_s(r.tcp_rx_bytes + r.udp_rx_bytes),
            tx_bps: per_s(r.tcp_tx_bytes + r.udp_tx_bytes),
            conns: r.tcp_conns,
            retrans_ps: per_s(r.tcp_retrans_segs + r.tcp_synack_retrans),
            rtt_p50_us: r.tcp_rtt_us_p50,
            rtt_p99_us: r.tcp_rtt_us_p99,
            resets_ps: per_s(r.tcp_resets_sent + r.tcp_resets_received),
        }
    }

    pub fn traffic_bps(&self) -> f64 {
        self.rx_bps + self.tx_bps
    }
}

/// One socket of a process, as the drill-down shows it (like `ss -tip`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnRow {
    pub pid: u32,
    pub protocol: &'static str,
    pub state: &'static str,
    pub local: (IpAddr, u16),
    pub remote: (IpAddr, u16),
    pub srtt_us: u32,
    pub cwnd: u32,
    pub in_flight: u32,
    pub retrans: u32,
    /// Bytes acknowledged by the peer over the connection's life.
    pub tx_bytes: u64,
    pub rx_bytes: u64,
}

impl ConnRow {
    /// `None` for a socket no process has claimed yet.
    pub fn from_socket(s: &SocketSnapshot) -> Option<ConnRow> {
        let owner = s.owner.as_ref()?;
        let protocol = match s.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Other(_) => "other",
        };
        // Only TCP has a state machine; a UDP socket's state field is noise.
        let state = match s.protocol {
            Protocol::Tcp => s.state.name(),
            _ => "-",
        };
        Some(ConnRow {
            pid: owner.key.pid,
            protocol,
            state,
            local: s.local,
            remote: s.remote,
            srtt_us: s.tcp.srtt_us,
            cwnd: s.tcp.cwnd,
            in_flight: s.tcp.in_flight,
            retrans: s.tcp.total_retrans,
            tx_bytes: s.tcp.bytes_acked,
            rx_bytes: s.tcp.bytes_received,
        })
    }
}

/// Where samples come from: the kernel in production, fixed data in tests.
pub trait Source {
    /// Ends the current interval and returns what happened in it.
    fn sample(&mut self) -> anyhow::Result<Sample>;
}

/// The real thing: the per-process probes plus the host's counters.
pub struct LiveSource {
    collector: ProcessCollector,
    host: HostSampler,
}

impl LiveSource {
    /// Loads the probes (needs root) and takes the first host sample, so
    /// the first interval already has host rates.
    pub fn start() -> anyhow::Result<LiveSource> {
        let collector = ProcessCollector::start()?;
        let host = HostSampler::open()?;
        Ok(LiveSource { collector, host })
    }
}

impl Source for LiveSource {
    fn sample(&mut self) -> anyhow::Result<Sample> {
        let interval = self.collector.interval()?;
        Ok(Sample {
            ts: interval.info.ts.clone(),
            interval_s: interval.info.interval_s,
            lost_events: interval.info.lost_events,
            host: self.host.sample(),
            processes: interval.records.iter().map(ProcRow::from_record).collect(),
            connections: interval
                .sockets
                .iter()
                .filter_map(ConnRow::from_socket)
                .collect(),
        })
    }
}
