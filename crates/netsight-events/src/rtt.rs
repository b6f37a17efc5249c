//! RTT histogram with the kernel side's bucket layout (sockets.h): one
//! bucket per microsecond below 16 us, then each power of two split in 4.

/// Must match RTT_LINEAR / RTT_SUB_BITS / RTT_BUCKETS in sockets.h.
pub const LINEAR: usize = 16;
pub const SUB_BITS: u32 = 2;
pub const BUCKETS: usize = LINEAR + 28 * (1 << SUB_BITS);

/// Samples of one interval: exact sum, count, min and max, and a histogram
/// for the percentiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RttHistogram {
    pub sum_us: u64,
    pub count: u64,
    pub min_us: u64,
    pub max_us: u64,
    pub buckets: Vec<u32>,
}

impl Default for RttHistogram {
    fn default() -> Self {
        RttHistogram {
            sum_us: 0,
            count: 0,
            min_us: 0,
            max_us: 0,
            buckets: vec![0; BUCKETS],
        }
    }
}

/// avg/min/max/p50/p99 in microseconds; all zero without samples.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RttSummary {
    pub avg: u64,
    pub min: u64,
    pub max: u64,
    pub p50: u64,
    pub p99: u64,
}

/// The bucket a value falls in (the same computation as the BPF side).
pub fn bucket_of(us: u32) -> usize {
    if (us as usize) < LINEAR {
        return us as usize;
    }
    let e = 31 - us.leading_zeros();
    let sub = (us >> (e - SUB_BITS)) & ((1 << SUB_BITS) - 1);
    let idx = LINEAR + (((e - 4) << SUB_BITS) + sub) as usize;
    idx.min(BUCKETS - 1)
}

/// Lowest and one-past-highest value of a bucket.
pub fn bucket_bounds(idx: usize) -> (u64, u64) {
    if idx < LINEAR {
        return (idx as u64, idx as u64 + 1);
    }
    let i = idx - LINEAR;
    let e = (i >> SUB_BITS) as u32 + 4;
    let sub = (i & ((1 << SUB_BITS) - 1)) as u64;
    let width = 1u64 << (e - SUB_BITS);
    let lo = (1u64 << e) + sub * width;
    (lo, lo + width)
}

impl RttHistogram {
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Builds a histogram from individual values (e.g. the current RTT of
    /// each open connection).
    pub fn from_values(values: &[u32]) -> Self {
        let mut h = RttHistogram::default();
        for &v in values {
            h.sum_us += u64::from(v);
            h.count += 1;
            h.min_us = if h.count == 1 {
                u64::from(v)
            } else {
                h.min_us.min(u64::from(v))
            };
            h.max_us = h.max_us.max(u64::from(v));
            h.buckets[bucket_of(v)] += 1;
        }
        h
    }

    /// The value below which a fraction `q` of samples fall: the midpoint of
    /// the bucket that crosses it, clamped to the exact min and max.
    pub fn quantile(&self, q: f64) -> u64 {
        let total: u64 = self.buckets.iter().map(|&b| u64::from(b)).sum();
        if total == 0 {
            return 0;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0u64;
        for (idx, &b) in self.buckets.iter().enumerate() {
            seen += u64::from(b);
            if seen >= rank {
                let (lo, hi) = bucket_bounds(idx);
                let mid = if hi - lo <= 1 { lo } else { lo + (hi - lo) / 2 };
                return mid.clamp(self.min_us, self.max_us.max(self.min_us));
            }
        }
        self.max_us
    }

    pub fn summary(&self) -> RttSummary {
        if self.count == 0 {
            return RttSummary::default();
        }
        RttSummary {
            avg: (self.sum_us + self.count / 2) / self.count,
            min: self.min_us,
            max: self.max_us,
            p50: self.quantile(0.50),
            p99: self.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_values_in_order() {
        let mut last = 0;
        for v in [
            0u32,
            1,
            15,
            16,
            17,
            20,
            24,
            31,
            32,
            100,
            1000,
            65_535,
            1 << 20,
            u32::MAX,
        ] {
            let b = bucket_of(v);
            assert!(b >= last, "bucket of {v} went backwards");
            last = b;
            if v < (1 << 31) {
                let (lo, hi) = bucket_bounds(b);
                assert!(
                    u64::from(v) >= lo && u64::from(v) < hi,
                    "{v} not in [{lo},{hi})"
                );
            }
        }
        assert_eq!(bucket_of(u32::MAX), BUCKETS - 1);
    }

    #[test]
    fn bucket_width_is_at_most_a_quarter_of_the_value() {
        for idx in LINEAR..BUCKETS {
            let (lo, hi) = bucket_bounds(idx);
            assert!((hi - lo) * 4 <= lo, "bucket {idx} [{lo},{hi}) too wide");
        }
    }

    #[test]
    fn summary_of_known_values() {
        let values: Vec<u32> = (1..=100).map(|v| v * 10).collect();
        let s = RttHistogram::from_values(&values).summary();
        assert_eq!(s.min, 10);
        assert_eq!(s.max, 1000);
        assert_eq!(s.avg, 505);
        // Within the 12.5% bucket precision of the true 500 and 990.
        assert!((440..=560).contains(&s.p50), "p50 {}", s.p50);
        assert!((870..=1000).contains(&s.p99), "p99 {}", s.p99);
    }

    #[test]
    fn empty_is_all_zero() {
        assert_eq!(RttHistogram::default().summary(), RttSummary::default());
    }
}
