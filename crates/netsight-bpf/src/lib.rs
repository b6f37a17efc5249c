//! netsight's kernel side: CO-RE BPF programs, their loaders, and the typed
//! data they produce. Raw kernel layouts stop in each probe's `raw.rs`.

pub mod btf;
#[cfg(test)]
mod c_defines;
pub mod ksyms;
pub mod loader;
mod mapped;
mod pod;
pub mod probes;
pub mod prog_runs;

pub use loader::Error;
