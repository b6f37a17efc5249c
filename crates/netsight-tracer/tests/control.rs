//! The library's control surface (root only): a paused tracer records
//! nothing, a resumed one records again, and `Tracer::run` hands each event
//! to its callback until told to stop.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use netsight_tracer::{Builder, Event, Filters, State, Tracer};

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn raw_config(port: u16) -> netsight_tracer::Config {
    Builder::new()
        .data_records(true)
        .l7_records(false)
        .publish_status(false)
        .filters(Filters {
            port: Some(port),
            ..Filters::default()
        })
        .build()
        .unwrap()
}

fn data_within(tracer: &Tracer, wait: Duration) -> usize {
    let deadline = Instant::now() + wait;
    let mut n = 0;
    while Instant::now() < deadline {
        if let Ok(Event::Data(_)) = tracer.events().recv_timeout(Duration::from_millis(50)) {
            n += 1;
        }
    }
    n
}

#[test]
fn pause_and_resume() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    // The tracer skips its own process: the traffic comes from a child.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let tracer = Tracer::start(raw_config(port)).unwrap();
    let child = |l: &TcpListener| {
        let script = format!(
            "import socket; c=socket.create_connection(('127.0.0.1',{port})); \
             c.sendall(b'ping'); c.recv(4)"
        );
        let mut p = std::process::Command::new("python3")
            .args(["-c", &script])
            .spawn()
            .unwrap();
        let (mut s, _) = l.accept().unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"pong").unwrap();
        p.wait().unwrap();
    };
    tracer.pause();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tracer.status().state, State::Stopped);
    child(&listener);
    assert_eq!(data_within(&tracer, Duration::from_millis(500)), 0);
    tracer.resume();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(tracer.status().state, State::Running);
    child(&listener);
    // The child's send and receive (this process is skipped).
    assert_eq!(data_within(&tracer, Duration::from_millis(800)), 2);
    let stopped = tracer.stop();
    assert_eq!(stopped.status.state, State::Stopped);
}

#[test]
fn run_calls_back_until_break() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let traffic = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(800));
        let script = format!(
            "import socket; c=socket.create_connection(('127.0.0.1',{port})); c.sendall(b'x')"
        );
        let mut p = std::process::Command::new("python3")
            .args(["-c", &script])
            .spawn()
            .unwrap();
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1];
        s.read_exact(&mut buf).unwrap();
        p.wait().unwrap();
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = 0;
    let status = Tracer::run(
        raw_config(port),
        || Instant::now() < deadline,
        |e| {
            if matches!(e, Event::Data(_)) {
                got += 1;
            }
            ControlFlow::Break(())
        },
    )
    .unwrap();
    traffic.join().unwrap();
    assert_eq!(got, 1, "the first event ends the run");
    assert_eq!(status.kernel_lost, 0);
}
