//! `netsight agent`: long-running exporter (being built; see issue 5).

#[derive(Debug, clap::Args)]
pub struct AgentArgs {}

pub fn run(_args: AgentArgs) -> anyhow::Result<()> {
    anyhow::bail!("agent is not built yet")
}
