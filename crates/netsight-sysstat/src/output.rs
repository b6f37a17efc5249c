//! The two renderings of an interval: SPEC §4 JSON lines and a grouped
//! table for people.

use std::fmt::Write as _;
use std::io::{self, Write};

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;

use crate::rates::{ChartValues, IntervalValues};

/// One SPEC §4 record. Dimensions keep the chart table's order.
#[derive(Debug, Serialize)]
pub struct SystemRecord<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub ts: &'a str,
    pub interval_s: f64,
    pub chart: &'static str,
    pub unit: &'static str,
    #[serde(serialize_with = "ordered_map")]
    pub values: &'a [(String, f64)],
}

fn ordered_map<S: Serializer>(values: &&[(String, f64)], s: S) -> Result<S::Ok, S::Error> {
    let mut m = s.serialize_map(Some(values.len()))?;
    for (k, v) in values.iter() {
        m.serialize_entry(k, v)?;
    }
    m.end()
}

impl<'a> SystemRecord<'a> {
    pub fn new(ts: &'a str, interval_s: f64, cv: &'a ChartValues) -> Self {
        SystemRecord {
            kind: "system",
            ts,
            interval_s,
            chart: cv.chart.id,
            unit: cv.chart.unit,
            values: &cv.values,
        }
    }
}

/// Writes one JSON line per chart.
pub fn write_json(
    out: &mut dyn Write,
    ts: &str,
    interval_s: f64,
    iv: &IntervalValues,
) -> io::Result<()> {
    for cv in &iv.charts {
        let line = serde_json::to_string(&SystemRecord::new(ts, interval_s, cv))
            .map_err(io::Error::other)?;
        writeln!(out, "{line}")?;
    }
    Ok(())
}

const FAMILY_TITLES: &[(&str, &str)] = [
    ("ip", "TCP/IP extensions"),
    ("ipv4", "IPv4"),
    ("ipv6", "IPv6"),
]
.as_slice();

/// A value short enough for a table cell.
fn cell(v: f64) -> String {
    if v == v.trunc() || v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The grouped table: a heading per family, a line per chart with its
/// dimensions. `interval_s` is `None` for the first sample (gauges only).
pub fn render_table(
    ts: &str,
    interval_s: Option<f64>,
    iv: &IntervalValues,
    header: bool,
) -> String {
    let mut s = String::new();
    if header {
        match interval_s {
            Some(i) => {
                let _ = writeln!(
                    s,
                    "{ts}  host-wide counters, rates per second over {i:.3} s"
                );
            }
            None => {
                let _ = writeln!(
                    s,
                    "{ts}  host-wide counters: gauges only, rates start with the next sample"
                );
            }
        }
    }
    for (family, title) in FAMILY_TITLES {
        let rows: Vec<&ChartValues> = iv
            .charts
            .iter()
            .filter(|c| c.chart.family() == *family)
            .collect();
        if rows.is_empty() {
            continue;
        }
        let _ = writeln!(s, "  {title}");
        for cv in rows {
            let dims = if cv.values.is_empty() {
                "-".to_string()
            } else {
                cv.values
                    .iter()
                    .map(|(k, v)| format!("{k} {}", cell(*v)))
                    .collect::<Vec<_>>()
                    .join("  ")
            };
            let _ = writeln!(s, "    {:<28} {:<14} {dims}", cv.chart.id, cv.chart.unit);
        }
    }
    if !iv.counter_resets.is_empty() {
        let _ = writeln!(
            s,
            "  counter went down (reset), no rate this interval: {}",
            iv.counter_resets.join(", ")
        );
    }
    s
}
