//! The configured sinks, fed once per interval: InfluxDB (a sender thread
//! with a bounded buffer), Prometheus (a page rendered per interval, served
//! by its own thread) and JSON lines. Nothing here waits on the network.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Context;
use netsight_events::process::{IntervalInfo, ProcessRecord};
use netsight_export::config::{Config, InfluxConfig, PrometheusConfig};
use netsight_export::health::{merge, AgentHealth};
use netsight_export::influx::line_protocol::encode;
use netsight_export::influx::points::{agent_point, process_point, system_point};
use netsight_export::influx::sender::{InfluxSender, Log, SenderStats};
use netsight_export::prometheus::exposition::render;
use netsight_export::prometheus::processes::ProcessTable;
use netsight_export::prometheus::server::{MetricsServer, Page};
use netsight_export::prometheus::{agent_families, system_families};
use netsight_sysstat::rates::ChartValues;

use super::json_sink::JsonSink;
use super::log;

/// What one interval produced, as the sinks see it.
pub struct Collected<'a> {
    pub info: &'a IntervalInfo,
    pub records: &'a [ProcessRecord],
    pub charts: &'a [ChartValues],
    /// The interval's end, Unix ms (the points' timestamp).
    pub ts_ms: i64,
}

struct InfluxSink {
    cfg: InfluxConfig,
    sender: InfluxSender,
    /// Counters of senders replaced at reloads.
    base: SenderStats,
}

struct PromSink {
    cfg: PrometheusConfig,
    server: MetricsServer,
    page: Page,
    table: ProcessTable,
}

pub struct Sinks {
    host: String,
    influx: Option<InfluxSink>,
    prom: Option<PromSink>,
    json: Option<JsonSink>,
    pub health: AgentHealth,
}

fn sender_log() -> Log {
    Arc::new(log)
}

fn hostname(cfg: &Config) -> String {
    if !cfg.host.is_empty() {
        return cfg.host.clone();
    }
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

fn start_prom(cfg: &PrometheusConfig) -> anyhow::Result<PromSink> {
    let page: Page = Arc::new(Mutex::new(String::new()));
    let server = MetricsServer::start(cfg.listen, Arc::clone(&page))
        .with_context(|| format!("cannot serve /metrics on {}", cfg.listen))?;
    Ok(PromSink {
        cfg: cfg.clone(),
        server,
        page,
        table: ProcessTable::new(cfg.top, cfg.retire_after),
    })
}

fn start_influx(
    cfg: &InfluxConfig,
    buffer: Option<netsight_export::influx::buffer::PointBuffer>,
) -> anyhow::Result<InfluxSender> {
    InfluxSender::start(cfg, buffer, sender_log()).context("starting the InfluxDB sender")
}

impl Sinks {
    pub fn start(cfg: &Config) -> anyhow::Result<Sinks> {
        let prom = cfg.prometheus.as_ref().map(start_prom).transpose()?;
        let json = cfg
            .json
            .as_ref()
            .map(|j| JsonSink::open(&j.path))
            .transpose()?;
        let influx = match &cfg.influxdb {
            Some(c) => Some(InfluxSink {
                cfg: c.clone(),
                sender: start_influx(c, None)?,
                base: SenderStats::default(),
            }),
            None => None,
        };
        Ok(Sinks {
            host: hostname(cfg),
            influx,
            prom,
            json,
            health: AgentHealth::default(),
        })
    }

    /// "influxdb http://..., prometheus http://127.0.0.1:9717/metrics, json -".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(i) = &self.influx {
            parts.push(format!("influxdb {}", i.cfg.url));
        }
        if let Some(p) = &self.prom {
            parts.push(format!(
                "prometheus http://{}/metrics",
                p.server.local_addr()
            ));
        }
        if let Some(j) = &self.json {
            parts.push(format!("json {}", j.path));
        }
        parts.join(", ")
    }

    pub fn deliver(&mut self, c: &Collected<'_>) {
        let h = &mut self.health;
        h.intervals += 1;
        h.lost_events += c.info.lost_events;
        h.last_interval_ms = c.ts_ms;
        h.processes_tracked = c.records.len();
        h.processes_shown = c.records.len();
        if let Some(p) = &mut self.prom {
            p.table.update(c.records, Instant::now());
            h.processes_tracked = p.table.tracked();
            h.processes_shown = p.table.shown();
        }
        if let Some(i) = &self.influx {
            h.influx = Some(merge(&i.base, &i.sender.stats()));
            let mut lines = Vec::with_capacity(c.records.len() + c.charts.len() + 1);
            let mut push = |p| {
                let mut s = String::new();
                if encode(&mut s, &p) {
                    lines.push(s);
                }
            };
            for r in c.records {
                push(process_point(r, &self.host, c.ts_ms));
            }
            for cv in c.charts {
                push(system_point(cv, &self.host, c.ts_ms));
            }
            push(agent_point(h, &self.host, c.ts_ms));
            i.sender.push(lines);
        }
        if let Some(p) = &self.prom {
            let mut families = p.table.families();
            families.extend(system_families(c.charts));
            families.extend(agent_families(h));
            let text = render(&families);
            if let Ok(mut page) = p.page.lock() {
                *page = text;
            }
        }
        if let Some(j) = &mut self.json {
            if let Err(e) = j.write(c) {
                log(&format!(
                    "JSON output {} failed ({e}); it is off until the next reload",
                    j.path
                ));
                self.json = None;
            }
        }
    }

    /// Applies a reloaded config. Everything that can fail (binding a new
    /// port, opening a file) happens before anything running is touched.
    pub fn reconfigure(&mut self, new: &Config) -> anyhow::Result<()> {
        let new_prom = match (&new.prometheus, &self.prom) {
            (Some(n), Some(p)) if n.listen == p.cfg.listen => None,
            // A new address is bound while the old one still serves.
            (Some(n), _) => Some(start_prom(n)?),
            (None, _) => None,
        };
        let new_json = match (&new.json, &self.json) {
            (Some(n), Some(j)) if n.path == j.path => None,
            (Some(n), _) => Some(JsonSink::open(&n.path)?),
            (None, _) => None,
        };
        // Nothing can fail from here on.
        self.host = hostname(new);
        match (&new.prometheus, new_prom) {
            (None, _) => self.prom = None,
            (Some(_), Some(mut fresh)) => {
                if let Some(old) = self.prom.take() {
                    // The counters survive a move to another address.
                    fresh.table = old.table;
                    fresh
                        .table
                        .set_limits(fresh.cfg.top, fresh.cfg.retire_after);
                }
                self.prom = Some(fresh);
            }
            (Some(n), None) => {
                if let Some(p) = &mut self.prom {
                    p.table.set_limits(n.top, n.retire_after);
                    p.cfg = n.clone();
                }
            }
        }
        if new.json.is_none() {
            self.json = None;
        } else if let Some(j) = new_json {
            self.json = Some(j);
        }
        self.reconfigure_influx(new.influxdb.as_ref())
    }

    fn reconfigure_influx(&mut self, new: Option<&InfluxConfig>) -> anyhow::Result<()> {
        match (self.influx.take(), new) {
            (None, None) => {}
            (Some(old), None) => {
                let st = old.sender.shutdown();
                log(&format!(
                    "influxdb sink removed: {} points written, {} dropped",
                    st.written, st.dropped
                ));
                self.health.influx = None;
            }
            (Some(old), Some(n)) if old.cfg == *n => self.influx = Some(old),
            (old, Some(n)) => {
                // The points waiting for the old server go to the new one.
                let (buffer, base) = match old {
                    Some(o) => {
                        let (buffer, st) = o.sender.hand_over();
                        (Some(buffer), merge(&o.base, &st))
                    }
                    None => (None, SenderStats::default()),
                };
                let base = SenderStats {
                    buffered_points: 0,
                    buffered_bytes: 0,
                    in_flight: 0,
                    ..base
                };
                self.influx = Some(InfluxSink {
                    cfg: n.clone(),
                    sender: start_influx(n, buffer)?,
                    base,
                });
            }
        }
        Ok(())
    }

    /// Flushes InfluxDB within its flush timeout and stops every sink.
    pub fn stop(mut self) {
        if let Some(i) = self.influx.take() {
            let st = merge(&i.base, &i.sender.shutdown());
            log(&format!(
                "stopped: influxdb {} points written, {} dropped, {} rejected",
                st.written, st.dropped, st.rejected
            ));
        } else {
            log("stopped");
        }
    }
}
