//! Byte layouts of the maps declared in xdp.h. The skeleton does not emit
//! these types (no global uses them), so they are encoded here by hand:
//! every map's key and value sizes are checked against these at open time,
//! and every constant against xdp.h's defines by a unit test.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::cidr::Cidr;

/// `struct pfx_v4_key` / `struct pfx_v6_key`: host-order prefix length, then
/// the masked address in network order.
pub const V4_KEY_SIZE: u32 = 8;
pub const V6_KEY_SIZE: u32 = 20;
/// Hash value: the rule slot (`__u32`).
pub const SLOT_SIZE: u32 = 4;
/// `struct prefix_lens`: v4 bitmap, then three words of v6 bitmap.
pub const PREFIX_LENS_SIZE: u32 = 32;
/// `struct iface_counters`: passed, dropped.
pub const IFACE_COUNTERS_SIZE: u32 = 16;
/// `struct iface_entry`: netns_ino, ifindex, mode, ifname[16].
pub const IFACE_ENTRY_SIZE: u32 = 32;

/// xdp.h's (asserted in the tests).
pub const MAX_RULES: u32 = 1 << 18;
pub const MAX_IFACES: u32 = 64;

/// The hit counters' chunks (xdp.h: `struct hit_chunk`, HIT_CHUNK).
pub const HIT_CHUNK: u32 = 2048;
pub const HIT_CHUNKS: u32 = MAX_RULES / HIT_CHUNK;
pub const HIT_CHUNK_SIZE: u32 = 8 * HIT_CHUNK;

/// The compact IPv4 table (xdp.h: `struct pfx4_bucket`, PFX4_*).
pub const PFX4_BUCKETS: u32 = 1 << 16;
pub const PFX4_WAYS: usize = 8;
pub const PFX4_PROBES: u32 = 4;
pub const PFX4_BUCKET_SIZE: u32 = 8 * PFX4_WAYS as u32;
pub const PFX4_META_SIZE: u32 = 8;
pub const PFX4_VALID: u64 = 1 << 63;
pub const PFX4_TOMBSTONE: u64 = 1;
const PFX4_SLOT_SHIFT: u32 = 38;
/// A CPU's count in its copy of an entry (xdp.h: PFX4_COUNT_*).
pub const PFX4_COUNT_SHIFT: u32 = 38;
pub const PFX4_COUNT_MAX: u64 = (1 << 25) - 1;
const PFX4_LEN_SHIFT: u32 = 32;
pub const PFX4_KEY_MASK: u64 = PFX4_VALID | (0x3F << PFX4_LEN_SHIFT) | 0xFFFF_FFFF;
const PFX4_HASH_MUL: u64 = 0x9E37_79B9_7F4A_7C15;

/// The address of an IPv4 prefix as the program loads it from a packet: the
/// network-order bytes read as a native u32.
pub fn v4_word(addr: std::net::Ipv4Addr) -> u32 {
    u32::from_ne_bytes(addr.octets())
}

/// The table entry of a /len rule at `slot` (the key bits and the slot).
pub fn pfx4_entry(word: u32, len: u8, slot: u32) -> u64 {
    PFX4_VALID
        | (u64::from(slot & (MAX_RULES - 1)) << PFX4_SLOT_SHIFT)
        | (u64::from(len) << PFX4_LEN_SHIFT)
        | u64::from(word)
}

/// A shared entry as written into every CPU's copy: the key bits with a
/// count of zero (empty and deleted entries as they are).
pub fn pfx4_copy(entry: u64) -> u64 {
    if entry & PFX4_VALID != 0 {
        entry & PFX4_KEY_MASK
    } else {
        entry
    }
}

/// The count in a CPU's copy of an entry.
pub fn pfx4_count(copy: u64) -> u64 {
    (copy >> PFX4_COUNT_SHIFT) & PFX4_COUNT_MAX
}

pub fn pfx4_word(entry: u64) -> u32 {
    entry as u32
}

pub fn pfx4_len(entry: u64) -> u8 {
    ((entry >> PFX4_LEN_SHIFT) & 0x3F) as u8
}

pub fn pfx4_slot(entry: u64) -> u32 {
    ((entry >> PFX4_SLOT_SHIFT) as u32) & (MAX_RULES - 1)
}

/// The part of the table in use (xdp.h: `struct pfx4_meta`): 2^bits
/// buckets from bucket `base` (0 for even bits, PFX4_HALF for odd).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    pub base: u32,
    pub bits: u32,
}

const PFX4_GEO_TAG: u8 = 0x47;
pub const PFX4_MIN_BITS: u32 = 10;
pub const PFX4_MAX_BITS: u32 = 15;
pub const PFX4_HALF: u32 = PFX4_BUCKETS / 2;

impl Geometry {
    /// The whole map: what state pinned before geometries had.
    pub const WHOLE: Geometry = Geometry { base: 0, bits: 16 };
    /// Where a new, empty table starts.
    pub const FIRST: Geometry = Geometry {
        base: 0,
        bits: PFX4_MIN_BITS,
    };

    fn of_bits(bits: u32) -> Option<Geometry> {
        (PFX4_MIN_BITS..=PFX4_MAX_BITS)
            .contains(&bits)
            .then_some(Geometry {
                base: if bits & 1 == 1 { PFX4_HALF } else { 0 },
                bits,
            })
    }

    pub fn buckets(self) -> u32 {
        1 << self.bits
    }

    /// Entries (PFX4_WAYS per bucket).
    pub fn entries(self) -> usize {
        (self.buckets() as usize) * PFX4_WAYS
    }

    /// Twice the buckets, in the other half of the map; None at the largest
    /// (a half) or for the whole map.
    pub fn grown(self) -> Option<Geometry> {
        if self == Geometry::WHOLE {
            return None;
        }
        Geometry::of_bits(self.bits + 1)
    }

    /// The half of the map this part is not in (as a part: PFX4_HALF
    /// buckets); None for the whole map.
    pub fn other_half(self) -> Option<Geometry> {
        (self != Geometry::WHOLE).then_some(Geometry {
            base: if self.base == 0 { PFX4_HALF } else { 0 },
            bits: PFX4_MAX_BITS,
        })
    }

    /// The home bucket of a key (prefix_match.bpf.h's pfx4_home), from 0.
    pub fn home(self, word: u32, len: u8) -> u32 {
        let x = (u64::from(len) << 32 | u64::from(word)).wrapping_mul(PFX4_HASH_MUL);
        (x >> (64 - self.bits)) as u32
    }

    /// The map index of bucket `b` (counted from the home bucket's 0, any
    /// number: it wraps within the part in use).
    pub fn bucket(self, b: u32) -> u32 {
        self.base + (b & (self.buckets() - 1))
    }
}

/// `struct pfx4_meta` read back: the spilled count and the geometry (None:
/// a tag of ours with bits no netsight writes).
pub fn pfx4_meta_decode(b: &[u8]) -> (u32, Option<Geometry>) {
    if b.get(4) != Some(&PFX4_GEO_TAG) {
        // State pinned before: a u64 count, the whole map.
        let n = u32::try_from(u64_at(b, 0)).unwrap_or(u32::MAX);
        return (n, Some(Geometry::WHOLE));
    }
    let bits = u32::from(b.get(5).copied().unwrap_or(0));
    (u32_at(b, 0), Geometry::of_bits(bits))
}

/// `struct pfx4_meta`: spilled, the tag, the geometry's bits, spilled != 0.
pub fn pfx4_meta(spilled: u32, geo: Geometry) -> [u8; 8] {
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&spilled.to_ne_bytes());
    out[4] = PFX4_GEO_TAG;
    out[5] = geo.bits as u8;
    out[6] = u8::from(spilled != 0);
    out
}

/// The key of a rule in pfx_v4 / pfx_v6 (the same bytes as the LPM trie
/// keys of netsight's first layout, which migration relies on).
pub fn prefix_key(cidr: &Cidr) -> Vec<u8> {
    let mut key = u32::from(cidr.prefix_len()).to_ne_bytes().to_vec();
    key.extend_from_slice(&cidr.addr_bytes());
    key
}

/// `struct prefix_lens` with a bit set for every length some rule has.
pub fn prefix_lens<'a>(
    cidrs: impl IntoIterator<Item = &'a Cidr>,
) -> [u8; PREFIX_LENS_SIZE as usize] {
    let mut words = [0u64; 4];
    for c in cidrs {
        let len = usize::from(c.prefix_len());
        match c {
            Cidr::V4 { .. } => words[0] |= 1 << len,
            Cidr::V6 { .. } => words[1 + len / 64] |= 1 << (len % 64),
        }
    }
    let mut out = [0u8; PREFIX_LENS_SIZE as usize];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_ne_bytes());
    }
    out
}

pub fn cidr_from_key(key: &[u8]) -> Option<Cidr> {
    let len = u32::from_ne_bytes(key.get(..4)?.try_into().ok()?);
    let len = u8::try_from(len).ok()?;
    match key.len() {
        8 => {
            let octets: [u8; 4] = key[4..8].try_into().ok()?;
            (len <= 32).then_some(Cidr::V4 {
                addr: Ipv4Addr::from(octets),
                len,
            })
        }
        20 => {
            let octets: [u8; 16] = key[4..20].try_into().ok()?;
            (len <= 128).then_some(Cidr::V6 {
                addr: Ipv6Addr::from(octets),
                len,
            })
        }
        _ => None,
    }
}

pub fn u32_at(b: &[u8], off: usize) -> u32 {
    b.get(off..off + 4)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

pub fn u64_at(b: &[u8], off: usize) -> u64 {
    b.get(off..off + 8)
        .and_then(|s| s.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// Attachment modes as stored in `iface_entry.mode` (enum xdp_attach_mode).
pub const MODE_NONE: u32 = 0;
pub const MODE_NATIVE: u32 = 1;
pub const MODE_GENERIC: u32 = 2;

/// One `struct iface_entry`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceEntry {
    pub netns_ino: u64,
    pub ifindex: u32,
    pub mode: u32,
    pub ifname: String,
}

impl IfaceEntry {
    pub fn encode(&self) -> [u8; IFACE_ENTRY_SIZE as usize] {
        let mut b = [0u8; IFACE_ENTRY_SIZE as usize];
        b[0..8].copy_from_slice(&self.netns_ino.to_ne_bytes());
        b[8..12].copy_from_slice(&self.ifindex.to_ne_bytes());
        b[12..16].copy_from_slice(&self.mode.to_ne_bytes());
        let name = self.ifname.as_bytes();
        let n = name.len().min(15);
        b[16..16 + n].copy_from_slice(&name[..n]);
        b
    }

    pub fn decode(b: &[u8]) -> Self {
        let name = b.get(16..32).unwrap_or(&[]);
        let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        IfaceEntry {
            netns_ino: u64_at(b, 0),
            ifindex: u32_at(b, 8),
            mode: u32_at(b, 12),
            ifname: String::from_utf8_lossy(&name[..end]).into_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for s in ["10.1.0.0/24", "0.0.0.0/0", "2001:db8::/32", "::1/128"] {
            let c: Cidr = s.parse().unwrap();
            let k = prefix_key(&c);
            assert!(k.len() == V4_KEY_SIZE as usize || k.len() == V6_KEY_SIZE as usize);
            assert_eq!(cidr_from_key(&k), Some(c));
        }
        assert_eq!(cidr_from_key(&[1, 2, 3]), None);
    }

    #[test]
    fn prefix_lens_sets_one_bit_per_length() {
        let c: Vec<Cidr> = ["10.0.0.0/8", "10.1.0.0/16", "0.0.0.0/0", "10.0.0.1/32"]
            .iter()
            .chain(&["::/0", "2001:db8::/64", "::1/128", "2001:db8::/48"])
            .map(|s| s.parse().unwrap())
            .collect();
        let b = prefix_lens(&c);
        let word = |i: usize| u64::from_ne_bytes(b[i * 8..i * 8 + 8].try_into().unwrap());
        assert_eq!(word(0), 1 | 1 << 8 | 1 << 16 | 1 << 32);
        assert_eq!(word(1), 1 | 1 << 48);
        assert_eq!(word(2), 1);
        assert_eq!(word(3), 1);
        assert_eq!(prefix_lens(&[]), [0u8; 32]);
    }

    #[test]
    fn constants_are_the_ones_of_xdp_h() {
        let header = crate::c_defines::integer_defines(include_str!("xdp.h"));
        let ours: [(&str, u64); 21] = [
            ("XDP_MAX_RULES", MAX_RULES.into()),
            ("XDP_MAX_IFACES", MAX_IFACES.into()),
            ("HIT_CHUNK", HIT_CHUNK.into()),
            ("HIT_CHUNKS", HIT_CHUNKS.into()),
            ("PFX4_BUCKETS", PFX4_BUCKETS.into()),
            ("PFX4_WAYS", PFX4_WAYS as u64),
            ("PFX4_PROBES", PFX4_PROBES.into()),
            ("PFX4_VALID", PFX4_VALID),
            ("PFX4_TOMBSTONE", PFX4_TOMBSTONE),
            ("PFX4_SLOT_SHIFT", PFX4_SLOT_SHIFT.into()),
            ("PFX4_LEN_SHIFT", PFX4_LEN_SHIFT.into()),
            ("PFX4_KEY_MASK", PFX4_KEY_MASK),
            ("PFX4_HASH_MUL", PFX4_HASH_MUL),
            ("PFX4_COUNT_SHIFT", PFX4_COUNT_SHIFT.into()),
            ("PFX4_COUNT_MAX", PFX4_COUNT_MAX),
            ("PFX4_COUNT_ONE", 1 << PFX4_COUNT_SHIFT),
            ("PFX4_GEO_TAG", PFX4_GEO_TAG.into()),
            ("PFX4_MIN_BITS", PFX4_MIN_BITS.into()),
            ("PFX4_MAX_BITS", PFX4_MAX_BITS.into()),
            ("PFX4_HALF", PFX4_HALF.into()),
            ("PFX4_WHOLE_BITS", Geometry::WHOLE.bits.into()),
        ];
        for (name, value) in ours {
            assert_eq!(header.get(name), Some(&value), "{name} in xdp.h");
        }
    }

    #[test]
    fn geometries_round_trip_and_grow_in_alternate_halves() {
        let legacy = 12u64.to_ne_bytes();
        assert_eq!(pfx4_meta_decode(&legacy), (12, Some(Geometry::WHOLE)));
        let mut g = Geometry::FIRST;
        let mut seen = vec![g];
        while let Some(next) = g.grown() {
            let meta = pfx4_meta(7, next);
            assert_eq!(pfx4_meta_decode(&meta), (7, Some(next)));
            // One byte the program reads changes per switch (xdp.h).
            let before = pfx4_meta(7, g);
            assert_eq!((0..8).filter(|&i| before[i] != meta[i]).count(), 1);
            assert_ne!(next.base, g.base, "never over the part in use");
            assert!(next.base + next.buckets() <= PFX4_BUCKETS);
            assert_eq!(g.other_half().unwrap().base, next.base);
            g = next;
            seen.push(g);
        }
        assert_eq!(g.bits, PFX4_MAX_BITS, "the largest fills a half");
        assert_eq!(seen.len(), 6);
        assert_eq!(Geometry::WHOLE.grown(), None);
        assert_eq!(Geometry::WHOLE.other_half(), None);
        let mut odd = pfx4_meta(0, Geometry::FIRST);
        odd[5] = 16;
        assert_eq!(pfx4_meta_decode(&odd), (0, None), "bits no netsight writes");
        // Top bits of one hash: a key's home at fewer bits is its home at
        // more bits shifted down.
        let w = v4_word(Ipv4Addr::new(10, 1, 2, 0));
        assert_eq!(g.home(w, 24) >> 5, Geometry::FIRST.home(w, 24));
        let half = Geometry::FIRST.grown().unwrap();
        assert_eq!(half.bucket(2048 + 3), PFX4_HALF + 3);
    }

    #[test]
    fn iface_entry_round_trips() {
        let e = IfaceEntry {
            netns_ino: 4026531840,
            ifindex: 7,
            mode: MODE_GENERIC,
            ifname: "veth0".into(),
        };
        assert_eq!(IfaceEntry::decode(&e.encode()), e);
    }
}
