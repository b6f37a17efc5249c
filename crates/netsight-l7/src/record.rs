//! L7 records: what the tracker emits, serialized with SPEC §8's field names.

use crate::Protocol;
use serde::Serialize;
use std::fmt;

/// Which end of the conversation the traced socket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The socket sends requests (an egress request).
    Client,
    /// The socket receives requests (an ingress request).
    Server,
}

impl Role {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Role::Client => "client",
            Role::Server => "server",
        }
    }
}

impl Status {
    /// The name used in JSON.
    pub fn name(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Error => "error",
            Status::Incomplete => "incomplete",
        }
    }
}

/// Short text for a table: `GET /index.html`, `A example.com`, `GET user:1`.
impl fmt::Display for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Request::Http1(r) => write!(f, "{} {}", r.method, r.path),
            Request::Dns(q) => write!(
                f,
                "{} {}",
                q.qtype.as_deref().unwrap_or("?"),
                q.qname.as_deref().unwrap_or("?")
            ),
            Request::Redis(c) => match &c.key {
                Some(k) => write!(f, "{} {k}", c.command),
                None => f.write_str(&c.command),
            },
        }
    }
}

/// Short text for a table: `200`, `NXDOMAIN 0`, `ok`, `error ERR ...`.
impl fmt::Display for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Response::Http1(r) => write!(f, "{}", r.status),
            Response::Dns(r) => write!(f, "{} {}", r.rcode, r.answers),
            Response::Redis(r) => match (r.reply, &r.error) {
                (ReplyKind::Error, Some(e)) => write!(f, "error {e}"),
                (ReplyKind::Error, None) => f.write_str("error"),
                (ReplyKind::Ok, _) => f.write_str("ok"),
                (ReplyKind::Value, _) => f.write_str("value"),
            },
        }
    }
}

/// Outcome of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// A request and its response, and the response reports success.
    Ok,
    /// A request and its response, and the response reports failure (HTTP status >= 400,
    /// DNS rcode other than NOERROR, a Redis error reply).
    Error,
    /// One half is missing; [`L7Record::reason`] says why.
    Incomplete,
}

/// An HTTP/1 request line and Host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpRequest {
    /// The method, as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The request target, query values redacted unless `Config::redact` is off.
    pub path: String,
    /// The Host header, if present in the captured bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// An HTTP/1 final response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HttpResponse {
    /// The status code (never 1xx except 101).
    pub status: u16,
}

/// A DNS query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsQuery {
    /// The transaction id.
    pub id: u16,
    /// The first question's name, without the trailing dot; `None` if not captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qname: Option<String>,
    /// The first question's type: `"A"`, `"AAAA"`, ... or the number as a string.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub qtype: Option<String>,
}

/// A DNS response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DnsResponse {
    /// The response code: `"NOERROR"`, `"NXDOMAIN"`, ... or the number as a string.
    pub rcode: String,
    /// The answer count from the header.
    pub answers: u16,
}

/// A Redis command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RedisCommand {
    /// The command, uppercase; container commands include the subcommand (`"CONFIG SET"`).
    pub command: String,
    /// The key the command works on, if it has one and it was captured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// What kind of Redis reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ReplyKind {
    /// A simple string (status) reply: `+OK`, `+PONG`, `+QUEUED`.
    Ok,
    /// An error reply (`-ERR ...`, RESP3 blob error).
    Error,
    /// Any other value (integer, bulk string, array, map, null, ...).
    Value,
}

/// A Redis reply.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RedisReply {
    /// Which kind of reply.
    pub reply: ReplyKind,
    /// The error message of an error reply (as far as captured).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The request half of a record, typed per protocol. Serialized without a tag: the record's
/// `protocol` says which it is.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Request {
    /// HTTP/1.
    Http1(HttpRequest),
    /// DNS.
    Dns(DnsQuery),
    /// Redis.
    Redis(RedisCommand),
}

/// The response half of a record, typed per protocol. Serialized without a tag.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Response {
    /// HTTP/1.
    Http1(HttpResponse),
    /// DNS.
    Dns(DnsResponse),
    /// Redis.
    Redis(RedisReply),
}

impl Response {
    /// Whether this response reports a failure (see [`Status::Error`]).
    pub fn is_error(&self) -> bool {
        match self {
            Response::Http1(r) => r.status >= 400,
            Response::Dns(r) => r.rcode != "NOERROR",
            Response::Redis(r) => r.reply == ReplyKind::Error,
        }
    }
}

/// One request/response pair, or a lone half with `status: incomplete`.
///
/// Made to be embedded with `#[serde(flatten)]`: plain fields, no tag, optional fields left out
/// when absent. The embedding record adds `type`, `ts`, pid, comm and addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct L7Record {
    /// The protocol.
    pub protocol: Protocol,
    /// The socket (as in [`crate::Segment::socket_id`]).
    pub socket_id: u64,
    /// Egress request => client, ingress request => server.
    pub role: Role,
    /// The request, if seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The response, if seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
    /// Timestamp (CLOCK_MONOTONIC ns) of the request's first segment, or of the response's
    /// first segment when there is no request.
    #[serde(skip)]
    pub req_ts_ns: u64,
    /// Timestamp of the response's first segment; 0 when there is no response.
    #[serde(skip)]
    pub resp_ts_ns: u64,
    /// From the request's last segment to the response's first segment, in µs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_us: Option<u64>,
    /// Request bytes moved (from `syscall_len`, not what was captured).
    pub req_bytes: u64,
    /// Response bytes moved.
    pub resp_bytes: u64,
    /// `ok`, `error` or `incomplete`.
    pub status: Status,
    /// Why the record is incomplete.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}
