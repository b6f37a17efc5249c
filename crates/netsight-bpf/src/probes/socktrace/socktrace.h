/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared by socktrace.bpf.c and Rust (through the skeleton's types,
 * never copied by hand). */
#ifndef NETSIGHT_SOCKTRACE_H
#define NETSIGHT_SOCKTRACE_H

/* Limits shared with Rust (an enum, so the skeleton's types carry them):
 * PAYLOAD_MAX: the largest payload one record carries (--payload-bytes);
 * IOV_MAX_CAPTURED: iovecs read per readv/writev/sendmsg/recvmsg, bytes
 *   beyond the 16th buffer count in syscall_len but are not captured;
 * MAX_PID_FILTER: processes one -p filter names. */
enum socktrace_limits {
	PAYLOAD_MAX = 16384,
	IOV_MAX_CAPTURED = 16,
	MAX_PID_FILTER = 8,
	/* Slots of the muted-socket table (a power of two; slot = id % it:
	 * ids are counters, so recent sockets spread over every slot). */
	MUTED_SLOTS = 4096,
};

/* Which syscall moved the bytes (decoded from the task's saved registers;
 * numbers are the kernel's, which differ per architecture). */
enum sys_kind {
	SYS_UNKNOWN = 0,
	SYS_READ = 1,
	SYS_WRITE = 2,
	SYS_READV = 3,
	SYS_WRITEV = 4,
	SYS_RECVFROM = 5,
	SYS_SENDTO = 6,
	SYS_RECVMSG = 7,
	SYS_SENDMSG = 8,
	SYS_RECVMMSG = 9,
	SYS_SENDMMSG = 10,
	SYS_PREADV2 = 11,
	SYS_PWRITEV2 = 12,
};

enum data_direction { DIR_EGRESS = 0, DIR_INGRESS = 1 };

/* The kernel side's protocol guess (numbers from seeds/001). */
enum l7_hint {
	L7_UNKNOWN = 0,
	L7_HTTP1 = 20,
	L7_HTTP2 = 21,
	L7_DUBBO = 40,
	L7_MYSQL = 60,
	L7_REDIS = 80,
	L7_KAFKA = 100,
	L7_DNS = 120,
};

enum l7_msg_type { MSG_UNKNOWN = 0, MSG_REQUEST = 1, MSG_RESPONSE = 2 };

/* REC_CLOSE: a traced TCP socket closed (no payload; lets user space
 * finish its pending requests at once). */
enum record_kind { REC_DATA = 0, REC_CLOSE = 1 };

/* The header of one data record in the ring buffer; `cap_len` payload
 * bytes follow it. */
struct sock_data {
	__u64 ts_ns;       /* CLOCK_MONOTONIC, when the syscall finished */
	__u64 socket_id;   /* the socket's cookie: never reused */
	__u64 cap_seq;     /* this socket's record number, from 0 */
	__u64 trace_id;    /* 0: none */
	__u64 cgroup_id;
	__u64 syscall_len; /* bytes the syscall moved */
	/* Records the kernel could not deliver before this one (cumulative):
	 * lets a reader place losses in the stream. */
	__u64 kernel_lost;
	__u32 pid;
	__u32 tid;
	__u32 netns;
	__u32 cap_len;
	__u32 tcp_seq;
	__u16 sport; /* host order */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[16];
	__u8 family;    /* AF_INET or AF_INET6 */
	__u8 protocol;  /* IPPROTO_TCP or IPPROTO_UDP */
	__u8 direction; /* enum data_direction */
	__u8 syscall;   /* enum sys_kind */
	__u8 l7_hint;   /* enum l7_hint */
	__u8 msg_type;  /* enum l7_msg_type */
	__u8 need_reconfirm;
	__u8 has_tcp_seq;
	__u8 kind; /* enum record_kind */
	/* UDP without a connected peer: the peer, if any, is this datagram's
	 * (from sendto/sendmsg; unknown on reads). */
	__u8 unconnected;
	__u8 _pad[6];
};

/* What the kernel side saw but did not deliver, all cumulative. */
struct trace_counters {
	__u64 ringbuf_full;     /* records lost: ring full */
	__u64 peek_skipped;     /* MSG_PEEK reads, not captured */
	__u64 read_user_failed; /* payload unreadable (recorded with cap_len 0) */
	__u64 sendfile_calls;   /* counted, not captured */
	__u64 sendfile_bytes;
	__u64 splice_calls;
	__u64 splice_bytes;
	__u64 io_uring_calls;   /* socket I/O from io_uring: not captured */
	__u64 io_uring_bytes;
	__u64 other_calls;      /* other syscalls or kernel senders: not captured */
	__u64 other_bytes;
	__u64 socket_map_full;  /* sockets without state (records still sent) */
	__u64 trace_map_full;
	__u64 mmsg_unmatched;   /* sendmmsg/recvmmsg message not located */
	__u64 close_lost;       /* close notices lost: ring full (not data) */
	__u64 muted_calls;      /* on sockets the parsers gave up on: counted only */
	__u64 muted_bytes;
};

/* Per socket, keyed by its cookie. */
struct sock_trace_state {
	__u64 cap_seq;
	__u8 l7_hint;
	__u8 confirmations;
	__u8 _pad[6];
};

/* Per thread: its last read, for trace_id. */
struct thread_trace {
	__u64 trace_id;
	__u64 socket_id;
	__u64 ts_ns;
};

/* Per thread: the sendmmsg/recvmmsg message vector in progress (the
 * tracepoint fires once per message and does not say which). */
struct mmsg_cursor {
	__u64 vec;
	__u32 next;
	__u32 _pad;
};

#endif
