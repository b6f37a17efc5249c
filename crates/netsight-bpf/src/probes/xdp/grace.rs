//! Waiting out the program runs in flight. XDP runs inside an RCU read
//! section, and an update of a map-in-map from user space returns only
//! after an RCU grace period (the kernel's maybe_wait_bpf_programs, there
//! for exactly this: "all programs that could be running use the new
//! value"). So one such update, on a map made for it, is the wait.

use libbpf_rs::{MapCore, MapFlags, MapHandle, MapType};
use std::os::fd::{AsFd, AsRawFd};

use super::error::{Result, XdpError};

/// A map-in-map to wait with: made before anything depends on the wait, so
/// a kernel that refuses it refuses before the table changes.
pub struct Grace {
    inner: MapHandle,
    outer: MapHandle,
}

impl Grace {
    pub fn new() -> Result<Grace> {
        let none = libbpf_sys::bpf_map_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_map_create_opts>() as _,
            ..Default::default()
        };
        let inner = MapHandle::create(MapType::Array, Some("ns_grace_in"), 4, 4, 1, &none)
            .map_err(|e| XdpError::bpf("creating a map to wait with", e))?;
        let with_inner = libbpf_sys::bpf_map_create_opts {
            inner_map_fd: inner.as_fd().as_raw_fd() as u32,
            ..none
        };
        let outer = MapHandle::create(MapType::ArrayOfMaps, Some("ns_grace"), 4, 4, 1, &with_inner)
            .map_err(|e| XdpError::bpf("creating a map-in-map to wait with", e))?;
        Ok(Grace { inner, outer })
    }

    /// Returns once every program run that started before the call is over.
    pub fn wait(&self) -> Result<()> {
        let fd = self.inner.as_fd().as_raw_fd() as u32;
        self.outer
            .update(&0u32.to_ne_bytes(), &fd.to_ne_bytes(), MapFlags::ANY)
            .map_err(|e| XdpError::bpf("waiting for running XDP programs", e))
    }
}
