/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared by sockets.bpf.c and Rust (through the skeleton's types). */
#ifndef NETSIGHT_SOCKETS_H
#define NETSIGHT_SOCKETS_H

/* A process, robust to pid reuse: the pid plus the leader's start time. */
struct proc_key {
	__u32 tgid;
	__u32 _pad;
	__u64 start_ns;
};

/* Who owns a socket; filled in process context, read in softirq/timers. */
struct owner {
	struct proc_key key;
	__u64 cgroup_id;
	char comm[16];
};

/* Per-socket state kept in socket-local storage (freed with the socket). */
struct sock_state {
	struct owner owner;
	__u64 established_ns; /* 0 until the connection is established */
	__u64 connect_ns;     /* when SYN_SENT was entered (active opens) */
	__u64 rtt_sampled_jiffies; /* last RTT sample, 100 ms apart */
	__u64 state_ns;            /* when the current TCP state was entered */
	__u64 app_tx_total;        /* what the application sent, for close events */
	__u64 app_rx_total;
	__u8 closer;               /* enum closer: who sent the first FIN */
	__u8 _pad2[5];
	/* The kernel zeroes the local port when the socket unhashes, before
	 * the CLOSE transition is traced: events use this copy. */
	__u16 local_port;
	/* TCP I/O not yet charged to the owner's counters: moved there by the
	 * socket iterator each interval, at close, and when the owner changes.
	 * Counting here keeps the send/recv path free of hash lookups. */
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
	/* Owner is the listener's, until accept() names the real one. */
	__u8 provisional;
	__u8 _pad[7];
};

/* A listening port in one network namespace. */
struct listener_key {
	__u64 net;
	__u32 port;
	__u32 _pad;
};

struct listen_owner {
	struct owner owner;
	__u64 sk; /* the listening socket, to read its queues */
	/* Several processes listen on this port (SO_REUSEPORT): no single
	 * owner can be named for connections not yet accepted. */
	__u8 shared;
	__u8 _pad[7];
};

/* RTT histogram: values below 16 us get one bucket each; above, every
 * power of two is split in 4 (<= 12.5% bucket width). */
#define RTT_LINEAR 16
#define RTT_SUB_BITS 2
#define RTT_BUCKETS (RTT_LINEAR + 28 * (1 << RTT_SUB_BITS)) /* 128 */

/* Per-process counters for one interval. Field order is the contract with
 * src/probes/sockets/raw.rs (generated from this through the skeleton). */
struct proc_stats {
	char comm[16];
	__u64 cgroup_id;
	__u64 tcp_tx_bytes;
	__u64 tcp_rx_bytes;
	__u64 tcp_tx_calls;
	__u64 tcp_rx_calls;
	__u64 tcp_active_opens;
	__u64 tcp_passive_opens;
	__u64 tcp_closes;
	__u64 tcp_connect_failures;
	__u64 tcp_resets_sent;
	__u64 tcp_resets_received;
	__u64 tcp_retrans_segs;
	__u64 tcp_synack_retrans;
	__u64 tcp_fast_recoveries;
	__u64 tcp_rto_timeouts;
	__u64 udp_tx_bytes;
	__u64 udp_rx_bytes;
	__u64 udp_tx_packets;
	__u64 udp_rx_packets;
	__u64 udp_rcvbuf_errors;
	__u64 closed_duration_ns_max;
	__u64 rtt_sum_us;
	__u64 rtt_count;
	__u64 rtt_min_us;
	__u64 rtt_max_us;
	__u32 rtt_hist[RTT_BUCKETS];
};

/* One open socket, written by the socket iterator at the end of an interval. */
struct sock_snapshot {
	struct owner owner;
	__u64 sk;
	__u64 established_ns;
	__u16 family;
	__u16 protocol;
	__u8 state;
	__u8 _pad[3];
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 srtt_us;
	__u32 snd_cwnd;
	__u32 snd_wnd;
	__u32 rcv_wnd;
	__u32 mss;
	__u32 in_flight;
	__u32 write_queue_bytes;
	__u32 total_retrans;
	/* Inode of the socket's network namespace (fills the hole before bytes_acked). */
	__u32 netns;
	__u64 bytes_acked;
	__u64 bytes_received;
	/* TCP I/O since the last snapshot (see sock_state). */
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
};

/* Each CPU's cache of the TCP and UDP sockets it moved data on lately: a
 * send or receive that finds its socket here (same address, same ports,
 * same process) is counted in the slot, without the socket-storage lookup.
 * Slots are written in interval `gen`'s half (gen & 1) only; user space
 * reads the half of the interval that just ended, and a slot of an older
 * interval counts as empty. */
#define IO_CACHE_SLOTS 512 /* per half, a power of two: 256 sets of 2 */
#define IO_SLOT_SIZE 128   /* two cache lines, the first all a hit touches */
struct io_slot {
	/* What a hit reads and writes, first (64 bytes). */
	__u32 gen;      /* the interval (epoch) these counts belong to */
	__u32 portpair; /* with sk: which connection (addresses are reused) */
	__u64 sk;
	/* Which task counted here last (io_cache.bpf.h): its kernel-stack
	 * region shifted left by one, the low bit set if the socket is UDP
	 * (the hit's one compare checks both); and how many tasks had exited
	 * by then. */
	__u64 caller;
	__u32 exits;
	__u32 rtt_sampled; /* jiffies (low 32 bits) of the last RTT sample (TCP) */
	__u32 tx_calls;    /* flushed before they wrap (io_cache.bpf.h) */
	__u32 rx_calls;
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 scratch; /* the context's address, read back as a number */
	struct owner owner;
	__u8 _pad[IO_SLOT_SIZE - 64 - sizeof(struct owner)];
};

/* Things the kernel side could not record; shown as lost events. */
struct sockets_losses {
	__u64 stats_map_full;
	__u64 accepted_map_full;
	__u64 ringbuf_full;
};

/* Event kinds; bit (1 << kind) of event_mask enables one. */
enum event_kind {
	EV_CONNECT = 1,
	EV_ACCEPT = 2,
	EV_CLOSE = 3,
	EV_STATE = 4,
	EV_RETRANS = 5,
	EV_RESET = 6,
	EV_DROP = 7,
	EV_OVERFLOW = 8,
};

enum closer { CLOSER_UNKNOWN = 0, CLOSER_LOCAL = 1, CLOSER_REMOTE = 2, CLOSER_RESET = 3 };
enum retrans_kind { RETRANS_UNKNOWN = 0, RETRANS_RTO = 1, RETRANS_FAST = 2, RETRANS_TLP = 3, RETRANS_SYNACK = 4 };

/* One event for `netsight trace`. Common fields first; the kind-specific
 * ones are flat (unused ones stay zero) so Rust reads them without unions. */
struct sock_event {
	__u64 ts_ns;
	struct owner owner; /* zero when no process can be named */
	__u32 netns;
	__u8 kind;
	__u8 family;
	__u8 protocol;
	__u8 state;
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	__u64 latency_ns;  /* connect */
	__s32 error;       /* connect: 0 or the socket's errno */
	__u8 old_state;    /* state */
	__u8 new_state;
	__u8 closer;       /* close */
	__u8 retrans_kind; /* retrans */
	__u64 old_state_ns; /* state: time spent in old_state */
	__u64 duration_ns;  /* close */
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u32 segs;         /* retrans */
	__u32 reason;       /* drop: skb_drop_reason number */
	__u64 location;     /* drop: kernel address that freed the skb */
	__u8 direction;     /* reset: 0 sent, 1 received */
	__u8 queue;         /* overflow: 0 accept, 1 syn */
	__u8 _pad[2];
	__u32 backlog;      /* overflow */
	__u32 max_backlog;
	__u32 _pad2;
};

#endif
