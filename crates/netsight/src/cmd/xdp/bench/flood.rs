//! The flood: one template UDP frame, sent by the kernel's XDP live-frames
//! path (netsight_bpf's FloodGen) with its source rewritten per copy so the
//! frames spread over the blacklisted prefixes. By default as fast as the
//! generators go (~4-5 Mpps on one vCPU here); `--rate` paces it in the
//! kernel, in bursts of 64 frames. Earlier versions used sendmmsg on
//! AF_PACKET: at ~0.3-0.9 Mpps it could not load the receiver, and veth had
//! to copy each sender skb before XDP could see it, a cost a NIC does not
//! have.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

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

/// Generator threads. Every BPF_PROG_TEST_RUN call sleeps for tens of
/// milliseconds in its setup and teardown (measured: ~25 ms a call, the CPU
/// idle meanwhile); unpaced, two threads take turns, one sending while the
/// other sleeps, so the flood has no gaps. Paced, one thread: two would
/// share the CPU in time slices and each fall behind its schedule.
pub fn generators(rate: Option<f64>) -> usize {
    if rate.is_some() {
        1
    } else {
        2
    }
}

/// How long one call should run: long enough to amortise its setup, short
/// enough that a stop request is seen within a fraction of a second.
const CALL_SECS: f64 = 0.2;
const MIN_CHUNK: u32 = 4 * 1024;
const MAX_CHUNK: u32 = 16 * 1024 * 1024;

/// Floods `ifindex` (in the calling thread's namespace) until `stop`, at
/// `rate` frames/s (in bursts) or, with `None`, as fast as it can.
/// Sources are spread over the first `blocks` /26 blocks of 10.0.0.0/8.
pub fn run(
    ifindex: u32,
    blocks: usize,
    dst: [u8; 4],
    rate: Option<f64>,
    stop: Arc<AtomicBool>,
    counters: Arc<FloodCounters>,
) -> anyhow::Result<()> {
    let gen = FloodGen::new(ifindex, Ipv4Addr::new(10, 0, 0, 0), blocks as u32, rate)
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
    let mut chunk = MIN_CHUNK;
    let mut reported = 0;
    while !stop.load(Ordering::Relaxed) {
        let start = Instant::now();
        gen.send(&template, chunk)?;
        // Runs per call scale to CALL_SECS whatever a run costs (paced runs
        // mostly wait, unpaced ones send).
        let took = start.elapsed().as_secs_f64().max(1e-4);
        chunk = ((f64::from(chunk) * CALL_SECS / took) as u32).clamp(MIN_CHUNK, MAX_CHUNK);
        let sent = gen.sent()?;
        counters.sent.fetch_add(sent - reported, Ordering::Relaxed);
        reported = sent;
    }
    Ok(())
}
