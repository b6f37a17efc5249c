//! Runs the mutation fuzzer at length.
//!
//! `cargo run --release -p netsight-l7 --example fuzz -- [--inputs N] [--seed S] [--protocol http1|dns|redis|all]`

use netsight_l7::{fuzz, Protocol};
use std::time::Instant;

fn main() {
    let mut inputs: u64 = 1_000_000;
    let mut seed: u64 = 1;
    let mut which = "all".to_string();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1).cloned().unwrap_or_default();
        match args[i].as_str() {
            "--inputs" => inputs = v.parse().expect("--inputs N"),
            "--seed" => seed = v.parse().expect("--seed S"),
            "--protocol" => which = v,
            a => {
                eprintln!("unknown argument {a}");
                std::process::exit(2);
            }
        }
        i += 2;
    }
    for p in Protocol::ALL {
        if which != "all" && which != p.name() {
            continue;
        }
        let t = Instant::now();
        let r = fuzz::run(p, inputs, seed);
        let secs = t.elapsed().as_secs_f64();
        println!(
            "{:6} inputs {} segments {} bytes {} messages {} gaps {} records {} paired {} inferred {} in {:.1} s ({:.0} inputs/s)",
            p.name(),
            r.inputs,
            r.segments,
            r.bytes,
            r.messages,
            r.gaps,
            r.records,
            r.paired,
            r.inferred,
            secs,
            r.inputs as f64 / secs
        );
    }
}
