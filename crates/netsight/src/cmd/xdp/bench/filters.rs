//! The contenders. Each installs the blacklist in the receiver namespace,
//! reports how many packets it dropped, and is removed before the next.

use std::fmt::Write as _;

use anyhow::Context;
use netsight_bpf::probes::xdp::{Attachment, Blacklist, Cidr, RunStats, XdpMode};

use super::topo::{spawn_in, Topology};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    NoFilter,
    IptablesRaw,
    IptablesInput,
    Nftables,
    Ipset,
    XdpGeneric,
    XdpNative,
}

pub const ALL: [Case; 7] = [
    Case::NoFilter,
    Case::IptablesRaw,
    Case::IptablesInput,
    Case::Nftables,
    Case::Ipset,
    Case::XdpGeneric,
    Case::XdpNative,
];

impl Case {
    pub fn id(self) -> &'static str {
        match self {
            Case::NoFilter => "none",
            Case::IptablesRaw => "iptables-raw",
            Case::IptablesInput => "iptables-input",
            Case::Nftables => "nftables",
            Case::Ipset => "ipset",
            Case::XdpGeneric => "xdp-generic",
            Case::XdpNative => "xdp-native",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Case::NoFilter => "no filter",
            Case::IptablesRaw => "iptables raw PREROUTING",
            Case::IptablesInput => "iptables filter INPUT (conntrack)",
            Case::Nftables => "nftables set (prerouting raw)",
            Case::Ipset => "ipset hash:net (raw)",
            Case::XdpGeneric => "XDP generic",
            Case::XdpNative => "XDP native",
        }
    }

    /// The program this case needs, if any.
    pub fn tool(self) -> Option<&'static str> {
        match self {
            Case::IptablesRaw | Case::IptablesInput => Some("iptables-restore"),
            Case::Nftables => Some("nft"),
            Case::Ipset => Some("ipset"),
            _ => None,
        }
    }
}

/// An installed filter; `remove` undoes it (the namespace going away does too).
pub enum Installed {
    Nothing,
    Netfilter(Case),
    Xdp { bl: Box<Blacklist>, att: Attachment },
}

fn iptables_script(
    table: &str,
    chain: &str,
    head: &[&str],
    rules: impl Iterator<Item = String>,
) -> String {
    let mut s = format!("*{table}\n:{chain} ACCEPT [0:0]\n");
    for h in head {
        let _ = writeln!(s, "-A {chain} {h}");
    }
    for r in rules {
        let _ = writeln!(s, "-A {chain} {r}");
    }
    s.push_str("COMMIT\n");
    s
}

pub fn install(topo: &Topology, case: Case, prefixes: &[String]) -> anyhow::Result<Installed> {
    match case {
        Case::NoFilter => Ok(Installed::Nothing),
        Case::IptablesRaw => {
            let rules = prefixes.iter().map(|p| format!("-s {p} -j DROP"));
            topo.in_rx_stdin(
                &["iptables-restore"],
                &iptables_script("raw", "PREROUTING", &[], rules),
            )?;
            Ok(Installed::Netfilter(case))
        }
        Case::IptablesInput => {
            // The usual stateful rule set: established traffic is accepted
            // first, so conntrack sees (and tracks) every packet.
            let rules = prefixes.iter().map(|p| format!("-s {p} -j DROP"));
            let head = ["-m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT"];
            topo.in_rx_stdin(
                &["iptables-restore"],
                &iptables_script("filter", "INPUT", &head, rules),
            )?;
            Ok(Installed::Netfilter(case))
        }
        Case::Nftables => {
            let mut s = String::from(
                "table ip nsbench {\n set bl { type ipv4_addr; flags interval; elements = {\n",
            );
            s.push_str(&prefixes.join(",\n"));
            s.push_str("\n} }\n chain pre { type filter hook prerouting priority raw; ip saddr @bl counter drop; }\n}\n");
            topo.in_rx_stdin(&["nft", "-f", "-"], &s)?;
            Ok(Installed::Netfilter(case))
        }
        Case::Ipset => {
            let mut s = format!(
                "create nsbench-bl hash:net family inet hashsize 65536 maxelem {}\n",
                prefixes.len().max(65536) * 2
            );
            for p in prefixes {
                let _ = writeln!(s, "add nsbench-bl {p}");
            }
            topo.in_rx_stdin(&["ipset", "restore"], &s)?;
            let rule = ["-m set --match-set nsbench-bl src -j DROP"];
            topo.in_rx_stdin(
                &["iptables-restore"],
                &iptables_script("raw", "PREROUTING", &rule, std::iter::empty()),
            )?;
            Ok(Installed::Netfilter(case))
        }
        Case::XdpGeneric | Case::XdpNative => {
            let mode = if case == Case::XdpNative {
                XdpMode::Native
            } else {
                XdpMode::Generic
            };
            // A private blacklist: the host's pinned one is never touched, and
            // the filter dies with this process whatever happens.
            let bl = Blacklist::private()?;
            let cidrs: Vec<Cidr> = prefixes
                .iter()
                .map(|p| p.parse())
                .collect::<Result<_, _>>()?;
            bl.add(&cidrs)?;
            let dev = topo.rx_dev.clone();
            let (bl, att) = spawn_in(&topo.rx_ns, "xdp-attach", None, move || {
                let att = bl.attach(&dev, Some(mode))?;
                Ok((bl, att))
            })?
            .join()
            .map_err(|_| anyhow::anyhow!("attach thread panicked"))??;
            Ok(Installed::Xdp {
                bl: Box::new(bl),
                att,
            })
        }
    }
}

impl Installed {
    /// Run statistics of the XDP program (zero for other filters).
    pub fn run_stats(&self) -> anyhow::Result<RunStats> {
        match self {
            Installed::Xdp { att, .. } => Ok(att.run_stats()?),
            _ => Ok(RunStats::default()),
        }
    }

    /// Packets the filter dropped so far (None: the filter keeps no count).
    pub fn dropped(&self, topo: &Topology) -> anyhow::Result<Option<u64>> {
        match self {
            Installed::Nothing => Ok(None),
            Installed::Xdp { bl, att } => Ok(Some(bl.iface_counters(att.slot())?.1)),
            Installed::Netfilter(case) => {
                let (table, chain) = match case {
                    Case::IptablesInput => ("filter", "INPUT"),
                    Case::Nftables => return nft_counter(topo).map(Some),
                    _ => ("raw", "PREROUTING"),
                };
                let out = topo.in_rx(&["iptables", "-t", table, "-L", chain, "-vxn"])?;
                let drops = out
                    .lines()
                    .filter(|l| l.contains("DROP"))
                    .filter_map(|l| l.split_whitespace().next()?.parse::<u64>().ok())
                    .sum();
                Ok(Some(drops))
            }
        }
    }

    pub fn remove(self, topo: &Topology) -> anyhow::Result<()> {
        match self {
            Installed::Nothing | Installed::Xdp { .. } => Ok(()), // dropping the link detaches
            Installed::Netfilter(Case::IptablesInput) => {
                topo.in_rx(&["iptables", "-F", "INPUT"]).map(drop)
            }
            Installed::Netfilter(Case::Nftables) => topo
                .in_rx(&["nft", "delete", "table", "ip", "nsbench"])
                .map(drop),
            Installed::Netfilter(Case::Ipset) => {
                topo.in_rx(&["iptables", "-t", "raw", "-F", "PREROUTING"])?;
                topo.in_rx(&["ipset", "destroy", "nsbench-bl"]).map(drop)
            }
            Installed::Netfilter(_) => topo
                .in_rx(&["iptables", "-t", "raw", "-F", "PREROUTING"])
                .map(drop),
        }
    }
}

fn nft_counter(topo: &Topology) -> anyhow::Result<u64> {
    let out = topo.in_rx(&["nft", "list", "chain", "ip", "nsbench", "pre"])?;
    let after = out
        .split("counter packets ")
        .nth(1)
        .context("no nft counter")?;
    Ok(after
        .split_whitespace()
        .next()
        .context("nft counter")?
        .parse()?)
}
