//! The Prometheus text exposition format (version 0.0.4): `# HELP`,
//! `# TYPE`, then one line per sample, label values escaped.

use std::fmt::Write as _;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
}

/// One metric family: a name, its help and type, and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub samples: Vec<Sample>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: Vec<(&'static str, String)>,
    pub value: f64,
}

impl Family {
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: Kind) -> Self {
        Family {
            name: sanitize_name(&name.into()),
            help: help.into(),
            kind,
            samples: Vec::new(),
        }
    }

    pub fn with(mut self, labels: Vec<(&'static str, String)>, value: f64) -> Self {
        self.samples.push(Sample { labels, value });
        self
    }

    pub fn push(&mut self, labels: Vec<(&'static str, String)>, value: f64) {
        self.samples.push(Sample { labels, value });
    }
}

/// A valid metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, other characters
/// (such as the dots of chart ids) become `_`.
pub fn sanitize_name(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

fn escape_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn write_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        // Integers print without ".0"; Display round-trips every float.
        let _ = write!(out, "{v}");
    }
}

/// Renders families in order. A family with no sample is left out (a
/// `# TYPE` without samples is legal, but says nothing).
pub fn render(families: &[Family]) -> String {
    let mut out = String::new();
    for f in families.iter().filter(|f| !f.samples.is_empty()) {
        out.push_str("# HELP ");
        out.push_str(&f.name);
        out.push(' ');
        escape_help(&mut out, &f.help);
        let kind = match f.kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let _ = writeln!(out, "\n# TYPE {} {kind}", f.name);
        for s in &f.samples {
            out.push_str(&f.name);
            if !s.labels.is_empty() {
                out.push('{');
                for (i, (k, v)) in s.labels.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(k);
                    out.push_str("=\"");
                    escape_label_value(&mut out, v);
                    out.push('"');
                }
                out.push('}');
            }
            out.push(' ');
            write_value(&mut out, s.value);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_render_with_help_type_and_escaped_labels() {
        let f = Family::new(
            "netsight_process_tcp_tx_bytes_total",
            "Bytes sent\\by TCP\nper process.",
            Kind::Counter,
        )
        .with(
            vec![("pid", "42".into()), ("comm", "a\"b\\c\nd".into())],
            1234.0,
        )
        .with(vec![("comm", "other".into())], 0.5);
        let g = Family::new("netsight_agent_up", "Up.", Kind::Gauge).with(vec![], f64::NAN);
        let empty = Family::new("nothing", "x", Kind::Gauge);
        assert_eq!(
            render(&[f, empty, g]),
            "# HELP netsight_process_tcp_tx_bytes_total Bytes sent\\\\by TCP\\nper process.\n\
             # TYPE netsight_process_tcp_tx_bytes_total counter\n\
             netsight_process_tcp_tx_bytes_total{pid=\"42\",comm=\"a\\\"b\\\\c\\nd\"} 1234\n\
             netsight_process_tcp_tx_bytes_total{comm=\"other\"} 0.5\n\
             # HELP netsight_agent_up Up.\n\
             # TYPE netsight_agent_up gauge\n\
             netsight_agent_up NaN\n"
        );
    }

    #[test]
    fn names_are_sanitized() {
        assert_eq!(
            sanitize_name("netsight_system_ipv4.tcppackets"),
            "netsight_system_ipv4_tcppackets"
        );
        assert_eq!(sanitize_name("9lives-x"), "_9lives_x");
        assert_eq!(sanitize_name(""), "_");
    }

    #[test]
    fn large_counters_print_exactly() {
        let f = Family::new("c_total", "c", Kind::Counter).with(vec![], 9_007_199_254_740_992.0);
        assert!(render(&[f]).ends_with("c_total 9007199254740992\n"));
    }
}
