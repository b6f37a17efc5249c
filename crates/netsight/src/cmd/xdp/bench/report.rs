//! The bench report as a table and as an SVG chart (drawn by hand: three
//! panels of horizontal bars, one bar per case and rule-set size).

use std::fmt::Write as _;

use super::run::{CaseResult, Report};
use crate::table;

pub fn table(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .cases
        .iter()
        .map(|c| match &c.skipped {
            Some(why) => vec![
                c.label.into(),
                c.prefixes.to_string(),
                format!("skipped: {why}"),
            ],
            None => vec![
                c.label.into(),
                c.prefixes.to_string(),
                format!("{:.0}", c.offered_pps / 1e3),
                format!("{:.0}", c.received_pps / 1e3),
                format!("{:.0}", c.dropped_pps / 1e3),
                format!("{:.0}", c.cpu_ns_per_packet),
                format!("{:.0}%", c.receiver_cpu_util * 100.0),
                c.xdp_prog_ns_per_packet
                    .map_or("-".into(), |v| format!("{v:.0}")),
                format!("{:.0}", c.ring_lost_pps / 1e3),
                format!("{:.0}", c.legit_tps),
                format!("{:.0}%", c.other_cpu_util * 100.0),
            ],
        })
        .collect();
    let rate = r.flood_rate_pps.map_or("as fast as generated".into(), |p| {
        format!("{:.0} kpps paced", p / 1e3)
    });
    let mut out = format!(
        "kernel {}, {} CPUs, {:.1}s per case, flood {rate} from {} blacklisted /26s, {}; \
         legitimate TCP alone: {:.0} tps\n\n",
        r.kernel, r.cpus, r.duration_s, r.flood_prefixes, r.iptables, r.baseline_legit_tps
    );
    out.push_str(&table::render(
        &[
            "CASE",
            "PREFIXES",
            "OFFERED_KPPS",
            "RX_KPPS",
            "DROPPED_KPPS",
            "NS/PKT",
            "RX_CPU",
            "PROG_NS",
            "RING_LOST_KPPS",
            "LEGIT_TPS",
            "OTHER_CPU",
        ],
        &rows,
        1,
    ));
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Panel {
    title: &'static str,
    value: fn(&CaseResult) -> f64,
    fmt: fn(f64) -> String,
}

const PANELS: [Panel; 3] = [
    Panel {
        title: "Flood packets dropped (kpps)",
        value: |c| c.dropped_pps / 1e3,
        fmt: |v| format!("{v:.0}"),
    },
    Panel {
        title: "Receiver CPU per packet (ns, lower is better)",
        value: |c| c.cpu_ns_per_packet,
        fmt: |v| format!("{v:.0}"),
    },
    Panel {
        title: "Legitimate TCP transactions/s under flood",
        value: |c| c.legit_tps,
        fmt: |v| format!("{v:.0}"),
    },
];

pub fn svg(r: &Report) -> String {
    let labels: Vec<&str> = {
        let mut v: Vec<&str> = Vec::new();
        for c in &r.cases {
            if !v.contains(&c.label) {
                v.push(c.label);
            }
        }
        v
    };
    let sizes: Vec<usize> = {
        let mut v: Vec<usize> = r.cases.iter().map(|c| c.prefixes).collect();
        v.sort_unstable();
        v.dedup();
        v
    };
    let colors = ["#4e79a7", "#f28e2b", "#59a14f"];
    let (label_w, bar_w, bar_h, gap) = (250.0, 300.0, 11.0, 6.0);
    let group_h = sizes.len() as f64 * bar_h + gap;
    let panel_h = 30.0 + labels.len() as f64 * group_h;
    let width = label_w + (bar_w + 90.0) * PANELS.len() as f64;
    let height = 60.0 + panel_h + 20.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">netsight xdp bench: UDP flood from blacklisted sources vs TCP request/response (kernel {}, {} CPUs)</text>"#,
        esc(&r.kernel),
        r.cpus
    );
    for (i, size) in sizes.iter().enumerate() {
        let x = 10.0 + i as f64 * 140.0;
        let _ = writeln!(
            s,
            r#"<rect x="{x}" y="32" width="10" height="10" fill="{}"/>"#,
            colors[i % 3]
        );
        let _ = writeln!(
            s,
            r#"<text x="{}" y="41">{size} prefix(es)</text>"#,
            x + 14.0
        );
    }
    for (li, label) in labels.iter().enumerate() {
        let y = 60.0 + 30.0 + li as f64 * group_h + group_h / 2.0;
        let _ = writeln!(
            s,
            r#"<text x="{}" y="{y}" text-anchor="end">{}</text>"#,
            label_w - 8.0,
            esc(label)
        );
    }
    for (pi, panel) in PANELS.iter().enumerate() {
        let x0 = label_w + pi as f64 * (bar_w + 90.0);
        let _ = writeln!(
            s,
            r#"<text x="{x0}" y="80" font-weight="bold">{}</text>"#,
            esc(panel.title)
        );
        let max = r
            .cases
            .iter()
            .filter(|c| c.skipped.is_none())
            .map(panel.value)
            .fold(0.0, f64::max)
            .max(1e-9);
        for c in &r.cases {
            let li = labels.iter().position(|l| *l == c.label).unwrap_or(0);
            let si = sizes.iter().position(|&n| n == c.prefixes).unwrap_or(0);
            let y = 60.0 + 30.0 + li as f64 * group_h + si as f64 * bar_h;
            if c.skipped.is_some() {
                let _ = writeln!(
                    s,
                    r#"<text x="{x0}" y="{}" fill="gray">skipped</text>"#,
                    y + bar_h - 2.0
                );
                continue;
            }
            let v = (panel.value)(c);
            let w = (v / max * bar_w).max(0.5);
            let _ = writeln!(
                s,
                r#"<rect x="{x0}" y="{y}" width="{w:.1}" height="{}" fill="{}"/>"#,
                bar_h - 1.0,
                colors[si % 3]
            );
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{}">{}</text>"#,
                x0 + w + 3.0,
                y + bar_h - 2.0,
                (panel.fmt)(v)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        let case = |case, label, prefixes, dropped: f64| CaseResult {
            case,
            label,
            prefixes,
            skipped: None,
            offered_pps: 1e6,
            received_pps: 9e5,
            dropped_pps: dropped,
            cpu_ns_per_packet: 120.0,
            receiver_cpu_util: 0.5,
            ring_lost_pps: 0.0,
            xdp_prog_ns_per_packet: Some(97.0),
            legit_tps: 1000.0,
            other_cpu_util: 0.0,
            setup_s: 0.1,
        };
        Report {
            kernel: "6.18".into(),
            cpus: 2,
            quick: true,
            duration_s: 1.0,
            flood_rate_pps: Some(1e6),
            flood_prefixes: 1000,
            iptables: "iptables v1.8.9 (nf_tables)".into(),
            baseline_legit_tps: 2000.0,
            cases: vec![
                case("none", "no filter", 1, 0.0),
                case("xdp-native", "XDP <native>", 1000, 9e5),
            ],
            interrupted: false,
        }
    }

    #[test]
    fn table_has_every_case() {
        let t = table(&report());
        assert!(
            t.contains("no filter")
                && t.contains("XDP <native>")
                && t.contains("900")
                && t.contains("1000 kpps paced")
                && t.contains("PROG_NS"),
            "{t}"
        );
    }

    #[test]
    fn svg_is_escaped_and_closed() {
        let s = svg(&report());
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("XDP &lt;native&gt;") && !s.contains("XDP <native>"));
    }
}
