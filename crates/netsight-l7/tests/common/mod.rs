//! Fixture loading and feeding, shared by the integration tests.
#![allow(dead_code)]

use netsight_l7::{Config, Direction, L7Record, Segment, Tracker, Transport};

/// One recorded syscall.
pub struct Rec {
    pub socket: u64,
    pub transport: Transport,
    pub local_port: u16,
    pub remote_port: u16,
    pub direction: Direction,
    pub syscall_len: u32,
    pub ts_ns: u64,
    pub payload: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

/// Loads `tests/fixtures/<name>` (format: see strace2fixture.py).
pub fn load(name: &str) -> Vec<Rec> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let mut socks = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() >= 6 && f[0] == "#" && f[1] == "socket" {
            let t = if f[3] == "udp" {
                Transport::Udp
            } else {
                Transport::Tcp
            };
            socks.insert(
                f[2].parse::<u64>().unwrap(),
                (t, f[4].parse().unwrap(), f[5].parse().unwrap()),
            );
            continue;
        }
        if f.is_empty() || f[0].starts_with('#') {
            continue;
        }
        let socket: u64 = f[1].parse().unwrap();
        let (transport, local_port, remote_port) = socks[&socket];
        out.push(Rec {
            socket,
            transport,
            local_port,
            remote_port,
            direction: if f[0] == "E" {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            syscall_len: f[2].parse().unwrap(),
            ts_ns: f[3].parse().unwrap(),
            payload: f.get(4).map(|h| unhex(h)).unwrap_or_default(),
        });
    }
    out
}

impl Rec {
    /// The segment, with the payload cut to `cap` bytes as the kernel side would.
    pub fn seg(&self, cap: usize) -> Segment<'_> {
        let n = self.payload.len().min(cap);
        Segment {
            socket_id: self.socket,
            ts_ns: self.ts_ns,
            direction: self.direction,
            transport: self.transport,
            syscall_len: self.syscall_len,
            payload: &self.payload[..n],
            local_port: self.local_port,
            remote_port: self.remote_port,
            hint: None,
        }
    }
}

/// Feeds a fixture at capture size `cap`, closes every socket at the end, returns all records.
pub fn run(name: &str, cap: usize, cfg: Config) -> (Vec<L7Record>, Tracker) {
    let recs = load(name);
    let mut t = Tracker::new(cfg);
    let mut out = Vec::new();
    let mut last = 0;
    let mut ids = Vec::new();
    for r in &recs {
        t.feed(&r.seg(cap), &mut out);
        last = r.ts_ns;
        if !ids.contains(&r.socket) {
            ids.push(r.socket);
        }
    }
    for id in ids {
        t.close_socket(id, last + 1, &mut out);
    }
    (out, t)
}

pub fn json(r: &L7Record) -> String {
    serde_json::to_string(r).unwrap()
}

/// Segment literal helper for hand-made tests; `syscall_len` 0 means the payload's length.
pub fn seg<'a>(
    socket_id: u64,
    ts_ns: u64,
    direction: Direction,
    payload: &'a [u8],
    syscall_len: usize,
) -> Segment<'a> {
    Segment {
        socket_id,
        ts_ns,
        direction,
        transport: Transport::Tcp,
        syscall_len: if syscall_len == 0 {
            payload.len()
        } else {
            syscall_len
        } as u32,
        payload,
        local_port: 40000,
        remote_port: 80,
        hint: None,
    }
}
