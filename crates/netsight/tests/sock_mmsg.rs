//! sendmmsg/recvmmsg are captured one record per message (root only): a
//! UDP client in one namespace sends a random number of random datagrams
//! in one sendmmsg call (through libc, from Python's ctypes), the server
//! reads them with recvmmsg; each record's payload and length is that
//! message's, in order. Run on the socket tracepoints and again, in
//! scripts/test.sh, on the syscall-exit fallback.

mod common;
mod sock_support;

use common::{listen_port, random_in, NetPair, Server};
use serde_json::Value;
use sock_support::{of_type, python, unbase64, SockRun};

/// ctypes declarations of struct iovec / msghdr / mmsghdr (x86-64 glibc).
const MMSG_TYPES: &str = r#"
import ctypes, socket, sys, json, os
libc = ctypes.CDLL(None, use_errno=True)
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
class msghdr(ctypes.Structure):
    _fields_ = [("name", ctypes.c_void_p), ("namelen", ctypes.c_uint32),
                ("iov", ctypes.POINTER(iovec)), ("iovlen", ctypes.c_size_t),
                ("control", ctypes.c_void_p), ("controllen", ctypes.c_size_t),
                ("flags", ctypes.c_int)]
class mmsghdr(ctypes.Structure):
    _fields_ = [("hdr", msghdr), ("len", ctypes.c_uint)]
def vector(bufs):
    msgs = (mmsghdr * len(bufs))()
    iovs = [(iovec * 1)(iovec(ctypes.cast(b, ctypes.c_void_p), len(b))) for b in bufs]
    for m, v in zip(msgs, iovs):
        m.hdr.iov = v
        m.hdr.iovlen = 1
    return msgs, iovs
"#;

const SERVER: &str = r#"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("10.77.0.2", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, (5).to_bytes(8, "little") + bytes(8))
want = int(sys.argv[2])
print(json.dumps({"ready": True}), flush=True)
got = []
while len(got) < want:
    bufs = [ctypes.create_string_buffer(2048) for _ in range(8)]
    msgs, keep = vector(bufs)
    MSG_WAITFORONE = 0x10000  # return what arrived, not wait for 8
    n = libc.recvmmsg(s.fileno(), msgs, 8, MSG_WAITFORONE, None)
    if n < 0:
        raise OSError(ctypes.get_errno(), "recvmmsg")
    got += [bufs[i].raw[: msgs[i].len].hex() for i in range(n)]
print(json.dumps({"pid": os.getpid(), "got": got}), flush=True)
"#;

const CLIENT: &str = r#"
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.connect(("10.77.0.2", int(sys.argv[1])))
datas = [os.urandom(int(n)) for n in sys.argv[2].split(",")]
bufs = [ctypes.create_string_buffer(d, len(d)) for d in datas]
msgs, keep = vector(bufs)
n = libc.sendmmsg(s.fileno(), msgs, len(bufs), 0)
print(json.dumps({"pid": os.getpid(), "sent": n, "hex": [d.hex() for d in datas]}))
"#;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The records of `pid` in `direction`, in capture order.
fn records<'a>(lines: &'a [Value], pid: &Value, direction: &str) -> Vec<&'a Value> {
    let mut v: Vec<&Value> = of_type(lines, "data")
        .into_iter()
        .filter(|r| &r["pid"] == pid && r["direction"] == direction)
        .collect();
    v.sort_by_key(|r| r["cap_seq"].as_u64());
    v
}

fn assert_messages(records: &[&Value], syscall: &str, sent: &[Value]) {
    assert_eq!(records.len(), sent.len(), "one record per message");
    for (r, m) in records.iter().zip(sent) {
        let bytes = hex(m.as_str().unwrap());
        assert_eq!(r["syscall"], syscall, "{r}");
        assert_eq!(r["protocol"], "udp");
        assert_eq!(r["syscall_len"], bytes.len() as u64, "{r}");
        assert_eq!(unbase64(r["payload"].as_str().unwrap()), bytes, "{r}");
    }
}

#[test]
fn every_message_of_a_vector_is_one_record() {
    require_root!();
    let net = NetPair::ipv4_only("skmmsg");
    let port = listen_port(18000, 18999).to_string();
    let sizes: Vec<String> = (0..random_in(2, 6))
        .map(|i| random_in(1, 1000 + i).to_string())
        .collect();
    let count = sizes.len().to_string();
    let sock = SockRun::start(&["--raw", "--port", &port, "--payload-bytes", "2048"]);
    let server_script = format!("{MMSG_TYPES}{SERVER}");
    let client_script = format!("{MMSG_TYPES}{CLIENT}");
    let server = Server::start(python(&net.b, &server_script, &[&port, &count]));
    let sent = common::client(python(&net.a, &client_script, &[&port, &sizes.join(",")]));
    let got = server.finish();
    let lines = sock.stop();
    assert_eq!(lines.last().unwrap()["kernel_lost"], 0);

    let sent = &sent[0];
    assert_eq!(sent["sent"], sizes.len() as u64, "sendmmsg sent them all");
    let messages = sent["hex"].as_array().unwrap();
    assert_eq!(got["got"].as_array().unwrap(), messages, "UDP kept them");
    assert_messages(
        &records(&lines, &sent["pid"], "egress"),
        "sendmmsg",
        messages,
    );
    assert_messages(
        &records(&lines, &got["pid"], "ingress"),
        "recvmmsg",
        messages,
    );
}
