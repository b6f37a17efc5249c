//! One module per subcommand.

pub mod agent;
mod doctor;
pub mod ping;
mod selftest;
pub mod sock;
mod stat;
pub mod stat_system;
pub mod top;
mod trace;
pub mod xdp;

use crate::cli::{Cli, Command};

pub fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(path) = &cli.btf {
        netsight_bpf::btf::set_custom_path(path).map_err(|e| crate::error::usage(e.to_string()))?;
    }
    if !cli.refuse.is_empty() {
        netsight_bpf::loader::set_user_refused(cli.refuse.clone());
    }
    let known = netsight_bpf::probes::program_names();
    let refused = netsight_bpf::loader::user_refused();
    if let Some(bad) = refused.iter().find(|p| !known.contains(&p.as_str())) {
        return Err(crate::error::usage(format!(
            "--refuse/{}: no BPF program named '{bad}' (netsight's programs: {})",
            netsight_bpf::loader::REFUSE_ENV,
            known.join(", ")
        )));
    }
    match cli.command {
        Command::Doctor(args) => doctor::run(&args),
        Command::Stat(args) => stat::run(&args),
        Command::Selftest(args) => selftest::run(&args),
        Command::Trace(args) => trace::run(&args),
        Command::Xdp(args) => xdp::run(args),
        Command::Top(args) => top::run(args),
        Command::Agent(args) => agent::run(args),
        Command::Sock(args) => sock::run(args),
        Command::Ping(args) => ping::run(&args),
    }
}

/// `--netns NAME|PATH|INODE` as the inode number that events and sockets
/// carry. The one resolver of trace and stat: a namespace that does not
/// exist, or a file that is not a network namespace, is a usage error.
pub fn netns_inode(arg: &str) -> anyhow::Result<u32> {
    let lift = |e: netsight_sysstat::SysstatError| {
        if e.is_usage() {
            crate::error::usage(e.to_string())
        } else {
            anyhow::Error::new(e)
        }
    };
    let spec = netsight_sysstat::netns::NetnsSpec::parse(arg).map_err(lift)?;
    let ino = spec.inode().map_err(lift)?;
    u32::try_from(ino)
        .map_err(|_| crate::error::usage(format!("--netns: {ino} is not a namespace inode")))
}

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// Effective capabilities of this process, from /proc/self/status.
fn effective_caps() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        })
        .unwrap_or(0)
}

/// Loading tracing programs needs CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN);
/// say so plainly instead of letting the kernel answer EPERM.
pub fn require_root() -> anyhow::Result<()> {
    let caps = effective_caps();
    let has = |c: u32| caps & (1 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        return Ok(());
    }
    anyhow::bail!("permission denied: run as root, or grant CAP_BPF and CAP_PERFMON")
}
