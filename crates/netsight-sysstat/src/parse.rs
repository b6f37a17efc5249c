//! Parsers for the three text layouts of /proc/net counter files. They never
//! panic: a line they cannot read is skipped and counted, never guessed at.

use std::collections::BTreeMap;

/// Counter values of one namespace at one instant, keyed `Section.Field`
/// (`Tcp.ActiveOpens`, `TcpExt.ListenOverflows`, `snmp6.Ip6InReceives`,
/// `sockstat.TCP.inuse`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    values: BTreeMap<String, u64>,
    /// Lines (or header/value line pairs) that could not be read.
    pub skipped_lines: u32,
}

impl Counters {
    pub fn get(&self, key: &str) -> Option<u64> {
        self.values.get(key).copied()
    }

    pub fn insert(&mut self, key: String, value: u64) {
        self.values.insert(key, value);
    }

    /// Every `(key, value)` whose key starts with `prefix`, in key order.
    pub fn with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, u64)> + 'a {
        self.values
            .range(prefix.to_string()..)
            .take_while(move |(k, _)| k.starts_with(prefix))
            .map(|(k, v)| (k.as_str(), *v))
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds everything from `other` (keys are already file-unique).
    pub fn merge(&mut self, other: Counters) {
        self.values.extend(other.values);
        self.skipped_lines += other.skipped_lines;
    }
}

/// How a counter value reads: kernel counters are unsigned, but a few
/// constants print as `-1` (`Tcp MaxConn`); those are no counters, not errors.
enum Value {
    Counter(u64),
    NotACounter,
    Garbage,
}

fn read_value(tok: &str) -> Value {
    if let Ok(v) = tok.parse::<u64>() {
        Value::Counter(v)
    } else if tok.parse::<i64>().is_ok() {
        Value::NotACounter
    } else {
        Value::Garbage
    }
}

/// `/proc/net/snmp` and `/proc/net/netstat`: a header line of names and a
/// value line, both starting with the same `Section:`.
pub fn parse_header_value_pairs(text: &str) -> Counters {
    let mut out = Counters::default();
    let mut lines = text.lines().filter(|l| !l.trim().is_empty()).peekable();
    while let Some(header) = lines.next() {
        let Some((section, names)) = header.split_once(':') else {
            out.skipped_lines += 1;
            continue;
        };
        let next_is_same_section = lines
            .peek()
            .and_then(|l| l.split_once(':'))
            .is_some_and(|(s, _)| s == section);
        if !next_is_same_section {
            out.skipped_lines += 1;
            continue;
        }
        let values_line = lines.next().unwrap_or_default();
        let values = values_line.split_once(':').map_or("", |(_, v)| v);
        let names: Vec<&str> = names.split_whitespace().collect();
        let values: Vec<&str> = values.split_whitespace().collect();
        // A pair whose lengths differ cannot be aligned safely: a shifted
        // value under the wrong name is worse than no value.
        if names.len() != values.len() || names.is_empty() {
            out.skipped_lines += 2;
            continue;
        }
        let section = section.trim();
        for (name, tok) in names.iter().zip(&values) {
            match read_value(tok) {
                Value::Counter(v) => out.insert(format!("{section}.{name}"), v),
                Value::NotACounter => {}
                Value::Garbage => out.skipped_lines += 1,
            }
        }
    }
    out
}

/// `/proc/net/snmp6`: one `Name value` per line. Keys get `prefix.`.
pub fn parse_name_value_lines(text: &str, prefix: &str) -> Counters {
    let mut out = Counters::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let mut toks = line.split_whitespace();
        match (toks.next(), toks.next(), toks.next()) {
            (Some(name), Some(tok), None) => match read_value(tok) {
                Value::Counter(v) => out.insert(format!("{prefix}.{name}"), v),
                Value::NotACounter => {}
                Value::Garbage => out.skipped_lines += 1,
            },
            _ => out.skipped_lines += 1,
        }
    }
    out
}

/// `/proc/net/sockstat{,6}`: `TCP: inuse 1 orphan 0 tw 0 alloc 1 mem 362`.
/// Keys are `prefix.Section.field`.
pub fn parse_sockstat(text: &str, prefix: &str) -> Counters {
    let mut out = Counters::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((section, rest)) = line.split_once(':') else {
            out.skipped_lines += 1;
            continue;
        };
        let toks: Vec<&str> = rest.split_whitespace().collect();
        if toks.is_empty() || toks.len() % 2 != 0 {
            out.skipped_lines += 1;
            continue;
        }
        for pair in toks.chunks_exact(2) {
            match read_value(pair[1]) {
                Value::Counter(v) => {
                    out.insert(format!("{prefix}.{}.{}", section.trim(), pair[0]), v)
                }
                Value::NotACounter => {}
                Value::Garbage => out.skipped_lines += 1,
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_value_pairs_read_by_name() {
        let c = parse_header_value_pairs("Tcp: RtoAlgorithm MaxConn ActiveOpens\nTcp: 1 -1 24\n");
        assert_eq!(c.get("Tcp.ActiveOpens"), Some(24));
        assert_eq!(
            c.get("Tcp.MaxConn"),
            None,
            "-1 is a constant, not a counter"
        );
        assert_eq!(c.skipped_lines, 0);
    }

    #[test]
    fn misaligned_pair_is_skipped_not_shifted() {
        let c =
            parse_header_value_pairs("Udp: InDatagrams NoPorts\nUdp: 5\nIp: InReceives\nIp: 7\n");
        assert_eq!(c.get("Udp.InDatagrams"), None);
        assert_eq!(c.get("Ip.InReceives"), Some(7));
        assert_eq!(c.skipped_lines, 2);
    }

    #[test]
    fn orphan_header_and_garbage_are_counted() {
        let c = parse_header_value_pairs(
            "Ip: A B\nTcp: X\nTcp: 1\nno colon here\nIcmp: InMsgs\nIcmp: lots\n",
        );
        assert_eq!(c.get("Tcp.X"), Some(1));
        assert_eq!(c.get("Icmp.InMsgs"), None);
        assert_eq!(c.skipped_lines, 3);
    }

    #[test]
    fn name_value_lines() {
        let c = parse_name_value_lines(
            "Ip6InReceives \t 12\nbroken\nIcmp6InType1 3 extra\n",
            "snmp6",
        );
        assert_eq!(c.get("snmp6.Ip6InReceives"), Some(12));
        assert_eq!(c.len(), 1);
        assert_eq!(c.skipped_lines, 2);
    }

    #[test]
    fn sockstat_lines() {
        let c = parse_sockstat(
            "sockets: used 10\nTCP: inuse 1 orphan 0 tw 3 alloc 1 mem 362\nRAW: inuse\n",
            "sockstat",
        );
        assert_eq!(c.get("sockstat.sockets.used"), Some(10));
        assert_eq!(c.get("sockstat.TCP.tw"), Some(3));
        assert_eq!(c.get("sockstat.TCP.mem"), Some(362));
        assert_eq!(c.skipped_lines, 1);
    }

    #[test]
    fn prefix_iteration_stays_in_prefix() {
        let c = parse_name_value_lines(
            "Icmp6InType1 1\nIcmp6InType128 2\nIcmp6OutType1 3\n",
            "snmp6",
        );
        let got: Vec<_> = c.with_prefix("snmp6.Icmp6InType").collect();
        assert_eq!(
            got,
            vec![("snmp6.Icmp6InType1", 1), ("snmp6.Icmp6InType128", 2)]
        );
    }
}
