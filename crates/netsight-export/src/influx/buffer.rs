//! The points waiting for the database: bounded by count and by bytes,
//! dropping the oldest first when full, and counting every drop.

use std::collections::VecDeque;

/// Encoded lines in arrival order.
#[derive(Debug)]
pub struct PointBuffer {
    lines: VecDeque<String>,
    bytes: usize,
    max_points: usize,
    max_bytes: usize,
    dropped: u64,
}

impl PointBuffer {
    /// Both limits are at least 1 (the config validates them).
    pub fn new(max_points: usize, max_bytes: usize) -> Self {
        PointBuffer {
            lines: VecDeque::new(),
            bytes: 0,
            max_points: max_points.max(1),
            max_bytes: max_bytes.max(1),
            dropped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.lines.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Points dropped to stay within the limits, since creation.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Appends a line, then drops from the front until within the limits.
    /// A single line bigger than `max_bytes` is itself dropped.
    pub fn push(&mut self, line: String) {
        self.bytes += line.len();
        self.lines.push_back(line);
        self.trim();
    }

    /// Takes up to `max_points` lines (and at most `max_bytes` bytes, but at
    /// least one line) from the front, oldest first.
    pub fn take_batch(&mut self, max_points: usize, max_bytes: usize) -> Vec<String> {
        let mut batch = Vec::new();
        let mut size = 0;
        while batch.len() < max_points.max(1) {
            let Some(next) = self.lines.front() else {
                break;
            };
            if !batch.is_empty() && size + next.len() > max_bytes {
                break;
            }
            size += next.len();
            self.bytes -= next.len();
            batch.extend(self.lines.pop_front());
        }
        batch
    }

    /// Puts a batch that could not be delivered back in front (it is the
    /// oldest data), then drops the oldest if that overflows.
    pub fn requeue(&mut self, batch: Vec<String>) {
        for line in batch.into_iter().rev() {
            self.bytes += line.len();
            self.lines.push_front(line);
        }
        self.trim();
    }

    /// Changes the limits (config reload); drops the oldest if now over.
    pub fn set_limits(&mut self, max_points: usize, max_bytes: usize) {
        self.max_points = max_points.max(1);
        self.max_bytes = max_bytes.max(1);
        self.trim();
    }

    /// Returns the drop count and starts it again from zero (when the
    /// buffer moves to another sender that counts on its own).
    pub fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }

    /// Empties the buffer, counting everything in it as dropped.
    pub fn drop_all(&mut self) -> u64 {
        let n = self.lines.len() as u64;
        self.lines.clear();
        self.bytes = 0;
        self.dropped += n;
        n
    }

    fn trim(&mut self) {
        while self.lines.len() > self.max_points || self.bytes > self.max_bytes {
            let Some(old) = self.lines.pop_front() else {
                break;
            };
            self.bytes -= old.len();
            self.dropped += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(i: usize) -> String {
        format!("m v={i}i {i}\n")
    }

    fn contents(b: &mut PointBuffer) -> Vec<String> {
        b.take_batch(usize::MAX, usize::MAX)
    }

    #[test]
    fn drops_the_oldest_by_count_and_counts_them() {
        let mut b = PointBuffer::new(3, usize::MAX);
        for i in 0..10 {
            b.push(line(i));
        }
        assert_eq!(b.len(), 3);
        assert_eq!(b.dropped(), 7);
        assert_eq!(contents(&mut b), vec![line(7), line(8), line(9)]);
        assert_eq!(b.bytes(), 0);
    }

    #[test]
    fn drops_the_oldest_by_bytes() {
        let one = line(1).len();
        let mut b = PointBuffer::new(1000, one * 2);
        for _ in 0..5 {
            b.push(line(1));
        }
        assert_eq!((b.len(), b.dropped(), b.bytes()), (2, 3, one * 2));
        b.push("x".repeat(one * 3));
        assert_eq!(
            (b.len(), b.dropped(), b.bytes()),
            (0, 6, 0),
            "an oversized line goes too"
        );
    }

    #[test]
    fn batches_respect_both_limits_and_requeue_keeps_order() {
        let mut b = PointBuffer::new(100, usize::MAX);
        for i in 0..10 {
            b.push(line(i));
        }
        let first = b.take_batch(4, usize::MAX);
        assert_eq!(first, (0..4).map(line).collect::<Vec<_>>());
        let small = b.take_batch(100, line(4).len() + 1);
        assert_eq!(small, vec![line(4)], "byte limit, but never empty");
        b.requeue(small);
        b.requeue(first);
        assert_eq!(contents(&mut b), (0..10).map(line).collect::<Vec<_>>());
    }

    #[test]
    fn requeue_over_the_limit_drops_the_requeued_oldest() {
        let mut b = PointBuffer::new(5, usize::MAX);
        for i in 0..5 {
            b.push(line(i));
        }
        let batch = b.take_batch(3, usize::MAX);
        for i in 5..8 {
            b.push(line(i));
        }
        b.requeue(batch);
        assert_eq!(b.dropped(), 3);
        assert_eq!(contents(&mut b), (3..8).map(line).collect::<Vec<_>>());
    }

    #[test]
    fn every_point_is_accounted_for() {
        let mut b = PointBuffer::new(7, 200);
        let mut taken = 0;
        for i in 0..1000 {
            b.push(line(i));
            if i % 13 == 0 {
                taken += b.take_batch(2, usize::MAX).len() as u64;
            }
        }
        assert_eq!(taken + b.dropped() + b.len() as u64, 1000);
        assert!(b.bytes() <= 200 && b.len() <= 7);
        let left = b.len() as u64;
        assert_eq!(b.drop_all(), left);
    }
}
