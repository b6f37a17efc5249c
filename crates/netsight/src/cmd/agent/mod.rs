//! `netsight agent --config FILE` (SPEC §6): every interval, per-process
//! and host-wide metrics to each configured sink (InfluxDB, Prometheus,
//! JSON lines). SIGTERM/SIGINT flush and exit; SIGHUP reloads the config.
//! The work is in `netsight-export`; this module wires it to the probes,
//! the clock and the signals.

mod hup;
mod json_sink;
mod sinks;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use netsight_export::config::{Config, TEMPLATE};
use netsight_export::influx::points::parse_ts_ms;
use netsight_sysstat::SystemStat;

use crate::collect::ProcessCollector;
use crate::signals;
use sinks::{Collected, Sinks};

#[derive(Debug, clap::Args)]
pub struct AgentArgs {
    /// The TOML config file (see --print-config).
    #[arg(long, value_name = "FILE", required_unless_present = "print_config")]
    pub config: Option<PathBuf>,
    /// Print every config key with its default and what it does, then exit.
    #[arg(long)]
    pub print_config: bool,
    /// Also write SPEC §3/§4 JSON lines to stdout (as a [json] section with path = "-").
    #[arg(long)]
    pub json: bool,
}

/// Messages for the operator, on stderr (journald under systemd). Nothing
/// secret is ever passed here.
pub fn log(msg: &str) {
    eprintln!("netsight agent: {msg}");
}

pub fn run(args: AgentArgs) -> anyhow::Result<()> {
    if args.print_config {
        print!("{TEMPLATE}");
        return Ok(());
    }
    let path = args
        .config
        .clone()
        .ok_or_else(|| crate::error::usage("--config FILE is required"))?;
    let mut config = load(&path, args.json).map_err(crate::error::usage)?;
    let mut collector = ProcessCollector::start()?;
    let mut system = open_system(&config)?;
    let mut sinks = Sinks::start(&config)?;
    signals::install();
    hup::install();
    log(&format!(
        "started: every {:.3}s to {}",
        config.interval.as_secs_f64(),
        sinks.describe()
    ));
    let mut schedule = Schedule::new(config.interval);
    loop {
        let stopped = !schedule.wait();
        if hup::take() {
            match reload(&path, args.json, &config, &mut sinks) {
                Ok((new, new_system)) => {
                    if let Some(s) = new_system {
                        system = s;
                    }
                    if new.interval != config.interval {
                        schedule = Schedule::new(new.interval);
                    }
                    config = new;
                    sinks.health.reloads_ok += 1;
                    log(&format!(
                        "config reloaded: every {:.3}s to {}",
                        config.interval.as_secs_f64(),
                        sinks.describe()
                    ));
                }
                Err(e) => {
                    sinks.health.reloads_failed += 1;
                    log(&format!(
                        "cannot reload the config ({e}); keeping the running configuration"
                    ));
                }
            }
            if !stopped {
                continue;
            }
        }
        // Each interval is delivered, the last (partial) one at a stop too.
        match collector.interval() {
            Ok(iv) => {
                let charts = system.as_mut().map(|s| s.sample_interval().values.charts);
                let ts_ms = parse_ts_ms(&iv.info.ts).unwrap_or_else(now_ms);
                sinks.deliver(&Collected {
                    info: &iv.info,
                    records: &iv.records,
                    charts: charts.as_deref().unwrap_or(&[]),
                    ts_ms,
                });
            }
            // A failed drain loses one interval, not the agent.
            Err(e) => log(&format!("collecting an interval failed: {e:#}")),
        }
        if stopped {
            break;
        }
    }
    sinks.stop();
    Ok(())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Reads and validates the config; the message names file, line and key.
fn load(path: &Path, json_flag: bool) -> Result<Config, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read config {}: {e}", path.display()))?;
    let mut config = Config::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    if json_flag {
        config.json = Some(netsight_export::config::JsonConfig { path: "-".into() });
    }
    Ok(config)
}

fn open_system(config: &Config) -> anyhow::Result<Option<SystemStat>> {
    if !config.system {
        return Ok(None);
    }
    let netns = (!config.netns.is_empty()).then_some(config.netns.as_str());
    let mut stat = SystemStat::open(netns).map_err(|e| {
        if e.is_usage() {
            crate::error::usage(format!("netns: {e}"))
        } else {
            anyhow::Error::new(e)
        }
    })?;
    // The baseline: rates need two samples.
    stat.sample_interval();
    Ok(Some(stat))
}

/// Builds everything the new config needs before touching the running
/// sinks, so a failure leaves the agent as it was.
fn reload(
    path: &Path,
    json_flag: bool,
    old: &Config,
    sinks: &mut Sinks,
) -> Result<(Config, Option<Option<SystemStat>>), String> {
    let new = load(path, json_flag)?;
    let system = if new.system != old.system || new.netns != old.netns {
        Some(open_system(&new).map_err(|e| format!("{e:#}"))?)
    } else {
        None
    };
    sinks.reconfigure(&new).map_err(|e| format!("{e:#}"))?;
    Ok((new, system))
}

/// Interval boundaries on a fixed grid from the start, so a slow interval
/// does not shift the ones after it.
struct Schedule {
    start: Instant,
    period: Duration,
    n: u32,
}

impl Schedule {
    fn new(period: Duration) -> Self {
        Schedule {
            start: Instant::now(),
            period,
            n: 0,
        }
    }

    /// Sleeps to the next boundary; false when a stop was requested. A
    /// SIGHUP ends the wait early (the caller reloads and waits again).
    fn wait(&mut self) -> bool {
        let deadline = self.start + self.period * (self.n + 1);
        loop {
            if signals::stop_requested() {
                return false;
            }
            if hup::pending() {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                self.n += 1;
                // After a long stall, skip the missed boundaries.
                while self.start + self.period * (self.n + 1) <= now {
                    self.n += 1;
                }
                return true;
            }
            std::thread::sleep((deadline - now).min(Duration::from_millis(50)));
        }
    }
}
