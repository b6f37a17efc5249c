//! DNS over UDP (one message per datagram) and TCP (each message behind a 2-byte length).
//!
//! Only the header and the first question are read: id, QR, opcode, rcode, counts, qname and
//! qtype. Names follow compression pointers, which must point strictly backwards (so they
//! cannot loop) and are limited in number. Over TCP at most [`MAX_MSG`] bytes of a message are
//! kept; the rest is skipped by its length, counting uncaptured bytes.

use crate::parser::{Body, Chunk, Event, Message, Parser};
use crate::record::{DnsQuery, DnsResponse, Request, Response};
use crate::{Direction, MsgType, Protocol, Transport};
use std::fmt::Write;

/// Bytes of one TCP message kept for parsing (the header and question fit easily).
pub const MAX_MSG: usize = 512;
/// Longest name, as on the wire.
const MAX_NAME: usize = 255;
/// Compression pointers followed in one name.
const MAX_JUMPS: usize = 32;

/// Reads a name at `pos`: the text (without the trailing dot; `"."` for the root) and the
/// offset just past it in the original position. `None` if malformed or cut short.
pub fn read_name(b: &[u8], mut pos: usize) -> Option<(String, usize)> {
    let mut name = String::new();
    let mut wire_len = 0usize;
    let mut jumps = 0;
    let mut end = None;
    // Each pointer must go below the previous one's target, so pointers cannot cycle.
    let mut limit = usize::MAX;
    loop {
        let len = *b.get(pos)? as usize;
        match len & 0xc0 {
            0x00 => {
                if len == 0 {
                    let after = end.unwrap_or(pos + 1);
                    if name.is_empty() {
                        name.push('.');
                    }
                    return Some((name, after));
                }
                let label = b.get(pos + 1..pos + 1 + len)?;
                wire_len += len + 1;
                if wire_len > MAX_NAME {
                    return None;
                }
                if !name.is_empty() {
                    name.push('.');
                }
                for &c in label {
                    if c.is_ascii_graphic() && c != b'.' && c != b'\\' {
                        name.push(c as char);
                    } else {
                        let _ = write!(name, "\\{c:03}");
                    }
                }
                pos += 1 + len;
            }
            0xc0 => {
                let lo = *b.get(pos + 1)? as usize;
                let target = ((len & 0x3f) << 8) | lo;
                // Names live after the 12-byte header.
                if target < 12 || target >= pos.min(limit) || jumps >= MAX_JUMPS {
                    return None;
                }
                limit = target;
                jumps += 1;
                if end.is_none() {
                    end = Some(pos + 2);
                }
                pos = target;
            }
            _ => return None,
        }
    }
}

/// The name of a query type, or its number.
pub fn qtype_name(t: u16) -> String {
    let n = match t {
        1 => "A",
        2 => "NS",
        5 => "CNAME",
        6 => "SOA",
        12 => "PTR",
        13 => "HINFO",
        15 => "MX",
        16 => "TXT",
        28 => "AAAA",
        33 => "SRV",
        35 => "NAPTR",
        39 => "DNAME",
        41 => "OPT",
        43 => "DS",
        46 => "RRSIG",
        47 => "NSEC",
        48 => "DNSKEY",
        50 => "NSEC3",
        52 => "TLSA",
        64 => "SVCB",
        65 => "HTTPS",
        99 => "SPF",
        251 => "IXFR",
        252 => "AXFR",
        255 => "ANY",
        257 => "CAA",
        _ => return t.to_string(),
    };
    n.to_string()
}

/// The name of a response code, or its number.
pub fn rcode_name(r: u16) -> String {
    let n = match r {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => return r.to_string(),
    };
    n.to_string()
}

struct Header {
    id: u16,
    qr: bool,
    opcode: u16,
    rcode: u16,
    qd: u16,
    an: u16,
    z: bool,
}

fn header(b: &[u8]) -> Option<Header> {
    let h = b.get(..12)?;
    let w = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
    let flags = w(2);
    Some(Header {
        id: w(0),
        qr: flags & 0x8000 != 0,
        opcode: (flags >> 11) & 0xf,
        rcode: flags & 0xf,
        qd: w(4),
        an: w(6),
        z: flags & 0x0040 != 0,
    })
}

/// Whether `b` looks like a DNS message (one datagram). `strict` (for a non-DNS port) asks for
/// one well-formed question of a usual class and no answers in a query.
pub fn looks_like(b: &[u8], strict: bool) -> Option<MsgType> {
    let h = header(b)?;
    if h.z || !matches!(h.opcode, 0 | 1 | 2 | 4 | 5) || h.qd > 1 {
        return None;
    }
    let t = if h.qr {
        MsgType::Response
    } else {
        MsgType::Request
    };
    if !strict {
        return Some(t);
    }
    if h.qd != 1 || (!h.qr && (h.an != 0 || h.rcode != 0)) {
        return None;
    }
    let (_, end) = read_name(b, 12)?;
    let q = b.get(end..end + 4)?;
    let class = u16::from_be_bytes([q[2], q[3]]) & 0x7fff;
    matches!(class, 1 | 3 | 4 | 255).then_some(t)
}

/// Whether `b` looks like a length-prefixed DNS message (TCP); `strict` as for
/// [`looks_like`], and the length must cover at least the first question.
pub fn looks_like_tcp(b: &[u8], strict: bool) -> Option<MsgType> {
    let len = u16::from_be_bytes([*b.first()?, *b.get(1)?]);
    if len < 12 {
        return None;
    }
    let m = b.get(2..)?;
    if strict {
        let m = m.get(..usize::from(len).min(m.len()))?;
        let (_, end) = read_name(m, 12)?;
        if usize::from(len) < end + 4 {
            return None;
        }
    }
    looks_like(m, strict)
}

/// Parses a message (or its first bytes) into a request or response body, its id and a check
/// string (lowercase qname and qtype) that the answer repeats.
fn parse_msg(b: &[u8]) -> Option<(Body, u16, Option<String>)> {
    let h = header(b)?;
    let (qname, qtype) = if h.qd >= 1 {
        match read_name(b, 12) {
            Some((name, end)) => {
                let t = b
                    .get(end..end + 2)
                    .map(|t| qtype_name(u16::from_be_bytes([t[0], t[1]])));
                (Some(name), t)
            }
            None => (None, None),
        }
    } else {
        (None, None)
    };
    let check = qname.as_ref().map(|n| {
        let mut c = n.to_ascii_lowercase();
        c.push('/');
        c.push_str(qtype.as_deref().unwrap_or(""));
        c
    });
    let body = if h.qr {
        Body::Response(Response::Dns(DnsResponse {
            rcode: rcode_name(h.rcode),
            answers: h.an,
        }))
    } else {
        Body::Request(Request::Dns(DnsQuery {
            id: h.id,
            qname,
            qtype,
        }))
    };
    Some((body, h.id, check))
}

fn message(dir: Direction, b: &[u8], first: u64, last: u64, bytes: u64) -> Option<Message> {
    let (body, id, check) = parse_msg(b)?;
    Some(Message {
        dir,
        body,
        first_ts_ns: first,
        last_ts_ns: last,
        bytes,
        key: Some(u64::from(id)),
        check,
    })
}

#[derive(Clone, Copy)]
enum St {
    /// Reading the length; `Some(hi)` once its first byte came.
    Len(Option<u8>),
    /// Inside a message: bytes still to come.
    Msg(u64),
    Desync,
}

struct Stream {
    dir: Direction,
    st: St,
    buf: Vec<u8>,
    total: u64,
    first_ts: u64,
}

impl Stream {
    fn new(dir: Direction) -> Self {
        Stream {
            dir,
            st: St::Len(None),
            buf: Vec::new(),
            total: 0,
            first_ts: 0,
        }
    }

    fn gap(&mut self, ts: u64, bytes: u64, error: bool, out: &mut Vec<Event>) {
        self.st = St::Desync;
        self.buf = Vec::new();
        if bytes > 0 || error {
            out.push(Event::Gap {
                dir: self.dir,
                ts_ns: ts,
                bytes,
                error,
            });
        }
    }

    fn done(&mut self, ts: u64, out: &mut Vec<Event>) {
        match message(self.dir, &self.buf, self.first_ts, ts, self.total) {
            Some(m) => out.push(Event::Message(m)),
            None => out.push(Event::Gap {
                dir: self.dir,
                ts_ns: ts,
                bytes: self.total,
                error: true,
            }),
        }
        self.buf.clear();
        self.st = St::Len(None);
    }

    fn feed(&mut self, c: &Chunk, out: &mut Vec<Event>) {
        let b = c.bytes;
        let ts = c.ts_ns;
        let mut i = 0;
        while i < b.len() {
            match self.st {
                St::Desync => {
                    if i == 0 && looks_like_tcp(b, false).is_some() {
                        self.st = St::Len(None);
                        continue;
                    }
                    return self.gap(ts, (b.len() - i) as u64 + c.missing(), false, out);
                }
                St::Len(None) => {
                    self.first_ts = ts;
                    self.st = St::Len(Some(b[i]));
                    i += 1;
                }
                St::Len(Some(hi)) => {
                    let len = u16::from_be_bytes([hi, b[i]]);
                    i += 1;
                    if len < 12 {
                        return self.gap(ts, (b.len() - i) as u64 + c.missing() + 2, true, out);
                    }
                    self.total = 2 + u64::from(len);
                    self.buf.clear();
                    self.st = St::Msg(u64::from(len));
                }
                St::Msg(n) => {
                    let take = ((b.len() - i) as u64).min(n) as usize;
                    let room = MAX_MSG.saturating_sub(self.buf.len()).min(take);
                    self.buf.extend_from_slice(&b[i..i + room]);
                    i += take;
                    if take as u64 == n {
                        self.done(ts, out);
                    } else {
                        self.st = St::Msg(n - take as u64);
                    }
                }
            }
        }
        let mut missing = c.missing();
        if missing == 0 {
            return;
        }
        if let St::Msg(n) = self.st {
            let take = missing.min(n);
            missing -= take;
            if take == n {
                self.done(ts, out);
            } else {
                self.st = St::Msg(n - take);
            }
        }
        if missing > 0 && !matches!(self.st, St::Desync) {
            self.gap(ts, missing, false, out);
        }
    }
}

/// DNS parser for one socket.
pub struct DnsParser {
    transport: Transport,
    streams: [Stream; 2],
}

impl DnsParser {
    /// A parser for a socket of this transport.
    pub fn new(transport: Transport) -> Self {
        DnsParser {
            transport,
            streams: [
                Stream::new(Direction::Egress),
                Stream::new(Direction::Ingress),
            ],
        }
    }
}

impl Parser for DnsParser {
    fn protocol(&self) -> Protocol {
        Protocol::Dns
    }

    fn parse(&mut self, c: &Chunk, out: &mut Vec<Event>) {
        match self.transport {
            Transport::Udp => match message(c.dir, c.bytes, c.ts_ns, c.ts_ns, c.len) {
                Some(m) => out.push(Event::Message(m)),
                None => out.push(Event::Gap {
                    dir: c.dir,
                    ts_ns: c.ts_ns,
                    bytes: c.len,
                    error: true,
                }),
            },
            Transport::Tcp => {
                let i = match c.dir {
                    Direction::Egress => 0,
                    Direction::Ingress => 1,
                };
                self.streams[i].feed(c, out);
            }
        }
    }

    fn finish(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        for s in &mut self.streams {
            if let St::Msg(_) = s.st {
                // A message cut by the close: what was captured may still name it.
                s.done(ts_ns, out);
            }
        }
    }

    fn buffered(&self) -> usize {
        self.streams.iter().map(|s| s.buf.capacity()).sum()
    }

    fn busy(&self, dir: Direction) -> bool {
        let i = match dir {
            Direction::Egress => 0,
            Direction::Ingress => 1,
        };
        matches!(self.streams[i].st, St::Msg(_) | St::Len(Some(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_pointers() {
        let mut m = vec![0u8; 12];
        m.extend_from_slice(b"\x03www\x07example\x03com\x00");
        let (n, end) = read_name(&m, 12).unwrap();
        assert_eq!((n.as_str(), end), ("www.example.com", 29));
        // A pointer back to "example.com".
        m.extend_from_slice(b"\x04mail\xc0\x10");
        assert_eq!(
            read_name(&m, 29).unwrap(),
            ("mail.example.com".to_string(), 36)
        );
        // A pointer to itself, and one forwards: rejected, not looped on.
        let mut l = vec![0u8; 12];
        l.extend_from_slice(b"\xc0\x0c");
        assert_eq!(read_name(&l, 12), None);
        l.extend_from_slice(b"\xc0\x20");
        assert_eq!(read_name(&l, 14), None);
        // A label then a pointer back to it: a cycle through a backwards pointer.
        let mut c = vec![0u8; 12];
        c.extend_from_slice(b"\x01a\xc0\x0c");
        assert_eq!(read_name(&c, 14), None);
        // Root, and odd bytes escaped.
        let mut r = vec![0u8; 12];
        r.extend_from_slice(b"\x00\x02a\x01\x00");
        assert_eq!(read_name(&r, 12).unwrap().0, ".");
        assert_eq!(read_name(&r, 13).unwrap().0, "a\\001");
    }
}
