//! The flood: one template UDP frame, sent by the kernel's XDP live-frames
//! path (netsight_bpf's FloodGen) with its source rewritten per copy so the
//! frames spread over every blacklisted prefix, paced in the kernel (frames
//! evenly spaced): unpaced, the generator runs in bursts that overflow the
//! receiving veth's 256-slot ring while the receiver idles between them
//! (see BENCHMARKS.md). Earlier versions used
//! sendmmsg on AF_PACKET: at ~0.3-0.9 Mpps it could not load the receiver,
//! and veth had to copy each sender skb before XDP could see it, a cost a
//! NIC does not have.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;

use std::net::Ipv4Addr;

use netsight_bpf::probes::xdp::FloodGen;

use super::topo::{GEN_MAC, RX_MAC};

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// A minimal (60-byte) UDP/IPv4 frame to the receiver's UDP sink.
pub fn frame(src: [u8; 4], dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(60);
    f.extend_from_slice(&RX_MAC);
    f.extend_from_slice(&GEN_MAC);
    f.extend_from_slice(&[0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 46, 0, 0, 0x40, 0, 64, 17, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&40000u16.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&26u16.to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.resize(60, 0);
    f
}

/// Frames generated so far, readable while the flood runs.
#[derive(Default)]
pub struct FloodCounters {
    pub sent: AtomicU64,
}

/// Generator runs per BPF_PROG_TEST_RUN call. Each call has a setup and
/// teardown cost of milliseconds during which nothing is sent, so a call
/// must last tens of milliseconds (and stay short enough for stop requests):
/// unpaced, a run sends a frame (~1 us); paced, most runs only wait (~0.1 us).
const CHUNK: u32 = 32 * 1024;
const PACED_CHUNK: u32 = 1024 * 1024;

/// Floods `ifindex` (in the calling thread's namespace) until `stop`, at
/// `rate` frames/s evenly spaced or, with `None`, as fast as it can.
pub fn run(
    ifindex: u32,
    prefixes: usize,
    dst: [u8; 4],
    rate: Option<f64>,
    stop: Arc<AtomicBool>,
    counters: Arc<FloodCounters>,
) -> anyhow::Result<()> {
    let gen = FloodGen::new(ifindex, Ipv4Addr::new(10, 0, 0, 0), prefixes as u32, rate)
        .context("loading the XDP traffic generator")?;
    let template = frame([10, 0, 0, 0], dst, 9);
    // The legitimate clients share this CPU: they must get it whenever they
    // are runnable (they mostly wait for responses), so that their
    // transaction rate measures the receiver, not this busy loop.
    // SAFETY: sched_param is plain data; the call only reads it.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        libc::sched_setscheduler(0, libc::SCHED_IDLE, &param);
    }
    let chunk = if rate.is_some() { PACED_CHUNK } else { CHUNK };
    while !stop.load(Ordering::Relaxed) {
        gen.send(&template, chunk)?;
        counters.sent.store(gen.sent()?, Ordering::Relaxed);
    }
    Ok(())
}
