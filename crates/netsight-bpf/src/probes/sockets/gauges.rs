//! The interval's socket snapshots (gauges and pending I/O) through one of
//! three iterator paths, tried in this order at load:
//! - the socket-storage map iterator: every tracked socket in one pass;
//! - the task-file iterator: every socket some process holds, in every
//!   network namespace, in one pass over the file tables;
//! - iter/tcp + iter/udp: they walk the network namespace of the thread
//!   that opens them, so they are opened once in each namespace that holds
//!   a tracked socket (`tracked_netns`, filled by the kernel side), entering
//!   it with setns(2) and coming back before reading. Each pass walks the
//!   kernel's whole (shared) socket hash, so this one costs the most.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use libbpf_rs::{Iter, Link, MapCore, MapFlags, MapHandle};

use crate::loader::Error;

/// Which way the snapshots are taken here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GaugePath {
    /// `iter/bpf_sk_storage_map` over the socket storage.
    StorageMap,
    /// `iter/task_file` over every process's open files.
    TaskFiles,
    /// `iter/tcp` and `iter/udp`, opened in each tracked network namespace.
    PerNetns,
    /// No iterator loads: no gauges; I/O is charged per call instead.
    None,
}

impl GaugePath {
    pub fn describe(self) -> &'static str {
        match self {
            GaugePath::StorageMap => "socket-storage map iterator (iter/bpf_sk_storage_map)",
            GaugePath::TaskFiles => "every process's open sockets (iter/task_file)",
            GaugePath::PerNetns => "iter/tcp + iter/udp in each network namespace",
            GaugePath::None => "none (no socket iterator loads here)",
        }
    }
}

/// The links of the loaded path, and what the per-namespace path needs.
pub enum Gauges {
    StorageMap(Link),
    TaskFiles(Link),
    PerNetns(PerNetns),
    None,
}

pub struct PerNetns {
    tcp: Option<Link>,
    udp: Option<Link>,
    /// `tracked_netns`: namespace inode -> a process that used a socket there.
    tracked: MapHandle,
    own: File,
    own_inode: u32,
    /// Where each namespace was last found.
    paths: HashMap<u32, PathBuf>,
    /// Namespaces that could not be entered (no CAP_SYS_ADMIN, say): cumulative.
    pub unreachable: u64,
    warned: bool,
}

impl Gauges {
    pub fn path(&self) -> GaugePath {
        match self {
            Gauges::StorageMap(_) => GaugePath::StorageMap,
            Gauges::TaskFiles(_) => GaugePath::TaskFiles,
            Gauges::PerNetns(_) => GaugePath::PerNetns,
            Gauges::None => GaugePath::None,
        }
    }

    /// Every tracked socket's record (sock_snapshot layout), back to back,
    /// into `buf` (cleared first; kept between intervals so that its pages
    /// are not faulted in again every time).
    pub fn read(&mut self, buf: &mut Vec<u8>) -> Result<(), Error> {
        buf.clear();
        match self {
            Gauges::StorageMap(link) | Gauges::TaskFiles(link) => read_iter(link, buf),
            Gauges::PerNetns(p) => p.read(buf),
            Gauges::None => Ok(()),
        }
    }
}

fn read_iter(link: &Link, buf: &mut Vec<u8>) -> Result<(), Error> {
    let mut iter = Iter::new(link).map_err(|source| Error::Map {
        map: "socket iterator",
        source,
    })?;
    iter.read_to_end(buf).map_err(|source| Error::Read {
        what: "socket iterator",
        source,
    })?;
    Ok(())
}

fn open_iter(link: &Option<Link>) -> Result<Option<Iter>, Error> {
    link.as_ref()
        .map(|l| {
            Iter::new(l).map_err(|source| Error::Map {
                map: "socket iterator",
                source,
            })
        })
        .transpose()
}

fn netns_inode(path: &Path) -> Option<u32> {
    std::fs::metadata(path).ok().map(|m| m.ino() as u32)
}

fn setns(ns: &File) -> std::io::Result<()> {
    // SAFETY: setns takes a valid open descriptor (borrowed from `ns` for
    // the call) and a namespace type; it changes only this thread.
    let rc = unsafe { libc::setns(ns.as_fd().as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

impl PerNetns {
    pub fn new(tcp: Option<Link>, udp: Option<Link>, tracked: MapHandle) -> Result<Self, Error> {
        let own_path = Path::new("/proc/thread-self/ns/net");
        let own = File::open(own_path).map_err(|source| Error::Read {
            what: "this thread's network namespace",
            source,
        })?;
        let own_inode = own.metadata().map(|m| m.ino() as u32).unwrap_or(0);
        Ok(PerNetns {
            tcp,
            udp,
            tracked,
            own,
            own_inode,
            paths: HashMap::new(),
            unreachable: 0,
            warned: false,
        })
    }

    fn read(&mut self, buf: &mut Vec<u8>) -> Result<(), Error> {
        let mut namespaces: Vec<(u32, u32)> = self
            .tracked
            .keys()
            .filter_map(|k| {
                let inode = u32::from_ne_bytes(k.as_slice().try_into().ok()?);
                let pid = self
                    .tracked
                    .lookup(&k, MapFlags::ANY)
                    .ok()
                    .flatten()
                    .and_then(|v| Some(u32::from_ne_bytes(v.as_slice().try_into().ok()?)))
                    .unwrap_or(0);
                Some((inode, pid))
            })
            .collect();
        // Our own namespace always, tracked or not yet.
        if !namespaces.iter().any(|(i, _)| *i == self.own_inode) {
            namespaces.push((self.own_inode, 0));
        }
        let mut scanned: Option<HashMap<u32, PathBuf>> = None;
        for (inode, pid) in namespaces {
            if inode == self.own_inode {
                self.read_here(buf)?;
                continue;
            }
            let Some(ns) = self.find(inode, pid, &mut scanned) else {
                // Gone: no process and no bind mount holds it any more.
                let _ = self.tracked.delete(&inode.to_ne_bytes());
                self.paths.remove(&inode);
                continue;
            };
            self.read_in(&ns, inode, buf)?;
        }
        Ok(())
    }

    fn read_here(&self, buf: &mut Vec<u8>) -> Result<(), Error> {
        for link in [&self.tcp, &self.udp].into_iter().flatten() {
            read_iter(link, buf)?;
        }
        Ok(())
    }

    /// Opens the iterators inside `ns` (they keep that namespace), comes
    /// back, then reads them.
    fn read_in(&mut self, ns: &File, inode: u32, buf: &mut Vec<u8>) -> Result<(), Error> {
        if let Err(e) = setns(ns) {
            self.unreachable += 1;
            if !self.warned {
                self.warned = true;
                eprintln!(
                    "netsight: cannot enter network namespace {inode} ({e}): the gauges of its \
                     sockets are missing and their bytes are counted when they close \
                     (CAP_SYS_ADMIN is needed)"
                );
            }
            return Ok(());
        }
        let opened = (open_iter(&self.tcp), open_iter(&self.udp));
        if let Err(source) = setns(&self.own) {
            // Never go on in the wrong namespace.
            return Err(Error::Read {
                what: "returning to netsight's network namespace",
                source,
            });
        }
        for iter in [opened.0?, opened.1?].into_iter().flatten() {
            let mut iter = iter;
            iter.read_to_end(buf).map_err(|source| Error::Read {
                what: "socket iterator",
                source,
            })?;
        }
        Ok(())
    }

    /// An open descriptor of namespace `inode`: where it was found last,
    /// the process that used it, else one scan of /run/netns and /proc.
    fn find(
        &mut self,
        inode: u32,
        pid: u32,
        scanned: &mut Option<HashMap<u32, PathBuf>>,
    ) -> Option<File> {
        let mut candidates: Vec<PathBuf> = self.paths.get(&inode).cloned().into_iter().collect();
        if pid != 0 {
            candidates.push(PathBuf::from(format!("/proc/{pid}/ns/net")));
        }
        for path in candidates {
            if let Some(f) = open_if(&path, inode) {
                self.paths.insert(inode, path);
                return Some(f);
            }
        }
        let all = scanned.get_or_insert_with(scan_namespaces);
        let path = all.get(&inode)?.clone();
        let f = open_if(&path, inode)?;
        self.paths.insert(inode, path);
        Some(f)
    }
}

fn open_if(path: &Path, inode: u32) -> Option<File> {
    let f = File::open(path).ok()?;
    (f.metadata().ok()?.ino() as u32 == inode).then_some(f)
}

/// Every network namespace reachable by path: bind mounts under /run/netns
/// (`ip netns`), then any process's.
fn scan_namespaces() -> HashMap<u32, PathBuf> {
    let mut found = HashMap::new();
    let mut add = |path: PathBuf| {
        if let Some(i) = netns_inode(&path) {
            found.entry(i).or_insert(path);
        }
    };
    if let Ok(dir) = std::fs::read_dir("/run/netns") {
        for e in dir.flatten() {
            add(e.path());
        }
    }
    if let Ok(dir) = std::fs::read_dir("/proc") {
        for e in dir.flatten() {
            let name = e.file_name();
            if name
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
            {
                add(e.path().join("ns/net"));
            }
        }
    }
    found
}
