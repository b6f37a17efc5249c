//! The trait every protocol parser implements, and what parsers emit.
//!
//! A parser holds the state of one socket (both directions) for one protocol. It is fed every
//! segment in capture order and emits [`Event`]s: whole messages, and gaps (bytes it could not
//! use, which may hide messages). It never panics and holds at most a fixed number of bytes.

use crate::{Direction, Protocol, Request, Response, Segment};

/// One segment as a parser sees it.
#[derive(Clone, Copy, Debug)]
pub struct Chunk<'a> {
    /// Which way the bytes went.
    pub dir: Direction,
    /// The captured bytes (at most `len`).
    pub bytes: &'a [u8],
    /// How many bytes really went by; `len - bytes.len()` of them were not captured.
    pub len: u64,
    /// When the syscall returned.
    pub ts_ns: u64,
}

impl<'a> Chunk<'a> {
    /// The chunk of a segment; a payload longer than `syscall_len` is cut to it.
    pub fn of(seg: &Segment<'a>) -> Chunk<'a> {
        let len = seg.syscall_len as usize;
        let bytes = if seg.payload.len() > len {
            &seg.payload[..len]
        } else {
            seg.payload
        };
        Chunk {
            dir: seg.direction,
            bytes,
            len: len as u64,
            ts_ns: seg.ts_ns,
        }
    }

    /// Bytes that went by but were not captured.
    pub fn missing(&self) -> u64 {
        self.len.saturating_sub(self.bytes.len() as u64)
    }
}

/// A request or a response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Body {
    /// A request.
    Request(Request),
    /// A response.
    Response(Response),
}

/// One parsed message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Which way it went.
    pub dir: Direction,
    /// The request or response.
    pub body: Body,
    /// When its first segment was seen.
    pub first_ts_ns: u64,
    /// When its last segment was seen.
    pub last_ts_ns: u64,
    /// Its size on the wire (counting uncaptured bytes).
    pub bytes: u64,
    /// A pairing key, for protocols that have one (the DNS id); `None`: pair in order.
    pub key: Option<u64>,
    /// A name the response repeats, to check a keyed pair (the DNS qname).
    pub check: Option<String>,
}

/// What a parser emits.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A whole message.
    Message(Message),
    /// Bytes in `dir` the parser could not use. They may hold the end of the previous message,
    /// or whole messages that are lost; the pairing treats them as "in doubt".
    Gap {
        /// Which way they went.
        dir: Direction,
        /// When the segment holding them was seen.
        ts_ns: u64,
        /// How many bytes.
        bytes: u64,
        /// The bytes were malformed (a parse error), not just uncaptured or after one.
        error: bool,
    },
    /// Exactly one message whose content could not be read (a Redis command without a name):
    /// it still takes its place in the pairing order.
    Unreadable {
        /// Which way it went.
        dir: Direction,
        /// When it ended.
        ts_ns: u64,
        /// Its size.
        bytes: u64,
    },
}

/// A protocol parser for one socket.
pub trait Parser {
    /// The protocol it parses.
    fn protocol(&self) -> Protocol;
    /// Feeds one segment; emits what it completes.
    fn parse(&mut self, chunk: &Chunk, out: &mut Vec<Event>);
    /// The socket closed: emits messages that end with the connection, and a gap for any
    /// message left half-read.
    fn finish(&mut self, ts_ns: u64, out: &mut Vec<Event>);
    /// Bytes held in buffers right now.
    fn buffered(&self) -> usize;
    /// A message in `dir` has begun and not ended (a long response still streaming): the
    /// request it answers is not timed out meanwhile.
    fn busy(&self, dir: Direction) -> bool {
        let _ = dir;
        false
    }
}

/// Cuts a byte string to at most `max` bytes and makes it text (invalid UTF-8 replaced).
pub(crate) fn text(b: &[u8], max: usize) -> String {
    let b = if b.len() > max { &b[..max] } else { b };
    String::from_utf8_lossy(b).into_owned()
}

/// Position of the first `needle` in `hay`, eight bytes at a time (the header scans are the
/// hottest loops of HTTP parsing).
pub(crate) fn find_byte(needle: u8, hay: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let rep = LO.wrapping_mul(u64::from(needle));
    let mut chunks = hay.chunks_exact(8);
    let mut base = 0;
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let x = u64::from_le_bytes(w) ^ rep;
        // The lowest flagged byte is exactly the first zero byte of x.
        let z = x.wrapping_sub(LO) & !x & HI;
        if z != 0 {
            return Some(base + (z.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .position(|&c| c == needle)
        .map(|p| base + p)
}

/// The index just past the first blank line (`\r\n\r\n`, or `\n\n`) in `b`.
pub(crate) fn find_head_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while i < b.len() {
        match find_byte(b'\n', &b[i..]) {
            None => return None,
            Some(p) => {
                let n = i + p;
                if n + 1 < b.len() && b[n + 1] == b'\n' {
                    return Some(n + 2);
                }
                if n + 2 < b.len() && b[n + 1] == b'\r' && b[n + 2] == b'\n' {
                    return Some(n + 3);
                }
                i = n + 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn find_byte_agrees_with_position() {
        let hay: Vec<u8> = (0..200u32).map(|i| (i * 7 % 13) as u8 + b'a').collect();
        for n in 0..hay.len() {
            for needle in [b'a', b'g', b'm', b'\n', 0x80] {
                assert_eq!(
                    find_byte(needle, &hay[n..]),
                    hay[n..].iter().position(|&c| c == needle)
                );
            }
        }
        assert_eq!(find_byte(0x81, &[0x01, 0x81]), Some(1));
        assert_eq!(find_byte(0, &[1, 2, 3, 4, 5, 6, 7, 8, 0]), Some(8));
    }

    #[test]
    fn head_end() {
        assert_eq!(find_head_end(b"GET / HTTP/1.1\r\n\r\nrest"), Some(18));
        assert_eq!(find_head_end(b"a\n\nb"), Some(3));
        assert_eq!(find_head_end(b"a\r\nb\r\n"), None);
    }
}
