//! `xdp stats`: exact per-interface and per-rule counts (SPEC §2 JSON).

use std::io::Write;

use netsight_bpf::probes::xdp::{current_netns, Blacklist};
use serde::Serialize;

use super::lift;
use crate::table;

#[derive(Debug, Serialize, PartialEq)]
pub struct StatsJson {
    pub interfaces: Vec<IfaceJson>,
    pub rules: Vec<RuleJson>,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct IfaceJson {
    pub ifname: String,
    pub ifindex: u32,
    pub mode: &'static str,
    pub passed: u64,
    pub dropped: u64,
}

#[derive(Debug, Serialize, PartialEq)]
pub struct RuleJson {
    pub cidr: String,
    pub hits: u64,
}

pub fn run(json: bool) -> anyhow::Result<()> {
    let Some(bl) = Blacklist::open().map_err(lift)? else {
        eprintln!("{}", super::NO_BLACKLIST);
        let empty = StatsJson {
            interfaces: vec![],
            rules: vec![],
        };
        return write_stdout(&render(&empty, 0, json)?);
    };
    // Interface names and indexes only mean something in their own
    // namespace: show this one's, and say how many live elsewhere.
    let here = current_netns().map_err(lift)?;
    let all = bl.interfaces().map_err(lift)?;
    let elsewhere = all.iter().filter(|i| i.netns_ino != here).count();
    let interfaces = all
        .into_iter()
        .filter(|i| i.netns_ino == here)
        .map(|i| IfaceJson {
            ifname: i.ifname,
            ifindex: i.ifindex,
            mode: i.mode.as_str(),
            passed: i.passed,
            dropped: i.dropped,
        })
        .collect();
    let rules = bl
        .rule_hits()
        .map_err(lift)?
        .into_iter()
        .map(|r| RuleJson {
            cidr: r.cidr.to_string(),
            hits: r.hits,
        })
        .collect();
    write_stdout(&render(&StatsJson { interfaces, rules }, elsewhere, json)?)
}

fn render(s: &StatsJson, elsewhere: usize, json: bool) -> anyhow::Result<String> {
    if json {
        return Ok(serde_json::to_string(s)? + "\n");
    }
    let ifaces: Vec<Vec<String>> = s
        .interfaces
        .iter()
        .map(|i| {
            vec![
                i.ifname.clone(),
                i.ifindex.to_string(),
                i.mode.into(),
                i.passed.to_string(),
                i.dropped.to_string(),
            ]
        })
        .collect();
    let mut out = table::render(
        &["INTERFACE", "IFINDEX", "MODE", "PASSED", "DROPPED"],
        &ifaces,
        3,
    );
    if elsewhere > 0 {
        out.push_str(&format!(
            "({elsewhere} more attachment(s) in other network namespaces)\n"
        ));
    }
    out.push('\n');
    let rules: Vec<Vec<String>> = s
        .rules
        .iter()
        .map(|r| vec![r.cidr.clone(), r.hits.to_string()])
        .collect();
    out.push_str(&table::render(&["RULE", "HITS"], &rules, 1));
    Ok(out)
}

/// Writes to stdout; a closed pipe (`| head`) is not an error.
pub fn write_stdout(s: &str) -> anyhow::Result<()> {
    match std::io::stdout().lock().write_all(s.as_bytes()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_matches_spec_shape() {
        let s = StatsJson {
            interfaces: vec![IfaceJson {
                ifname: "eth0".into(),
                ifindex: 2,
                mode: "native",
                passed: 0,
                dropped: 0,
            }],
            rules: vec![RuleJson {
                cidr: "10.1.0.0/24".into(),
                hits: 0,
            }],
        };
        assert_eq!(
            render(&s, 0, true).unwrap().trim(),
            r#"{"interfaces":[{"ifname":"eth0","ifindex":2,"mode":"native","passed":0,"dropped":0}],"rules":[{"cidr":"10.1.0.0/24","hits":0}]}"#
        );
    }

    #[test]
    fn table_lists_interfaces_and_rules() {
        let s = StatsJson {
            interfaces: vec![IfaceJson {
                ifname: "veth0".into(),
                ifindex: 5,
                mode: "generic",
                passed: 3,
                dropped: 4,
            }],
            rules: vec![RuleJson {
                cidr: "2001:db8::/32".into(),
                hits: 4,
            }],
        };
        let t = render(&s, 1, false).unwrap();
        assert!(
            t.contains("veth0") && t.contains("generic") && t.contains("2001:db8::/32"),
            "{t}"
        );
        assert!(t.contains("1 more attachment"), "{t}");
    }
}
