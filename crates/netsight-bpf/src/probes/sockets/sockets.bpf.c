// SPDX-License-Identifier: GPL-2.0
/* Sockets: who owns each one, per-process TCP/UDP metrics, and socket and
 * packet events, from tracepoints only.
 *
 * Ownership: every socket gets socket-local storage naming its owner, set in
 * process context (send/recv, connect, listen, accept). Events raised in
 * softirq or timer context (retransmits, resets, RTT samples) are charged to
 * that owner, never to whatever task happens to be on the CPU.
 *
 * Counters are aggregated here, per process, into one of two hash maps; user
 * space flips `epoch` each interval and drains the map no longer written, so
 * no increment is ever lost between a read and a delete. */
#include "netsight.bpf.h"
#include "sockets.h"

#define MAX_PROCS 16384
#define MAX_ACCEPTED 16384
#define MAX_LISTENERS 8192

/* RTT samples of one connection are this far apart (100 ms: HZ / 10, set
 * by user space from the kernel's config; 25 is 100 ms at HZ=250): enough
 * for the interval's percentiles, and rare enough to stay off most calls.
 * Not a __kconfig extern: libbpf fails the load where no config file is. */
const volatile __u64 rtt_sample_jiffies = 25;

static __always_inline __u64 rtt_sample_ticks(void)
{
	return rtt_sample_jiffies;
}

#define ADD(field, v) __sync_fetch_and_add(&(field), (v))

char LICENSE[] SEC("license") = "GPL";

/* Flipped by user space; selects the map the programs write. */
volatile __u32 epoch;
/* Tasks that have exited since load (on_task_exit; io_cache.bpf.h). */
volatile __u32 task_exits;
struct sockets_losses losses;

#include "events.bpf.h"

/* Zeroed template for new map entries (too big for the BPF stack); the
 * other globals make the skeleton generate these types for Rust. */
struct proc_stats zero_stats;
struct io_slot io_slot_type;
struct sock_snapshot snapshot_type;
struct proc_key proc_key_type;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} sk_states SEC(".maps");

struct stats_map {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_PROCS);
	__type(key, struct proc_key);
	__type(value, struct proc_stats);
};
struct stats_map stats_a SEC(".maps");
struct stats_map stats_b SEC(".maps");

/* Accepted sockets, keyed by address, until a tracing program moves the
 * owner into the socket's storage (the accept syscall tracepoint cannot use
 * socket storage itself). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_ACCEPTED);
	__type(key, __u64);
	__type(value, struct owner);
} accepted SEC(".maps");

/* Listening ports -> the listener's owner: names the process that holds a
 * connection still waiting in an accept queue. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, MAX_LISTENERS);
	__type(key, struct listener_key);
	__type(value, struct listen_owner);
} listeners SEC(".maps");

/* Network namespaces holding tracked sockets -> a process that used one
 * there: where user space opens the per-namespace socket iterators (the
 * iter/tcp path). Filled only on that path (track_netns). */
#define MAX_NETNS 4096
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_NETNS);
	__type(key, __u32);
	__type(value, __u32);
} tracked_netns SEC(".maps");

const volatile bool track_netns = false;
/* Nothing folds the per-socket pending I/O (no iterator, or no on_state
 * to fold at close): charge each call to the process directly (a hash
 * lookup per call instead of none). */
const volatile bool io_direct = false;

/* The I/O cache: each CPU's slots in one array, not a per-CPU one, so a
 * slot's address needs no load from the per-CPU map's pointer table (a
 * cache miss on most receives); mmap-able, so the slots start on a page and
 * each one's hot half fills one cache line. Two halves (intervals), each
 * io_cpus * IO_CACHE_SLOTS; user space sizes it for this machine. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 2 * IO_CACHE_SLOTS);
	__type(key, __u32);
	__type(value, struct io_slot);
} io_cache SEC(".maps");
const volatile __u32 io_cpus = 1;
_Static_assert(sizeof(struct io_slot) == IO_SLOT_SIZE &&
		       __builtin_offsetof(struct io_slot, owner) == 64,
	       "an I/O slot's hit fields fill its first cache line");

/* Off when close events need every call on the socket itself. */
const volatile bool use_io_cache = true;
/* on_task_exit runs: the I/O cache may know the caller by its stack. */
const volatile bool caller_by_stack = false;

#include "owner.bpf.h"
#include "rtt.bpf.h"
#include "io_cache.bpf.h"

static __always_inline bool is_inet(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;

	return family == AF_INET || family == AF_INET6;
}

static __always_inline void count_tcp_io(struct sock *sk, struct sock_state *st, int ret, bool tx)
{
	struct proc_stats *s = NULL;

	/* 100 ms apart: a busy connection's samples stay spread over the
	 * interval while the hash lookup stays off most sends and receives. */
	if (bpf_jiffies64() - st->rtt_sampled_jiffies >= rtt_sample_ticks()) {
		s = stats_of(&st->owner);
		if (s)
			sample_rtt(sk, &st->rtt_sampled_jiffies, s);
	}
	if (event_on(EV_CLOSE)) {
		if (tx)
			ADD(st->app_tx_total, ret);
		else
			ADD(st->app_rx_total, ret);
	}
	if (!io_direct && sk->__sk_common.skc_state != NS_TCP_CLOSE) {
		if (tx) {
			ADD(st->tx_bytes, ret);
			ADD(st->tx_calls, 1);
		} else {
			ADD(st->rx_bytes, ret);
			ADD(st->rx_calls, 1);
		}
		return;
	}
	/* Already folded at close (e.g. reading what arrived before the
	 * peer's FIN), or no iterator to fold: charge the process directly. */
	if (!s)
		s = stats_of(&st->owner);
	if (!s)
		return;
	if (tx) {
		ADD(s->tcp_tx_bytes, ret);
		ADD(s->tcp_tx_calls, 1);
	} else {
		ADD(s->tcp_rx_bytes, ret);
		ADD(s->tcp_rx_calls, 1);
	}
}

/* `ctx`: the program's context, on the caller's kernel stack (io_cache.bpf.h). */
static __always_inline void count_io(struct sock *sk, int ret, bool tx, void *ctx)
{
	struct sock_state *st;
	struct proc_stats *s;
	__u16 proto;

	if (ret <= 0 || !sk || !is_inet(sk))
		return;
	proto = sk->sk_protocol;
	if (proto != NS_IPPROTO_TCP && proto != NS_IPPROTO_UDP)
		return;
	if (use_io_cache && cached_io(sk, ret, tx, ctx, proto == NS_IPPROTO_UDP))
		return;
	st = claim(sk);
	if (!st)
		return;
	if (proto == NS_IPPROTO_TCP) {
		count_tcp_io(sk, st, ret, tx);
		return;
	}
	/* UDP sockets end without a tracepoint to fold at: count directly
	 * (when the cache is off or does not take the call). */
	s = stats_of(&st->owner);
	if (!s)
		return;
	if (tx) {
		ADD(s->udp_tx_bytes, ret);
		ADD(s->udp_tx_packets, 1);
	} else {
		ADD(s->udp_rx_bytes, ret);
		ADD(s->udp_rx_packets, 1);
	}
}

static __always_inline void count_recv(struct sock *sk, int ret, int flags, void *ctx)
{
	/* A peek does not consume: the later real read counts the bytes. */
	if (!(flags & MSG_PEEK))
		count_io(sk, ret, false, ctx);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	count_io(sk, ret, true, ctx);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	count_recv(sk, ret, flags, ctx);
	return 0;
}

/* Kernels before 6.3 lack the two tracepoints above. Where fentry works
 * (an optional extra, never the only way: SPEC §1), the same count is
 * taken at the return of the inet sendmsg/recvmsg entry points, which
 * sock_sendmsg()/sock_recvmsg() call right before those tracepoints fire
 * (same calls, same return values). User space loads either these or the
 * tracepoints, never both. */
SEC("fexit/inet_sendmsg")
int BPF_PROG(on_inet_sendmsg, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	count_io(sock->sk, ret, true, ctx);
	return 0;
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(on_inet6_sendmsg, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	count_io(sock->sk, ret, true, ctx);
	return 0;
}

SEC("fexit/inet_recvmsg")
int BPF_PROG(on_inet_recvmsg, struct socket *sock, struct msghdr *msg, size_t size, int flags,
	     int ret)
{
	count_recv(sock->sk, ret, flags, ctx);
	return 0;
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(on_inet6_recvmsg, struct socket *sock, struct msghdr *msg, size_t size, int flags,
	     int ret)
{
	count_recv(sock->sk, ret, flags, ctx);
	return 0;
}

static __always_inline void on_close(struct sock *sk, int oldstate)
{
	struct sock_state *st = owned(sk);
	struct proc_stats *s;
	__u64 dur;

	if (!st)
		return;
	s = stats_of(&st->owner);
	if (!s)
		return;
	fold_io(st, s);
	if (st->provisional) {
		/* Closed before any process used it: the listener's process
		 * held it (in its accept queue, or accepted and left idle). */
		st->provisional = 0;
		ADD(s->tcp_passive_opens, 1);
	}
	if (oldstate == NS_TCP_SYN_SENT) {
		ADD(s->tcp_connect_failures, 1);
		return;
	}
	if (!st->established_ns)
		return;
	ADD(s->tcp_closes, 1);
	dur = bpf_ktime_get_ns() - st->established_ns;
	/* A lost race here only loses a maximum, never a count. */
	if (dur > s->closed_duration_ns_max)
		s->closed_duration_ns_max = dur;
}

static __always_inline void count_state(struct sock *sk, int oldstate, int newstate)
{
	struct sock_state *st;
	struct proc_stats *s;

	switch (newstate) {
	case NS_TCP_SYN_SENT: /* connect(), in the caller's context */
		st = claim(sk);
		if (!st)
			return;
		st->connect_ns = bpf_ktime_get_ns();
		st->established_ns = 0;
		s = stats_of(&st->owner);
		if (s)
			ADD(s->tcp_active_opens, 1);
		return;
	case NS_TCP_LISTEN: /* listen(), in the caller's context */
		st = claim(sk);
		if (st)
			listener_add(sk, &st->owner);
		return;
	case NS_TCP_ESTABLISHED:
		st = bpf_sk_storage_get(&sk_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st)
			return;
		st->established_ns = bpf_ktime_get_ns();
		if (oldstate == NS_TCP_SYN_RECV)
			inherit_listener(sk, st);
		return;
	case NS_TCP_FIN_WAIT1:
	case NS_TCP_LAST_ACK:
		/* The application closed (or shut down) its end: what it moved
		 * is charged now, not when the FIN exchange ends (a socket no
		 * process holds is not seen by the task-file iterator). */
		st = owned(sk);
		if (st && (s = stats_of(&st->owner)))
			fold_io(st, s);
		return;
	case NS_TCP_CLOSE:
		if (oldstate == NS_TCP_LISTEN)
			listener_del(sk);
		else
			on_close(sk, oldstate);
		return;
	}
}

/* Who sent the first FIN, learnt from the first move out of ESTABLISHED. */
static __always_inline __u8 closer_of(int newstate)
{
	if (newstate == NS_TCP_FIN_WAIT1)
		return CLOSER_LOCAL;
	if (newstate == NS_TCP_CLOSE_WAIT)
		return CLOSER_REMOTE;
	return CLOSER_RESET;
}

/* Keeps the local port while the kernel still has it (see local_port). */
static __always_inline void remember_port(struct sock *sk, struct sock_state *st)
{
	__u16 port = BPF_CORE_READ(sk, __sk_common.skc_num);

	if (st && port)
		st->local_port = port;
}

static __always_inline void fix_port(struct sock_event *e, struct sock_state *st)
{
	if (!e->sport && st)
		e->sport = st->local_port;
}

static __always_inline void state_events(struct sock *sk, int oldstate, int newstate)
{
	struct sock_state *st = owned(sk);
	struct owner *o = st ? &st->owner : NULL;
	struct sock_event *e;
	__u64 now = bpf_ktime_get_ns(), in_old = 0;

	if (!st)
		st = bpf_sk_storage_get(&sk_states, sk, 0, 0);
	if (!o && (oldstate == NS_TCP_LISTEN || oldstate == NS_TCP_SYN_RECV))
		o = listener_owner(sk);
	remember_port(sk, st);
	if (st) {
		if (st->state_ns)
			in_old = now - st->state_ns;
		st->state_ns = now;
		if (oldstate == NS_TCP_ESTABLISHED && !st->closer)
			st->closer = closer_of(newstate);
	}
	if (event_on(EV_STATE) && (e = event_new(EV_STATE, o))) {
		event_fill_sock(e, sk);
		fix_port(e, st);
		e->old_state = oldstate;
		e->new_state = newstate;
		e->old_state_ns = in_old;
		bpf_ringbuf_submit(e, 0);
	}
	if (!event_on(EV_CONNECT) || oldstate != NS_TCP_SYN_SENT || !st)
		return;
	if (newstate != NS_TCP_ESTABLISHED && newstate != NS_TCP_CLOSE)
		return;
	e = event_new(EV_CONNECT, o);
	if (!e)
		return;
	event_fill_sock(e, sk);
	fix_port(e, st);
	e->latency_ns = st->connect_ns ? now - st->connect_ns : 0;
	/* A failed connect leaves its errno (ECONNREFUSED, ETIMEDOUT...);
	 * -1 marks one abandoned by the application. */
	if (newstate == NS_TCP_CLOSE)
		e->error = sk->sk_err ? sk->sk_err : -1;
	bpf_ringbuf_submit(e, 0);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *csk, const int oldstate, const int newstate)
{
	struct sock *sk = (struct sock *)csk;

	if (sk->sk_protocol != NS_IPPROTO_TCP)
		return 0;
	count_state(sk, oldstate, newstate);
	/* Time in state and who closed only matter to events. */
	if (event_mask)
		state_events(sk, oldstate, newstate);
	return 0;
}

/* The socket is gone and so is all application I/O on it: the moment for
 * the close (tcplife) event, with what the application really moved. */
/* Counts deaths for the I/O cache (io_cache.bpf.h): a task's kernel stack
 * can pass to another task only after this. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_task_exit)
{
	__sync_fetch_and_add(&task_exits, 1);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	struct sock_state *st = owned(sk);
	struct sock_event *e;

	if (!st || !st->established_ns || !event_on(EV_CLOSE))
		return 0;
	e = event_new(EV_CLOSE, &st->owner);
	if (!e)
		return 0;
	event_fill_sock(e, sk);
	fix_port(e, st);
	/* state_ns is when CLOSE was entered. */
	e->duration_ns = st->state_ns > st->established_ns ? st->state_ns - st->established_ns : 0;
	e->tx_bytes = st->app_tx_total;
	e->rx_bytes = st->app_rx_total;
	e->closer = st->closer;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* Newer kernels also fire the tracepoint for failed attempts and pass
 * `err`; older ones fire only on success and have no third argument. User
 * space reads the prototype from BTF and sets this before load, so the
 * verifier never sees the access on kernels without it. */
const volatile bool retransmit_has_err = true;

/* Counted only when the retransmission was sent (err == 0): exactly the
 * kernel's RetransSegs - TCPRetransFail, segment by segment. */
/* What kind of retransmission, from the congestion state it happens in:
 * an RTO enters Loss first, fast retransmit enters Recovery first, and a
 * tail loss probe fires in Open/Disorder. */
static __always_inline __u8 retrans_kind_of(struct sock *sk)
{
	struct inet_connection_sock *icsk = (struct inet_connection_sock *)sk;
	__u8 ca = BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ca_state);

	if (ca == NS_TCP_CA_LOSS)
		return RETRANS_RTO;
	if (ca == NS_TCP_CA_RECOVERY)
		return RETRANS_FAST;
	if (ca == NS_TCP_CA_OPEN || ca == NS_TCP_CA_DISORDER)
		return RETRANS_TLP;
	return RETRANS_UNKNOWN;
}

SEC("tp_btf/tcp_retransmit_skb")
int on_retransmit(__u64 *ctx)
{
	struct sock *sk = (struct sock *)ctx[0];
	struct sk_buff *skb = (struct sk_buff *)ctx[1];
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)&skb->cb[0];
	struct owner *o;
	struct proc_stats *s;
	struct sock_event *e;
	__u16 segs;

	if (retransmit_has_err && (int)ctx[2])
		return 0;
	segs = BPF_CORE_READ(cb, tcp_gso_segs);
	if (!segs)
		segs = 1;
	remember_port(sk, bpf_sk_storage_get(&sk_states, sk, 0, 0));
	o = owner_of(sk);
	if (o && (s = stats_of(o)))
		ADD(s->tcp_retrans_segs, segs);
	if (event_on(EV_RETRANS) && (e = event_new(EV_RETRANS, o))) {
		event_fill_sock(e, sk);
		e->segs = segs;
		e->retrans_kind = sk->__sk_common.skc_state == NS_TCP_SYN_SENT ? RETRANS_RTO : retrans_kind_of(sk);
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(on_retransmit_synack, const struct sock *sk, const struct request_sock *req)
{
	struct owner *o = owner_of((struct sock *)sk);
	struct proc_stats *s;
	struct sock_event *e;

	if (o && (s = stats_of(o))) {
		ADD(s->tcp_retrans_segs, 1);
		ADD(s->tcp_synack_retrans, 1);
	}
	if (event_on(EV_RETRANS) && (e = event_new(EV_RETRANS, o))) {
		/* The request sock carries the connection's addresses. */
		event_fill_sock(e, (const struct sock *)req);
		e->protocol = NS_IPPROTO_TCP;
		e->segs = 1;
		e->retrans_kind = RETRANS_SYNACK;
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

static __always_inline void reset_event(struct sock *sk, const struct sk_buff *skb, struct owner *o, __u8 direction)
{
	struct sock_event *e = event_new(EV_RESET, o);
	__u8 addr[16];
	__u16 port;

	if (!e)
		return;
	if (sk) {
		event_fill_sock(e, sk);
	} else if (skb) {
		/* No socket: the packet we answer; its destination is our end. */
		event_fill_skb(e, skb);
		__builtin_memcpy(addr, e->saddr, 16);
		__builtin_memcpy(e->saddr, e->daddr, 16);
		__builtin_memcpy(e->daddr, addr, 16);
		port = e->sport;
		e->sport = e->dport;
		e->dport = port;
	}
	e->direction = direction;
	bpf_ringbuf_submit(e, 0);
}

/* Newer kernels pass a reset reason too; not read, so any arity works. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	/* No socket (e.g. a SYN to a closed port): no process to charge. */
	struct owner *o = sk ? owner_of((struct sock *)sk) : NULL;
	struct proc_stats *s;

	if (o && (s = stats_of(o)))
		ADD(s->tcp_resets_sent, 1);
	if (event_on(EV_RESET))
		reset_event((struct sock *)sk, skb, o, 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_receive_reset, struct sock *sk)
{
	struct proc_stats *s;
	struct owner *o;

	remember_port(sk, bpf_sk_storage_get(&sk_states, sk, 0, 0));
	o = owner_of(sk);

	if (o && (s = stats_of(o)))
		ADD(s->tcp_resets_received, 1);
	if (event_on(EV_RESET))
		reset_event(sk, NULL, o, 1);
	return 0;
}

SEC("tp_btf/tcp_cong_state_set")
int BPF_PROG(on_cong_state, struct sock *sk, const __u8 ca_state)
{
	struct inet_connection_sock *icsk = (struct inet_connection_sock *)sk;
	/* Still the old state: the tracepoint fires before the assignment. */
	__u8 old = BPF_CORE_READ_BITFIELD_PROBED(icsk, icsk_ca_state);
	struct proc_stats *s;

	if (ca_state == old && ca_state != NS_TCP_CA_LOSS)
		return 0;
	if (ca_state != NS_TCP_CA_RECOVERY && ca_state != NS_TCP_CA_LOSS)
		return 0;
	s = stats_of_sock(sk);
	if (!s)
		return 0;
	if (ca_state == NS_TCP_CA_RECOVERY)
		ADD(s->tcp_fast_recoveries, 1);
	else
		ADD(s->tcp_rto_timeouts, 1);
	return 0;
}

/* Newer kernels also pass the skb; not read, so any arity works. */
SEC("tp_btf/udp_fail_queue_rcv_skb")
int BPF_PROG(on_udp_fail, int rc, struct sock *sk)
{
	struct proc_stats *s;

	/* -ENOMEM is what the kernel counts as UDP RcvbufErrors. */
	if (rc != -ENOMEM)
		return 0;
	s = stats_of_sock(sk);
	if (s)
		ADD(s->udp_rcvbuf_errors, 1);
	return 0;
}

/* Listen-queue overflow on the listener `sk` (probe-read: it may be any
 * kind of pointer we only hold as a number). */
static __always_inline void overflow_event(const struct sock *sk, struct owner *o, __u8 queue,
					   const struct sock_event *pkt)
{
	struct sock_event *e = event_new(EV_OVERFLOW, o);

	if (!e)
		return;
	event_fill_sock(e, sk);
	if (pkt) {
		/* The remote end is the client whose SYN was dropped. */
		__builtin_memcpy(e->daddr, pkt->saddr, 16);
		e->dport = pkt->sport;
	}
	e->queue = queue;
	e->backlog = BPF_CORE_READ(sk, sk_ack_backlog);
	e->max_backlog = BPF_CORE_READ(sk, sk_max_ack_backlog);
	bpf_ringbuf_submit(e, 0);
}

/* Newer kernels' kfree_skb also passes the receiving socket (set from BTF
 * before load: the verifier refuses reading an argument a kernel lacks). */
const volatile bool kfree_skb_has_rx_sk = true;

/* Every kernel drop with its reason. A final ACK that finds the accept
 * queue full is dropped as TCP_LISTEN_OVERFLOW with the listener as rx_sk. */
SEC("tp_btf/kfree_skb")
int on_kfree_skb(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	void *location = (void *)ctx[1];
	int reason = (int)ctx[2];
	struct sock *rx_sk = kfree_skb_has_rx_sk ? (struct sock *)ctx[3] : NULL;
	struct sock *sk = rx_sk ? rx_sk : skb->sk;
	struct owner *o = sk ? owner_of(sk) : NULL;
	struct sock_event *e;

	if ((__u32)reason == drop_reason_consumed)
		return 0;
	if ((__u32)reason == drop_reason_listen_overflow && rx_sk && event_on(EV_OVERFLOW))
		overflow_event(rx_sk, o, 0, NULL);
	if (!event_on(EV_DROP) || !(e = event_new(EV_DROP, o)))
		return 0;
	event_fill_skb(e, skb);
	if (!e->netns && sk)
		e->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	e->reason = reason;
	e->location = (__u64)location;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/* A SYN that reaches a listener is always consumed (never "dropped") in
 * tcp_rcv_state_process(), even when the full accept queue made the kernel
 * count ListenOverflows and discard it. Seen here, the listener's queue
 * says which: the same test the kernel just made. */
SEC("tp_btf/consume_skb")
int BPF_PROG(on_consume_skb, struct sk_buff *skb, void *location)
{
	struct listener_key k = {};
	struct listen_owner *l;
	struct sock_event probe = {};
	const struct sock *lsk;
	struct dst_entry *dst;
	struct net_device *dev;
	unsigned char *head;
	__u8 flags;

	if ((__u64)location < syn_consumer_lo || (__u64)location >= syn_consumer_hi)
		return 0;
	head = BPF_CORE_READ(skb, head);
	/* TCP flags byte: offset 13 of the header; SYN without ACK. */
	if (bpf_probe_read_kernel(&flags, 1, head + BPF_CORE_READ(skb, transport_header) + 13))
		return 0;
	if ((flags & 0x12) != 0x02)
		return 0;
	event_fill_skb(&probe, skb);
	/* TCP reuses skb->dev by now; the input route still names the device. */
	dst = (struct dst_entry *)(BPF_CORE_READ(skb, _skb_refdst) & ~1UL);
	dev = BPF_CORE_READ(dst, dev);
	k.net = (__u64)BPF_CORE_READ(dev, nd_net.net);
	k.port = probe.dport;
	l = bpf_map_lookup_elem(&listeners, &k);
	if (!l)
		return 0;
	lsk = (const struct sock *)l->sk;
	if (BPF_CORE_READ(lsk, sk_ack_backlog) > BPF_CORE_READ(lsk, sk_max_ack_backlog))
		overflow_event(lsk, l->shared ? NULL : &l->owner, 0, &probe);
	return 0;
}

/* accept()/accept4() return: the caller owns the new socket. Syscall
 * tracepoint contexts are not in BTF, so declare the layout. */
struct syscall_exit_ctx {
	__u64 common;
	long nr;
	long ret;
};

static __always_inline int on_accept_exit(struct syscall_exit_ctx *ctx)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct owner o = {};
	struct file **fds;
	struct file *file;
	struct socket *sock;
	struct sock *sk;
	struct fdtable *fdt;
	struct proc_stats *s;
	struct sock_event *e;
	long fd = ctx->ret;
	__u64 addr;

	if (fd < 0)
		return 0;
	fdt = BPF_CORE_READ(task, files, fdt);
	if (!fdt || fd >= BPF_CORE_READ(fdt, max_fds))
		return 0;
	fds = BPF_CORE_READ(fdt, fd);
	if (bpf_probe_read_kernel(&file, sizeof(file), &fds[fd]) || !file)
		return 0;
	sock = BPF_CORE_READ(file, private_data);
	sk = BPF_CORE_READ(sock, sk);
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != NS_IPPROTO_TCP)
		return 0;
	owner_from_current(&o);
	addr = (__u64)sk;
	if (bpf_map_update_elem(&accepted, &addr, &o, BPF_ANY))
		__sync_fetch_and_add(&losses.accepted_map_full, 1);
	s = stats_of(&o);
	if (s)
		ADD(s->tcp_passive_opens, 1);
	if (event_on(EV_ACCEPT) && (e = event_new(EV_ACCEPT, &o))) {
		event_fill_sock(e, sk);
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_accept4")
int on_accept4_exit(struct syscall_exit_ctx *ctx)
{
	return on_accept_exit(ctx);
}

SEC("tracepoint/syscalls/sys_exit_accept")
int on_accept_exit_plain(struct syscall_exit_ctx *ctx)
{
	return on_accept_exit(ctx);
}

/* End of interval: one record per tracked socket, with the TCP gauges and
 * the I/O pending since the last one. Three ways to walk the sockets, tried
 * in this order in user space (some BPF LSM policies refuse the first): the
 * socket-storage map iterator (every tracked socket), the task-file
 * iterator (every socket a process holds), or iter/tcp + iter/udp, which
 * walk only the network namespace of the thread that opens them, so user
 * space opens them in each namespace of `tracked_netns`. All emit the same
 * records through emit_snapshot(). */
static __always_inline void emit_snapshot(struct seq_file *seq, struct sock *sk)
{
	struct sock_state *st = bpf_sk_storage_get(&sk_states, sk, 0, 0);
	struct sock_snapshot r = {};
	struct tcp_sock *tp;
	struct owner *o;
	__u64 addr;

	if (!st)
		return;
	addr = (__u64)sk;
	r.owner = st->owner;
	if (!r.owner.key.tgid || st->provisional) {
		o = bpf_map_lookup_elem(&accepted, &addr);
		if (o)
			r.owner = *o;
	}
	r.sk = addr;
	r.established_ns = st->established_ns;
	r.family = sk->__sk_common.skc_family;
	r.protocol = sk->sk_protocol;
	r.state = sk->__sk_common.skc_state;
	r.sport = sk->__sk_common.skc_num;
	r.dport = bpf_ntohs(sk->__sk_common.skc_dport);
	r.netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	if (r.family == AF_INET) {
		__builtin_memcpy(r.saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(r.daddr, &sk->__sk_common.skc_daddr, 4);
	} else {
		BPF_CORE_READ_INTO(&r.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r.daddr, sk, __sk_common.skc_v6_daddr);
	}
	if (r.protocol == NS_IPPROTO_TCP) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (tp) {
			r.srtt_us = tp->srtt_us >> 3;
			r.snd_cwnd = tp->snd_cwnd;
			r.snd_wnd = tp->snd_wnd;
			r.rcv_wnd = tp->rcv_wnd;
			r.mss = tp->mss_cache;
			r.in_flight = tp->packets_out - (tp->sacked_out + tp->lost_out) +
				      tp->retrans_out;
			r.write_queue_bytes = tp->write_seq - tp->snd_nxt;
			r.total_retrans = tp->total_retrans;
			r.bytes_acked = tp->bytes_acked;
			r.bytes_received = tp->bytes_received;
		}
	}
	/* The storage through the helper is a map value, where atomics are
	 * allowed: take the pending I/O for this interval. */
	r.tx_bytes = __sync_lock_test_and_set(&st->tx_bytes, 0);
	r.rx_bytes = __sync_lock_test_and_set(&st->rx_bytes, 0);
	r.tx_calls = __sync_lock_test_and_set(&st->tx_calls, 0);
	r.rx_calls = __sync_lock_test_and_set(&st->rx_calls, 0);
	bpf_seq_write(seq, &r, sizeof(r));
}

SEC("iter/bpf_sk_storage_map")
int dump_sockets(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	/* Loaded once: a second read of ctx->sk would be "maybe NULL" again. */
	struct sock *sk = ctx->sk;

	if (sk && ctx->value)
		emit_snapshot(ctx->meta->seq, sk);
	return 0;
}

/* Every open file of every process, once per file table: the sockets among
 * them, in every network namespace in one pass. Sockets no process holds
 * (still in an accept queue, or closed by the application and finishing
 * their FIN exchange) are not seen: their pending I/O is folded when the
 * application closes them (see count_state). The same socket held by
 * several processes is seen once per file table: user space keeps one. */
SEC("iter/task_file")
int dump_files(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct socket *sock;
	struct sock *sk;

	if (!file)
		return 0;
	sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	sk = sock->sk;
	if (sk)
		emit_snapshot(ctx->meta->seq, sk);
	return 0;
}

SEC("iter/tcp")
int dump_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	/* Full sockets only: request and time-wait sockets have no storage. */
	tp = bpf_skc_to_tcp_sock(skc);
	if (tp)
		emit_snapshot(ctx->meta->seq, (struct sock *)tp);
	return 0;
}

SEC("iter/udp")
int dump_udp(struct bpf_iter__udp *ctx)
{
	struct sock *sk = (struct sock *)ctx->udp_sk;

	if (sk)
		emit_snapshot(ctx->meta->seq, sk);
	return 0;
}
