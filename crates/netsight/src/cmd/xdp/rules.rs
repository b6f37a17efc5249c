//! `xdp add`, `xdp del`, `xdp list`.

use std::path::PathBuf;

use netsight_bpf::probes::xdp::{Blacklist, Cidr, XdpError};
use serde::Serialize;

use super::{discard_if_empty, lift, read_source, NO_BLACKLIST};

#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    /// Prefixes such as 10.1.0.0/24, 2001:db8::/32, or a host address.
    #[arg(value_name = "CIDR", required_unless_present = "from_file")]
    pub cidrs: Vec<String>,
    /// Also read prefixes from FILE (one a line; blank lines and # comments
    /// ignored; - for stdin).
    #[arg(long, value_name = "FILE")]
    pub from_file: Option<PathBuf>,
}

/// Parses every prefix before touching the kernel, so a bad line changes nothing.
pub fn parse_all(args: &RuleArgs) -> anyhow::Result<Vec<Cidr>> {
    let mut out = Vec::with_capacity(args.cidrs.len());
    for s in &args.cidrs {
        out.push(s.parse::<Cidr>().map_err(|e| lift(XdpError::from(e)))?);
    }
    if let Some(path) = &args.from_file {
        let text = read_source(path)?;
        out.reserve(text.len() / 12);
        for (i, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let cidr = line
                .parse::<Cidr>()
                .map_err(|e| crate::error::usage(format!("{}:{}: {e}", path.display(), i + 1)))?;
            out.push(cidr);
        }
    }
    Ok(out)
}

pub fn add(args: &RuleArgs) -> anyhow::Result<()> {
    let cidrs = parse_all(args)?;
    let bl = Blacklist::open_or_create().map_err(lift)?;
    let done = match bl.add(&cidrs) {
        Ok(done) => done,
        Err(e) => return Err(discard_if_empty(bl, e)),
    };
    if done.already_present > 0 {
        println!(
            "added {} prefix(es), {} already present",
            done.added, done.already_present
        );
    } else {
        println!("added {} prefix(es)", done.added);
    }
    Ok(())
}

pub fn del(args: &RuleArgs) -> anyhow::Result<()> {
    let cidrs = parse_all(args)?;
    let Some(bl) = Blacklist::open().map_err(lift)? else {
        let first = cidrs.first().map(ToString::to_string).unwrap_or_default();
        return Err(lift(XdpError::NoBlacklist(first)));
    };
    let n = match bl.remove(&cidrs) {
        Ok(n) => n,
        Err(e) => return Err(discard_if_empty(bl, e)),
    };
    if bl.is_empty().map_err(lift)? {
        bl.remove_pins().map_err(lift)?;
    }
    println!("removed {n} prefix(es)");
    Ok(())
}

#[derive(Serialize)]
struct ListJson {
    rules: Vec<RuleJson>,
}

#[derive(Serialize)]
struct RuleJson {
    cidr: String,
}

pub fn list(json: bool) -> anyhow::Result<()> {
    let rules = match Blacklist::open().map_err(lift)? {
        Some(bl) => bl.rules().map_err(lift)?,
        None => {
            eprintln!("{NO_BLACKLIST}");
            Vec::new()
        }
    };
    let mut out = String::new();
    if json {
        let doc = ListJson {
            rules: rules
                .iter()
                .map(|c| RuleJson {
                    cidr: c.to_string(),
                })
                .collect(),
        };
        out = serde_json::to_string(&doc)?;
        out.push('\n');
    } else {
        for c in &rules {
            out.push_str(&c.to_string());
            out.push('\n');
        }
    }
    crate::cmd::xdp::stats::write_stdout(&out)
}
