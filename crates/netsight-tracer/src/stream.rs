//! The tracer's output as single events, though threads hand them over in
//! batches (one wakeup per batch).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::mpsc::{Receiver, RecvError, RecvTimeoutError, TryRecvError};
use std::time::Duration;

use crate::record::Event;

/// The events of a running [`crate::Tracer`], in order.
pub struct EventStream {
    batches: Receiver<Vec<Event>>,
    ready: RefCell<VecDeque<Event>>,
}

impl EventStream {
    pub(crate) fn new(batches: Receiver<Vec<Event>>) -> Self {
        EventStream {
            batches,
            ready: RefCell::new(VecDeque::new()),
        }
    }

    fn take(&self, batch: Vec<Event>) -> Option<Event> {
        let mut ready = self.ready.borrow_mut();
        ready.extend(batch);
        ready.pop_front()
    }

    fn next_ready(&self) -> Option<Event> {
        self.ready.borrow_mut().pop_front()
    }

    /// The next event, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<Event, RecvTimeoutError> {
        if let Some(e) = self.next_ready() {
            return Ok(e);
        }
        let batch = self.batches.recv_timeout(timeout)?;
        self.take(batch).ok_or(RecvTimeoutError::Timeout)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<Event, TryRecvError> {
        if let Some(e) = self.next_ready() {
            return Ok(e);
        }
        loop {
            let batch = self.batches.try_recv()?;
            if let Some(e) = self.take(batch) {
                return Ok(e);
            }
        }
    }

    /// The next event, waiting as long as the tracer runs.
    pub fn recv(&self) -> Result<Event, RecvError> {
        if let Some(e) = self.next_ready() {
            return Ok(e);
        }
        loop {
            let batch = self.batches.recv()?;
            if let Some(e) = self.take(batch) {
                return Ok(e);
            }
        }
    }

    /// Every event until the tracer stops (blocking).
    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(|| self.recv().ok())
    }
}
