/* SPDX-License-Identifier: GPL-2.0 */
/* The calling process on the send/receive hot path without a helper call:
 * bpf_get_current_pid_tgid() costs ~30 ns there (a return thunk on every
 * helper return on CPUs with the SRSO mitigation; BENCHMARKS.md), about
 * half of what the programs add to a call.
 *
 * Each CPU keeps the tasks it ran lately, one per slot, the slot picked by
 * the kernel stack the program runs on. A slot's task is the current one
 * if its kernel stack is the one holding the tracepoint's arguments (they
 * live on the current stack): only the current task has that stack. What
 * keeps a stale slot from passing: a task that died has given its stack
 * back (->stack cleared, ->on_cpu 0) before any other task can get the
 * same stack, and its memory reused for another task describes that task,
 * whose stack is its own. Anything else fails the check and asks the
 * helper, so the answer is always the helper's. Included by sockets.bpf.c
 * before the I/O cache. */
#ifndef NETSIGHT_CURRENT_TASK_BPF_H
#define NETSIGHT_CURRENT_TASK_BPF_H

/* The smallest kernel stack (x86_64 and arm64 without KASAN); stacks are
 * aligned to their size, so a bigger one only makes the check miss. */
#define NS_STACK_SIZE 16384
#define TASK_SLOTS 64

struct task_slots {
	__u64 on_stack; /* scratch: an address on the stack, as a number */
	__u64 task[TASK_SLOTS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct task_slots);
} task_slots SEC(".maps");

static __always_inline bool is_current(struct task_struct *t, __u64 stack, __u32 cpu)
{
	if ((__u64)t->stack != stack || t->on_cpu != 1)
		return false;
	return !bpf_core_field_exists(t->thread_info.cpu) || t->thread_info.cpu == cpu;
}

/* `on_stack`: the program's context, which the kernel passes on the
 * current task's stack (the BPF frame itself may be on a per-CPU stack). */
static __always_inline __u32 current_tgid_near(void *on_stack)
{
	__u32 zero = 0, cpu;
	struct task_slots *s = bpf_map_lookup_elem(&task_slots, &zero);
	struct task_struct *t;
	__u64 stack, *slot;

	if (!s || !bpf_ksym_exists(bpf_rdonly_cast))
		return bpf_get_current_pid_tgid() >> 32;
	/* Through memory, so the verifier sees a number, not a pointer. */
	*(volatile __u64 *)&s->on_stack = (__u64)on_stack;
	stack = *(volatile __u64 *)&s->on_stack & ~(__u64)(NS_STACK_SIZE - 1);
	slot = &s->task[(stack / NS_STACK_SIZE) & (TASK_SLOTS - 1)];
	cpu = bpf_get_smp_processor_id();
	t = bpf_core_cast((void *)*slot, struct task_struct);
	if (*slot && is_current(t, stack, cpu))
		return t->tgid;
	t = bpf_get_current_task_btf();
	*slot = (__u64)t;
	return t->tgid;
}

#endif
