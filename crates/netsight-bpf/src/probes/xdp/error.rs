//! Everything that can go wrong with the XDP blacklist, split into the
//! user's mistakes (`is_usage`) and the system's refusals.

use std::io;
use std::path::PathBuf;

use super::cidr::CidrError;

#[derive(Debug, thiserror::Error)]
pub enum XdpError {
    #[error(transparent)]
    BadCidr(#[from] CidrError),
    #[error("no network interface named '{0}' in this network namespace")]
    NoSuchInterface(String),
    #[error("'{0}' already has the netsight XDP filter attached")]
    AlreadyAttached(String),
    #[error("'{0}' has no netsight XDP filter attached")]
    NotAttached(String),
    #[error("'{0}' is not in the blacklist")]
    NoSuchRule(String),
    #[error("'{0}' is not in the blacklist: there is no blacklist (nothing is pinned)")]
    NoBlacklist(String),
    #[error("'{iface}' already runs another XDP program (id {prog_id}); detach it first")]
    OtherProgram { iface: String, prog_id: u32 },
    #[error("the driver of '{0}' has no native XDP; use --mode generic")]
    NativeUnsupported(String),
    #[error("the blacklist is full ({max} rules)")]
    RulesFull { max: u32 },
    #[error("too many attached interfaces (at most {max})")]
    IfacesFull { max: u32 },
    #[error("{0}: permission denied (needs root, or CAP_BPF + CAP_NET_ADMIN)")]
    Permission(String),
    /// The kernel (or `--refuse`) refused the XDP program itself: the
    /// blacklist has no other path, so only `xdp` is off.
    #[error("the XDP program {program} was {reason}: the blacklist cannot run here")]
    Refused { program: String, reason: String },
    #[error("pinned state in {path} does not match this netsight ({what}); remove it with `netsight xdp detach --all --purge`")]
    Incompatible { path: PathBuf, what: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    #[error("loading the XDP program: {source}{}", log_tail(log))]
    Load {
        source: libbpf_rs::Error,
        log: Vec<String>,
    },
    #[error("{context}: {source}")]
    Bpf {
        context: String,
        #[source]
        source: libbpf_rs::Error,
    },
}

impl XdpError {
    /// True when the input was wrong (exit status 2), not the system.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            XdpError::BadCidr(_)
                | XdpError::NoSuchInterface(_)
                | XdpError::AlreadyAttached(_)
                | XdpError::NotAttached(_)
                | XdpError::NoSuchRule(_)
                | XdpError::NoBlacklist(_)
                | XdpError::NativeUnsupported(_)
        )
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        let context = context.into();
        if source.kind() == io::ErrorKind::PermissionDenied {
            return XdpError::Permission(context);
        }
        XdpError::Io { context, source }
    }

    pub(crate) fn bpf(context: impl Into<String>, source: libbpf_rs::Error) -> Self {
        let context = context.into();
        if source.kind() == libbpf_rs::ErrorKind::PermissionDenied {
            return XdpError::Permission(context);
        }
        XdpError::Bpf { context, source }
    }
}

/// The verifier's verdict, if libbpf printed one: the line before
/// "processed N insns", or the last line.
fn log_tail(log: &[String]) -> String {
    let verdict = log
        .iter()
        .position(|l| l.starts_with("processed "))
        .and_then(|i| i.checked_sub(1))
        .or_else(|| log.len().checked_sub(1))
        .map(|i| log[i].trim());
    verdict.map(|v| format!(" [{v}]")).unwrap_or_default()
}

pub type Result<T> = std::result::Result<T, XdpError>;
