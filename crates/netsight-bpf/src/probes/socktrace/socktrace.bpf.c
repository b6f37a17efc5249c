// SPDX-License-Identifier: GPL-2.0
/* Socket data tracer: one record per read/write-family syscall on a TCP or
 * UDP socket, with the first bytes moved, from tracepoints only.
 *
 * tp_btf on sock:sock_send_length / sock:sock_recv_length fires inside the
 * syscall after the data moved. bpf_task_pt_regs() gives the saved user
 * registers: the syscall number and its arguments, hence the user buffer,
 * which is still holding exactly what was sent or received (read at most
 * `ret` bytes: beyond that it is stale). Only socket I/O pays for this;
 * syscall tracepoints would put every syscall of the host on the slow path.
 *
 * A separate object from the sockets probe, loaded only by the tracer. */
#include "netsight.bpf.h"
#include "socktrace.h"
#include "syscall.bpf.h"
#include "infer.bpf.h"
#include "by_fd.bpf.h"

#define PF_KTHREAD 0x00200000
/* Sendmmsg/recvmmsg vectors hold at most UIO_MAXIOV messages. */
#define MMSG_MAX 1024

#define ADD(field, v) __sync_fetch_and_add(&(field), (v))

char LICENSE[] SEC("license") = "GPL";

/* Settings, written by user space before load. */
const volatile __u32 payload_bytes = 1024;
const volatile __u32 tracer_tgid = 0;
const volatile __u32 filter_pids[MAX_PID_FILTER] = {};
const volatile __u32 filter_pid_count = 0;
const volatile __u16 filter_port = 0;
const volatile __u32 filter_netns = 0;
const volatile char filter_comm[TASK_COMM_LEN] = {};
const volatile bool filter_comm_on = false;
/* Wake the reader only once this much is waiting in the ring: a wakeup per
 * record costs an IPI, several microseconds in a VM (measured: 2.5 us of a
 * 3.5 us record). The reader also drains the ring on a short timer. */
const volatile __u64 wakeup_bytes = 65536;
/* A write joins the thread's last read in one trace only this soon after. */
const volatile __u64 trace_window_ns = 10000000000ULL;

/* Set when no one wants data records: sockets user space gave up parsing
 * (no known protocol in their first messages) are then muted. */
const volatile bool mute_unparsed = false;

/* Set when the syscall fallback runs: socket ids come from address_ids. */
const volatile bool ids_by_address = false;

struct trace_counters counters;
__u64 last_address_id;

/* Globals of these types make the skeleton generate them for Rust. */
struct sock_data sock_data_type;
enum sys_kind sys_kind_type;
enum l7_hint l7_hint_type;
enum l7_msg_type l7_msg_type_type;
enum data_direction data_direction_type;
enum record_kind record_kind_type;
enum socktrace_limits socktrace_limits_type;

/* The record being built: header then payload. Twice PAYLOAD_MAX so the
 * verifier can prove an iovec copy at any offset below PAYLOAD_MAX fits.
 * One entry per CPU and direction (set at load): too big for a per-CPU
 * array value (32 KiB at most). */
struct scratch {
	struct sock_data hdr;
	__u8 data[PAYLOAD_MAX * 2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, struct scratch);
} scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

/* Keyed by the socket cookie; TCP entries are deleted at close, UDP ones
 * age out (LRU). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct sock_trace_state);
} sockets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct thread_trace);
} traces SEC(".maps");

/* Trace ids are counted per CPU (a shared counter bounces between CPUs on
 * every read) and made unique by the CPU number above bit 40. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} trace_counter SEC(".maps");

static __always_inline __u64 new_trace_id(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&trace_counter, &zero);

	if (!n)
		return 0;
	*n += 1;
	return ((__u64)bpf_get_smp_processor_id() << 40) + *n;
}

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, struct mmsg_cursor);
} mmsg_cursors SEC(".maps");

/* The syscall fallback only: socket address -> socket id. TCP entries
 * leave at close; UDP ones age out, and since there is no UDP close
 * tracepoint a new socket may meanwhile get the memory of a closed one:
 * the entry also holds the socket's inode number, which tells them apart. */
struct address_id {
	__u64 id;
	__u64 ino;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct address_id);
} address_ids SEC(".maps");

/* The sockets muted by user space, by id, direct-mapped: while its id sits
 * in its slot, a socket's reads and writes are counted and sent nowhere (no
 * payload copy, no record). A collision only unmutes the older socket. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MUTED_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} muted SEC(".maps");

static __always_inline bool is_muted(__u64 sid)
{
	__u32 slot = sid & (MUTED_SLOTS - 1);
	__u64 *m;

	if (!mute_unparsed)
		return false;
	m = bpf_map_lookup_elem(&muted, &slot);
	return m && *m == sid;
}

static __always_inline bool pid_wanted(__u32 tgid)
{
	if (!filter_pid_count)
		return true;
	for (int i = 0; i < MAX_PID_FILTER; i++)
		if (i < filter_pid_count && filter_pids[i] == tgid)
			return true;
	return false;
}

static __always_inline bool comm_wanted(const char *comm)
{
	if (!filter_comm_on)
		return true;
	for (int i = 0; i < TASK_COMM_LEN; i++) {
		if (comm[i] != filter_comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

static __always_inline void count_uncaptured(enum uncaptured why, int ret)
{
	switch (why) {
	case UNC_SENDFILE:
		ADD(counters.sendfile_calls, 1);
		ADD(counters.sendfile_bytes, ret);
		break;
	case UNC_SPLICE:
		ADD(counters.splice_calls, 1);
		ADD(counters.splice_bytes, ret);
		break;
	case UNC_IO_URING:
		ADD(counters.io_uring_calls, 1);
		ADD(counters.io_uring_bytes, ret);
		break;
	default:
		ADD(counters.other_calls, 1);
		ADD(counters.other_bytes, ret);
	}
}

/* Copies up to `limit` bytes from an iovec array; returns bytes copied. */
static __always_inline __u32 copy_iovecs(__u8 *dst, __u64 iov, __u64 cnt, __u32 limit)
{
	__u32 off = 0;

	for (int i = 0; i < IOV_MAX_CAPTURED; i++) {
		struct ns_iovec v;
		__u64 n;

		if (i >= cnt || off >= limit)
			break;
		if (bpf_probe_read_user(&v, sizeof(v), (void *)(iov + i * sizeof(v))))
			break;
		n = v.len;
		if (n > limit - off)
			n = limit - off;
		barrier_var(n);
		if (n > PAYLOAD_MAX)
			n = PAYLOAD_MAX;
		off &= PAYLOAD_MAX - 1;
		if (n && bpf_probe_read_user(dst + off, n, (void *)v.base))
			break;
		off += n;
	}
	return off;
}

/* sendmmsg/recvmmsg: the tracepoint fires once per message without saying
 * which. A per-thread cursor walks the vector; a new call on a different
 * vector starts at 0. Wrong only if a call on the same vector follows one
 * that moved fewer than vlen messages. */
static __always_inline int mmsg_locate(__u32 tid, struct user_io *io)
{
	struct mmsg_cursor *c = bpf_map_lookup_elem(&mmsg_cursors, &tid);
	struct mmsg_cursor next = {};
	__u32 idx = 0;

	if (c && c->vec == io->mmsg_vec && c->next < io->mmsg_vlen)
		idx = c->next;
	if (idx >= MMSG_MAX)
		return -1;
	next.vec = io->mmsg_vec;
	next.next = idx + 1 < io->mmsg_vlen ? idx + 1 : 0;
	bpf_map_update_elem(&mmsg_cursors, &tid, &next, BPF_ANY);
	if (read_msghdr(io->mmsg_vec + idx * sizeof(struct ns_mmsghdr), io))
		return -1;
	if (io->kind == SYS_RECVMMSG)
		io->sockaddr = 0;
	return 0;
}

static __always_inline __u32 copy_payload(struct scratch *s, struct user_io *io, int ret)
{
	__u32 limit = payload_bytes < PAYLOAD_MAX ? payload_bytes : PAYLOAD_MAX;
	__u64 n;

	if ((__u32)ret < limit)
		limit = ret;
	if (!limit)
		return 0;
	if (io->buf) {
		n = limit;
		barrier_var(n);
		if (n > PAYLOAD_MAX)
			n = PAYLOAD_MAX;
		if (bpf_probe_read_user(s->data, n, (void *)io->buf)) {
			ADD(counters.read_user_failed, 1);
			return 0;
		}
		return n;
	}
	return copy_iovecs(s->data, io->iov, io->iovcnt, limit);
}

/* What a record needs from the socket. */
struct sock_facts {
	__u64 sid;
	__u32 netns;
	__u32 seq_end; /* write_seq after a send, copied_seq after a receive */
	__u16 sport;   /* host order */
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	__u8 family;
	__u8 protocol;
};

static __always_inline bool traced_family(__u16 family, __u16 proto)
{
	return (family == AF_INET || family == AF_INET6) &&
	       (proto == NS_IPPROTO_TCP || proto == NS_IPPROTO_UDP);
}

/* From a trusted socket pointer (tp_btf): direct loads, no helper calls
 * but the cookie and the sequence number. */
static __always_inline void facts_direct(struct sock *sk, bool send, struct sock_facts *f)
{
	f->family = sk->__sk_common.skc_family;
	f->protocol = sk->sk_protocol;
	f->netns = sk->__sk_common.skc_net.net->ns.inum;
	f->sport = sk->__sk_common.skc_num;
	f->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	if (f->family == AF_INET) {
		__builtin_memcpy(f->saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(f->daddr, &sk->__sk_common.skc_daddr, 4);
	} else {
		BPF_CORE_READ_INTO(&f->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&f->daddr, sk, __sk_common.skc_v6_daddr);
	}
	if (f->protocol == NS_IPPROTO_TCP) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

		if (tp)
			f->seq_end = send ? tp->write_seq : tp->copied_seq;
	}
	/* The cookie by a direct load; the helper only for a socket no one
	 * has asked the cookie of yet (it assigns one). */
	f->sid = sk->__sk_common.skc_cookie.counter;
	if (!f->sid)
		f->sid = bpf_get_socket_cookie(sk);
}

/* The fallback's socket id: its address, mapped to a number of our own
 * (the cookie helper needs a trusted pointer; most sockets have no cookie
 * until someone asks). Bit 52 keeps them apart from cookies (a counter
 * from 1) and below 2^53, which JSON readers hold exactly. */
#define ADDRESS_ID_BIT (1ULL << 52)
static __always_inline __u64 id_by_address(struct sock *sk, __u64 ino)
{
	__u64 key = (__u64)sk;
	struct address_id *known, fresh = { .ino = ino };

	known = bpf_map_lookup_elem(&address_ids, &key);
	if (known && known->ino == ino)
		return known->id;
	fresh.id = (__sync_fetch_and_add(&last_address_id, 1) + 1) | ADDRESS_ID_BIT;
	if (bpf_map_update_elem(&address_ids, &key, &fresh, BPF_ANY))
		ADD(counters.socket_map_full, 1);
	return fresh.id;
}

/* From an untrusted socket pointer (the syscall fallback): probe reads.
 * Returns false for sockets the tracer does not follow. */
static __always_inline bool facts_probed(struct sock *sk, __u64 ino, bool send,
					 struct sock_facts *f)
{
	f->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	f->protocol = BPF_CORE_READ(sk, sk_protocol);
	if (!traced_family(f->family, f->protocol) || BPF_CORE_READ_BITFIELD_PROBED(sk, sk_kern_sock))
		return false;
	f->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	f->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	f->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (f->family == AF_INET) {
		BPF_CORE_READ_INTO(&f->saddr, sk, __sk_common.skc_rcv_saddr);
		BPF_CORE_READ_INTO(&f->daddr, sk, __sk_common.skc_daddr);
	} else {
		BPF_CORE_READ_INTO(&f->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&f->daddr, sk, __sk_common.skc_v6_daddr);
	}
	if (f->protocol == NS_IPPROTO_TCP) {
		struct tcp_sock *tp = (struct tcp_sock *)sk;

		f->seq_end = send ? BPF_CORE_READ(tp, write_seq) : BPF_CORE_READ(tp, copied_seq);
	}
	f->sid = id_by_address(sk, ino);
	return true;
}

/* An unconnected UDP socket's peer, from sendto/sendmsg's address. */
static __always_inline void peer_from_sockaddr(__u64 user, struct sock_data *h)
{
	struct ns_sockaddr a;

	if (!user || bpf_probe_read_user(&a, sizeof(a), (void *)user))
		return;
	if (a.family == AF_INET && h->family == AF_INET) {
		__builtin_memcpy(h->daddr, &a.v4, 4);
		h->dport = bpf_ntohs(a.port);
	} else if (a.family == AF_INET6 && h->family == AF_INET6) {
		__builtin_memcpy(h->daddr, a.v6, 16);
		h->dport = bpf_ntohs(a.port);
	}
}

/* A read starts a trace (kept while the thread reads the same socket);
 * the thread's writes to other sockets carry it, a write back to the
 * socket it read ends it (the reply). */
static __always_inline __u64 trace_of(__u32 tid, __u64 sid, bool send, __u64 now)
{
	struct thread_trace *t = bpf_map_lookup_elem(&traces, &tid);
	struct thread_trace fresh = {};

	if (send) {
		if (!t || !t->socket_id)
			return 0;
		if (t->socket_id == sid) {
			t->socket_id = 0;
			return 0;
		}
		return now - t->ts_ns <= trace_window_ns ? t->trace_id : 0;
	}
	if (t && t->socket_id == sid) {
		t->ts_ns = now;
		return t->trace_id;
	}
	fresh.trace_id = new_trace_id();
	fresh.socket_id = sid;
	fresh.ts_ns = now;
	/* In place when the thread has an entry: an LRU update allocates. */
	if (t) {
		*t = fresh;
		return fresh.trace_id;
	}
	if (bpf_map_update_elem(&traces, &tid, &fresh, BPF_ANY))
		ADD(counters.trace_map_full, 1);
	return fresh.trace_id;
}

static __always_inline struct sock_trace_state *state_of(__u64 sid)
{
	struct sock_trace_state *st = bpf_map_lookup_elem(&sockets, &sid);
	struct sock_trace_state fresh = {};

	if (st)
		return st;
	bpf_map_update_elem(&sockets, &sid, &fresh, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&sockets, &sid);
	if (!st)
		ADD(counters.socket_map_full, 1);
	return st;
}

static __always_inline void guess_protocol(struct scratch *s, struct sock_trace_state *st)
{
	struct sock_data *h = &s->hdr;
	struct infer_in in = {
		.p = s->data,
		.len = h->cap_len,
		.tcp = h->protocol == NS_IPPROTO_TCP,
		.lport = h->sport,
		.rport = h->dport,
	};
	__u8 cached = st ? st->l7_hint : L7_UNKNOWN;
	__u8 hint = L7_UNKNOWN;
	int t = infer(&in, cached, &hint);

	h->l7_hint = hint;
	h->msg_type = t < 0 ? MSG_UNKNOWN : t;
	/* Sure only once the socket's cached guess matched again. */
	h->need_reconfirm = cached == L7_UNKNOWN || t < 0;
	if (st && cached == L7_UNKNOWN && hint != L7_UNKNOWN)
		st->l7_hint = hint;
}

/* Bytes this CPU put in the ring since it last asked how full the ring
 * is. Asking reads the producer and consumer positions, cache lines that
 * every CPU and the reader write to (measured: ~250 ns of a ~1.2 us call
 * with the cookie and cgroup helpers). Asking once per fill_check_bytes
 * (user space sets a share of wakeup_bytes per CPU) keeps the wake-up
 * within a fraction of its threshold. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} unchecked_bytes SEC(".maps");

const volatile __u64 fill_check_bytes = 0;

static __always_inline __u64 wakeup_flag(__u64 size)
{
	__u32 zero = 0;
	__u64 *unchecked = bpf_map_lookup_elem(&unchecked_bytes, &zero);

	if (unchecked) {
		*unchecked += size;
		if (*unchecked < fill_check_bytes)
			return BPF_RB_NO_WAKEUP;
		*unchecked = 0;
	}
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= wakeup_bytes)
		return BPF_RB_FORCE_WAKEUP;
	return BPF_RB_NO_WAKEUP;
}

static __always_inline bool task_wanted(__u32 tgid)
{
	return tgid != tracer_tgid && pid_wanted(tgid);
}

/* Builds and sends one data record of `ret` bytes moved as `io` says. */
static __always_inline int emit(struct sock_facts *f, struct user_io *io, __u64 pid_tgid, int ret,
				bool send)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct sock_trace_state *st;
	struct sock_data *h;
	struct scratch *s;
	__u32 key;

	if (filter_netns && f->netns != filter_netns)
		return 0;
	if (is_muted(f->sid)) {
		ADD(counters.muted_calls, 1);
		ADD(counters.muted_bytes, ret);
		/* Still a read a following write on another socket may answer. */
		if (!send)
			trace_of((__u32)pid_tgid, f->sid, false, bpf_ktime_get_ns());
		return 0;
	}
	key = bpf_get_smp_processor_id() * 2 + send;
	s = bpf_map_lookup_elem(&scratch, &key);
	if (!s)
		return 0;
	h = &s->hdr;
	/* Direct loads through the task's BTF pointer, no helper call (the
	 * kernel pads comm with NULs). */
	__builtin_memcpy(h->comm, task->group_leader->comm, TASK_COMM_LEN);
	if (!comm_wanted(h->comm))
		return 0;
	h->family = f->family;
	h->sport = f->sport;
	h->dport = f->dport;
	__builtin_memcpy(h->saddr, f->saddr, 16);
	__builtin_memcpy(h->daddr, f->daddr, 16);
	h->unconnected = f->protocol == NS_IPPROTO_UDP && !h->dport;
	/* On reads the kernel writes the source address out only after this
	 * point, and linear datagrams pass no tracepoint with their skb:
	 * such reads show no peer. */
	if (h->unconnected && send)
		peer_from_sockaddr(io->sockaddr, h);
	if (filter_port && h->sport != filter_port && h->dport != filter_port)
		return 0;

	h->ts_ns = bpf_ktime_get_ns();
	h->socket_id = f->sid;
	h->pid = pid_tgid >> 32;
	h->tid = (__u32)pid_tgid;
	h->netns = f->netns;
	/* What bpf_get_current_cgroup_id() returns, by direct loads. */
	h->cgroup_id = task->cgroups->dfl_cgrp->kn->id;
	h->protocol = f->protocol;
	h->direction = send ? DIR_EGRESS : DIR_INGRESS;
	h->syscall = io->kind;
	h->syscall_len = ret;
	h->kind = REC_DATA;
	h->has_tcp_seq = f->protocol == NS_IPPROTO_TCP;
	h->tcp_seq = h->has_tcp_seq ? f->seq_end - (__u32)ret : 0;
	h->trace_id = trace_of((__u32)pid_tgid, f->sid, send, h->ts_ns);
	st = state_of(f->sid);
	h->cap_seq = st ? __sync_fetch_and_add(&st->cap_seq, 1) : 0;
	h->cap_len = copy_payload(s, io, ret);
	guess_protocol(s, st);
	h->kernel_lost = counters.ringbuf_full;

	__u64 size = sizeof(struct sock_data) + h->cap_len;

	barrier_var(size);
	if (size > sizeof(struct sock_data) + PAYLOAD_MAX)
		size = sizeof(struct sock_data) + PAYLOAD_MAX;
	if (bpf_ringbuf_output(&events, s, size, wakeup_flag(size)))
		ADD(counters.ringbuf_full, 1);
	return 0;
}

/* The socket tracepoints: inside the syscall, after the data moved, with
 * a trusted socket pointer. sendmmsg/recvmmsg fire once per message. */
static __always_inline int capture(struct sock *sk, int ret, int flags, bool send)
{
	struct task_struct *task;
	struct user_io io = {};
	struct sock_facts f = {};
	enum uncaptured why;
	__u64 pid_tgid;

	if (ret <= 0 || !sk)
		return 0;
	if (!traced_family(sk->__sk_common.skc_family, sk->sk_protocol))
		return 0;
	if (!send && (flags & MSG_PEEK)) {
		ADD(counters.peek_skipped, 1);
		return 0;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	if (!task_wanted(pid_tgid >> 32))
		return 0;
	task = bpf_get_current_task_btf();
	if ((task->flags & PF_KTHREAD) || BPF_CORE_READ_BITFIELD(sk, sk_kern_sock) ||
	    (task->thread_info.status & TS_COMPAT)) {
		count_uncaptured(UNC_OTHER, ret);
		return 0;
	}
	why = decode_syscall((struct pt_regs *)bpf_task_pt_regs(task), send, &io);
	if (why != UNC_NONE) {
		count_uncaptured(why, ret);
		return 0;
	}
	if ((io.kind == SYS_SENDMMSG || io.kind == SYS_RECVMMSG) && mmsg_locate(pid_tgid, &io)) {
		ADD(counters.mmsg_unmatched, 1);
		io.iov = 0;
		io.iovcnt = 0;
	}
	facts_direct(sk, send, &f);
	return emit(&f, &io, pid_tgid, ret, send);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(trace_send, struct sock *sk, int ret, int flags)
{
	return capture(sk, ret, flags, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(trace_recv, struct sock *sk, int ret, int flags)
{
	return capture(sk, ret, flags, false);
}

/* One message of a sendmmsg/recvmmsg seen at syscall exit: the kernel
 * wrote each message's length into the vector. */
struct mmsg_walk {
	struct sock_facts f;
	struct user_io io;
	__u64 pid_tgid;
	bool send;
};

static long emit_mmsg_message(__u64 i, void *ctx)
{
	struct mmsg_walk *w = ctx;
	struct ns_mmsghdr m;
	struct user_io io = w->io;

	if (bpf_probe_read_user(&m, sizeof(m), (void *)(w->io.mmsg_vec + i * sizeof(m))))
		return 1;
	io.iov = m.hdr.iov;
	io.iovcnt = m.hdr.iovlen;
	io.sockaddr = w->send ? m.hdr.name : 0;
	if ((int)m.len > 0)
		emit(&w->f, &io, w->pid_tgid, m.len, w->send);
	return 0;
}

/* The fallback where the socket tracepoints are missing (before 6.3) or
 * refused: every syscall of the host now takes the tracing slow path,
 * and this program looks only at the read/write family on sockets. */
SEC("tp_btf/sys_exit")
int BPF_PROG(trace_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	int dir = sys_direction(nr);
	struct task_struct *task;
	struct mmsg_walk w = {};
	enum uncaptured why;
	struct sock *sk;
	__u64 ino = 0;

	if (dir < 0 || ret <= 0)
		return 0;
	w.pid_tgid = bpf_get_current_pid_tgid();
	if (!task_wanted(w.pid_tgid >> 32))
		return 0;
	task = bpf_get_current_task_btf();
	if (task->thread_info.status & TS_COMPAT)
		return 0;
	sk = sock_of_fd(task, sys_fd(regs, nr), &ino);
	w.send = dir;
	if (!sk || !facts_probed(sk, ino, w.send, &w.f))
		return 0;
	if (!w.send && (sys_recv_flags(regs, nr) & MSG_PEEK)) {
		ADD(counters.peek_skipped, 1);
		return 0;
	}
	why = decode_syscall(regs, w.send, &w.io);
	if (why != UNC_NONE) {
		count_uncaptured(why, ret);
		return 0;
	}
	if (w.io.kind == SYS_SENDMMSG || w.io.kind == SYS_RECVMMSG) {
		/* ret is the number of messages moved. */
		bpf_loop(ret < MMSG_MAX ? ret : MMSG_MAX, emit_mmsg_message, &w, 0);
		return 0;
	}
	return emit(&w.f, &w.io, w.pid_tgid, ret, w.send);
}

/* A traced TCP socket closed: forget it and tell user space. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(trace_close, struct sock *sk, int oldstate, int newstate)
{
	struct sock_data h = {};
	__u64 sid;

	if (newstate != NS_TCP_CLOSE)
		return 0;
	if (ids_by_address) {
		__u64 key = (__u64)sk;
		struct address_id *a = bpf_map_lookup_elem(&address_ids, &key);

		if (!a)
			return 0;
		sid = a->id;
		bpf_map_delete_elem(&address_ids, &key);
	} else {
		sid = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	}
	if (!sid || bpf_map_delete_elem(&sockets, &sid))
		return 0;
	h.ts_ns = bpf_ktime_get_ns();
	h.socket_id = sid;
	h.kind = REC_CLOSE;
	h.protocol = NS_IPPROTO_TCP;
	h.kernel_lost = counters.ringbuf_full;
	if (bpf_ringbuf_output(&events, &h, sizeof(h), wakeup_flag(sizeof(h))))
		ADD(counters.close_lost, 1);
	return 0;
}
