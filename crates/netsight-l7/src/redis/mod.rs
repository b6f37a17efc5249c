//! Redis RESP2/RESP3 (and inline commands).
//!
//! A streaming decoder per direction: lines are buffered (at most [`MAX_LINE`] bytes are kept),
//! aggregates are counted on a stack (at most [`MAX_DEPTH`] deep), bulk strings are skipped by
//! their length (uncaptured bytes count), and only the first bytes of the first few command
//! arguments are kept. Commands pair with replies in order (pipelining). RESP3 push frames and,
//! once the socket subscribed, RESP2 pub/sub messages are not replies and are skipped; only the
//! first confirmation of a (P|S)SUBSCRIBE/UNSUBSCRIBE answers it.
//!
//! Redaction is structural: a record carries the command and its key, never other arguments,
//! and `AUTH`, `HELLO`, `CONFIG` and `MIGRATE`'s `AUTH`/`AUTH2` never yield a key from their
//! secret positions.

use crate::parser::{text, Body, Chunk, Event, Message, Parser};
use crate::record::{RedisCommand, RedisReply, ReplyKind, Request, Response};
use crate::{Direction, MsgType, Protocol};

mod commands;
pub use commands::command_and_key;
use commands::COMMANDS;

/// Longest line kept (a longer simple string or error is cut, a longer header is an error).
pub const MAX_LINE: usize = 4096;
/// Deepest nesting of aggregates.
pub const MAX_DEPTH: usize = 64;
/// Arguments kept per command, and bytes of each.
const KEEP_ARGS: usize = 4;
const KEEP_ARG_BYTES: usize = 256;
/// Bytes of an error message kept.
const KEEP_ERROR: usize = 256;

fn is_type_byte(c: u8) -> bool {
    b"*$+-:,#_(=!%~>|".contains(&c)
}

fn parse_int(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 18 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v = digits
        .iter()
        .fold(0i64, |a, &d| a * 10 + i64::from(d - b'0'));
    Some(if neg { -v } else { v })
}

/// The first line of `b` (without CR LF), if `b` holds a whole one.
fn first_line(b: &[u8]) -> Option<&[u8]> {
    let n = b.iter().take(MAX_LINE).position(|&c| c == b'\n')?;
    let l = &b[..n];
    Some(l.strip_suffix(b"\r").unwrap_or(l))
}

/// Whether a line is a plausible first line of a RESP value.
fn plausible(line: &[u8]) -> bool {
    let Some((&t, rest)) = line.split_first() else {
        return false;
    };
    match t {
        b'*' | b'$' | b'%' | b'~' | b'>' | b'|' | b'=' | b'!' => {
            parse_int(rest).is_some_and(|n| n >= -1)
        }
        b':' => parse_int(rest).is_some(),
        b'+' | b'-' => rest.iter().all(|&c| c >= b' ' || c == b'\t'),
        b'_' => rest.is_empty(),
        b'#' => rest == b"t" || rest == b"f",
        b',' | b'(' => !rest.is_empty(),
        _ => false,
    }
}

/// Whether `b` looks like a Redis command (an array of bulk strings naming a known command, or
/// with `port` an inline known command) or, with `port` (6379 involved), a reply.
pub fn looks_like(b: &[u8], port: bool) -> Option<MsgType> {
    let line = first_line(b)?;
    if line.first() == Some(&b'*') {
        let n = parse_int(&line[1..])?;
        let rest = b.get(line.len() + 2..)?;
        let l2 = first_line(rest)?;
        if n >= 1 && l2.first() == Some(&b'$') {
            let len = usize::try_from(parse_int(&l2[1..])?).ok()?;
            let name = rest.get(l2.len() + 2..l2.len() + 2 + len);
            if let Some(name) = name {
                let up = String::from_utf8_lossy(name).to_ascii_uppercase();
                if COMMANDS.contains(&up.as_str()) {
                    return Some(MsgType::Request);
                }
            }
            return port.then_some(MsgType::Unknown);
        }
        return (port && plausible(line)).then_some(MsgType::Response);
    }
    if !port {
        return None;
    }
    if plausible(line) {
        return Some(MsgType::Response);
    }
    let word = line.split(|&c| c == b' ').next()?;
    let up = String::from_utf8_lossy(word).to_ascii_uppercase();
    COMMANDS.contains(&up.as_str()).then_some(MsgType::Request)
}

#[derive(Clone, Copy, Debug)]
enum St {
    Line,
    /// Bulk payload and its CR LF still to come.
    Bulk(u64),
    Desync,
}

#[derive(Default)]
struct Build {
    first_ts: u64,
    last_ts: u64,
    bytes: u64,
    /// Type byte of the top-level value (0 for inline).
    top: u8,
    nargs: u64,
    args: Vec<String>,
    error: Option<String>,
    /// The top-level value is a RESP3 push or a pub/sub message: not a reply.
    push: bool,
}

struct Stream {
    dir: Direction,
    is_req: bool,
    st: St,
    line: Vec<u8>,
    line_over: bool,
    /// Children still to come, per open aggregate.
    stack: Vec<u64>,
    cur: Option<Build>,
    /// Keep the current bulk's bytes as argument `keep_arg`.
    keep: Option<usize>,
    /// Bytes of the line being read so far, and when it began.
    line_bytes: u64,
    line_ts: u64,
}

impl Stream {
    fn new(dir: Direction, is_req: bool) -> Self {
        Stream {
            dir,
            is_req,
            st: St::Line,
            line: Vec::new(),
            line_over: false,
            stack: Vec::new(),
            cur: None,
            keep: None,
            line_bytes: 0,
            line_ts: 0,
        }
    }

    fn gap(&mut self, ts: u64, bytes: u64, error: bool, out: &mut Vec<Event>) {
        self.st = St::Desync;
        self.line = Vec::new();
        self.line_over = false;
        self.stack.clear();
        self.keep = None;
        self.cur = None;
        self.line_bytes = 0;
        if bytes > 0 || error {
            out.push(Event::Gap {
                dir: self.dir,
                ts_ns: ts,
                bytes,
                error,
            });
        }
    }

    /// Index of the next element of the top-level array, if we are directly inside it.
    fn top_index(&self) -> Option<usize> {
        let c = self.cur.as_ref()?;
        if self.stack.len() == 1 && c.top == b'*' {
            let left = self.stack[0];
            Some((c.nargs - left) as usize)
        } else {
            None
        }
    }
}

/// Redis parser for one socket.
pub struct RedisParser {
    req_dir: Direction,
    streams: [Stream; 2],
    /// The client subscribed: RESP2 pub/sub messages may arrive unasked.
    pubsub: bool,
    /// Subscription confirmations that answer a command (the first of each).
    confirm_credit: u64,
    monitor: Monitor,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Monitor {
    No,
    /// MONITOR was sent; its reply is the next one.
    Asked,
    /// Replies are the server's stream of monitored commands.
    Streaming,
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

const PUBSUB_CMDS: &[&str] = &[
    "SUBSCRIBE",
    "PSUBSCRIBE",
    "SSUBSCRIBE",
    "UNSUBSCRIBE",
    "PUNSUBSCRIBE",
    "SUNSUBSCRIBE",
];

impl RedisParser {
    /// A parser for a socket whose commands go in `req_dir`.
    pub fn new(req_dir: Direction) -> Self {
        RedisParser {
            req_dir,
            streams: [
                Stream::new(Direction::Egress, req_dir == Direction::Egress),
                Stream::new(Direction::Ingress, req_dir == Direction::Ingress),
            ],
            pubsub: false,
            confirm_credit: 0,
            monitor: Monitor::No,
        }
    }

    /// The direction commands go in.
    pub fn request_dir(&self) -> Direction {
        self.req_dir
    }

    /// A top-level value is complete.
    fn finish_msg(&mut self, d: usize, out: &mut Vec<Event>) {
        let s = &mut self.streams[d];
        s.st = St::Line;
        let Some(b) = s.cur.take() else {
            return;
        };
        let body = if s.is_req {
            let (command, key) = command_and_key(&b.args);
            if command.is_empty() {
                // A command whose name was not captured (or is not a string): it will get a
                // reply, so it must not vanish without a trace.
                out.push(Event::Unreadable {
                    dir: s.dir,
                    ts_ns: b.last_ts,
                    bytes: b.bytes,
                });
                return;
            }
            if PUBSUB_CMDS.contains(&command.as_str()) {
                self.pubsub = true;
                self.confirm_credit += 1;
            }
            if command == "MONITOR" {
                self.monitor = Monitor::Asked;
            }
            Body::Request(Request::Redis(RedisCommand { command, key }))
        } else {
            // After MONITOR's +OK every reply is a monitored command, not an answer.
            match self.monitor {
                Monitor::Streaming => return,
                Monitor::Asked => self.monitor = Monitor::Streaming,
                Monitor::No => {}
            }
            if b.push {
                return;
            }
            if self.pubsub && b.top == b'*' {
                let kind = b.args.first().map(|a| a.to_ascii_lowercase());
                match kind.as_deref() {
                    Some("message" | "pmessage" | "smessage") => return,
                    Some(
                        "subscribe" | "psubscribe" | "ssubscribe" | "unsubscribe" | "punsubscribe"
                        | "sunsubscribe",
                    ) => {
                        if self.confirm_credit == 0 {
                            return;
                        }
                        self.confirm_credit -= 1;
                    }
                    _ => {}
                }
            }
            let reply = match b.top {
                b'+' => ReplyKind::Ok,
                b'-' | b'!' => ReplyKind::Error,
                _ => ReplyKind::Value,
            };
            Body::Response(Response::Redis(RedisReply {
                reply,
                error: if reply == ReplyKind::Error {
                    b.error
                } else {
                    None
                },
            }))
        };
        out.push(Event::Message(Message {
            dir: s.dir,
            body,
            first_ts_ns: b.first_ts,
            last_ts_ns: b.last_ts,
            bytes: b.bytes,
            key: None,
            check: None,
        }));
    }

    /// An element ended: count it against its aggregates; true when the top-level value ended.
    fn element_done(s: &mut Stream) -> bool {
        while let Some(top) = s.stack.last_mut() {
            *top -= 1;
            if *top > 0 {
                return false;
            }
            s.stack.pop();
        }
        true
    }

    /// Handles one complete line (without CR LF; `over`: cut at [`MAX_LINE`]) that began at
    /// `start` and took `used` bytes. Returns false on a protocol error.
    #[allow(clippy::too_many_arguments)]
    fn line(
        &mut self,
        d: usize,
        line: &[u8],
        over: bool,
        start: u64,
        used: u64,
        ts: u64,
        out: &mut Vec<Event>,
    ) -> bool {
        let s = &mut self.streams[d];
        let starting = s.cur.is_none();
        match s.cur.as_mut() {
            None => {
                s.cur = Some(Build {
                    first_ts: start,
                    last_ts: ts,
                    bytes: used,
                    ..Build::default()
                })
            }
            Some(c) => {
                c.bytes += used;
                c.last_ts = ts;
            }
        }
        let index = s.top_index();
        let Some((&t, rest)) = line.split_first() else {
            // An empty line between inline commands.
            if starting {
                s.cur = None;
            }
            return true;
        };
        if !is_type_byte(t) {
            if !(starting && s.is_req) {
                return false;
            }
            // An inline command.
            let args: Vec<String> = line
                .split(|&c| c == b' ' || c == b'\t')
                .filter(|w| !w.is_empty())
                .take(KEEP_ARGS)
                .map(|w| text(w, KEEP_ARG_BYTES))
                .collect();
            if let Some(c) = s.cur.as_mut() {
                c.args = args;
                c.nargs = c.args.len() as u64;
            }
            self.finish_msg(d, out);
            return true;
        }
        if over && t != b'+' && t != b'-' {
            return false;
        }
        if starting {
            if let Some(c) = s.cur.as_mut() {
                c.top = t;
                c.push = t == b'>';
            }
        }
        let n = match t {
            b'*' | b'$' | b'%' | b'~' | b'>' | b'|' | b'=' | b'!' => match parse_int(rest) {
                Some(n) if n >= -1 => n,
                _ => return false,
            },
            _ => 0,
        };
        if s.is_req && starting && t != b'*' {
            // Commands are arrays (or inline).
            return false;
        }
        let scalar_done = match t {
            b'*' | b'%' | b'~' | b'>' | b'|' => {
                let count = match t {
                    b'%' => n.saturating_mul(2),
                    // An attribute is followed by the value it describes.
                    b'|' => n.saturating_mul(2).saturating_add(1),
                    _ => n,
                };
                if count <= 0 {
                    true
                } else {
                    if s.stack.len() >= MAX_DEPTH {
                        return false;
                    }
                    if starting && t == b'*' {
                        if let Some(c) = s.cur.as_mut() {
                            c.nargs = count as u64;
                        }
                    }
                    s.stack.push(count as u64);
                    false
                }
            }
            b'$' | b'=' | b'!' => {
                if n < 0 {
                    true
                } else {
                    if s.is_req && s.stack.len() == 1 {
                        s.keep = index.filter(|&i| i < KEEP_ARGS);
                    } else if !s.is_req && s.stack.len() == 1 && index == Some(0) {
                        // The kind of a pub/sub message.
                        s.keep = Some(0);
                    } else if starting && t == b'!' {
                        s.keep = Some(usize::MAX);
                    } else {
                        s.keep = None;
                    }
                    s.line.clear();
                    s.st = St::Bulk(n as u64 + 2);
                    return true;
                }
            }
            b'-' => {
                if starting {
                    if let Some(c) = s.cur.as_mut() {
                        c.error = Some(text(rest, KEEP_ERROR));
                    }
                }
                true
            }
            _ => {
                if s.is_req {
                    // Command arguments are bulk strings only.
                    return false;
                }
                true
            }
        };
        if scalar_done && Self::element_done(s) {
            self.finish_msg(d, out);
        }
        true
    }

    fn feed(&mut self, c: &Chunk, out: &mut Vec<Event>) {
        let d = idx(c.dir);
        let b = c.bytes;
        let ts = c.ts_ns;
        let mut i = 0;
        while i < b.len() {
            if let Some(cur) = self.streams[d].cur.as_mut() {
                cur.last_ts = ts;
            }
            match self.streams[d].st {
                St::Desync => {
                    let s = &mut self.streams[d];
                    if i == 0 && first_line(b).is_some_and(|l| resync_ok(l, s.is_req)) {
                        s.st = St::Line;
                        continue;
                    }
                    let n = (b.len() - i) as u64 + c.missing();
                    return s.gap(ts, n, false, out);
                }
                St::Bulk(n) => {
                    let s = &mut self.streams[d];
                    let take = ((b.len() - i) as u64).min(n) as usize;
                    if s.keep.is_some() {
                        // Keep payload bytes, not the final CR LF.
                        let payload = (n.saturating_sub(2) as usize).min(take);
                        let room = KEEP_ARG_BYTES.saturating_sub(s.line.len()).min(payload);
                        s.line.extend_from_slice(&b[i..i + room]);
                    }
                    i += take;
                    if let Some(cur) = s.cur.as_mut() {
                        cur.bytes += take as u64;
                    }
                    if (take as u64) < n {
                        s.st = St::Bulk(n - take as u64);
                        continue;
                    }
                    self.bulk_done(d, out);
                }
                St::Line => {
                    let s = &mut self.streams[d];
                    let rest = &b[i..];
                    if s.line_bytes == 0 {
                        s.line_ts = ts;
                    }
                    match rest.iter().position(|&c| c == b'\n') {
                        None => {
                            let room = MAX_LINE.saturating_sub(s.line.len()).min(rest.len());
                            s.line.extend_from_slice(&rest[..room]);
                            s.line_over |= room < rest.len();
                            s.line_bytes += rest.len() as u64;
                            i = b.len();
                        }
                        Some(p) => {
                            let mut line = std::mem::take(&mut s.line);
                            let room = MAX_LINE.saturating_sub(line.len()).min(p);
                            line.extend_from_slice(&rest[..room]);
                            let over = s.line_over || room < p;
                            let used = s.line_bytes + (p + 1) as u64;
                            let start = s.line_ts;
                            s.line_over = false;
                            s.line_bytes = 0;
                            if line.last() == Some(&b'\r') {
                                line.pop();
                            }
                            i += p + 1;
                            if !self.line(d, &line, over, start, used, ts, out) {
                                let s = &mut self.streams[d];
                                let n = (b.len() - i) as u64 + c.missing() + used;
                                return s.gap(ts, n, true, out);
                            }
                            line.clear();
                            let s = &mut self.streams[d];
                            if line.capacity() <= 1024 && s.line.is_empty() {
                                s.line = line;
                            }
                        }
                    }
                }
            }
        }
        self.uncaptured(c, out);
    }

    fn bulk_done(&mut self, d: usize, out: &mut Vec<Event>) {
        let s = &mut self.streams[d];
        s.st = St::Line;
        let kept = std::mem::take(&mut s.line);
        if let (Some(k), Some(cur)) = (s.keep.take(), s.cur.as_mut()) {
            let t = text(&kept, KEEP_ARG_BYTES);
            if k == usize::MAX {
                cur.error = Some(t);
            } else if cur.args.len() == k {
                cur.args.push(t);
            }
        }
        if Self::element_done(s) {
            self.finish_msg(d, out);
        }
    }

    fn uncaptured(&mut self, c: &Chunk, out: &mut Vec<Event>) {
        let mut missing = c.missing();
        if missing == 0 {
            return;
        }
        let d = idx(c.dir);
        let ts = c.ts_ns;
        if let St::Bulk(n) = self.streams[d].st {
            let take = missing.min(n);
            missing -= take;
            let s = &mut self.streams[d];
            if let Some(cur) = s.cur.as_mut() {
                cur.bytes += take;
            }
            if take == n {
                self.bulk_done(d, out);
            } else {
                s.st = St::Bulk(n - take);
            }
        }
        if missing > 0 {
            let s = &mut self.streams[d];
            if matches!(s.st, St::Desync) {
                return;
            }
            // The rest of this value (or later values) went by uncaptured: emit what is
            // known of a value that began, then wait for a clean start.
            if s.cur.is_some() {
                if let Some(cur) = s.cur.as_mut() {
                    cur.bytes += missing;
                }
                self.finish_msg(d, out);
                let s = &mut self.streams[d];
                s.gap(ts, 0, false, out);
                // The bytes after the value are in doubt too.
                out.push(Event::Gap {
                    dir: s.dir,
                    ts_ns: ts,
                    bytes: 0,
                    error: false,
                });
            } else {
                s.gap(ts, missing, false, out);
            }
        }
    }
}

/// Whether a segment starting with `line` can be a clean start after a gap.
fn resync_ok(line: &[u8], is_req: bool) -> bool {
    if is_req {
        if line.first() == Some(&b'*') {
            return plausible(line);
        }
        // An inline command.
        let word = line.split(|&c| c == b' ').next().unwrap_or_default();
        let up = String::from_utf8_lossy(word).to_ascii_uppercase();
        COMMANDS.contains(&up.as_str())
    } else {
        plausible(line)
    }
}

impl Parser for RedisParser {
    fn protocol(&self) -> Protocol {
        Protocol::Redis
    }

    fn parse(&mut self, chunk: &Chunk, out: &mut Vec<Event>) {
        self.feed(chunk, out);
    }

    fn finish(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        for s in &mut self.streams {
            if s.cur.is_some() {
                let n = s.cur.as_ref().map_or(0, |c| c.bytes);
                s.gap(ts_ns, n, false, out);
            }
        }
    }

    fn buffered(&self) -> usize {
        self.streams
            .iter()
            .map(|s| s.line.capacity() + s.stack.capacity() * 8)
            .sum()
    }

    fn busy(&self, dir: Direction) -> bool {
        let s = &self.streams[idx(dir)];
        s.cur.is_some() || s.line_bytes > 0
    }
}
