/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by every netsight BPF program: headers, constants the kernel keeps
 * in macros (so they are not in BTF), and small helpers. */
#ifndef NETSIGHT_BPF_H
#define NETSIGHT_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define ENOMEM 12
#define TASK_COMM_LEN 16

/* The kernel's TCP states and congestion states are enums in C but some
 * are only macros; keep our own copy of the stable numbers. */
#define NS_TCP_ESTABLISHED 1
#define NS_TCP_SYN_SENT 2
#define NS_TCP_SYN_RECV 3
#define NS_TCP_FIN_WAIT1 4
#define NS_TCP_LAST_ACK 9
#define NS_TCP_CLOSE_WAIT 8
#define NS_TCP_CLOSE 7
#define NS_TCP_LISTEN 10
#define NS_TCP_CA_OPEN 0
#define NS_TCP_CA_DISORDER 1
#define NS_TCP_CA_RECOVERY 3
#define NS_TCP_CA_LOSS 4

#define NS_IPPROTO_TCP 6
#define NS_IPPROTO_UDP 17

#endif
