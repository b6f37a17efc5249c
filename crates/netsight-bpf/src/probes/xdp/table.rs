//! The compact IPv4 table (xdp.h, `pfx4_table`, and its per-CPU copies
//! `pfx4_cpu`) from user space: the maps are mmap'ed and every entry is
//! written with one atomic 8-byte store, so the program, reading an entry
//! with one load, sees it whole or not at all. The shared table is the
//! record (searched, reclaimed); each write goes to every copy too.
//! Writers hold the state directory's lock (or own a private blacklist).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};

use libbpf_rs::MapHandle;

use super::error::{Result, XdpError};
use super::raw::{self, Geometry};
use crate::mapped::MappedU64s;

/// Where a rule went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Table,
    /// No room within PFX4_PROBES buckets: only in pfx_v4 (counted).
    Spilled,
}

/// Entries in one copy of the table.
const ENTRIES: usize = raw::PFX4_BUCKETS as usize * raw::PFX4_WAYS;

/// The mapped table and its copies.
#[derive(Debug)]
pub struct V4Table {
    shared: MappedU64s,
    copies: MappedU64s,
    ncpus: usize,
    /// The part in use, as pfx4_meta says (the owner keeps it current).
    geo: Cell<Geometry>,
}

impl V4Table {
    /// Maps the shared table (an mmap-able array of PFX4_BUCKETS buckets)
    /// and the copies (the same, `ncpus` times: one per possible CPU id).
    pub fn map(shared: &MapHandle, copies: &MapHandle, ncpus: usize) -> Result<V4Table> {
        Ok(V4Table {
            shared: MappedU64s::map(shared, ENTRIES)
                .map_err(|e| XdpError::io("mapping pfx4_table", e))?,
            copies: MappedU64s::map(copies, ENTRIES * ncpus)
                .map_err(|e| XdpError::io("mapping pfx4_cpu", e))?,
            ncpus,
            geo: Cell::new(Geometry::WHOLE),
        })
    }

    pub fn geometry(&self) -> Geometry {
        self.geo.get()
    }

    pub fn use_geometry(&self, geo: Geometry) {
        self.geo.set(geo);
    }

    /// The entry indexes of a part of the table.
    fn part(geo: Geometry) -> std::ops::Range<usize> {
        let first = geo.base as usize * raw::PFX4_WAYS;
        first..first + geo.entries()
    }

    /// Rules in the part in use.
    pub fn rules(&self) -> usize {
        self.rules_in(self.geometry())
    }

    pub fn rules_in(&self, geo: Geometry) -> usize {
        self.entries()[Self::part(geo)]
            .iter()
            .filter(|v| v.load(Ordering::Relaxed) & raw::PFX4_VALID != 0)
            .count()
    }

    /// Empties a part of the table and of every copy (one no program
    /// searches).
    pub fn clear(&self, geo: Geometry) {
        self.drain(geo, |_, _| {});
    }

    /// Every rule in the part in use: (word, len, slot).
    pub fn placed(&self) -> Vec<(u32, u8, u32)> {
        self.entries()[Self::part(self.geometry())]
            .iter()
            .map(|e| e.load(Ordering::Acquire))
            .filter(|v| v & raw::PFX4_VALID != 0)
            .map(|v| (raw::pfx4_word(v), raw::pfx4_len(v), raw::pfx4_slot(v)))
            .collect()
    }

    /// Empties part `geo` (once no program searches it), handing each
    /// rule's count in the copies, summed over CPUs, to `fold` first: entry
    /// by entry, the shared entry cleared right after its fold, so a drain
    /// cut short and run again folds a count twice only if cut between
    /// those two stores.
    pub fn drain(&self, geo: Geometry, mut fold: impl FnMut(u32, u64)) {
        for i in Self::part(geo) {
            let v = self.entries()[i].load(Ordering::Acquire);
            if v & raw::PFX4_VALID != 0 {
                let key = v & raw::PFX4_KEY_MASK;
                let n = self
                    .copies_of(i)
                    .map(|c| c.load(Ordering::Acquire))
                    .filter(|c| c & raw::PFX4_KEY_MASK == key)
                    .map(raw::pfx4_count)
                    .sum();
                fold(raw::pfx4_slot(v), n);
            }
            if v != 0 {
                self.entries()[i].store(0, Ordering::Release);
            }
            for c in self.copies_of(i) {
                if c.load(Ordering::Relaxed) != 0 {
                    c.store(0, Ordering::Release);
                }
            }
        }
    }

    fn entries(&self) -> &[AtomicU64] {
        self.shared.values()
    }

    /// Entry `i` of `cpu`'s copy.
    fn copy(&self, cpu: usize, i: usize) -> Option<&AtomicU64> {
        (cpu < self.ncpus).then(|| &self.copies.values()[cpu * ENTRIES + i])
    }

    /// Entry `i` of every CPU's copy.
    fn copies_of(&self, i: usize) -> impl Iterator<Item = &AtomicU64> {
        (0..self.ncpus).filter_map(move |cpu| self.copy(cpu, i))
    }

    /// Writes entry `i`: a key goes into the shared table first (a carry
    /// finds its slot there), anything else into the copies first (the
    /// program stops matching before the record changes).
    fn set(&self, i: usize, v: u64) {
        let copy = raw::pfx4_copy(v);
        if v & raw::PFX4_VALID != 0 {
            self.entries()[i].store(v, Ordering::Release);
            self.copies_of(i)
                .for_each(|c| c.store(copy, Ordering::Release));
        } else {
            self.copies_of(i)
                .for_each(|c| c.store(copy, Ordering::Release));
            self.entries()[i].store(v, Ordering::Release);
        }
    }

    /// Copies the shared table into every CPU's copy, entries whose key
    /// differs only (for copies created after the table: migrate.rs).
    /// Returns the number of rules in the table.
    pub fn fill_copies(&self) -> usize {
        let mut rules = 0;
        for (i, e) in self.entries().iter().enumerate() {
            let v = e.load(Ordering::Acquire);
            let want = raw::pfx4_copy(v);
            for c in self.copies_of(i) {
                if raw::pfx4_copy(c.load(Ordering::Acquire)) != want {
                    c.store(want, Ordering::Release);
                }
            }
            rules += usize::from(v & raw::PFX4_VALID != 0);
        }
        rules
    }

    /// The hits counted in the copies for (word, len), summed over CPUs:
    /// `Some(None)` while a carry is in progress on some CPU (the count is
    /// then moving to the slot's counters: read again), `None` if the rule
    /// is not in the table.
    pub fn copy_hits(&self, word: u32, len: u8) -> Option<Option<u64>> {
        let i = self.position(word, len)?;
        let key = Self::key(word, len);
        let mut sum = 0u64;
        for c in self.copies_of(i) {
            let v = c.load(Ordering::Acquire);
            if v & raw::PFX4_KEY_MASK != key {
                // Not there yet (a rule being added): that CPU cannot match it.
                continue;
            }
            let n = raw::pfx4_count(v);
            if n == raw::PFX4_COUNT_MAX {
                return Some(None);
            }
            sum += n;
        }
        Some(Some(sum))
    }

    /// The indexes of the entries a key may live in, in search order.
    fn candidates(&self, word: u32, len: u8) -> impl Iterator<Item = usize> {
        let geo = self.geometry();
        let home = geo.home(word, len);
        (0..raw::PFX4_PROBES).flat_map(move |p| {
            let bucket = geo.bucket(home + p) as usize;
            (0..raw::PFX4_WAYS).map(move |w| bucket * raw::PFX4_WAYS + w)
        })
    }

    fn key(word: u32, len: u8) -> u64 {
        raw::pfx4_entry(word, len, 0) & raw::PFX4_KEY_MASK
    }

    /// The count of (word, len) in `cpu`'s copy, if there.
    pub fn count_on(&self, word: u32, len: u8, cpu: usize) -> Option<u64> {
        let i = self.position(word, len)?;
        let v = self.copy(cpu, i)?.load(Ordering::Acquire);
        (v & raw::PFX4_KEY_MASK == Self::key(word, len)).then(|| raw::pfx4_count(v))
    }

    /// Sets the count of (word, len) in `cpu`'s copy (tests only: a real
    /// count only ever changes in the program). False if not in the table.
    pub fn preset_count(&self, word: u32, len: u8, cpu: usize, n: u64) -> bool {
        let Some(copy) = self.position(word, len).and_then(|i| self.copy(cpu, i)) else {
            return false;
        };
        if n >= raw::PFX4_COUNT_MAX {
            return false;
        }
        copy.store(
            Self::key(word, len) | n << raw::PFX4_COUNT_SHIFT,
            Ordering::Release,
        );
        true
    }

    /// The index of (word, len), searched as the program searches.
    fn position(&self, word: u32, len: u8) -> Option<usize> {
        let key = Self::key(word, len);
        let e = self.entries();
        for bucket in self
            .candidates(word, len)
            .collect::<Vec<_>>()
            .chunks(raw::PFX4_WAYS)
        {
            let mut open = false;
            for &i in bucket {
                let v = e[i].load(Ordering::Acquire);
                if v & raw::PFX4_KEY_MASK == key {
                    return Some(i);
                }
                open |= v == 0;
            }
            if open {
                return None;
            }
        }
        None
    }

    /// The slot of (word, len), as the program would find it.
    pub fn find(&self, word: u32, len: u8) -> Option<u32> {
        let i = self.position(word, len)?;
        Some(raw::pfx4_slot(self.entries()[i].load(Ordering::Acquire)))
    }

    /// Places a rule in the first free or deleted entry of its buckets.
    pub fn insert(&self, word: u32, len: u8, slot: u32) -> Placed {
        let e = self.entries();
        let free = self.candidates(word, len).find(|&i| {
            let v = e[i].load(Ordering::Relaxed);
            v == 0 || v == raw::PFX4_TOMBSTONE
        });
        match free {
            Some(i) => {
                self.set(i, raw::pfx4_entry(word, len, slot));
                Placed::Table
            }
            None => Placed::Spilled,
        }
    }

    /// Deletes a rule; true if it was in the table.
    pub fn remove(&self, word: u32, len: u8) -> bool {
        let key = Self::key(word, len);
        let e = self.entries();
        let geo = self.geometry();
        for i in self.candidates(word, len) {
            if e[i].load(Ordering::Relaxed) & raw::PFX4_KEY_MASK == key {
                // A tombstone, not 0: keys placed past this bucket stay found.
                self.set(i, raw::PFX4_TOMBSTONE);
                let last = (i / raw::PFX4_WAYS) as u32 - geo.base;
                self.reclaim(geo.home(word, len), last);
                return true;
            }
        }
        false
    }

    /// Tombstones keep every search that reaches their bucket going on to
    /// the next, so left alone a table under churn would end up scanning
    /// its whole window for every packet that matches nothing. After a
    /// delete, the buckets the deleted key's search crossed (home to last,
    /// counted within the part in use) get their tombstones back as empty
    /// entries wherever no stored key's search still crosses them.
    fn reclaim(&self, home: u32, last: u32) {
        let e = self.entries();
        let geo = self.geometry();
        let mut b = home;
        loop {
            if !self.crossed(b) {
                for w in 0..raw::PFX4_WAYS {
                    let i = geo.bucket(b) as usize * raw::PFX4_WAYS + w;
                    if e[i].load(Ordering::Relaxed) == raw::PFX4_TOMBSTONE {
                        self.set(i, 0);
                    }
                }
            }
            if b == last {
                return;
            }
            b = (b + 1) & (geo.buckets() - 1);
        }
    }

    /// Whether a key stored past bucket `b` has a search that crosses `b`
    /// (it then needs `b` to have no empty entry).
    fn crossed(&self, b: u32) -> bool {
        let e = self.entries();
        let geo = self.geometry();
        let mask = geo.buckets() - 1;
        (1..raw::PFX4_PROBES).any(|d| {
            let x = (b + d) & mask;
            (0..raw::PFX4_WAYS).any(|w| {
                let v = e[geo.bucket(x) as usize * raw::PFX4_WAYS + w].load(Ordering::Relaxed);
                if v & raw::PFX4_VALID == 0 {
                    return false;
                }
                let home = geo.home(raw::pfx4_word(v), raw::pfx4_len(v));
                (b.wrapping_sub(home) & mask) < (x.wrapping_sub(home) & mask)
            })
        })
    }

    /// Deleted entries still standing in the part in use (for tests and
    /// diagnostics).
    pub fn tombstones(&self) -> usize {
        self.entries()[Self::part(self.geometry())]
            .iter()
            .filter(|v| v.load(Ordering::Relaxed) == raw::PFX4_TOMBSTONE)
            .count()
    }
}
