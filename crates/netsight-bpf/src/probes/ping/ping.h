/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared by ping.bpf.c and Rust (through the skeleton's types). */
#ifndef NETSIGHT_PING_H
#define NETSIGHT_PING_H

/* The probe's wire format (big-endian on the wire): an ICMP echo with code
 * PING_CODE_MAGIC, then a 16-byte header with PING_HDR_MAGIC carrying the
 * full 32-bit id and seq, then room for PING_MAX_ENTRIES 16-byte entries.
 * An enum, not macros, so Rust gets the same numbers from the skeleton. */
enum ping_wire {
	PING_CODE_MAGIC = 1,
	PING_HDR_MAGIC = 0x7ace,
	/* Set on the server's second ("compact") reply, which carries its
	 * timestamps: the kernel side ignores those packets. */
	PING_F_DONTADD = 1,
	PING_MAX_ENTRIES = 8,
	/* Payload after the ICMP header: the header and every entry. */
	PING_MIN_PAYLOAD = 16 + 8 * 16,
	/* The smallest probe: IPv4 header, ICMP header, payload (IPv6 adds 20). */
	PING_MIN_IP_LEN = 20 + 8 + 16 + 8 * 16,
};

/* Where a probe packet was seen. The numbers are the contract with
 * crates/netsight/src/cmd/ping (through the skeleton's enum). */
enum ping_point {
	PT_SOFTIRQ = 0,    /* last NET_RX softirq raise on the CPU, read at RECV */
	PT_RECV = 1,       /* net:netif_receive_skb */
	PT_DATA_READY = 2, /* sock:sk_data_ready of a raw ICMP socket (no skb: per-CPU join) */
	PT_QUEUE = 3,      /* net:net_dev_queue */
	PT_START_XMIT = 4, /* net:net_dev_start_xmit */
	PT_XMIT = 5,       /* net:net_dev_xmit (skb not read: joined by pointer on the CPU) */
	PT_WAKEUP = 6,     /* sched:sched_wakeup of the client's thread */
	PT_COUNT = 7,
};

enum ping_kind { KIND_ECHO = 0, KIND_REPLY = 1 };

/* One sighting of a probe packet, sent to user space (probes are rare, so
 * every sighting goes out and user space does the joining). */
struct ping_hit {
	__u64 ts_ns; /* CLOCK_MONOTONIC, as bpf_ktime_get_ns */
	__u32 id;
	__u32 seq;
	__u32 netns; /* inode of the device's (or socket's) namespace */
	__u32 ifindex;
	__u32 cpu;
	__u8 point; /* enum ping_point */
	__u8 kind;  /* enum ping_kind */
	__u8 _pad[2];
};

/* Sightings the ring buffer had no room for; shown as lost. */
struct ping_losses {
	__u64 ringbuf_full;
};

#endif
