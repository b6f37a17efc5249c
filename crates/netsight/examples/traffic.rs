//! Test traffic with a known truth. The integration tests run this inside
//! their namespaces; each mode prints one JSON line with its pid and exactly
//! what the application sent or received (the return values of the calls).
//!
//!   traffic tcp-serve ADDR:PORT CONNS        accept CONNS connections, read each to EOF
//!   traffic tcp-send ADDR:PORT BYTES CONNS   send BYTES in total over CONNS connections, exit
//!   traffic tcp-send-many ADDR:PORT COUNT BASE STEP
//!                                            COUNT processes, process i sends BASE + i*STEP bytes, exits
//!   traffic tcp-send-shared ADDR:PORT ROUNDS CHUNK
//!                                            one connection, a parent and its forked child on CPU 0
//!                                            taking turns: each round the parent sends CHUNK bytes,
//!                                            then the child 2*CHUNK; each prints what it sent
//!   traffic tcp-send-inherited ADDR:PORT COUNT CHUNK
//!                                            one connection, then COUNT children one after the
//!                                            other on CPU 0, child i sending (i+1)*CHUNK bytes on it
//!   traffic udp-serve ADDR:PORT COUNT        receive COUNT datagrams (5 s timeout)
//!   traffic udp-send ADDR:PORT COUNT SIZE    send COUNT datagrams of SIZE bytes
//!   traffic udp-send-inherited ADDR:PORT COUNT SIZE
//!                                            one socket, then COUNT children one after the
//!                                            other on CPU 0, child i sending i+1 datagrams of SIZE
//!   traffic connect ADDR:PORT                one connect; prints whether it was refused
//!   traffic reset ADDR:PORT                  connect, then close with SO_LINGER 0 (sends RST)
//!   traffic hold ADDR:PORT SECS              one connection, a small write every 10 ms for SECS
//!   traffic listen-only ADDR:PORT SECS       listen with backlog 1, never accept, for SECS
//!   traffic connect-flood ADDR:PORT N SECS   N non-blocking connects, held open for SECS
//!
//! A server prints `{"ready":true}` once it listens.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::exit;
use std::time::{Duration, Instant};

fn arg<T: std::str::FromStr>(args: &[String], i: usize, what: &str) -> T {
    args.get(i).and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        eprintln!("traffic: missing or bad {what}");
        exit(2)
    })
}

fn ready() {
    println!("{{\"ready\":true}}");
    std::io::stdout().flush().ok();
}

fn report(fields: &str) {
    println!("{{\"pid\":{},{fields}}}", std::process::id());
}

/// Deterministic, incompressible-looking bytes (xorshift).
fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn tcp_serve(addr: SocketAddr, conns: usize) {
    let listener = TcpListener::bind(addr).expect("bind");
    ready();
    let handles: Vec<_> = (0..conns)
        .map(|_| {
            let (mut s, _) = listener.accept().expect("accept");
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                let mut total = 0u64;
                let mut reset = false;
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => total += n as u64,
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                            reset = true;
                            break;
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    }
                }
                (total, reset)
            })
        })
        .collect();
    let (mut bytes, mut resets) = (0u64, 0u64);
    for h in handles {
        let (b, r) = h.join().expect("reader thread");
        bytes += b;
        resets += u64::from(r);
    }
    report(&format!(
        "\"rx_bytes\":{bytes},\"conns\":{conns},\"resets\":{resets}"
    ));
}

fn tcp_send(addr: SocketAddr, bytes: usize, conns: usize) {
    let mut sent = 0u64;
    for i in 0..conns {
        let share = bytes / conns + usize::from(i < bytes % conns);
        let data = payload(share, i as u64 + 1);
        let mut s = TcpStream::connect(addr).expect("connect");
        let mut off = 0;
        while off < data.len() {
            // Varying write sizes exercise partial writes too.
            let end = (off + 1 + (off * 7919) % 200_000).min(data.len());
            let n = s.write(&data[off..end]).expect("write");
            off += n;
            sent += n as u64;
        }
    }
    report(&format!("\"tx_bytes\":{sent},\"conns\":{conns}"));
}

fn tcp_send_many(addr: SocketAddr, count: usize, base: usize, step: usize) {
    for i in 0..count {
        in_child(|| tcp_send(addr, base + i * step, 1));
    }
    for _ in 0..count {
        wait_child(-1);
    }
}

/// Forks a child that runs `work` (socket I/O and one printed line) and
/// leaves with _exit; returns its pid.
fn in_child(work: impl FnOnce()) -> libc::pid_t {
    // SAFETY: the callers are single-threaded; the child only runs `work`
    // and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        work();
        std::io::stdout().flush().ok();
        // SAFETY: ends the child without running the parent's atexit state.
        unsafe { libc::_exit(0) };
    }
    pid
}

/// Waits for child `pid` (-1: any child).
fn wait_child(pid: libc::pid_t) {
    let mut status = 0;
    // SAFETY: waits for a child of this process; `status` is a valid out pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// Both processes on CPU 0, so every turn is a context switch on one CPU
/// between two owners of the same socket.
fn tcp_send_shared(addr: SocketAddr, rounds: usize, chunk: usize) {
    pin_to_cpu0();
    let mut s = TcpStream::connect(addr).expect("connect");
    let (to_child, from_parent) = pipe();
    let (to_parent, from_child) = pipe();
    // SAFETY: this process is single-threaded here; the child only does
    // socket and pipe I/O, prints one line and leaves with _exit.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    let (me, turn_in, turn_out, size) = if pid == 0 {
        (1, from_parent, to_parent, 2 * chunk)
    } else {
        (0, from_child, to_child, chunk)
    };
    let data = payload(size, me + 1);
    let mut sent = 0u64;
    for round in 0..rounds {
        if me == 1 || round > 0 {
            wait_turn(turn_in);
        }
        s.write_all(&data).expect("write");
        sent += data.len() as u64;
        pass_turn(turn_out);
    }
    if me == 0 {
        wait_turn(turn_in);
    }
    report(&format!("\"tx_bytes\":{sent},\"conns\":1"));
    std::io::stdout().flush().ok();
    if me == 1 {
        // SAFETY: ends the child without running the parent's atexit state.
        unsafe { libc::_exit(0) };
    }
    wait_child(pid);
}

/// Each child on CPU 0 is born after the one before died, so it likely
/// runs on the dead one's kernel stack (the kernel caches freed stacks per
/// CPU): a hard case for any cache of which process is calling.
fn tcp_send_inherited(addr: SocketAddr, count: usize, chunk: usize) {
    pin_to_cpu0();
    let mut s = TcpStream::connect(addr).expect("connect");
    for i in 0..count {
        wait_child(in_child(|| {
            let data = payload((i + 1) * chunk, i as u64 + 1);
            s.write_all(&data).expect("write");
            report(&format!("\"tx_bytes\":{},\"conns\":1", data.len()));
        }));
    }
}

fn pin_to_cpu0() {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET and
    // sched_setaffinity only touch that set.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(0, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity"
        );
    }
}

/// A pipe as (write end, read end).
fn pipe() -> (i32, i32) {
    let mut fds = [0i32; 2];
    // SAFETY: `fds` has room for the two descriptors pipe() writes.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    (fds[1], fds[0])
}

fn pass_turn(fd: i32) {
    // SAFETY: writes one byte from a valid buffer to a pipe this process holds.
    let n = unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    assert_eq!(n, 1, "pipe write");
}

fn wait_turn(fd: i32) {
    let mut b = [0u8];
    // SAFETY: reads one byte into a valid buffer from a pipe this process holds.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
    assert_eq!(n, 1, "pipe read");
}

fn udp_serve(addr: SocketAddr, count: usize) {
    let sock = UdpSocket::bind(addr).expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5))).ok();
    ready();
    let mut buf = vec![0u8; 65536];
    let (mut packets, mut bytes) = (0u64, 0u64);
    while packets < count as u64 {
        match sock.recv_from(&mut buf) {
            Ok((n, _)) => {
                packets += 1;
                bytes += n as u64;
            }
            Err(_) => break,
        }
    }
    report(&format!("\"rx_packets\":{packets},\"rx_bytes\":{bytes}"));
}

fn udp_socket_for(addr: SocketAddr) -> UdpSocket {
    let bind: SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0"
    } else {
        "[::]:0"
    }
    .parse()
    .expect("literal");
    UdpSocket::bind(bind).expect("bind")
}

/// Sends COUNT datagrams of SIZE on `sock` and reports what it sent.
fn udp_send_on(sock: &UdpSocket, addr: SocketAddr, count: usize, size: usize) {
    let data = payload(size, 7);
    let (mut packets, mut bytes) = (0u64, 0u64);
    for _ in 0..count {
        let n = sock.send_to(&data, addr).expect("send");
        packets += 1;
        bytes += n as u64;
        // Pace a little so the receiver's buffer never overflows.
        std::thread::sleep(Duration::from_micros(200));
    }
    report(&format!("\"tx_packets\":{packets},\"tx_bytes\":{bytes}"));
}

fn udp_send(addr: SocketAddr, count: usize, size: usize) {
    udp_send_on(&udp_socket_for(addr), addr, count, size);
}

/// The UDP twin of tcp_send_inherited: one socket, children one after
/// the other on CPU 0 (each likely on the dead one's kernel stack).
fn udp_send_inherited(addr: SocketAddr, count: usize, size: usize) {
    pin_to_cpu0();
    let sock = udp_socket_for(addr);
    for i in 0..count {
        wait_child(in_child(|| udp_send_on(&sock, addr, i + 1, size)));
    }
}

fn connect_once(addr: SocketAddr) {
    let refused = match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
        Ok(_) => false,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionRefused,
    };
    report(&format!("\"refused\":{refused}"));
}

fn reset(addr: SocketAddr) {
    let s = TcpStream::connect(addr).expect("connect");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: valid socket fd and a correctly sized linger struct.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt SO_LINGER");
    drop(s);
    report("\"reset\":true");
}

fn hold(addr: SocketAddr, secs: f64) {
    let mut s = TcpStream::connect(addr).expect("connect");
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let chunk = payload(1000, 3);
    let mut sent = 0u64;
    while Instant::now() < end {
        s.write_all(&chunk).expect("write");
        sent += chunk.len() as u64;
        std::thread::sleep(Duration::from_millis(10));
    }
    report(&format!("\"tx_bytes\":{sent}"));
}

fn listen_only(addr: SocketAddr, secs: f64) {
    let listener = TcpListener::bind(addr).expect("bind");
    // std listens with a large backlog; shrink it so the queue overflows.
    // SAFETY: a valid listening socket fd; listen() may be called again.
    let rc = unsafe { libc::listen(listener.as_raw_fd(), 1) };
    assert_eq!(rc, 0, "listen");
    ready();
    std::thread::sleep(Duration::from_secs_f64(secs));
    report("\"listened\":true");
}

fn connect_flood(addr: SocketAddr, n: usize, secs: f64) {
    let held: Vec<socket2_free::Conn> = (0..n)
        .filter_map(|_| socket2_free::Conn::start(addr))
        .collect();
    std::thread::sleep(Duration::from_secs_f64(secs));
    report(&format!("\"started\":{}", held.len()));
}

/// Non-blocking connect without extra crates.
mod socket2_free {
    use std::net::SocketAddr;

    pub struct Conn(libc::c_int);

    impl Conn {
        pub fn start(addr: SocketAddr) -> Option<Conn> {
            let SocketAddr::V4(v4) = addr else {
                return None;
            };
            // SAFETY: plain socket creation; the fd is owned by Conn.
            let fd =
                unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0) };
            if fd < 0 {
                return None;
            }
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from(*v4.ip()).to_be(),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: `sin` is a valid sockaddr_in of the given length.
            unsafe {
                libc::connect(
                    fd,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
                )
            };
            Some(Conn(fd))
        }
    }

    impl Drop for Conn {
        fn drop(&mut self) {
            // SAFETY: closes the fd this Conn owns.
            unsafe { libc::close(self.0) };
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    let addr: SocketAddr = arg(&args, 2, "ADDR:PORT");
    match mode {
        "tcp-serve" => tcp_serve(addr, arg(&args, 3, "CONNS")),
        "tcp-send" => tcp_send(addr, arg(&args, 3, "BYTES"), arg(&args, 4, "CONNS")),
        "tcp-send-many" => tcp_send_many(
            addr,
            arg(&args, 3, "COUNT"),
            arg(&args, 4, "BASE"),
            arg(&args, 5, "STEP"),
        ),
        "tcp-send-shared" => tcp_send_shared(addr, arg(&args, 3, "ROUNDS"), arg(&args, 4, "CHUNK")),
        "tcp-send-inherited" => {
            tcp_send_inherited(addr, arg(&args, 3, "COUNT"), arg(&args, 4, "CHUNK"))
        }
        "udp-serve" => udp_serve(addr, arg(&args, 3, "COUNT")),
        "udp-send" => udp_send(addr, arg(&args, 3, "COUNT"), arg(&args, 4, "SIZE")),
        "udp-send-inherited" => {
            udp_send_inherited(addr, arg(&args, 3, "COUNT"), arg(&args, 4, "SIZE"))
        }
        "connect" => connect_once(addr),
        "reset" => reset(addr),
        "hold" => hold(addr, arg(&args, 3, "SECS")),
        "listen-only" => listen_only(addr, arg(&args, 3, "SECS")),
        "connect-flood" => connect_flood(addr, arg(&args, 3, "N"), arg(&args, 4, "SECS")),
        _ => {
            eprintln!("traffic: unknown mode '{mode}'");
            exit(2)
        }
    }
}
