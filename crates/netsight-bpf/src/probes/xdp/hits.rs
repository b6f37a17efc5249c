//! Per-rule hit counts (xdp.h: HIT_CHUNK). The program only ever adds to
//! the per-CPU chunks; a rule's count is its slot's sum over CPUs minus the
//! base recorded when the slot was handed to it, plus, for state pinned
//! before the chunks existed, what the retired per-slot map `rule_hits`
//! counted then (frozen since, and zeroed per slot like before).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use libbpf_rs::{MapCore, MapFlags, MapHandle};

use super::error::{Result, XdpError};
use super::raw;
use crate::mapped::MappedU64s;

/// The retired per-slot counter map of earlier layouts.
pub const LEGACY_HITS: &str = "rule_hits";

#[derive(Debug)]
pub struct HitCounters<'a> {
    chunks: &'a MapHandle,
    base: &'a MappedU64s,
    legacy: Option<&'a MapHandle>,
    ncpus: usize,
}

impl<'a> HitCounters<'a> {
    pub fn new(
        chunks: &'a MapHandle,
        base: &'a MappedU64s,
        legacy: Option<&'a MapHandle>,
        ncpus: usize,
    ) -> Self {
        HitCounters {
            chunks,
            base,
            legacy,
            ncpus,
        }
    }

    /// Makes these slots count from zero (for rules taking them, or leaving
    /// them); no rule may match them meanwhile. Reads each chunk once.
    pub fn reset(&self, slots: &[u32]) -> Result<()> {
        let sums = self.sums_by_chunk(slots)?;
        let base = self.base.values();
        let zeros = vec![vec![0u8; 8]; self.ncpus];
        for &s in slots {
            base[s as usize].store(
                sums[&(s / raw::HIT_CHUNK)][(s % raw::HIT_CHUNK) as usize],
                Ordering::Release,
            );
            if let Some(legacy) = self.legacy {
                legacy
                    .update_percpu(&s.to_ne_bytes(), &zeros, MapFlags::ANY)
                    .map_err(|e| XdpError::bpf("resetting a hit counter", e))?;
            }
        }
        Ok(())
    }

    /// Adds `n` hits counted elsewhere (a part of the compact table no
    /// longer in use) to a slot's count.
    pub fn fold(&self, slot: u32, n: u64) {
        if let Some(base) = self.base.values().get(slot as usize) {
            base.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// The chunks holding these slots, each summed over CPUs.
    fn sums_by_chunk(&self, slots: &[u32]) -> Result<BTreeMap<u32, Vec<u64>>> {
        let mut by_chunk = BTreeMap::new();
        for &s in slots {
            let chunk = s / raw::HIT_CHUNK;
            if let std::collections::btree_map::Entry::Vacant(e) = by_chunk.entry(chunk) {
                e.insert(self.chunk_sums(chunk)?);
            }
        }
        Ok(by_chunk)
    }

    /// The counts of these slots, reading each chunk once.
    pub fn read(&self, slots: &[u32]) -> Result<Vec<u64>> {
        let by_chunk = self.sums_by_chunk(slots)?;
        let base = self.base.values();
        slots
            .iter()
            .map(|&s| {
                let sum = by_chunk[&(s / raw::HIT_CHUNK)][(s % raw::HIT_CHUNK) as usize];
                let mut hits = sum.wrapping_sub(base[s as usize].load(Ordering::Acquire));
                if let Some(legacy) = self.legacy {
                    hits = hits.wrapping_add(percpu_sum(legacy, s, 0)?);
                }
                Ok(hits)
            })
            .collect()
    }

    /// One chunk's counters summed over CPUs.
    fn chunk_sums(&self, chunk: u32) -> Result<Vec<u64>> {
        let per_cpu = self
            .chunks
            .lookup_percpu(&chunk.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| XdpError::bpf("reading hit counters", e))?
            .unwrap_or_default();
        let mut sums = vec![0u64; raw::HIT_CHUNK as usize];
        for cpu in &per_cpu {
            for (sum, v) in sums.iter_mut().zip(cpu.chunks_exact(8)) {
                *sum = sum.wrapping_add(raw::u64_at(v, 0));
            }
        }
        Ok(sums)
    }
}

/// Sum over CPUs of the u64 at `offset` in a per-CPU value.
pub(crate) fn percpu_sum(map: &MapHandle, key: u32, offset: usize) -> Result<u64> {
    let values = map
        .lookup_percpu(&key.to_ne_bytes(), MapFlags::ANY)
        .map_err(|e| XdpError::bpf("reading counters", e))?
        .unwrap_or_default();
    Ok(values.iter().map(|v| raw::u64_at(v, offset)).sum())
}
