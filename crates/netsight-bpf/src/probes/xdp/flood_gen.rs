//! The benchmark's packet generator: the kernel's own XDP traffic path
//! (BPF_PROG_TEST_RUN with live frames, as xdp-trafficgen does), driven from
//! Rust. Frames leave the generator's veth as xdp_frames, the fastest way to
//! load a receiver on this machine, and cost the receiver what a NIC's
//! frames would. Linux >= 5.18.

use std::mem::MaybeUninit;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, MapHandle};

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
const BATCH: u32 = 256;

#[derive(Debug)]
pub struct FloodGen {
    prog: OwnedFd,
    sent: MapHandle,
}

/// A paced generator may fall this many frames behind (and then send them
/// back to back) before it restarts its schedule: half the 256-slot veth
/// ring, so a catch-up burst fits in it.
const MAX_DEBT_FRAMES: f64 = 128.0;
/// Paced frames leave in bursts of this many (NAPI's budget): the receiver
/// polls full batches, as behind a NIC's interrupt moderation.
const BURST: u32 = 64;

impl FloodGen {
    /// Frames will leave through `out_ifindex` (in the namespace of the
    /// thread that calls `send`), with sources `src_base + 64*k + (0..64)`
    /// for k in 0..blocks, at `rate` frames/s in bursts of 64 (`None`: as fast
    /// as possible).
    pub fn new(
        out_ifindex: u32,
        src_base: Ipv4Addr,
        blocks: u32,
        rate: Option<f64>,
    ) -> Result<FloodGen> {
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
        if let Some(rate) = rate.filter(|r| *r > 0.0) {
            let gap = 1e9 / rate;
            rodata.gap_ns = gap.max(1.0) as u64;
            rodata.max_debt_ns = (gap * MAX_DEBT_FRAMES) as u64;
            rodata.burst = BURST;
        }
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
        let sent = MapHandle::try_from(&skel.maps.gen_sent)
            .map_err(|e| XdpError::bpf("duplicating gen_sent", e))?;
        Ok(FloodGen { prog, sent })
    }

    /// Frames handed to the device so far (some may have been refused there
    /// because the receiver's ring was full).
    pub fn sent(&self) -> Result<u64> {
        let v = self
            .sent
            .lookup(&0u32.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| XdpError::bpf("reading gen_sent", e))?
            .unwrap_or_default();
        Ok(v.get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_ne_bytes))
    }

    /// Runs the generator `count` times on `frame` (an Ethernet + IPv4
    /// frame); each run sends one copy, or none when pacing says too early.
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
