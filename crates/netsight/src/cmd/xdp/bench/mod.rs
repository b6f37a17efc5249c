//! `xdp bench` (being built).

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// A few seconds in total (CI): short cases, fewer prefixes.
    #[arg(long)]
    pub quick: bool,
}

pub fn run(_args: &BenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("xdp bench is not built yet")
}
