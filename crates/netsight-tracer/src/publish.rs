//! How another process asks a running tracer for its state: each tracer
//! listens on a unix socket in [`TRACERS_DIR`] and answers every connection
//! with one JSON [`Status`] line.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::status::{Shared, Status};
use crate::Error;

/// Where running tracers publish their sockets.
pub const TRACERS_DIR: &str = "/run/netsight/tracers";
/// The largest status answer read (a guard against a bogus peer).
const MAX_ANSWER: u64 = 1 << 20;
const ACCEPT_POLL: Duration = Duration::from_millis(100);

static SEQ: AtomicUsize = AtomicUsize::new(0);

/// The published socket, removed on drop.
pub(crate) struct Publisher {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Publisher {
    pub fn start(shared: Arc<Shared>) -> Result<Self, Error> {
        let io = |e| Error::Publish(format!("{TRACERS_DIR}: {e}"));
        std::fs::create_dir_all(TRACERS_DIR).map_err(io)?;
        let n = SEQ.fetch_add(1, Ordering::Relaxed);
        let name = if n == 0 {
            format!("{}.sock", std::process::id())
        } else {
            format!("{}-{n}.sock", std::process::id())
        };
        let path = Path::new(TRACERS_DIR).join(name);
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).map_err(io)?;
        // Status holds no payload bytes; root-owned dir, readable socket.
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
        listener.set_nonblocking(true).map_err(io)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("tracer-status".into())
            .spawn(move || serve(&listener, &shared, &flag))
            .map_err(io)?;
        Ok(Publisher {
            path,
            stop,
            thread: Some(thread),
        })
    }
}

fn serve(listener: &UnixListener, shared: &Shared, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((mut conn, _)) => {
                let _ = conn.set_nonblocking(false);
                let _ = conn.set_write_timeout(Some(Duration::from_secs(1)));
                if let Ok(mut line) = serde_json::to_vec(&shared.snapshot()) {
                    line.push(b'\n');
                    let _ = conn.write_all(&line);
                }
            }
            Err(_) => std::thread::sleep(ACCEPT_POLL),
        }
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Asks one published socket for its tracer's state.
pub fn query(path: &Path) -> std::io::Result<Status> {
    let mut conn = UnixStream::connect(path)?;
    // Generous: a tracer on a saturated host answers late, not never.
    conn.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut text = String::new();
    Read::by_ref(&mut conn)
        .take(MAX_ANSWER)
        .read_to_string(&mut text)?;
    serde_json::from_str(text.trim()).map_err(std::io::Error::other)
}

/// The state of every tracer running on this host. Sockets nobody listens
/// on any more (a tracer that was killed) are removed.
pub fn running_tracers() -> Vec<Status> {
    let Ok(dir) = std::fs::read_dir(TRACERS_DIR) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = dir
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "sock"))
        .collect();
    paths.sort();
    paths
        .iter()
        .filter_map(|p| match query(p) {
            Ok(s) => Some(s),
            Err(e) => {
                if e.kind() == std::io::ErrorKind::ConnectionRefused {
                    let _ = std::fs::remove_file(p);
                }
                None
            }
        })
        .collect()
}
