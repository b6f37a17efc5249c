//! The legitimate workload: TCP request/response (64 bytes each way) over
//! a few persistent connections, counting completed transactions.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const PORT: u16 = 7000;
const MSG: usize = 64;
/// Bounds every blocking call so that stop requests are seen.
const IO_TIMEOUT: Duration = Duration::from_millis(200);

/// Accepts connections and echoes fixed-size messages until `stop`.
pub fn serve(listener: TcpListener, stop: Arc<AtomicBool>) -> anyhow::Result<()> {
    listener.set_nonblocking(true)?;
    let mut workers = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((conn, _)) => {
                let stop = stop.clone();
                workers.push(std::thread::spawn(move || echo(conn, &stop)));
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => return Err(e.into()),
        }
    }
    for w in workers {
        let _ = w.join();
    }
    Ok(())
}

fn echo(mut conn: TcpStream, stop: &AtomicBool) {
    let _ = conn.set_nodelay(true);
    let _ = conn.set_read_timeout(Some(IO_TIMEOUT));
    let mut buf = [0u8; MSG];
    while !stop.load(Ordering::Relaxed) {
        match conn.read_exact(&mut buf) {
            Ok(()) => {
                if conn.write_all(&buf).is_err() {
                    return;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(_) => return,
        }
    }
}

/// One client connection: request, wait for the response, count, repeat.
/// A timed-out exchange reconnects (its partial data is unusable).
pub fn client(
    server: SocketAddr,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let req = [0x5au8; MSG];
    let mut resp = [0u8; MSG];
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut conn) = TcpStream::connect_timeout(&server, Duration::from_secs(1)) else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        conn.set_nodelay(true)?;
        conn.set_read_timeout(Some(Duration::from_secs(1)))?;
        conn.set_write_timeout(Some(Duration::from_secs(1)))?;
        while !stop.load(Ordering::Relaxed) {
            if conn.write_all(&req).is_err() || conn.read_exact(&mut resp).is_err() {
                break;
            }
            done.fetch_add(1, Ordering::Relaxed);
        }
    }
    Ok(())
}
