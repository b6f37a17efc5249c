/* SPDX-License-Identifier: GPL-2.0 */
/* Types shared by xdp.bpf.c and Rust (through the skeleton's types). */
#ifndef NETSIGHT_XDP_H
#define NETSIGHT_XDP_H

/* Rule slots index the per-CPU hit counters; they are preallocated, so
 * their memory is 8 bytes * XDP_MAX_RULES * possible CPUs. */
#define XDP_MAX_RULES (1 << 18)

/* The hit counters, per CPU, in chunks of HIT_CHUNK rule slots: slot s
 * counts in n[s % HIT_CHUNK] of chunk s / HIT_CHUNK. A flood spread over
 * many rules then pays one cache miss per packet for its counter (the
 * value); a per-CPU array of single u64s paid two (its table of per-CPU
 * pointers, 2 MB at 2^18 slots, then the value). 16 KB values stay well
 * under the per-CPU allocator's 32 KB unit. The counters only ever grow:
 * a slot handed to a new rule starts from the count user space records in
 * hit_base, since rewriting a chunk would lose other slots' increments. */
#define HIT_CHUNK 2048
#define HIT_CHUNKS (XDP_MAX_RULES / HIT_CHUNK)

struct hit_chunk {
	__u64 n[HIT_CHUNK];
};
/* Attachments (interface slots) across every network namespace. */
#define XDP_MAX_IFACES 64

/* Keys of the prefix hashes pfx_v4 / pfx_v6: the prefix length in bits
 * (host order), then the address with its host bits zeroed (network order).
 * A source matches a /L rule when (L, source masked to L bits) is a key. */
struct pfx_v4_key {
	__u32 prefixlen;
	__be32 addr;
};

struct pfx_v6_key {
	__u32 prefixlen;
	__be32 addr[4];
};

/* The compact IPv4 table (the program searches its CPU's copy of it,
 * pfx4_cpu below): buckets of
 * PFX4_WAYS entries, one cache line each, so a spread flood pays one miss
 * per length tried instead of a hash bucket and an element. A key lives in
 * its home bucket or one of the next PFX4_PROBES - 1; a bucket with an
 * empty entry ends the search. pfx_v4 stays the record of the rules (and
 * what older program instances read); a rule the table cannot place is
 * counted in pfx4_meta and then looked up in pfx_v4 too.
 * Entry: bit 63 valid, bits 38..55 rule slot, bits 32..37 prefix length,
 * bits 0..31 the masked address as loaded from the packet (network order
 * bytes). 0: empty; PFX4_TOMBSTONE: deleted (searched past, reusable). */
#define PFX4_WHOLE_BITS 16
#define PFX4_BUCKETS (1 << PFX4_WHOLE_BITS)
#define PFX4_WAYS 8
#define PFX4_PROBES 4
#define PFX4_VALID (1ULL << 63)
#define PFX4_TOMBSTONE 1ULL
#define PFX4_SLOT_SHIFT 38
#define PFX4_LEN_SHIFT 32
#define PFX4_KEY_MASK (PFX4_VALID | (0x3FULL << PFX4_LEN_SHIFT) | 0xFFFFFFFFULL)
/* Multiplier of the bucket hash (Fibonacci hashing), shared with Rust. */
#define PFX4_HASH_MUL 0x9E3779B97F4A7C15ULL

struct pfx4_bucket {
	__u64 e[PFX4_WAYS];
};

/* The table again once per possible CPU, in pfx4_cpu (bucket b of CPU c at
 * index c * PFX4_BUCKETS + b): each entry the shared entry's key bits with,
 * in place of the slot, that CPU's hit count for the rule (bits 38..62). A
 * spread flood then touches one line per packet, the one holding its key,
 * and counts there without atomics shared between CPUs. The program counts
 * by compare-and-swap so that an entry user space replaced meanwhile is
 * never written back. PFX4_COUNT_MAX marks a carry in progress: the count
 * reached it, so the program adds PFX4_COUNT_MAX to the rule's slot in
 * hit_chunks (the slot read from the shared table) and then zeroes the
 * count. User space writes the shared entry and every copy (a new key: the
 * shared entry first, so a carry finds the slot; a delete: the copies
 * first, so the program stops matching). */
#define PFX4_COUNT_SHIFT 38
#define PFX4_COUNT_MAX ((1ULL << 25) - 1)
#define PFX4_COUNT_ONE (1ULL << PFX4_COUNT_SHIFT)

/* The part of the table in use: the search hashes into 2^bits buckets
 * from bucket base (0 for even bits, PFX4_HALF for odd ones), so the lines
 * a spread flood touches grow with the rules (~11 bytes per rule at the
 * most), not with the map (4 MB per copy): 100k rules fit in 1 MB, about
 * one L2. To grow, user space fills the other half of the map with twice
 * the buckets, switches geo_bits, waits for the runs still searching the
 * old part, then moves their counts to hit_base as it clears it.
 * User space writes this entry with a syscall, a memcpy that may store
 * byte by byte, so each write changes at most one byte the program reads
 * (geo_bits or any_spilled) and the program loads the entry in one go.
 * State pinned before had a u64 spill count here: geo_tag 0. The program
 * searches the whole map for an entry not tagged ours (or with bits no
 * netsight writes), then pfx_v4. */
#define PFX4_GEO_TAG 0x47
#define PFX4_MIN_BITS 10
#define PFX4_MAX_BITS 15
#define PFX4_HALF (PFX4_BUCKETS / 2)

struct pfx4_meta {
	__u32 spilled; /* IPv4 rules only in pfx_v4 (the table had no room) */
	__u8 geo_tag; /* PFX4_GEO_TAG once user space set the fields below */
	__u8 geo_bits;
	__u8 any_spilled; /* spilled != 0, what the program reads */
	__u8 pad;
};

/* Which prefix lengths have at least one rule, so a lookup only tries those,
 * longest first. IPv4 /L is bit L of v4; IPv6 /L is bit L % 64 of v6[L / 64].
 * User space sets a bit before inserting the first rule of that length and
 * clears it after deleting the last one: a reader that sees a half-written
 * value sees a superset of the lengths in use, never less. */
struct prefix_lens {
	__u64 v4;
	__u64 v6[3];
};

/* Per interface, per CPU: every packet the program saw, by verdict. */
struct iface_counters {
	__u64 passed;
	__u64 dropped;
};

enum xdp_attach_mode {
	XDP_ATTACH_NONE = 0,
	XDP_ATTACH_NATIVE = 1,
	XDP_ATTACH_GENERIC = 2,
};

/* What user space remembers about one attachment (never read by BPF). */
struct iface_entry {
	__u64 netns_ino;
	__u32 ifindex;
	__u32 mode; /* enum xdp_attach_mode, XDP_ATTACH_NONE = free slot */
	char ifname[16];
};

#endif
