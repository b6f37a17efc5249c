//! The CLI on a real veth in private namespaces: blacklisted IPv4/IPv6
//! sources are dropped and counted exactly, other sources pass, errors exit
//! 2, and `detach` leaves nothing behind (root only).

mod xdp_support;

use std::net::{Ipv4Addr, Ipv6Addr};

use serde_json::Value;
use xdp_support::*;

/// Prefixes only these tests use, so a blacklist shared with others is safe.
const RULES: [&str; 4] = [
    "198.51.100.0/24",
    "198.51.100.7/32",
    "2001:db8:77::/48",
    "2001:db8:78::/48",
];

fn ok(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn rule_hits(stats: &Value, cidr: &str) -> u64 {
    stats["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["cidr"] == cidr)
        .map(|r| r["hits"].as_u64().unwrap())
        .unwrap()
}

/// Removes this test's rules even if the test fails.
struct RulesGuard<'a>(&'a VethPair);

impl Drop for RulesGuard<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .netsight(&self.0.b, &["xdp", "detach", &self.0.dev_b]);
        let _ = self.0.netsight(
            &self.0.b,
            &["xdp", "del"].into_iter().chain(RULES).collect::<Vec<_>>(),
        );
    }
}

fn drops_and_counts_exactly(mode: &str, tag: &str) {
    let _serial = BLACKLIST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let net = VethPair::new(tag);
    let _rules = RulesGuard(&net);
    let add: Vec<&str> = ["xdp", "add"].into_iter().chain(RULES).collect();
    ok(net.netsight(&net.b, &add));
    ok(net.netsight(&net.b, &["xdp", "attach", &net.dev_b, "--mode", mode]));

    let dst4 = Ipv4Addr::new(10, 79, 0, 2);
    let dst6: Ipv6Addr = "fd79::2".parse().unwrap();
    let bad4 = Ipv4Addr::new(198, 51, 100, 9);
    let host4 = Ipv4Addr::new(198, 51, 100, 7);
    let bad6: Ipv6Addr = "2001:db8:77::9".parse().unwrap();
    let good4 = Ipv4Addr::new(10, 79, 0, 1);
    let good6: Ipv6Addr = "2001:db8:79::1".parse().unwrap();
    let mut frames = Vec::new();
    frames.extend(std::iter::repeat_n(udp_v4(bad4, dst4, &[]), 50));
    frames.extend(std::iter::repeat_n(udp_v4(host4, dst4, &[]), 7));
    frames.extend(std::iter::repeat_n(udp_v4(bad4, dst4, &[(VLAN, 5)]), 3));
    frames.extend(std::iter::repeat_n(udp_v6(bad6, dst6, &[]), 40));
    frames.extend(std::iter::repeat_n(
        udp_v6(bad6, dst6, &[(QINQ, 5), (VLAN, 6)]),
        2,
    ));
    frames.extend(std::iter::repeat_n(udp_v4(good4, dst4, &[]), 30));
    frames.extend(std::iter::repeat_n(udp_v6(good6, dst6, &[]), 20));
    frames.extend(std::iter::repeat_n(
        udp_v4(bad4, dst4, &[])[..14 + 12].to_vec(),
        4,
    )); // truncated
    let before = ip_in_receives(&net);
    net.send(&frames);

    let stats: Value =
        serde_json::from_str(&ok(net.netsight(&net.b, &["xdp", "stats", "--json"]))).unwrap();
    let ifaces = stats["interfaces"].as_array().unwrap();
    let me = ifaces
        .iter()
        .find(|i| i["ifname"] == net.dev_b.as_str())
        .expect("attached interface listed");
    assert_eq!(me["mode"], mode);
    assert_eq!(me["dropped"], 50 + 7 + 3 + 40 + 2, "{stats}");
    assert_eq!(me["passed"], 30 + 20 + 4, "{stats}");
    assert_eq!(rule_hits(&stats, "198.51.100.0/24"), 53);
    assert_eq!(rule_hits(&stats, "198.51.100.7/32"), 7);
    assert_eq!(rule_hits(&stats, "2001:db8:77::/48"), 42);
    assert_eq!(rule_hits(&stats, "2001:db8:78::/48"), 0);
    // The other sources really reached the IPv4 stack behind the filter.
    assert!(
        ip_in_receives(&net) - before >= 30,
        "legitimate IPv4 frames were not received"
    );

    // Errors: attaching twice, unknown interface, bad prefix -> exit 2.
    for args in [
        vec!["xdp", "attach", net.dev_b.as_str()],
        vec!["xdp", "attach", "nosuchdev0"],
        vec!["xdp", "add", "198.51.100.1/24"],
        vec!["xdp", "del", "203.0.113.0/24"],
    ] {
        let out = net.netsight(&net.b, &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "one-line error: {err}");
    }

    ok(net.netsight(&net.b, &["xdp", "detach", &net.dev_b]));
    let link = sh(&["ip", "-n", &net.b, "-d", "link", "show", &net.dev_b]);
    assert!(
        !link.contains("prog/xdp"),
        "XDP program left after detach: {link}"
    );
    let out = net.netsight(&net.b, &["xdp", "detach", &net.dev_b]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "detaching twice must be a usage error"
    );
    // After detach the frames reach the stack again: nothing is dropped.
    let stats: Value =
        serde_json::from_str(&ok(net.netsight(&net.b, &["xdp", "stats", "--json"]))).unwrap();
    assert!(stats["interfaces"]
        .as_array()
        .unwrap()
        .iter()
        .all(|i| i["ifname"] != net.dev_b.as_str()));
}

fn ip_in_receives(net: &VethPair) -> i64 {
    let snmp = sh(&["ip", "netns", "exec", &net.b, "cat", "/proc/net/snmp"]);
    let mut lines = snmp.lines().filter(|l| l.starts_with("Ip:"));
    let (names, values) = (lines.next().unwrap(), lines.next().unwrap());
    let i = names
        .split_whitespace()
        .position(|n| n == "InReceives")
        .unwrap();
    values.split_whitespace().nth(i).unwrap().parse().unwrap()
}

#[test]
fn native_mode_drops_and_counts_exactly() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    drops_and_counts_exactly("native", "n");
}

#[test]
fn generic_mode_drops_and_counts_exactly() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    drops_and_counts_exactly("generic", "g");
}

#[test]
fn filter_outlives_the_cli_and_detach_removes_every_trace() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let _serial = BLACKLIST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let net = VethPair::new("p");
    let _rules = RulesGuard(&net);
    ok(net.netsight(&net.b, &["xdp", "attach", &net.dev_b]));
    // The CLI has exited: the program is still on the interface.
    let link = sh(&["ip", "-n", &net.b, "link", "show", &net.dev_b]);
    assert!(link.contains("prog/xdp"), "{link}");
    // Rules added later apply to the running filter.
    ok(net.netsight(&net.b, &["xdp", "add", RULES[0]]));
    net.send(&[udp_v4(
        Ipv4Addr::new(198, 51, 100, 1),
        Ipv4Addr::new(10, 79, 0, 2),
        &[],
    )]);
    let stats: Value =
        serde_json::from_str(&ok(net.netsight(&net.b, &["xdp", "stats", "--json"]))).unwrap();
    assert_eq!(rule_hits(&stats, RULES[0]), 1);
    ok(net.netsight(&net.b, &["xdp", "del", RULES[0]]));
    ok(net.netsight(&net.b, &["xdp", "detach", &net.dev_b]));
    let link = sh(&["ip", "-n", &net.b, "link", "show", &net.dev_b]);
    assert!(!link.contains("prog/xdp"), "{link}");
    // No rule and no attachment left: no pins either (unless someone else's).
    let pins = std::fs::read_dir("/sys/fs/bpf/netsight/xdp")
        .map(|d| d.count())
        .unwrap_or(0);
    let others = std::fs::read_dir("/sys/fs/bpf/netsight/xdp")
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().starts_with("link_"))
        })
        .unwrap_or(false);
    assert!(pins == 0 || others, "pins left behind");
}
