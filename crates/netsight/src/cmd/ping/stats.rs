//! Per-stage min/avg/max/p99 over the whole run, in bounded memory: exact
//! min, max and mean, and p99 from a log histogram (buckets 1% wide).

use super::stages::Stage;

const BUCKETS: usize = 2400;
/// Bucket i holds values in [FLOOR * GROWTH^i, FLOOR * GROWTH^(i+1)).
const FLOOR_US: f64 = 0.01;
const GROWTH: f64 = 1.01;

#[derive(Debug, Clone)]
pub struct Summary {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
    hist: Vec<u32>,
}

impl Default for Summary {
    fn default() -> Self {
        Summary {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            hist: vec![0; BUCKETS],
        }
    }
}

fn bucket(v: f64) -> usize {
    if v <= FLOOR_US {
        return 0;
    }
    ((v / FLOOR_US).ln() / GROWTH.ln()) as usize
}

impl Summary {
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.hist[bucket(v).min(BUCKETS - 1)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn min(&self) -> f64 {
        self.min
    }

    pub fn max(&self) -> f64 {
        self.max
    }

    pub fn avg(&self) -> f64 {
        self.sum / self.count.max(1) as f64
    }

    /// `{"min","avg","max","p99","count"}` in us to 0.1, or null when empty.
    pub fn json(&self) -> serde_json::Value {
        if self.count == 0 {
            return serde_json::Value::Null;
        }
        let r = |v: f64| (v * 10.0).round() / 10.0;
        serde_json::json!({
            "min": r(self.min()),
            "avg": r(self.avg()),
            "max": r(self.max()),
            "p99": r(self.quantile(0.99)),
            "count": self.count,
        })
    }

    /// The upper edge of the bucket holding the q-quantile, within [min, max].
    pub fn quantile(&self, q: f64) -> f64 {
        let rank = ((self.count as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, n) in self.hist.iter().enumerate() {
            seen += u64::from(*n);
            if seen >= rank {
                let edge = FLOOR_US * GROWTH.powi(i as i32 + 1);
                return edge.clamp(self.min, self.max);
            }
        }
        self.max
    }
}

/// The whole run: counts and one summary per stage.
#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub sent: u64,
    pub replied: u64,
    pub stages: [Summary; 12],
    /// With `-n`: per packet and namespace.
    pub hops: super::hops::HopStats,
}

impl RunStats {
    pub fn add(&mut self, values: &[Option<f64>; 12]) {
        for (s, v) in self.stages.iter_mut().zip(values) {
            if let Some(v) = v {
                s.add(*v);
            }
        }
    }

    pub fn lost(&self) -> u64 {
        self.sent - self.replied
    }

    pub fn stage(&self, s: Stage) -> &Summary {
        &self.stages[s as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_is_within_a_bucket_of_the_truth() {
        let mut s = Summary::default();
        for i in 1..=1000 {
            s.add(i as f64);
        }
        assert_eq!((s.min(), s.max(), s.avg()), (1.0, 1000.0, 500.5));
        let p99 = s.quantile(0.99);
        assert!((p99 - 990.0).abs() / 990.0 < 0.02, "{p99}");
    }
}
