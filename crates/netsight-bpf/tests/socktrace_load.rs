//! The tracer's programs load and capture a loopback TCP exchange exactly
//! (root only): payload, lengths, gapless cap_seq, consistent tcp_seq.

use std::cell::RefCell;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::rc::Rc;
use std::time::{Duration, Instant};

use netsight_bpf::probes::socktrace::{Received, Settings, SockTraceProbe};
use netsight_events::sockdata::{DataRecord, Direction, KernelRecord};

fn settings(port: u16) -> Settings {
    Settings {
        payload_bytes: 1024,
        ring_bytes: 1 << 20,
        max_sockets: 1024,
        max_traces: 1024,
        pids: vec![],
        comm: None,
        port: Some(port),
        netns: None,
        refuse: Vec::new(),
        mute_unparsed: false,
    }
}

#[test]
fn captures_a_loopback_exchange() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // The tracer skips its own process: the traffic comes from a child.
    let probe = SockTraceProbe::load(&settings(port)).expect("load");
    let got: Rc<RefCell<Vec<DataRecord>>> = Rc::default();
    let sink = Rc::clone(&got);
    let ring = probe
        .ring(move |r: Received| {
            if let KernelRecord::Data(d) = r.record {
                sink.borrow_mut().push(d);
            }
        })
        .unwrap();
    let script = format!(
        "import socket; s=socket.create_connection(('127.0.0.1',{port})); \
         s.sendall(b'hello '*100); s.sendall(b'x'*3000); print(len(s.recv(10)))"
    );
    let mut child = std::process::Command::new("python3")
        .args(["-c", &script])
        .spawn()
        .unwrap();
    let (mut conn, _) = listener.accept().unwrap();
    let mut buf = vec![0u8; 3600];
    conn.read_exact(&mut buf).unwrap();
    conn.write_all(b"0123456789").unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(3);
    while got.borrow().len() < 3 && Instant::now() < deadline {
        ring.poll(Duration::from_millis(100)).unwrap();
        ring.consume().unwrap();
    }
    let got = got.borrow();
    let sent: Vec<_> = got
        .iter()
        .filter(|d| d.direction == Direction::Egress)
        .collect();
    assert_eq!(sent.len(), 2, "{got:#?}");
    assert_eq!(sent[0].payload, b"hello ".repeat(100));
    assert_eq!(sent[1].syscall_len, 3000);
    assert_eq!(sent[1].cap_len, 1024);
    assert_eq!(sent[1].cap_seq, sent[0].cap_seq + 1);
    let seq0 = sent[0].tcp_seq.unwrap();
    assert_eq!(sent[1].tcp_seq.unwrap(), seq0.wrapping_add(600));
    let recv = got
        .iter()
        .find(|d| d.direction == Direction::Ingress)
        .expect("the client's read");
    assert_eq!(recv.payload, b"0123456789");
    assert_eq!(recv.remote.1, port);
}
