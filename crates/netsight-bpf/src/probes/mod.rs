//! One folder per probe: its BPF C, its shared header and its Rust.

pub mod doctor;
pub mod sockets;
pub mod socktrace;
pub mod xdp;
