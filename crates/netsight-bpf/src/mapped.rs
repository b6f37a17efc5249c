//! An mmap-able BPF array of u64s seen from user space as atomics: the
//! program reads or writes each u64 with one access, and so does user space,
//! so neither side ever sees half of a value.

use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::AtomicU64;

use libbpf_rs::MapHandle;

pub struct MappedU64s {
    base: *mut AtomicU64,
    len: usize,
}

// SAFETY: the mapping is plain shared memory of atomics; every access goes
// through AtomicU64 operations, and it is unmapped only on drop.
unsafe impl Send for MappedU64s {}
// SAFETY: as above: shared access is through atomics only.
unsafe impl Sync for MappedU64s {}

impl std::fmt::Debug for MappedU64s {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MappedU64s({} values)", self.len)
    }
}

impl MappedU64s {
    /// Maps the first `len` u64s of `map`.
    pub fn map(map: &MapHandle, len: usize) -> std::io::Result<MappedU64s> {
        // SAFETY: mmap of a BPF array map's fd, shared and writable, no
        // larger than the map (its layout is checked at open); the result is
        // checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                map.as_fd().as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        Ok(MappedU64s {
            base: ptr.cast(),
            len,
        })
    }

    pub fn values(&self) -> &[AtomicU64] {
        // SAFETY: `base` points at `len` u64s mapped for the life of self,
        // 8-byte aligned (page-aligned mapping); AtomicU64 has u64's layout.
        unsafe { std::slice::from_raw_parts(self.base, self.len) }
    }
}

impl Drop for MappedU64s {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the region mapped in `map`.
        unsafe { libc::munmap(self.base.cast(), self.len * 8) };
    }
}
