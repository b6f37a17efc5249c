//! A deterministic mutation fuzzer for the parsers and the tracker (no nightly needed).
