//! InfluxDB: points from records, line protocol, the buffer and the sender.

pub mod buffer;
pub mod line_protocol;
pub mod points;
pub mod sender;
pub mod target;
