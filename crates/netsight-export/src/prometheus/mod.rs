//! Prometheus: names, the per-process table with bounded cardinality, the
//! exposition format and the `/metrics` server.

pub mod exposition;
pub mod names;
pub mod processes;
pub mod server;

use netsight_sysstat::rates::ChartValues;

use crate::health::AgentHealth;
use exposition::{Family, Kind};

/// `netsight_system_<chart>{dimension="..."}`: SPEC §4 values (rates per
/// second over the interval, or current gauges), one family per chart.
pub fn system_families(charts: &[ChartValues]) -> Vec<Family> {
    charts
        .iter()
        .map(|cv| {
            let help = format!(
                "{} ({}), host-wide, from /proc/net.",
                cv.chart.title, cv.chart.unit
            );
            let mut f = Family::new(
                format!("netsight_system_{}", cv.chart.id),
                help,
                Kind::Gauge,
            );
            for (dim, v) in &cv.values {
                f.push(vec![("dimension", dim.clone())], *v);
            }
            f
        })
        .collect()
}

/// `netsight_agent_*`: the exporter's own health.
pub fn agent_families(h: &AgentHealth) -> Vec<Family> {
    let counter = |name: &str, help: &str, v: u64| {
        Family::new(name, help, Kind::Counter).with(vec![], v as f64)
    };
    let gauge =
        |name: &str, help: &str, v: f64| Family::new(name, help, Kind::Gauge).with(vec![], v);
    let mut out = vec![
        counter(
            "netsight_agent_intervals_total",
            "Collection intervals completed.",
            h.intervals,
        ),
        counter(
            "netsight_agent_lost_events_total",
            "Kernel events lost (ring buffer full): per-process numbers may be incomplete.",
            h.lost_events,
        ),
        gauge(
            "netsight_agent_last_interval_timestamp_seconds",
            "End of the last collection interval (Unix time).",
            h.last_interval_ms as f64 / 1000.0,
        ),
        Family::new(
            "netsight_agent_processes",
            "Processes tracked, and shown one by one (the rest are comm=\"other\").",
            Kind::Gauge,
        )
        .with(
            vec![("state", "tracked".into())],
            h.processes_tracked as f64,
        )
        .with(vec![("state", "shown".into())], h.processes_shown as f64),
        Family::new(
            "netsight_agent_config_reloads_total",
            "SIGHUP config reloads by result.",
            Kind::Counter,
        )
        .with(vec![("result", "ok".into())], h.reloads_ok as f64)
        .with(vec![("result", "failed".into())], h.reloads_failed as f64),
    ];
    if let Some(s) = &h.influx {
        out.extend([
            counter(
                "netsight_agent_influxdb_points_written_total",
                "Points InfluxDB accepted.",
                s.written,
            ),
            counter(
                "netsight_agent_influxdb_points_dropped_total",
                "Points dropped, oldest first, because the buffer was full (or left at shutdown).",
                s.dropped,
            ),
            counter(
                "netsight_agent_influxdb_points_rejected_total",
                "Points InfluxDB refused (HTTP 400 and other permanent errors; never retried).",
                s.rejected,
            ),
            counter(
                "netsight_agent_influxdb_requests_total",
                "Write requests sent.",
                s.requests,
            ),
            counter(
                "netsight_agent_influxdb_failed_requests_total",
                "Write requests that failed and were retried later.",
                s.failed_requests,
            ),
            gauge(
                "netsight_agent_influxdb_buffer_points",
                "Points waiting to be written.",
                (s.buffered_points + s.in_flight) as f64,
            ),
            gauge(
                "netsight_agent_influxdb_buffer_bytes",
                "Bytes of line protocol waiting to be written.",
                s.buffered_bytes as f64,
            ),
        ]);
        if let Some(ms) = s.last_success_ms {
            out.push(gauge(
                "netsight_agent_influxdb_last_success_timestamp_seconds",
                "Time of the last successful write to InfluxDB (Unix time).",
                ms as f64 / 1000.0,
            ));
        }
    }
    out
}
