//! Attaches the empty programs on sock_send_length / sock_recv_length and
//! holds them for SECS seconds (default 60): the floor for bench/hotpath.sh.

fn main() {
    let secs: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    match netsight_bpf::probes::empty::EmptyProbe::attach() {
        Ok(_probe) => {
            println!("attached");
            std::thread::sleep(std::time::Duration::from_secs(secs));
        }
        Err(e) => {
            eprintln!("empty_probe: {e}");
            std::process::exit(1);
        }
    }
}
