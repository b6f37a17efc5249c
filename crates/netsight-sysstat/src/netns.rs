//! Which network namespace to read, and opening its /proc/net files there.
//!
//! The kernel keeps SNMP counters per namespace. A /proc/net file (and a
//! netlink socket) stays bound to the namespace it was opened in, so a
//! short-lived thread enters the target namespace with setns(2), opens
//! everything and exits; the process itself never changes namespace.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::SysstatError;

/// The `--netns NAME|PATH|INODE` argument, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetnsSpec {
    /// A name under /run/netns (as `ip netns add` makes).
    Name(String),
    /// A namespace file such as /proc/1234/ns/net.
    Path(PathBuf),
    /// The namespace inode number (`ip netns identify`, `lsns`, SPEC §5 `netns`).
    Inode(u64),
}

impl NetnsSpec {
    pub fn parse(arg: &str) -> Result<NetnsSpec, SysstatError> {
        if arg.is_empty() {
            return Err(SysstatError::BadNetns(
                "--netns: empty namespace name".into(),
            ));
        }
        if arg.contains('/') {
            return Ok(NetnsSpec::Path(PathBuf::from(arg)));
        }
        if arg.bytes().all(|b| b.is_ascii_digit()) {
            return arg.parse().map(NetnsSpec::Inode).map_err(|_| {
                SysstatError::BadNetns(format!("--netns: '{arg}' is not a valid inode number"))
            });
        }
        if arg == "." || arg == ".." {
            return Err(SysstatError::BadNetns(format!(
                "--netns: '{arg}' is not a namespace name"
            )));
        }
        Ok(NetnsSpec::Name(arg.to_string()))
    }

    /// The namespace file to enter.
    pub fn resolve(&self) -> Result<PathBuf, SysstatError> {
        match self {
            NetnsSpec::Name(name) => {
                let p = Path::new("/run/netns").join(name);
                if p.exists() {
                    Ok(p)
                } else {
                    Err(SysstatError::BadNetns(format!(
                        "--netns: no network namespace named '{name}' (in /run/netns)"
                    )))
                }
            }
            NetnsSpec::Path(p) => {
                if p.exists() {
                    Ok(p.clone())
                } else {
                    Err(SysstatError::BadNetns(format!(
                        "--netns: {} does not exist",
                        p.display()
                    )))
                }
            }
            NetnsSpec::Inode(ino) => find_by_inode(*ino).ok_or_else(|| {
                SysstatError::BadNetns(format!(
                    "--netns: no process and no /run/netns entry is in network namespace {ino}"
                ))
            }),
        }
    }
}

impl NetnsSpec {
    /// The namespace's inode number, as events carry it (SPEC §5 `netns`),
    /// once it is known to exist and to be a network namespace: filtering
    /// on a namespace that is not there would silently show nothing.
    pub fn inode(&self) -> Result<u64, SysstatError> {
        let path = self.resolve()?;
        let shown = path.display();
        let ns = File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::PermissionDenied => {
                SysstatError::Permission(format!("opening {shown}: {e}"))
            }
            _ => SysstatError::BadNetns(format!("--netns: cannot open {shown}: {e}")),
        })?;
        // SAFETY: NS_GET_NSTYPE takes no argument; the descriptor is held
        // open by `ns` for the call.
        let kind = unsafe { libc::ioctl(ns.as_raw_fd(), NS_GET_NSTYPE as _) };
        if kind != libc::CLONE_NEWNET {
            return Err(SysstatError::BadNetns(format!(
                "--netns: {shown} is not a network namespace"
            )));
        }
        let meta = ns
            .metadata()
            .map_err(|e| SysstatError::Io(format!("reading {shown}"), e))?;
        Ok(meta.ino())
    }
}

/// ioctl(2) on a namespace file: which kind of namespace it is (Linux 4.11+).
const NS_GET_NSTYPE: u32 = 0xb703;

/// A file that holds network namespace `ino`: a named namespace first, else
/// any process living in it.
fn find_by_inode(ino: u64) -> Option<PathBuf> {
    let named = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path());
    let procs = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|e| e.path().join("ns/net"));
    named
        .chain(procs)
        .find(|p| std::fs::metadata(p).is_ok_and(|m| m.ino() == ino))
}

/// Runs `open` on a fresh thread that first joined the namespace at `ns_path`
/// (or stayed in ours when `None`), and hands back what it opened. `open`
/// gets the /proc directory that shows the thread's own namespace.
pub fn open_in<T: Send + 'static>(
    ns_path: Option<PathBuf>,
    open: impl FnOnce(&Path) -> T + Send + 'static,
) -> Result<T, SysstatError> {
    let handle = std::thread::spawn(move || -> Result<T, SysstatError> {
        if let Some(path) = &ns_path {
            enter(path)?;
        }
        // /proc/self/net would show the thread-group leader's namespace,
        // which this thread just left.
        Ok(open(Path::new("/proc/thread-self/net")))
    });
    handle.join().map_err(|_| {
        SysstatError::Io(
            "opening the namespace's files".into(),
            std::io::Error::other("thread panicked"),
        )
    })?
}

fn enter(path: &Path) -> Result<(), SysstatError> {
    let shown = path.display();
    let ns = File::open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::PermissionDenied => {
            SysstatError::Permission(format!("opening {shown}: {e}"))
        }
        _ => SysstatError::BadNetns(format!("--netns: cannot open {shown}: {e}")),
    })?;
    // SAFETY: setns takes a valid open descriptor (held by `ns` for the call)
    // and a namespace type; it changes only this thread's namespace.
    let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    Err(match e.raw_os_error() {
        Some(libc::EINVAL) => {
            SysstatError::BadNetns(format!("--netns: {shown} is not a network namespace"))
        }
        Some(libc::EPERM) => SysstatError::Permission(format!(
            "entering network namespace {shown} needs CAP_SYS_ADMIN (run as root): {e}"
        )),
        _ => SysstatError::Io(format!("entering network namespace {shown}"), e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_arguments() {
        assert_eq!(
            NetnsSpec::parse("blue").unwrap(),
            NetnsSpec::Name("blue".into())
        );
        assert_eq!(
            NetnsSpec::parse("4026531840").unwrap(),
            NetnsSpec::Inode(4026531840)
        );
        assert_eq!(
            NetnsSpec::parse("/proc/1/ns/net").unwrap(),
            NetnsSpec::Path("/proc/1/ns/net".into())
        );
        assert!(NetnsSpec::parse("").unwrap_err().is_usage());
        assert!(NetnsSpec::parse("..").unwrap_err().is_usage());
        assert!(NetnsSpec::parse("99999999999999999999999")
            .unwrap_err()
            .is_usage());
    }

    #[test]
    fn unknown_names_are_usage_errors() {
        let e = NetnsSpec::Name("netsight-no-such-ns".into())
            .resolve()
            .unwrap_err();
        assert!(e.is_usage(), "{e}");
        assert!(NetnsSpec::Inode(1).resolve().unwrap_err().is_usage());
    }

    #[test]
    fn inode_checks_the_namespace_exists_and_is_a_network_one() {
        let ours = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let by_path = NetnsSpec::parse("/proc/self/ns/net").unwrap();
        assert_eq!(by_path.inode().unwrap(), ours);
        assert_eq!(NetnsSpec::Inode(ours).inode().unwrap(), ours);
        for bad in ["/proc/self/status", "/proc/self/ns/mnt", "/no/such/netns"] {
            let e = NetnsSpec::parse(bad).unwrap().inode().unwrap_err();
            assert!(e.is_usage(), "{bad}: {e}");
        }
        assert!(NetnsSpec::Inode(1).inode().unwrap_err().is_usage());
        assert!(NetnsSpec::Name("netsight-no-such-ns".into())
            .inode()
            .unwrap_err()
            .is_usage());
    }

    #[test]
    fn own_namespace_is_found_by_inode() {
        let ino = std::fs::metadata("/proc/self/ns/net").unwrap().ino();
        let path = NetnsSpec::Inode(ino).resolve().unwrap();
        assert_eq!(std::fs::metadata(path).unwrap().ino(), ino);
    }
}
