/* SPDX-License-Identifier: GPL-2.0 */
/* Socket ownership: which process owns a socket, kept in socket-local
 * storage, set in process context and read from any context; and the
 * per-process counters it is charged to. Included by sockets.bpf.c after
 * its maps. */
#ifndef NETSIGHT_OWNER_BPF_H
#define NETSIGHT_OWNER_BPF_H

static __always_inline void owner_from_current(struct owner *o)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	o->key.tgid = bpf_get_current_pid_tgid() >> 32;
	o->key._pad = 0;
	o->key.start_ns = BPF_CORE_READ(task, group_leader, start_time);
	o->cgroup_id = bpf_get_current_cgroup_id();
	/* The process's name, not the thread's (a worker thread may be called
	 * "influx-sender"; the process is still netsight). */
	BPF_CORE_READ_STR_INTO(&o->comm, task, group_leader, comm);
}

static __always_inline struct proc_stats *stats_in(void *map, const struct owner *o)
{
	struct proc_stats *s = bpf_map_lookup_elem(map, &o->key);

	if (s)
		return s;
	bpf_map_update_elem(map, &o->key, &zero_stats, BPF_NOEXIST);
	s = bpf_map_lookup_elem(map, &o->key);
	if (!s) {
		__sync_fetch_and_add(&losses.stats_map_full, 1);
		return NULL;
	}
	__builtin_memcpy(s->comm, o->comm, sizeof(s->comm));
	s->cgroup_id = o->cgroup_id;
	return s;
}

static __always_inline struct proc_stats *stats_of(const struct owner *o)
{
	if (epoch & 1)
		return stats_in(&stats_b, o);
	return stats_in(&stats_a, o);
}

/* Moves a socket's pending TCP I/O into a process's counters. The exchange
 * makes each byte land exactly once, whoever folds concurrently. */
static __always_inline void fold_io(struct sock_state *st, struct proc_stats *s)
{
	__u64 v;

	v = __sync_lock_test_and_set(&st->tx_bytes, 0);
	if (v)
		ADD(s->tcp_tx_bytes, v);
	v = __sync_lock_test_and_set(&st->tx_calls, 0);
	if (v)
		ADD(s->tcp_tx_calls, v);
	v = __sync_lock_test_and_set(&st->rx_bytes, 0);
	if (v)
		ADD(s->tcp_rx_bytes, v);
	v = __sync_lock_test_and_set(&st->rx_calls, 0);
	if (v)
		ADD(s->tcp_rx_calls, v);
}

/* A passively opened socket's first use by a process: that process
 * accepted it. With the accept tracepoints on, accept() already named the
 * owner and counted the open; otherwise the open is counted here. */
static __always_inline void adopt(struct sock *sk, struct sock_state *st)
{
	__u64 addr = (__u64)sk;
	struct owner *o = bpf_map_lookup_elem(&accepted, &addr);
	struct proc_stats *s;

	st->provisional = 0;
	if (o) {
		st->owner = *o;
		bpf_map_delete_elem(&accepted, &addr);
		return;
	}
	owner_from_current(&st->owner);
	s = stats_of(&st->owner);
	if (s)
		ADD(s->tcp_passive_opens, 1);
}

/* Process context: the current task uses the socket, so it owns it now. */
static __always_inline struct sock_state *claim(struct sock *sk)
{
	struct sock_state *st;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;

	st = bpf_sk_storage_get(&sk_states, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return NULL;
	if (st->provisional) {
		adopt(sk, st);
	} else if (st->owner.key.tgid != tgid) {
		/* Pending I/O belongs to the previous owner. */
		if (st->owner.key.tgid) {
			struct proc_stats *s = stats_of(&st->owner);

			if (s)
				fold_io(st, s);
		}
		owner_from_current(&st->owner);
		if (track_netns) {
			__u32 inum = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);

			bpf_map_update_elem(&tracked_netns, &inum, &tgid, BPF_ANY);
		}
	}
	return st;
}

/* Any context: the socket's owner, or NULL if no process has claimed it. */
static __always_inline struct sock_state *owned(struct sock *sk)
{
	struct sock_state *st;
	struct owner *o;
	__u64 addr = (__u64)sk;

	if (!sk)
		return NULL;
	st = bpf_sk_storage_get(&sk_states, sk, 0, 0);
	if (!st)
		return NULL;
	if (st->owner.key.tgid && !st->provisional)
		return st;
	o = bpf_map_lookup_elem(&accepted, &addr);
	if (!o)
		return st->owner.key.tgid ? st : NULL;
	st->owner = *o;
	st->provisional = 0;
	bpf_map_delete_elem(&accepted, &addr);
	return st;
}

static __always_inline void listener_key_of(const struct sock *sk, struct listener_key *k)
{
	k->net = (__u64)BPF_CORE_READ(sk, __sk_common.skc_net.net);
	k->port = sk->__sk_common.skc_num;
	k->_pad = 0;
}

static __always_inline void listener_add(struct sock *sk, const struct owner *o)
{
	struct listener_key k;
	struct listen_owner *l, fresh = {};

	listener_key_of(sk, &k);
	l = bpf_map_lookup_elem(&listeners, &k);
	if (l) {
		if (l->owner.key.tgid != o->key.tgid)
			l->shared = 1;
		return;
	}
	fresh.owner = *o;
	fresh.sk = (__u64)sk;
	bpf_map_update_elem(&listeners, &k, &fresh, BPF_NOEXIST);
}

static __always_inline void listener_del(struct sock *sk)
{
	struct listener_key k;

	listener_key_of(sk, &k);
	bpf_map_delete_elem(&listeners, &k);
}

/* A passively opened connection starts out owned by its listener's process
 * (unless the port is shared by several); accept() corrects it. */
static __always_inline void inherit_listener(struct sock *sk, struct sock_state *st)
{
	struct listener_key k;
	struct listen_owner *l;

	if (st->owner.key.tgid)
		return;
	listener_key_of(sk, &k);
	l = bpf_map_lookup_elem(&listeners, &k);
	if (!l || l->shared)
		return;
	st->owner = l->owner;
	st->provisional = 1;
}

static __always_inline struct proc_stats *stats_of_sock(struct sock *sk)
{
	struct sock_state *st = owned(sk);

	return st ? stats_of(&st->owner) : NULL;
}

static __always_inline struct owner *owner_of(struct sock *sk)
{
	struct sock_state *st = owned(sk);

	return st ? &st->owner : NULL;
}

/* The listener's process, for a passive connection nobody claimed yet. */
static __always_inline struct owner *listener_owner(struct sock *sk)
{
	struct listener_key k;
	struct listen_owner *l;

	listener_key_of(sk, &k);
	l = bpf_map_lookup_elem(&listeners, &k);
	return l && !l->shared ? &l->owner : NULL;
}

#endif
