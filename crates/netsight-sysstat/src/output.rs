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

const TABLE_WIDTH: usize = 120;
/// Where dimensions start: 4 + 28 (chart id) + 1 + 14 (unit) + 1.
const DIMS_COLUMN: usize = 48;

/// Joins `cells` with two spaces into lines of at most `width` (a single
/// longer cell gets a line of its own); `-` when there is nothing.
fn wrap_cells(cells: &[String], width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for c in cells {
        let cur = lines.last_mut().expect("never empty");
        if cur.is_empty() {
            cur.push_str(c);
        } else if cur.len() + 2 + c.len() <= width {
            cur.push_str("  ");
            cur.push_str(c);
        } else {
            lines.push(c.clone());
        }
    }
    if lines[0].is_empty() {
        lines[0].push('-');
    }
    lines
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
            let cells: Vec<String> = cv
                .values
                .iter()
                .map(|(k, v)| format!("{k} {}", cell(*v)))
                .collect();
            let lines = wrap_cells(&cells, TABLE_WIDTH - DIMS_COLUMN);
            let _ = writeln!(
                s,
                "    {:<28} {:<14} {}",
                cv.chart.id, cv.chart.unit, lines[0]
            );
            for more in &lines[1..] {
                let _ = writeln!(s, "{:DIMS_COLUMN$}{more}", "");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_wrap_at_the_width() {
        let cells: Vec<String> = ["aaaa 1", "bbbb 2", "cccc 3"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(wrap_cells(&cells, 14), ["aaaa 1  bbbb 2", "cccc 3"]);
        assert_eq!(wrap_cells(&[], 14), ["-"]);
        assert_eq!(cell(2.0), "2");
        assert_eq!(cell(0.5), "0.50");
        assert_eq!(cell(1234.56), "1235");
    }
}
