//! Host-wide rates for the header: interface bytes and packets from
//! /proc/net/dev, TCP health from netsight-sysstat's charts.

use std::collections::HashMap;
use std::time::Instant;

use anyhow::Context;
use netsight_sysstat::{IntervalValues, SystemStat};

/// What the header shows. `None` = not observable this interval (first
/// sample, missing counter): shown as `-`, never as a made-up zero.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HostRates {
    pub rx_bytes_ps: Option<f64>,
    pub tx_bytes_ps: Option<f64>,
    pub rx_packets_ps: Option<f64>,
    pub tx_packets_ps: Option<f64>,
    /// Established TCP connections now (v4 and v6: the kernel's MIB is shared).
    pub connections: Option<f64>,
    pub retrans_ps: Option<f64>,
    /// Interface rx/tx drops + IP in/out discards + UDP receive-buffer errors.
    pub drops_ps: Option<f64>,
    pub listen_overflows_ps: Option<f64>,
}

/// One interface's counters from /proc/net/dev.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DevCounters {
    pub rx_bytes: u64,
    pub rx_packets: u64,
    pub rx_drop: u64,
    pub tx_bytes: u64,
    pub tx_packets: u64,
    pub tx_drop: u64,
}

/// Parses /proc/net/dev; lines that do not parse are skipped.
pub fn parse_net_dev(text: &str) -> HashMap<String, DevCounters> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            if f.len() < 16 {
                return None;
            }
            let c = DevCounters {
                rx_bytes: f[0],
                rx_packets: f[1],
                rx_drop: f[3],
                tx_bytes: f[8],
                tx_packets: f[9],
                tx_drop: f[11],
            };
            Some((name.trim().to_string(), c))
        })
        .collect()
}

/// Counter deltas summed over the interfaces present in both samples. An
/// interface that appeared, vanished or whose counters went down (recreated)
/// is left out rather than producing a huge or negative rate.
pub fn dev_deltas(
    before: &HashMap<String, DevCounters>,
    now: &HashMap<String, DevCounters>,
) -> DevCounters {
    let mut sum = DevCounters::default();
    for (name, n) in now {
        let Some(b) = before.get(name) else { continue };
        let deltas = [
            n.rx_bytes.checked_sub(b.rx_bytes),
            n.rx_packets.checked_sub(b.rx_packets),
            n.rx_drop.checked_sub(b.rx_drop),
            n.tx_bytes.checked_sub(b.tx_bytes),
            n.tx_packets.checked_sub(b.tx_packets),
            n.tx_drop.checked_sub(b.tx_drop),
        ];
        let [Some(rb), Some(rp), Some(rd), Some(tb), Some(tp), Some(td)] = deltas else {
            continue;
        };
        sum.rx_bytes += rb;
        sum.rx_packets += rp;
        sum.rx_drop += rd;
        sum.tx_bytes += tb;
        sum.tx_packets += tp;
        sum.tx_drop += td;
    }
    sum
}

/// The value of `chart`.`dim` this interval, if the kernel had it.
fn dim(values: &IntervalValues, chart: &str, dim: &str) -> Option<f64> {
    values
        .charts
        .iter()
        .find(|c| c.chart.id == chart)?
        .values
        .iter()
        .find(|(name, _)| name == dim)
        .map(|(_, v)| *v)
}

/// Sum of the parts that are there; `None` only if none is.
fn sum_present(parts: impl IntoIterator<Item = Option<f64>>) -> Option<f64> {
    parts
        .into_iter()
        .flatten()
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

impl HostRates {
    /// `dev` holds interface deltas over `dev_s` seconds (see [`dev_deltas`]).
    pub fn from_parts(values: &IntervalValues, dev: Option<DevCounters>, dev_s: f64) -> Self {
        let per_s = |n: u64| n as f64 / dev_s;
        let dev = dev.filter(|_| dev_s > 0.0);
        let drops = sum_present([
            dev.map(|d| per_s(d.rx_drop + d.tx_drop)),
            dim(values, "ipv4.errors", "InDiscards"),
            dim(values, "ipv4.errors", "OutDiscards"),
            dim(values, "ipv6.errors", "InDiscards"),
            dim(values, "ipv6.errors", "OutDiscards"),
            dim(values, "ipv4.udperrors", "RcvbufErrors"),
            dim(values, "ipv6.udperrors", "RcvbufErrors"),
        ]);
        HostRates {
            rx_bytes_ps: dev.map(|d| per_s(d.rx_bytes)),
            tx_bytes_ps: dev.map(|d| per_s(d.tx_bytes)),
            rx_packets_ps: dev.map(|d| per_s(d.rx_packets)),
            tx_packets_ps: dev.map(|d| per_s(d.tx_packets)),
            connections: dim(values, "ipv4.tcpsock", "Connections"),
            retrans_ps: dim(values, "ipv4.tcperrors", "RetransSegs"),
            drops_ps: drops,
            listen_overflows_ps: dim(values, "ip.tcp_accept_queue", "Overflows"),
        }
    }
}

/// Samples the host counters of our own network namespace.
pub struct HostSampler {
    system: SystemStat,
    dev: Option<(HashMap<String, DevCounters>, Instant)>,
}

const NET_DEV: &str = "/proc/net/dev";

impl HostSampler {
    /// Opens the counters and takes a first sample (rates need two).
    pub fn open() -> anyhow::Result<HostSampler> {
        let mut system = SystemStat::open(None).context("opening the host counters")?;
        system.sample_interval();
        Ok(HostSampler {
            system,
            dev: read_net_dev().map(|d| (d, Instant::now())),
        })
    }

    /// Rates since the previous call.
    pub fn sample(&mut self) -> HostRates {
        let system = self.system.sample_interval();
        let now = read_net_dev().map(|d| (d, Instant::now()));
        // Interface deltas are scaled by their own clock; the charts are rates already.
        let (dev, dev_s) = match (&self.dev, &now) {
            (Some((before, t0)), Some((after, t1))) => (
                Some(dev_deltas(before, after)),
                t1.duration_since(*t0).as_secs_f64(),
            ),
            _ => (None, 0.0),
        };
        self.dev = now;
        HostRates::from_parts(&system.values, dev, dev_s)
    }
}

fn read_net_dev() -> Option<HashMap<String, DevCounters>> {
    std::fs::read_to_string(NET_DEV)
        .ok()
        .map(|t| parse_net_dev(&t))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &str = "\
Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
  eth0: 5000 50 0 2 0 0 0 0 7000 70 0 1 0 0 0 0
";

    #[test]
    fn parses_net_dev_fields() {
        let d = parse_net_dev(DEV);
        assert_eq!(d.len(), 2);
        assert_eq!(
            d["eth0"],
            DevCounters {
                rx_bytes: 5000,
                rx_packets: 50,
                rx_drop: 2,
                tx_bytes: 7000,
                tx_packets: 70,
                tx_drop: 1,
            }
        );
    }

    #[test]
    fn dev_rates_skip_new_vanished_and_reset_interfaces() {
        let before = parse_net_dev(DEV);
        let mut now = before.clone();
        now.get_mut("eth0").unwrap().rx_bytes += 2000;
        now.get_mut("lo").unwrap().tx_bytes = 0; // recreated: counters went down
        now.insert("veth9".into(), DevCounters::default());
        let r = dev_deltas(&before, &now);
        assert_eq!(r.rx_bytes, 2000);
        assert_eq!(r.tx_bytes, 0);
        let r = HostRates::from_parts(&IntervalValues::default(), Some(r), 2.0);
        assert_eq!(r.rx_bytes_ps, Some(1000.0));
        assert_eq!(r.connections, None, "no chart, no value");
        assert_eq!(r.drops_ps, Some(0.0));
    }

    #[test]
    fn nothing_observed_means_none_not_zero() {
        let r = HostRates::from_parts(&IntervalValues::default(), None, 0.0);
        assert_eq!(r, HostRates::default());
    }
}
