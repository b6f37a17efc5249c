//! Per-process counters kept cumulative across intervals, with bounded
//! cardinality: at most `top` processes are shown one by one, everything
//! else is summed into `comm="other"`.
//!
//! Rules, chosen so every exported counter only ever goes up and
//! `sum(rate(...))` over all series stays exact:
//! - a process's counters add up every delta since the agent first saw it
//!   (its lifetime, for processes started after the agent);
//! - `other` adds the deltas of processes while they are not shown;
//! - a shown process keeps its slot until it is retired; a hidden process
//!   takes the slot of the least busy shown one only when it is clearly
//!   busier (twice the recent traffic), so series do not flap;
//! - a process not seen for `retire_after` (it exited, or went idle) is
//!   forgotten and its series disappear.
//!
//! Records carry pid and comm, not the process start time, so a pid reused
//! by a program of the same name within the grace period continues the
//! old series.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use netsight_events::process::ProcessRecord;

use super::exposition::{Family, Kind};
use super::names::{COUNTERS, GAUGES};

/// Weight of the past in the traffic score, per interval.
const SCORE_DECAY: f64 = 0.8;
/// How much busier a hidden process must be to take a shown one's slot.
const TAKEOVER_FACTOR: f64 = 2.0;

type Key = (u32, String);

struct Proc {
    counters: Vec<u64>,
    gauges: Vec<u64>,
    last_seen: Instant,
    /// Recent traffic in bytes, decayed each interval.
    score: f64,
    shown: bool,
}

pub struct ProcessTable {
    procs: HashMap<Key, Proc>,
    other: Vec<u64>,
    top: usize,
    retire_after: Duration,
}

fn traffic(r: &ProcessRecord) -> u64 {
    r.tcp_tx_bytes + r.tcp_rx_bytes + r.udp_tx_bytes + r.udp_rx_bytes
}

impl ProcessTable {
    pub fn new(top: usize, retire_after: Duration) -> Self {
        ProcessTable {
            procs: HashMap::new(),
            other: vec![0; COUNTERS.len()],
            top: top.max(1),
            retire_after,
        }
    }

    /// New limits from a config reload (the counters stay).
    pub fn set_limits(&mut self, top: usize, retire_after: Duration) {
        self.top = top.max(1);
        self.retire_after = retire_after;
    }

    pub fn tracked(&self) -> usize {
        self.procs.len()
    }

    pub fn shown(&self) -> usize {
        self.procs.values().filter(|p| p.shown).count()
    }

    /// Adds one interval's records, seen at `now`.
    pub fn update(&mut self, records: &[ProcessRecord], now: Instant) {
        for p in self.procs.values_mut() {
            p.score *= SCORE_DECAY;
        }
        for r in records {
            let p = self
                .procs
                .entry((r.pid, r.comm.clone()))
                .or_insert_with(|| Proc {
                    counters: vec![0; COUNTERS.len()],
                    gauges: vec![0; GAUGES.len()],
                    last_seen: now,
                    score: 0.0,
                    shown: false,
                });
            for (c, def) in p.counters.iter_mut().zip(COUNTERS) {
                *c += (def.get)(r);
            }
            for (g, def) in p.gauges.iter_mut().zip(GAUGES) {
                *g = (def.get)(r);
            }
            p.last_seen = now;
            p.score += traffic(r) as f64;
        }
        let retire_after = self.retire_after;
        self.procs
            .retain(|_, p| now.saturating_duration_since(p.last_seen) <= retire_after);
        self.select();
        for r in records {
            let hidden = self
                .procs
                .get(&(r.pid, r.comm.clone()))
                .is_none_or(|p| !p.shown);
            if hidden {
                for (o, def) in self.other.iter_mut().zip(COUNTERS) {
                    *o += (def.get)(r);
                }
            }
        }
    }

    /// Fills free slots with the busiest hidden processes, then lets a
    /// clearly busier hidden process take the least busy shown one's slot.
    fn select(&mut self) {
        let mut shown = self.shown();
        while shown > self.top {
            // The limit went down at a reload: hide the least busy.
            let Some(p) = self
                .procs
                .values_mut()
                .filter(|p| p.shown)
                .min_by(|a, b| a.score.total_cmp(&b.score))
            else {
                break;
            };
            p.shown = false;
            shown -= 1;
        }
        let mut hidden: Vec<&mut Proc> = self.procs.values_mut().filter(|p| !p.shown).collect();
        hidden.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut hidden = hidden.into_iter();
        while shown < self.top {
            let Some(p) = hidden.next() else { return };
            p.shown = true;
            shown += 1;
        }
        for _ in 0..self.top {
            let best_hidden = self
                .procs
                .iter()
                .filter(|(_, p)| !p.shown)
                .max_by(|a, b| a.1.score.total_cmp(&b.1.score))
                .map(|(k, p)| (k.clone(), p.score));
            let least_shown = self
                .procs
                .iter()
                .filter(|(_, p)| p.shown)
                .min_by(|a, b| a.1.score.total_cmp(&b.1.score))
                .map(|(k, p)| (k.clone(), p.score));
            match (best_hidden, least_shown) {
                (Some((h, hs)), Some((s, ss))) if hs > TAKEOVER_FACTOR * ss + 1.0 => {
                    if let Some(p) = self.procs.get_mut(&s) {
                        p.shown = false;
                    }
                    if let Some(p) = self.procs.get_mut(&h) {
                        p.shown = true;
                    }
                }
                _ => return,
            }
        }
    }

    /// Counter families (shown processes, then `other`) and gauge families
    /// (shown processes only: a sum of windows or RTTs means nothing).
    pub fn families(&self) -> Vec<Family> {
        let mut shown: Vec<(&Key, &Proc)> = self.procs.iter().filter(|(_, p)| p.shown).collect();
        shown.sort_by(|a, b| a.0.cmp(b.0));
        let labels = |k: &Key| vec![("pid", k.0.to_string()), ("comm", k.1.clone())];
        let mut out = Vec::with_capacity(COUNTERS.len() + GAUGES.len());
        for (i, def) in COUNTERS.iter().enumerate() {
            let mut f = Family::new(def.name, def.help, Kind::Counter);
            for (k, p) in &shown {
                f.push(labels(k), p.counters[i] as f64);
            }
            f.push(vec![("comm", "other".to_string())], self.other[i] as f64);
            out.push(f);
        }
        for (i, def) in GAUGES.iter().enumerate() {
            let mut f = Family::new(def.name, def.help, Kind::Gauge);
            for (k, p) in &shown {
                f.push(labels(k), p.gauges[i] as f64 * def.scale);
            }
            out.push(f);
        }
        out
    }
}

#[cfg(test)]
pub(crate) mod tests;
