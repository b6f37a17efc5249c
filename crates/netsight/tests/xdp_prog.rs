//! The XDP program on crafted frames through BPF_PROG_TEST_RUN: verdicts,
//! exact counters, VLAN/QinQ, and truncation at every length (root only).

mod xdp_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use netsight_bpf::probes::xdp::{Blacklist, Cidr, Verdict};
use xdp_support::*;

fn cidrs(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn hits(bl: &Blacklist, cidr: &str) -> u64 {
    let c: Cidr = cidr.parse().unwrap();
    bl.rule_hits()
        .unwrap()
        .into_iter()
        .find(|r| r.cidr == c)
        .map(|r| r.hits)
        .expect("rule present")
}

const DST4: Ipv4Addr = Ipv4Addr::new(10, 79, 0, 2);
const DST6: Ipv6Addr = Ipv6Addr::new(0xfd79, 0, 0, 0, 0, 0, 0, 2);

#[test]
fn verdicts_and_exact_counts() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    let added = bl
        .add(&cidrs(&[
            "10.1.0.0/16",
            "10.1.2.0/24",
            "10.1.2.3/32",
            "2001:db8::/32",
            "fd00::/8",
        ]))
        .unwrap();
    assert_eq!(added.added, 5);
    let prog = bl.test_program(0).unwrap();

    let bad4 = Ipv4Addr::new(10, 1, 2, 9); // longest match: 10.1.2.0/24
    let host4 = Ipv4Addr::new(10, 1, 2, 3); // 10.1.2.3/32
    let wide4 = Ipv4Addr::new(10, 1, 99, 1); // 10.1.0.0/16
    let good4 = Ipv4Addr::new(10, 2, 0, 1);
    let bad6: Ipv6Addr = "2001:db8:1::5".parse().unwrap();
    let good6: Ipv6Addr = "2001:db9::5".parse().unwrap();

    let cases: Vec<(Vec<u8>, Verdict)> = vec![
        (udp_v4(bad4, DST4, &[]), Verdict::Drop),
        (udp_v4(host4, DST4, &[]), Verdict::Drop),
        (udp_v4(wide4, DST4, &[]), Verdict::Drop),
        (udp_v4(good4, DST4, &[]), Verdict::Pass),
        (udp_v4(bad4, DST4, &[(VLAN, 7)]), Verdict::Drop),
        (udp_v4(bad4, DST4, &[(QINQ, 7), (VLAN, 8)]), Verdict::Drop),
        (udp_v4(good4, DST4, &[(VLAN, 7)]), Verdict::Pass),
        (udp_v6(bad6, DST6, &[]), Verdict::Drop),
        (udp_v6(bad6, DST6, &[(VLAN, 9)]), Verdict::Drop),
        (udp_v6(bad6, DST6, &[(QINQ, 1), (VLAN, 2)]), Verdict::Drop),
        (udp_v6(good6, DST6, &[]), Verdict::Pass),
        (arp(), Verdict::Pass),
        // A v4 destination equal to a blacklisted prefix must not matter.
        (udp_v4(good4, bad4, &[]), Verdict::Pass),
        // Three tags are deeper than the parser goes: passed, not misread.
        (
            udp_v4(bad4, DST4, &[(QINQ, 1), (VLAN, 2), (VLAN, 3)]),
            Verdict::Pass,
        ),
    ];
    for (i, (frame, want)) in cases.iter().enumerate() {
        assert_eq!(prog.run(frame).unwrap(), *want, "case {i}");
    }
    assert_eq!(hits(&bl, "10.1.2.0/24"), 3);
    assert_eq!(hits(&bl, "10.1.2.3/32"), 1);
    assert_eq!(hits(&bl, "10.1.0.0/16"), 1);
    assert_eq!(hits(&bl, "2001:db8::/32"), 3);
    assert_eq!(hits(&bl, "fd00::/8"), 0);
    assert_eq!(bl.iface_counters(prog.slot()).unwrap(), (6, 8));

    // Removing a rule takes effect at once: the /16 catches what the /24 did.
    bl.remove(&cidrs(&["10.1.2.0/24"])).unwrap();
    assert_eq!(prog.run(&udp_v4(bad4, DST4, &[])).unwrap(), Verdict::Drop);
    assert_eq!(hits(&bl, "10.1.0.0/16"), 2);
}

/// The kernel's verifier accepts the program within half its limit of
/// 1,000,000 instructions walked: that walk is the program's load time (every
/// `xdp add` to a new state pays it), and a program near the limit is refused
/// by the first kernel whose verifier prunes a little less.
#[test]
fn the_verifier_accepts_the_program_with_room_to_spare() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    let prog = bl.test_program(0).unwrap();
    match prog.verified_insns().unwrap() {
        Some(walked) => assert!(
            walked < 500_000,
            "the verifier walked {walked} instructions to accept the XDP program"
        ),
        None => eprintln!("skipped: this kernel does not report verified instructions"),
    }
}

#[test]
fn truncated_frames_are_never_misread() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    bl.add(&cidrs(&["10.1.0.0/16", "2001:db8::/32"])).unwrap();
    let prog = bl.test_program(0).unwrap();
    let bad4 = Ipv4Addr::new(10, 1, 0, 1);
    let bad6: Ipv6Addr = "2001:db8::1".parse().unwrap();
    let frames = [
        (udp_v4(bad4, DST4, &[]), 14 + 20),
        (udp_v4(bad4, DST4, &[(VLAN, 3)]), 18 + 20),
        (udp_v4(bad4, DST4, &[(QINQ, 3), (VLAN, 4)]), 22 + 20),
        (udp_v6(bad6, DST6, &[]), 14 + 40),
        (udp_v6(bad6, DST6, &[(VLAN, 3)]), 18 + 40),
    ];
    let mut ran = 0;
    for (frame, header_end) in &frames {
        for len in 0..=frame.len() {
            let verdict = match prog.run(&frame[..len]) {
                Ok(v) => v,
                // The kernel refuses test frames shorter than an Ethernet header.
                Err(_) if len < 14 => continue,
                Err(e) => panic!("length {len}: {e}"),
            };
            ran += 1;
            let want = if len >= *header_end {
                Verdict::Drop
            } else {
                Verdict::Pass
            };
            assert_eq!(
                verdict, want,
                "frame of {len} bytes (headers end at {header_end})"
            );
        }
    }
    assert!(ran > 100, "only {ran} runs");
}

/// Sends one frame from `src` and returns the verdict.
fn run_from(prog: &netsight_bpf::probes::xdp::TestProgram, src: std::net::IpAddr) -> Verdict {
    let frame = match src {
        std::net::IpAddr::V4(a) => udp_v4(a, DST4, &[]),
        std::net::IpAddr::V6(a) => udp_v6(a, DST6, &[]),
    };
    prog.run(&frame).unwrap()
}

#[test]
fn longest_prefix_wins_and_delete_falls_back() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    let rules = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.1.2.0/24",
        "10.1.2.3/32",
        "2001:db8::/48",
        "2001:db8:0:1::/64",
        "2001:db8:0:1::7/128",
    ];
    bl.add(&cidrs(&rules)).unwrap();
    let prog = bl.test_program(0).unwrap();
    // (source, the rule it must hit: the longest prefix holding it)
    let expect = |bl: &Blacklist, table: &[(&str, Option<&str>)]| {
        let before: Vec<_> = bl.rule_hits().unwrap();
        for (src, rule) in table {
            let verdict = run_from(&prog, src.parse().unwrap());
            let want = if rule.is_some() {
                Verdict::Drop
            } else {
                Verdict::Pass
            };
            assert_eq!(verdict, want, "{src}");
        }
        for r in bl.rule_hits().unwrap() {
            let old = before
                .iter()
                .find(|b| b.cidr == r.cidr)
                .map_or(0, |b| b.hits);
            let want = table
                .iter()
                .filter(|(_, rule)| *rule == Some(r.cidr.to_string().as_str()))
                .count() as u64;
            assert_eq!(r.hits - old, want, "hits of {}", r.cidr);
        }
    };
    expect(
        &bl,
        &[
            ("10.1.2.3", Some("10.1.2.3/32")),
            ("10.1.2.4", Some("10.1.2.0/24")),
            ("10.1.3.1", Some("10.1.0.0/16")),
            ("10.2.0.1", Some("10.0.0.0/8")),
            ("11.0.0.1", None),
            ("2001:db8:0:1::7", Some("2001:db8:0:1::7/128")),
            ("2001:db8:0:1::8", Some("2001:db8:0:1::/64")),
            ("2001:db8:0:2::1", Some("2001:db8::/48")),
            ("2001:db8:1::1", None),
        ],
    );
    // Deleting the more specific rule hands its sources to the next one.
    bl.remove(&cidrs(&["10.1.2.3/32", "2001:db8:0:1::7/128"]))
        .unwrap();
    expect(
        &bl,
        &[
            ("10.1.2.3", Some("10.1.2.0/24")),
            ("2001:db8:0:1::7", Some("2001:db8:0:1::/64")),
        ],
    );
    bl.remove(&cidrs(&["10.1.2.0/24", "10.1.0.0/16", "2001:db8:0:1::/64"]))
        .unwrap();
    expect(
        &bl,
        &[
            ("10.1.2.3", Some("10.0.0.0/8")),
            ("2001:db8:0:1::7", Some("2001:db8::/48")),
        ],
    );
    bl.remove(&cidrs(&["10.0.0.0/8", "2001:db8::/48"])).unwrap();
    expect(&bl, &[("10.1.2.3", None), ("2001:db8:0:1::7", None)]);
    // /0 matches everything of its family, and only that family.
    bl.add(&cidrs(&["0.0.0.0/0"])).unwrap();
    expect(
        &bl,
        &[("192.0.2.1", Some("0.0.0.0/0")), ("2001:db8::1", None)],
    );
}

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn masked_v4(a: u32, len: u8) -> Cidr {
    let m = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    format!("{}/{len}", Ipv4Addr::from(a & m)).parse().unwrap()
}

fn masked_v6(a: u128, len: u8) -> Cidr {
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    format!("{}/{len}", Ipv6Addr::from(a & m)).parse().unwrap()
}

/// Many overlapping prefixes of many lengths (both sides of each 32- and
/// 64-bit word boundary) against a reference longest-prefix match.
#[test]
fn matches_a_reference_longest_prefix_match() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Sources vary in 12 bits only, placed on both sides of the lengths
    // used (bit 0 = most significant), so rules overlap and some nest.
    let v4_bits = [6, 7, 12, 13, 14, 15, 22, 23, 28, 29, 30, 31];
    let v6_bits = [30, 31, 38, 39, 62, 63, 64, 65, 98, 99, 126, 127];
    let rand_v4 = |r: &mut Rng| {
        let x = r.next();
        v4_bits
            .iter()
            .enumerate()
            .fold(0x0a00_0000u32, |a, (i, b)| {
                a | ((x >> i & 1) as u32) << (31 - b)
            })
    };
    let rand_v6 = |r: &mut Rng| {
        let x = r.next();
        v6_bits
            .iter()
            .enumerate()
            .fold(0x2001_0db8u128 << 96, |a, (i, b)| {
                a | u128::from(x >> i & 1) << (127 - b)
            })
    };
    let v4_lens = [16u8, 20, 23, 24, 28, 31, 32];
    let v6_lens = [63u8, 64, 65, 96, 100, 127, 128];
    let mut rules = std::collections::BTreeSet::new();
    for _ in 0..150 {
        let l4 = v4_lens[(rng.next() % v4_lens.len() as u64) as usize];
        rules.insert(masked_v4(rand_v4(&mut rng), l4));
        let l6 = v6_lens[(rng.next() % v6_lens.len() as u64) as usize];
        rules.insert(masked_v6(rand_v6(&mut rng), l6));
    }
    let rules: Vec<Cidr> = rules.into_iter().collect();
    let bl = Blacklist::private().unwrap();
    bl.add(&rules).unwrap();
    let prog = bl.test_program(0).unwrap();

    let mut want_hits = std::collections::HashMap::<Cidr, u64>::new();
    let (mut dropped, mut passed) = (0u64, 0u64);
    for i in 0..3000 {
        let src: std::net::IpAddr = if i % 2 == 0 {
            Ipv4Addr::from(rand_v4(&mut rng)).into()
        } else {
            Ipv6Addr::from(rand_v6(&mut rng)).into()
        };
        let longest = rules
            .iter()
            .filter(|c| c.contains(src))
            .max_by_key(|c| c.prefix_len());
        let verdict = run_from(&prog, src);
        match longest {
            Some(c) => {
                assert_eq!(verdict, Verdict::Drop, "{src} is in {c}");
                *want_hits.entry(*c).or_default() += 1;
                dropped += 1;
            }
            None => {
                assert_eq!(verdict, Verdict::Pass, "{src}");
                passed += 1;
            }
        }
    }
    assert!(
        dropped > 300 && passed > 300,
        "{dropped} dropped, {passed} passed"
    );
    for r in bl.rule_hits().unwrap() {
        assert_eq!(
            r.hits,
            want_hits.get(&r.cidr).copied().unwrap_or(0),
            "{}",
            r.cidr
        );
    }
    assert_eq!(bl.iface_counters(prog.slot()).unwrap(), (passed, dropped));
}

/// xdp.h's home bucket of an IPv4 key in the compact table (mirrored here
/// only to build keys that collide on purpose).
fn home_bucket(addr: Ipv4Addr, len: u8) -> u32 {
    let word = u32::from_ne_bytes(addr.octets());
    let x = (u64::from(len) << 32 | u64::from(word)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (x >> 48) as u32
}

/// Thousands of IPv4 rules added and half of them removed again (tombstones
/// in the table), plus a crowd of rules that all hash to one bucket, more
/// than its probe window holds (spilled to pfx_v4): every verdict and every
/// hit count still equals a reference longest-prefix match.
#[test]
fn the_compact_table_matches_the_reference_through_deletes_and_spills() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let lens = [8u8, 16, 20, 24, 26, 30, 32];
    let mut rules = std::collections::BTreeSet::new();
    while rules.len() < 6000 {
        let a = 0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff);
        let l = lens[(rng.next() % lens.len() as u64) as usize];
        rules.insert(masked_v4(a, l));
    }
    // 40 /32s sharing one home bucket: 32 fit in its 4-bucket window (other
    // keys may take some of it too), the rest spill.
    let target = home_bucket(Ipv4Addr::new(10, 200, 0, 0), 32);
    let crowd: Vec<Cidr> = (0..1u32 << 24)
        .map(|x| Ipv4Addr::from(0x0a00_0000 | x))
        .filter(|a| home_bucket(*a, 32) == target)
        .take(40)
        .map(|a| masked_v4(u32::from(a), 32))
        .collect();
    assert_eq!(crowd.len(), 40, "colliding keys");
    let all: Vec<Cidr> = rules.iter().copied().chain(crowd.iter().copied()).collect();
    let bl = Blacklist::private().unwrap();
    bl.add(&all).unwrap();
    let spilled = bl.spilled().unwrap();
    assert!(spilled >= 8, "the crowd spills: {spilled}");
    // Remove every other rule, crowd included.
    let gone: Vec<Cidr> = all.iter().copied().step_by(2).collect();
    let kept: Vec<Cidr> = all.iter().copied().skip(1).step_by(2).collect();
    bl.remove(&gone).unwrap();
    let prog = bl.test_program(0).unwrap();
    let mut want = std::collections::HashMap::<Cidr, u64>::new();
    let mut sources: Vec<Ipv4Addr> = crowd.iter().map(first_v4).collect();
    for _ in 0..4000 {
        sources.push(Ipv4Addr::from(
            0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff),
        ));
    }
    let (mut dropped, mut passed) = (0, 0);
    for src in sources {
        let longest = kept
            .iter()
            .filter(|c| c.contains(src.into()))
            .max_by_key(|c| c.prefix_len());
        let verdict = run_from(&prog, src.into());
        match longest {
            Some(c) => {
                assert_eq!(verdict, Verdict::Drop, "{src} is in {c}");
                *want.entry(*c).or_default() += 1;
                dropped += 1;
            }
            None => {
                assert_eq!(verdict, Verdict::Pass, "{src} matches nothing left");
                passed += 1;
            }
        }
    }
    assert!(
        dropped > 500 && passed > 500,
        "{dropped} dropped, {passed} passed"
    );
    for r in bl.rule_hits().unwrap() {
        assert_eq!(
            r.hits,
            want.get(&r.cidr).copied().unwrap_or(0),
            "{}",
            r.cidr
        );
    }
    // Emptied, nothing is left spilled or matched.
    bl.remove(&kept).unwrap();
    assert_eq!(bl.spilled().unwrap(), 0);
    assert_eq!(
        bl.v4_table_tombstones(),
        0,
        "an empty table keeps no tombstone"
    );
    for c in &crowd {
        assert_eq!(run_from(&prog, first_v4(c).into()), Verdict::Pass, "{c}");
    }
}

/// A delete leaves a tombstone only while a stored key's search still
/// crosses its bucket; then it is an empty entry again, so churn leaves
/// nothing behind (a tombstone makes every search reaching it go on).
#[test]
fn tombstones_last_only_while_a_search_crosses_them() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    let prog = bl.test_program(0).unwrap();
    // Nine /32s with one home bucket: eight fill it, the ninth lands in the
    // next bucket and its search crosses the first.
    let target = home_bucket(Ipv4Addr::new(10, 201, 0, 0), 32);
    let crowd: Vec<Cidr> = (0..1u32 << 24)
        .map(|x| Ipv4Addr::from(0x0b00_0000 | x))
        .filter(|a| home_bucket(*a, 32) == target)
        .take(9)
        .map(|a| masked_v4(u32::from(a), 32))
        .collect();
    for c in &crowd {
        bl.add(std::slice::from_ref(c)).unwrap(); // in this order
    }
    bl.remove(&crowd[..1]).unwrap();
    assert_eq!(
        bl.v4_table_tombstones(),
        1,
        "the ninth key's search crosses it"
    );
    assert_eq!(run_from(&prog, first_v4(&crowd[8]).into()), Verdict::Drop);
    bl.remove(&crowd[8..]).unwrap();
    assert_eq!(bl.v4_table_tombstones(), 0, "nothing crosses it any more");
    for (i, c) in crowd.iter().enumerate() {
        let want = if i == 0 || i == 8 {
            Verdict::Pass
        } else {
            Verdict::Drop
        };
        assert_eq!(run_from(&prog, first_v4(c).into()), want, "{c}");
    }
    // Churn: rounds of thousands of rules added and removed again.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..5 {
        let mut batch = std::collections::BTreeSet::new();
        while batch.len() < 3000 {
            let a = 0x0c00_0000 | (rng.next() as u32 & 0x00ff_ffff);
            batch.insert(masked_v4(a, if rng.next() % 2 == 0 { 32 } else { 24 }));
        }
        let batch: Vec<Cidr> = batch.into_iter().collect();
        bl.add(&batch).unwrap();
        bl.remove(&batch).unwrap();
        assert_eq!(bl.v4_table_tombstones(), 0, "round {round}");
    }
    for c in &crowd[1..8] {
        assert_eq!(run_from(&prog, first_v4(c).into()), Verdict::Drop, "{c}");
    }
}

fn first_v4(c: &Cidr) -> Ipv4Addr {
    match c {
        Cidr::V4 { addr, .. } => *addr,
        Cidr::V6 { .. } => unreachable!("IPv4 rules only"),
    }
}

/// Hit counts live in per-CPU chunks of slots that only ever grow; a slot a
/// deleted rule gave up must count from zero for the rule that takes it,
/// at a chunk's edges and past the first chunk.
#[test]
fn a_reused_slot_counts_from_zero_in_every_chunk() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    let host = |i: u32| Ipv4Addr::from(0x0AC8_0000 + i); // 10.200.0.0 + i
    let rule = |i: u32| Cidr::V4 {
        addr: host(i),
        len: 32,
    };
    // Slots are handed out lowest first: rule i takes slot i.
    let all: Vec<Cidr> = (0..5000).map(rule).collect();
    bl.add(&all).unwrap();
    let prog = bl.test_program(0).unwrap();
    let edges = [0u32, 2047, 2048, 4999];
    for (n, &i) in edges.iter().enumerate() {
        for _ in 0..=n * 3 {
            assert_eq!(run_from(&prog, host(i).into()), Verdict::Drop);
        }
    }
    for (n, &i) in edges.iter().enumerate() {
        assert_eq!(hits(&bl, &rule(i).to_string()), n as u64 * 3 + 1);
    }
    // The same slots go to rules for other hosts.
    let gone: Vec<Cidr> = edges.iter().map(|&i| rule(i)).collect();
    bl.remove(&gone).unwrap();
    let fresh: Vec<Cidr> = edges.iter().map(|&i| rule(10_000 + i)).collect();
    bl.add(&fresh).unwrap();
    let with_slots = bl.rules_with_slots().unwrap();
    for (&i, c) in edges.iter().zip(&fresh) {
        assert!(with_slots.contains(&(*c, i)), "{c} in slot {i}");
        assert_eq!(hits(&bl, &c.to_string()), 0, "{c} starts from zero");
    }
    for (n, &i) in edges.iter().enumerate() {
        for _ in 0..n + 2 {
            assert_eq!(run_from(&prog, host(10_000 + i).into()), Verdict::Drop);
        }
    }
    for (n, c) in fresh.iter().enumerate() {
        assert_eq!(hits(&bl, &c.to_string()), n as u64 + 2, "{c}");
    }
    let total: u64 = bl.rule_hits().unwrap().iter().map(|r| r.hits).sum();
    assert_eq!(total, 2 + 3 + 4 + 5, "no other rule counted anything");
}

/// Every other source in one of `rules`, the rest anywhere in 10/8.
fn rule_or_random(rng: &mut Rng, rules: &[Cidr], i: usize) -> Ipv4Addr {
    if i % 2 == 0 {
        first_v4(&rules[(rng.next() % rules.len() as u64) as usize])
    } else {
        Ipv4Addr::from(0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff))
    }
}

/// The CPUs this test may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: cpu_set_t is plain data, filled by the kernel for its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pid 0 is this thread; the set is as large as we say.
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(rc, 0, "sched_getaffinity");
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: cpu < CPU_SETSIZE, within the set.
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// Moves this thread to `cpu`: BPF_PROG_TEST_RUN runs the program there.
fn run_on(cpu: usize) {
    // SAFETY: cpu_set_t is plain data; cpu < CPU_SETSIZE.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is this thread; the set is as large as we say.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    assert_eq!(rc, 0, "sched_setaffinity to CPU {cpu}");
}

/// The program searches and counts in its own CPU's copy of the compact
/// table: on every CPU in turn, with rules added and removed between the
/// rounds (each change must reach every copy), each verdict equals a
/// reference longest-prefix match and each rule's count, summed over the
/// CPUs, the packets that matched it.
#[test]
fn every_cpus_copy_matches_the_reference_and_counts_exactly() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let cpus = allowed_cpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let lens = [20u8, 24, 28, 32];
    let random_rule = |rng: &mut Rng| {
        let a = 0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff);
        masked_v4(a, lens[(rng.next() % lens.len() as u64) as usize])
    };
    let mut live = std::collections::BTreeMap::<Cidr, u64>::new();
    while live.len() < 3000 {
        live.insert(random_rule(&mut rng), 0);
    }
    let bl = Blacklist::private().unwrap();
    bl.add(&live.keys().copied().collect::<Vec<_>>()).unwrap();
    let prog = bl.test_program(0).unwrap();
    let (mut dropped, mut passed) = (0u64, 0u64);
    // Per rule and CPU, what that CPU's copy must hold.
    let mut on_cpu = std::collections::HashMap::<(Cidr, usize), u64>::new();
    for round in 0..2 * cpus.len() {
        let cpu = cpus[round % cpus.len()];
        run_on(cpu);
        let rules: Vec<Cidr> = live.keys().copied().collect();
        for i in 0..1500 {
            let src = rule_or_random(&mut rng, &rules, i);
            let longest = live
                .keys()
                .filter(|c| c.contains(src.into()))
                .max_by_key(|c| c.prefix_len())
                .copied();
            let verdict = run_from(&prog, src.into());
            match longest {
                Some(c) => {
                    assert_eq!(verdict, Verdict::Drop, "CPU {cpu}: {src} is in {c}");
                    *live.get_mut(&c).unwrap() += 1;
                    *on_cpu.entry((c, cpu)).or_default() += 1;
                    dropped += 1;
                }
                None => {
                    assert_eq!(verdict, Verdict::Pass, "CPU {cpu}: {src} matches nothing");
                    passed += 1;
                }
            }
        }
        // Each CPU counted in its own copy.
        for c in live.keys() {
            let want = on_cpu.get(&(*c, cpu)).copied().unwrap_or(0);
            assert_eq!(bl.copy_count(c, cpu), Some(want), "{c} on CPU {cpu}");
        }
        // Churn: 300 rules go (their counts with them), 300 new ones come.
        let gone: Vec<Cidr> = rules.iter().copied().step_by(10).collect();
        bl.remove(&gone).unwrap();
        gone.iter().for_each(|c| {
            live.remove(c);
            on_cpu.retain(|(r, _), _| r != c);
        });
        let mut new = Vec::new();
        while new.len() < 300 {
            let c = random_rule(&mut rng);
            if let std::collections::btree_map::Entry::Vacant(e) = live.entry(c) {
                e.insert(0);
                new.push(c);
            }
        }
        bl.add(&new).unwrap();
    }
    let rounds = 2 * cpus.len() as u64;
    assert!(
        dropped > 500 * rounds && passed > 250 * rounds,
        "{dropped} dropped, {passed} passed"
    );
    let got: std::collections::BTreeMap<Cidr, u64> = bl
        .rule_hits()
        .unwrap()
        .into_iter()
        .map(|r| (r.cidr, r.hits))
        .collect();
    let wrong: Vec<_> = live
        .iter()
        .filter(|(c, n)| got.get(c) != Some(n))
        .map(|(c, n)| format!("{c}: {:?} counted, {n} sent", got.get(c)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {}: {wrong:?}",
        wrong.len(),
        live.len()
    );
    assert_eq!(got.len(), live.len());
}

/// A CPU's count in its copy has 25 bits; at the top it moves to the rule's
/// slot (a carry). Started just below, on every CPU: every read before,
/// across and after the carry is exact.
#[test]
fn counts_stay_exact_across_a_carry() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let rule: Cidr = "10.77.0.0/16".parse().unwrap();
    let other: Cidr = "10.78.0.0/16".parse().unwrap();
    let bl = Blacklist::private().unwrap();
    bl.add(&[rule, other]).unwrap();
    let prog = bl.test_program(0).unwrap();
    let mut want = 0u64;
    for cpu in allowed_cpus() {
        run_on(cpu);
        let start = netsight_bpf::probes::xdp::COPY_COUNT_MAX - 3;
        assert!(bl.preset_copy_count(&rule, cpu, start));
        want += start;
        assert_eq!(hits(&bl, "10.77.0.0/16"), want);
        for _ in 0..6 {
            let v = run_from(&prog, Ipv4Addr::new(10, 77, 1, 1).into());
            assert_eq!(v, Verdict::Drop);
            want += 1;
            assert_eq!(hits(&bl, "10.77.0.0/16"), want, "CPU {cpu}");
        }
        // The carry ran at the top (2^25 - 1): 3 hits are left in the copy.
        assert_eq!(bl.copy_count(&rule, cpu), Some(3), "CPU {cpu}");
        assert_eq!(
            hits(&bl, "10.78.0.0/16"),
            0,
            "the carry went to its own slot"
        );
    }
}

/// The compact table starts small and grows (twice the buckets, in the
/// other half of its map) as rules come, while the program runs: a thread
/// on another CPU floods a few rules the whole time, the main thread checks
/// verdicts between batches of new rules, and after three growths every
/// count is exact, spilled rules (a crowd sharing one home bucket at every
/// size) included.
#[test]
fn the_table_grows_while_the_program_runs_and_counts_stay_exact() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let cpus = allowed_cpus();
    let (main_cpu, flood_cpu) = (cpus[0], *cpus.last().unwrap());
    run_on(main_cpu);
    let target = home_bucket(Ipv4Addr::new(10, 200, 0, 0), 32);
    let crowd: Vec<Cidr> = (0..1u32 << 24)
        .map(|x| Ipv4Addr::from(0x0a00_0000 | x))
        .filter(|a| home_bucket(*a, 32) == target)
        .take(40)
        .map(|a| masked_v4(u32::from(a), 32))
        .collect();
    let flooded: Vec<Cidr> = (1..=16).map(|i| masked_v4(0x0b00_0000 | i, 32)).collect();
    let bl = Blacklist::private().unwrap();
    bl.add(&crowd).unwrap();
    bl.add(&flooded).unwrap();
    let mut seen = vec![bl.v4_table_geometry().unwrap()];
    assert_eq!(seen[0], netsight_bpf::probes::xdp::Geometry::FIRST);

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flood = {
        let (prog, stop, flooded) = (bl.test_program(1).unwrap(), stop.clone(), flooded.clone());
        std::thread::spawn(move || {
            run_on(flood_cpu);
            let mut sent = vec![0u64; flooded.len()];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                for (i, c) in flooded.iter().enumerate() {
                    assert_eq!(run_from(&prog, first_v4(c).into()), Verdict::Drop, "{c}");
                    sent[i] += 1;
                }
            }
            sent
        })
    };

    let prog = bl.test_program(0).unwrap();
    let lens = [20u8, 24, 28, 32];
    let mut rules: std::collections::HashSet<Cidr> =
        crowd.iter().chain(&flooded).copied().collect();
    let mut want = std::collections::HashMap::<Cidr, u64>::new();
    let mut rng = Rng(0x3c6e_f372_fe94_f82b);
    while rules.len() < 30_000 {
        let mut batch = Vec::new();
        while batch.len() < 4000 {
            let a = 0x0a00_0000 | (rng.next() as u32 & 0x00ff_ffff);
            let c = masked_v4(a, lens[(rng.next() % lens.len() as u64) as usize]);
            if rules.insert(c) {
                batch.push(c);
            }
        }
        bl.add(&batch).unwrap();
        let geo = bl.v4_table_geometry().unwrap();
        if *seen.last().unwrap() != geo {
            seen.push(geo);
        }
        for i in 0..1000 {
            let src = rule_or_random(&mut rng, &batch, i);
            let longest = lens
                .iter()
                .rev()
                .map(|&l| masked_v4(u32::from(src), l))
                .find(|c| rules.contains(c));
            let verdict = run_from(&prog, src.into());
            match longest {
                Some(c) => {
                    assert_eq!(verdict, Verdict::Drop, "{src} is in {c} ({geo:?})");
                    *want.entry(c).or_default() += 1;
                }
                None => assert_eq!(verdict, Verdict::Pass, "{src} matches nothing"),
            }
        }
    }
    for c in &crowd {
        assert_eq!(run_from(&prog, first_v4(c).into()), Verdict::Drop, "{c}");
        *want.entry(*c).or_default() += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = flood.join().expect("flood thread");
    for (c, n) in flooded.iter().zip(&sent) {
        assert!(*n > 100, "{c}: only {n} runs");
        *want.entry(*c).or_default() += n;
    }

    let bits: Vec<u32> = seen.iter().map(|g| g.bits).collect();
    assert_eq!(bits, [10, 11, 12, 13], "grew as the rules came: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].base != w[1].base),
        "each growth into the other half: {seen:?}"
    );
    let spilled = bl.spilled().unwrap();
    assert!(spilled >= 8, "the crowd spills at every size: {spilled}");
    let outside = rules
        .iter()
        .filter(|c| bl.copy_count(c, main_cpu).is_none())
        .count();
    assert_eq!(
        spilled, outside as u64,
        "the spilled count is the rules outside the table"
    );
    let got = bl.rule_hits().unwrap();
    assert_eq!(got.len(), rules.len());
    let wrong: Vec<String> = got
        .iter()
        .filter(|r| r.hits != want.get(&r.cidr).copied().unwrap_or(0))
        .map(|r| {
            format!(
                "{}: {} counted, {:?} sent",
                r.cidr,
                r.hits,
                want.get(&r.cidr)
            )
        })
        .collect();
    assert!(wrong.is_empty(), "{} wrong: {wrong:?}", wrong.len());
}

/// A growth cut short between the switch and the fold (as if its command
/// were killed there) leaves counts in the part no longer searched: the
/// next command on the blacklist folds them in, and only once.
#[test]
fn a_growth_cut_short_is_finished_by_the_next_command() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    let prog = bl.test_program(0).unwrap();
    let rules: Vec<Cidr> = (0..200u32)
        .map(|i| masked_v4(0x0a00_0000 | i << 8, 24))
        .collect();
    bl.add(&rules).unwrap();
    let mut want = std::collections::HashMap::<Cidr, u64>::new();
    let send = |want: &mut std::collections::HashMap<Cidr, u64>, c: &Cidr, n: usize| {
        for _ in 0..n {
            assert_eq!(run_from(&prog, first_v4(c).into()), Verdict::Drop, "{c}");
            *want.entry(*c).or_default() += 1;
        }
    };
    for (i, c) in rules.iter().enumerate() {
        send(&mut want, c, i % 3 + 1); // counted in the first part
    }
    let to = bl.grow_and_stop_after_switch().unwrap();
    assert_eq!(bl.v4_table_geometry().unwrap(), to);
    for c in rules.iter().step_by(2) {
        send(&mut want, c, 2); // counted in the new part
    }
    for read in 0..2 {
        for r in bl.rule_hits().unwrap() {
            assert_eq!(r.hits, want[&r.cidr], "read {read}: {}", r.cidr);
        }
    }
    // The part in use was left alone: every rule still matches and counts.
    for c in &rules {
        send(&mut want, c, 1);
    }
    for r in bl.rule_hits().unwrap() {
        assert_eq!(r.hits, want[&r.cidr], "after: {}", r.cidr);
    }
    // And the blacklist goes on as usual.
    let more = cidrs(&["10.250.0.0/16"]);
    bl.add(&more).unwrap();
    send(&mut want, &more[0], 1);
    assert_eq!(hits(&bl, "10.250.0.0/16"), 1);
    assert_eq!(hits(&bl, "10.0.0.0/24"), 1 + 2 + 1);
}

/// Where the kernel refuses the map-in-map that growing waits with, the
/// table stays at its first size: the rules past it go to pfx_v4, and every
/// verdict and count is still right.
#[test]
fn a_table_that_may_not_grow_stays_exact() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let bl = Blacklist::private().unwrap();
    bl.refuse_growth();
    let prog = bl.test_program(0).unwrap();
    let rules: Vec<Cidr> = (0..10_000u32)
        .map(|i| masked_v4(0x0a00_0000 | i << 8, 24))
        .collect();
    bl.add(&rules).unwrap();
    let first = netsight_bpf::probes::xdp::Geometry::FIRST;
    assert_eq!(bl.v4_table_geometry().unwrap(), first);
    let spilled = bl.spilled().unwrap();
    assert!(
        spilled >= (rules.len() - first.entries()) as u64,
        "{spilled} spilled"
    );
    for c in &rules {
        assert_eq!(run_from(&prog, first_v4(c).into()), Verdict::Drop, "{c}");
    }
    let hits = bl.rule_hits().unwrap();
    assert_eq!(hits.len(), rules.len());
    assert!(hits.iter().all(|r| r.hits == 1), "every rule hit once");
}
