//! A minimal `/metrics` server on a std `TcpListener` in one thread. The
//! page is rendered once per interval by the agent; a scrape only copies
//! it, so scrapers never wait on collection and collection never waits on
//! scrapers.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::exposition::CONTENT_TYPE;

/// The latest rendered exposition, shared with the agent loop.
pub type Page = Arc<Mutex<String>>;

pub struct MetricsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl MetricsServer {
    /// Binds now (so a busy port is reported at start) and serves `page`.
    pub fn start(listen: SocketAddr, page: Page) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        // Non-blocking accept polled every 50 ms, so a stop needs no wake-up trick.
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("metrics-server".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((conn, _)) => {
                            // One scrape at a time is plenty; a slow client is cut by timeouts.
                            let _ = serve(conn, &page);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(50));
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
            })?;
        Ok(MetricsServer {
            addr,
            stop,
            thread: Some(thread),
        })
    }

    /// The address really bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for MetricsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(conn: TcpStream, page: &Page) -> io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    conn.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut request_line = String::new();
    reader.by_ref().take(8192).read_line(&mut request_line)?;
    // Skip the headers (bounded).
    let mut seen = 0usize;
    loop {
        let mut line = String::new();
        let n = reader.by_ref().take(8192).read_line(&mut line)?;
        seen += n;
        if n == 0 || line == "\r\n" || line == "\n" || seen > 64 * 1024 {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let path = target.split('?').next().unwrap_or("");
    let (status, ctype, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let body = page.lock().map(|p| p.clone()).unwrap_or_default();
            ("200 OK", CONTENT_TYPE, body)
        }
        ("GET" | "HEAD", "/") => (
            "200 OK",
            "text/plain; charset=utf-8",
            "netsight agent: metrics at /metrics\n".to_string(),
        ),
        ("GET" | "HEAD", _) => (
            "404 Not Found",
            "text/plain; charset=utf-8",
            "not found\n".into(),
        ),
        _ => (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            "only GET\n".into(),
        ),
    };
    let mut out = conn;
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    if method != "HEAD" {
        out.write_all(body.as_bytes())?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{send, HttpUrl, Request};

    fn get(addr: SocketAddr, target: &str) -> crate::http::Response {
        let url = HttpUrl::parse(&format!("http://{addr}")).unwrap();
        let req = Request {
            method: "GET",
            target: target.into(),
            headers: vec![],
            body: b"",
        };
        send(&url, &req, Duration::from_secs(5)).unwrap()
    }

    #[test]
    fn serves_the_latest_page_and_stops() {
        let page: Page = Arc::new(Mutex::new("a 1\n".into()));
        let server =
            MetricsServer::start("127.0.0.1:0".parse().unwrap(), Arc::clone(&page)).unwrap();
        let addr = server.local_addr();
        let r = get(addr, "/metrics");
        assert_eq!((r.status, r.body.as_slice()), (200, &b"a 1\n"[..]));
        assert_eq!(r.header("content-type"), Some(CONTENT_TYPE));
        *page.lock().unwrap() = "a 2\n".into();
        assert_eq!(get(addr, "/metrics?x=1").body, b"a 2\n");
        assert_eq!(get(addr, "/nope").status, 404);
        drop(server);
        assert!(TcpStream::connect(addr).is_err(), "the port is released");
    }

    #[test]
    fn a_busy_port_is_an_error_at_start() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let page: Page = Arc::default();
        assert!(MetricsServer::start(taken.local_addr().unwrap(), page).is_err());
    }
}
