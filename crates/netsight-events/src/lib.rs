//! What netsight users see: typed records and their JSON form. No libbpf
//! here, so everything is testable without root.

pub mod event;
pub mod process;
pub mod rtt;
pub mod sockdata;
pub mod time;
