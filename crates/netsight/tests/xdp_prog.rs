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
