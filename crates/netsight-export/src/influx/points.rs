//! SPEC §6 measurements: `netsight_process` (tags host, pid, comm, cgroup;
//! fields as SPEC §3), `netsight_system` (tags host, chart; fields are the
//! dimensions) and `netsight_agent` (the agent's own health).

use netsight_events::process::ProcessRecord;
use netsight_sysstat::rates::ChartValues;
use serde_json::Value;

use super::line_protocol::{FieldValue, Point};
use crate::backoff::days_from_civil;
use crate::health::AgentHealth;

/// Record keys that are tags or the timestamp, not fields.
const NOT_FIELDS: &[&str] = &["type", "ts", "pid", "comm", "cgroup"];

/// One process record as a point. The fields are taken from the record's
/// JSON form, so they follow SPEC §3 by construction.
pub fn process_point(r: &ProcessRecord, host: &str, ts_ms: i64) -> Point {
    let fields = match serde_json::to_value(r) {
        Ok(Value::Object(map)) => map
            .into_iter()
            .filter(|(k, _)| !NOT_FIELDS.contains(&k.as_str()))
            .filter_map(|(k, v)| {
                let v = match v {
                    Value::Number(n) if n.is_u64() => FieldValue::from_u64(n.as_u64()?),
                    Value::Number(n) if n.is_i64() => FieldValue::Int(n.as_i64()?),
                    Value::Number(n) => FieldValue::Float(n.as_f64()?),
                    _ => return None,
                };
                Some((k, v))
            })
            .collect(),
        _ => Vec::new(),
    };
    Point {
        measurement: "netsight_process".into(),
        tags: vec![
            ("host".into(), host.into()),
            ("pid".into(), r.pid.to_string()),
            ("comm".into(), r.comm.clone()),
            ("cgroup".into(), r.cgroup.clone()),
        ],
        fields,
        ts_ms,
    }
}

/// One chart as a point; dimensions are float fields.
pub fn system_point(cv: &ChartValues, host: &str, ts_ms: i64) -> Point {
    Point {
        measurement: "netsight_system".into(),
        tags: vec![
            ("host".into(), host.into()),
            ("chart".into(), cv.chart.id.into()),
        ],
        fields: cv
            .values
            .iter()
            .map(|(d, v)| (d.clone(), FieldValue::Float(*v)))
            .collect(),
        ts_ms,
    }
}

/// The agent's health at the end of an interval (cumulative counters).
pub fn agent_point(h: &AgentHealth, host: &str, ts_ms: i64) -> Point {
    let mut fields = vec![
        ("intervals".to_string(), FieldValue::from_u64(h.intervals)),
        ("lost_events".into(), FieldValue::from_u64(h.lost_events)),
        (
            "processes".into(),
            FieldValue::from_u64(h.processes_tracked as u64),
        ),
    ];
    if let Some(s) = &h.influx {
        fields.extend([
            (
                "points_written".to_string(),
                FieldValue::from_u64(s.written),
            ),
            ("points_dropped".into(), FieldValue::from_u64(s.dropped)),
            ("points_rejected".into(), FieldValue::from_u64(s.rejected)),
            (
                "buffer_points".into(),
                FieldValue::from_u64((s.buffered_points + s.in_flight) as u64),
            ),
        ]);
    }
    Point {
        measurement: "netsight_agent".into(),
        tags: vec![("host".into(), host.into())],
        fields,
        ts_ms,
    }
}

/// Unix ms of a SPEC timestamp (`2026-11-22T10:00:01.000Z`).
pub fn parse_ts_ms(ts: &str) -> Option<i64> {
    let b = ts.as_bytes();
    if b.len() != 24 || b[4] != b'-' || b[10] != b'T' || b[19] != b'.' || b[23] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| ts.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Some(((days * 86_400 + h * 3600 + mi * 60 + s) * 1000) + ms)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::influx::line_protocol::encode_line;
    use crate::prometheus::processes::tests::record;

    #[test]
    fn timestamps_round_trip_with_the_record_format() {
        use std::time::{Duration, UNIX_EPOCH};
        for ms in [0i64, 1_795_000_000_123, 951_782_400_999] {
            let t = UNIX_EPOCH + Duration::from_millis(ms as u64);
            let s = netsight_events::time::rfc3339_millis(t);
            assert_eq!(parse_ts_ms(&s), Some(ms), "{s}");
        }
        assert_eq!(parse_ts_ms("2026-11-22 10:00:01"), None);
    }

    #[test]
    fn a_process_record_becomes_one_line_with_spec_tags_and_integer_fields() {
        let mut r = record(4242, "my app", 1234);
        r.cgroup = "/system.slice/x.service".into();
        let line = encode_line(&process_point(&r, "web-1", 1_795_000_000_123)).unwrap();
        assert!(
            line.starts_with("netsight_process,host=web-1,pid=4242,comm=my\\ app,cgroup=/system.slice/x.service "),
            "{line}"
        );
        assert!(
            line.contains("tcp_tx_bytes=1234i")
                && line.contains("interval_s=1,")
                && line.contains("lost_events=0i")
        );
        assert!(!line.contains("type=") && !line.contains(" ts=") && !line.contains("pid=4242i"));
        assert!(line.ends_with(" 1795000000123\n"));
        // Every SPEC §3 counter and gauge is a field.
        assert_eq!(
            line.split(' ').nth(2).unwrap().split(',').count(),
            35,
            "{line}"
        );
    }
}
