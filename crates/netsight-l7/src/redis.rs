//! Redis RESP2/RESP3.

use crate::parser::{Chunk, Event, Parser};
use crate::{Direction, MsgType, Protocol};

/// Redis parser for one socket.
pub struct RedisParser {
    req_dir: Direction,
}

impl RedisParser {
    /// A parser for a socket whose commands go in `req_dir`.
    pub fn new(req_dir: Direction) -> Self {
        RedisParser { req_dir }
    }

    /// The direction commands go in.
    pub fn request_dir(&self) -> Direction {
        self.req_dir
    }
}

/// Whether `b` looks like a Redis command or reply; `port` says 6379 is involved.
pub fn looks_like(b: &[u8], port: bool) -> Option<MsgType> {
    let _ = (b, port);
    None
}

impl Parser for RedisParser {
    fn protocol(&self) -> Protocol {
        Protocol::Redis
    }
    fn parse(&mut self, chunk: &Chunk, out: &mut Vec<Event>) {
        let _ = (chunk, out);
    }
    fn finish(&mut self, _ts_ns: u64, _out: &mut Vec<Event>) {}
    fn buffered(&self) -> usize {
        0
    }
}
