/* testutil.c: see testutil.h. */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "flowaudit/util.h"

static char dir[64]; /* the run's temporary directory */

static void cleanup(void)
{
	if (dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			fprintf(stderr, "could not remove %s\n", dir);
	}
}

const char *tu_dir(void)
{
	if (!dir[0]) {
		snprintf(dir, sizeof(dir), "/tmp/flowaudit-test.XXXXXX");
		if (!mkdtemp(dir))
			abort();
		atexit(cleanup);
	}
	return dir;
}

const char *tu_write(const char *name, const void *content, size_t len)
{
	static char paths[8][256];
	static int next;
	char *p = paths[next++ % 8];
	snprintf(p, 256, "%s/%s", tu_dir(), name);
	FILE *f = fopen(p, "wb");
	if (!f)
		abort();
	if (len == (size_t)-1)
		len = strlen(content);
	fwrite(content, 1, len, f);
	fclose(f);
	return p;
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return xstrdup("");
	size_t cap = 4096, n = 0;
	char *s = xmalloc(cap);
	size_t r;
	while ((r = fread(s + n, 1, cap - n - 1, f)) > 0) {
		n += r;
		if (n + 1 >= cap)
			s = xrealloc(s, cap *= 2);
	}
	s[n] = '\0';
	fclose(f);
	return s;
}

int tu_run(const char *cmd, char **out, char **err)
{
	char *o = xasprintf("%s/stdout", tu_dir()), *e = xasprintf("%s/stderr", tu_dir());
	char *full = xasprintf("%s >'%s' 2>'%s'", cmd, o, e);
	int st = system(full);
	if (out)
		*out = slurp(o);
	if (err)
		*err = slurp(e);
	free(o);
	free(e);
	free(full);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

const char *tu_flowaudit(void)
{
	const char *b = getenv("FLOWAUDIT");
	return b && *b ? b : "build/release/flowaudit";
}

json_t *tu_audit_json(const char *args, int *status)
{
	char *cmd = xasprintf("%s audit %s --format json", tu_flowaudit(), args);
	char *out, *err;
	*status = tu_run(cmd, &out, &err);
	json_error_t je;
	json_t *j = json_loads(out, 0, &je);
	if (!j)
		fprintf(stderr, "\n%s: no JSON (%s); stderr: %s\n", cmd, je.text, err);
	free(cmd);
	free(out);
	free(err);
	return j;
}

json_t *tu_edge_by_client(json_t *report, const char *client_addr, int port)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(report, "edges"), i, e) {
		const char *ca = json_string_value(json_object_get(e, "client_addr"));
		if (ca && !strcmp(ca, client_addr) &&
		    (port <= 0 || json_integer_value(json_object_get(e, "port")) == port))
			return e;
	}
	return NULL;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* Ethernet + IP header for an L4 payload of l4len bytes; returns the offset of the L4 header. */
static size_t eth_ip(uint8_t *buf, const char *src, const char *dst, uint8_t proto, size_t l4len)
{
	uint8_t s[16], d[16];
	memset(buf, 0, 14);
	buf[0] = 2;
	buf[6] = 2;
	bool v4 = inet_pton(AF_INET, src, s) == 1;
	if (v4) {
		inet_pton(AF_INET, dst, d);
		put16(buf + 12, 0x0800);
		uint8_t *ip = buf + 14;
		memset(ip, 0, 20);
		ip[0] = 0x45;
		put16(ip + 2, (uint16_t)(20 + l4len));
		ip[8] = 64;
		ip[9] = proto;
		memcpy(ip + 12, s, 4);
		memcpy(ip + 16, d, 4);
		return 34;
	}
	inet_pton(AF_INET6, src, s);
	inet_pton(AF_INET6, dst, d);
	put16(buf + 12, 0x86dd);
	uint8_t *ip = buf + 14;
	memset(ip, 0, 40);
	ip[0] = 0x60;
	put16(ip + 4, (uint16_t)l4len);
	ip[6] = proto == IPPROTO_ICMP ? IPPROTO_ICMPV6 : proto;
	ip[7] = 64;
	memcpy(ip + 8, s, 16);
	memcpy(ip + 24, d, 16);
	return 54;
}

size_t tu_eth_tcp(uint8_t *buf, const char *src, const char *dst, uint16_t sport, uint16_t dport, uint8_t flags,
		  uint32_t seq, size_t payload)
{
	size_t off = eth_ip(buf, src, dst, IPPROTO_TCP, 20 + payload);
	uint8_t *t = buf + off;
	memset(t, 0, 20 + payload);
	put16(t, sport);
	put16(t + 2, dport);
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = flags;
	return off + 20 + payload;
}

size_t tu_eth_udp(uint8_t *buf, const char *src, const char *dst, uint16_t sport, uint16_t dport, size_t payload)
{
	size_t off = eth_ip(buf, src, dst, IPPROTO_UDP, 8 + payload);
	uint8_t *u = buf + off;
	memset(u, 0, 8 + payload);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (uint16_t)(8 + payload));
	return off + 8 + payload;
}

size_t tu_eth_icmp_unreach(uint8_t *buf, const char *router, const char *to, uint8_t code, const uint8_t *orig_ip,
			   size_t quote_len)
{
	size_t off = eth_ip(buf, router, to, IPPROTO_ICMP, 8 + quote_len);
	uint8_t *icmp = buf + off;
	memset(icmp, 0, 8);
	icmp[0] = buf[12] == 0x08 ? 3 : 1;
	icmp[1] = code;
	memcpy(icmp + 8, orig_ip, quote_len);
	return off + 8 + quote_len;
}

const char *tu_pcap(const char *name, uint8_t *const *frames, const size_t *lens, size_t n)
{
	size_t total = 24;
	for (size_t i = 0; i < n; i++)
		total += 16 + lens[i];
	uint8_t *b = xmalloc(total), *p = b;
	uint32_t hdr[6] = {0xa1b2c3d4, 2 | 4 << 16, 0, 0, 65535, 1}; /* little-endian, as the machines here */
	memcpy(p, hdr, 24);
	p += 24;
	for (size_t i = 0; i < n; i++) {
		uint32_t rec[4] = {1763971200u + (uint32_t)(i / 1000), (uint32_t)(i % 1000) * 1000, (uint32_t)lens[i],
				   (uint32_t)lens[i]};
		memcpy(p, rec, 16);
		memcpy(p + 16, frames[i], lens[i]);
		p += 16 + lens[i];
	}
	const char *path = tu_write(name, b, total);
	free(b);
	return path;
}
