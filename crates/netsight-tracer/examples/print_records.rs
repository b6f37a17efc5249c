//! Runs the tracer as a library and prints what it sees, one line per
//! record: `print_records [--port PORT] [--count N] [--raw]`. Stops after N
//! records (default 10) or 30 seconds, then prints the tracer's state.
//! (`Tracer::run` does the same with a callback.)

use std::time::{Duration, Instant};

use netsight_tracer::{Builder, Event, Filters, Tracer};

fn usage(msg: &str) -> ! {
    eprintln!("print_records: {msg}");
    std::process::exit(2);
}

fn main() {
    let mut args = std::env::args().skip(1);
    let (mut port, mut count, mut raw) = (None, 10u64, false);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--port" => port = Some(value().parse().unwrap_or_else(|_| usage("bad --port"))),
            "--count" => count = value().parse().unwrap_or_else(|_| usage("bad --count")),
            "--raw" => raw = true,
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let cfg = Builder::new()
        .name("print_records example")
        .data_records(raw)
        .l7_records(!raw)
        .filters(Filters {
            port,
            ..Filters::default()
        })
        .build()
        .unwrap_or_else(|e| usage(&e.to_string()));
    let tracer = Tracer::start(cfg).unwrap_or_else(|e| {
        eprintln!("print_records: {e}");
        std::process::exit(1);
    });
    // Capture is on: a caller can start its traffic now.
    eprintln!("tracing");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut seen = 0;
    while seen < count && Instant::now() < deadline {
        let Ok(event) = tracer.events().recv_timeout(Duration::from_millis(100)) else {
            continue;
        };
        print_event(&event);
        seen += 1;
    }
    let status = tracer.stop().status;
    println!(
        "status state={:?} kernel_lost={} user_lost={} l7_records={}",
        status.state, status.kernel_lost, status.user_lost, status.l7_records
    );
}

fn print_event(e: &Event) {
    match e {
        Event::Data(d) => println!(
            "data pid={} comm={} {} {} bytes={} cap_seq={}",
            d.pid,
            d.comm,
            d.direction.name(),
            d.syscall.name(),
            d.syscall_len,
            d.cap_seq
        ),
        Event::L7(r) => println!(
            "l7 pid={} comm={} protocol={} role={:?} latency_us={:?} status={:?}",
            r.socket.pid,
            r.socket.comm,
            r.record.protocol.name(),
            r.record.role,
            r.record.latency_us,
            r.record.status
        ),
        Event::Lost(l) => println!("lost kernel={} user={}", l.kernel, l.user),
    }
}
