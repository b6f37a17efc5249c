//! One interval of per-process data, the same for every front end (stat,
//! top, agent): drain the kernel side, join counters and sockets into
//! records, resolve cgroups, count losses.

use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use netsight_bpf::probes::sockets::{Options, SocketProbe};
use netsight_events::process::{self, IntervalInfo, ProcessRecord, SocketSnapshot};
use netsight_events::time::rfc3339_millis;

use crate::cgroup::CgroupNames;

/// What one interval produced.
pub struct Interval {
    pub info: IntervalInfo,
    /// One record per active process (or process holding connections).
    pub records: Vec<ProcessRecord>,
    /// Every open socket netsight tracks, with its owner and TCP gauges.
    pub sockets: Vec<SocketSnapshot>,
}

/// The per-process probe plus the state needed between intervals.
pub struct ProcessCollector {
    probe: SocketProbe,
    cgroups: CgroupNames,
    last: Instant,
    losses_before: u64,
}

impl ProcessCollector {
    /// Loads and attaches the probes (needs root); the first interval starts now.
    pub fn start() -> anyhow::Result<Self> {
        super::cmd::require_root()?;
        let probe =
            SocketProbe::load(&Options::default()).context("starting the per-process probes")?;
        crate::features::report_refusals(probe.missing());
        if probe.io_hooks().is_none() {
            // Say it once rather than print zeros as if nothing moved.
            eprintln!(
                "netsight: this kernel has neither the sock_send_length tracepoints nor fentry: \
                 bytes and calls are not counted (see netsight doctor)"
            );
        }
        Ok(ProcessCollector {
            probe,
            cgroups: CgroupNames::default(),
            last: Instant::now(),
            losses_before: 0,
        })
    }

    /// Ends the current interval and starts the next.
    pub fn interval(&mut self) -> anyhow::Result<Interval> {
        let drain = self.probe.drain()?;
        let now = Instant::now();
        let info = IntervalInfo {
            ts: rfc3339_millis(SystemTime::now()),
            interval_s: round_ms(now - self.last),
            now_ns: monotonic_ns(),
            lost_events: drain.kernel_losses.saturating_sub(self.losses_before),
        };
        self.last = now;
        self.losses_before = drain.kernel_losses;
        let cgroups = &mut self.cgroups;
        let records = process::build(&drain.counters, &drain.sockets, &info, &mut |id| {
            cgroups.path(id)
        });
        Ok(Interval {
            info,
            records,
            sockets: drain.sockets,
        })
    }
}

fn round_ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0).round() / 1000.0
}

/// CLOCK_MONOTONIC, the clock of the kernel's bpf_ktime_get_ns().
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
