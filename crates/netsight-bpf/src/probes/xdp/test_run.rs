//! Running the program on a crafted frame with BPF_PROG_TEST_RUN: the
//! verifier-checked code on real bytes, without an interface.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use super::blacklist::Blacklist;
use super::error::{Result, XdpError};
use super::program::{self, MapSource};

/// What the program decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Drop,
    Other(u32),
}

/// A program instance not attached anywhere, counting on iface slot `slot`.
#[derive(Debug)]
pub struct TestProgram {
    prog: OwnedFd,
    slot: u32,
}

impl TestProgram {
    pub fn slot(&self) -> u32 {
        self.slot
    }

    /// Instructions the kernel's verifier walked to accept the program (its
    /// load time; a kernel refuses a program past 1,000,000). None where the
    /// kernel does not say (before 5.16).
    pub fn verified_insns(&self) -> Result<Option<u32>> {
        // SAFETY: an all-zero bpf_prog_info is valid input; the kernel fills it.
        let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
        // SAFETY: info is len bytes, owned here; the fd is open for the call.
        let rc = unsafe {
            libbpf_sys::bpf_prog_get_info_by_fd(self.prog.as_fd().as_raw_fd(), &mut info, &mut len)
        };
        if rc < 0 {
            return Err(XdpError::io(
                "reading the program's info",
                std::io::Error::from_raw_os_error(-rc),
            ));
        }
        Ok((info.verified_insns != 0).then_some(info.verified_insns))
    }

    /// Runs the program once on `frame` (an Ethernet frame).
    pub fn run(&self, frame: &[u8]) -> Result<Verdict> {
        let mut out = vec![0u8; frame.len() + 256];
        // SAFETY: an all-zero bpf_test_run_opts is valid; sz is set below.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = frame.as_ptr().cast();
        opts.data_size_in = frame.len() as u32;
        opts.data_out = out.as_mut_ptr().cast();
        opts.data_size_out = out.len() as u32;
        opts.repeat = 1;
        // SAFETY: the buffers outlive the call and their sizes are given.
        let rc =
            unsafe { libbpf_sys::bpf_prog_test_run_opts(self.prog.as_fd().as_raw_fd(), &mut opts) };
        if rc < 0 {
            return Err(XdpError::io(
                "BPF_PROG_TEST_RUN",
                std::io::Error::from_raw_os_error(-rc),
            ));
        }
        Ok(match opts.retval {
            1 => Verdict::Drop,
            2 => Verdict::Pass,
            other => Verdict::Other(other),
        })
    }
}

impl Blacklist {
    /// A program instance on this blacklist's maps for BPF_PROG_TEST_RUN,
    /// counting on interface slot `slot`.
    pub fn test_program(&self, slot: u32) -> Result<TestProgram> {
        let source = match &self.dir {
            Some(dir) => MapSource::Pinned(dir),
            None => MapSource::Shared(&self.maps),
        };
        let (prog, _) = program::load(slot, source)?;
        self.zero_iface_counters(slot)?;
        Ok(TestProgram { prog, slot })
    }
}
