//! The compact IPv4 table (xdp.h, `pfx4_table`) from user space: the map is
//! mmap'ed and every entry is written with one atomic 8-byte store, so the
//! program, reading an entry with one load, sees it whole or not at all.
//! Writers hold the state directory's lock (or own a private blacklist).

use std::sync::atomic::{AtomicU64, Ordering};

use libbpf_rs::MapHandle;

use super::error::Result;
use super::mapped::MappedU64s;
use super::raw;

/// Where a rule went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Table,
    /// No room within PFX4_PROBES buckets: only in pfx_v4 (counted).
    Spilled,
}

/// The mapped table.
#[derive(Debug)]
pub struct V4Table(MappedU64s);

impl V4Table {
    /// Maps the table of `map` (an mmap-able array of PFX4_BUCKETS buckets).
    pub fn map(map: &MapHandle) -> Result<V4Table> {
        let len = raw::PFX4_BUCKETS as usize * raw::PFX4_WAYS;
        MappedU64s::map(map, len, "pfx4_table").map(V4Table)
    }

    fn entries(&self) -> &[AtomicU64] {
        self.0.values()
    }

    /// The indexes of the entries a key may live in, in search order.
    fn candidates(word: u32, len: u8) -> impl Iterator<Item = usize> {
        let home = raw::pfx4_home(word, len);
        (0..raw::PFX4_PROBES).flat_map(move |p| {
            let bucket = ((home + p) & (raw::PFX4_BUCKETS - 1)) as usize;
            (0..raw::PFX4_WAYS).map(move |w| bucket * raw::PFX4_WAYS + w)
        })
    }

    fn key(word: u32, len: u8) -> u64 {
        raw::pfx4_entry(word, len, 0) & raw::PFX4_KEY_MASK
    }

    /// The slot of (word, len), as the program would find it.
    pub fn find(&self, word: u32, len: u8) -> Option<u32> {
        let key = Self::key(word, len);
        let e = self.entries();
        for bucket in Self::candidates(word, len)
            .collect::<Vec<_>>()
            .chunks(raw::PFX4_WAYS)
        {
            let mut open = false;
            for &i in bucket {
                let v = e[i].load(Ordering::Acquire);
                if v & raw::PFX4_KEY_MASK == key {
                    return Some(raw::pfx4_slot(v));
                }
                open |= v == 0;
            }
            if open {
                return None;
            }
        }
        None
    }

    /// Places a rule in the first free or deleted entry of its buckets.
    pub fn insert(&self, word: u32, len: u8, slot: u32) -> Placed {
        let e = self.entries();
        let free = Self::candidates(word, len).find(|&i| {
            let v = e[i].load(Ordering::Relaxed);
            v == 0 || v == raw::PFX4_TOMBSTONE
        });
        match free {
            Some(i) => {
                e[i].store(raw::pfx4_entry(word, len, slot), Ordering::Release);
                Placed::Table
            }
            None => Placed::Spilled,
        }
    }

    /// Deletes a rule; true if it was in the table.
    pub fn remove(&self, word: u32, len: u8) -> bool {
        let key = Self::key(word, len);
        let e = self.entries();
        for i in Self::candidates(word, len) {
            if e[i].load(Ordering::Relaxed) & raw::PFX4_KEY_MASK == key {
                // A tombstone, not 0: keys placed past this bucket stay found.
                e[i].store(raw::PFX4_TOMBSTONE, Ordering::Release);
                self.reclaim(raw::pfx4_home(word, len), (i / raw::PFX4_WAYS) as u32);
                return true;
            }
        }
        false
    }

    /// Tombstones keep every search that reaches their bucket going on to
    /// the next, so left alone a table under churn would end up scanning
    /// its whole window for every packet that matches nothing. After a
    /// delete, the buckets the deleted key's search crossed (home to last)
    /// get their tombstones back as empty entries wherever no stored key's
    /// search still crosses them.
    fn reclaim(&self, home: u32, last: u32) {
        let e = self.entries();
        let mut b = home;
        loop {
            if !self.crossed(b) {
                for w in 0..raw::PFX4_WAYS {
                    let i = b as usize * raw::PFX4_WAYS + w;
                    if e[i].load(Ordering::Relaxed) == raw::PFX4_TOMBSTONE {
                        e[i].store(0, Ordering::Release);
                    }
                }
            }
            if b == last {
                return;
            }
            b = (b + 1) & (raw::PFX4_BUCKETS - 1);
        }
    }

    /// Whether a key stored past bucket `b` has a search that crosses `b`
    /// (it then needs `b` to have no empty entry).
    fn crossed(&self, b: u32) -> bool {
        let e = self.entries();
        let mask = raw::PFX4_BUCKETS - 1;
        (1..raw::PFX4_PROBES).any(|d| {
            let x = (b + d) & mask;
            (0..raw::PFX4_WAYS).any(|w| {
                let v = e[x as usize * raw::PFX4_WAYS + w].load(Ordering::Relaxed);
                if v & raw::PFX4_VALID == 0 {
                    return false;
                }
                let home = raw::pfx4_home(raw::pfx4_word(v), raw::pfx4_len(v));
                (b.wrapping_sub(home) & mask) < (x.wrapping_sub(home) & mask)
            })
        })
    }

    /// Deleted entries still standing (for tests and diagnostics).
    pub fn tombstones(&self) -> usize {
        self.entries()
            .iter()
            .filter(|v| v.load(Ordering::Relaxed) == raw::PFX4_TOMBSTONE)
            .count()
    }
}
