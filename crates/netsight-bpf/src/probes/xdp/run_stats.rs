//! The filter's own cost: the kernel's per-program run time and run count
//! (BPF_ENABLE_STATS), for the benchmark. Linux >= 5.8.

use std::io;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use super::attach::Attachment;
use super::error::{Result, XdpError};

/// Keeps run-time statistics on while held (the kernel counts only while
/// some descriptor like this is open, or the sysctl is set).
#[derive(Debug)]
pub struct RunStatsGuard {
    _fd: OwnedFd,
}

/// Turns on run-time statistics for every BPF program until the guard drops.
pub fn enable_run_stats() -> Result<RunStatsGuard> {
    // SAFETY: no pointers; returns a new descriptor or a negative errno.
    let fd = unsafe { libbpf_sys::bpf_enable_stats(libbpf_sys::BPF_STATS_RUN_TIME) };
    if fd < 0 {
        return Err(XdpError::io(
            "enabling BPF run-time statistics",
            io::Error::from_raw_os_error(-fd),
        ));
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(RunStatsGuard { _fd: fd })
}

/// Total run time and runs of one program since it was loaded (while
/// statistics were on).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunStats {
    pub run_time_ns: u64,
    pub run_cnt: u64,
}

impl Attachment {
    /// Run statistics of the program this attachment's link runs now.
    pub fn run_stats(&self) -> Result<RunStats> {
        // SAFETY: zeroed bpf_link_info is valid; len tells the kernel its size.
        let mut link: libbpf_sys::bpf_link_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libbpf_sys::bpf_link_info>() as u32;
        // SAFETY: link is writable for len bytes; the descriptor is a valid link.
        let rc = unsafe {
            libbpf_sys::bpf_link_get_info_by_fd(self.link_fd().as_raw_fd(), &mut link, &mut len)
        };
        if rc < 0 {
            return Err(XdpError::io(
                "reading link info",
                io::Error::from_raw_os_error(-rc),
            ));
        }
        // SAFETY: no pointers; returns a new descriptor or a negative errno.
        let fd = unsafe { libbpf_sys::bpf_prog_get_fd_by_id(link.prog_id) };
        if fd < 0 {
            return Err(XdpError::io(
                "opening the linked program",
                io::Error::from_raw_os_error(-fd),
            ));
        }
        // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
        let prog = unsafe { OwnedFd::from_raw_fd(fd) };
        let info = crate::prog_runs::info(prog.as_fd())
            .map_err(|e| XdpError::io("reading program info", e))?;
        Ok(RunStats {
            run_time_ns: info.run_time_ns,
            run_cnt: info.run_cnt,
        })
    }
}
