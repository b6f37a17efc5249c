//! `-o text|json|log` (and `image`, drawn in image.rs): where records go.

use std::io::{self, Write};

use super::logfile::RotatingLog;
use super::record::{probe_json, stages_json, stat_json, Record};
use super::stages::Stage;
use super::stats::RunStats;

pub enum Sink {
    Text,
    Json,
    Log(RotatingLog),
    Image(Box<super::image::Screen>),
}

fn cell(v: Option<f64>, proxy: bool) -> String {
    match v {
        None => "-".into(),
        Some(v) if proxy => format!("{v:.1}~"),
        Some(v) => format!("{v:.1}"),
    }
}

const WIDTH: usize = 10;

impl Sink {
    pub fn start(&mut self, target: &str, mode: &str) -> io::Result<()> {
        match self {
            Sink::Text => {
                let mut out = io::stdout().lock();
                writeln!(
                    out,
                    "netsight ping {target} ({mode}): per-stage latency in us; '-' not seen; \
                     '~' bounded by a stand-in (the server's raw socket for icmp_rcv); \
                     outlink/inlink are excess over the smallest seen (the clocks differ)"
                )?;
                write!(out, "{:>8}", "seq")?;
                for s in Stage::ALL {
                    write!(out, " {:>WIDTH$}", s.name())?;
                }
                writeln!(out)
            }
            Sink::Json => println_json(&stages_json()),
            Sink::Log(log) => log.write_line(&stages_json().to_string()),
            Sink::Image(_) => Ok(()),
        }
    }

    pub fn probe(&mut self, r: &Record) -> io::Result<()> {
        match self {
            Sink::Text => {
                let mut out = io::stdout().lock();
                write!(out, "{:>8}", r.seq)?;
                for s in Stage::ALL {
                    write!(out, " {:>WIDTH$}", cell(r.values[s as usize], s.proxy()))?;
                }
                writeln!(out)?;
                if let Some(path) = &r.path {
                    writeln!(
                        out,
                        "{:>8} {}",
                        "ns:",
                        super::hops::visits_text(&super::hops::visits(path))
                    )?;
                }
                Ok(())
            }
            Sink::Json => println_json(&probe_json(r)),
            Sink::Log(log) => log.write_line(&probe_json(r).to_string()),
            Sink::Image(screen) => screen.probe(r),
        }
    }

    pub fn lost(&mut self, seq: u32) -> io::Result<()> {
        let v = serde_json::json!({"type": "lost", "seq": seq});
        match self {
            Sink::Text => writeln!(io::stdout(), "{seq:>8} lost (no reply in time)"),
            Sink::Json => println_json(&v),
            Sink::Log(log) => log.write_line(&v.to_string()),
            Sink::Image(screen) => screen.lost(),
        }
    }

    /// Lets the live picture redraw between probes.
    pub fn tick(&mut self, stats: &RunStats) -> io::Result<()> {
        if let Sink::Image(screen) = self {
            screen.draw(stats)?;
        }
        Ok(())
    }

    pub fn finish(&mut self, stats: &RunStats, mode: &str) -> io::Result<()> {
        let stat = stat_json(stats, mode);
        match self {
            Sink::Text => text_summary(stats),
            Sink::Json => println_json(&stat),
            Sink::Log(log) => log.write_line(&stat.to_string()),
            Sink::Image(_) => {
                // Leave the screen first, then say what happened.
                super::image::leave();
                text_summary(stats)
            }
        }
    }
}

fn println_json(v: &serde_json::Value) -> io::Result<()> {
    let mut out = io::stdout().lock();
    serde_json::to_writer(&mut out, v)?;
    writeln!(out)?;
    out.flush()
}

fn text_summary(stats: &RunStats) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "--- {} sent, {} replied, {} lost ---",
        stats.sent,
        stats.replied,
        stats.lost()
    )?;
    writeln!(
        out,
        "{:<12} {:>10} {:>10} {:>10} {:>10}",
        "stage", "min", "avg", "max", "p99"
    )?;
    for s in Stage::ALL {
        let sum = stats.stage(s);
        if sum.count() == 0 {
            writeln!(out, "{:<12} {:>10}", s.name(), "not seen")?;
        } else {
            writeln!(
                out,
                "{:<12} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
                s.name(),
                sum.min(),
                sum.avg(),
                sum.max(),
                sum.quantile(0.99)
            )?;
        }
    }
    super::hops::text_table(&mut out, &stats.hops)
}
