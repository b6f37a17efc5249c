//! Shared by the xdp tests: crafted Ethernet frames, a private pair of
//! namespaces, and a raw-frame sender that runs inside one of them.
#![allow(dead_code)]

use std::net::{Ipv4Addr, Ipv6Addr};
use std::process::Command;
use std::sync::Mutex;

/// The blacklist is one per host: tests that touch it take turns.
pub static BLACKLIST_LOCK: Mutex<()> = Mutex::new(());

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub const MAC_A: [u8; 6] = [0x02, 0, 0, 0, 0x77, 0x01];
pub const MAC_B: [u8; 6] = [0x02, 0, 0, 0, 0x77, 0x02];

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet header plus one 802.1Q/802.1ad tag per entry of `vlans`
/// (outermost first), ending with `ethertype`.
fn l2(vlans: &[(u16, u16)], ethertype: u16) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&MAC_B);
    f.extend_from_slice(&MAC_A);
    for (tpid, vid) in vlans {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&ethertype.to_be_bytes());
    f
}

/// A UDP/IPv4 frame with a valid header checksum.
pub fn udp_v4(src: Ipv4Addr, dst: Ipv4Addr, vlans: &[(u16, u16)]) -> Vec<u8> {
    let payload = [0u8; 18];
    let mut f = l2(vlans, 0x0800);
    let total = (20 + 8 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x09]);
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// A UDP/IPv6 frame (UDP checksum left zero: only the source matters here).
pub fn udp_v6(src: Ipv6Addr, dst: Ipv6Addr, vlans: &[(u16, u16)]) -> Vec<u8> {
    let payload = [0u8; 18];
    let mut f = l2(vlans, 0x86DD);
    f.extend_from_slice(&[0x60, 0, 0, 0]);
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[17, 64]);
    f.extend_from_slice(&src.octets());
    f.extend_from_slice(&dst.octets());
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x09]);
    f.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.extend_from_slice(&payload);
    f
}

/// An ARP request (not IP: always passes).
pub fn arp() -> Vec<u8> {
    let mut f = l2(&[], 0x0806);
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&MAC_A);
    f.extend_from_slice(&[10, 0, 0, 1]);
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&[10, 0, 0, 2]);
    f
}

pub const VLAN: u16 = 0x8100;
pub const QINQ: u16 = 0x88A8;

pub fn sh(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Namespaces `a` and `b` joined by veth `dev_a` <-> `dev_b`; deleted on drop.
pub struct VethPair {
    pub a: String,
    pub b: String,
    pub dev_a: String,
    pub dev_b: String,
}

impl VethPair {
    pub fn new(tag: &str) -> Self {
        let id = std::process::id() % 100_000;
        let p = VethPair {
            a: format!("xdpt-{tag}-{id}-a"),
            b: format!("xdpt-{tag}-{id}-b"),
            dev_a: format!("xa{tag}{id}"),
            dev_b: format!("xb{tag}{id}"),
        };
        // Clean up leftovers of a crashed run with the same pid.
        drop(p.clone_names());
        sh(&["ip", "netns", "add", &p.a]);
        sh(&["ip", "netns", "add", &p.b]);
        sh(&[
            "ip", "link", "add", &p.dev_a, "netns", &p.a, "type", "veth", "peer", "name", &p.dev_b,
            "netns", &p.b,
        ]);
        // Only crafted frames may reach b: no IPv6 chatter from a.
        sh(&[
            "ip",
            "netns",
            "exec",
            &p.a,
            "sysctl",
            "-qw",
            &format!("net.ipv6.conf.{}.disable_ipv6=1", p.dev_a),
        ]);
        sh(&[
            "ip",
            "-n",
            &p.a,
            "link",
            "set",
            &p.dev_a,
            "address",
            &mac(&MAC_A),
            "up",
        ]);
        sh(&[
            "ip",
            "-n",
            &p.b,
            "link",
            "set",
            &p.dev_b,
            "address",
            &mac(&MAC_B),
            "up",
        ]);
        sh(&[
            "ip",
            "-n",
            &p.b,
            "addr",
            "add",
            "10.79.0.2/24",
            "dev",
            &p.dev_b,
        ]);
        p
    }

    fn clone_names(&self) -> VethPair {
        VethPair {
            a: self.a.clone(),
            b: self.b.clone(),
            dev_a: self.dev_a.clone(),
            dev_b: self.dev_b.clone(),
        }
    }

    /// `ip netns exec <ns> netsight ARGS`.
    pub fn netsight(&self, ns: &str, args: &[&str]) -> std::process::Output {
        Command::new("ip")
            .args(["netns", "exec", ns, env!("CARGO_BIN_EXE_netsight")])
            .args(args)
            .output()
            .expect("run netsight")
    }

    /// Sends each frame once out of `dev_a`, from inside namespace `a`.
    pub fn send(&self, frames: &[Vec<u8>]) {
        let (ns, dev, frames) = (self.a.clone(), self.dev_a.clone(), frames.to_vec());
        std::thread::spawn(move || send_in_netns(&ns, &dev, &frames))
            .join()
            .expect("sender thread");
    }
}

impl Drop for VethPair {
    fn drop(&mut self) {
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

fn mac(m: &[u8; 6]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Moves this thread into /run/netns/<ns>, then writes raw frames on `dev`.
fn send_in_netns(ns: &str, dev: &str, frames: &[Vec<u8>]) {
    let f = std::fs::File::open(format!("/run/netns/{ns}")).expect("open netns");
    // SAFETY: setns on a valid namespace fd; only this thread changes namespace.
    let rc = unsafe { libc::setns(std::os::fd::AsRawFd::as_raw_fd(&f), libc::CLONE_NEWNET) };
    assert_eq!(rc, 0, "setns");
    let name = std::ffi::CString::new(dev).unwrap();
    // SAFETY: name is NUL-terminated.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    assert!(ifindex > 0, "no {dev} in {ns}");
    // SAFETY: plain socket creation.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
    assert!(fd >= 0, "AF_PACKET socket");
    // SAFETY: zeroed sockaddr_ll is valid; fields set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_ifindex = ifindex as i32;
    sll.sll_halen = 6;
    for frame in frames {
        // SAFETY: frame and sll are valid for the lengths given.
        let n = unsafe {
            libc::sendto(
                fd,
                frame.as_ptr().cast(),
                frame.len(),
                0,
                (&sll as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        assert_eq!(
            n,
            frame.len() as isize,
            "sendto: {}",
            std::io::Error::last_os_error()
        );
    }
    // SAFETY: closing the socket we opened.
    unsafe { libc::close(fd) };
}
