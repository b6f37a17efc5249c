//! Ring buffer bytes (layout generated from socktrace.h) to typed records.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use netsight_events::sockdata::{
    DataRecord, Direction, KernelRecord, L7Hint, MsgType, Syscall, Transport,
};

use super::skel::types::{data_direction, l7_hint, l7_msg_type, record_kind, sock_data, sys_kind};

const AF_INET: u8 = 2;
const IPPROTO_UDP: u8 = 17;
const HEADER: usize = std::mem::size_of::<sock_data>();

/// One ring buffer record, and the kernel's loss count when it was made.
pub struct Received {
    pub record: KernelRecord,
    pub kernel_lost: u64,
}

fn header(bytes: &[u8]) -> Option<sock_data> {
    if bytes.len() < HEADER {
        return None;
    }
    crate::pod::read(bytes)
}

fn addr(family: u8, raw: &[u8; 16]) -> IpAddr {
    if family == AF_INET {
        return IpAddr::V4(Ipv4Addr::new(raw[0], raw[1], raw[2], raw[3]));
    }
    let v6 = Ipv6Addr::from(*raw);
    // A dual-stack socket talking IPv4 shows ::ffff:a.b.c.d; say a.b.c.d.
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

fn syscall(k: u8) -> Syscall {
    match sys_kind(u32::from(k)) {
        sys_kind::SYS_READ => Syscall::Read,
        sys_kind::SYS_WRITE => Syscall::Write,
        sys_kind::SYS_READV => Syscall::Readv,
        sys_kind::SYS_WRITEV => Syscall::Writev,
        sys_kind::SYS_RECVFROM => Syscall::Recvfrom,
        sys_kind::SYS_SENDTO => Syscall::Sendto,
        sys_kind::SYS_RECVMSG => Syscall::Recvmsg,
        sys_kind::SYS_SENDMSG => Syscall::Sendmsg,
        sys_kind::SYS_RECVMMSG => Syscall::Recvmmsg,
        sys_kind::SYS_SENDMMSG => Syscall::Sendmmsg,
        sys_kind::SYS_PREADV2 => Syscall::Preadv2,
        sys_kind::SYS_PWRITEV2 => Syscall::Pwritev2,
        _ => Syscall::Unknown,
    }
}

fn hint(h: u8) -> L7Hint {
    match l7_hint(u32::from(h)) {
        l7_hint::L7_HTTP1 => L7Hint::Http1,
        l7_hint::L7_HTTP2 => L7Hint::Http2,
        l7_hint::L7_DUBBO => L7Hint::Dubbo,
        l7_hint::L7_MYSQL => L7Hint::Mysql,
        l7_hint::L7_REDIS => L7Hint::Redis,
        l7_hint::L7_KAFKA => L7Hint::Kafka,
        l7_hint::L7_DNS => L7Hint::Dns,
        _ => L7Hint::Unknown,
    }
}

fn msg_type(m: u8) -> MsgType {
    match l7_msg_type(u32::from(m)) {
        l7_msg_type::MSG_REQUEST => MsgType::Request,
        l7_msg_type::MSG_RESPONSE => MsgType::Response,
        _ => MsgType::Unknown,
    }
}

/// Decodes one ring buffer record; `None` if it is too short to be one.
pub fn record(bytes: &[u8]) -> Option<Received> {
    let h = header(bytes)?;
    let kernel_lost = h.kernel_lost;
    if record_kind(u32::from(h.kind)) == record_kind::REC_CLOSE {
        let record = KernelRecord::Close {
            socket_id: h.socket_id,
            ts_ns: h.ts_ns,
        };
        return Some(Received {
            record,
            kernel_lost,
        });
    }
    let payload = bytes.get(HEADER..HEADER + h.cap_len as usize)?.to_vec();
    let direction = if data_direction(u32::from(h.direction)) == data_direction::DIR_INGRESS {
        Direction::Ingress
    } else {
        Direction::Egress
    };
    let transport = if h.protocol == IPPROTO_UDP {
        Transport::Udp
    } else {
        Transport::Tcp
    };
    let data = DataRecord {
        ts_ns: h.ts_ns,
        pid: h.pid,
        tid: h.tid,
        comm: crate::pod::comm(&h.comm),
        cgroup_id: h.cgroup_id,
        netns: h.netns,
        transport,
        local: (addr(h.family, &h.saddr), h.sport),
        remote: (addr(h.family, &h.daddr), h.dport),
        unconnected: h.unconnected != 0,
        socket_id: h.socket_id,
        direction,
        syscall: syscall(h.syscall),
        syscall_len: h.syscall_len,
        cap_len: h.cap_len,
        cap_seq: h.cap_seq,
        tcp_seq: (h.has_tcp_seq != 0).then_some(h.tcp_seq),
        trace_id: h.trace_id,
        l7_hint: hint(h.l7_hint),
        msg_type: msg_type(h.msg_type),
        need_reconfirm: h.need_reconfirm != 0,
        payload,
    };
    Some(Received {
        record: KernelRecord::Data(data),
        kernel_lost,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes_of(h: &sock_data, payload: &[u8]) -> Vec<u8> {
        // SAFETY: sock_data is a repr(C) plain-old-data struct; viewing it
        // as bytes for its exact size is valid.
        let head =
            unsafe { std::slice::from_raw_parts((h as *const sock_data).cast::<u8>(), HEADER) };
        [head, payload].concat()
    }

    #[test]
    fn decodes_a_tcp_write_with_its_payload() {
        let mut h = sock_data {
            socket_id: 17,
            cap_seq: 3,
            syscall_len: 5,
            cap_len: 5,
            tcp_seq: 99,
            has_tcp_seq: 1,
            family: AF_INET,
            protocol: 6,
            syscall: sys_kind::SYS_WRITEV.0 as u8,
            sport: 80,
            ..Default::default()
        };
        h.saddr[..4].copy_from_slice(&[10, 0, 0, 2]);
        let got = record(&bytes_of(&h, b"hello")).expect("decodes");
        let KernelRecord::Data(d) = got.record else {
            panic!("not data")
        };
        assert_eq!(d.payload, b"hello");
        assert_eq!(d.syscall, Syscall::Writev);
        assert_eq!(d.tcp_seq, Some(99));
        assert_eq!(d.local, ("10.0.0.2".parse().unwrap(), 80));
    }

    #[test]
    fn a_payload_shorter_than_cap_len_is_refused() {
        let h = sock_data {
            cap_len: 10,
            ..Default::default()
        };
        assert!(record(&bytes_of(&h, b"abc")).is_none());
        assert!(record(&[0u8; 3]).is_none());
    }
}
