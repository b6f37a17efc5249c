//! The compact IPv4 table (xdp.h, `pfx4_table`) from user space: the map is
//! mmap'ed and every entry is written with one atomic 8-byte store, so the
//! program, reading an entry with one load, sees it whole or not at all.
//! Writers hold the state directory's lock (or own a private blacklist).

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};

use libbpf_rs::MapHandle;

use super::error::{Result, XdpError};
use super::raw;

/// Where a rule went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    Table,
    /// No room within PFX4_PROBES buckets: only in pfx_v4 (counted).
    Spilled,
}

/// The mapped table.
pub struct V4Table {
    base: *mut AtomicU64,
    len: usize,
}

// SAFETY: the mapping is plain shared memory of atomics; every access goes
// through AtomicU64 operations, and it is unmapped only on drop.
unsafe impl Send for V4Table {}
// SAFETY: as above: shared access is through atomics only.
unsafe impl Sync for V4Table {}

impl std::fmt::Debug for V4Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "V4Table({} entries)", self.len)
    }
}

impl V4Table {
    /// Maps the table of `map` (an mmap-able array of PFX4_BUCKETS buckets).
    pub fn map(map: &MapHandle) -> Result<V4Table> {
        let len = raw::PFX4_BUCKETS as usize * raw::PFX4_WAYS;
        let bytes = len * 8;
        // SAFETY: mmap of a BPF array map's fd with its exact size, shared
        // and writable; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(XdpError::io(
                "mapping pfx4_table",
                std::io::Error::last_os_error(),
            ));
        }
        Ok(V4Table {
            base: ptr.cast(),
            len,
        })
    }

    fn entries(&self) -> &[AtomicU64] {
        // SAFETY: `base` points at `len` u64s mapped for the life of self,
        // 8-byte aligned (page-aligned mapping); AtomicU64 has u64's layout.
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
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
                return true;
            }
        }
        false
    }
}

impl Drop for V4Table {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `map`.
        unsafe { libc::munmap(self.base.cast(), self.len * 8) };
    }
}
