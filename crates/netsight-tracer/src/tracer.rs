//! The running tracer: one poll thread that owns the BPF object and reads
//! its ring buffer, N workers fed through bounded queues, one stream out.
//!
//! A full worker queue drops the record and counts it (never blocks the
//! ring reader); a slow consumer of the stream blocks the workers, which
//! fills their queues: every loss is counted where it happens.

use std::cell::RefCell;
use std::ops::ControlFlow;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use netsight_bpf::probes::socktrace::{Received, SockTraceProbe, DRAIN_EVERY};
use netsight_events::sockdata::KernelRecord;

use crate::publish::Publisher;
use crate::record::{Event, Losses};
use crate::status::{Shared, Status};
use crate::stream::EventStream;
use crate::worker::Worker;
use crate::{Config, Error};

const POLL: Duration = Duration::from_millis(100);
const MAP_USAGE_EVERY: Duration = Duration::from_secs(1);
/// Batches buffered between the workers and the reader.
const STREAM_BATCHES: usize = 64;
/// Records handed between threads at once: one wakeup per batch, not per
/// record (a futex wake and a context switch cost microseconds).
pub(crate) const BATCH: usize = 256;

#[derive(Default)]
struct Control {
    stop: AtomicBool,
    paused: AtomicBool,
}

/// A running socket data tracer. Dropping it stops it.
pub struct Tracer {
    shared: Arc<Shared>,
    control: Arc<Control>,
    events: EventStream,
    poll: Option<JoinHandle<()>>,
    workers: Vec<JoinHandle<()>>,
    _publisher: Option<Publisher>,
}

/// What [`Tracer::stop`] leaves: the final state and the events not read yet.
pub struct Stopped {
    pub status: Status,
    pub remaining: Vec<Event>,
}

/// Where the ring reader puts records: parsed on the spot (no workers:
/// one hand-off between threads fewer, best on small hosts), or handed to
/// the worker owning the socket.
enum Sink {
    Inline(Box<Worker>),
    Queued(Dispatcher),
}

impl Sink {
    fn take(&mut self, r: Received) {
        match self {
            Sink::Inline(w) => w.handle(r.record),
            Sink::Queued(d) => d.dispatch(r),
        }
    }

    /// After a drain of the ring; false when the reader of events is gone.
    fn after_drain(&mut self) -> bool {
        match self {
            Sink::Inline(w) => w.after_batch(),
            Sink::Queued(d) => {
                d.flush_all();
                true
            }
        }
    }
}

/// Sends each record to the worker that owns its socket, in batches.
struct Dispatcher {
    queues: Vec<SyncSender<Vec<KernelRecord>>>,
    pending: Vec<Vec<KernelRecord>>,
    shared: Arc<Shared>,
}

impl Dispatcher {
    fn new(queues: Vec<SyncSender<Vec<KernelRecord>>>, shared: Arc<Shared>) -> Self {
        let pending = queues.iter().map(|_| Vec::with_capacity(BATCH)).collect();
        Dispatcher {
            queues,
            pending,
            shared,
        }
    }

    fn dispatch(&mut self, r: Received) {
        let id = match &r.record {
            KernelRecord::Data(d) => d.socket_id,
            KernelRecord::Close { socket_id, .. } => *socket_id,
        };
        let w = (id % self.queues.len() as u64) as usize;
        self.pending[w].push(r.record);
        if self.pending[w].len() >= BATCH {
            self.flush(w);
        }
    }

    /// A full queue drops the batch, every record of it counted.
    fn flush(&mut self, w: usize) {
        if self.pending[w].is_empty() {
            return;
        }
        let batch = std::mem::replace(&mut self.pending[w], Vec::with_capacity(BATCH));
        let n = batch.len() as u64;
        let counters = &self.shared.workers[w];
        match self.queues[w].try_send(batch) {
            Ok(()) => counters.enqueued.fetch_add(n, Ordering::Relaxed),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                counters.lost.fetch_add(n, Ordering::Relaxed)
            }
        };
    }

    fn flush_all(&mut self) {
        for w in 0..self.queues.len() {
            self.flush(w);
        }
    }
}

fn refresh(probe: &SockTraceProbe, shared: &Shared, with_maps: bool) {
    let counters = probe.counters();
    let slow = with_maps.then(|| (probe.map_usage(), probe.program_runs()));
    if let Ok(mut k) = shared.kernel.lock() {
        k.counters = counters;
        if let Some((maps, costs)) = slow {
            k.maps = maps;
            k.costs = costs;
        }
    }
}

/// The poll thread: load, then read the ring until told to stop.
fn poll_loop(
    cfg: &Config,
    shared: &Arc<Shared>,
    control: &Control,
    queues: Vec<SyncSender<Vec<KernelRecord>>>,
    out: &SyncSender<Vec<Event>>,
    ready: mpsc::Sender<Result<(), Error>>,
) {
    let mut probe = match SockTraceProbe::load(&cfg.kernel_settings()) {
        Ok(p) => p,
        Err(e) => {
            let _ = ready.send(Err(Error::Load(e)));
            return;
        }
    };
    if let Ok(mut k) = shared.kernel.lock() {
        k.hooks = probe.hooks().to_vec();
    }
    if cfg.mutes_unparsed() {
        if let Ok(m) = probe.muter() {
            let _ = shared.muter.set(m);
        }
    }
    let sink = Rc::new(RefCell::new(if queues.is_empty() {
        let worker = Worker::new(0, cfg.clone(), Arc::clone(shared), out.clone());
        Sink::Inline(Box::new(worker))
    } else {
        Sink::Queued(Dispatcher::new(queues, Arc::clone(shared)))
    }));
    let ring_sink = Rc::clone(&sink);
    let ring = match probe.ring(move |r| ring_sink.borrow_mut().take(r)) {
        Ok(r) => r,
        Err(e) => {
            let _ = ready.send(Err(Error::Load(e)));
            return;
        }
    };
    refresh(&probe, shared, true);
    let _ = ready.send(Ok(()));
    let mut reported = Losses::default();
    let mut maps_at = Instant::now();
    while !control.stop.load(Ordering::Relaxed) {
        let paused = control.paused.load(Ordering::Relaxed);
        if paused == shared.running.load(Ordering::Relaxed) {
            if paused {
                probe.detach();
            } else if probe.attach().is_err() {
                control.paused.store(true, Ordering::Relaxed);
                continue;
            }
            shared.running.store(!paused, Ordering::Relaxed);
        }
        // A signal (the user's Ctrl-C) interrupts the wait: not an error.
        // The kernel wakes us only for a quarter-full ring: drain on a timer.
        let _ = ring.poll(DRAIN_EVERY);
        let _ = ring.consume();
        if !sink.borrow_mut().after_drain() {
            break;
        }
        let with_maps = maps_at.elapsed() >= MAP_USAGE_EVERY;
        if with_maps {
            maps_at = Instant::now();
        }
        refresh(&probe, shared, with_maps);
        report_losses(&probe, shared, out, &mut reported);
    }
    probe.detach();
    shared.running.store(false, Ordering::Relaxed);
    let _ = ring.consume();
    sink.borrow_mut().after_drain();
    drop(ring);
    if let Ok(Sink::Inline(w)) = Rc::try_unwrap(sink).map(RefCell::into_inner) {
        w.finish();
    }
    refresh(&probe, shared, true);
    report_losses(&probe, shared, out, &mut reported);
    // The last notice must not be dropped: stop() reads while we block.
    if let Some(delta) = unreported(&probe, shared, &reported) {
        let _ = out.send(vec![Event::Lost(delta)]);
    }
}

fn losses_now(probe: &SockTraceProbe, shared: &Shared) -> Losses {
    Losses {
        // Skipped runs as of the last slow refresh, the figure status
        // shows too, so stream and status agree (both exact at stop).
        kernel: probe.counters().ringbuf_full + shared.skipped_runs(),
        user: shared.user_lost(),
    }
}

fn unreported(probe: &SockTraceProbe, shared: &Shared, reported: &Losses) -> Option<Losses> {
    let now = losses_now(probe, shared);
    (now != *reported).then(|| Losses {
        kernel: now.kernel - reported.kernel,
        user: now.user - reported.user,
    })
}

/// Puts new losses in the stream (retried next round if the stream is full).
fn report_losses(
    probe: &SockTraceProbe,
    shared: &Shared,
    out: &SyncSender<Vec<Event>>,
    reported: &mut Losses,
) {
    let Some(delta) = unreported(probe, shared, reported) else {
        return;
    };
    if out.try_send(vec![Event::Lost(delta)]).is_ok() {
        reported.kernel += delta.kernel;
        reported.user += delta.user;
    }
}

impl Tracer {
    /// Loads the kernel side and starts capturing (seeds/001's
    /// `bpf_tracer_init` + `running_socket_tracer` + `tracer_start`).
    /// Needs root (CAP_BPF + CAP_PERFMON).
    pub fn start(cfg: Config) -> Result<Tracer, Error> {
        let shared = Arc::new(Shared::new(&cfg));
        let control = Arc::new(Control::default());
        let (out_tx, events) = mpsc::sync_channel(STREAM_BATCHES);
        let mut queues = Vec::new();
        let mut workers = Vec::new();
        for id in 0..cfg.workers {
            let (tx, rx) = mpsc::sync_channel(cfg.queue_capacity.div_ceil(BATCH));
            queues.push(tx);
            let worker = Worker::new(id, cfg.clone(), Arc::clone(&shared), out_tx.clone());
            let handle = std::thread::Builder::new()
                .name(format!("tracer-worker-{id}"))
                .spawn(move || worker.run(rx))
                .map_err(|e| Error::Thread(e.to_string()))?;
            workers.push(handle);
        }
        let (ready_tx, ready_rx) = mpsc::channel();
        let poll = {
            let (cfg, shared, control) = (cfg.clone(), Arc::clone(&shared), Arc::clone(&control));
            std::thread::Builder::new()
                .name("tracer-poll".into())
                .spawn(move || poll_loop(&cfg, &shared, &control, queues, &out_tx, ready_tx))
                .map_err(|e| Error::Thread(e.to_string()))?
        };
        let loaded = ready_rx
            .recv()
            .unwrap_or_else(|_| Err(Error::Thread("the poll thread ended".into())));
        let mut tracer = Tracer {
            shared: Arc::clone(&shared),
            control,
            events: EventStream::new(events),
            poll: Some(poll),
            workers,
            _publisher: None,
        };
        loaded?;
        if cfg.publish_status {
            tracer._publisher = Some(Publisher::start(shared)?);
        }
        Ok(tracer)
    }

    /// Starts a tracer and calls `on_event` for each event until it returns
    /// `Break` or `keep_going` turns false (checked at least every 100 ms).
    /// Returns the final state.
    pub fn run(
        cfg: Config,
        keep_going: impl Fn() -> bool,
        mut on_event: impl FnMut(Event) -> ControlFlow<()>,
    ) -> Result<Status, Error> {
        let tracer = Tracer::start(cfg)?;
        while keep_going() {
            match tracer.events.recv_timeout(POLL) {
                Ok(e) => {
                    if on_event(e).is_break() {
                        break;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        Ok(tracer.stop().status)
    }

    /// The stream of events (blocking iteration: `tracer.events().iter()`).
    pub fn events(&self) -> &EventStream {
        &self.events
    }

    /// Detaches the programs; capture resumes with [`Tracer::resume`]
    /// (seeds/001's `tracer_stop`). Takes effect within 100 ms.
    pub fn pause(&self) {
        self.control.paused.store(true, Ordering::Relaxed);
    }

    /// Attaches the programs again (seeds/001's `tracer_start`).
    pub fn resume(&self) {
        self.control.paused.store(false, Ordering::Relaxed);
    }

    /// The tracer's state now (seeds/001's `socket_tracer_stats`).
    pub fn status(&self) -> Status {
        self.shared.snapshot()
    }

    /// Stops capturing, lets the workers finish (pending requests become
    /// incomplete records), and returns the final state with every event
    /// not read yet.
    pub fn stop(mut self) -> Stopped {
        let remaining = self.shutdown();
        Stopped {
            status: self.shared.snapshot(),
            remaining,
        }
    }

    fn shutdown(&mut self) -> Vec<Event> {
        self.control.stop.store(true, Ordering::Relaxed);
        let mut remaining = Vec::new();
        // Keep reading while the threads finish: a full stream would
        // otherwise block a worker forever.
        let mut threads: Vec<JoinHandle<()>> = self.poll.take().into_iter().collect();
        threads.append(&mut self.workers);
        while threads.iter().any(|t| !t.is_finished()) {
            match self.events.recv_timeout(Duration::from_millis(10)) {
                Ok(e) => remaining.push(e),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        for t in threads {
            let _ = t.join();
        }
        while let Ok(e) = self.events.try_recv() {
            remaining.push(e);
        }
        remaining
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        if self.poll.is_some() || !self.workers.is_empty() {
            self.shutdown();
        }
    }
}
