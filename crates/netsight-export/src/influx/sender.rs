//! The thread that delivers buffered points to InfluxDB. The collection
//! loop only appends to the buffer under a mutex, never waits on the
//! network; this thread takes batches, sends them, and on failure puts them
//! back (oldest first) and waits with backoff.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use flate2::write::GzEncoder;
use flate2::Compression;

use super::buffer::PointBuffer;
use super::target::{classify, Outcome, WriteTarget};
use crate::backoff::Backoff;
use crate::config::InfluxConfig;
use crate::http;

/// Where the sender reports what a person should know (the CLI prints it).
pub type Log = Arc<dyn Fn(&str) + Send + Sync>;

/// Counters of one sender; every point pushed ends up in exactly one of
/// written, dropped, rejected, or is still buffered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SenderStats {
    pub pushed: u64,
    pub written: u64,
    /// Dropped to keep the buffer bounded, or left over at shutdown.
    pub dropped: u64,
    /// Refused by the server (400 and other permanent errors).
    pub rejected: u64,
    pub requests: u64,
    pub failed_requests: u64,
    /// Unix ms of the last successful write.
    pub last_success_ms: Option<i64>,
    pub buffered_points: usize,
    pub buffered_bytes: usize,
    /// Lines taken out of the buffer and being sent right now.
    pub in_flight: usize,
}

struct State {
    buffer: PointBuffer,
    stats: SenderStats,
    /// Set by a stop: deliver until this instant, then give up.
    flush_until: Option<Instant>,
    /// Set by a hand-over (config reload): stop without flushing.
    abandon: bool,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means another thread panicked mid-update; the
        // counters are still the best we have.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct InfluxSender {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    flush_timeout: Duration,
}

struct Worker {
    shared: Arc<Shared>,
    target: WriteTarget,
    batch_points: usize,
    timeout: Duration,
    backoff: Backoff,
    log: Log,
    failing_since: Option<Instant>,
}

impl InfluxSender {
    /// Starts the sender thread; `buffer` is normally empty, or the points
    /// handed over by a previous sender at a config reload.
    pub fn start(
        cfg: &InfluxConfig,
        buffer: Option<PointBuffer>,
        log: Log,
    ) -> std::io::Result<Self> {
        let mut buffer =
            buffer.unwrap_or_else(|| PointBuffer::new(cfg.buffer_points, cfg.buffer_bytes));
        buffer.set_limits(cfg.buffer_points, cfg.buffer_bytes);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                buffer,
                stats: SenderStats::default(),
                flush_until: None,
                abandon: false,
            }),
            wake: Condvar::new(),
        });
        let mut worker = Worker {
            shared: Arc::clone(&shared),
            target: WriteTarget::new(cfg),
            batch_points: cfg.batch_points,
            timeout: cfg.timeout,
            backoff: Backoff::new(cfg.retry_initial, cfg.retry_max),
            log,
            failing_since: None,
        };
        let thread = std::thread::Builder::new()
            .name("influx-sender".into())
            .spawn(move || worker.run())?;
        Ok(InfluxSender {
            shared,
            thread: Some(thread),
            flush_timeout: cfg.flush_timeout,
        })
    }

    /// Appends encoded lines (one point each) and wakes the sender. Never
    /// blocks on the network.
    pub fn push(&self, lines: Vec<String>) {
        if lines.is_empty() {
            return;
        }
        let mut st = self.shared.lock();
        st.stats.pushed += lines.len() as u64;
        for l in lines {
            st.buffer.push(l);
        }
        drop(st);
        self.shared.wake.notify_all();
    }

    pub fn stats(&self) -> SenderStats {
        let st = self.shared.lock();
        snapshot(&st)
    }

    /// Stops: delivers what is buffered within the flush timeout, drops
    /// (and counts) the rest, and returns the final counters.
    pub fn shutdown(mut self) -> SenderStats {
        self.shared.lock().flush_until = Some(Instant::now() + self.flush_timeout);
        self.shared.wake.notify_all();
        self.join();
        let st = self.shared.lock();
        snapshot(&st)
    }

    /// Stops without flushing and hands over the buffered points (config
    /// reload), with the counters so far.
    pub fn hand_over(mut self) -> (PointBuffer, SenderStats) {
        self.shared.lock().abandon = true;
        self.shared.wake.notify_all();
        self.join();
        let mut st = self.shared.lock();
        let stats = snapshot(&st);
        let mut buffer = std::mem::replace(&mut st.buffer, PointBuffer::new(1, 1));
        // Its drops are in `stats`; the next sender counts only its own.
        buffer.take_dropped();
        (buffer, stats)
    }

    fn join(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for InfluxSender {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.shared.lock().abandon = true;
            self.shared.wake.notify_all();
            self.join();
        }
    }
}

fn snapshot(st: &State) -> SenderStats {
    SenderStats {
        dropped: st.stats.dropped + st.buffer.dropped(),
        buffered_points: st.buffer.len(),
        buffered_bytes: st.buffer.bytes(),
        ..st.stats
    }
}

/// N from an InfluxDB 1.x "partial write: ... dropped=N" message.
fn partial_write_dropped(message: &str) -> Option<u64> {
    if !message.starts_with("partial write") {
        return None;
    }
    let (_, tail) = message.rsplit_once("dropped=")?;
    let digits: String = tail.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Worker {
    fn run(&mut self) {
        loop {
            let batch = {
                let mut st = self.shared.lock();
                loop {
                    if st.abandon {
                        return;
                    }
                    if let Some(until) = st.flush_until {
                        if st.buffer.is_empty() || Instant::now() >= until {
                            let left = st.buffer.drop_all();
                            if left > 0 {
                                (self.log)(&format!(
                                    "influxdb: stopping with {left} points not delivered to {} (counted as dropped)",
                                    self.target.url
                                ));
                            }
                            return;
                        }
                    }
                    if !st.buffer.is_empty() {
                        break;
                    }
                    st = self.shared.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
                let batch = st.buffer.take_batch(self.batch_points, usize::MAX);
                st.stats.in_flight = batch.len();
                batch
            };
            let outcome = self.send(&batch);
            let wait = self.settle(batch, outcome);
            if let Some(d) = wait {
                self.sleep(d);
            }
        }
    }

    fn send(&self, batch: &[String]) -> Outcome {
        let mut body = Vec::with_capacity(batch.iter().map(String::len).sum());
        for l in batch {
            body.extend_from_slice(l.as_bytes());
        }
        if self.target.gzip {
            let mut gz = GzEncoder::new(Vec::with_capacity(body.len() / 4), Compression::fast());
            // Writing to a Vec cannot fail.
            let _ = gz.write_all(&body);
            body = gz.finish().unwrap_or_default();
        }
        match http::send(&self.target.url, &self.target.request(&body), self.timeout) {
            Ok(resp) => classify(&resp, SystemTime::now()),
            Err(e) => Outcome::Retry {
                after: None,
                reason: e.to_string(),
            },
        }
    }

    /// Books the outcome; returns how long to wait before the next try.
    fn settle(&mut self, batch: Vec<String>, outcome: Outcome) -> Option<Duration> {
        let n = batch.len() as u64;
        let mut st = self.shared.lock();
        st.stats.in_flight = 0;
        st.stats.requests += 1;
        match outcome {
            Outcome::Written => {
                st.stats.written += n;
                st.stats.last_success_ms = Some(unix_ms());
                self.backoff.reset();
                if let Some(since) = self.failing_since.take() {
                    (self.log)(&format!(
                        "influxdb: writes to {} succeed again (after {:.0?} of failures)",
                        self.target.url,
                        since.elapsed()
                    ));
                }
                None
            }
            Outcome::Rejected { status, message } => {
                // InfluxDB 1.x keeps the good points of a batch and says how
                // many it dropped ("partial write: ... dropped=N").
                let refused = partial_write_dropped(&message).map_or(n, |d| d.min(n));
                st.stats.rejected += refused;
                st.stats.written += n - refused;
                (self.log)(&format!(
                    "influxdb: {} rejected {refused} of {n} points (HTTP {status}, not retried): {message}",
                    self.target.url
                ));
                None
            }
            Outcome::Retry { after, reason } => {
                st.stats.failed_requests += 1;
                st.buffer.requeue(batch);
                let delay = self.backoff.delay_for(after);
                if self.failing_since.is_none() {
                    self.failing_since = Some(Instant::now());
                    (self.log)(&format!(
                        "influxdb: write to {} failed ({reason}); keeping up to the buffer limit and retrying (next in {:.1}s)",
                        self.target.url,
                        delay.as_secs_f64()
                    ));
                }
                Some(delay)
            }
        }
    }

    /// Waits `d`, but no longer than a stop allows.
    fn sleep(&self, d: Duration) {
        let start = Instant::now();
        let mut st = self.shared.lock();
        // A stop that arrives while waiting gets one prompt try.
        let stopping_already = st.flush_until.is_some();
        loop {
            if st.abandon || (!stopping_already && st.flush_until.is_some()) {
                return;
            }
            let mut end = start + d;
            if let Some(until) = st.flush_until {
                end = end.min(until);
            }
            let now = Instant::now();
            if now >= end {
                return;
            }
            st = self
                .shared
                .wake
                .wait_timeout(st, end - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

#[cfg(test)]
mod tests;
