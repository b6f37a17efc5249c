//! XDP source blacklist (SPEC §2, issue 7): IPv4 and IPv6 prefixes in LPM
//! tries, checked against the source address of every frame at the driver
//! hook, with exact per-CPU counters per rule and per interface.
//!
//! Layout on bpffs (`/sys/fs/bpf/netsight/xdp/`): the maps `bl_v4`, `bl_v6`,
//! `rule_hits`, `iface_stats`, `iface_table`, and `link_<slot>` per attached
//! interface. Needs Linux >= 5.9 (XDP bpf_link); LPM trie iteration >= 4.16.

mod attach;
mod blacklist;
mod bpffs;
mod cidr;
mod error;
mod flood_gen;
mod program;
mod raw;
mod test_run;

pub use attach::{current_netns, ifindex_of, Attachment, IfaceStats, XdpMode};
pub use blacklist::{AddOutcome, Blacklist, RuleHits};
pub use cidr::{Cidr, CidrError};
pub use error::{Result, XdpError};
pub use flood_gen::FloodGen;
pub use raw::{MAX_IFACES, MAX_RULES};
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
