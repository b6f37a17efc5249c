//! The tracer's events as SPEC §8 JSON Lines or as columns.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use netsight_events::time::rfc3339_micros;
use netsight_export::http::base64;
use netsight_l7::{ReplyKind, Request, Response};
use netsight_tracer::{DataRecord, Event, L7Event, L7Record, Losses};
use serde::Serialize;

use crate::cgroup::CgroupNames;

/// Shown payload bytes per data record in the text form.
const TEXT_PAYLOAD: usize = 64;

/// CLOCK_MONOTONIC (what the kernel stamps) to wall-clock time.
struct WallClock {
    offset_ns: i128,
    /// The last second formatted, and its "YYYY-MM-DDTHH:MM:SS" (records
    /// come thousands a second: the date is worked out once per second).
    second: u64,
    prefix: String,
}

impl WallClock {
    fn now() -> Self {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as i128;
        let mono = crate::collect::monotonic_ns() as i128;
        WallClock {
            offset_ns: wall - mono,
            second: u64::MAX,
            prefix: String::new(),
        }
    }

    /// RFC 3339 with microseconds, as `rfc3339_micros` writes it.
    fn at(&mut self, mono_ns: u64) -> String {
        let mut s = String::with_capacity(27);
        self.write(&mut s, mono_ns);
        s
    }

    fn write(&mut self, out: &mut String, mono_ns: u64) {
        let ns = (mono_ns as i128 + self.offset_ns).max(0) as u64;
        let second = ns / 1_000_000_000;
        if second != self.second {
            let full = rfc3339_micros(UNIX_EPOCH + Duration::from_secs(second));
            self.prefix = full[..full.len() - ".000000Z".len()].to_string();
            self.second = second;
        }
        let _ = write!(out, "{}.{:06}Z", self.prefix, ns % 1_000_000_000 / 1000);
    }
}

#[derive(Serialize)]
struct DataJson<'a> {
    r#type: &'static str,
    ts: String,
    pid: u32,
    tid: u32,
    comm: &'a str,
    cgroup: String,
    netns: u32,
    protocol: &'static str,
    saddr: IpAddr,
    sport: u16,
    daddr: IpAddr,
    dport: u16,
    socket_id: u64,
    direction: &'static str,
    syscall: &'static str,
    syscall_len: u64,
    cap_len: u32,
    cap_seq: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcp_seq: Option<u32>,
    trace_id: u64,
    l7_hint: &'static str,
    msg_type: &'static str,
    need_reconfirm: bool,
    payload: String,
}

#[derive(Serialize)]
struct L7Json<'a> {
    r#type: &'static str,
    ts: String,
    pid: u32,
    comm: &'a str,
    saddr: IpAddr,
    sport: u16,
    daddr: IpAddr,
    dport: u16,
    netns: u32,
    #[serde(flatten)]
    record: &'a L7Record,
}

#[derive(Serialize)]
struct LostJson {
    r#type: &'static str,
    kernel: u64,
    user: u64,
}

pub struct Printer {
    json: bool,
    raw: bool,
    clock: WallClock,
    cgroups: CgroupNames,
    per_protocol: BTreeMap<&'static str, u64>,
    /// Reused for every text line: no allocation per record.
    line: String,
    cell: String,
}

/// `s` left-aligned in `width` columns and a space, as `{:<width$} `
/// writes it (without its fill loop of one `write_char` per space).
fn padded(line: &mut String, s: &str, width: usize) {
    const SPACES: &str = "                                                ";
    line.push_str(s);
    let fill = width.saturating_sub(s.chars().count()) + 1;
    line.push_str(&SPACES[..fill.min(SPACES.len())]);
}

/// Printable ASCII as is, other bytes as `\xNN`.
fn printable(bytes: &[u8]) -> String {
    let mut s = String::new();
    for &b in bytes.iter().take(TEXT_PAYLOAD) {
        match b {
            b'\r' => s.push_str("\\r"),
            b'\n' => s.push_str("\\n"),
            0x20..=0x7e => s.push(b as char),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(TEXT_PAYLOAD)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Mostly text: shown as text; otherwise as hex.
fn payload_text(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(TEXT_PAYLOAD)];
    let texty = shown
        .iter()
        .filter(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        .count();
    if texty * 10 >= shown.len() * 9 {
        printable(shown)
    } else {
        format!("hex:{}", hex(shown))
    }
}

/// "GET /index.html", "A example.com", "SET key".
fn request_summary(out: &mut String, r: &L7Record) {
    let _ = match &r.request {
        Some(Request::Http1(h)) => write!(out, "{} {}", h.method, h.path),
        Some(Request::Dns(d)) => write!(
            out,
            "{} {}",
            d.qtype.as_deref().unwrap_or("?"),
            d.qname.as_deref().unwrap_or("?")
        ),
        Some(Request::Redis(c)) => match &c.key {
            Some(k) => write!(out, "{} {k}", c.command),
            None => write!(out, "{}", c.command),
        },
        _ => write!(out, "-"),
    };
}

/// "200", "NOERROR 1", "ok" / "error".
fn response_summary(out: &mut String, r: &L7Record) {
    let _ = match &r.response {
        Some(Response::Http1(h)) => write!(out, "{}", h.status),
        Some(Response::Dns(d)) => write!(out, "{} {}", d.rcode, d.answers),
        Some(Response::Redis(x)) => write!(
            out,
            "{}",
            match x.reply {
                ReplyKind::Ok => "ok",
                ReplyKind::Error => "error",
                _ => "value",
            }
        ),
        _ => write!(out, "-"),
    };
}

impl Printer {
    pub fn new(json: bool, raw: bool) -> Self {
        Printer {
            json,
            raw,
            clock: WallClock::now(),
            cgroups: CgroupNames::default(),
            per_protocol: BTreeMap::new(),
            line: String::new(),
            cell: String::new(),
        }
    }

    /// Records printed, per protocol (data records: the kernel's hint).
    pub fn per_protocol(&self) -> &BTreeMap<&'static str, u64> {
        &self.per_protocol
    }

    pub fn header(&self, out: &mut dyn Write) -> std::io::Result<()> {
        if self.json {
            return Ok(());
        }
        if self.raw {
            writeln!(
                out,
                "{:<27} {:>7} {:<15} {:<7} {:<9} {:>7} {:>5} {:>9} {:>4} {:>10}  {:<44} PAYLOAD",
                "TIME",
                "PID",
                "COMM",
                "DIR",
                "SYSCALL",
                "LEN",
                "CAP",
                "SOCKET",
                "SEQ",
                "TCP_SEQ",
                "LOCAL -> REMOTE"
            )
        } else {
            writeln!(
                out,
                "{:<27} {:>7} {:<15} {:<6} {:<6} {:<22} {:<40} {:<10} {:>10}",
                "TIME", "PID", "COMM", "ROLE", "PROTO", "PEER", "REQUEST", "STATUS", "LATENCY_US"
            )
        }
    }

    /// Prints one event; returns 1 for a record, 0 for a loss notice.
    pub fn event(&mut self, out: &mut dyn Write, e: &Event) -> std::io::Result<u64> {
        match e {
            Event::Data(d) => self.data(out, d).map(|_| 1),
            Event::L7(r) => self.l7(out, r).map(|_| 1),
            Event::Lost(l) => self.lost(out, l).map(|_| 0),
        }
    }

    fn data(&mut self, out: &mut dyn Write, d: &DataRecord) -> std::io::Result<()> {
        *self.per_protocol.entry(d.l7_hint.name()).or_default() += 1;
        let ts = self.clock.at(d.ts_ns);
        if self.json {
            let j = DataJson {
                r#type: "data",
                ts,
                pid: d.pid,
                tid: d.tid,
                comm: &d.comm,
                cgroup: self.cgroups.path(d.cgroup_id),
                netns: d.netns,
                protocol: d.transport.name(),
                saddr: d.local.0,
                sport: d.local.1,
                daddr: d.remote.0,
                dport: d.remote.1,
                socket_id: d.socket_id,
                direction: d.direction.name(),
                syscall: d.syscall.name(),
                syscall_len: d.syscall_len,
                cap_len: d.cap_len,
                cap_seq: d.cap_seq,
                tcp_seq: d.tcp_seq,
                trace_id: d.trace_id,
                l7_hint: d.l7_hint.name(),
                msg_type: d.msg_type.name(),
                need_reconfirm: d.need_reconfirm,
                payload: base64(&d.payload),
            };
            serde_json::to_writer(&mut *out, &j)?;
            return writeln!(out);
        }
        let seq = d.tcp_seq.map_or_else(|| "-".into(), |s| s.to_string());
        let tuple = format!(
            "{}:{} -> {}:{}",
            d.local.0, d.local.1, d.remote.0, d.remote.1
        );
        writeln!(
            out,
            "{:<27} {:>7} {:<15} {:<7} {:<9} {:>7} {:>5} {:>9} {:>4} {:>10}  {:<44} {}",
            ts,
            d.pid,
            d.comm,
            d.direction.name(),
            d.syscall.name(),
            d.syscall_len,
            d.cap_len,
            d.socket_id,
            d.cap_seq,
            seq,
            tuple,
            payload_text(&d.payload)
        )
    }

    fn l7(&mut self, out: &mut dyn Write, e: &L7Event) -> std::io::Result<()> {
        let r = &e.record;
        *self.per_protocol.entry(r.protocol.name()).or_default() += 1;
        let s = &e.socket;
        if self.json {
            let j = L7Json {
                r#type: "l7",
                ts: self.clock.at(e.ts_ns),
                pid: s.pid,
                comm: &s.comm,
                saddr: s.local.0,
                sport: s.local.1,
                daddr: s.remote.0,
                dport: s.remote.1,
                netns: s.netns,
                record: r,
            };
            serde_json::to_writer(&mut *out, &j)?;
            return writeln!(out);
        }
        let (line, cell) = (&mut self.line, &mut self.cell);
        line.clear();
        self.clock.write(line, e.ts_ns);
        let _ = write!(line, " {:>7} ", s.pid);
        padded(line, &s.comm, 15);
        padded(line, r.role.name(), 6);
        padded(line, r.protocol.name(), 6);
        cell.clear();
        let _ = write!(cell, "{}:{}", s.remote.0, s.remote.1);
        padded(line, cell, 22);
        cell.clear();
        request_summary(cell, r);
        padded(line, cell, 40);
        cell.clear();
        match r.status {
            netsight_tracer::L7Status::Incomplete => cell.push_str("incomplete"),
            _ => response_summary(cell, r),
        }
        padded(line, cell, 10);
        match r.latency_us {
            Some(l) => write!(line, "{l:>10}"),
            None => write!(line, "{:>10}", "-"),
        }
        .ok();
        line.push('\n');
        out.write_all(line.as_bytes())
    }

    fn lost(&mut self, out: &mut dyn Write, l: &Losses) -> std::io::Result<()> {
        if self.json {
            let j = LostJson {
                r#type: "lost",
                kernel: l.kernel,
                user: l.user,
            };
            return writeln!(out, "{}", serde_json::to_string(&j)?);
        }
        writeln!(
            out,
            "LOST: {} records in the kernel (ring full), {} in user space (queue full)",
            l.kernel, l.user
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cached_clock_writes_what_rfc3339_micros_writes() {
        let mut clock = WallClock {
            offset_ns: 0,
            second: u64::MAX,
            prefix: String::new(),
        };
        let base = 1_795_341_600_999_000_000u64;
        for ns in [
            base,
            base + 999,
            base + 1_000,
            base + 1_000_000,
            base + 86_400_000_000_000,
        ] {
            let want = rfc3339_micros(UNIX_EPOCH + Duration::from_nanos(ns));
            assert_eq!(clock.at(ns), want);
        }
    }

    #[test]
    fn padding_is_what_format_pads() {
        for (text, width) in [
            ("curl", 15),
            ("", 6),
            ("a-very-long-name-indeed", 10),
            ("naïve", 8),
        ] {
            let mut line = String::new();
            padded(&mut line, text, width);
            assert_eq!(line, format!("{text:<width$} "));
        }
    }

    #[test]
    fn payloads_show_as_text_or_hex() {
        assert_eq!(payload_text(b"GET / HTTP/1.1\r\n"), "GET / HTTP/1.1\\r\\n");
        assert_eq!(payload_text(&[0, 1, 2, 255]), "hex:000102ff");
        assert_eq!(payload_text(b""), "");
    }
}
