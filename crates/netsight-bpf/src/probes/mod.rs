//! One folder per probe: its BPF C, its shared header and its Rust.

pub mod doctor;
pub mod empty;
pub mod ping;
pub mod sockets;
pub mod socktrace;
pub mod xdp;

/// Every BPF program netsight can load, by name (what `--refuse` accepts).
pub fn program_names() -> Vec<&'static str> {
    let mut all = sockets::program_names();
    all.extend(ping::program_names());
    all.push(xdp::PROGRAM_NAME);
    all.extend(socktrace::PROGRAM_NAMES);
    all
}
