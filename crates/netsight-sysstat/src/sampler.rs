//! Reads one namespace's counter files, again and again, through descriptors
//! opened once in that namespace.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use crate::error::SysstatError;
use crate::netns::{self, NetnsSpec};
use crate::parse::{self, Counters};
use crate::tcp_bytes::TcpBytes;

/// The /proc/net files the charts read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcFile {
    Snmp,
    Netstat,
    Snmp6,
    Sockstat,
    Sockstat6,
}

impl ProcFile {
    pub const ALL: [ProcFile; 5] = [
        ProcFile::Snmp,
        ProcFile::Netstat,
        ProcFile::Snmp6,
        ProcFile::Sockstat,
        ProcFile::Sockstat6,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ProcFile::Snmp => "snmp",
            ProcFile::Netstat => "netstat",
            ProcFile::Snmp6 => "snmp6",
            ProcFile::Sockstat => "sockstat",
            ProcFile::Sockstat6 => "sockstat6",
        }
    }

    /// Parses this file's text into counters keyed as the chart table expects.
    pub fn parse(self, text: &str) -> Counters {
        match self {
            ProcFile::Snmp | ProcFile::Netstat => parse::parse_header_value_pairs(text),
            ProcFile::Snmp6 => parse::parse_name_value_lines(text, "snmp6"),
            ProcFile::Sockstat => parse::parse_sockstat(text, "sockstat"),
            ProcFile::Sockstat6 => parse::parse_sockstat(text, "sockstat6"),
        }
    }
}

/// Everything opened inside the target namespace.
#[derive(Debug)]
pub struct Sampler {
    files: Vec<(ProcFile, Option<File>)>,
    tcp_bytes: Option<TcpBytes>,
    /// Files or sources that could not be opened (their dimensions are missing).
    pub unavailable: Vec<String>,
}

impl Sampler {
    /// Opens the counters of the namespace `--netns` names, or of our own
    /// when `netns` is `None`.
    pub fn open(netns: Option<&str>) -> Result<Sampler, SysstatError> {
        let ns_path = netns
            .map(|arg| NetnsSpec::parse(arg)?.resolve())
            .transpose()?;
        netns::open_in(ns_path, Sampler::open_here)?
    }

    /// Opens in the calling thread's namespace; `dir` is its /proc/.../net.
    fn open_here(dir: &Path) -> Result<Sampler, SysstatError> {
        let mut unavailable = Vec::new();
        let files = ProcFile::ALL
            .iter()
            .map(|&f| {
                let file = File::open(dir.join(f.name()));
                if let Err(e) = &file {
                    unavailable.push(format!("/proc/net/{}: {e}", f.name()));
                }
                (f, file.ok())
            })
            .collect::<Vec<_>>();
        if files.iter().all(|(_, f)| f.is_none()) {
            return Err(SysstatError::Io(
                format!("reading {}", dir.display()),
                std::io::Error::other(
                    "none of snmp, netstat, snmp6, sockstat, sockstat6 can be opened",
                ),
            ));
        }
        let tcp_bytes = match TcpBytes::open() {
            Ok(t) => Some(t),
            Err(e) => {
                unavailable.push(format!("sock_diag netlink (TCP bytes): {e}"));
                None
            }
        };
        Ok(Sampler {
            files,
            tcp_bytes,
            unavailable,
        })
    }

    /// Reads every source now. A source that fails this time simply
    /// contributes nothing (its dimensions drop out of this interval).
    pub fn sample(&mut self) -> Counters {
        let mut all = Counters::default();
        let mut text = String::new();
        for (kind, file) in &mut self.files {
            let Some(file) = file else { continue };
            text.clear();
            // Seeking to 0 makes the kernel regenerate the file's contents.
            if file.seek(SeekFrom::Start(0)).is_ok() && file.read_to_string(&mut text).is_ok() {
                all.merge(kind.parse(&text));
            }
        }
        if let Some(tb) = &mut self.tcp_bytes {
            if let Ok((acked, received)) = tb.sample() {
                all.insert("tcpinfo.bytes_acked".into(), acked);
                all.insert("tcpinfo.bytes_received".into(), received);
            }
        }
        all
    }
}

/// Counters from copies of the files in `dir` (recorded fixtures, or a
/// namespace's /proc/PID/net); a file that is not there contributes nothing.
pub fn counters_from_dir(dir: &Path) -> Counters {
    let mut all = Counters::default();
    for f in ProcFile::ALL {
        if let Ok(text) = std::fs::read_to_string(dir.join(f.name())) {
            all.merge(f.parse(&text));
        }
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rereads_fresh_values_through_open_descriptors() {
        let mut s = Sampler::open(None).unwrap();
        let a = s.sample().get("Udp.OutDatagrams").unwrap();
        let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..3 {
            sock.send_to(b"x", sock.local_addr().unwrap()).unwrap();
        }
        let b = s.sample().get("Udp.OutDatagrams").unwrap();
        assert!(b >= a + 3, "{a} -> {b}");
        assert!(s.sample().get("sockstat.sockets.used").is_some());
        assert!(s.sample().get("tcpinfo.bytes_acked").is_some());
    }
}
