//! SPEC §3 fields as Prometheus metrics, following the naming guide:
//! `netsight_process_` prefix, base units in the name (seconds, bytes),
//! counters ending in `_total`.

use netsight_events::process::ProcessRecord;

/// A per-interval delta that the agent adds up per process.
pub struct CounterDef {
    pub name: &'static str,
    pub help: &'static str,
    pub get: fn(&ProcessRecord) -> u64,
}

/// A value at the end of the interval, scaled to a base unit.
pub struct GaugeDef {
    pub name: &'static str,
    pub help: &'static str,
    pub get: fn(&ProcessRecord) -> u64,
    pub scale: f64,
}

macro_rules! counters {
    ($($field:ident: $help:literal),* $(,)?) => {
        pub static COUNTERS: &[CounterDef] = &[$(CounterDef {
            name: concat!("netsight_process_", stringify!($field), "_total"),
            help: $help,
            get: |r| r.$field,
        }),*];
    };
}

macro_rules! gauges {
    ($($field:ident => $name:literal * $scale:literal: $help:literal),* $(,)?) => {
        pub static GAUGES: &[GaugeDef] = &[$(GaugeDef {
            name: concat!("netsight_process_", $name),
            help: $help,
            get: |r| r.$field,
            scale: $scale,
        }),*];
    };
}

counters! {
    tcp_tx_bytes: "Bytes the process sent over TCP (return values of its send calls).",
    tcp_rx_bytes: "Bytes the process received over TCP.",
    tcp_tx_calls: "TCP send calls of the process.",
    tcp_rx_calls: "TCP receive calls of the process.",
    tcp_active_opens: "TCP connections the process opened (connect).",
    tcp_passive_opens: "TCP connections the process accepted.",
    tcp_closes: "TCP connections of the process that closed.",
    tcp_connect_failures: "Failed TCP connects of the process.",
    tcp_resets_sent: "TCP resets sent on the process's connections.",
    tcp_resets_received: "TCP resets received on the process's connections.",
    tcp_retrans_segs: "TCP segments retransmitted on the process's connections.",
    tcp_synack_retrans: "SYN-ACK retransmissions on the process's listeners.",
    tcp_fast_recoveries: "Fast recoveries entered on the process's connections.",
    tcp_rto_timeouts: "Retransmission timeouts on the process's connections.",
    udp_tx_bytes: "Bytes the process sent over UDP.",
    udp_rx_bytes: "Bytes the process received over UDP.",
    udp_tx_packets: "UDP datagrams the process sent.",
    udp_rx_packets: "UDP datagrams the process received.",
    udp_rcvbuf_errors: "UDP datagrams dropped because the process's receive buffer was full.",
}

gauges! {
    tcp_conns => "tcp_conns" * 1.0: "Open TCP connections of the process.",
    sockets => "sockets" * 1.0: "Open sockets of the process.",
    tcp_conn_duration_ms_max => "tcp_conn_duration_max_seconds" * 0.001: "Longest lifetime of a connection that closed in the last interval.",
    tcp_rtt_us_avg => "tcp_rtt_avg_seconds" * 0.000_001: "Average smoothed RTT over the process's open connections.",
    tcp_rtt_us_min => "tcp_rtt_min_seconds" * 0.000_001: "Lowest smoothed RTT among the process's open connections.",
    tcp_rtt_us_max => "tcp_rtt_max_seconds" * 0.000_001: "Highest smoothed RTT among the process's open connections.",
    tcp_rtt_us_p50 => "tcp_rtt_p50_seconds" * 0.000_001: "Median RTT sample of the last interval.",
    tcp_rtt_us_p99 => "tcp_rtt_p99_seconds" * 0.000_001: "99th percentile RTT sample of the last interval.",
    tcp_cwnd_avg => "tcp_cwnd_avg_segments" * 1.0: "Average congestion window over the process's connections.",
    tcp_snd_wnd_avg => "tcp_snd_wnd_avg_bytes" * 1.0: "Average send window over the process's connections.",
    tcp_rcv_wnd_avg => "tcp_rcv_wnd_avg_bytes" * 1.0: "Average receive window over the process's connections.",
    tcp_mss_avg => "tcp_mss_avg_bytes" * 1.0: "Average MSS over the process's connections.",
    tcp_in_flight => "tcp_in_flight_segments" * 1.0: "Segments in flight on the process's connections.",
    tcp_write_queue_bytes => "tcp_write_queue_bytes" * 1.0: "Bytes waiting in the process's TCP write queues.",
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_naming_guide() {
        for c in COUNTERS {
            assert!(
                c.name.starts_with("netsight_process_") && c.name.ends_with("_total"),
                "{}",
                c.name
            );
        }
        for g in GAUGES {
            assert!(
                !g.name.ends_with("_total") && !g.name.contains("_us_") && !g.name.contains("_ms_"),
                "{}",
                g.name
            );
        }
        assert_eq!(COUNTERS[0].name, "netsight_process_tcp_tx_bytes_total");
    }
}
