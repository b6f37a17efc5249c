//! The `print_records` example runs (root only) and prints the records of
//! traffic this test makes: the library works with no CLI involved.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

fn example() -> std::path::PathBuf {
    // Integration tests live in target/debug/deps; examples next to it.
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples/print_records")
}

#[test]
fn print_records_shows_an_http_exchange() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut child = Command::new(example())
        .args(["--port", &port.to_string(), "--count", "2"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the example (cargo test builds it)");
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut ready = String::new();
    err.read_line(&mut ready).unwrap();
    assert!(ready.contains("tracing"), "{ready}");
    // The example skips its own process, not this one: one request and its
    // response seen from both ends give two L7 records.
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let n = conn.read(&mut buf).unwrap();
        assert!(buf[..n].starts_with(b"GET /hello"));
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi")
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(200));
    });
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client
        .write_all(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut reply = [0u8; 64];
    let _ = client.read(&mut reply).unwrap();
    server.join().unwrap();
    drop(client);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let l7: Vec<&str> = text.lines().filter(|l| l.starts_with("l7 ")).collect();
    assert_eq!(
        l7.len(),
        2,
        "stdout: {text} stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(l7.iter().any(|l| l.contains("role=Client")), "{text}");
    assert!(l7.iter().any(|l| l.contains("role=Server")), "{text}");
    assert!(l7
        .iter()
        .all(|l| l.contains("protocol=http1") && l.contains("status=Ok")));
    assert!(
        text.contains("status state=Stopped kernel_lost=0 user_lost=0 l7_records=2"),
        "{text}"
    );
}
