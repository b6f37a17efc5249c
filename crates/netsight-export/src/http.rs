//! A minimal HTTP/1.1 client over `std::net::TcpStream`: plain `http://`
//! only (no TLS), one request per connection (`Connection: close`), every
//! step bounded by a timeout. Enough to talk to InfluxDB without an async
//! runtime in the agent.

use std::fmt;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Response bodies are kept up to this size (error messages, not data).
const MAX_BODY: usize = 64 * 1024;
const MAX_HEAD: usize = 16 * 1024;

/// `http://host[:port][/base]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpUrl {
    pub host: String,
    pub port: u16,
    /// Path prefix without the trailing slash ("" or "/influx").
    pub base: String,
}

impl HttpUrl {
    pub fn parse(s: &str) -> Result<HttpUrl, String> {
        let rest = match s.split_once("://") {
            Some(("http", rest)) => rest,
            Some(("https", _)) => {
                return Err("https is not supported: netsight speaks plain http (put a TLS proxy such as stunnel in front)".into())
            }
            _ => return Err(format!("'{s}' is not an http:// URL")),
        };
        if rest.contains(['?', '#']) {
            return Err("the URL may not have a query or fragment".into());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("put credentials in username/password or token, not in the URL".into());
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            return Err(format!("'{s}' has no host"));
        }
        Ok(HttpUrl {
            host,
            port,
            base: path.trim_end_matches('/').to_string(),
        })
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16), String> {
    let bad_port = |p: &str| format!("bad port '{p}'");
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed '[' in host")?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| bad_port(p))?,
            None if after.is_empty() => 80,
            None => return Err(format!("unexpected '{after}' after host")),
        };
        return Ok((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Ok((host.to_string(), p.parse().map_err(|_| bad_port(p))?)),
        None => Ok((authority.to_string(), 80)),
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "http://[{}]:{}{}", self.host, self.port, self.base)
        } else {
            write!(f, "http://{}:{}{}", self.host, self.port, self.base)
        }
    }
}

/// One request. Header values may hold secrets: they are never logged.
pub struct Request<'a> {
    pub method: &'a str,
    /// Path and query, appended to the URL's base.
    pub target: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// At most 64 KiB of the body.
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `req` to `url` and reads the whole response, each I/O step within
/// `timeout`.
pub fn send(url: &HttpUrl, req: &Request<'_>, timeout: Duration) -> io::Result<Response> {
    let mut stream = connect(url, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut head = format!(
        "{} {}{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: netsight/{}\r\nConnection: close\r\nContent-Length: {}\r\n",
        req.method,
        url.base,
        req.target,
        host_header(url),
        env!("CARGO_PKG_VERSION"),
        req.body.len()
    );
    for (k, v) in &req.headers {
        head.push_str(k);
        head.push_str(": ");
        head.push_str(v);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(req.body)?;
    stream.flush()?;
    read_response(BufReader::new(stream))
}

fn host_header(url: &HttpUrl) -> String {
    if url.host.contains(':') {
        format!("[{}]:{}", url.host, url.port)
    } else {
        format!("{}:{}", url.host, url.port)
    }
}

fn connect(url: &HttpUrl, timeout: Duration) -> io::Result<TcpStream> {
    let mut last = io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} has no address", url.host),
    );
    for addr in (url.host.as_str(), url.port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = e,
        }
    }
    Err(last)
}

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Parses a response from any reader (a socket, or bytes in tests).
pub fn read_response(mut r: impl BufRead) -> io::Result<Response> {
    let mut line = String::new();
    let mut head_size = 0;
    let mut read_line = |r: &mut dyn BufRead, line: &mut String| -> io::Result<()> {
        line.clear();
        let n = r.take((MAX_HEAD - head_size) as u64).read_line(line)?;
        head_size += n;
        if n == 0 || !line.ends_with('\n') {
            return Err(invalid("response head cut short or too long"));
        }
        Ok(())
    };
    read_line(&mut r, &mut line)?;
    let status = line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| invalid(format!("not an HTTP response: {:?}", line.trim_end())))?;
    let mut headers = Vec::new();
    loop {
        read_line(&mut r, &mut line)?;
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut resp = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let chunked = resp
        .header("Transfer-Encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let length = resp
        .header("Content-Length")
        .and_then(|v| v.parse::<u64>().ok());
    if status == 204 || status == 304 {
        // No body by definition.
    } else if chunked {
        resp.body = read_chunked(&mut r)?;
    } else if let Some(len) = length {
        r.take(len.min(MAX_BODY as u64))
            .read_to_end(&mut resp.body)?;
    } else {
        r.take(MAX_BODY as u64).read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

fn read_chunked(r: &mut impl BufRead) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        r.take(1024).read_line(&mut line)?;
        let size_hex = line.trim().split(';').next().unwrap_or("");
        let size = usize::from_str_radix(size_hex, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_hex:?}")))?;
        if size == 0 || body.len() >= MAX_BODY {
            return Ok(body);
        }
        let keep = size.min(MAX_BODY - body.len());
        let mut chunk = vec![0; size + 2];
        r.read_exact(&mut chunk)?;
        body.extend_from_slice(&chunk[..keep]);
    }
}

/// Base64 (RFC 4648) for HTTP Basic credentials.
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes a query parameter value.
pub fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_https_is_refused() {
        let u = HttpUrl::parse("http://127.0.0.1:8086").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.base.as_str()),
            ("127.0.0.1", 8086, "")
        );
        let u = HttpUrl::parse("http://db.example/influx/").unwrap();
        assert_eq!((u.port, u.base.as_str()), (80, "/influx"));
        let u = HttpUrl::parse("http://[::1]:9999").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 9999));
        assert_eq!(u.to_string(), "http://[::1]:9999");
        for bad in [
            "https://x",
            "x:8086",
            "http://:80",
            "http://h:port",
            "http://u:p@h",
            "http://h/?q",
        ] {
            assert!(HttpUrl::parse(bad).is_err(), "{bad}");
        }
        assert!(HttpUrl::parse("https://x")
            .unwrap_err()
            .contains("plain http"));
    }

    #[test]
    fn responses_with_length_chunks_or_nothing() {
        let r = read_response(
            &b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhelloEXTRA"[..],
        )
        .unwrap();
        assert_eq!(
            (r.status, r.body.as_slice(), r.header("x-a")),
            (400, &b"hello"[..], Some("b"))
        );
        let r = read_response(&b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"[..]).unwrap();
        assert_eq!(r.body, b"abcde");
        let r = read_response(&b"HTTP/1.0 204 No Content\r\n\r\n"[..]).unwrap();
        assert_eq!((r.status, r.body.len()), (204, 0));
        assert!(read_response(&b"SSH-2.0-OpenSSH\r\n"[..]).is_err());
        assert!(read_response(&b"HTTP/1.1 200 OK\r\nX: y"[..]).is_err());
    }

    #[test]
    fn base64_and_query_escaping() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
        assert_eq!(query_escape("my db&x=1"), "my%20db%26x%3D1");
    }
}
