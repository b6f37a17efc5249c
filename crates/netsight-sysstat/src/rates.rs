//! Turns two samples into chart values: rates over the real interval for
//! counters, current values for gauges.

use crate::charts::{Chart, Kind, Scale, CHARTS};
use crate::parse::Counters;

/// The values of one chart for one interval, dimensions in table order.
#[derive(Debug, Clone)]
pub struct ChartValues {
    pub chart: &'static Chart,
    pub values: Vec<(String, f64)>,
}

/// One interval's output.
#[derive(Debug, Clone, Default)]
pub struct IntervalValues {
    pub charts: Vec<ChartValues>,
    /// `chart.Dim` whose counter went down (reset, wrap, namespace
    /// recreated): no rate can be known for it this interval.
    pub counter_resets: Vec<String>,
}

/// KiB per sockstat `mem` page on this machine.
pub fn page_kib() -> f64 {
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if page > 0 {
        page as f64 / 1024.0
    } else {
        4.0
    }
}

fn factor(scale: Scale, page_kib: f64) -> f64 {
    match scale {
        Scale::One => 1.0,
        Scale::BytesToKiB => 1.0 / 1024.0,
        Scale::BytesToBits => 8.0,
        Scale::PagesToKiB => page_kib,
    }
}

/// Chart values for the interval from `prev` to `cur` lasting `interval_s`.
/// Without `prev` (the first sample) only gauges are given: a rate needs two
/// samples. A dimension whose counter is absent from either sample is left
/// out, never shown as zero.
pub fn compute(
    prev: Option<&Counters>,
    cur: &Counters,
    interval_s: f64,
    page_kib: f64,
) -> IntervalValues {
    let prev = prev.filter(|_| interval_s > 0.0 && interval_s.is_finite());
    let mut out = IntervalValues::default();
    for chart in CHARTS {
        let mut values = Vec::new();
        // A dynamic chart with no type seen yet is still an observation (all zero).
        let mut observed = false;
        match (chart.kind, prev) {
            (Kind::Gauge, _) => {
                for d in chart.dims {
                    if let Some(v) = cur.get(d.key) {
                        values.push((d.name.to_string(), v as f64 * factor(d.scale, page_kib)));
                    }
                }
            }
            (Kind::Rate, None) => {}
            (Kind::Rate, Some(prev)) => {
                let mut push_rate =
                    |name: String, before: Option<u64>, now: Option<u64>, scale: Scale| {
                        let (Some(before), Some(now)) = (before, now) else {
                            return;
                        };
                        // A counter that went down was reset (namespace recreated)
                        // or wrapped (32-bit kernels wrap at 2^32). The two look
                        // alike, so no rate is guessed for this interval.
                        if now < before {
                            out.counter_resets.push(format!("{}.{name}", chart.id));
                            return;
                        }
                        let rate = (now - before) as f64 * factor(scale, page_kib) / interval_s;
                        values.push((name, rate));
                    };
                for d in chart.dims {
                    push_rate(d.name.to_string(), prev.get(d.key), cur.get(d.key), d.scale);
                }
                for dynamic in chart
                    .dynamic
                    .iter()
                    .filter(|d| cur.get(d.present_if).is_some())
                {
                    observed = true;
                    for (key, now) in cur.with_prefix(dynamic.key_prefix) {
                        let suffix = &key[dynamic.key_prefix.len()..];
                        // The kernel lists a type only once it was seen: absent means zero.
                        let before = prev.get(key).unwrap_or(0);
                        push_rate(
                            format!("{}{suffix}", dynamic.name_prefix),
                            Some(before),
                            Some(now),
                            Scale::One,
                        );
                    }
                }
            }
        }
        if !values.is_empty() || observed {
            out.charts.push(ChartValues { chart, values });
        }
    }
    out
}

/// `chart.Dim (Counter.Key)` for every fixed dimension whose counter the
/// sample lacks (the running kernel does not have it, or its file is gone).
pub fn missing_dimensions_in(sample: &Counters) -> Vec<String> {
    CHARTS
        .iter()
        .flat_map(|c| c.dims.iter().map(move |d| (c, d)))
        .filter(|(_, d)| sample.get(d.key).is_none())
        .map(|(c, d)| format!("{}.{} ({})", c.id, d.name, d.key))
        .collect()
}
