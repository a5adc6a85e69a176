/* Records shared by bpf/socket/socket.bpf.c and src/probes/socket (which reads the field
 * offsets from the object's BTF; the enum values are mirrored in decode.ts). */
#ifndef GOPHER_SOCKET_H
#define GOPHER_SOCKET_H

/* Counters of one endpoint_tcp key, in the order of endpoint_tcp's gauges. */
enum gsock_ctr {
	C_PASSIVE_OPEN = 0,
	C_PASSIVE_FAIL,
	C_RETRAN_SYNACK,
	C_RETRAN_SYN,
	C_REQ_DROP,
	C_ACTIVE_OPEN,
	C_ACTIVE_FAIL,
	C_SYN_SENT,
	C_SYN_DROP,
	N_CTR,
};

/* Upstream's estab_latency bounds (ns): 3 ms … 10 s. */
#define N_BUCKETS 7

enum gsock_role { ROLE_CLIENT = 0, ROLE_SERVER = 1 };

/* Why the kernel lost a count (gala_gopher_agent_bpf_dropped_total reasons). */
enum gsock_drop {
	D_TCP_STATS_FULL = 0,
	D_CONNECTING_FULL,
	D_LISTENERS_FULL,
	D_UDP_SOCKS_FULL,
	D_CLOSING_FULL,
	N_DROP,
};

/* endpoint_tcp key: process, side, addresses, server port, family. */
struct gsock_tcp_key {
	__u32 tgid;
	__u16 port;   /* server port (host order) */
	__u8 role;    /* enum gsock_role */
	__u8 family;  /* AF_INET / AF_INET6 */
	__u8 client[16];
	__u8 server[16];
};

/* Cumulative since the entry was created; max per report period (two epoch slots). */
struct gsock_tcp_val {
	__u64 ctr[N_CTR];
	__u64 hist[N_BUCKETS]; /* establishment latency: count per bucket (not cumulative) */
	__u64 hsum;
	__u64 max_epoch[2];
	__u64 maxv[2];
	char comm[16];
};

struct gsock_listen_key {
	__u32 netns;  /* network namespace inode number */
	__u16 port;
	__u16 pad;
};

struct gsock_owner {
	__u64 sk;     /* the listening socket */
	__u32 tgid;
	__u32 pad;
	char comm[16];
};

/* A socket between connect() and ESTABLISHED/CLOSE. */
struct gsock_conn {
	__u64 ts;
	__u32 tgid;
	__u32 pad;
	char comm[16];
};

/* A listener being closed by this thread: its unaccepted children are request drops. */
struct gsock_closing {
	__u64 ts;
	__u32 netns;
	__u16 port;
	__u16 pad;
	struct gsock_owner owner;
};

/* UDP payload bytes of one socket (process context of send/recv). */
struct gsock_udp {
	__u64 ino;
	__u64 tx;
	__u64 rx;
	__u32 tgid;
	__u16 lport;
	__u16 rport;
	__u8 family;
	__u8 pad[7];
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[16];
};

/* One record of the socket walk (iter/task_file): a TCP listener or a UDP socket held by
 * a process in scope. */
struct gsock_walk {
	__u64 sk;
	__u64 ino;
	__u32 tgid;
	__u32 netns;
	__u32 drops;
	__u32 ack_backlog;
	__u32 max_ack_backlog;
	__u32 syn_qlen;
	__u16 lport;
	__u16 rport;
	__u8 proto;   /* IPPROTO_TCP / IPPROTO_UDP */
	__u8 family;
	__u8 pad[2];
	__u8 laddr[16];
	__u8 raddr[16];
	char comm[16];
};

#endif
