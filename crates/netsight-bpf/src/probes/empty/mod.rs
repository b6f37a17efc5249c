//! Empty programs on sock_send_length / sock_recv_length, for benchmarks
//! only: what any program on those tracepoints costs, so that netsight's own
//! can be compared with it in the same run (bench/hotpath.sh).

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, Skel, SkelBuilder};
use libbpf_rs::{Link, OpenObject};

use crate::loader::{self, Error};

#[allow(
    clippy::all,
    clippy::undocumented_unsafe_blocks,
    dead_code,
    missing_docs,
    unused_imports
)]
mod skel {
    include!(concat!(env!("OUT_DIR"), "/empty.skel.rs"));
}

/// The attached empty programs; detached on drop.
pub struct EmptyProbe {
    _links: Vec<Link>,
}

impl EmptyProbe {
    pub fn attach() -> Result<Self, Error> {
        loader::init();
        let object: &'static mut MaybeUninit<OpenObject> =
            Box::leak(Box::new(MaybeUninit::uninit()));
        let open = skel::EmptySkelBuilder::default()
            .open(object)
            .map_err(|source| Error::Open {
                object: "empty",
                source,
            })?;
        let mut skel = open.load().map_err(|source| Error::Load {
            object: "empty",
            source,
            log: loader::take_log(),
        })?;
        let links = loader::attach_all(skel.object_mut(), &[])?;
        Ok(EmptyProbe { _links: links })
    }
}
