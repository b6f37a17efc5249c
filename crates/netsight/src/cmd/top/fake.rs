//! Fixed data for the tests: a small host with a few busy processes.

use std::net::IpAddr;

use crate::cmd::top::host::HostRates;
use crate::cmd::top::source::{ConnRow, ProcRow, Sample, Source};

/// Replays the given samples, then repeats the last one.
pub struct FakeSource {
    pub samples: Vec<Sample>,
    pub taken: usize,
}

impl Source for FakeSource {
    fn sample(&mut self) -> anyhow::Result<Sample> {
        let i = self.taken.min(self.samples.len().saturating_sub(1));
        self.taken += 1;
        self.samples
            .get(i)
            .cloned()
            .ok_or_else(|| anyhow::anyhow!("no samples"))
    }
}

pub fn proc_row(pid: u32, comm: &str, rx_bps: f64, tx_bps: f64) -> ProcRow {
    ProcRow {
        pid,
        comm: comm.into(),
        cgroup: format!("/system.slice/{comm}.service"),
        rx_bps,
        tx_bps,
        ..ProcRow::default()
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn tcp(pid: u32, local: (&str, u16), remote: (&str, u16), state: &'static str) -> ConnRow {
    ConnRow {
        pid,
        protocol: "tcp",
        state,
        local: (ip(local.0), local.1),
        remote: (ip(remote.0), remote.1),
        srtt_us: 0,
        cwnd: 10,
        in_flight: 0,
        retrans: 0,
        tx_bytes: 0,
        rx_bytes: 0,
    }
}

/// One interval on a web server: nginx serving, curl and a backup job
/// uploading, redis quiet, a DNS cache on UDP.
pub fn sample() -> Sample {
    let mut nginx = proc_row(812, "nginx", 48_000.0, 3_400_000.0);
    nginx.conns = 3;
    nginx.rtt_p50_us = 180;
    nginx.rtt_p99_us = 2_400;
    nginx.retrans_ps = 2.0;
    let mut curl = proc_row(4242, "curl", 1_250_000.0, 9_000.0);
    curl.conns = 1;
    curl.rtt_p50_us = 12_300;
    curl.rtt_p99_us = 48_000;
    curl.cgroup = "/user.slice/user-1000.slice/session-2.scope".into();
    let mut backup = proc_row(3001, "restic", 2_000.0, 5_600_000.0);
    backup.conns = 2;
    backup.rtt_p50_us = 25_000;
    backup.rtt_p99_us = 310_000;
    backup.retrans_ps = 14.0;
    backup.resets_ps = 1.0;
    let mut redis = proc_row(640, "redis-server", 0.0, 0.0);
    redis.conns = 1;
    redis.rtt_p50_us = 40;
    redis.rtt_p99_us = 90;
    let dns = proc_row(402, "dnsmasq", 3_100.0, 2_900.0);

    let mut served = tcp(
        812,
        ("10.0.0.5", 443),
        ("198.51.100.7", 51234),
        "ESTABLISHED",
    );
    served.srtt_us = 2_400;
    served.cwnd = 42;
    served.in_flight = 17;
    served.retrans = 3;
    served.tx_bytes = 52_428_800;
    served.rx_bytes = 81_920;
    let mut served6 = tcp(
        812,
        ("2001:db8::5", 443),
        ("2001:db8::99", 40022),
        "ESTABLISHED",
    );
    served6.srtt_us = 180;
    served6.tx_bytes = 1_048_576;
    served6.rx_bytes = 4_096;
    let mut closing = tcp(812, ("10.0.0.5", 443), ("203.0.113.9", 60001), "FIN_WAIT1");
    closing.srtt_us = 95_000;
    closing.tx_bytes = 700;
    let listen = tcp(812, ("0.0.0.0", 443), ("0.0.0.0", 0), "LISTEN");
    let mut download = tcp(
        4242,
        ("10.0.0.5", 40100),
        ("192.0.2.80", 443),
        "ESTABLISHED",
    );
    download.srtt_us = 12_300;
    download.rx_bytes = 30_000_000;
    download.tx_bytes = 2_000;
    let dns_sock = ConnRow {
        protocol: "udp",
        state: "-",
        ..tcp(402, ("127.0.0.1", 53), ("0.0.0.0", 0), "-")
    };

    Sample {
        ts: "2026-11-22T10:00:01.000Z".into(),
        interval_s: 1.0,
        lost_events: 0,
        host: HostRates {
            rx_bytes_ps: Some(1_320_000.0),
            tx_bytes_ps: Some(9_100_000.0),
            rx_packets_ps: Some(4_210.0),
            tx_packets_ps: Some(7_030.0),
            connections: Some(7.0),
            retrans_ps: Some(16.0),
            drops_ps: Some(0.0),
            listen_overflows_ps: None,
        },
        processes: vec![nginx, curl, backup, redis, dns],
        connections: vec![closing, listen, served6, served, download, dns_sock],
    }
}
