//! What every output is given: one record per finished probe, and the
//! run's statistics at the end.

use std::time::SystemTime;

use netsight_bpf::probes::ping::Hit;
use serde_json::{json, Map, Value};

use super::stages::Stage;
use super::stats::RunStats;

/// One probe that got its reply.
#[derive(Debug, Clone)]
pub struct Record {
    pub seq: u32,
    pub wall: SystemTime,
    /// Per stage, microseconds (outlink/inlink: excess over the smallest).
    pub values: [Option<f64>; 12],
    /// With `-n`: every sighting of the probe's two packets, in time order.
    pub path: Option<Vec<Hit>>,
    /// The `--userid` of the server that answered (tells hosts apart).
    pub remote_userid: Option<u16>,
}

impl Record {
    pub fn total(&self) -> Option<f64> {
        self.values[Stage::Total as usize]
    }

    /// The stages with a value that a stand-in event bounds.
    pub fn proxies(&self) -> Vec<&'static str> {
        Stage::ALL
            .iter()
            .filter(|s| s.proxy() && self.values[**s as usize].is_some())
            .map(|s| s.name())
            .collect()
    }
}

fn round(v: f64) -> Value {
    json!((v * 10.0).round() / 10.0)
}

pub fn probe_json(r: &Record) -> Value {
    let mut stages = Map::new();
    for s in Stage::ALL {
        stages.insert(
            s.name().into(),
            r.values[s as usize].map_or(Value::Null, round),
        );
    }
    let mut v = json!({
        "type": "probe",
        "seq": r.seq,
        "ts": netsight_events::time::rfc3339_millis(r.wall),
        "stages": stages,
        "proxy": r.proxies(),
    });
    if let Some(u) = r.remote_userid {
        v["remote_userid"] = json!(u);
    }
    if let Some(path) = &r.path {
        v["namespaces"] = super::hops::visits_json(&super::hops::visits(path));
        let first = path.first().map_or(0, |h| h.ts_ns);
        v["path"] = path
            .iter()
            .map(|h| {
                json!({
                    "packet": format!("{:?}", h.kind).to_lowercase(),
                    "event": h.point.event(),
                    "netns": h.netns,
                    "ifindex": h.ifindex,
                    "cpu": h.cpu,
                    "us": (h.ts_ns - first) as f64 / 1000.0,
                })
            })
            .collect();
    }
    v
}

/// The first JSON line: which events bound each stage.
pub fn stages_json() -> Value {
    let mut stages = Map::new();
    for s in Stage::ALL {
        let (from, to) = s.bounds();
        stages.insert(
            s.name().into(),
            json!({"from": from, "to": to, "proxy": s.proxy()}),
        );
    }
    json!({
        "type": "stages",
        "unit": "us",
        "stages": stages,
        "note": "outlink and inlink are the excess over the smallest value seen, \
                 not one-way delays: the two hosts' clocks differ",
    })
}

pub fn stat_json(stats: &RunStats, mode: &str) -> Value {
    let mut stages = Map::new();
    for s in Stage::ALL {
        stages.insert(s.name().into(), stats.stage(s).json());
    }
    json!({
        "type": "stat",
        "sent": stats.sent,
        "replied": stats.replied,
        "lost": stats.lost(),
        "mode": mode,
        "stages": stages,
        "namespaces": stats.hops.json(),
    })
}
