//! `netsight top`: live terminal view (being built; see issue 6).

#[derive(Debug, clap::Args)]
pub struct TopArgs {}

pub fn run(_args: TopArgs) -> anyhow::Result<()> {
    anyhow::bail!("top is not built yet")
}
