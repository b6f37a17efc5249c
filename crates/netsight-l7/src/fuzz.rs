//! A deterministic mutation fuzzer for the parsers and the tracker; runs on stable Rust.
//!
//! Each input is a conversation (a list of segments in both directions) made either of random
//! bytes or of a seed conversation (the recorded fixtures plus hand-made edge cases) mutated by
//! bit flips, byte and number replacement, insertion, deletion, duplication, splicing with
//! another seed, truncation and re-splitting into segments; every segment then gets a random
//! capture cut and a `syscall_len >= cap_len`. Each input runs through [`infer`], the
//! protocol's parser directly and a [`Tracker`]. A panic fails the run; after every input the
//! parser's buffers and the tracker's counters are checked against their bounds.
//!
//! `cargo run --release -p netsight-l7 --example fuzz -- --inputs 10000000` runs it at length;
//! a short run is a normal test.

use crate::parser::{Chunk, Event, Parser};
use crate::{
    dns::DnsParser, http1::Http1Parser, infer, redis::RedisParser, Config, Direction, Protocol,
    Segment, Tracker, Transport,
};

/// A small, fast, deterministic PRNG (splitmix64).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// A number in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    /// True with probability 1/n.
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// One segment of a seed conversation.
#[derive(Clone, Debug)]
pub struct Piece {
    /// Which way.
    pub dir: Direction,
    /// The bytes (whole, before any capture cut).
    pub bytes: Vec<u8>,
    /// Bytes that went by beyond `bytes` (a recorded syscall longer than what was kept).
    pub extra: u64,
}

/// A seed conversation.
#[derive(Clone, Debug)]
pub struct Seed {
    /// Its protocol.
    pub protocol: Protocol,
    /// Its transport.
    pub transport: Transport,
    /// Local and remote port.
    pub ports: (u16, u16),
    /// Its segments.
    pub pieces: Vec<Piece>,
}

const FIXTURES: &[(&str, Protocol)] = &[
    (
        include_str!("../tests/fixtures/http_curl_keepalive.txt"),
        Protocol::Http1,
    ),
    (
        include_str!("../tests/fixtures/http_curl_chunked.txt"),
        Protocol::Http1,
    ),
    (
        include_str!("../tests/fixtures/http_curl_expect.txt"),
        Protocol::Http1,
    ),
    (
        include_str!("../tests/fixtures/http_curl_head.txt"),
        Protocol::Http1,
    ),
    (
        include_str!("../tests/fixtures/http_pipelined_client.txt"),
        Protocol::Http1,
    ),
    (
        include_str!("../tests/fixtures/http_nginx_server.txt"),
        Protocol::Http1,
    ),
    (
        include_str!("../tests/fixtures/redis_client.txt"),
        Protocol::Redis,
    ),
    (
        include_str!("../tests/fixtures/redis_pubsub.txt"),
        Protocol::Redis,
    ),
    (
        include_str!("../tests/fixtures/dns_dig_udp.txt"),
        Protocol::Dns,
    ),
    (
        include_str!("../tests/fixtures/dns_dig_tcp.txt"),
        Protocol::Dns,
    ),
    (
        include_str!("../tests/fixtures/dns_tcp_pipelined.txt"),
        Protocol::Dns,
    ),
];

fn unhex(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let v = |c: u8| (c as char).to_digit(16).unwrap_or(0) as u8;
    b.chunks_exact(2)
        .map(|p| (v(p[0]) << 4) | v(p[1]))
        .collect()
}

/// Seeds from the fixture files (one per socket; big recorded payloads cut to 2 KiB with the
/// rest as `extra`) and hand-made edge cases.
pub fn seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for (text, protocol) in FIXTURES {
        let mut socks: Vec<(u64, Seed)> = Vec::new();
        for line in text.lines() {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() >= 6 && f[0] == "#" && f[1] == "socket" {
                let transport = if f[3] == "udp" {
                    Transport::Udp
                } else {
                    Transport::Tcp
                };
                socks.push((
                    f[2].parse().unwrap_or(0),
                    Seed {
                        protocol: *protocol,
                        transport,
                        ports: (f[4].parse().unwrap_or(0), f[5].parse().unwrap_or(0)),
                        pieces: Vec::new(),
                    },
                ));
                continue;
            }
            if f.len() < 4 || f[0].starts_with('#') {
                continue;
            }
            let id: u64 = f[1].parse().unwrap_or(0);
            let len: u64 = f[2].parse().unwrap_or(0);
            let mut bytes = f.get(4).map(|h| unhex(h)).unwrap_or_default();
            bytes.truncate(2048);
            let dir = if f[0] == "E" {
                Direction::Egress
            } else {
                Direction::Ingress
            };
            if let Some((_, s)) = socks.iter_mut().find(|(i, _)| *i == id) {
                let extra = len.saturating_sub(bytes.len() as u64);
                s.pieces.push(Piece { dir, bytes, extra });
            }
        }
        out.extend(socks.into_iter().map(|(_, s)| s));
    }
    let hand = |protocol, transport, ports, pieces: &[(Direction, &[u8])]| Seed {
        protocol,
        transport,
        ports,
        pieces: pieces
            .iter()
            .map(|(d, b)| Piece {
                dir: *d,
                bytes: b.to_vec(),
                extra: 0,
            })
            .collect(),
    };
    use Direction::{Egress as E, Ingress as I};
    out.push(hand(
        Protocol::Http1,
        Transport::Tcp,
        (40000, 80),
        &[
            (E, b"POST /u?password=x HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\nExpect: 100-continue\r\n\r\n"),
            (I, b"HTTP/1.1 100 Continue\r\n\r\n"),
            (E, b"3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n"),
            (I, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nwxyz\r\n0\r\n\r\n"),
            (E, b"CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n"),
            (I, b"HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01"),
        ],
    ));
    out.push(hand(
        Protocol::Redis,
        Transport::Tcp,
        (40000, 6379),
        &[
            (E, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nvalue\r\n*1\r\n$4\r\nPING\r\nPING\r\n"),
            (I, b"+OK\r\n>2\r\n$4\r\npush\r\n:1\r\n|1\r\n+a\r\n+b\r\n+PONG\r\n%2\r\n+a\r\n*2\r\n:1\r\n,1.5\r\n+b\r\n~1\r\n(12345678901234567890\r\n"),
            (E, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n"),
            (I, b"!10\r\nERR denied\r\n=7\r\ntxt:abc\r\n_\r\n#t\r\n"),
        ],
    ));
    out.push(hand(
        Protocol::Dns,
        Transport::Udp,
        (40000, 53),
        &[
            (E, b"\x00\x07\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x1c\x00\x01"),
            (I, b"\x00\x07\x81\x83\x00\x01\x00\x01\x00\x00\x00\x00\x03www\x07example\x03com\x00\x00\x1c\x00\x01\xc0\x0c\x00\x1c\x00\x01\x00\x00\x00\x3c\x00\x10\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x01"),
        ],
    ));
    out
}

/// Counts of one fuzz run.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Inputs (conversations) run.
    pub inputs: u64,
    /// Segments fed.
    pub segments: u64,
    /// Bytes fed (captured).
    pub bytes: u64,
    /// Parser events: messages, gaps.
    pub messages: u64,
    /// Gaps reported by the parser.
    pub gaps: u64,
    /// Records the tracker emitted.
    pub records: u64,
    /// Of them, paired (ok or error).
    pub paired: u64,
    /// Segments `infer` recognised.
    pub inferred: u64,
}

fn mutate(rng: &mut Rng, data: &mut Vec<u8>, donor: &[u8]) {
    const INTERESTING: &[u8] = b"\r\n\0\xff*$:+-0123456789 ;\xc0%>|!_";
    let rounds = 1 + rng.below(4);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(9) {
            0 if len > 0 => {
                let i = rng.below(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                data[i] = INTERESTING[rng.below(INTERESTING.len())];
            }
            2 => {
                let i = rng.below(len + 1);
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    data.insert(i, rng.next_u64() as u8);
                }
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = (1 + rng.below(16)).min(len - i);
                data.drain(i..i + n);
            }
            4 if len > 0 => {
                // Duplicate a slice somewhere.
                let i = rng.below(len);
                let n = (1 + rng.below(64)).min(len - i);
                let piece = data[i..i + n].to_vec();
                let at = rng.below(data.len() + 1);
                data.splice(at..at, piece);
            }
            5 if !donor.is_empty() => {
                // Splice in part of another seed.
                let i = rng.below(donor.len());
                let n = (1 + rng.below(128)).min(donor.len() - i);
                let at = rng.below(len + 1);
                data.splice(at..at, donor[i..i + n].iter().copied());
            }
            6 if len > 0 => data.truncate(rng.below(len)),
            7 => {
                // A number: huge, negative, or off by one, where digits are.
                let digits = data.iter().position(u8::is_ascii_digit);
                let nums: [&[u8]; 6] = [
                    b"18446744073709551616",
                    b"-1",
                    b"-2",
                    b"9999999999",
                    b"0",
                    b"ffffffffffffffff",
                ];
                let n = nums[rng.below(nums.len())];
                let at = digits.unwrap_or(0).min(data.len());
                let end = (at + 1).min(data.len());
                data.splice(at..end, n.iter().copied());
            }
            _ if len >= 2 => {
                // Swap two bytes.
                let (i, j) = (rng.below(len), rng.below(len));
                data.swap(i, j);
            }
            _ => {}
        }
    }
}

/// One fuzz input: transport, (local, remote) ports, and segments as (direction, captured
/// bytes, syscall_len).
pub type Input = (Transport, (u16, u16), Vec<(Direction, Vec<u8>, u32)>);

/// Makes one input for `protocol`.
pub fn input(rng: &mut Rng, seeds: &[Seed], protocol: Protocol) -> Input {
    let mine: Vec<&Seed> = seeds.iter().filter(|s| s.protocol == protocol).collect();
    let mut segs = Vec::new();
    if mine.is_empty() || rng.one_in(8) {
        // Random bytes.
        let transport = if rng.one_in(2) {
            Transport::Tcp
        } else {
            Transport::Udp
        };
        for _ in 0..1 + rng.below(6) {
            let n = rng.below(300);
            let b: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            let dir = if rng.one_in(2) {
                Direction::Egress
            } else {
                Direction::Ingress
            };
            let len = n as u32
                + if rng.one_in(4) {
                    rng.below(5000) as u32
                } else {
                    0
                };
            segs.push((dir, b, len));
        }
        let ports = (rng.below(65536) as u16, [53, 80, 6379, 8080][rng.below(4)]);
        return (transport, ports, segs);
    }
    let seed = mine[rng.below(mine.len())];
    let donor_seed = &seeds[rng.below(seeds.len())];
    let donor = donor_seed
        .pieces
        .get(rng.below(donor_seed.pieces.len()))
        .map(|p| p.bytes.as_slice())
        .unwrap_or(&[]);
    // A window of the seed's pieces.
    let n = seed.pieces.len();
    let start = if rng.one_in(3) { rng.below(n) } else { 0 };
    let take = 1 + rng.below(n - start);
    for (k, p) in seed.pieces[start..start + take].iter().enumerate() {
        let mut b = p.bytes.clone();
        if rng.one_in(2) || k == 0 {
            mutate(rng, &mut b, donor);
        }
        let extra = if p.extra > 0 && rng.one_in(2) {
            p.extra
        } else {
            0
        };
        // Re-split TCP pieces at random points.
        if seed.transport == Transport::Tcp && b.len() > 1 && rng.one_in(3) {
            let cut = 1 + rng.below(b.len() - 1);
            let tail = b.split_off(cut);
            segs.push((p.dir, b, 0));
            b = tail;
        }
        let dir = if rng.one_in(50) { p.dir.flip() } else { p.dir };
        segs.push((dir, b, extra as u32));
    }
    // Capture cuts and syscall lengths.
    for s in &mut segs {
        let whole = s.1.len() as u32 + s.2;
        s.2 = whole;
        if rng.one_in(4) && !s.1.is_empty() {
            let cap = rng.below(s.1.len());
            s.1.truncate(cap);
        }
        if rng.one_in(16) {
            s.2 = s.2.saturating_add(rng.below(100_000) as u32);
        }
    }
    (seed.transport, seed.ports, segs)
}

fn new_parser(protocol: Protocol, transport: Transport, rng: &mut Rng) -> Box<dyn Parser> {
    match protocol {
        Protocol::Http1 => Box::new(Http1Parser::new(rng.one_in(2))),
        Protocol::Dns => Box::new(DnsParser::new(transport)),
        Protocol::Redis => Box::new(RedisParser::new(if rng.one_in(2) {
            Direction::Egress
        } else {
            Direction::Ingress
        })),
    }
}

/// Bytes a parser may hold for one socket (both directions), with allocator slack (a `Vec`
/// grown past its limit by one push can have up to twice the capacity).
const MAX_PARSER_BYTES: usize = 2 * crate::MAX_PARSER_BYTES;

/// Runs `n` inputs for `protocol`; panics on a broken invariant (or a parser panic).
pub fn run(protocol: Protocol, n: u64, seed: u64) -> Report {
    let seeds = seeds();
    let mut rng = Rng::new(seed ^ (protocol as u64).wrapping_mul(0x1234_5678_9abc_def1));
    let mut rep = Report::default();
    let cfg = Config {
        max_sockets: 8,
        max_pending_per_socket: 16,
        timeout_ns: 1_000_000,
        ..Config::default()
    };
    let mut tracker = Tracker::new(cfg);
    let mut events: Vec<Event> = Vec::new();
    let mut out = Vec::new();
    for i in 0..n {
        let (transport, ports, segs) = input(&mut rng, &seeds, protocol);
        let mut parser = new_parser(protocol, transport, &mut rng);
        let socket_id = i % 16;
        let mut ts = i * 10_000_000;
        let use_seq = rng.one_in(2);
        let mut seq = rng.below(4) as u64;
        for (dir, bytes, len) in &segs {
            ts += 1 + rng.below(1000) as u64;
            rep.segments += 1;
            rep.bytes += bytes.len() as u64;
            if infer(bytes, *dir, transport, ports.0, ports.1).is_some() {
                rep.inferred += 1;
            }
            let seg = Segment {
                socket_id,
                ts_ns: ts,
                direction: *dir,
                transport,
                syscall_len: *len,
                payload: bytes,
                local_port: ports.0,
                remote_port: ports.1,
                hint: None,
            };
            events.clear();
            parser.parse(&Chunk::of(&seg), &mut events);
            for e in &events {
                match e {
                    Event::Message(_) => rep.messages += 1,
                    _ => rep.gaps += 1,
                }
            }
            assert!(
                parser.buffered() <= MAX_PARSER_BYTES,
                "parser holds {} bytes",
                parser.buffered()
            );
            if use_seq {
                // Sometimes skip numbers (lost events) or go back (reordered).
                seq += 1;
                if rng.one_in(20) {
                    seq += rng.below(3) as u64;
                } else if rng.one_in(50) {
                    seq = seq.saturating_sub(2);
                }
                tracker.feed_seq(&seg, seq, &mut out);
            } else {
                tracker.feed(&seg, &mut out);
            }
        }
        events.clear();
        parser.finish(ts, &mut events);
        match rng.below(3) {
            0 => tracker.close_socket(socket_id, ts + 1, &mut out),
            1 => tracker.expire(ts + 2_000_000, &mut out),
            _ => {}
        }
        if rng.one_in(64) {
            tracker.lost(socket_id, ts + 1, &mut out);
        }
        rep.records += out.len() as u64;
        rep.paired += out
            .iter()
            .filter(|r| r.request.is_some() && r.response.is_some())
            .count() as u64;
        out.clear();
        rep.inputs += 1;
    }
    let st = tracker.stats();
    assert!(st.sockets_tracked <= 8);
    for ps in st.protocols.values() {
        assert_eq!(ps.records, ps.ok + ps.error + ps.incomplete);
    }
    rep
}
