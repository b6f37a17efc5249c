//! A raw ICMP socket: the probe needs its own code and a full header, which
//! ping sockets (SOCK_DGRAM) do not allow. Needs CAP_NET_RAW.

use std::io;
use std::net::IpAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use super::packet::Family;

const SOL_RAW: libc::c_int = 255;
const ICMP_FILTER: libc::c_int = 1;
const ICMP6_FILTER: libc::c_int = 1;

pub struct RawIcmp {
    fd: OwnedFd,
    family: Family,
}

fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl RawIcmp {
    /// A socket that receives only ICMP (or ICMPv6) messages of type `accept`.
    pub fn open(family: Family, accept: u8) -> io::Result<RawIcmp> {
        let (domain, proto) = match family {
            Family::V4 => (libc::AF_INET, libc::IPPROTO_ICMP),
            Family::V6 => (libc::AF_INET6, libc::IPPROTO_ICMPV6),
        };
        // SAFETY: plain socket(2) call; the result is checked.
        let fd = unsafe { libc::socket(domain, libc::SOCK_RAW, proto) };
        check(fd)?;
        // SAFETY: fd is a socket we own from here on.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // A set bit filters that type out; the kernel drops the rest early.
        let r = match family {
            Family::V4 => {
                let mask: u32 = !(1u32 << accept);
                // SAFETY: the option value points to a live u32 of the given size.
                unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        SOL_RAW,
                        ICMP_FILTER,
                        (&mask as *const u32).cast(),
                        std::mem::size_of::<u32>() as libc::socklen_t,
                    )
                }
            }
            Family::V6 => {
                let mut filter = [u32::MAX; 8];
                filter[usize::from(accept >> 5)] &= !(1u32 << (accept & 31));
                // SAFETY: the option value points to a live struct icmp6_filter (8 x u32).
                unsafe {
                    libc::setsockopt(
                        fd.as_raw_fd(),
                        libc::IPPROTO_ICMPV6,
                        ICMP6_FILTER,
                        filter.as_ptr().cast(),
                        std::mem::size_of_val(&filter) as libc::socklen_t,
                    )
                }
            }
        };
        check(r)?;
        Ok(RawIcmp { fd, family })
    }

    pub fn send_to(&self, msg: &[u8], to: IpAddr) -> io::Result<()> {
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match (to, self.family) {
            (IpAddr::V4(v4), Family::V4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 0,
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and suitably aligned.
                unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            (IpAddr::V6(v6), Family::V6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: 0,
                    sin6_flowinfo: 0,
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.octets(),
                    },
                    sin6_scope_id: 0,
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in6 and suitably aligned.
                unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
            _ => return Err(io::Error::from(io::ErrorKind::InvalidInput)),
        };
        // SAFETY: msg and ss are valid for the lengths given.
        let r = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                msg.as_ptr().cast(),
                msg.len(),
                0,
                (&ss as *const libc::sockaddr_storage).cast(),
                len as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// One datagram within `timeout` and its source, else `None`. IPv4
    /// datagrams include their IP header; ICMPv6 messages come bare.
    pub fn recv(&self, buf: &mut [u8], timeout: Duration) -> io::Result<Option<(usize, IpAddr)>> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = timeout.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd.
        let r = unsafe { libc::poll(&mut pfd, 1, ms) };
        if r <= 0 {
            let e = io::Error::last_os_error();
            return if r == 0 || e.kind() == io::ErrorKind::Interrupted {
                Ok(None)
            } else {
                Err(e)
            };
        }
        // SAFETY: all-zero is a valid sockaddr_storage.
        let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: buf and ss are valid for writes of the lengths given.
        let n = unsafe {
            libc::recvfrom(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
                (&mut ss as *mut libc::sockaddr_storage).cast(),
                &mut len,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            return match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted => Ok(None),
                _ => Err(e),
            };
        }
        let src = match i32::from(ss.ss_family) {
            libc::AF_INET6 => {
                // SAFETY: the kernel wrote a sockaddr_in6 (family AF_INET6).
                let sin6: libc::sockaddr_in6 =
                    unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
                IpAddr::from(sin6.sin6_addr.s6_addr)
            }
            _ => {
                // SAFETY: the kernel wrote a sockaddr_in (an AF_INET socket).
                let sin: libc::sockaddr_in =
                    unsafe { std::ptr::read((&ss as *const libc::sockaddr_storage).cast()) };
                IpAddr::from(sin.sin_addr.s_addr.to_ne_bytes())
            }
        };
        Ok(Some((n as usize, src)))
    }
}

/// CLOCK_MONOTONIC in nanoseconds: the clock of bpf_ktime_get_ns.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid timespec to write.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The inode of this thread's network namespace.
pub fn own_netns() -> u32 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/thread-self/ns/net").map_or(0, |m| m.ino() as u32)
}

pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}
