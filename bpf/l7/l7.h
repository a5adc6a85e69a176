/* Records the l7 probe shares with user space. src/probes/l7/decode.ts reads the field
 * offsets of struct l7_event and struct l7_conn from this object's BTF and checks the sizes;
 * the enum values below are mirrored there. */
#ifndef GOPHER_L7_H
#define GOPHER_L7_H

/* Largest capture the programs can copy (capture_bytes limit <= this). */
#define L7_CAP_MAX 65536
/* iovecs copied per readv/writev/sendmsg/recvmsg; bytes in later ones are counted, not copied. */
#define L7_IOV_MAX 12
/* messages of one sendmmsg/recvmmsg emitted (each: its first iovec); all are counted. */
#define L7_MMSG_MAX 8
/* messages of one sendmmsg/recvmmsg whose bytes are counted: UIO_MAXIOV, all of them. */
#define L7_MMSG_COUNT_MAX 1024

enum l7_rec_kind {
	L7_REC_DATA = 1,  /* struct l7_event + cap bytes */
	L7_REC_CLOSE = 2, /* struct l7_event, cap 0: the fd was closed */
};

enum l7_dir {
	L7_SEND = 0,
	L7_RECV = 1,
};

enum l7_l4 {
	L7_TCP = 1,
	L7_UDP = 2,
};

/* Layer-4 role as the kernel saw it: connect() => client, accept() => server. */
enum l7_role {
	L7_ROLE_UNKNOWN = 0, /* already open when first seen: user space decides by the listening ports */
	L7_ROLE_CLIENT = 1,
	L7_ROLE_SERVER = 2,
};

/* Per-connection verdict of user space's protocol detection (map l7_verdicts). */
enum l7_verdict {
	L7_UNDECIDED = 0,
	L7_CAPTURE = 1, /* one of the enabled protocols: keep emitting */
	L7_IGNORE = 2,  /* not an enabled protocol: count bytes only */
};

enum l7_conn_flags {
	L7_F_CLOSED = 1, /* close() seen; user space reports the last counts and deletes the entry */
	L7_F_SSL = 2,    /* bytes moved inside an SSL call (l7_tls_calls) */
};

/* One ring record: a header, then `cap` captured bytes (DATA). */
struct l7_event {
	__u32 kind;     /* enum l7_rec_kind */
	__u32 tgid;
	__u64 conn_id;  /* key of l7_conns */
	__u64 ts_ns;    /* CLOCK_MONOTONIC: syscall start for sends, syscall end for receives */
	__u64 len;      /* bytes the call really moved (>= cap) */
	__u32 cap;      /* bytes that follow */
	__s32 fd;
	__u8 dir;       /* enum l7_dir */
	__u8 l4;        /* enum l7_l4 */
	__u8 ssl;       /* 1: plaintext of a TLS call (emitted by tls.h) */
	__u8 peer_family; /* UDP datagram peer from the call's sockaddr (AF_INET/AF_INET6), 0: the socket's peer */
	__u16 peer_port;  /* host order */
	__u16 pad;
	__u8 peer_addr[16];
};

/* A connection: key conn_id (u64, assigned by the kernel, never reused). Counters are
 * cumulative since the connection was first seen. */
struct l7_conn {
	__u64 sk;
	__u64 bytes_sent;
	__u64 bytes_recv;
	__u64 segs_sent;   /* send calls (messages for sendmmsg) that moved bytes */
	__u64 segs_recv;
	__u64 first_ns;
	__u32 tgid;
	__s32 fd;
	__u8 local_addr[16];
	__u8 remote_addr[16];
	__u16 local_port;  /* host order */
	__u16 remote_port; /* host order */
	__u16 family;      /* AF_INET / AF_INET6 */
	__u8 l4;           /* enum l7_l4 */
	__u8 role;         /* enum l7_role */
	__u32 flags;       /* enum l7_conn_flags */
	__u32 verdict;     /* enum l7_verdict, cached from l7_verdicts by the kernel */
	__u32 netns;
};

struct l7_fd_key {
	__u32 tgid;
	__s32 fd;
};

struct l7_fd_val {
	__u64 conn_id;
	__u64 sk;
	__u64 file; /* the struct file the fd named when last seen: a match skips the socket checks */
};

/* Losses counted in the `drops` per-CPU array (src/probes/l7/decode.ts DROP_REASONS). */
enum l7_drop_reason {
	D_CONN_MAP_FULL = 0, /* a connection could not be tracked (not counted, not captured) */
	D_RING_FULL,         /* a data record did not fit the ring (its bytes are still counted) */
	D_CALLS_FULL,        /* a syscall in flight could not be remembered (not counted) */
	D_CLOSE_LOST,        /* a close record did not fit the ring (user space finds the flag) */
	D_SCRATCH_BUSY,      /* a data record was not built: the CPU's slot was in use (preemption) */
	N_DROP
};

/* Written by user space through the mmapped .bss before load and between periods. */
struct l7_cfg {
	__u32 capture;      /* bytes copied per call, <= L7_CAP_MAX (0: nothing is copied) */
	__u32 tls_on;       /* support_ssl: the syscall programs consult l7_tls_calls */
	__u64 next_conn_id; /* written by the kernel: the last connection id handed out */
};

#endif
