//! Where the blacklist lives on bpffs, and the lock that serialises changes.
//!
//! `ip netns exec` gives the command a private mount namespace with a fresh
//! /sys that has no bpffs. Pins made on a new bpffs there would vanish with
//! that mount namespace (and the filter with them), so the bpffs of an
//! ancestor process in another mount namespace (init, or the shell that ran
//! `ip netns exec`) is used instead, reached through /proc/PID/root. A new
//! bpffs is mounted only when none is reachable, with a warning.

use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use super::error::{Result, XdpError};

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;
const SYS_BPF: &str = "/sys/fs/bpf";
/// How far up the process tree to look for another mount namespace.
const MAX_ANCESTORS: usize = 64;

fn is_bpffs(path: &str) -> bool {
    let Ok(c) = std::ffi::CString::new(path) else {
        return false;
    };
    // SAFETY: statfs writes into a zeroed struct we own; c is NUL-terminated.
    unsafe {
        let mut st: libc::statfs = std::mem::zeroed();
        libc::statfs(c.as_ptr(), &mut st) == 0 && st.f_type as i64 == BPF_FS_MAGIC
    }
}

fn mount_ns(pid: &str) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(format!("/proc/{pid}/ns/mnt"))
        .ok()
        .map(|m| m.ino())
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// The host's bpffs seen through an ancestor living in another mount
/// namespace (init first, then our parents).
fn ancestor_bpffs() -> Option<PathBuf> {
    let ours = mount_ns("self")?;
    let mut candidates = vec![1u32];
    let mut pid = std::process::id();
    for _ in 0..MAX_ANCESTORS {
        match parent_of(pid) {
            Some(p) if p > 1 => {
                candidates.push(p);
                pid = p;
            }
            _ => break,
        }
    }
    candidates.into_iter().find_map(|pid| {
        let theirs = mount_ns(&pid.to_string())?;
        let path = format!("/proc/{pid}/root{SYS_BPF}");
        (theirs != ours && is_bpffs(&path)).then(|| PathBuf::from(path))
    })
}

/// A bpffs mount that is already there: ours, else an ancestor's.
fn existing_bpffs_root() -> Option<PathBuf> {
    if is_bpffs(SYS_BPF) {
        return Some(SYS_BPF.into());
    }
    ancestor_bpffs()
}

/// The bpffs mount to pin under, mounting one on /sys/fs/bpf if none is found.
/// Only for commands that create state: a read must not leave a mount behind.
fn bpffs_root() -> Result<PathBuf> {
    if let Some(path) = existing_bpffs_root() {
        return Ok(path);
    }
    let src = c"bpf";
    let dst = c"/sys/fs/bpf";
    // SAFETY: all pointers are NUL-terminated literals; data may be NULL.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            dst.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(XdpError::io(
            "mounting bpffs on /sys/fs/bpf",
            io::Error::last_os_error(),
        ));
    }
    eprintln!("netsight: warning: mounted a new bpffs on /sys/fs/bpf; if this is a private mount namespace, the filter ends with it");
    Ok(SYS_BPF.into())
}

/// `<bpffs>/netsight/xdp`: pinned maps and one pinned link per attachment.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
}

impl StateDir {
    /// The directory if it exists; `None` when nothing was ever pinned
    /// (or no bpffs is mounted at all). Creates nothing.
    pub fn existing() -> Option<Self> {
        let path = existing_bpffs_root()?.join("netsight/xdp");
        path.is_dir().then_some(StateDir { path })
    }

    pub fn create() -> Result<Self> {
        let path = bpffs_root()?.join("netsight/xdp");
        fs::create_dir_all(&path)
            .map_err(|e| XdpError::io(format!("creating {}", path.display()), e))?;
        Ok(StateDir { path })
    }

    pub fn map(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn link(&self, slot: u32) -> PathBuf {
        self.path.join(format!("link_{slot}"))
    }

    /// An exclusive lock held until the returned guard drops, so that two
    /// concurrent commands do not hand out the same slot.
    pub fn lock(&self) -> Result<DirLock> {
        let f = File::open(&self.path)
            .map_err(|e| XdpError::io(format!("opening {}", self.path.display()), e))?;
        // SAFETY: flock on a descriptor we own; no memory is involved.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            return Err(XdpError::io(
                "locking the blacklist",
                io::Error::last_os_error(),
            ));
        }
        Ok(DirLock { _file: f })
    }

    /// Removes the directory and its parent if they are empty of anything else.
    pub fn remove_all(&self, map_names: &[&str]) -> Result<()> {
        for name in map_names {
            remove_if_exists(&self.map(name))?;
        }
        let _ = fs::remove_dir(&self.path);
        if let Some(parent) = self.path.parent() {
            let _ = fs::remove_dir(parent); // fails while other netsight pins live there
        }
        Ok(())
    }
}

pub fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(XdpError::io(format!("removing {}", path.display()), e)),
    }
}

/// Released (flock dropped) when the file closes.
pub struct DirLock {
    _file: File,
}
