//! HTTP/1.0 and HTTP/1.1.
//!
//! Each direction is a stream of messages: a head (start line and headers, buffered up to
//! [`MAX_HEAD`] bytes across segments) and a body, which is skipped, never buffered: by
//! Content-Length, by chunked framing, or until the connection closes. Uncaptured bytes of a
//! truncated segment (`syscall_len > cap_len`) count as body. When the framing cannot be
//! followed (a malformed head, a head cut by the capture, a chunk boundary in uncaptured bytes)
//! the stream reports a gap and waits for a segment that starts like a message.
//!
//! Handled: keep-alive, pipelining (the response to a HEAD request is known to have no body
//! because the request methods are queued), `Expect: 100-continue` (1xx other than 101 are
//! interim and skipped; a final response that comes before the request body ends the request),
//! 204/304 and HEAD without body, 101 and CONNECT tunnels (the socket stops being parsed).

use crate::parser::{find_byte, find_head_end, text, Body, Chunk, Event, Message, Parser};
use crate::record::{HttpRequest, HttpResponse, Request, Response};
use crate::{redact, Direction, MsgType, Protocol};
use std::collections::VecDeque;

mod chunked;
use chunked::{Chunked, Step};

/// Most head bytes buffered per direction; a longer head is a parse error.
pub const MAX_HEAD: usize = 8 * 1024;
/// Longest path kept in a record.
const MAX_PATH: usize = 512;
/// Longest Host kept.
const MAX_HOST: usize = 256;
/// Methods remembered for the responses' sake (HEAD, CONNECT).
const MAX_METHODS: usize = 256;

const METHODS: &[&[u8]] = &[
    b"GET",
    b"POST",
    b"PUT",
    b"DELETE",
    b"HEAD",
    b"OPTIONS",
    b"PATCH",
    b"CONNECT",
    b"TRACE",
    b"PROPFIND",
    b"PROPPATCH",
    b"MKCOL",
    b"COPY",
    b"MOVE",
    b"LOCK",
    b"UNLOCK",
    b"REPORT",
    b"SEARCH",
    b"PURGE",
];

/// Whether `b` starts like an HTTP/1 request (a known method, a space) or response
/// (`HTTP/1.x NNN`).
pub fn looks_like(b: &[u8]) -> Option<MsgType> {
    if b.len() >= 12 && b.starts_with(b"HTTP/1.") {
        let ok = (b[7] == b'0' || b[7] == b'1')
            && b[8] == b' '
            && b[9..12].iter().all(u8::is_ascii_digit);
        return ok.then_some(MsgType::Response);
    }
    let sp = b.iter().take(11).position(|&c| c == b' ')?;
    let m = &b[..sp];
    let next = *b.get(sp + 1)?;
    if METHODS.contains(&m) && next > b' ' && next < 0x7f {
        return Some(MsgType::Request);
    }
    None
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Method {
    Head,
    Connect,
    Other,
}

#[derive(Clone, Copy, Debug)]
enum St {
    Start,
    Head,
    Len(u64),
    Chunked(Chunked),
    UntilClose,
    Desync,
    /// After 101 or a CONNECT tunnel: not HTTP any more.
    Tunnel,
}

/// A message being read.
struct Cur {
    msg: Message,
    emitted: bool,
}

struct Stream {
    dir: Direction,
    st: St,
    head: Vec<u8>,
    cur: Option<Cur>,
    /// The request being read asked `Expect: 100-continue`.
    expect: bool,
    /// When the head being buffered began.
    head_ts: u64,
    /// The request being read got its `100 Continue`: its body will come.
    continued: bool,
}

impl Stream {
    fn new(dir: Direction) -> Self {
        Stream {
            dir,
            st: St::Start,
            head: Vec::new(),
            cur: None,
            expect: false,
            head_ts: 0,
            continued: false,
        }
    }

    fn gap(&mut self, ts: u64, bytes: u64, error: bool, out: &mut Vec<Event>) {
        self.st = St::Desync;
        self.head = Vec::new();
        self.expect = false;
        if bytes > 0 || error {
            out.push(Event::Gap {
                dir: self.dir,
                ts_ns: ts,
                bytes,
                error,
            });
        }
    }

    /// Ends the current message (emitting it unless it already was).
    fn complete(&mut self, out: &mut Vec<Event>) {
        if let Some(c) = self.cur.take() {
            if !c.emitted {
                out.push(Event::Message(c.msg));
            }
        }
        self.st = St::Start;
        self.expect = false;
    }

    fn add(&mut self, n: u64, ts: u64) {
        if let Some(c) = self.cur.as_mut() {
            c.msg.bytes += n;
            c.msg.last_ts_ns = ts;
        }
    }
}

/// What the head of a message says.
struct Head {
    body: Body,
    method: Method,
    status: u16,
    len: Option<u64>,
    chunked: bool,
    expect: bool,
}

/// HTTP/1 parser for one socket.
pub struct Http1Parser {
    redact: bool,
    streams: [Stream; 2],
    /// Methods of requests whose responses have not begun, in order.
    methods: VecDeque<Method>,
}

fn idx(d: Direction) -> usize {
    match d {
        Direction::Egress => 0,
        Direction::Ingress => 1,
    }
}

impl Http1Parser {
    /// A parser; `redact` hides secrets in paths.
    pub fn new(redact: bool) -> Self {
        Http1Parser {
            redact,
            streams: [
                Stream::new(Direction::Egress),
                Stream::new(Direction::Ingress),
            ],
            methods: VecDeque::new(),
        }
    }

    fn feed(&mut self, c: &Chunk, out: &mut Vec<Event>) {
        let bytes = c.bytes;
        let ts = c.ts_ns;
        let mut i = 0usize;
        loop {
            let s = &mut self.streams[idx(c.dir)];
            let rest = &bytes[i.min(bytes.len())..];
            match s.st {
                St::Tunnel => {
                    // Counted by the tracker as bytes of the socket; nothing to parse.
                    return;
                }
                St::Desync => {
                    if i == 0 && looks_like(bytes).is_some() {
                        s.st = St::Start;
                        continue;
                    }
                    let n = rest.len() as u64 + c.missing();
                    s.gap(ts, n, false, out);
                    return;
                }
                St::Start => {
                    let skip = rest
                        .iter()
                        .take_while(|&&b| b == b'\r' || b == b'\n')
                        .count();
                    i += skip;
                    if i >= bytes.len() {
                        break;
                    }
                    s.st = St::Head;
                    s.head.clear();
                    s.cur = None;
                    s.head_ts = ts;
                }
                St::Head => {
                    // Look for the blank line in the buffered tail plus the new bytes.
                    let keep = s.head.len().min(3);
                    let from = s.head.len() - keep;
                    let end = if s.head.is_empty() {
                        find_head_end(rest)
                    } else {
                        let mut probe = [0u8; 8];
                        let take = rest.len().min(5);
                        probe[..keep].copy_from_slice(&s.head[from..]);
                        probe[keep..keep + take].copy_from_slice(&rest[..take]);
                        match find_head_end(&probe[..keep + take]) {
                            Some(e) if e > keep => Some(e - keep),
                            _ => find_head_end(rest),
                        }
                    };
                    let Some(end) = end else {
                        if s.head.len() + rest.len() > MAX_HEAD {
                            let n = (s.head.len() + rest.len()) as u64 + c.missing();
                            s.gap(ts, n, true, out);
                            return;
                        }
                        s.head.extend_from_slice(rest);
                        if s.head.len() >= 16 && looks_like(&s.head).is_none() {
                            let n = s.head.len() as u64 + c.missing();
                            s.gap(ts, n, true, out);
                            return;
                        }
                        break;
                    };
                    if s.head.len() + end > MAX_HEAD {
                        let n = (s.head.len() + rest.len()) as u64 + c.missing();
                        s.gap(ts, n, true, out);
                        return;
                    }
                    let first = s.head_ts;
                    let buffered = s.head.len() as u64;
                    let head = if s.head.is_empty() {
                        parse_head(&rest[..end], self.redact, false)
                    } else {
                        let mut h = std::mem::take(&mut s.head);
                        h.extend_from_slice(&rest[..end]);
                        let p = parse_head(&h, self.redact, false);
                        h.clear();
                        if h.capacity() <= 2048 {
                            s.head = h;
                        }
                        p
                    };
                    i += end;
                    let Some(head) = head else {
                        let n = (bytes.len() - i) as u64 + c.missing() + end as u64 + buffered;
                        s.gap(ts, n, true, out);
                        return;
                    };
                    self.begin(c.dir, head, first, buffered + end as u64, ts, out);
                }
                St::Len(n) => {
                    let take = (rest.len() as u64).min(n);
                    i += take as usize;
                    s.add(take, ts);
                    if take == n {
                        s.complete(out);
                    } else {
                        s.st = St::Len(n - take);
                        break;
                    }
                }
                St::UntilClose => {
                    s.add(rest.len() as u64, ts);
                    break;
                }
                St::Chunked(mut ch) => {
                    let (used, step) = ch.step(rest);
                    i += used;
                    s.add(used as u64, ts);
                    match step {
                        Step::More => s.st = St::Chunked(ch),
                        Step::Bad => {
                            let n = (bytes.len() - i) as u64 + c.missing();
                            s.complete(out);
                            s.gap(ts, n, true, out);
                            return;
                        }
                        Step::Done => s.complete(out),
                    }
                    if i >= bytes.len() {
                        break;
                    }
                }
            }
        }
        self.uncaptured(c, out);
    }

    /// The captured bytes are used up; account for the ones that were not captured.
    fn uncaptured(&mut self, c: &Chunk, out: &mut Vec<Event>) {
        let mut missing = c.missing();
        if missing == 0 {
            return;
        }
        let ts = c.ts_ns;
        let s = &mut self.streams[idx(c.dir)];
        match s.st {
            St::Len(n) => {
                let take = missing.min(n);
                s.add(take, ts);
                missing -= take;
                if take == n {
                    s.complete(out);
                } else {
                    s.st = St::Len(n - take);
                }
            }
            St::Chunked(mut ch) => {
                let take = ch.skip_uncaptured(missing);
                s.add(take, ts);
                missing -= take;
                s.st = St::Chunked(ch);
            }
            St::UntilClose => {
                s.add(missing, ts);
                missing = 0;
            }
            St::Head => {
                // The head goes on past the capture: keep what it says so far.
                let h = std::mem::take(&mut s.head);
                let first = s.head_ts;
                if let Some(head) = parse_head(&h, self.redact, true) {
                    let n = h.len() as u64 + missing;
                    self.begin(c.dir, head, first, n, ts, out);
                    let s = &mut self.streams[idx(c.dir)];
                    if matches!(s.st, St::Tunnel) {
                        return;
                    }
                    if let Some(cur) = s.cur.take() {
                        if !cur.emitted {
                            out.push(Event::Message(cur.msg));
                        }
                    }
                    // Whatever followed the cut head is in doubt.
                    s.gap(ts, 0, false, out);
                    out.push(Event::Gap {
                        dir: c.dir,
                        ts_ns: ts,
                        bytes: 0,
                        error: false,
                    });
                    return;
                }
                let s = &mut self.streams[idx(c.dir)];
                s.gap(ts, h.len() as u64 + missing, true, out);
                return;
            }
            St::Tunnel | St::Desync => return,
            _ => {}
        }
        if missing > 0 {
            // Something (a chunk boundary, the next message) went by uncaptured. Most likely
            // the rest of the syscall still belongs to this message: count it there.
            let s = &mut self.streams[idx(c.dir)];
            s.add(missing, ts);
            if let Some(cur) = s.cur.take() {
                if !cur.emitted {
                    out.push(Event::Message(cur.msg));
                }
            }
            s.gap(ts, missing, false, out);
        }
    }

    /// A head was parsed: set up its body and emit what completes.
    fn begin(
        &mut self,
        dir: Direction,
        head: Head,
        first_ts: u64,
        head_bytes: u64,
        ts: u64,
        out: &mut Vec<Event>,
    ) {
        let msg = Message {
            dir,
            body: head.body,
            first_ts_ns: first_ts,
            last_ts_ns: ts,
            bytes: head_bytes,
            key: None,
            check: None,
        };
        let is_req = matches!(msg.body, Body::Request(_));
        let st = if is_req {
            if self.methods.len() >= MAX_METHODS {
                self.methods.pop_front();
            }
            self.methods.push_back(head.method);
            if head.chunked {
                St::Chunked(Chunked::new())
            } else {
                match head.len {
                    Some(n) if n > 0 => St::Len(n),
                    _ => St::Start,
                }
            }
        } else {
            let code = head.status;
            if (100..200).contains(&code) && code != 101 {
                // Interim: not the response, and it has no body.
                self.streams[idx(dir.flip())].continued = true;
                let s = &mut self.streams[idx(dir)];
                s.cur = None;
                s.st = St::Start;
                return;
            }
            // Only when this response answers the request still being sent.
            if self.methods.len() == 1 {
                self.early_request(dir.flip(), out);
            }
            let method = self.methods.pop_front().unwrap_or(Method::Other);
            if code == 101 || (method == Method::Connect && (200..300).contains(&code)) {
                for s in &mut self.streams {
                    s.st = St::Tunnel;
                    s.head = Vec::new();
                }
                let s = &mut self.streams[idx(dir)];
                s.cur = None;
                out.push(Event::Message(msg));
                return;
            }
            if method == Method::Head || code == 204 || code == 304 {
                St::Start
            } else if head.chunked {
                St::Chunked(Chunked::new())
            } else {
                match head.len {
                    Some(0) => St::Start,
                    Some(n) => St::Len(n),
                    None => St::UntilClose,
                }
            }
        };
        let s = &mut self.streams[idx(dir)];
        s.expect = is_req && head.expect;
        if is_req {
            s.continued = false;
        }
        match st {
            St::Start => {
                s.cur = Some(Cur {
                    msg,
                    emitted: false,
                });
                s.complete(out);
            }
            St::UntilClose => {
                // Ends only with the connection: emit now, count the rest as it comes.
                out.push(Event::Message(msg.clone()));
                s.cur = Some(Cur { msg, emitted: true });
                s.st = st;
            }
            _ => {
                s.cur = Some(Cur {
                    msg,
                    emitted: false,
                });
                s.st = st;
            }
        }
    }

    /// A final response began while the request in `dir` is still sending its body: the
    /// request is over as far as pairing goes (a client that asked `Expect: 100-continue` and
    /// got a final answer does not send the body at all).
    fn early_request(&mut self, dir: Direction, out: &mut Vec<Event>) {
        let s = &mut self.streams[idx(dir)];
        if !matches!(s.st, St::Len(_) | St::Chunked(_)) {
            return;
        }
        if let Some(c) = s.cur.as_mut() {
            if !c.emitted {
                out.push(Event::Message(c.msg.clone()));
                c.emitted = true;
            }
        }
        if s.expect && !s.continued {
            s.cur = None;
            s.st = St::Start;
            s.expect = false;
        }
    }
}

/// RFC 9110 `tchar`s, as a table (this check runs on every header name).
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        t[c] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'!' | b'#'
                    | b'$'
                    | b'%'
                    | b'&'
                    | b'\''
                    | b'*'
                    | b'+'
                    | b'-'
                    | b'.'
                    | b'^'
                    | b'_'
                    | b'`'
                    | b'|'
                    | b'~'
            );
        c += 1;
    }
    t
};

fn token(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(|&c| TCHAR[c as usize])
}

fn trim(mut b: &[u8]) -> &[u8] {
    while let [first, rest @ ..] = b {
        if *first == b' ' || *first == b'\t' {
            b = rest;
        } else {
            break;
        }
    }
    while let [rest @ .., last] = b {
        if *last == b' ' || *last == b'\t' || *last == b'\r' {
            b = rest;
        } else {
            break;
        }
    }
    b
}

fn parse_u64(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    b.iter().try_fold(0u64, |a, &d| {
        a.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

/// The lines of a head, split at `\n` exactly as `split` would (a trailing `\n` yields a last,
/// empty line), with a fast search.
#[derive(Clone)]
struct Lines<'a>(Option<&'a [u8]>);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let rest = self.0?;
        match find_byte(b'\n', rest) {
            Some(p) => {
                self.0 = Some(&rest[p + 1..]);
                Some(&rest[..p])
            }
            None => {
                self.0 = None;
                Some(rest)
            }
        }
    }
}

/// Parses a head (start line and header lines). `partial`: the head was cut by the capture,
/// so the last line may be incomplete and is ignored.
fn parse_head(h: &[u8], redact_on: bool, partial: bool) -> Option<Head> {
    let mut lines = Lines(Some(h));
    let first = trim(lines.next()?);
    let mut head = if first.starts_with(b"HTTP/1.") {
        if first.len() < 12 || !(first[7] == b'0' || first[7] == b'1') || first[8] != b' ' {
            return None;
        }
        let code = &first[9..12];
        if !code.iter().all(u8::is_ascii_digit) || first.get(12).is_some_and(|&c| c != b' ') {
            return None;
        }
        let status = code.iter().fold(0u16, |a, &d| a * 10 + u16::from(d - b'0'));
        if status < 100 {
            return None;
        }
        Head {
            body: Body::Response(Response::Http1(HttpResponse { status })),
            method: Method::Other,
            status,
            len: None,
            chunked: false,
            expect: false,
        }
    } else {
        let mut parts = first.splitn(3, |&c| c == b' ');
        let method = parts.next()?;
        let target = parts.next()?;
        let version = parts.next();
        if !token(method) || method.len() > 20 || target.is_empty() {
            return None;
        }
        if target.iter().any(|&c| c <= b' ' || c == 0x7f) {
            return None;
        }
        let cut = partial && lines.clone().next().is_none();
        match version {
            Some(b"HTTP/1.1") | Some(b"HTTP/1.0") => {}
            // A start line cut by the capture has no version, or part of one.
            None if cut => {}
            Some(v) if cut && (b"HTTP/1.1".starts_with(v) || b"HTTP/1.0".starts_with(v)) => {}
            _ => return None,
        }
        let m = match method {
            b"HEAD" => Method::Head,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        };
        let raw = text(target, MAX_PATH);
        let path = if redact_on { redact::path(&raw) } else { raw };
        Head {
            body: Body::Request(Request::Http1(HttpRequest {
                method: text(method, 20),
                path,
                host: None,
            })),
            method: m,
            status: 0,
            len: None,
            chunked: false,
            expect: false,
        }
    };
    let mut lines = lines.peekable();
    while let Some(line) = lines.next() {
        if partial && lines.peek().is_none() {
            break;
        }
        let line = trim(line);
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            continue;
        }
        let colon = find_byte(b':', line)?;
        let name = &line[..colon];
        if !token(name) {
            return None;
        }
        // Only four headers matter; their lengths tell most others apart cheaply.
        if !matches!(name.len(), 4 | 6 | 14 | 17) {
            continue;
        }
        let value = trim(&line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let n = parse_u64(value)?;
            if head.len.is_some_and(|old| old != n) {
                return None;
            }
            head.len = Some(n);
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            let last = value.rsplit(|&c| c == b',').next().map(trim);
            head.chunked = last.is_some_and(|l| l.eq_ignore_ascii_case(b"chunked"));
        } else if name.eq_ignore_ascii_case(b"host") {
            if let Body::Request(Request::Http1(r)) = &mut head.body {
                r.host = Some(text(value, MAX_HOST));
            }
        } else if name.eq_ignore_ascii_case(b"expect") {
            head.expect = value.eq_ignore_ascii_case(b"100-continue");
        }
    }
    Some(head)
}

impl Parser for Http1Parser {
    fn protocol(&self) -> Protocol {
        Protocol::Http1
    }

    fn parse(&mut self, chunk: &Chunk, out: &mut Vec<Event>) {
        self.feed(chunk, out);
    }

    fn finish(&mut self, ts_ns: u64, out: &mut Vec<Event>) {
        for s in &mut self.streams {
            match s.st {
                St::UntilClose => s.complete(out),
                St::Len(_) | St::Chunked(_) | St::Head => {
                    if let Some(cur) = s.cur.take() {
                        if !cur.emitted {
                            out.push(Event::Message(cur.msg));
                        }
                    }
                    let n = s.head.len() as u64;
                    s.gap(ts_ns, n, false, out);
                }
                _ => {}
            }
        }
    }

    fn buffered(&self) -> usize {
        self.streams.iter().map(|s| s.head.capacity()).sum()
    }

    fn busy(&self, dir: Direction) -> bool {
        let s = &self.streams[idx(dir)];
        match s.st {
            St::Head => true,
            St::Len(_) | St::Chunked(_) => s.cur.as_ref().is_some_and(|c| !c.emitted),
            _ => false,
        }
    }
}
