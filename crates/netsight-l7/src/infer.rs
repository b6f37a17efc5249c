//! Protocol inference from the first bytes of a message.

use crate::{dns, http1, redis, Direction, MsgType, Protocol, Transport};

/// Guesses the protocol of a message from its first bytes and the socket's ports.
///
/// Returns the protocol and whether the message is a request or a response, or `None` when
/// nothing matches. It only says yes to what the protocol's parser would accept as a message
/// start, and uses ports only to accept shapes that are too generic on their own (Redis status
/// replies, inline commands, DNS on a non-standard port needs a well-formed question).
/// `direction` is not used by the current rules (content decides); it is part of the
/// signature for protocols where it will matter.
pub fn infer(
    payload: &[u8],
    direction: Direction,
    transport: Transport,
    local_port: u16,
    remote_port: u16,
) -> Option<(Protocol, MsgType)> {
    let _ = direction;
    let port = |p: u16| local_port == p || remote_port == p;
    match transport {
        Transport::Udp => {
            let strict = !(port(53) || port(5353) || port(5355));
            dns::looks_like(payload, strict).map(|t| (Protocol::Dns, t))
        }
        Transport::Tcp => {
            if let Some(t) = http1::looks_like(payload) {
                return Some((Protocol::Http1, t));
            }
            if let Some(t) = dns::looks_like_tcp(payload, !port(53)) {
                return Some((Protocol::Dns, t));
            }
            redis::looks_like(payload, port(6379)).map(|t| (Protocol::Redis, t))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(b: &[u8], lp: u16, rp: u16) -> Option<(Protocol, MsgType)> {
        infer(b, Direction::Egress, Transport::Tcp, lp, rp)
    }

    #[test]
    fn http() {
        assert_eq!(
            tcp(b"GET / HTTP/1.1\r\n", 1000, 8080),
            Some((Protocol::Http1, MsgType::Request))
        );
        assert_eq!(
            tcp(b"HTTP/1.1 404 Not Found\r\n", 80, 1000),
            Some((Protocol::Http1, MsgType::Response))
        );
        assert_eq!(tcp(b"GETX / HTTP/1.1\r\n", 1000, 80), None);
        assert_eq!(tcp(b"", 1000, 80), None);
    }

    #[test]
    fn redis() {
        assert_eq!(
            tcp(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n", 1000, 7000),
            Some((Protocol::Redis, MsgType::Request))
        );
        assert_eq!(tcp(b"+OK\r\n", 1000, 7000), None);
        assert_eq!(
            tcp(b"+OK\r\n", 1000, 6379),
            Some((Protocol::Redis, MsgType::Response))
        );
        assert_eq!(
            tcp(b"PING\r\n", 6379, 1000),
            Some((Protocol::Redis, MsgType::Request))
        );
    }

    #[test]
    fn dns() {
        let q = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
        assert_eq!(
            infer(q, Direction::Egress, Transport::Udp, 40000, 53),
            Some((Protocol::Dns, MsgType::Request))
        );
        assert_eq!(
            infer(q, Direction::Egress, Transport::Udp, 40000, 9999),
            Some((Protocol::Dns, MsgType::Request))
        );
        assert_eq!(
            infer(
                b"hello world, not dns",
                Direction::Egress,
                Transport::Udp,
                1,
                2
            ),
            None
        );
        let mut t = vec![0, q.len() as u8];
        t.extend_from_slice(q);
        assert_eq!(tcp(&t, 40000, 53), Some((Protocol::Dns, MsgType::Request)));
    }
}
