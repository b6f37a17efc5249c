//! HTTP/1.x.

use crate::parser::{Chunk, Event, Parser};
use crate::{MsgType, Protocol};

/// HTTP/1 parser for one socket.
pub struct Http1Parser {
    redact: bool,
}

impl Http1Parser {
    /// A parser; `redact` hides secrets in paths.
    pub fn new(redact: bool) -> Self {
        Http1Parser { redact }
    }
}

/// Whether `b` starts like an HTTP/1 request or response.
pub fn looks_like(b: &[u8]) -> Option<MsgType> {
    let _ = b;
    None
}

impl Parser for Http1Parser {
    fn protocol(&self) -> Protocol {
        Protocol::Http1
    }
    fn parse(&mut self, chunk: &Chunk, out: &mut Vec<Event>) {
        let _ = (chunk, out, self.redact);
    }
    fn finish(&mut self, _ts_ns: u64, _out: &mut Vec<Event>) {}
    fn buffered(&self) -> usize {
        0
    }
}
