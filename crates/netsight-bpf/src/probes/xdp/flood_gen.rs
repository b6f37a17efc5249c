//! The benchmark's packet generator: the kernel's own XDP traffic path
//! (BPF_PROG_TEST_RUN with live frames, as xdp-trafficgen does), driven from
//! Rust. Frames leave the generator's veth as xdp_frames, the fastest way to
//! load a receiver on this machine, and cost the receiver what a NIC's
//! frames would. Linux >= 5.18.

use std::mem::MaybeUninit;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};

use super::error::{Result, XdpError};

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/xdpgen.skel.rs"));
}

/// BPF_F_TEST_XDP_LIVE_FRAMES from the UAPI.
const LIVE_FRAMES: u32 = 1 << 1;
const BATCH: u32 = 64;

#[derive(Debug)]
pub struct FloodGen {
    prog: OwnedFd,
}

impl FloodGen {
    /// Frames will leave through `out_ifindex` (in the namespace of the
    /// thread that calls `send`), with sources `src_base + 64*k + (0..64)`
    /// for k in 0..blocks.
    pub fn new(out_ifindex: u32, src_base: Ipv4Addr, blocks: u32) -> Result<FloodGen> {
        crate::loader::init();
        let mut storage = MaybeUninit::uninit();
        let mut open = skel::XdpgenSkelBuilder::default()
            .open(&mut storage)
            .map_err(|e| XdpError::bpf("opening the generator", e))?;
        let rodata = open
            .maps
            .rodata_data
            .as_deref_mut()
            .ok_or_else(|| XdpError::Io {
                context: "generator has no rodata".into(),
                source: std::io::ErrorKind::InvalidData.into(),
            })?;
        rodata.out_ifindex = out_ifindex;
        rodata.src_base = u32::from(src_base);
        rodata.src_blocks = blocks.max(1);
        crate::loader::take_log();
        let skel = open.load().map_err(|source| XdpError::Load {
            source,
            log: crate::loader::take_log(),
        })?;
        let prog = skel
            .progs
            .netsight_xdp_gen
            .as_fd()
            .try_clone_to_owned()
            .map_err(|e| XdpError::io("duplicating the generator", e))?;
        Ok(FloodGen { prog })
    }

    /// Sends `count` copies of `frame` (an Ethernet + IPv4 frame); returns
    /// when they were all handed to the device (some may be dropped there
    /// when the receiver's ring is full).
    pub fn send(&self, frame: &[u8], count: u32) -> Result<()> {
        // SAFETY: an all-zero bpf_test_run_opts is valid; sz is set below.
        let mut opts: libbpf_sys::bpf_test_run_opts = unsafe { std::mem::zeroed() };
        opts.sz = std::mem::size_of::<libbpf_sys::bpf_test_run_opts>() as _;
        opts.data_in = frame.as_ptr().cast();
        opts.data_size_in = frame.len() as u32;
        opts.repeat = count.min(i32::MAX as u32) as i32;
        opts.flags = LIVE_FRAMES;
        opts.batch_size = BATCH;
        // SAFETY: frame outlives the call and its length is given.
        let rc =
            unsafe { libbpf_sys::bpf_prog_test_run_opts(self.prog.as_fd().as_raw_fd(), &mut opts) };
        if rc < 0 {
            return Err(XdpError::io(
                "BPF_PROG_TEST_RUN (live frames)",
                std::io::Error::from_raw_os_error(-rc),
            ));
        }
        Ok(())
    }
}
