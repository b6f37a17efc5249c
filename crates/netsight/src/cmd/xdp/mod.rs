//! `netsight xdp`: the XDP source blacklist (SPEC §2, issue 7). The rules and
//! the attachments live on bpffs, so every subcommand is a short-lived edit
//! of kernel state; `bench` measures the filter against netfilter.

mod bench;
mod rules;
mod stats;

use std::path::PathBuf;

use netsight_bpf::probes::xdp::{ifindex_of, Blacklist, XdpError, XdpMode};

#[derive(Debug, clap::Args)]
pub struct XdpArgs {
    #[command(subcommand)]
    pub command: XdpCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum XdpCommand {
    /// Attach the blacklist filter to an interface (stays after netsight exits).
    Attach {
        /// Interface name.
        iface: String,
        /// Where the program runs; default: native if the driver can, else generic.
        #[arg(long, value_enum)]
        mode: Option<ModeArg>,
    },
    /// Detach the filter from an interface (or from every interface with --all).
    Detach {
        /// Interface name.
        #[arg(required_unless_present = "all", conflicts_with = "all")]
        iface: Option<String>,
        /// Every interface, in every network namespace.
        #[arg(long)]
        all: bool,
        /// With --all: also delete the blacklist and everything pinned on bpffs.
        #[arg(long, requires = "all")]
        purge: bool,
    },
    /// Add prefixes (IPv4 or IPv6, CIDR or a bare address) to the blacklist.
    Add(rules::RuleArgs),
    /// Remove prefixes from the blacklist.
    Del(rules::RuleArgs),
    /// Print the blacklist.
    List {
        /// One JSON object instead of one prefix per line.
        #[arg(long)]
        json: bool,
    },
    /// Packets passed and dropped per interface, hits per rule (exact counts).
    Stats {
        /// One JSON object instead of tables.
        #[arg(long)]
        json: bool,
    },
    /// Flood a private veth with blacklisted traffic and compare XDP with
    /// iptables, nftables and ipset.
    Bench(bench::BenchArgs),
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ModeArg {
    Native,
    Generic,
}

impl From<ModeArg> for XdpMode {
    fn from(m: ModeArg) -> Self {
        match m {
            ModeArg::Native => XdpMode::Native,
            ModeArg::Generic => XdpMode::Generic,
        }
    }
}

/// Bad input maps to exit status 2, everything else to 1.
pub(crate) fn lift(e: XdpError) -> anyhow::Error {
    if e.is_usage() {
        crate::error::usage(e.to_string())
    } else {
        anyhow::Error::new(e)
    }
}

pub fn run(args: XdpArgs) -> anyhow::Result<()> {
    match args.command {
        XdpCommand::Attach { iface, mode } => attach(&iface, mode.map(XdpMode::from)),
        XdpCommand::Detach { iface, all, purge } => match iface {
            Some(iface) => detach(&iface),
            None => detach_all(all && purge),
        },
        XdpCommand::Add(a) => rules::add(&a),
        XdpCommand::Del(a) => rules::del(&a),
        XdpCommand::List { json } => rules::list(json),
        XdpCommand::Stats { json } => stats::run(json),
        XdpCommand::Bench(a) => bench::run(&a),
    }
}

fn attach(iface: &str, mode: Option<XdpMode>) -> anyhow::Result<()> {
    // A mistyped name must not pin a new, empty blacklist on the way out.
    ifindex_of(iface).map_err(lift)?;
    let bl = Blacklist::open_or_create().map_err(lift)?;
    let att = match bl.attach(iface, mode) {
        Ok(att) => att,
        Err(e) => return Err(discard_if_empty(bl, e)),
    };
    println!("attached to {iface} ({})", att.mode().as_str());
    Ok(())
}

/// A command that failed leaves no empty blacklist behind (typically the
/// one it just created): nothing attached and no rules means nothing to keep.
pub(crate) fn discard_if_empty(bl: Blacklist, e: XdpError) -> anyhow::Error {
    if bl.is_empty().unwrap_or(false) {
        if let Err(cleanup) = bl.remove_pins() {
            eprintln!("netsight: warning: removing the empty blacklist: {cleanup}");
        }
    }
    lift(e)
}

/// Said on stderr by the commands that only read, when there is nothing.
pub(crate) const NO_BLACKLIST: &str =
    "netsight: no XDP blacklist is pinned (nothing attached, no rules)";

fn detach(iface: &str) -> anyhow::Result<()> {
    let Some(bl) = Blacklist::open().map_err(lift)? else {
        return Err(lift(XdpError::NotAttached(iface.to_string())));
    };
    bl.detach(iface).map_err(lift)?;
    // Nothing attached and no rules: leave no trace on bpffs either.
    if bl.is_empty().map_err(lift)? {
        bl.remove_pins().map_err(lift)?;
    }
    println!("detached from {iface}");
    Ok(())
}

fn detach_all(purge: bool) -> anyhow::Result<()> {
    let Some(bl) = Blacklist::open().map_err(lift)? else {
        println!("nothing attached");
        return Ok(());
    };
    let n = bl.detach_all().map_err(lift)?;
    if purge || bl.is_empty().map_err(lift)? {
        bl.remove_pins().map_err(lift)?;
    }
    println!(
        "detached from {n} interface(s){}",
        if purge { ", blacklist removed" } else { "" }
    );
    Ok(())
}

/// Where `--from-file` reads from: a path, or `-` for stdin.
pub(crate) fn read_source(path: &PathBuf) -> anyhow::Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        return Ok(s);
    }
    std::fs::read_to_string(path)
        .map_err(|e| crate::error::usage(format!("--from-file {}: {e}", path.display())))
}
