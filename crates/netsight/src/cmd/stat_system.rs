//! `netsight stat --system`: host-wide counters (SPEC §4), the chart table
//! of seeds/000 from the target namespace's /proc/net files. The work is in
//! the `netsight-sysstat` crate; this file wires it to the clock and stdout.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use netsight_events::time::rfc3339_millis;
use netsight_sysstat::output::{render_table, write_json};
use netsight_sysstat::{SysstatError, SystemStat};

use crate::cli::StatArgs;
use crate::signals;

pub fn run(args: &StatArgs) -> anyhow::Result<()> {
    let mut reporter = SystemReporter::new(args)?;
    signals::install();
    let period = Duration::from_secs_f64(args.common.interval);
    let start = Instant::now();
    let stdout = std::io::stdout();
    for n in 1u32.. {
        let completed = signals::sleep_until(start + period * n);
        let ts = rfc3339_millis(SystemTime::now());
        let mut out = stdout.lock();
        let written = reporter
            .tick(&ts, &mut out)
            .and_then(|()| out.flush().context("writing to stdout"));
        if let Err(e) = written {
            // A reader that went away (`| head`) ends the run, it is no failure.
            if is_broken_pipe(&e) {
                return Ok(());
            }
            return Err(e);
        }
        if !completed || args.common.count.is_some_and(|c| u64::from(n) >= c) {
            break;
        }
    }
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<std::io::Error>())
        .any(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Host-wide counters on someone else's clock: `new` takes the first
/// sample, each `tick` reports the interval since the previous one (used by
/// `stat --system` and `stat --all`).
pub struct SystemReporter {
    stat: SystemStat,
    json: bool,
    header: bool,
}

impl SystemReporter {
    pub fn new(args: &StatArgs) -> anyhow::Result<Self> {
        let mut stat = SystemStat::open(args.netns.as_deref()).map_err(to_anyhow)?;
        // The baseline: rates need two samples, so the first tick already
        // covers a whole interval.
        stat.sample_interval();
        Ok(SystemReporter {
            stat,
            json: args.common.json,
            header: !args.common.quiet,
        })
    }

    /// Samples now and writes the interval since the last sample: JSON
    /// lines, or the grouped table.
    pub fn tick(&mut self, ts: &str, out: &mut dyn Write) -> anyhow::Result<()> {
        let iv = self.stat.sample_interval();
        if self.json {
            write_json(out, ts, iv.interval_s.unwrap_or(0.0), &iv.values)
        } else {
            out.write_all(render_table(ts, iv.interval_s, &iv.values, self.header).as_bytes())
        }
        .context("writing to stdout")
    }
}

fn to_anyhow(e: SysstatError) -> anyhow::Error {
    if e.is_usage() {
        crate::error::usage(e.to_string())
    } else {
        anyhow::Error::new(e)
    }
}
