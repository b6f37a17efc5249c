/* SPDX-License-Identifier: GPL-2.0 */
/* Longest-prefix match with one hash lookup per prefix length in use,
 * longest first. The kernel's LPM trie walks one node (one cache miss) per
 * level, ~17 levels for 100k prefixes; a blocklist uses few lengths, so this
 * costs the same for 1 rule as for 100k of the same length. */
#ifndef NETSIGHT_XDP_PREFIX_MATCH_H
#define NETSIGHT_XDP_PREFIX_MATCH_H

#include "xdp.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, XDP_MAX_RULES);
	__type(key, struct pfx_v4_key);
	__type(value, __u32); /* rule slot */
} pfx_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, XDP_MAX_RULES);
	__type(key, struct pfx_v6_key);
	__type(value, __u32); /* rule slot */
} pfx_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct prefix_lens);
} pfx_lens SEC(".maps");

/* The shared compact table: the record of where each IPv4 rule sits and
 * its slot (the program reads it only to carry a count, xdp.h). Written by
 * user space through mmap, one 8-byte store per entry, so a reader sees an
 * entry whole or not at all. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PFX4_BUCKETS);
	__type(key, __u32);
	__type(value, struct pfx4_bucket);
} pfx4_table SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pfx4_meta);
} pfx4_meta SEC(".maps");

/* xdp.h: the table once per CPU, with the counts. max_entries is set at
 * load time to PFX4_BUCKETS times the possible CPUs. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, PFX4_BUCKETS);
	__type(key, __u32);
	__type(value, struct pfx4_bucket);
} pfx4_cpu SEC(".maps");

/* A source's rule: either a compact-table entry of this CPU's copy (entry,
 * the value read there, its table index `at`, its key bits `key`) or a
 * slot of hit_chunks. */
struct v4_match {
	__u64 *entry;
	__u64 seen;
	__u64 key;
	__u32 at;
	__u32 slot;
};

/* The part of the table in use (xdp.h: pfx4_meta). */
struct pfx4_geo {
	__u32 base;
	__u32 bits;
	__u32 spilled;
};

/* 1 if x != 0, else 0, without a branch (BPF has no setcc; the barrier
 * keeps clang from making it a compare and a jump again). */
static __always_inline __u32 nonzero(__u64 x)
{
	__u64 neg = -x;

	barrier_var(neg);
	return (x | neg) >> 63;
}

/* Decoded without a branch on purpose: a branch here gives the verifier one
 * kind of geometry per side (a constant 16, a range, ...), and it walks the
 * 33-length loop of match_v4 once per kind (4x the load time). Computed,
 * every path reaches the loop with the same unknown scalars. */
static __always_inline struct pfx4_geo pfx4_geometry(const struct pfx4_meta *meta)
{
	/* One load: the fields as one write left them. */
	__u64 whole = *(volatile const __u64 *)meta;
	struct pfx4_meta m;
	struct pfx4_geo geo;
	__u32 theirs, odd_bits;

	__builtin_memcpy(&m, &whole, sizeof(m));
	/* Not ours (state pinned before geometries) or bits no netsight writes
	 * (outside MIN..MAX, so one of the two differences is negative): the
	 * whole map, and pfx_v4 after it. */
	odd_bits = ((__u32)(m.geo_bits - PFX4_MIN_BITS) | (__u32)(PFX4_MAX_BITS - m.geo_bits)) >> 31;
	theirs = nonzero(m.geo_tag ^ PFX4_GEO_TAG) | odd_bits;
	/* Else clang turns the uses of this 0 or 1 back into jumps. */
	barrier_var(theirs);
	geo.bits = (m.geo_bits & (theirs - 1)) | (theirs * PFX4_WHOLE_BITS);
	geo.base = (geo.bits & 1) * PFX4_HALF;
	geo.spilled = m.any_spilled | theirs;
	return geo;
}

static __always_inline __u32 pfx4_home(__u32 addr, __u32 len, __u32 bits)
{
	return (((__u64)len << 32 | addr) * PFX4_HASH_MUL) >> (64 - bits);
}

static __always_inline __u64 pfx4_key(__u32 addr, __u32 len)
{
	return PFX4_VALID | ((__u64)len << PFX4_LEN_SHIFT) | addr;
}

/* 1 if (len, addr) is in this CPU's copy of the table (copy: the index of
 * its first bucket), with m set; 0 if not. */
static __always_inline int pfx4_find(__u32 addr, __u32 len, __u32 copy, struct pfx4_geo geo,
				     struct v4_match *m)
{
	__u64 want = pfx4_key(addr, len);
	__u32 mask, home;

	mask = (1U << geo.bits) - 1;
	home = pfx4_home(addr, len, geo.bits);
	for (int p = 0; p < PFX4_PROBES; p++) {
		__u32 bucket = geo.base + ((home + p) & mask);
		__u32 key = copy + bucket;
		struct pfx4_bucket *b = bpf_map_lookup_elem(&pfx4_cpu, &key);
		bool open = false;

		if (!b)
			return 0;
		for (int w = 0; w < PFX4_WAYS; w++) {
			__u64 e = *(volatile __u64 *)&b->e[w];

			if ((e & PFX4_KEY_MASK) == want) {
				m->entry = &b->e[w];
				m->seen = e;
				m->key = want;
				m->at = bucket * PFX4_WAYS + w;
				return 1;
			}
			open |= e == 0;
		}
		if (open)
			return 0;
	}
	return 0;
}

/* Index of the highest set bit of x != 0: smear it down, count the ones.
 * Branch-free on purpose: branches here multiply the paths the verifier
 * explores per loop iteration past its limit; and clang 14 cannot lower
 * __builtin_clzll for BPF (it loops until out of memory). */
static __always_inline __u32 top_bit(__u64 x)
{
	x |= x >> 1;
	x |= x >> 2;
	x |= x >> 4;
	x |= x >> 8;
	x |= x >> 16;
	x |= x >> 32;
	x -= (x >> 1) & 0x5555555555555555ULL;
	x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
	x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
	return (__u32)((x * 0x0101010101010101ULL) >> 56) - 1;
}

/* Network-order mask of the first `bits` (0..=32) bits of a word; the
 * 64-bit shift keeps bits == 0 defined. */
static __always_inline __be32 mask32(__u32 bits)
{
	return bpf_htonl((__u32)(~0ULL << (32 - bits)));
}

/* Bits of a /len prefix that fall in 32-bit word `word` of an address. */
static __always_inline __u32 word_bits(__u32 len, __u32 word)
{
	__u32 start = word * 32;

	if (len <= start)
		return 0;
	return len - start >= 32 ? 32 : len - start;
}

static __always_inline struct prefix_lens *lens_in_use(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pfx_lens, &zero);
}

static __always_inline struct pfx4_meta *v4_meta(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&pfx4_meta, &zero);
}

/* The longest IPv4 prefix holding saddr: 1 and *m, or 0. */
static __always_inline int match_v4(__be32 saddr, struct v4_match *m)
{
	struct prefix_lens *lens = lens_in_use();
	struct pfx4_meta *meta = v4_meta();
	/* Possible CPUs are numbered from 0, and the copies were sized for them. */
	__u32 copy = bpf_get_smp_processor_id() * PFX4_BUCKETS;
	struct pfx_v4_key key;
	struct pfx4_geo geo;
	__u64 left;

	if (!lens || !meta)
		return 0;
	geo = pfx4_geometry(meta);
	m->entry = NULL;
	left = lens->v4 & ((1ULL << 33) - 1); /* /0 .. /32 */
	for (int i = 0; i <= 32 && left; i++) {
		__u32 len = top_bit(left);
		__u32 *found;

		left &= ~(1ULL << len);
		key.addr = saddr & mask32(len);
		if (pfx4_find(key.addr, len, copy, geo, m))
			return 1;
		if (!geo.spilled)
			continue;
		key.prefixlen = len;
		found = bpf_map_lookup_elem(&pfx_v4, &key);
		if (found) {
			m->slot = *found;
			return 1;
		}
	}
	return 0;
}

/* One word of the IPv6 length bitmap: lengths base .. base+63. */
static __always_inline __u32 *match_v6_word(const __be32 *saddr, __u64 left, __u32 base)
{
	struct pfx_v6_key key;

	for (int i = 0; i < 64 && left; i++) {
		__u32 bit = top_bit(left);
		__u32 len = base + bit;
		__u32 *slot;

		left &= ~(1ULL << bit);
		key.prefixlen = len;
#pragma unroll
		for (int w = 0; w < 4; w++)
			key.addr[w] = saddr[w] & mask32(word_bits(len, w));
		slot = bpf_map_lookup_elem(&pfx_v6, &key);
		if (slot)
			return slot;
	}
	return NULL;
}

/* The rule slot of the longest IPv6 prefix holding saddr, or NULL. */
static __always_inline __u32 *match_v6(const __be32 *saddr)
{
	struct prefix_lens *lens = lens_in_use();
	__u32 *slot;

	if (!lens)
		return NULL;
	slot = match_v6_word(saddr, lens->v6[2] & 1, 128); /* /128 only */
	if (slot)
		return slot;
	slot = match_v6_word(saddr, lens->v6[1], 64);
	if (slot)
		return slot;
	return match_v6_word(saddr, lens->v6[0], 0);
}

#endif
