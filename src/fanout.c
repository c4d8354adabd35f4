/* fanout.c: the classic BPF program that picks a worker for each packet of a live capture, and joining a
 * socket to a PACKET_FANOUT group with it. The program returns a hash; the kernel takes it modulo the
 * number of sockets. Addresses and ports are XORed (the same both ways), then multiplied by a golden
 * ratio constant and the high bits kept (so that "modulo 2" does not see only the lowest bit of a XOR).
 * What it cannot see into (tunnels, MPLS, a second VLAN tag, a quote cut too short) still lands
 * consistently: by addresses only, or on worker 0. */
#include "flowaudit/fanout.h"

#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <string.h>
#include <sys/socket.h>

/* A small assembler: jumps name labels, resolved once the program is complete. */
enum label {
	L_NONE, L_V4, L_NOT4, L_V6, L_ICMP4, L_NOT3, L_Q4, L_L4, L_L4B, L_L4C, L_PORTS, L_UDP, L_MIX, L_ICMP6,
	L_NOTU6, L_Q6, L_DONE, L_RET0, L_NLABELS
};

struct as {
	struct bpf_insn *p;
	size_t n;
	enum label jt[FANOUT_MAX_INSNS], jf[FANOUT_MAX_INSNS];
	size_t at[L_NLABELS];
	int base;               /* offset of the network header, or SKF_NET_OFF */
};

static void op(struct as *a, uint16_t code, uint32_t k, enum label jt, enum label jf)
{
	if (a->n == FANOUT_MAX_INSNS)
		return;
	a->p[a->n] = (struct bpf_insn){.code = code, .k = k};
	a->jt[a->n] = jt;
	a->jf[a->n] = jf;
	a->n++;
}

static void here(struct as *a, enum label l)
{
	a->at[l] = a->n;
}

/* Loads relative to the network header: A = [net + off] (w, h or b), A = [net + X + off]. */
static void ld(struct as *a, uint16_t size, int off)
{
	op(a, BPF_LD | size | BPF_ABS, (uint32_t)(a->base + off), L_NONE, L_NONE);
}

static void ldi(struct as *a, uint16_t size, int off)
{
	op(a, BPF_LD | size | BPF_IND, (uint32_t)(a->base + off), L_NONE, L_NONE);
}

static void jeq(struct as *a, uint32_t k, enum label yes, enum label no)
{
	op(a, BPF_JMP | BPF_JEQ | BPF_K, k, yes, no);
}

static void jmp(struct as *a, enum label to)
{
	op(a, BPF_JMP | BPF_JA, 0, to, L_NONE);
}

static void st(struct as *a, uint32_t m)
{
	op(a, BPF_ST, m, L_NONE, L_NONE);
}

static void ldm(struct as *a, uint32_t m)
{
	op(a, BPF_LD | BPF_MEM, m, L_NONE, L_NONE);
}

/* M[0] = XOR of the n 32-bit words from [net + off]: source and destination addresses, either order. */
static void xor_words(struct as *a, int off, int n)
{
	ld(a, BPF_W, off);
	for (int i = 1; i < n; i++) {
		op(a, BPF_MISC | BPF_TAX, 0, L_NONE, L_NONE);
		ld(a, BPF_W, off + 4 * i);
		op(a, BPF_ALU | BPF_XOR | BPF_X, 0, L_NONE, L_NONE);
	}
	st(a, 0);
}

/* Scratch memory: M0 hash so far, M1 layer-4 protocol, M2/M3 ports, M4 outer IPv4 header length,
 * M5 an address being XORed. */
size_t fanout_program(struct bpf_insn *prog, enum fanout_frame frame, const uint16_t *tunnel_ports, size_t nports)
{
	struct as as = {.p = prog, .base = frame == FANOUT_KERNEL ? SKF_NET_OFF : 14};
	struct as *a = &as;
	if (frame == FANOUT_KERNEL)
		op(a, BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_AD_OFF + SKF_AD_PROTOCOL), L_NONE, L_NONE);
	else
		op(a, BPF_LD | BPF_H | BPF_ABS, 12, L_NONE, L_NONE);
	jeq(a, 0x0800, L_V4, L_NOT4);
	here(a, L_NOT4);
	jeq(a, 0x86dd, L_V6, L_RET0);

	/* IPv4: addresses; a fragment after the first has no ports and is spread by addresses only. */
	here(a, L_V4);
	xor_words(a, 12, 2);
	ld(a, BPF_B, 9);
	st(a, 1);
	ld(a, BPF_H, 6);
	op(a, BPF_JMP | BPF_JSET | BPF_K, 0x1fff, L_DONE, L_NONE);
	ld(a, BPF_B, 0);
	op(a, BPF_ALU | BPF_AND | BPF_K, 0xf, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_LSH | BPF_K, 2, L_NONE, L_NONE);
	op(a, BPF_MISC | BPF_TAX, 0, L_NONE, L_NONE); /* X = header length */
	ldm(a, 1);
	jeq(a, 1, L_ICMP4, L_L4);
	/* ICMP destination unreachable (3) or time exceeded (11): hash the quoted packet instead. */
	here(a, L_ICMP4);
	ldi(a, BPF_B, 0);
	jeq(a, 3, L_Q4, L_NOT3);
	here(a, L_NOT3);
	jeq(a, 11, L_Q4, L_DONE);
	here(a, L_Q4);
	op(a, BPF_MISC | BPF_TXA, 0, L_NONE, L_NONE);
	st(a, 4);
	ldi(a, BPF_W, 8 + 16);
	st(a, 5);
	ldi(a, BPF_W, 8 + 12);
	op(a, BPF_LDX | BPF_MEM, 5, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_XOR | BPF_X, 0, L_NONE, L_NONE);
	st(a, 0);
	op(a, BPF_LDX | BPF_MEM, 4, L_NONE, L_NONE);
	ldi(a, BPF_B, 8 + 9);
	st(a, 1);
	ldi(a, BPF_B, 8);
	op(a, BPF_ALU | BPF_AND | BPF_K, 0xf, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_LSH | BPF_K, 2, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_ADD | BPF_X, 0, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_ADD | BPF_K, 8, L_NONE, L_NONE);
	op(a, BPF_MISC | BPF_TAX, 0, L_NONE, L_NONE); /* X = the quoted transport header */
	ldm(a, 1);
	jmp(a, L_L4);

	/* IPv6 without extension headers: addresses, then the transport header at 40. */
	here(a, L_V6);
	xor_words(a, 8, 8);
	ld(a, BPF_B, 6);
	st(a, 1);
	op(a, BPF_LDX | BPF_IMM, 40, L_NONE, L_NONE);
	jeq(a, 58, L_ICMP6, L_L4);
	here(a, L_ICMP6);
	ld(a, BPF_B, 40);
	jeq(a, 1, L_Q6, L_NOTU6);
	here(a, L_NOTU6);
	jeq(a, 3, L_Q6, L_DONE);
	here(a, L_Q6); /* ICMPv6 error: the quoted IPv6 header starts at 48 */
	xor_words(a, 48 + 8, 8);
	ld(a, BPF_B, 48 + 6);
	st(a, 1);
	op(a, BPF_LDX | BPF_IMM, 48 + 40, L_NONE, L_NONE);

	/* A = protocol, X = offset of its header: TCP, UDP and SCTP have ports first. */
	here(a, L_L4);
	jeq(a, 6, L_PORTS, L_L4B);
	here(a, L_L4B);
	jeq(a, 17, L_PORTS, L_L4C);
	here(a, L_L4C);
	jeq(a, 132, L_PORTS, L_DONE);
	here(a, L_PORTS);
	ldi(a, BPF_H, 0);
	st(a, 2);
	ldi(a, BPF_H, 2);
	st(a, 3);
	ldm(a, 1);
	jeq(a, 17, L_UDP, L_MIX);
	here(a, L_UDP);
	for (int side = 2; side <= 3; side++) {
		ldm(a, (uint32_t)side);
		for (size_t i = 0; i < nports; i++)
			jeq(a, tunnel_ports[i], L_DONE, L_NONE);
	}
	here(a, L_MIX);
	ldm(a, 2);
	op(a, BPF_MISC | BPF_TAX, 0, L_NONE, L_NONE);
	ldm(a, 3);
	op(a, BPF_ALU | BPF_XOR | BPF_X, 0, L_NONE, L_NONE);
	op(a, BPF_LDX | BPF_MEM, 0, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_XOR | BPF_X, 0, L_NONE, L_NONE);
	st(a, 0);

	here(a, L_DONE);
	ldm(a, 0);
	op(a, BPF_ALU | BPF_MUL | BPF_K, 0x9e3779b1u, L_NONE, L_NONE);
	op(a, BPF_ALU | BPF_RSH | BPF_K, 16, L_NONE, L_NONE);
	op(a, BPF_RET | BPF_A, 0, L_NONE, L_NONE);
	here(a, L_RET0);
	op(a, BPF_RET | BPF_K, 0, L_NONE, L_NONE);

	/* Resolve: conditional jumps are relative to the next instruction; L_NONE falls through. */
	for (size_t i = 0; i < a->n; i++) {
		struct bpf_insn *in = &a->p[i];
		if (BPF_CLASS(in->code) != BPF_JMP)
			continue;
		if (BPF_OP(in->code) == BPF_JA) {
			in->k = (uint32_t)(a->at[a->jt[i]] - i - 1);
			continue;
		}
		in->jt = a->jt[i] ? (uint8_t)(a->at[a->jt[i]] - i - 1) : 0;
		in->jf = a->jf[i] ? (uint8_t)(a->at[a->jf[i]] - i - 1) : 0;
	}
	return a->n;
}

int fanout_join(int fd, bool create, uint16_t *id, const uint16_t *tunnel_ports, size_t nports)
{
	/* A new group takes an id the kernel picks (no other process's group can be joined by mistake); the
	 * other sockets join it by that id. Whether to create is said apart from the id: the kernel counts
	 * unique ids from 0, so the first group made after boot is group 0 (taking 0 to mean "make a new
	 * one" gave each worker a group of its own there, and every packet was counted once per worker). */
	int arg = (create ? 0 : *id) | (PACKET_FANOUT_CBPF | (create ? PACKET_FANOUT_FLAG_UNIQUEID : 0)) << 16;
	if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)) < 0)
		return -1;
	if (create) {
		int got = 0;
		socklen_t len = sizeof(got);
		if (getsockopt(fd, SOL_PACKET, PACKET_FANOUT, &got, &len) < 0)
			return -1;
		*id = (uint16_t)got;
	}
	struct bpf_insn prog[FANOUT_MAX_INSNS];
	struct sock_fprog fp = {.len = (unsigned short)fanout_program(prog, FANOUT_KERNEL, tunnel_ports, nports),
				.filter = (struct sock_filter *)prog};
	return setsockopt(fd, SOL_PACKET, PACKET_FANOUT_DATA, &fp, sizeof(fp));
}
