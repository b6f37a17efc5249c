//! Host-wide network counters for `netsight stat --system` (SPEC §4): the
//! netdata-style chart table of seeds/000 computed from /proc/net/{snmp,
//! netstat,snmp6,sockstat,sockstat6} of any network namespace.
//!
//! Layers, each testable alone: `parse` (text -> counters, never panics),
//! `charts` (the table), `rates` (two samples -> chart values), `output`
//! (JSON / table), `netns` + `sampler` (the OS edge).

pub mod charts;
pub mod error;
pub mod netns;
pub mod output;
pub mod parse;
pub mod rates;
pub mod sampler;
pub mod tcp_bytes;

use std::time::Instant;

pub use error::SysstatError;
pub use parse::Counters;
pub use rates::IntervalValues;
pub use sampler::Sampler;

/// A sampler plus the previous sample: each call to [`SystemStat::sample_interval`]
/// yields the interval since the one before.
#[derive(Debug)]
pub struct SystemStat {
    sampler: Sampler,
    prev: Option<(Counters, Instant)>,
    page_kib: f64,
}

/// One interval's result.
#[derive(Debug, Clone)]
pub struct Interval {
    /// Real seconds since the previous sample (µs precision); `None` on the
    /// first sample, which therefore carries gauges only.
    pub interval_s: Option<f64>,
    pub values: IntervalValues,
}

impl SystemStat {
    /// Opens the counters of `netns` (`--netns NAME|PATH|INODE`) or of our
    /// own namespace.
    pub fn open(netns: Option<&str>) -> Result<SystemStat, SysstatError> {
        Ok(SystemStat {
            sampler: Sampler::open(netns)?,
            prev: None,
            page_kib: rates::page_kib(),
        })
    }

    /// Samples now and computes the interval since the previous sample.
    pub fn sample_interval(&mut self) -> Interval {
        let cur = self.sampler.sample();
        let now = Instant::now();
        let interval_s = self
            .prev
            .as_ref()
            .map(|(_, t)| (now.duration_since(*t).as_secs_f64() * 1e6).round() / 1e6)
            .filter(|s| *s > 0.0);
        let prev = self
            .prev
            .as_ref()
            .map(|(c, _)| c)
            .filter(|_| interval_s.is_some());
        let values = rates::compute(prev, &cur, interval_s.unwrap_or(0.0), self.page_kib);
        self.prev = Some((cur, now));
        Interval { interval_s, values }
    }

    /// Dimensions this namespace cannot provide (see [`missing_dimensions`]).
    pub fn missing_dimensions(&mut self) -> Vec<String> {
        let mut missing = rates::missing_dimensions_in(&self.sampler.sample());
        missing.extend(self.sampler.unavailable.iter().cloned());
        missing
    }
}

/// Chart dimensions the running kernel lacks in our own namespace, as
/// `chart.Dim (Counter.Key)`, plus sources that could not be opened; for
/// `netsight doctor`. Empty when everything is there.
pub fn missing_dimensions() -> Result<Vec<String>, SysstatError> {
    Ok(SystemStat::open(None)?.missing_dimensions())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_gives_gauges_only_then_rates() {
        let mut stat = SystemStat::open(None).unwrap();
        let first = stat.sample_interval();
        assert_eq!(first.interval_s, None);
        assert!(first
            .values
            .charts
            .iter()
            .all(|c| c.chart.kind == charts::Kind::Gauge));
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = stat.sample_interval();
        assert!(second.interval_s.is_some_and(|s| s >= 0.02));
        assert!(second
            .values
            .charts
            .iter()
            .any(|c| c.chart.id == "ipv4.tcppackets"));
    }
}
