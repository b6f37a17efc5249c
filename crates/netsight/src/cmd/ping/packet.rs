//! The probe's wire format, and the parser of what comes back. Replies are
//! untrusted input: every length is checked, nothing here can panic (the
//! fuzz test below mutates real replies to hold it to that).
//!
//! ICMP message (big-endian):
//! ```text
//!  0 type (8 echo, 0 reply) | code 1 (netsight magic) | checksum
//!  4 id (low 16 bits of the 32-bit id) | seq (low 16 bits)
//!  8 version 0 | entries n | flags (1: DONTADD, the server's reply)
//! 12 magic 0x7ace | server user id
//! 16 id (32 bits) | 20 seq (32 bits)
//! 24 n entries of 16 bytes: point u8, kind u8, 0 u16, ifindex u32, ts_ns u64
//!    then padding up to the probe size
//! ```
//! Over IPv6 the same follows an ICMPv6 header (types 128/129; the kernel
//! computes and checks ICMPv6 checksums of raw sockets itself).
//! The far host's kernel echoes it unchanged (type 0). A netsight server
//! also sends a second reply, flag DONTADD, whose entries are its own
//! monotonic timestamps of that probe (only differences are used).

pub use netsight_bpf::probes::ping::wire::{
    CODE_MAGIC, F_DONTADD, HDR_MAGIC, MAX_ENTRIES, MIN_PAYLOAD,
};
use netsight_bpf::probes::ping::{Kind, Point};

/// The IP version a probe travels on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn echo_type(self) -> u8 {
        match self {
            Family::V4 => 8,
            Family::V6 => 128,
        }
    }

    pub fn reply_type(self) -> u8 {
        match self {
            Family::V4 => 0,
            Family::V6 => 129,
        }
    }
}
pub const ICMP_HDR: usize = 8;
pub const NS_HDR: usize = 16;
pub const ENTRY: usize = 16;
// The kernel side's sizes and this layout must agree.
const _: () = assert!(MIN_PAYLOAD == NS_HDR + MAX_ENTRIES * ENTRY);

/// One of the server's timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub point: Point,
    pub kind: Kind,
    pub ifindex: u32,
    pub ts_ns: u64,
}

/// A probe packet as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// An echo reply (else an echo request).
    pub reply: bool,
    pub id: u32,
    pub seq: u32,
    /// The server's reply (flag DONTADD) rather than the kernel's.
    pub compact: bool,
    pub userid: u16,
    pub entries: Vec<Entry>,
}

/// RFC 1071 checksum.
pub fn checksum(bytes: &[u8]) -> u16 {
    let mut sum: u32 = bytes
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .fold(0u32, |a, w| {
            let s = a + w;
            (s & 0xffff) + (s >> 16)
        });
    sum = (sum & 0xffff) + (sum >> 16);
    !(sum as u16)
}

fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn finish(msg: &mut [u8], family: Family) {
    put16(msg, 2, 0);
    // ICMPv6's checksum covers a pseudo-header: the kernel fills it in.
    if family == Family::V4 {
        let c = checksum(msg);
        put16(msg, 2, c);
    }
}

/// An echo request with `payload` bytes after the ICMP header (at least
/// [`MIN_PAYLOAD`]).
pub fn echo(id: u32, seq: u32, payload: usize, family: Family) -> Vec<u8> {
    let mut msg = vec![0u8; ICMP_HDR + payload.max(MIN_PAYLOAD)];
    msg[0] = family.echo_type();
    msg[1] = CODE_MAGIC;
    put16(&mut msg, 4, id as u16);
    put16(&mut msg, 6, seq as u16);
    put16(&mut msg, 12, HDR_MAGIC);
    put32(&mut msg, 16, id);
    put32(&mut msg, 20, seq);
    finish(&mut msg, family);
    msg
}

/// The server's reply: the echo turned into a reply, flagged DONTADD,
/// carrying `entries` (at most what fits and [`MAX_ENTRIES`]).
pub fn compact_reply(
    echo_msg: &[u8],
    userid: u16,
    entries: &[Entry],
    family: Family,
) -> Option<Vec<u8>> {
    if echo_msg.len() < ICMP_HDR + NS_HDR {
        return None;
    }
    let mut msg = echo_msg.to_vec();
    let room = (msg.len() - ICMP_HDR - NS_HDR) / ENTRY;
    let n = entries.len().min(room).min(MAX_ENTRIES);
    msg[0] = family.reply_type();
    msg[9] = n as u8;
    let flags = u16::from_be_bytes([msg[10], msg[11]]) | F_DONTADD;
    put16(&mut msg, 10, flags);
    put16(&mut msg, 14, userid);
    for (i, e) in entries.iter().take(n).enumerate() {
        let at = ICMP_HDR + NS_HDR + i * ENTRY;
        msg[at] = point_code(e.point);
        msg[at + 1] = matches!(e.kind, Kind::Reply) as u8;
        put16(&mut msg, at + 2, 0);
        put32(&mut msg, at + 4, e.ifindex);
        msg[at + 8..at + 16].copy_from_slice(&e.ts_ns.to_be_bytes());
    }
    finish(&mut msg, family);
    Some(msg)
}

fn point_code(p: Point) -> u8 {
    Point::ALL.iter().position(|q| *q == p).unwrap_or(0) as u8
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// A netsight probe from an ICMP message, or `None` for anything else
/// (another ICMP packet, a bad checksum, a lying length or entry count).
pub fn parse_icmp(msg: &[u8], family: Family) -> Option<Probe> {
    if msg.len() < ICMP_HDR + NS_HDR || (family == Family::V4 && checksum(msg) != 0) {
        return None;
    }
    let reply = match msg[0] {
        t if t == family.reply_type() => true,
        t if t == family.echo_type() => false,
        _ => return None,
    };
    if msg[1] != CODE_MAGIC || be16(msg, 12)? != HDR_MAGIC || msg[8] != 0 {
        return None;
    }
    let (id, seq) = (be32(msg, 16)?, be32(msg, 20)?);
    if be16(msg, 4)? != id as u16 || be16(msg, 6)? != seq as u16 {
        return None;
    }
    let compact = be16(msg, 10)? & F_DONTADD != 0;
    let n = usize::from(msg[9]);
    if n > MAX_ENTRIES || ICMP_HDR + NS_HDR + n * ENTRY > msg.len() {
        return None;
    }
    let mut entries = Vec::with_capacity(n);
    for i in 0..n {
        let at = ICMP_HDR + NS_HDR + i * ENTRY;
        let point = *Point::ALL.get(usize::from(msg[at]))?;
        let kind = match msg[at + 1] {
            0 => Kind::Echo,
            1 => Kind::Reply,
            _ => return None,
        };
        entries.push(Entry {
            point,
            kind,
            ifindex: be32(msg, at + 4)?,
            ts_ns: be64(msg, at + 8)?,
        });
    }
    Some(Probe {
        reply,
        id,
        seq,
        compact,
        userid: be16(msg, 14)?,
        entries,
    })
}

/// The same from a whole IPv4 datagram, as a raw socket reads it; also
/// returns the source address.
pub fn parse_ipv4(packet: &[u8]) -> Option<(std::net::Ipv4Addr, Probe)> {
    let first = *packet.first()?;
    if first >> 4 != 4 {
        return None;
    }
    let ihl = usize::from(first & 0x0f) * 4;
    let total = usize::from(be16(packet, 2)?);
    if ihl < 20 || total < ihl || total > packet.len() || packet.get(9) != Some(&1) {
        return None;
    }
    let src: [u8; 4] = packet.get(12..16)?.try_into().ok()?;
    Some((src.into(), parse_icmp(packet.get(ihl..total)?, Family::V4)?))
}

/// A probe from what a raw socket of `family` read: an IPv4 datagram with
/// its header, or a bare ICMPv6 message.
pub fn parse_datagram(bytes: &[u8], family: Family) -> Option<Probe> {
    match family {
        Family::V4 => parse_ipv4(bytes).map(|(_, p)| p),
        Family::V6 => parse_icmp(bytes, Family::V6),
    }
}

/// The ICMP message inside what a raw socket of `family` read.
pub fn icmp_message(bytes: &[u8], family: Family) -> Option<&[u8]> {
    match family {
        Family::V4 => {
            let ihl = usize::from(bytes.first()? & 0x0f) * 4;
            let total = usize::from(be16(bytes, 2)?);
            bytes.get(ihl..total)
        }
        Family::V6 => Some(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(msg: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x45, 0, 0, 0, 0, 0, 0, 0, 64, 1, 0, 0, 10, 77, 0, 2, 10, 77, 0, 1,
        ];
        let total = (p.len() + msg.len()) as u16;
        p[2..4].copy_from_slice(&total.to_be_bytes());
        p.extend_from_slice(msg);
        p
    }

    fn sample_entries() -> Vec<Entry> {
        vec![
            Entry {
                point: Point::Recv,
                kind: Kind::Echo,
                ifindex: 2,
                ts_ns: 1_000,
            },
            Entry {
                point: Point::Xmit,
                kind: Kind::Reply,
                ifindex: 2,
                ts_ns: 9_000,
            },
        ]
    }

    #[test]
    fn an_echo_round_trips_and_the_kernel_reply_parses() {
        let mut m = echo(0xdead_beef, 70_000, 144, Family::V4);
        assert_eq!(m.len(), 8 + 144);
        let p = parse_icmp(&m, Family::V4).unwrap();
        assert_eq!(
            (p.reply, p.id, p.seq, p.compact),
            (false, 0xdead_beef, 70_000, false)
        );
        // What the far kernel sends back: type 0, checksum adjusted.
        m[0] = 0;
        finish(&mut m, Family::V4);
        let (src, p) = parse_ipv4(&ip(&m)).unwrap();
        assert_eq!(src.to_string(), "10.77.0.2");
        assert!(p.reply);
        let v6 = echo(1, 2, 144, Family::V6);
        assert_eq!(v6[0], 128);
        assert!(parse_icmp(&v6, Family::V6).is_some_and(|p| !p.reply));
        assert!(parse_icmp(&v6, Family::V4).is_none(), "a v6 type on v4");
    }

    #[test]
    fn a_compact_reply_carries_its_entries() {
        let m = echo(7, 9, 200, Family::V4);
        let c = compact_reply(&m, 42, &sample_entries(), Family::V4).unwrap();
        let p = parse_icmp(&c, Family::V4).unwrap();
        assert!(p.compact);
        assert_eq!(p.userid, 42);
        assert_eq!(p.entries, sample_entries());
    }

    #[test]
    fn lies_are_refused() {
        let m = echo(7, 9, 144, Family::V4);
        let mut bad = compact_reply(&m, 0, &sample_entries(), Family::V4).unwrap();
        bad[9] = 200; // more entries than bytes
        finish(&mut bad, Family::V4);
        assert!(parse_icmp(&bad, Family::V4).is_none());
        let mut short = ip(&m);
        short[2..4].copy_from_slice(&4000u16.to_be_bytes()); // longer than read
        assert!(parse_ipv4(&short).is_none());
        let mut csum = m.clone();
        csum[30] ^= 1;
        assert!(parse_icmp(&csum, Family::V4).is_none(), "bad checksum");
        assert!(parse_ipv4(&[]).is_none());
        assert!(parse_icmp(&m[..20], Family::V4).is_none());
    }

    /// Deterministic mutation fuzzing: flip, set, truncate and extend real
    /// replies (checksums fixed up half the time so the deeper checks run);
    /// nothing may panic, and whatever parses must be within bounds.
    #[test]
    fn mutated_replies_never_panic() {
        let seeds = [
            ip(&echo(1, 2, 144, Family::V4)),
            ip(&compact_reply(
                &echo(3, 4, 300, Family::V4),
                5,
                &sample_entries(),
                Family::V4,
            )
            .unwrap()),
        ];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..200_000u32 {
            let mut p = seeds[round as usize % 2].clone();
            for _ in 0..1 + next() % 6 {
                let r = next();
                let at = (r >> 8) as usize % (p.len() + 1);
                match r % 5 {
                    0 if at < p.len() => p[at] ^= 1 << ((r >> 40) % 8),
                    1 if at < p.len() => p[at] = (r >> 32) as u8,
                    2 => p.truncate(at),
                    3 => p.extend((0..r % 40).map(|i| i as u8)),
                    _ if at < p.len() => {
                        p[at] = [0, 0xff, 1, 8, 0x7a, 0xce][(r >> 20) as usize % 6]
                    }
                    _ => {}
                }
            }
            if next() % 2 == 0 && p.len() > 24 {
                let ihl = usize::from(p[0] & 0x0f) * 4;
                if ihl >= 20 && ihl + 4 <= p.len() {
                    finish(&mut p[ihl..], Family::V4);
                }
            }
            if let Some((_, probe)) = parse_ipv4(&p) {
                assert!(probe.entries.len() <= MAX_ENTRIES);
            }
            // The same bytes as an ICMPv6 message (no IP header, no checksum check).
            if let Some(probe) = parse_icmp(p.get(20..).unwrap_or(&[]), Family::V6) {
                assert!(probe.entries.len() <= MAX_ENTRIES);
            }
        }
    }
}
