//! XDP source blacklist (SPEC §2, issue 7): IPv4 and IPv6 prefixes checked
//! against the source address of every frame at the driver hook, longest
//! prefix first (one hash lookup per prefix length in use), with exact
//! per-CPU counters per rule and per interface.
//!
//! Layout on bpffs (`/sys/fs/bpf/netsight/xdp/`): the maps of
//! `program::MAP_NAMES` and `link_<slot>` per attached interface. Older
//! layouts (LPM tries `bl_v4`/`bl_v6`; no compact IPv4 table; per-slot
//! counters in `rule_hits`; no per-CPU copies of the table) are upgraded in place by the next command
//! (migrate.rs).
//! Needs Linux >= 5.12 (XDP bpf_link, BPF_LINK_UPDATE, BPF compare-and-swap).

mod attach;
mod blacklist;
mod bpffs;
mod cidr;
mod error;
mod flood_gen;
mod grace;
mod hits;
mod migrate;
mod program;
mod raw;
mod run_stats;
mod table;
mod test_run;

pub use attach::{current_netns, ifindex_of, Attachment, IfaceStats, XdpMode};
pub use blacklist::{AddOutcome, Blacklist, RuleHits};
pub use cidr::{Cidr, CidrError};
pub use error::{Result, XdpError};
pub use raw::Geometry;

/// The blacklist's one program (xdp.bpf.c).
pub const PROGRAM_NAME: &str = "netsight_xdp";
pub use flood_gen::FloodGen;
/// The largest count a CPU keeps in its copy of the compact table before it
/// carries it to the rule's slot (xdp.h: PFX4_COUNT_MAX; for tests).
#[doc(hidden)]
pub use raw::PFX4_COUNT_MAX as COPY_COUNT_MAX;
pub use raw::{MAX_IFACES, MAX_RULES};
pub use run_stats::{enable_run_stats, RunStats, RunStatsGuard};
pub use test_run::{TestProgram, Verdict};

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/xdp.skel.rs"));
}
