//! Ring-buffer records (generated from ping.h) to typed sightings.

use super::skel::types::{ping_hit, ping_kind};
use super::{Hit, Kind, Point};

/// One `struct ping_hit` from the ring buffer; `None` if it is short or
/// names a point this build does not know.
pub fn hit(bytes: &[u8]) -> Option<Hit> {
    if bytes.len() < std::mem::size_of::<ping_hit>() {
        return None;
    }
    // SAFETY: the slice holds a whole ping_hit, a repr(C) plain-old-data
    // type generated from BTF (any bit pattern is valid); read_unaligned
    // copes with the ring buffer's alignment.
    let h: ping_hit = unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast::<ping_hit>()) };
    Some(Hit {
        ts_ns: h.ts_ns,
        id: h.id,
        seq: h.seq,
        netns: h.netns,
        ifindex: h.ifindex,
        cpu: h.cpu,
        point: Point::from_raw(h.point)?,
        kind: if u32::from(h.kind) == ping_kind::KIND_ECHO.0 {
            Kind::Echo
        } else {
            Kind::Reply
        },
    })
}
