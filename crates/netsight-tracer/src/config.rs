//! The tracer's settings: a builder that validates, like seeds/001's
//! `running_socket_tracer(...)` arguments but named and checked.

use netsight_bpf::probes::socktrace::{self, PAYLOAD_MAX};
use netsight_l7::Protocol;

use crate::Error;

/// Which records to keep. Process, port and namespace filters run in the
/// kernel (nothing else is captured); the protocol filter in user space.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub pids: Vec<u32>,
    pub comm: Option<String>,
    pub port: Option<u16>,
    /// A network namespace inode number.
    pub netns: Option<u32>,
    /// Empty: every protocol (and data records of unknown ones).
    pub protocols: Vec<Protocol>,
}

/// Validated settings; made by [`Builder::build`].
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) payload_bytes: u32,
    pub(crate) ring_bytes: u32,
    pub(crate) max_sockets: u32,
    pub(crate) max_traces: u32,
    pub(crate) workers: usize,
    pub(crate) queue_capacity: usize,
    pub(crate) data_records: bool,
    pub(crate) l7_records: bool,
    pub(crate) redact: bool,
    pub(crate) l7_timeout_ns: u64,
    pub(crate) publish_status: bool,
    pub(crate) name: String,
    pub(crate) filters: Filters,
}

impl Config {
    pub(crate) fn kernel_settings(&self) -> socktrace::Settings {
        socktrace::Settings {
            payload_bytes: self.payload_bytes,
            ring_bytes: self.ring_bytes,
            max_sockets: self.max_sockets,
            max_traces: self.max_traces,
            pids: self.filters.pids.clone(),
            comm: self.filters.comm.clone(),
            port: self.filters.port,
            netns: self.filters.netns,
            refuse: Vec::new(),
            mute_unparsed: self.mutes_unparsed(),
        }
    }

    /// No one wants data records: the bytes of sockets the parsers gave up
    /// on are of no use, so those sockets are muted in the kernel.
    pub(crate) fn mutes_unparsed(&self) -> bool {
        self.l7_records && !self.data_records
    }

    /// The filters in force.
    pub fn filters(&self) -> &Filters {
        &self.filters
    }
}

/// Builds a [`Config`]. Defaults: 1024 payload bytes, a 4 MiB ring, 65536
/// sockets and thread traces, [`default_workers`] with a 65536-record queue
/// each, L7 records only, secrets redacted, a 10 s L7 timeout, status
/// published.
#[derive(Debug, Clone)]
pub struct Builder {
    cfg: Config,
}

/// Worker threads by default: none (the ring reader parses) on hosts of
/// one or two CPUs, where a hand-off between threads costs more than it
/// spreads (BENCHMARKS.md: nginx + wrk on 2 cores), else one.
pub fn default_workers() -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cpus <= 2 {
        0
    } else {
        1
    }
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            cfg: Config {
                payload_bytes: 1024,
                ring_bytes: 4 << 20,
                max_sockets: 65536,
                max_traces: 65536,
                workers: default_workers(),
                queue_capacity: 65536,
                data_records: false,
                l7_records: true,
                redact: true,
                l7_timeout_ns: 10_000_000_000,
                publish_status: true,
                name: "netsight-tracer".into(),
                filters: Filters::default(),
            },
        }
    }
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes captured per syscall (1..=16384).
    pub fn payload_bytes(mut self, n: u32) -> Self {
        self.cfg.payload_bytes = n;
        self
    }

    /// Kernel ring buffer size in bytes: a power of two, 4 KiB..=1 GiB.
    pub fn ring_bytes(mut self, n: u32) -> Self {
        self.cfg.ring_bytes = n;
        self
    }

    /// Sockets and threads the kernel side keeps state for.
    pub fn map_sizes(mut self, sockets: u32, traces: u32) -> Self {
        self.cfg.max_sockets = sockets;
        self.cfg.max_traces = traces;
        self
    }

    /// Worker threads parsing records (each owns a share of the sockets);
    /// 0: the ring reader parses them itself (one hand-off between threads
    /// fewer: the cheapest on small hosts, up to what one core can parse).
    pub fn workers(mut self, n: usize) -> Self {
        self.cfg.workers = n;
        self
    }

    /// Records each worker's queue holds before new ones are dropped (and
    /// counted).
    pub fn queue_capacity(mut self, n: usize) -> Self {
        self.cfg.queue_capacity = n;
        self
    }

    /// Emit one data record per captured syscall (`--raw`). Without data
    /// records, a socket the parsers give up on (no known protocol in its
    /// first messages) is muted in the kernel: its reads and writes are
    /// then only counted there ([`crate::L7Unparsed`]), with no payload copy.
    pub fn data_records(mut self, on: bool) -> Self {
        self.cfg.data_records = on;
        self
    }

    /// Emit L7 records (request/response pairs).
    pub fn l7_records(mut self, on: bool) -> Self {
        self.cfg.l7_records = on;
        self
    }

    /// Redact secrets in L7 records (default on; `--show-secrets` is off).
    pub fn redact(mut self, on: bool) -> Self {
        self.cfg.redact = on;
        self
    }

    /// A request without a response for this long is reported incomplete.
    pub fn l7_timeout(mut self, t: std::time::Duration) -> Self {
        self.cfg.l7_timeout_ns = t.as_nanos().min(u128::from(u64::MAX)) as u64;
        self
    }

    /// Answer `netsight sock status` through `/run/netsight/tracers/<pid>.sock`.
    pub fn publish_status(mut self, on: bool) -> Self {
        self.cfg.publish_status = on;
        self
    }

    /// The name `sock status` shows for this tracer.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.cfg.name = name.into();
        self
    }

    pub fn filters(mut self, f: Filters) -> Self {
        self.cfg.filters = f;
        self
    }

    /// Checks every setting.
    pub fn build(self) -> Result<Config, Error> {
        let c = self.cfg;
        let bad = |what: &str, why: String| Err(Error::Setting(format!("{what}: {why}")));
        if c.payload_bytes == 0 || c.payload_bytes > PAYLOAD_MAX {
            return bad(
                "payload bytes",
                format!("{} is not in 1..={PAYLOAD_MAX}", c.payload_bytes),
            );
        }
        if !c.ring_bytes.is_power_of_two() || !(4096..=1 << 30).contains(&c.ring_bytes) {
            return bad(
                "ring bytes",
                format!(
                    "{} is not a power of two in 4096..=1073741824",
                    c.ring_bytes
                ),
            );
        }
        if c.max_sockets == 0 || c.max_traces == 0 {
            return bad("map sizes", "must be at least 1".into());
        }
        if c.workers > 64 {
            return bad("workers", format!("{} is more than 64", c.workers));
        }
        if c.queue_capacity == 0 {
            return bad("queue capacity", "must be at least 1".into());
        }
        if c.filters.pids.len() > socktrace::MAX_PID_FILTER {
            return bad(
                "pids",
                format!("at most {} processes", socktrace::MAX_PID_FILTER),
            );
        }
        if c.filters.comm.as_ref().is_some_and(|n| n.len() > 15) {
            return bad("comm", "a command name has at most 15 bytes".into());
        }
        if !c.data_records && !c.l7_records {
            return bad("records", "neither data nor L7 records asked for".into());
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        assert!(Builder::new().build().is_ok());
    }

    #[test]
    fn bad_settings_are_named() {
        let e = Builder::new().payload_bytes(20000).build().unwrap_err();
        assert!(e.to_string().contains("payload bytes"), "{e}");
        let e = Builder::new().ring_bytes(5000).build().unwrap_err();
        assert!(e.to_string().contains("ring bytes"), "{e}");
        let e = Builder::new().workers(65).build().unwrap_err();
        assert!(e.to_string().contains("workers"), "{e}");
    }
}
