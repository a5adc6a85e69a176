/* Common definitions for gala-gopher BPF programs (CO-RE, libbpf >= 1.0). */
#ifndef GOPHER_BPF_H
#define GOPHER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif
#ifndef IPPROTO_TCP
#define IPPROTO_TCP 6
#endif

#define READ_KERN(p) BPF_CORE_READ(p)

/* Raw tracepoint argument i as a typed value. */
#define RAW_ARG(ctx, i) (((struct bpf_raw_tracepoint_args *)(ctx))->args[i])

/* The classic syscall tracepoints' records (common header, syscall nr, args / ret). */
struct sc_enter_ctx {
	__u64 common;
	__s64 nr;
	__u64 args[6];
};
struct sc_exit_ctx {
	__u64 common;
	__s64 nr;
	__s64 ret;
};

static __always_inline __u32 current_tgid(void)
{
	return (__u32)(bpf_get_current_pid_tgid() >> 32);
}

/* A counter in a per-CPU array, for "dropped because a map was full" accounting. */
#define COUNT_PERCPU(map, idx)                                   \
	do {                                                         \
		__u32 __k = (idx);                                       \
		__u64 *__v = bpf_map_lookup_elem(&(map), &__k);          \
		if (__v)                                                 \
			(*__v)++;                                            \
	} while (0)

#endif
