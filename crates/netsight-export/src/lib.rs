//! netsight's exporters, free of the OS so they are tested without root:
//! the agent's config file, InfluxDB line protocol with its bounded
//! drop-oldest buffer and retrying sender, Prometheus exposition with
//! bounded cardinality, and a small HTTP/1.1 client and server.

pub mod backoff;
pub mod config;
pub mod health;
pub mod http;
pub mod influx;
pub mod prometheus;
