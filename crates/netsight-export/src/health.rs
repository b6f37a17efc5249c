//! The agent's own health, exported like any other metric: so a dashboard
//! shows when numbers are incomplete (lost events, dropped points) or stale
//! (last successful write).

use crate::influx::sender::SenderStats;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentHealth {
    pub intervals: u64,
    /// Events the kernel side lost since the agent started.
    pub lost_events: u64,
    /// Unix ms of the end of the last interval.
    pub last_interval_ms: i64,
    pub processes_tracked: usize,
    pub processes_shown: usize,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Counters of the InfluxDB sink, summed over reloads.
    pub influx: Option<SenderStats>,
}

/// Adds the counters of a sender that was replaced at a reload to those of
/// its successor, so exported counters keep going up.
pub fn merge(base: &SenderStats, current: &SenderStats) -> SenderStats {
    SenderStats {
        pushed: base.pushed + current.pushed,
        written: base.written + current.written,
        dropped: base.dropped + current.dropped,
        rejected: base.rejected + current.rejected,
        requests: base.requests + current.requests,
        failed_requests: base.failed_requests + current.failed_requests,
        last_success_ms: current.last_success_ms.or(base.last_success_ms),
        ..*current
    }
}
