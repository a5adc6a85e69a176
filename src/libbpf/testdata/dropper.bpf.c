/* Test-only tc program: drops a share of the TCP packets carrying payload to/from one port,
 * to force retransmissions (src/probes/tcp/tcp.root.test.ts). Not shipped. */
#include "gopher.h"

char LICENSE[] SEC("license") = "GPL";

#define ETH_P_IP 0x0800
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2

/* One struct so user space knows the layout: port (host order), drop probability in
 * permille, packets dropped, packets seen, and whether `port` is the source port. Drop on
 * the receiving side's ingress: a drop on the sender's own egress is reported back to TCP
 * (NET_XMIT_DROP) and resent as new data, not retransmitted. */
struct {
	__u32 port;
	__u32 permille;
	__u64 dropped;
	__u64 seen;
	__u32 by_src;
} st = {};

SEC("tc")
int drop_some(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return TC_ACT_OK;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_TCP)
		return TC_ACT_OK;
	__u32 ihl = ip->ihl * 4;
	if (ihl < sizeof(*ip))
		return TC_ACT_OK;
	struct tcphdr *th = (void *)ip + ihl;
	if ((void *)(th + 1) > end || bpf_ntohs(st.by_src ? th->source : th->dest) != st.port)
		return TC_ACT_OK;
	__u32 payload = bpf_ntohs(ip->tot_len) - ihl - th->doff * 4;
	if (payload == 0)
		return TC_ACT_OK;
	__sync_fetch_and_add(&st.seen, 1);
	if (bpf_get_prandom_u32() % 1000 < st.permille) {
		__sync_fetch_and_add(&st.dropped, 1);
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}
