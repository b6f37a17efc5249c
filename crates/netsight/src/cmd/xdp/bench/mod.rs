//! `netsight xdp bench`: floods a private veth with UDP from blacklisted
//! sources while a legitimate client runs TCP request/response, and
//! compares how much receiver CPU each filter spends per dropped packet and
//! how much legitimate work survives. See BENCHMARKS.md for the method.

mod filters;
mod flood;
mod legit;
mod prefixes;
mod report;
mod run;
mod topo;

use std::path::PathBuf;

use netsight_bpf::probes::xdp::MAX_RULES;

use crate::error::usage;

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A few seconds in all (CI): short cases and 1000 prefixes for the large set.
    #[arg(long)]
    pub quick: bool,
    /// Seconds measured per case [default: 5, with --quick 0.3].
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Size of the large rule set [default: 100000, with --quick 1000].
    #[arg(long, value_name = "N")]
    pub prefixes: Option<usize>,
    /// Flood rate in thousands of frames/s, paced in bursts of 64; 0: as fast as the
    /// generators can (the default).
    #[arg(long, value_name = "KPPS", default_value_t = 0.0)]
    pub rate: f64,
    /// Flood sources come from the first N prefixes of the large set only
    /// (a concentrated attack) [default: all of them].
    #[arg(long, value_name = "N")]
    pub hot: Option<usize>,
    /// Only these cases (comma-separated): none, iptables-raw, iptables-input,
    /// nftables, ipset, xdp-generic, xdp-native.
    #[arg(long, value_name = "CASE,...", value_delimiter = ',')]
    pub cases: Vec<String>,
    /// Where to write the JSON report.
    #[arg(long, value_name = "FILE", default_value = "xdp-bench.json")]
    pub json: PathBuf,
    /// Where to write the SVG chart.
    #[arg(long, value_name = "FILE", default_value = "xdp-bench.svg")]
    pub svg: PathBuf,
}

/// Validated settings.
pub struct Settings {
    pub duration: f64,
    pub warmup: f64,
    pub large: usize,
    pub cases: Vec<filters::Case>,
    pub quick: bool,
    /// Frames/s, or None for unpaced.
    pub rate: Option<f64>,
    /// The flood's sources span this many /26 blocks (prefixes of the large set).
    pub flood_blocks: usize,
}

fn settings(args: &BenchArgs) -> anyhow::Result<Settings> {
    let duration = args.duration.unwrap_or(if args.quick { 0.3 } else { 5.0 });
    if !(0.1..=600.0).contains(&duration) {
        return Err(usage(format!(
            "--duration {duration}: must be between 0.1 and 600 seconds"
        )));
    }
    let large = args
        .prefixes
        .unwrap_or(if args.quick { 1000 } else { 100_000 });
    if !(2..=MAX_RULES as usize).contains(&large) {
        return Err(usage(format!(
            "--prefixes {large}: must be between 2 and {MAX_RULES}"
        )));
    }
    let cases = if args.cases.is_empty() {
        filters::ALL.to_vec()
    } else {
        let mut out = Vec::new();
        for name in &args.cases {
            let case = filters::ALL
                .iter()
                .find(|c| c.id() == name)
                .ok_or_else(|| usage(format!("--cases: unknown case '{name}'")))?;
            out.push(*case);
        }
        out
    };
    if !(0.0..=100_000.0).contains(&args.rate) {
        return Err(usage(format!(
            "--rate {}: must be between 0 (unpaced) and 100000 kpps",
            args.rate
        )));
    }
    let rate = (args.rate > 0.0).then_some(args.rate * 1e3);
    let flood_blocks = args.hot.unwrap_or(large);
    if !(1..=large).contains(&flood_blocks) {
        return Err(usage(format!(
            "--hot {flood_blocks}: must be between 1 and --prefixes ({large})"
        )));
    }
    let warmup = if args.quick { 0.2 } else { 1.0 };
    Ok(Settings {
        duration,
        warmup,
        large,
        cases,
        quick: args.quick,
        rate,
        flood_blocks,
    })
}

pub fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let settings = settings(args)?;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("xdp bench creates network namespaces and loads BPF: run it as root");
    }
    crate::signals::install();
    let report = run::all(&settings)?;
    print!("{}", report::table(&report));
    std::fs::write(&args.json, serde_json::to_string_pretty(&report)? + "\n")
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.json.display()))?;
    std::fs::write(&args.svg, report::svg(&report))
        .map_err(|e| anyhow::anyhow!("writing {}: {e}", args.svg.display()))?;
    eprintln!("wrote {} and {}", args.json.display(), args.svg.display());
    if report.interrupted {
        anyhow::bail!("interrupted: the report is partial");
    }
    Ok(())
}
