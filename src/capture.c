/* capture.c: libpcap offline reading. Files are opened at nanosecond precision whatever they store,
 * merged by timestamp (a small k-way merge: k is the number of -r files), and a record cut short ends
 * that file only: what came before it is still audited, and the cut is reported. */
#include "flowaudit/capture.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "flowaudit/decode.h"
#include "flowaudit/fanout.h"
#include "flowaudit/util.h"

static uint64_t stamp(const struct cap_input *in, const struct pcap_pkthdr *h)
{
	return (uint64_t)h->ts.tv_sec * 1000000000ull + (uint64_t)h->ts.tv_usec * in->ts_unit;
}

/* libpcap said PCAP_ERROR. A file cut short keeps what came before it (a warning); any other error means
 * the file is not what it claims to be, e.g. a pcapng whose interfaces libpcap cannot merge. */
static void read_failed(struct cap_input *in)
{
	const char *msg = pcap_geterr(in->pcap);
	if (strstr(msg, "truncated"))
		in->cut = xasprintf("%s: cut short after packet %llu: %s", in->path, (unsigned long long)in->packets, msg);
	else
		in->error = xasprintf("packet %llu: %s", (unsigned long long)in->packets + 1, msg);
}

/* Read the next record of one input into its read-ahead slot. */
static void advance(struct cap_input *in)
{
	in->pending = false;
	if (!in->pcap || in->cut || in->error)
		return;
	int rc;
	do {
		rc = pcap_next_ex(in->pcap, &in->hdr, &in->data);
		if (rc == 1)
			in->ts_ns = stamp(in, in->hdr);
	} while (rc == 1 && in->ts_ns < in->since_ns);
	if (rc == 0 || rc == PCAP_ERROR_BREAK)
		return; /* live: the read timeout expired, or a signal woke us */
	if (rc == 1) {
		in->pending = true;
		in->packets++;
	} else if (rc == PCAP_ERROR) {
		read_failed(in);
	}
}

/* A regular file's magic number, as a number in this machine's byte order (0 when it has none). */
static uint32_t file_magic(int fd)
{
	uint32_t m = 0;
	if (pread(fd, &m, 4, 0) != 4)
		m = 0;
	return m;
}

/* A stream that is not a regular file (a pipe, stdin) cannot be read twice: its first four bytes are read
 * for the magic number, then handed back first by a stream over the rest. */
struct peeked {
	int fd;
	uint8_t head[4];
	size_t nhead, off;
};

static ssize_t peeked_read(void *cookie, char *buf, size_t n)
{
	struct peeked *p = cookie;
	if (p->off < p->nhead) {
		size_t k = p->nhead - p->off < n ? p->nhead - p->off : n;
		memcpy(buf, p->head + p->off, k);
		p->off += k;
		return (ssize_t)k;
	}
	ssize_t r;
	do
		r = read(p->fd, buf, n);
	while (r < 0 && errno == EINTR);
	return r;
}

static int peeked_close(void *cookie)
{
	struct peeked *p = cookie;
	int rc = close(p->fd);
	free(p);
	return rc;
}

static FILE *open_peeked(int fd, uint32_t *magic)
{
	struct peeked *p = xcalloc(1, sizeof(*p));
	p->fd = fd;
	while (p->nhead < 4) {
		ssize_t r = read(fd, p->head + p->nhead, 4 - p->nhead);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		p->nhead += (size_t)r;
	}
	*magic = 0;
	if (p->nhead == 4)
		memcpy(magic, p->head, 4);
	cookie_io_functions_t io = {.read = peeked_read, .close = peeked_close};
	FILE *f = fopencookie(p, "rb", io);
	if (!f) {
		close(fd);
		free(p);
	}
	return f;
}

#define MAGIC_USEC 0xa1b2c3d4u
#define MAGIC_NSEC 0xa1b23c4du

int cap_open_files(struct cap *c, char *const *paths, size_t n, const char *bpf, struct diag *d)
{
	memset(c, 0, sizeof(*c));
	c->in = xcalloc(n, sizeof(*c->in));
	c->n = n;
	for (size_t i = 0; i < n; i++) {
		struct cap_input *in = &c->in[i];
		struct diag_loc loc = {.file = paths[i]};
		in->path = xstrdup(paths[i]);
		/* "-" is standard input, as tcpdump reads it. */
		bool std_in = strcmp(paths[i], "-") == 0;
		int fd = std_in ? dup(STDIN_FILENO) : open(paths[i], O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			diag_add(d, &loc, "cannot open: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		if (S_ISDIR(st.st_mode)) {
			close(fd);
			diag_add(d, &loc, "is a directory, not a capture file");
			return -1;
		}
		char errbuf[PCAP_ERRBUF_SIZE] = "";
		/* Our own stream with a 1 MB buffer: libpcap reads a record with two freads, and stdio's
		 * default buffer of 4 KB costs a read(2) every 40 packets at a 96-byte snaplen. */
		uint32_t magic = 0;
		FILE *fp = S_ISREG(st.st_mode) ? fdopen(fd, "rb") : open_peeked(fd, &magic);
		if (!fp) {
			diag_add(d, &loc, "cannot open: %s", strerror(errno));
			if (S_ISREG(st.st_mode))
				close(fd);
			return -1;
		}
		in->iobuf = xmalloc(CAP_IOBUF);
		setvbuf(fp, in->iobuf, _IOFBF, CAP_IOBUF);
		in->pcap = pcap_fopen_offline_with_tstamp_precision(fp, PCAP_TSTAMP_PRECISION_NANO, errbuf);
		in->ts_unit = 1;
		if (!in->pcap) {
			fclose(fp);
			diag_add(d, &loc, "not a readable capture: %s", errbuf);
			return -1;
		}
		in->dlt = pcap_datalink(in->pcap);
		if (!dec_linktype_supported(in->dlt)) {
			const char *name = pcap_datalink_val_to_name(in->dlt);
			diag_add(d, &loc, "link type %s (%d) is not supported (flowaudit(1) lists those that are)",
				 name ? name : "unknown", in->dlt);
			return -1;
		}
		/* Nanoseconds by the magic number, either byte order (pcapng: taken as microseconds). */
		if (S_ISREG(st.st_mode))
			magic = file_magic(fd);
		in->nsec = magic == MAGIC_NSEC || magic == __builtin_bswap32(MAGIC_NSEC);
		in->classic = S_ISREG(st.st_mode) && (magic == MAGIC_USEC || magic == MAGIC_NSEC) && !pcap_is_swapped(in->pcap) &&
			      pcap_major_version(in->pcap) == 2 && pcap_minor_version(in->pcap) == 4;
		if (bpf && *bpf) {
			struct bpf_program prog;
			if (pcap_compile(in->pcap, &prog, bpf, 1, PCAP_NETMASK_UNKNOWN) < 0) {
				diag_add(d, &loc, "bad filter expression '%s': %s", bpf, pcap_geterr(in->pcap));
				return -1;
			}
			int rc = pcap_setfilter(in->pcap, &prog);
			in->prog = prog; /* kept for our own record reader */
			in->filtered = true;
			if (rc < 0) {
				diag_add(d, &loc, "cannot apply filter: %s", pcap_geterr(in->pcap));
				return -1;
			}
		}
		advance(in);
	}
	return 0;
}

static void dump(struct cap *c, const struct pcap_pkthdr *h, const u_char *data)
{
	if (c->dump_lock)
		pthread_mutex_lock(c->dump_lock);
	pcap_dump((u_char *)c->dump, h, data);
	if (c->dump_lock)
		pthread_mutex_unlock(c->dump_lock);
}

int cap_next(struct cap *c, struct cap_pkt *out)
{
	/* The packet handed out last stays valid until now: only now read its input's next record. */
	if (c->last || (c->live && !c->in[0].pending))
		advance(&c->in[c->last ? c->last - 1 : 0]);
	c->last = 0;
	if (c->live && !c->in[0].pending && !c->in[0].error) {
		/* Nothing buffered: wait up to 200 ms for the socket (a signal ends the wait early), so that
		 * the caller serves signals and report intervals on a quiet port too. */
		struct pollfd pfd = {.fd = pcap_get_selectable_fd(c->in[0].pcap), .events = POLLIN};
		if (pfd.fd >= 0 && poll(&pfd, 1, 200) > 0)
			advance(&c->in[0]);
		if (!c->in[0].pending)
			return c->in[0].error ? -1 : CAP_TIMEOUT;
	}
	struct cap_input *best = NULL;
	size_t bi = 0;
	for (size_t i = 0; i < c->n; i++)
		if (c->in[i].error)
			return -1;
	for (size_t i = 0; i < c->n; i++)
		if (c->in[i].pending && (!best || c->in[i].ts_ns < best->ts_ns)) {
			best = &c->in[i];
			bi = i;
		}
	if (!best)
		return 0;
	out->input = bi;
	out->dlt = best->dlt;
	out->ts_ns = best->ts_ns;
	out->caplen = best->hdr->caplen;
	out->len = best->hdr->len;
	out->data = best->data;
	out->kept = false;
	c->last = bi + 1;
	if (c->dump)
		dump(c, best->hdr, best->data);
	return 1;
}

struct dispatch {
	struct cap *c;
	cap_fn fn;
	void *ctx;
	cap_reuse_fn reuse;
	bool kept;              /* packets handed out stay valid until reuse */
};

/* One record of the only input, already stamped, to the caller's function. Inlined: it runs per packet. */
static inline __attribute__((always_inline)) void hand_out(const struct dispatch *ds, const struct pcap_pkthdr *h,
								const u_char *data, uint64_t ts_ns)
{
	const struct cap_input *in = &ds->c->in[0];
	struct cap_pkt p = {.input = 0, .dlt = in->dlt, .ts_ns = ts_ns, .caplen = h->caplen, .len = h->len, .data = data,
			    .kept = ds->kept};
	if (ds->c->dump)
		dump(ds->c, h, data);
	ds->fn(ds->ctx, &p);
}

static void dispatched(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
	const struct dispatch *ds = (const struct dispatch *)user;
	struct cap_input *in = &ds->c->in[0];
	uint64_t ts_ns = stamp(in, h);
	if (ts_ns < in->since_ns)
		return;
	in->packets++;
	hand_out(ds, h, data, ts_ns);
}

/* Our own reader of pcap records (pcap-savefile(5)): 16-byte headers, each followed by its captured
 * bytes, read from the stream libpcap opened (its file header already read) in RD_READ pieces. A
 * packet is handed out where it lies in the chunk: no copy, no call per record. It judges every record
 * as libpcap 1.10 does (tested against it on the corpus): a length over CAP_MAX_RECORD is an error,
 * one over the file's snaplen is cut to it, a record cut short ends the file; time stamps are
 * sign-extended 32-bit fields, as libpcap reads them. */
#define RD_BUF (1u << 20)
#define RD_READ (256u << 10) /* read at a time: what was read is still in the L2 cache when decoded */
static_assert(RD_BUF >= 16 + CAP_MAX_RECORD + RD_READ, "the buffer holds the largest record and a read");

static uint32_t field(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* The file cannot be read (errno says why): an error at the next packet. */
static int read_error(struct cap_input *in)
{
	in->error = xasprintf("packet %llu: cannot read: %s", (unsigned long long)in->packets + 1, strerror(errno));
	return -1;
}

static int read_records(const struct dispatch *ds)
{
	struct cap_input *in = &ds->c->in[0];
	/* From the file itself at the stream's position (what libpcap has consumed): read(2) into our buffer,
	 * as stdio would copy through its own. The record reader only takes regular files (own_reader()). */
	FILE *fp = pcap_file(in->pcap);
	int fd = fileno(fp);
	off_t at = ftello(fp);
	if (at < 0 || lseek(fd, at, SEEK_SET) != at)
		return read_error(in);
	uint8_t *buf = xmalloc(RD_BUF);
	size_t pos = 0, end = 0;
	bool eof = false;
	const uint32_t snap = (uint32_t)pcap_snapshot(in->pcap);
	const int64_t unit = in->nsec ? 1 : 1000;
	for (;;) {
		size_t left = end - pos;
		uint32_t caplen = left >= 16 ? field(buf + pos + 8) : 0;
		if (left < 16 || (caplen <= CAP_MAX_RECORD && left < 16 + (size_t)caplen)) {
			if (eof) {
				if (left)
					in->cut = xasprintf("%s: cut short after packet %llu: its last record has %zu of %zu bytes",
							    in->path, (unsigned long long)in->packets, left,
							    left < 16 ? (size_t)16 : 16 + (size_t)caplen);
				break;
			}
			if (ds->reuse)
				ds->reuse(ds->ctx); /* the records handed out are about to be overwritten */
			memmove(buf, buf + pos, left);
			pos = 0;
			end = left;
			ssize_t n;
			do
				n = read(fd, buf + end, RD_READ);
			while (n < 0 && errno == EINTR);
			if (n < 0) {
				read_error(in);
				break;
			}
			end += (size_t)n;
			eof = n == 0;
			continue;
		}
		if (caplen > CAP_MAX_RECORD) {
			in->error = xasprintf("packet %llu: invalid packet capture length %u, bigger than maximum of %u",
					      (unsigned long long)in->packets + 1, caplen, CAP_MAX_RECORD);
			break;
		}
		const uint8_t *rec = buf + pos;
		pos += 16 + (size_t)caplen;
		struct pcap_pkthdr h;
		h.ts.tv_sec = (int32_t)field(rec);
		h.ts.tv_usec = (suseconds_t)((int32_t)field(rec + 4) * unit);
		h.caplen = caplen > snap ? snap : caplen;
		h.len = field(rec + 12);
		if (in->filtered && !pcap_offline_filter(&in->prog, &h, rec + 16))
			continue;
		uint64_t ts_ns = stamp(in, &h);
		if (ts_ns < in->since_ns)
			continue;
		in->packets++;
		hand_out(ds, &h, rec + 16, ts_ns);
	}
	if (ds->reuse)
		ds->reuse(ds->ctx);
	free(buf);
	return in->error ? -1 : 0;
}

/* A pcap file of this machine's byte order (only regular files are looked at: cap_open_files()). */
static bool own_reader(const struct cap_input *in)
{
	const char *env = getenv("FLOWAUDIT_READER");
	return in->classic && !(env && !strcmp(env, "libpcap"));
}

int cap_read_all(struct cap *c, cap_fn fn, cap_reuse_fn reuse, void *ctx)
{
	assert(!c->live);
	if (c->n != 1) {
		struct cap_pkt p;
		int rc;
		while ((rc = cap_next(c, &p)) == 1)
			fn(ctx, &p);
		return rc;
	}
	/* cap_open_files() read the first record ahead: hand it out, then read the rest. */
	struct cap_input *in = &c->in[0];
	if (in->error)
		return -1;
	if (!in->pending)
		return 0;
	struct dispatch ds = {.c = c, .fn = fn, .ctx = ctx};
	in->pending = false;
	hand_out(&ds, in->hdr, in->data, in->ts_ns);
	if (own_reader(in)) {
		ds.reuse = reuse;
		ds.kept = reuse != NULL;
		return read_records(&ds);
	}
	int rc;
	while ((rc = pcap_dispatch(in->pcap, 4096, dispatched, (u_char *)&ds)) > 0)
		;
	if (rc == PCAP_ERROR)
		read_failed(in);
	return in->error ? -1 : 0;
}

int cap_open_live(struct cap *c, const struct cap_live_opts *o, struct diag *d)
{
	memset(c, 0, sizeof(*c));
	c->in = xcalloc(1, sizeof(*c->in));
	c->n = 1;
	c->live = true;
	struct cap_input *in = &c->in[0];
	in->path = xstrdup(o->iface);
	struct diag_loc loc = {.file = o->iface};
	char errbuf[PCAP_ERRBUF_SIZE] = "";
	in->pcap = pcap_create(o->iface, errbuf);
	if (!in->pcap) {
		diag_add(d, &loc, "cannot capture: %s", errbuf);
		return -1;
	}
	pcap_set_snaplen(in->pcap, o->snaplen);
	pcap_set_promisc(in->pcap, o->promisc);
	pcap_set_buffer_size(in->pcap, o->buffer_mb << 20);
	pcap_set_timeout(in->pcap, 200); /* wake up to serve signals and report intervals */
	/* Nanosecond stamps where the kernel gives them; microseconds otherwise. */
	in->nsec = pcap_set_tstamp_precision(in->pcap, PCAP_TSTAMP_PRECISION_NANO) == 0;
	int rc = pcap_activate(in->pcap);
	if (rc < 0) {
		diag_add(d, &loc, "cannot capture: %s%s", pcap_statustostr(rc),
			 rc == PCAP_ERROR_PERM_DENIED ? " (are you root, or do you have CAP_NET_RAW?)" : "");
		if (rc == PCAP_ERROR)
			diag_add(d, &loc, "%s", pcap_geterr(in->pcap));
		return -1;
	}
	if (!in->nsec || pcap_get_tstamp_precision(in->pcap) != PCAP_TSTAMP_PRECISION_NANO)
		in->nsec = false;
	in->ts_unit = in->nsec ? 1 : 1000; /* what the handle's tv_usec field counts, in nanoseconds */
	if (pcap_setnonblock(in->pcap, 1, errbuf) < 0) {
		diag_add(d, &loc, "cannot capture: %s", errbuf);
		return -1;
	}
	in->dlt = pcap_datalink(in->pcap);
	if (!dec_linktype_supported(in->dlt)) {
		const char *name = pcap_datalink_val_to_name(in->dlt);
		diag_add(d, &loc, "link type %s (%d) is not supported", name ? name : "unknown", in->dlt);
		return -1;
	}
	if (o->nfilters && (c->filter_used = cap_set_filter(c, o->filters, o->nfilters, d)) < 0)
		return -1;
	if (o->fanout) {
		uint16_t ports[DEC_NTUNNEL_PORTS];
		size_t n = dec_tunnel_ports(o->dec, ports);
		c->fanout_id = o->fanout_id;
		if (fanout_join(pcap_fileno(in->pcap), o->fanout_create, &c->fanout_id, ports, n) < 0) {
			diag_add(d, &loc, "cannot spread the capture over workers (PACKET_FANOUT): %s%s", strerror(errno),
				 errno == EINVAL ? " (not a Linux packet socket: --workers needs a Linux interface)" : "");
			return -1;
		}
	}
	return 0;
}

#define KERNEL_BPF_MAXINSNS 4096 /* linux/bpf_common.h: a longer program is refused by the kernel */

int cap_set_filter(struct cap *c, const char *const *filters, size_t n, struct diag *d)
{
	struct cap_input *in = &c->in[0];
	struct diag_loc loc = {.file = in->path};
	const char *why = "";
	for (size_t i = 0; i < n; i++) {
		struct bpf_program prog;
		if (pcap_compile(in->pcap, &prog, filters[i], 1, PCAP_NETMASK_UNKNOWN) < 0) {
			why = pcap_geterr(in->pcap);
			continue;
		}
		/* Past the kernel's limit libpcap would filter in user space: every packet copied up first. */
		if (prog.bf_len > KERNEL_BPF_MAXINSNS) {
			pcap_freecode(&prog);
			why = "too many instructions for the kernel";
			continue;
		}
		int rc = pcap_setfilter(in->pcap, &prog);
		pcap_freecode(&prog);
		if (rc < 0) {
			diag_add(d, &loc, "cannot apply filter: %s", pcap_geterr(in->pcap));
			return -1;
		}
		return (int)i;
	}
	diag_add(d, &loc, "bad filter expression '%s': %s", n ? filters[n - 1] : "", why);
	return -1;
}

void cap_skip_before(struct cap *c, uint64_t ts_ns)
{
	for (size_t i = 0; i < c->n; i++)
		c->in[i].since_ns = ts_ns;
}

int cap_write_to(struct cap *c, const char *path, struct diag *d)
{
	c->dump = pcap_dump_open(c->in[0].pcap, path);
	c->dump_owned = c->dump != NULL;
	if (!c->dump) {
		struct diag_loc loc = {.file = path};
		diag_add(d, &loc, "cannot write: %s", pcap_geterr(c->in[0].pcap));
		return -1;
	}
	return 0;
}

int cap_stats(struct cap *c, struct cap_stats *s)
{
	memset(s, 0, sizeof(*s));
	struct pcap_stat ps;
	if (!c->live || pcap_stats(c->in[0].pcap, &ps) < 0)
		return -1;
	s->dropped = ps.ps_drop;
	s->ifdropped = ps.ps_ifdrop;
	return 0;
}

int cap_drop_privileges(const char *user, struct diag *d)
{
	struct diag_loc loc = {.file = user};
	struct passwd *pw = getpwnam(user);
	if (!pw) {
		diag_add(d, &loc, "no such user to run as (-Z)");
		return -1;
	}
	if (setgroups(0, NULL) < 0 || setgid(pw->pw_gid) < 0 || setuid(pw->pw_uid) < 0) {
		diag_add(d, &loc, "cannot become this user: %s", strerror(errno));
		return -1;
	}
	/* The switch must be for good: regaining root has to fail. */
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		diag_add(d, &loc, "privileges could be regained after dropping them; refusing to run");
		return -1;
	}
	return 0;
}

void cap_close(struct cap *c)
{
	if (c->dump_owned)
		pcap_dump_close(c->dump);
	for (size_t i = 0; i < c->n; i++) {
		if (c->in[i].pcap)
			pcap_close(c->in[i].pcap); /* closes the stream, then its buffer can go */
		if (c->in[i].filtered)
			pcap_freecode(&c->in[i].prog);
		free(c->in[i].iobuf);
		free(c->in[i].path);
		free(c->in[i].cut);
		free(c->in[i].error);
	}
	free(c->in);
	memset(c, 0, sizeof(*c));
}
