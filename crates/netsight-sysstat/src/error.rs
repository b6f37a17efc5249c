//! What can go wrong before the first sample (afterwards, sampling degrades
//! instead of failing).

use std::fmt;
use std::io;

#[derive(Debug)]
pub enum SysstatError {
    /// The `--netns` argument names nothing usable (a usage error).
    BadNetns(String),
    /// Entering the namespace was refused (needs CAP_SYS_ADMIN).
    Permission(String),
    /// Any other system failure, with what was being done.
    Io(String, io::Error),
}

impl SysstatError {
    /// True when the user's argument is at fault (exit status 2).
    pub fn is_usage(&self) -> bool {
        matches!(self, SysstatError::BadNetns(_))
    }
}

impl fmt::Display for SysstatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SysstatError::BadNetns(m) | SysstatError::Permission(m) => f.write_str(m),
            SysstatError::Io(what, e) => write!(f, "{what}: {e}"),
        }
    }
}

impl std::error::Error for SysstatError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SysstatError::Io(_, e) => Some(e),
            _ => None,
        }
    }
}
