/* test_app.c: the recognisers on hand-built bytes, laid out as the RFCs and the public framing say (and
 * as PROTOCOLS.md's observed frames show): each claim, each fact, each handshake verdict, and the bytes
 * a 96-byte snaplen leaves. */
#include <CUnit/CUnit.h>
#include <string.h>

#include "flowaudit/app.h"
#include "testutil.h"

static size_t put16(uint8_t *p, unsigned v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
	return 2;
}

static size_t put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
	return 4;
}

/* A TLS record of one handshake message: ClientHello (type 1) or ServerHello (type 2). */
static size_t tls_hello(uint8_t *out, int type, const char *sni, unsigned version_ext)
{
	uint8_t body[512];
	size_t b = 0;
	b += put16(body + b, 0x0303);
	memset(body + b, 0x11, 32); /* random */
	b += 32;
	body[b++] = 32; /* session id */
	memset(body + b, 0x22, 32);
	b += 32;
	if (type == 1) {
		b += put16(body + b, 4);
		b += put16(body + b, 0x1301);
		b += put16(body + b, 0xc02f);
		body[b++] = 1;
		body[b++] = 0;
	} else {
		b += put16(body + b, 0x1301);
		body[b++] = 0;
	}
	uint8_t ext[256];
	size_t e = 0;
	if (sni) {
		size_t l = strlen(sni);
		e += put16(ext + e, 0);
		e += put16(ext + e, (unsigned)(l + 5));
		e += put16(ext + e, (unsigned)(l + 3));
		ext[e++] = 0;
		e += put16(ext + e, (unsigned)l);
		memcpy(ext + e, sni, l);
		e += l;
	}
	if (version_ext && type == 1) {
		e += put16(ext + e, 43);
		e += put16(ext + e, 5);
		ext[e++] = 4;
		e += put16(ext + e, 0x3a3a); /* GREASE, never the version offered */
		e += put16(ext + e, version_ext);
	} else if (version_ext) {
		e += put16(ext + e, 43);
		e += put16(ext + e, 2);
		e += put16(ext + e, version_ext);
	}
	b += put16(body + b, (unsigned)e);
	memcpy(body + b, ext, e);
	b += e;
	size_t o = 0;
	out[o++] = 0x16;
	o += put16(out + o, 0x0301);
	o += put16(out + o, (unsigned)(b + 4));
	out[o++] = (uint8_t)type;
	out[o++] = 0;
	o += put16(out + o, (unsigned)b);
	memcpy(out + o, body, b);
	return o + b;
}

static void feed(struct app_state *s, int dir, const uint8_t *p, size_t n)
{
	size_t k = n < APP_PEEK ? n : APP_PEEK;
	app_feed(s, dir, p, k, 0, false, true);
}

static void test_tls_hello_versions_sni_and_the_end_of_the_handshake(void)
{
	uint8_t ch[600], sh[600];
	size_t nch = tls_hello(ch, 1, "files.example", 0x0304), nsh = tls_hello(sh, 2, NULL, 0x0304);
	struct app_state s = {0};
	CU_ASSERT(app_tls_claims(ch, nch));
	app_feed(&s, APP_C2S, ch, nch, 0, false, true); /* the whole hello: kept bytes may exceed APP_PEEK in a test */
	CU_ASSERT_EQUAL(s.proto, APP_TLS);
	CU_ASSERT_STRING_EQUAL(s.u.tls.sni, "files.example");
	CU_ASSERT_EQUAL(s.u.tls.max_offered, 0x0304);
	app_feed(&s, APP_S2C, sh, nsh, 0, false, true);
	CU_ASSERT_EQUAL(s.u.tls.server_version, 0x0304);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_INCOMPLETE);
	static const uint8_t ccs_app[] = {0x14, 3, 3, 0, 1, 1, 0x17, 3, 3, 0, 3, 9, 9, 9};
	app_feed(&s, APP_S2C, ccs_app, sizeof(ccs_app), 0, false, true);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_INCOMPLETE);
	app_feed(&s, APP_C2S, ccs_app, sizeof(ccs_app), 0, false, true);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_COMPLETE);
	CU_ASSERT(s.done);
	struct app_fact f[8];
	size_t n = app_facts(&s, f, 8);
	CU_ASSERT(n >= 3 && !strcmp(f[0].key, "client_max") && !strcmp(f[0].value, "TLS 1.3"));
}

static void test_tls_alert_is_a_failed_handshake(void)
{
	uint8_t ch[600];
	size_t nch = tls_hello(ch, 1, NULL, 0x0303);
	struct app_state s = {0};
	feed(&s, APP_C2S, ch, nch);
	static const uint8_t alert[] = {0x15, 3, 3, 0, 2, 2, 70}; /* fatal protocol_version */
	feed(&s, APP_S2C, alert, sizeof(alert));
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_FAILED);
	CU_ASSERT(s.u.tls.alert_desc == 70 && s.u.tls.alert_dir == APP_S2C);
}

/* At snaplen 96 an IPv4 segment with timestamps keeps 30 payload bytes: the hello is seen, not its SNI. */
static void test_tls_cut_by_the_snaplen_keeps_the_hello_not_the_name(void)
{
	uint8_t ch[600];
	size_t nch = tls_hello(ch, 1, "files.example", 0x0304);
	struct app_state s = {0};
	app_feed(&s, APP_C2S, ch, 30, 0, true, true);
	(void)nch;
	CU_ASSERT(s.proto == APP_TLS && (s.u.tls.seen & APP_TLS_CH) && s.u.tls.hello_version == 0x0303);
	CU_ASSERT_EQUAL(s.u.tls.sni[0], 0);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_CUT);
}

static size_t fpolicy_frame(uint8_t *out, const char *type, const char *body)
{
	char hdr[256];
	int h = snprintf(hdr, sizeof(hdr), "<?xml version=\"1.0\"?><Header><NotfType>%s</NotfType><ContentLen>%zu</ContentLen>"
					   "<DataFormat>XML</DataFormat></Header>\n\n%s",
			 type, strlen(body), body);
	out[0] = '"';
	put32(out + 1, (uint32_t)h);
	out[5] = '"';
	memcpy(out + 6, hdr, (size_t)h);
	return 6 + (size_t)h;
}

static void test_fpolicy_negotiation_answered_or_not(void)
{
	uint8_t req[512], resp[512];
	size_t nreq = fpolicy_frame(req, "NEGO_REQ", "<Handshake><VsUUID>x</VsUUID></Handshake>");
	size_t nresp = fpolicy_frame(resp, "NEGO_RESP", "<HandshakeResp/>");
	struct app_state s = {0};
	CU_ASSERT(app_fpolicy_claims(req, nreq));
	feed(&s, APP_C2S, req, nreq);
	feed(&s, APP_C2S, req, nreq);
	CU_ASSERT_EQUAL(s.proto, APP_FPOLICY);
	CU_ASSERT_EQUAL(s.u.fpolicy.nego_req, 2);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_INCOMPLETE); /* the engine never answered */
	feed(&s, APP_S2C, resp, nresp);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_COMPLETE);
	/* the same framing around a body that is not XML */
	uint8_t pb[16] = {'"', 0, 0, 0, 6, '"', 0x0a, 0x04, 0x08, 0x01, 0x10, 0x02};
	struct app_state t = {0};
	feed(&t, APP_C2S, pb, 12);
	CU_ASSERT_EQUAL(t.proto, APP_FPOLICY_PB);
}

static void test_smb1_offering_smb2_and_the_dialect_chosen(void)
{
	uint8_t neg[128] = {0};
	neg[0] = 0;
	neg[3] = 100;
	memcpy(neg + 4, "\xffSMB", 4);
	neg[8] = 0x72;
	memcpy(neg + 40, "\x02NT LM 0.12\0\x02SMB 2.002\0", 24);
	struct app_state s = {0};
	CU_ASSERT(app_smb_claims(neg, 64));
	feed(&s, APP_C2S, neg, 64);
	CU_ASSERT(s.proto == APP_SMB && s.u.smb.smb1[APP_C2S] && s.u.smb.offers_smb2);
	uint8_t resp[128] = {0};
	resp[3] = 120;
	memcpy(resp + 4, "\xfeSMB", 4);
	resp[4 + 4] = 64;
	resp[4 + 16] = 1;    /* a response */
	resp[4 + 64] = 65;   /* StructureSize */
	resp[72] = 0x11;
	resp[73] = 0x03;     /* SMB 3.1.1 */
	feed(&s, APP_S2C, resp, 128);
	CU_ASSERT(s.u.smb.smb2[APP_S2C] && s.u.smb.dialect == 0x0311);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_COMPLETE);
}

/* The observed frames of PROTOCOLS.md (zeek/nfs_nfs_base.pcap 20 and 22), and a portmapper GETPORT. */
static void test_onc_rpc_calls_replies_and_a_getport_port(void)
{
	static const uint8_t call[] = {0x80, 0, 0, 0x28, 0xf6, 0x1f, 0x87, 0xdc, 0, 0, 0, 0, 0, 0, 0, 2,
				       0, 1, 0x86, 0xa3, 0, 0, 0, 3, 0, 0, 0, 0};
	static const uint8_t reply[] = {0x80, 0, 0, 0x18, 0xf6, 0x1f, 0x87, 0xdc, 0, 0, 0, 1, 0, 0, 0, 0,
					0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	struct app_state s = {0};
	CU_ASSERT(app_rpc_claims(call, sizeof(call), true));
	feed(&s, APP_C2S, call, sizeof(call));
	CU_ASSERT(s.proto == APP_RPC && s.u.rpc.prog == 100003 && s.u.rpc.vers == 3);
	feed(&s, APP_S2C, reply, sizeof(reply));
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_COMPLETE);
	/* UDP GETPORT for mountd, answered 20048 */
	uint8_t gp[56] = {0}, gr[28] = {0};
	put32(gp + 0, 7);
	put32(gp + 8, 2);
	put32(gp + 12, 100000);
	put32(gp + 16, 2);
	put32(gp + 20, 3);
	put32(gp + 40, 100005);
	put32(gp + 44, 3);
	put32(gp + 48, 17);
	put32(gr + 0, 7);
	put32(gr + 4, 1);
	put32(gr + 24, 20048);
	struct app_state u = {0};
	app_feed(&u, APP_C2S, gp, sizeof(gp), 0, false, false);
	app_feed(&u, APP_S2C, gr, sizeof(gr), 0, false, false);
	CU_ASSERT(u.proto == APP_RPC && u.u.rpc.accepted && u.u.rpc.nlearnt == 1);
	CU_ASSERT(u.u.rpc.learnt_prog[0] == 100005 && u.u.rpc.learnt_port[0] == 20048 && u.u.rpc.learnt_udp == 1);
	CU_ASSERT(!u.done); /* a portmapper flow may answer more queries */
	/* A reply to another call (its xid) teaches nothing. */
	struct app_state x = {0};
	put32(gr + 0, 8);
	app_feed(&x, APP_C2S, gp, sizeof(gp), 0, false, false);
	app_feed(&x, APP_S2C, gr, sizeof(gr), 0, false, false);
	CU_ASSERT(x.u.rpc.accepted && x.u.rpc.nlearnt == 0);
}

/* rpcbind version 4 over TCP, as showmount asks it: GETADDR of mountd on "tcp" with an AUTH_UNIX
 * credential, answered with a universal address; then a second query on the same connection. */
static void test_onc_rpc_getaddr_universal_address(void)
{
	uint8_t c[128] = {0};
	size_t o = 4;
	put32(c + o + 0, 0x11);   /* xid */
	put32(c + o + 8, 2);      /* RPC version */
	put32(c + o + 12, 100000);
	put32(c + o + 16, 4);
	put32(c + o + 20, 3);     /* GETADDR */
	put32(c + o + 24, 1);     /* AUTH_UNIX, 20 bytes */
	put32(c + o + 28, 20);
	size_t a = o + 24 + 28 + 8; /* past the credential and a null verifier */
	put32(c + a, 100005);
	put32(c + a + 4, 3);
	put32(c + a + 8, 3);
	memcpy(c + a + 12, "tcp\0", 4);
	size_t clen = a + 16 + 8 - o;
	put32(c, 0x80000000u | (uint32_t)clen);
	uint8_t r[64] = {0};
	static const char ua[] = "192.0.2.30.148.183"; /* 148 * 256 + 183 = 38071 */
	put32(r + o + 0, 0x11);
	put32(r + o + 4, 1);
	put32(r + o + 24, sizeof(ua) - 1);
	memcpy(r + o + 28, ua, sizeof(ua) - 1);
	put32(r, 0x80000000u | (uint32_t)(24 + 4 + 20));
	struct app_state s = {0};
	app_feed(&s, APP_C2S, c, o + clen, 0, false, true);
	app_feed(&s, APP_S2C, r, o + 48, 0, false, true);
	CU_ASSERT(s.proto == APP_RPC && s.u.rpc.nlearnt == 1 && s.u.rpc.learnt_prog[0] == 100005);
	CU_ASSERT(s.u.rpc.learnt_port[0] == 38071 && s.u.rpc.learnt_udp == 0);
	/* the same connection asks for nlockmgr on udp; an empty address (not registered) teaches nothing */
	put32(c + o, 0x12);
	put32(c + a, 100021);
	memcpy(c + a + 12, "udp\0", 4);
	put32(r + o, 0x12);
	static const char ua2[] = "::1.234.201";
	put32(r + o + 24, sizeof(ua2) - 1);
	memset(r + o + 28, 0, 20);
	memcpy(r + o + 28, ua2, sizeof(ua2) - 1);
	app_feed(&s, APP_C2S, c, o + clen, 0, false, true);
	app_feed(&s, APP_S2C, r, o + 48, 0, false, true);
	CU_ASSERT(s.u.rpc.nlearnt == 2 && s.u.rpc.learnt_prog[1] == 100021 && s.u.rpc.learnt_port[1] == 234 * 256 + 201);
	CU_ASSERT(s.u.rpc.learnt_udp == 2);
	struct app_fact f[8];
	size_t nf = app_facts(&s, f, 8);
	bool said = false;
	for (size_t i = 0; i < nf && i < 8; i++)
		said |= !strcmp(f[i].key, "ports_learnt") && !strcmp(f[i].value, "100005/tcp:38071 100021/udp:60105");
	CU_ASSERT(said);
	put32(c + o, 0x13);
	put32(r + o, 0x13);
	put32(r + o + 24, 0);
	app_feed(&s, APP_C2S, c, o + clen, 0, false, true);
	app_feed(&s, APP_S2C, r, o + 48, 0, false, true);
	CU_ASSERT(s.u.rpc.nlearnt == 2);
}

static void test_openwire_ssh_http_syslog_and_the_unclaimed(void)
{
	uint8_t wf[32] = {0, 0, 0, 0xda, 1, 'A', 'c', 't', 'i', 'v', 'e', 'M', 'Q', 0, 0, 0, 12};
	struct app_state s = {0};
	feed(&s, APP_S2C, wf, sizeof(wf)); /* the broker speaks first */
	CU_ASSERT(s.proto == APP_OPENWIRE && s.first == APP_S2C);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_INCOMPLETE);
	feed(&s, APP_C2S, wf, sizeof(wf));
	CU_ASSERT(app_handshake(&s) == APP_HS_COMPLETE && s.u.openwire.version[APP_C2S] == 12);

	/* A TLS client at a plain connector, which sends its WireFormatInfo first: the ends disagree. */
	struct app_state mix = {0};
	uint8_t hello[600];
	size_t hn = tls_hello(hello, 1, "broker1", 0);
	feed(&mix, APP_S2C, wf, sizeof(wf));
	feed(&mix, APP_C2S, hello, hn);
	CU_ASSERT(mix.proto == APP_OPENWIRE && mix.other == APP_TLS && app_handshake(&mix) == APP_HS_FAILED && mix.done);
	struct app_fact f[8];
	size_t nf = app_facts(&mix, f, 8);
	CU_ASSERT(nf == 3 && !strcmp(f[2].key, "client_speaks") && !strcmp(f[2].value, "tls"));

	struct app_state h = {0};
	feed(&h, APP_C2S, (const uint8_t *)"PUT /cee HTTP/1.1\r\n", 19);
	feed(&h, APP_S2C, (const uint8_t *)"HTTP/1.1 200 OK\r\n", 17);
	CU_ASSERT(h.proto == APP_HTTP && h.u.text.status == 200 && !strcmp(h.u.text.word, "PUT"));
	CU_ASSERT_EQUAL(app_handshake(&h), APP_HS_COMPLETE);

	struct app_state ssh = {0};
	feed(&ssh, APP_S2C, (const uint8_t *)"SSH-2.0-OpenSSH_9.2p1 Debian\r\n", 30);
	CU_ASSERT(ssh.proto == APP_SSH && !strcmp(ssh.u.text.word, "OpenSSH_9.2p1"));

	struct app_state sy = {0};
	app_feed(&sy, APP_C2S, (const uint8_t *)"<134>1 2026-12-07T05:00:00Z host app - - - hi", 46, 0, false, true);
	CU_ASSERT(sy.proto == APP_SYSLOG && app_handshake(&sy) == APP_HS_COMPLETE);

	struct app_state x = {0}; /* unknown once neither side's first bytes are claimed */
	feed(&x, APP_C2S, (const uint8_t *)"\x01\x02\x03\x04garbage", 11);
	CU_ASSERT(x.proto == APP_NONE && !x.done && !app_wants(&x, APP_C2S) && app_wants(&x, APP_S2C));
	feed(&x, APP_S2C, (const uint8_t *)"\x05\x06\x07\x08garbage", 11);
	CU_ASSERT(x.proto == APP_UNKNOWN && x.done);
	struct app_state bad = {0}; /* a malformed request, and a server that answers in HTTP */
	feed(&bad, APP_C2S, (const uint8_t *)"OPTIONSHTTP/1.1\nHost: x\n\n", 25);
	feed(&bad, APP_S2C, (const uint8_t *)"HTTP/1.0 400 Bad Request\r\n", 26);
	CU_ASSERT(bad.proto == APP_HTTP && bad.u.text.status == 400 && bad.first == APP_S2C);
	struct app_state c = {0}; /* too few bytes to tell, and cut: wait, say "cut" */
	app_feed(&c, APP_C2S, (const uint8_t *)"\x00\x00", 2, 0, true, true);
	CU_ASSERT(c.proto == APP_NONE && c.cut && !c.done);
}

/* Dell CEE over HTTP: OneFS's PUT with a UTF-8 CheckFileRequest answered status 0x16 (no consumer: the
 * array drops its events) is a failed handshake; a UTF-16LE RegisterRequest answered 0x0 completes. */
static void test_cee_requests_and_their_status(void)
{
	static const char put[] = "PUT /cee HTTP/1.1\r\nHost: cee\r\nContent-Type: text/xml\r\n\r\n"
				  "<?xml version=\"1.0\"?><CheckFileRequest><Args action=\"9\"/></CheckFileRequest>";
	static const char resp[] = "HTTP/1.1 200 OK\r\nServer: EMC CEE Server\r\n\r\n"
				   "<CheckFileResponse status=\"0x16\" ceeVersion=\"8.7\"/>";
	struct app_state s = {0};
	feed(&s, APP_C2S, (const uint8_t *)put, sizeof(put) - 1);
	CU_ASSERT(s.proto == APP_HTTP && s.u.text.cee == APP_CEE_CHECKFILE);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_INCOMPLETE);
	feed(&s, APP_S2C, (const uint8_t *)resp, sizeof(resp) - 1);
	CU_ASSERT(s.u.text.cee_answered && s.u.text.cee_status == 0x16);
	CU_ASSERT_EQUAL(app_handshake(&s), APP_HS_FAILED);

	uint8_t post[160];
	static const char line[] = "POST /vee HTTP/1.1\r\nUser-Agent: EMC Data Mover\r\n\r\n";
	static const char root[] = "<RegisterRequest>";
	size_t n = sizeof(line) - 1;
	memcpy(post, line, n);
	for (const char *c = root; *c; c++) {
		post[n++] = (uint8_t)*c;
		post[n++] = 0;
	}
	struct app_state u = {0};
	feed(&u, APP_C2S, post, n);
	CU_ASSERT(u.proto == APP_HTTP && u.u.text.cee == APP_CEE_REGISTER);
	static const char ok[] = "HTTP/1.1 200 OK\r\n\r\n<RegisterResponse status=\"0x0\"/>";
	feed(&u, APP_S2C, (const uint8_t *)ok, sizeof(ok) - 1);
	CU_ASSERT_EQUAL(app_handshake(&u), APP_HS_COMPLETE);
	struct app_fact f[8];
	size_t nf = app_facts(&u, f, 8), i = 0;
	while (i < nf && strcmp(f[i].key, "cee"))
		i++;
	CU_ASSERT(i < nf && !strcmp(f[i].value, "RegisterRequest"));
}

/* Never more than APP_SEGS segments or APP_WINDOW bytes a direction. */
static void test_the_window_is_bounded(void)
{
	struct app_state s = {0};
	static const uint8_t junk[] = {0x16, 3, 3, 0xff, 0xff}; /* a record longer than anything fed */
	for (int i = 0; i < 10; i++)
		app_feed(&s, APP_C2S, junk, sizeof(junk), 0, false, true);
	CU_ASSERT_EQUAL(s.segs[APP_C2S], APP_SEGS);
	CU_ASSERT(!app_wants(&s, APP_C2S));
	CU_ASSERT(app_wants(&s, APP_S2C));
}

void suite_app(void)
{
	CU_pSuite s = CU_add_suite("application recognisers", NULL, NULL);
	TU_ADD(s, test_tls_hello_versions_sni_and_the_end_of_the_handshake);
	TU_ADD(s, test_tls_alert_is_a_failed_handshake);
	TU_ADD(s, test_tls_cut_by_the_snaplen_keeps_the_hello_not_the_name);
	TU_ADD(s, test_fpolicy_negotiation_answered_or_not);
	TU_ADD(s, test_smb1_offering_smb2_and_the_dialect_chosen);
	TU_ADD(s, test_onc_rpc_calls_replies_and_a_getport_port);
	TU_ADD(s, test_onc_rpc_getaddr_universal_address);
	TU_ADD(s, test_openwire_ssh_http_syslog_and_the_unclaimed);
	TU_ADD(s, test_the_window_is_bounded);
	TU_ADD(s, test_cee_requests_and_their_status);
}
