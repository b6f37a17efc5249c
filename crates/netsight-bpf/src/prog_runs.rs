//! What the kernel keeps about each loaded program: how often it ran, for
//! how long (only with kernel.bpf_stats_enabled on), and how often it did
//! not run at all. The kernel skips a tracing program where it is already
//! running on that CPU (a task preempted inside it, or an interrupt that
//! reaches the same hook): every skipped run is a count or an event that
//! never happened, so the probes show them as lost.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// One program's runs since load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramRuns {
    pub name: String,
    pub run_cnt: u64,
    pub run_time_ns: u64,
    /// Runs the kernel skipped (its `recursion_misses`).
    pub skipped: u64,
}

/// The kernel's record of the program behind `fd`.
pub(crate) fn info(fd: BorrowedFd<'_>) -> std::io::Result<libbpf_sys::bpf_prog_info> {
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of_val(&info) as u32;
    // SAFETY: `info` is a plain C struct of `len` bytes that the kernel
    // fills in (a kernel with a shorter struct fills less and says so in
    // `len`); `fd` is a live program descriptor.
    let ret = unsafe {
        libbpf_sys::bpf_obj_get_info_by_fd(
            fd.as_raw_fd(),
            (&mut info as *mut libbpf_sys::bpf_prog_info).cast(),
            &mut len,
        )
    };
    if ret < 0 {
        return Err(std::io::Error::from_raw_os_error(-ret));
    }
    Ok(info)
}

/// The runs of one program of an object (`None` if it has none: not
/// loaded, or the kernel refused the query).
pub fn of(prog: &libbpf_rs::Program<'_>) -> Option<ProgramRuns> {
    if !prog.autoload() {
        return None;
    }
    let info = info(prog.as_fd()).ok()?;
    Some(ProgramRuns {
        name: prog.name().to_string_lossy().into_owned(),
        run_cnt: info.run_cnt,
        run_time_ns: info.run_time_ns,
        skipped: info.recursion_misses,
    })
}

/// Runs skipped, since load, by every program of `object` that loaded.
pub fn skipped(object: &libbpf_rs::Object) -> u64 {
    object
        .progs()
        .filter_map(|p| of(&p))
        .map(|r| r.skipped)
        .sum()
}
