/* SPDX-License-Identifier: GPL-2.0 */
/* The I/O cache (struct io_slot in sockets.h): the common TCP or UDP send
 * or receive is counted in this CPU's slot for its socket, with no socket-storage
 * lookup and no atomic (only this CPU writes its slots; tracepoint programs
 * do not nest on a CPU). Included by sockets.bpf.c after its maps. */
#ifndef NETSIGHT_IO_CACHE_BPF_H
#define NETSIGHT_IO_CACHE_BPF_H

/* The set of a connection (two slots: a direct-mapped cache thrashes as
 * soon as two busy sockets share a slot), from the kernel's hash of its
 * 4-tuple (the verifier allows no arithmetic on the socket pointer). */
static __always_inline __u32 io_set_index(const struct sock *sk, __u32 portpair, __u32 gen)
{
	__u32 h = (sk->__sk_common.skc_hash ^ portpair) * 0x9E3779B1U;

	return ((h >> 16) & (IO_CACHE_SLOTS - 2)) +
	       (bpf_get_smp_processor_id() + (gen & 1) * io_cpus) * IO_CACHE_SLOTS;
}

static __always_inline bool io_slot_is(const struct io_slot *c, const struct sock *sk,
				       __u32 portpair, __u32 tgid, __u32 gen, bool udp)
{
	return c->gen == gen && c->sk == (__u64)sk && c->portpair == portpair &&
	       c->owner.key.tgid == tgid && (c->caller & 1) == udp;
}

/* Starts loading a slot's first line (its key) without waiting for it. */
static __always_inline void io_slot_start_load(const struct io_slot *c)
{
	(void)*(const volatile __u64 *)&c->sk;
}

/* Moves a slot's counts of this interval into its owner's counters. */
static __always_inline void io_slot_flush(struct io_slot *c)
{
	struct proc_stats *s;

	if (!c->sk || (!c->tx_calls && !c->rx_calls))
		return;
	s = stats_of(&c->owner);
	if (!s)
		return;
	if (c->caller & 1) {
		ADD(s->udp_tx_bytes, c->tx_bytes);
		ADD(s->udp_tx_packets, c->tx_calls);
		ADD(s->udp_rx_bytes, c->rx_bytes);
		ADD(s->udp_rx_packets, c->rx_calls);
		return;
	}
	ADD(s->tcp_tx_bytes, c->tx_bytes);
	ADD(s->tcp_tx_calls, c->tx_calls);
	ADD(s->tcp_rx_bytes, c->rx_bytes);
	ADD(s->tcp_rx_calls, c->rx_calls);
}

/* x86_64's kernel stacks are 16 KiB or more, aligned to their size: a
 * 16 KiB region of one belongs to that stack alone. */
#define NS_STACK_REGION_SHIFT 14

/* The kernel stack the program runs on (its context lies there), as a
 * number: through the slot's memory, which the verifier allows. */
static __always_inline __u64 stack_region(struct io_slot *c, void *ctx)
{
	*(void *volatile *)&c->scratch = ctx;
	return *(volatile __u64 *)&c->scratch >> NS_STACK_REGION_SHIFT;
}

/* The slot counted this connection for the calling task in this interval,
 * known without asking the kernel who calls: the call runs on the same
 * kernel stack as then, and no task has exited since. Two live tasks never
 * share a stack, and a dead task's stack goes to another task only after
 * on_task_exit counted the death, so the caller is the task that was
 * checked then, of the same process. */
static __always_inline bool io_slot_of_caller(const struct io_slot *c, const struct sock *sk,
					      __u32 portpair, __u32 gen, __u64 caller, __u32 exits)
{
	return c->gen == gen && c->sk == (__u64)sk && c->portpair == portpair &&
	       c->caller == caller && c->exits == exits;
}

/* Counts one TCP or UDP send/receive in the cache; false when the caller
 * must count it the long way (TCP socket closed, owner not the caller).
 * `ctx`: the program's context, on the calling task's kernel stack. */
static __always_inline bool cached_io(struct sock *sk, int ret, bool tx, void *ctx, bool udp)
{
	__u32 gen = epoch;
	__u32 portpair = sk->__sk_common.skc_portpair;
	__u32 idx = io_set_index(sk, portpair, gen);
	__u32 tgid, exits, way1 = idx ^ 1;
	__u64 caller, sampled;
	struct io_slot *c, *other;
	struct sock_state *st;
	struct proc_stats *s;

	/* A closed TCP socket's I/O was folded at close: count it directly
	 * (an unconnected UDP socket is always in this state, and never folded). */
	if (!udp && sk->__sk_common.skc_state == NS_TCP_CLOSE)
		return false;
	c = bpf_map_lookup_elem(&io_cache, &idx);
	other = bpf_map_lookup_elem(&io_cache, &way1);
	if (!c || !other)
		return false;
	exits = task_exits;
	caller = stack_region(c, ctx) << 1 | udp;
	if (caller_by_stack) {
		if (io_slot_of_caller(c, sk, portpair, gen, caller, exits))
			goto count;
		if (io_slot_of_caller(other, sk, portpair, gen, caller, exits)) {
			c = other;
			goto count;
		}
	}
	/* Both ways' lines load while the helper runs: a receive is often the
	 * first touch of its connection in a request, so they come from far
	 * away, and nothing after a helper's return (a mitigation thunk on
	 * some CPUs) starts before it. -5..-10 ns per call (BENCHMARKS.md). */
	io_slot_start_load(c);
	io_slot_start_load(other);
	tgid = bpf_get_current_pid_tgid() >> 32;
	if (!io_slot_is(c, sk, portpair, tgid, gen, udp)) {
		if (io_slot_is(other, sk, portpair, tgid, gen, udp))
			goto hit;
		/* A miss: the socket is claimed as always (ownership for the
		 * other programs); the slot to reuse is an empty one (of an
		 * older interval), else the less busy one, whose counts go
		 * to their owner first. */
		st = claim(sk);
		if (!st || st->owner.key.tgid != tgid)
			return false;
		if (c->gen == gen && (other->gen != gen ||
				      other->tx_calls + other->rx_calls < c->tx_calls + c->rx_calls))
			c = other;
		if (c->gen == gen)
			io_slot_flush(c);
		c->gen = gen;
		c->sk = (__u64)sk;
		c->portpair = portpair;
		c->owner = st->owner;
		c->tx_bytes = c->tx_calls = c->rx_bytes = c->rx_calls = 0;
		c->rtt_sampled = st->rtt_sampled_jiffies;
	}
	goto remember;
hit:
	c = other;
remember:
	c->caller = caller;
	c->exits = exits;
count:
	if (tx) {
		c->tx_bytes += ret;
		c->tx_calls++;
	} else {
		c->rx_bytes += ret;
		c->rx_calls++;
	}
	/* The call counts are 32 bits (the hit's line is full): a socket
	 * that moves 2^31 datagrams or writes in one interval on one CPU
	 * hands them to its owner early rather than wrap. */
	if ((c->tx_calls | c->rx_calls) & 0x80000000U) {
		io_slot_flush(c);
		c->tx_bytes = c->tx_calls = c->rx_bytes = c->rx_calls = 0;
	}
	if (!udp && (__u32)bpf_jiffies64() - c->rtt_sampled >= rtt_sample_ticks()) {
		s = stats_of(&c->owner);
		if (s) {
			sample_rtt(sk, &sampled, s);
			c->rtt_sampled = sampled;
		}
	}
	return true;
}

#endif
