//! Attaching the filter to interfaces. Each attachment is a bpf_link: for
//! the pinned blacklist the link is pinned next to the maps (so the filter
//! outlives the CLI and `detach` can find it again); for a private one the
//! caller holds the link and the filter goes away with it.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;

use libbpf_rs::query::LinkTypeInfo;
use libbpf_rs::{Link, MapCore, MapFlags};

use super::blacklist::Blacklist;
use super::bpffs::{self, StateDir};
use super::error::{Result, XdpError};
use super::hits::percpu_sum;
use super::migrate;
use super::program::{self, MapSource};
use super::raw::{self, IfaceEntry};

/// Where the program runs: in the driver (native) or after the skb is built
/// (generic, works on any interface, slower).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XdpMode {
    Native,
    Generic,
}

impl XdpMode {
    pub fn as_str(self) -> &'static str {
        match self {
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        }
    }

    fn link_flags(self) -> u32 {
        match self {
            XdpMode::Native => libbpf_sys::XDP_FLAGS_DRV_MODE,
            XdpMode::Generic => libbpf_sys::XDP_FLAGS_SKB_MODE,
        }
    }

    fn raw(self) -> u32 {
        match self {
            XdpMode::Native => raw::MODE_NATIVE,
            XdpMode::Generic => raw::MODE_GENERIC,
        }
    }

    fn from_raw(v: u32) -> Option<XdpMode> {
        match v {
            raw::MODE_NATIVE => Some(XdpMode::Native),
            raw::MODE_GENERIC => Some(XdpMode::Generic),
            _ => None,
        }
    }
}

/// One attached interface and its exact counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceStats {
    pub ifname: String,
    pub ifindex: u32,
    /// Inode of the network namespace the interface lives in.
    pub netns_ino: u64,
    pub mode: XdpMode,
    pub passed: u64,
    pub dropped: u64,
}

/// A live attachment. For a pinned blacklist dropping this changes nothing
/// (the pin keeps the link); for a private one dropping it detaches.
#[derive(Debug)]
pub struct Attachment {
    link: OwnedFd,
    slot: u32,
    mode: XdpMode,
}

impl Attachment {
    pub fn slot(&self) -> u32 {
        self.slot
    }

    pub fn mode(&self) -> XdpMode {
        self.mode
    }

    pub fn link_fd(&self) -> BorrowedFd<'_> {
        self.link.as_fd()
    }
}

/// The network namespace of the calling thread (threads may differ).
pub fn current_netns() -> Result<u64> {
    std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| m.ino())
        .map_err(|e| XdpError::io("reading /proc/thread-self/ns/net", e))
}

/// The index of an interface in the calling thread's network namespace.
pub fn ifindex_of(ifname: &str) -> Result<u32> {
    let c = CString::new(ifname).map_err(|_| XdpError::NoSuchInterface(ifname.to_string()))?;
    // SAFETY: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(XdpError::NoSuchInterface(ifname.to_string()));
    }
    Ok(idx)
}

/// Ids of the XDP programs on an interface, any mode (0 = none).
fn xdp_prog_ids(ifindex: u32) -> io::Result<[u32; 3]> {
    // SAFETY: an all-zero bpf_xdp_query_opts is valid; sz is set below.
    let mut opts: libbpf_sys::bpf_xdp_query_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_xdp_query_opts>() as _;
    // SAFETY: opts is a properly sized, writable bpf_xdp_query_opts.
    let rc = unsafe { libbpf_sys::bpf_xdp_query(ifindex as i32, 0, &mut opts) };
    if rc < 0 {
        return Err(io::Error::from_raw_os_error(-rc));
    }
    Ok([opts.drv_prog_id, opts.skb_prog_id, opts.hw_prog_id])
}

fn link_create(prog: BorrowedFd<'_>, ifindex: u32, mode: XdpMode) -> io::Result<OwnedFd> {
    // SAFETY: an all-zero bpf_link_create_opts is valid; sz is set below.
    let mut opts: libbpf_sys::bpf_link_create_opts = unsafe { std::mem::zeroed() };
    opts.sz = std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _;
    opts.flags = mode.link_flags();
    // SAFETY: prog is a valid program fd and opts outlives the call.
    let fd = unsafe {
        libbpf_sys::bpf_link_create(prog.as_raw_fd(), ifindex as i32, libbpf_sys::BPF_XDP, &opts)
    };
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(-fd));
    }
    // SAFETY: the kernel just returned this descriptor to us; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn pin(fd: BorrowedFd<'_>, path: &std::path::Path) -> Result<()> {
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| XdpError::io("pin path", io::ErrorKind::InvalidInput.into()))?;
    // SAFETY: fd is a valid bpf object descriptor and c a NUL-terminated path.
    let rc = unsafe { libbpf_sys::bpf_obj_pin(fd.as_raw_fd(), c.as_ptr()) };
    if rc < 0 {
        return Err(XdpError::io(
            format!("pinning {}", path.display()),
            io::Error::from_raw_os_error(-rc),
        ));
    }
    Ok(())
}

/// Is the pinned link still attached to a device? (A link whose device went
/// away stays pinned but reports ifindex 0.)
pub(super) fn pinned_link_live(dir: &StateDir, slot: u32) -> bool {
    let Ok(link) = Link::open(dir.link(slot)) else {
        return false;
    };
    matches!(link.info().map(|i| i.info), Ok(LinkTypeInfo::Xdp(x)) if x.ifindex != 0)
}

impl Blacklist {
    pub(super) fn table(&self) -> Result<Vec<(u32, IfaceEntry)>> {
        let mut out = Vec::new();
        for slot in 0..raw::MAX_IFACES {
            let v = self
                .maps
                .iface_table
                .lookup(&slot.to_ne_bytes(), MapFlags::ANY)
                .map_err(|e| XdpError::bpf("reading iface_table", e))?;
            let entry = v.map(|v| IfaceEntry::decode(&v));
            if let Some(e) = entry.filter(|e| e.mode != raw::MODE_NONE) {
                out.push((slot, e));
            }
        }
        Ok(out)
    }

    fn set_entry(&self, slot: u32, entry: &IfaceEntry) -> Result<()> {
        self.maps
            .iface_table
            .update(&slot.to_ne_bytes(), &entry.encode(), MapFlags::ANY)
            .map_err(|e| XdpError::bpf("writing iface_table", e))
    }

    fn clear_entry(&self, slot: u32) -> Result<()> {
        let free = IfaceEntry {
            netns_ino: 0,
            ifindex: 0,
            mode: raw::MODE_NONE,
            ifname: String::new(),
        };
        self.set_entry(slot, &free)
    }

    /// Attaches the filter to `ifname` (in the calling thread's network
    /// namespace). `mode: None` tries native, then generic.
    pub fn attach(&self, ifname: &str, mode: Option<XdpMode>) -> Result<Attachment> {
        let ifindex = ifindex_of(ifname)?;
        let netns = current_netns()?;
        let _lock = self.lock()?;
        let table = self.table()?;
        for (slot, e) in &table {
            if e.netns_ino == netns && e.ifindex == ifindex {
                match &self.dir {
                    Some(dir) if !pinned_link_live(dir, *slot) => self.forget(dir, *slot)?,
                    _ => return Err(XdpError::AlreadyAttached(ifname.to_string())),
                }
            }
        }
        if let Some(&prog_id) = xdp_prog_ids(ifindex)
            .ok()
            .iter()
            .flatten()
            .find(|&&id| id != 0)
        {
            return Err(XdpError::OtherProgram {
                iface: ifname.to_string(),
                prog_id,
            });
        }
        let used: Vec<u32> = self.table()?.iter().map(|(s, _)| *s).collect();
        let slot =
            (0..raw::MAX_IFACES)
                .find(|s| !used.contains(s))
                .ok_or(XdpError::IfacesFull {
                    max: raw::MAX_IFACES,
                })?;

        let source = match &self.dir {
            Some(dir) => MapSource::Pinned(dir),
            None => MapSource::Shared(&self.maps),
        };
        let (prog, _maps) = program::load(slot, source)?;
        self.zero_iface_counters(slot)?;
        let (link, mode) = self.create_link(prog.as_fd(), ifname, ifindex, mode)?;
        if let Some(dir) = &self.dir {
            bpffs::remove_if_exists(&dir.link(slot))?;
            pin(link.as_fd(), &dir.link(slot))?;
        }
        let entry = IfaceEntry {
            netns_ino: netns,
            ifindex,
            mode: mode.raw(),
            ifname: ifname.to_string(),
        };
        self.set_entry(slot, &entry)?;
        Ok(Attachment { link, slot, mode })
    }

    fn create_link(
        &self,
        prog: BorrowedFd<'_>,
        ifname: &str,
        ifindex: u32,
        mode: Option<XdpMode>,
    ) -> Result<(OwnedFd, XdpMode)> {
        let first = mode.unwrap_or(XdpMode::Native);
        let err = match link_create(prog, ifindex, first) {
            Ok(fd) => return Ok((fd, first)),
            Err(e) => e,
        };
        let unsupported = err.raw_os_error() == Some(libc::EOPNOTSUPP);
        if mode.is_none() && unsupported {
            let fd = link_create(prog, ifindex, XdpMode::Generic)
                .map_err(|e| XdpError::io(format!("attaching XDP (generic) to {ifname}"), e))?;
            return Ok((fd, XdpMode::Generic));
        }
        Err(match err.raw_os_error() {
            Some(libc::EOPNOTSUPP) if first == XdpMode::Native => {
                XdpError::NativeUnsupported(ifname.to_string())
            }
            Some(libc::EBUSY | libc::EEXIST) => {
                let prog_id = xdp_prog_ids(ifindex)
                    .ok()
                    .and_then(|ids| ids.into_iter().find(|&i| i != 0));
                XdpError::OtherProgram {
                    iface: ifname.to_string(),
                    prog_id: prog_id.unwrap_or(0),
                }
            }
            _ => XdpError::io(
                format!("attaching XDP ({}) to {ifname}", first.as_str()),
                err,
            ),
        })
    }

    /// Drops a pinned attachment's record and pin (link already gone).
    fn forget(&self, dir: &StateDir, slot: u32) -> Result<()> {
        bpffs::remove_if_exists(&dir.link(slot))?;
        self.clear_entry(slot)?;
        self.zero_iface_counters(slot)
    }

    /// Detaches the filter from `ifname` and removes its pin and record.
    pub fn detach(&self, ifname: &str) -> Result<()> {
        let ifindex = ifindex_of(ifname)?;
        let netns = current_netns()?;
        let _lock = self.lock()?;
        let slot = self
            .table()?
            .into_iter()
            .find(|(_, e)| e.netns_ino == netns && e.ifindex == ifindex)
            .map(|(s, _)| s)
            .ok_or_else(|| XdpError::NotAttached(ifname.to_string()))?;
        self.detach_slot(slot)?;
        // Belt and braces: nothing of ours may stay on the interface.
        let left = xdp_prog_ids(ifindex)
            .map_err(|e| XdpError::io(format!("querying XDP on {ifname}"), e))?;
        if let Some(id) = left.into_iter().find(|&i| i != 0) {
            if program_is_ours(id) {
                return Err(XdpError::io(
                    format!("{ifname} still runs netsight XDP program {id} after detach"),
                    io::ErrorKind::Other.into(),
                ));
            }
        }
        Ok(())
    }

    fn detach_slot(&self, slot: u32) -> Result<()> {
        let Some(dir) = &self.dir else {
            // Private attachments are detached by dropping their Attachment.
            return self.clear_entry(slot);
        };
        if let Ok(link) = Link::open(dir.link(slot)) {
            // EINVAL/ENOLINK: the device is gone and the link already defunct.
            let _ = link.detach();
        }
        self.forget(dir, slot)
    }

    /// Detaches every attachment of this blacklist, in every namespace.
    pub fn detach_all(&self) -> Result<usize> {
        let _lock = self.lock()?;
        let table = self.table()?;
        for (slot, _) in &table {
            self.detach_slot(*slot)?;
        }
        Ok(table.len())
    }

    /// True when nothing is attached and no rule is left: the pinned state
    /// can go without losing anything.
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.table()?.is_empty() && self.rules_with_slots()?.is_empty())
    }

    /// Unpins every map and removes the state directory. Attachments must
    /// be detached first (see `detach_all`).
    pub fn remove_pins(self) -> Result<()> {
        if let Some(dir) = &self.dir {
            let _lock = dir.lock()?;
            for slot in 0..raw::MAX_IFACES {
                bpffs::remove_if_exists(&dir.link(slot))?;
            }
            let names: Vec<&str> = program::MAP_NAMES
                .iter()
                .chain(&migrate::OLD_MAP_NAMES)
                .copied()
                .chain([super::hits::LEGACY_HITS])
                .collect();
            dir.remove_all(&names)?;
        }
        Ok(())
    }

    /// Counters of every live attachment (any namespace).
    pub fn interfaces(&self) -> Result<Vec<IfaceStats>> {
        let mut out = Vec::new();
        for (slot, e) in self.table()? {
            if let Some(dir) = &self.dir {
                if !pinned_link_live(dir, slot) {
                    continue;
                }
            }
            let Some(mode) = XdpMode::from_raw(e.mode) else {
                continue;
            };
            out.push(IfaceStats {
                ifname: e.ifname,
                ifindex: e.ifindex,
                netns_ino: e.netns_ino,
                mode,
                passed: percpu_sum(&self.maps.iface_stats, slot, 0)?,
                dropped: percpu_sum(&self.maps.iface_stats, slot, 8)?,
            });
        }
        Ok(out)
    }

    /// Exact passed/dropped counts of one attachment slot.
    pub fn iface_counters(&self, slot: u32) -> Result<(u64, u64)> {
        Ok((
            percpu_sum(&self.maps.iface_stats, slot, 0)?,
            percpu_sum(&self.maps.iface_stats, slot, 8)?,
        ))
    }
}

/// Whether a program id belongs to netsight's XDP filter (by name).
fn program_is_ours(id: u32) -> bool {
    let Ok(fd) = libbpf_rs::Program::fd_from_id(id) else {
        return false;
    };
    // SAFETY: zeroed bpf_prog_info is valid; len tells the kernel its size.
    let mut info: libbpf_sys::bpf_prog_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: info is writable for len bytes; fd is a valid program fd.
    let rc = unsafe {
        libbpf_sys::bpf_obj_get_info_by_fd(
            fd.as_raw_fd(),
            (&mut info as *mut libbpf_sys::bpf_prog_info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return false;
    }
    let name: Vec<u8> = info
        .name
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    name == b"netsight_xdp"
}
