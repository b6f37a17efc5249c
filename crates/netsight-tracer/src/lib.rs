//! netsight's socket data tracer as a library (SPEC §8): add it as a
//! dependency to capture what applications send and receive on TCP and UDP
//! sockets, from the kernel, with no CLI involved.
//!
//! The kernel side (tracepoints only, Linux 6.3+ with BTF) records every
//! read/write-family syscall on a socket with its first bytes; workers
//! here turn them into L7 records (HTTP/1, DNS, Redis) with netsight-l7.
//!
//! | seeds/001 C API | here |
//! |---|---|
//! | `bpf_tracer_init` + `running_socket_tracer(callback, ...)` | [`Builder`] → [`Tracer::start`], or [`Tracer::run`] with a callback |
//! | the callback's `SK_BPF_DATA` | [`Event::Data`] ([`DataRecord`]), [`Event::L7`] |
//! | `tracer_stop` / `tracer_start` | [`Tracer::pause`] / [`Tracer::resume`] |
//! | `socket_tracer_stats` | [`Tracer::status`] ([`Status`]), and [`running_tracers`] from another process |
//!
//! ```no_run
//! use netsight_tracer::{Builder, Event, Tracer};
//!
//! let cfg = Builder::new().payload_bytes(256).workers(2).build()?;
//! let tracer = Tracer::start(cfg)?;
//! for event in tracer.events().iter().take(10) {
//!     match event {
//!         Event::L7(r) => println!("{} {:?}", r.socket.comm, r.record.request),
//!         Event::Data(d) => println!("{} moved {} bytes", d.comm, d.syscall_len),
//!         Event::Lost(l) => eprintln!("lost {} in the kernel, {} here", l.kernel, l.user),
//!     }
//! }
//! let stopped = tracer.stop();
//! println!("kernel losses: {}", stopped.status.kernel_lost);
//! # Ok::<(), netsight_tracer::Error>(())
//! ```
//!
//! While a tracer runs (unless [`Builder::publish_status`] is off) it
//! answers status queries on `/run/netsight/tracers/<pid>.sock`; that is
//! how `netsight sock status` finds it.

mod config;
mod publish;
mod record;
mod status;
mod stream;
mod tracer;
mod worker;

pub use config::{default_workers, Builder, Config, Filters};
pub use netsight_events::sockdata::{DataRecord, Direction, L7Hint, MsgType, Syscall, Transport};
pub use netsight_l7::{L7Record, Protocol, Role, Status as L7Status};
pub use publish::{query, running_tracers, TRACERS_DIR};
pub use record::{Event, L7Event, Losses, SocketInfo};
pub use status::{
    HookStatus, L7Unparsed, MapStatus, ProgramStatus, State, Status, Uncaptured, WorkerStatus,
};
pub use stream::EventStream;
pub use tracer::{Stopped, Tracer};

/// Why the tracer could not start.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A setting is out of range.
    #[error("{0}")]
    Setting(String),
    /// The kernel side did not load (carries the verifier's verdict).
    #[error("{0}")]
    Load(#[from] netsight_bpf::Error),
    /// The status socket could not be published.
    #[error("publishing status: {0}")]
    Publish(String),
    #[error("starting a thread: {0}")]
    Thread(String),
}
