//! Parser and rate tests on recorded /proc/net files from this kernel
//! (6.18) and on hand-made ones (old kernel: missing fields; new kernel:
//! extra fields; a counter that went down).

use std::path::{Path, PathBuf};

use netsight_sysstat::charts::SEED_CHART_IDS;
use netsight_sysstat::output::write_json;
use netsight_sysstat::rates::{compute, missing_dimensions_in};
use netsight_sysstat::sampler::counters_from_dir;

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(rel)
}

fn json_lines(iv: &netsight_sysstat::IntervalValues, interval_s: f64) -> Vec<serde_json::Value> {
    let mut buf = Vec::new();
    write_json(&mut buf, "2026-11-22T10:00:01.000Z", interval_s, iv).unwrap();
    String::from_utf8(buf)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn chart<'a>(lines: &'a [serde_json::Value], id: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|l| l["chart"] == id)
        .unwrap_or_else(|| panic!("no {id} in output"))
}

#[test]
fn kernel_6_18_host_files_parse_completely() {
    let c = counters_from_dir(&fixture("kernel-6.18/host"));
    assert_eq!(c.skipped_lines, 0);
    assert_eq!(c.get("Tcp.ActiveOpens"), Some(25));
    assert_eq!(c.get("Tcp.OutSegs"), Some(1949));
    assert_eq!(c.get("Tcp.MaxConn"), None, "-1 is a constant");
    assert_eq!(c.get("TcpExt.TCPSynRetrans"), Some(0));
    assert_eq!(c.get("IpExt.InOctets"), Some(64_050_981));
    assert_eq!(c.get("IcmpMsg.InType3"), Some(1));
    assert_eq!(c.get("snmp6.Icmp6OutType135"), Some(4));
    assert_eq!(c.get("sockstat.TCP.mem"), Some(362));
    assert_eq!(c.get("sockstat6.TCP6.inuse"), Some(0));
    // 6.18 has every fixed dimension but FACK reordering (removed in 4.20);
    // TCP bytes come from sock_diag, not from files.
    assert_eq!(
        missing_dimensions_in(&c),
        [
            "ip.tcpreorders.FACK (TcpExt.TCPFACKReorder)",
            "ipv4.tcpbytes.Received (tcpinfo.bytes_received)",
            "ipv4.tcpbytes.Sent (tcpinfo.bytes_acked)",
        ]
    );
}

#[test]
fn first_sample_has_gauges_only() {
    let c = counters_from_dir(&fixture("kernel-6.18/host"));
    let iv = compute(None, &c, 0.0, 4.0);
    assert!(iv
        .charts
        .iter()
        .all(|cv| cv.chart.kind == netsight_sysstat::charts::Kind::Gauge));
    let lines = json_lines(&iv, 0.0);
    assert_eq!(
        chart(&lines, "ipv4.sockstat_tcp_mem")["values"]["Mem"],
        362.0 * 4.0
    );
    assert_eq!(
        chart(&lines, "ipv4.sockstat_sockets")["values"]["Used"],
        10.0
    );
    assert!(lines.iter().all(|l| l["chart"] != "ipv4.tcppackets"));
}

/// Three pings from a fresh namespace, recorded before and after.
#[test]
fn kernel_6_18_namespace_with_three_pings() {
    let t0 = counters_from_dir(&fixture("kernel-6.18/netns-ping-t0"));
    let t1 = counters_from_dir(&fixture("kernel-6.18/netns-ping-t1"));
    assert_eq!(
        t0.get("IcmpMsg.OutType8"),
        None,
        "IcmpMsg appears only once a type was seen"
    );
    assert_eq!(t1.get("IcmpMsg.OutType8"), Some(3));
    let iv = compute(Some(&t0), &t1, 0.5, 4.0);
    assert!(iv.counter_resets.is_empty());
    let lines = json_lines(&iv, 0.5);
    let every_chart: Vec<&str> = lines.iter().map(|l| l["chart"].as_str().unwrap()).collect();
    for id in SEED_CHART_IDS.iter().filter(|id| **id != "ipv4.tcpbytes") {
        assert!(every_chart.contains(id), "{id} missing");
    }
    let icmpmsg = &chart(&lines, "ipv4.icmpmsg")["values"];
    assert_eq!(icmpmsg["OutEchos"], 6.0, "3 echoes in 0.5 s");
    assert_eq!(icmpmsg["InEchoReps"], 6.0);
    assert_eq!(icmpmsg["InEchos"], 0.0);
    assert_eq!(
        chart(&lines, "ipv4.icmp")["values"],
        serde_json::json!({"Received": 6.0, "Sent": 6.0})
    );
    assert_eq!(chart(&lines, "ipv4.packets")["values"]["Sent"], 6.0);
    assert_eq!(
        chart(&lines, "ipv4.tcppackets")["values"],
        serde_json::json!({"Received": 0.0, "Sent": 0.0})
    );
    let types = chart(&lines, "ipv6.icmptypes")["values"]
        .as_object()
        .unwrap()
        .clone();
    assert_eq!(
        types.keys().collect::<Vec<_>>(),
        ["OutType133", "OutType135", "OutType143"]
    );
    assert!(types.values().all(|v| v == 0.0));
    assert_eq!(chart(&lines, "ipv6.icmptypes")["unit"], "messages/s");
}

/// An old kernel without some fields, a new one with extra fields, no IPv6,
/// and one counter that went down; every figure checked by hand.
#[test]
fn handmade_interval_gives_exact_output() {
    let t0 = counters_from_dir(&fixture("handmade/t0"));
    let t1 = counters_from_dir(&fixture("handmade/t1"));
    assert_eq!(
        t1.get("Tcp.FutureCounter"),
        Some(50),
        "extra fields are read, just unused"
    );
    let iv = compute(Some(&t0), &t1, 2.0, 4.0);
    assert_eq!(iv.counter_resets, ["ipv4.udperrors.RcvbufErrors"]);
    let mut buf = Vec::new();
    write_json(&mut buf, "2026-11-22T10:00:01.000Z", 2.0, &iv).unwrap();
    let got = String::from_utf8(buf).unwrap();
    let expected = std::fs::read_to_string(fixture("handmade/expected.jsonl")).unwrap();
    assert_eq!(got, expected, "\n--- got ---\n{got}");
}

#[test]
fn a_reset_never_gives_a_negative_or_huge_rate() {
    let t0 = counters_from_dir(&fixture("kernel-6.18/netns-ping-t1"));
    let t1 = counters_from_dir(&fixture("kernel-6.18/netns-ping-t0"));
    let iv = compute(Some(&t0), &t1, 1.0, 4.0);
    assert!(iv
        .counter_resets
        .contains(&"ipv4.packets.Received".to_string()));
    for cv in &iv.charts {
        for (k, v) in &cv.values {
            assert!((0.0..1e6).contains(v), "{}.{k} = {v}", cv.chart.id);
        }
    }
}

#[test]
fn garbage_files_never_panic() {
    use netsight_sysstat::sampler::ProcFile;
    let inputs = [
        "",
        "\n\n",
        ":",
        "Tcp:",
        "Tcp: a\nTcp:",
        "x y z\n1 2",
        "TCP: inuse",
        "Tcp: A B\nTcp: 1 2 3",
        "\u{fffd}: \u{0}",
    ];
    for f in ProcFile::ALL {
        for text in inputs {
            let _ = f.parse(text);
        }
    }
}
