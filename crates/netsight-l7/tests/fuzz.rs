//! A short fuzz run in every `cargo test`; the long run is `examples/fuzz.rs` (BENCHMARKS.md).
use netsight_l7::{fuzz, Protocol};

#[test]
fn short_fuzz_run() {
    // Debug builds are slow; 40k inputs per protocol keeps this to seconds.
    let n = std::env::var("L7_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000);
    for p in Protocol::ALL {
        let r = fuzz::run(p, n, 7);
        assert_eq!(r.inputs, n);
        assert!(
            r.messages > n / 10,
            "{p:?}: the mutated seeds still parse often: {r:?}"
        );
        assert!(r.paired > 0, "{p:?}: {r:?}");
    }
}
