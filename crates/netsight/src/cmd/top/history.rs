//! The last minute of each process's rates, for the drill-down sparklines.
//! Bounded: a minute of points per process, and only processes that moved
//! bytes within that minute are kept.

use std::collections::{HashMap, VecDeque};

use crate::cmd::top::source::ProcRow;

/// How far back the sparklines reach.
pub const WINDOW_S: f64 = 60.0;
/// Upper bound of points per process whatever the interval.
const MAX_POINTS: usize = 600;

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    rx_bps: f64,
    tx_bps: f64,
    interval_s: f64,
}

#[derive(Debug, Default)]
pub struct History {
    per_pid: HashMap<u32, VecDeque<Point>>,
}

impl History {
    /// Adds one interval: a point for every process in `rows`, and a zero
    /// for every remembered process that is absent (it moved no bytes).
    pub fn record(&mut self, rows: &[ProcRow], interval_s: f64) {
        let by_pid: HashMap<u32, &ProcRow> = rows.iter().map(|r| (r.pid, r)).collect();
        for pid in by_pid.keys() {
            self.per_pid.entry(*pid).or_default();
        }
        for (pid, points) in &mut self.per_pid {
            let (rx_bps, tx_bps) = by_pid.get(pid).map_or((0.0, 0.0), |r| (r.rx_bps, r.tx_bps));
            points.push_back(Point {
                rx_bps,
                tx_bps,
                interval_s,
            });
        }
        self.per_pid.retain(|_, points| {
            trim_to_window(points);
            points.iter().any(|p| p.rx_bps > 0.0 || p.tx_bps > 0.0)
        });
    }

    /// Receive rates of `pid`, oldest first (bytes/s, rounded).
    pub fn rx(&self, pid: u32) -> Vec<u64> {
        self.series(pid, |p| p.rx_bps)
    }

    /// Send rates of `pid`, oldest first (bytes/s, rounded).
    pub fn tx(&self, pid: u32) -> Vec<u64> {
        self.series(pid, |p| p.tx_bps)
    }

    fn series(&self, pid: u32, value: impl Fn(&Point) -> f64) -> Vec<u64> {
        self.per_pid.get(&pid).map_or_else(Vec::new, |points| {
            points.iter().map(|p| value(p).round() as u64).collect()
        })
    }

    #[cfg(test)]
    pub fn tracked_processes(&self) -> usize {
        self.per_pid.len()
    }
}

/// Drops the oldest points while the rest still cover the window.
fn trim_to_window(points: &mut VecDeque<Point>) {
    let mut covered: f64 = points.iter().map(|p| p.interval_s).sum();
    while let Some(front) = points.front() {
        if points.len() <= MAX_POINTS && covered - front.interval_s < WINDOW_S {
            break;
        }
        covered -= front.interval_s;
        points.pop_front();
    }
}
