//! DNS over UDP and TCP.

use crate::parser::{Chunk, Event, Parser};
use crate::{MsgType, Protocol, Transport};

/// DNS parser for one socket.
pub struct DnsParser {
    transport: Transport,
}

impl DnsParser {
    /// A parser for a socket of this transport.
    pub fn new(transport: Transport) -> Self {
        DnsParser { transport }
    }
}

/// Whether `b` looks like a DNS message (one datagram); `strict` asks for a well-formed question.
pub fn looks_like(b: &[u8], strict: bool) -> Option<MsgType> {
    let _ = (b, strict);
    None
}

/// Whether `b` looks like a length-prefixed DNS message (TCP).
pub fn looks_like_tcp(b: &[u8]) -> Option<MsgType> {
    let _ = b;
    None
}

impl Parser for DnsParser {
    fn protocol(&self) -> Protocol {
        Protocol::Dns
    }
    fn parse(&mut self, chunk: &Chunk, out: &mut Vec<Event>) {
        let _ = (chunk, out, self.transport);
    }
    fn finish(&mut self, _ts_ns: u64, _out: &mut Vec<Event>) {}
    fn buffered(&self) -> usize {
        0
    }
}
