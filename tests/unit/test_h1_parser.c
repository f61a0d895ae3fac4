/*
 * test_h1_parser.c: the strict HTTP/1.1 head parser and chunked decoder.
 *
 * Most rejection tests are request-smuggling vectors: each is a message
 * that some HTTP implementation reads differently from another, so the
 * gateway must refuse it rather than pick a reading.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "gw.h"
#include "h1_parser.h"

/* A literal with its length, so that embedded NULs count. */
#define S(lit) (lit), (sizeof(lit) - 1)

#define MAXH 16

static struct gw_h1_header hdrs[MAXH];

static int
req_parse(const char *s, size_t len, struct gw_h1_request *req)
{
	return gw_h1_parse_request(s, len, req, hdrs, MAXH);
}

static int
resp_parse(const char *s, size_t len, struct gw_h1_response *resp,
    bool head)
{
	return gw_h1_parse_response(s, len, resp, hdrs, MAXH, head);
}

static bool
mem_is(const char *p, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(p, lit, len) == 0;
}

/* Every proper prefix of a valid head must ask for more, never succeed
 * or fail. */
static void
check_prefixes(const char *s, size_t head_len, bool response)
{
	struct gw_h1_request req;
	struct gw_h1_response resp;
	size_t k;
	int rv;

	for (k = 0; k < head_len; k++) {
		rv = response ? resp_parse(s, k, &resp, false) :
		    req_parse(s, k, &req);
		if (rv != GW_ERR_AGAIN)
			fail_msg("prefix %zu of %zu: got %d", k, head_len, rv);
	}
}

static void
request_get(void **state)
{
	static const char m[] = "GET /a/b?c=d HTTP/1.1\r\n"
	    "Host: example.com\r\n"
	    "User-Agent:  curl/8 \t\r\n"
	    "Accept: */*\r\n"
	    "\r\n";
	struct gw_h1_request req;
	int rv;

	(void)state;
	rv = req_parse(S(m), &req);
	assert_int_equal(rv, sizeof(m) - 1);
	assert_true(mem_is(req.method, req.method_len, "GET"));
	assert_true(mem_is(req.target, req.target_len, "/a/b?c=d"));
	assert_int_equal(req.minor_version, 1);
	assert_ptr_equal(req.headers, hdrs);
	assert_int_equal(req.nheaders, 3);
	assert_true(mem_is(hdrs[0].name, hdrs[0].name_len, "Host"));
	assert_true(mem_is(hdrs[0].value, hdrs[0].value_len, "example.com"));
	/* OWS trimmed on both sides. */
	assert_true(mem_is(hdrs[1].value, hdrs[1].value_len, "curl/8"));
	assert_true(mem_is(hdrs[2].value, hdrs[2].value_len, "*/*"));
	assert_int_equal(req.framing.body, GW_H1_BODY_NONE);
	assert_true(req.framing.keep_alive);
	assert_false(req.framing.conn_close);
	assert_false(req.framing.has_te);
	assert_false(req.framing.expect_continue);
	assert_null(req.framing.upgrade);
	assert_true(mem_is(req.framing.host, req.framing.host_len,
	    "example.com"));
	check_prefixes(m, sizeof(m) - 1, false);
}

static void
request_post_length(void **state)
{
	static const char m[] = "POST /submit HTTP/1.1\r\n"
	    "Host: a\r\n"
	    "Content-Length: 5\r\n"
	    "Expect: 100-Continue\r\n"
	    "\r\n"
	    "hello";
	struct gw_h1_request req;
	int rv;

	(void)state;
	rv = req_parse(S(m), &req);
	assert_int_equal(rv, sizeof(m) - 1 - 5);
	assert_int_equal(req.framing.body, GW_H1_BODY_LENGTH);
	assert_int_equal(req.framing.content_length, 5);
	assert_true(req.framing.expect_continue);
	check_prefixes(m, (size_t)rv, false);
}

static void
request_chunked(void **state)
{
	static const char m[] = "PUT /x HTTP/1.1\r\n"
	    "Host: a\r\n"
	    "transfer-encoding: Chunked\r\n"
	    "\r\n"
	    "5\r\nhello\r\n0\r\n\r\n";
	struct gw_h1_request req;
	int rv;

	(void)state;
	rv = req_parse(S(m), &req);
	assert_int_equal(rv, strstr(m, "\r\n\r\n") + 4 - m);
	assert_int_equal(req.framing.body, GW_H1_BODY_CHUNKED);
	assert_true(req.framing.has_te);
	check_prefixes(m, (size_t)rv, false);
}

static void
request_pipelined(void **state)
{
	static const char m[] = "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"
	    "GET /2 HTTP/1.1\r\nHost: b\r\n\r\n";
	struct gw_h1_request req;
	int rv, rv2;

	(void)state;
	rv = req_parse(S(m), &req);
	assert_int_equal(rv, 28);
	assert_true(mem_is(req.target, req.target_len, "/1"));
	rv2 = req_parse(m + rv, sizeof(m) - 1 - rv, &req);
	assert_int_equal(rv2, 28);
	assert_true(mem_is(req.target, req.target_len, "/2"));
	assert_true(mem_is(req.framing.host, req.framing.host_len, "b"));
}

static void
request_http10(void **state)
{
	struct gw_h1_request req;

	(void)state;
	/* No Host needed in 1.0; no keep-alive unless asked for. */
	assert_true(req_parse(S("GET / HTTP/1.0\r\n\r\n"), &req) > 0);
	assert_int_equal(req.minor_version, 0);
	assert_false(req.framing.keep_alive);
	assert_null(req.framing.host);
	assert_true(req_parse(S("GET / HTTP/1.0\r\n"
	    "Connection: Keep-Alive\r\n\r\n"), &req) > 0);
	assert_true(req.framing.keep_alive);
	assert_true(req_parse(S("GET / HTTP/1.0\r\n"
	    "Connection: keep-alive, close\r\n\r\n"), &req) > 0);
	assert_false(req.framing.keep_alive);
	assert_true(req.framing.conn_close);
}

static void
request_connection(void **state)
{
	struct gw_h1_request req;

	(void)state;
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: CLOSE\r\n\r\n"), &req) > 0);
	assert_false(req.framing.keep_alive);
	assert_true(req.framing.conn_close);

	assert_true(req_parse(S("GET /ws HTTP/1.1\r\nHost: a\r\n"
	    "Connection: keep-alive,  Upgrade\r\n"
	    "Upgrade: websocket\r\n\r\n"), &req) > 0);
	assert_true(req.framing.keep_alive);
	assert_true(req.framing.conn_upgrade);
	assert_true(mem_is(req.framing.upgrade, req.framing.upgrade_len,
	    "websocket"));

	/* Lists split over several lines, and "closed" is not "close". */
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: closed\r\nConnection: x,,y\r\n\r\n"), &req) > 0);
	assert_true(req.framing.keep_alive);
	assert_false(req.framing.conn_close);
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Connection: te\r\nConnection: close\r\n\r\n"), &req) > 0);
	assert_false(req.framing.keep_alive);
}

static void
request_content_length_forms(void **state)
{
	struct gw_h1_request req;

	(void)state;
	assert_true(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5, 5\r\n\r\n"), &req) > 0);
	assert_int_equal(req.framing.body, GW_H1_BODY_LENGTH);
	assert_int_equal(req.framing.content_length, 5);
	assert_true(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 7\r\ncontent-length:7 \r\n\r\n"), &req) > 0);
	assert_int_equal(req.framing.content_length, 7);
	assert_true(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0007\r\n\r\n"), &req) > 0);
	assert_int_equal(req.framing.content_length, 7);
	assert_true(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0\r\n\r\n"), &req) > 0);
	assert_int_equal(req.framing.body, GW_H1_BODY_NONE);
	assert_true(req_parse(S("POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775807\r\n\r\n"), &req) > 0);
	assert_int_equal(req.framing.content_length, INT64_MAX);
}

static void
request_targets(void **state)
{
	static const struct {
		const char *line;
		bool ok;
	} t[] = {
		{ "GET / HTTP/1.1", true },
		{ "GET //x/../y?q=%20&r HTTP/1.1", true },
		{ "GET http://example.com/p HTTP/1.1", true },
		{ "GET HTTPS://example.com HTTP/1.1", true },
		{ "GET http://[::1]:8080/ HTTP/1.1", true },
		{ "GET http:// HTTP/1.1", false },
		{ "GET http:///p HTTP/1.1", false },
		{ "GET http://:80/p HTTP/1.1", false },
		{ "GET http://user@host/ HTTP/1.1", false },
		{ "GET http://a\"b/ HTTP/1.1", false },
		{ "GET http://a\\b/ HTTP/1.1", false },
		{ "GET http://a.example:8080?x HTTP/1.1", true },
		{ "GET ftp://host/ HTTP/1.1", false },
		{ "GET a/b HTTP/1.1", false },
		{ "GET /a#frag HTTP/1.1", false },
		{ "GET * HTTP/1.1", false },
		{ "OPTIONS * HTTP/1.1", true },
		{ "OPTIONS / HTTP/1.1", true },
		{ "OPTIONS *x HTTP/1.1", false },
		{ "CONNECT example.com:443 HTTP/1.1", true },
		{ "CONNECT [2001:db8::1]:443 HTTP/1.1", true },
		{ "CONNECT example.com HTTP/1.1", false },
		{ "CONNECT example.com: HTTP/1.1", false },
		{ "CONNECT example.com:0 HTTP/1.1", false },
		{ "CONNECT example.com:65536 HTTP/1.1", false },
		{ "CONNECT :443 HTTP/1.1", false },
		{ "CONNECT a:b:443 HTTP/1.1", false },
		{ "CONNECT u@example.com:443 HTTP/1.1", false },
		{ "CONNECT / HTTP/1.1", false },
		{ "CONNECT http://a:443/ HTTP/1.1", false },
		{ "GET example.com:443 HTTP/1.1", false },
		/* Methods are case-sensitive (RFC 9110 9.1). */
		{ "connect example.com:443 HTTP/1.1", false },
		{ "GET /caf\xc3\xa9 HTTP/1.1", false },
		{ "GET /a\x7f HTTP/1.1", false },
	};
	struct gw_h1_request req;
	char buf[256];
	size_t i;
	int rv, n;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(t); i++) {
		n = snprintf(buf, sizeof buf, "%s\r\nHost: h\r\n\r\n",
		    t[i].line);
		rv = req_parse(buf, (size_t)n, &req);
		if (t[i].ok && rv != n)
			fail_msg("%s: got %d, want %d", t[i].line, rv, n);
		if (!t[i].ok && rv != GW_H1_ERR_BAD)
			fail_msg("%s: got %d, want BAD", t[i].line, rv);
	}
}

struct reject {
	const char *name;
	const char *msg;
	size_t len;
	int want;
};

#define R(name, lit, want) { name, lit, sizeof(lit) - 1, want }
#define BAD GW_H1_ERR_BAD

static const struct reject request_rejects[] = {
	/* RFC 9112 6.1 / 6.3: both framings is the classic CL.TE/TE.CL. */
	R("CL+TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", BAD),
	R("TE+CL", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n", BAD),
	R("space before colon", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding : chunked\r\n\r\n", BAD),
	R("tab before colon", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding\t: chunked\r\n\r\n", BAD),
	R("TE xchunked", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: xchunked\r\n\r\n", BAD),
	R("TE chunked;x", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked;x=1\r\n\r\n", BAD),
	R("TE chunked, chunked", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n", BAD),
	R("TE chunked twice", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
	    "\r\n", BAD),
	R("TE gzip, chunked", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: gzip, chunked\r\n\r\n", BAD),
	R("TE chunked, empty", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: chunked,\r\n\r\n", BAD),
	R("TE empty", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding:\r\n\r\n", BAD),
	R("TE identity", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding: identity\r\n\r\n", BAD),
	R("TE vertical tab", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Transfer-Encoding:\x0b" "chunked\r\n\r\n", BAD),
	R("TE in HTTP/1.0", "POST / HTTP/1.0\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n", BAD),
	R("CL +5", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\n",
	    BAD),
	R("CL -1", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
	    BAD),
	R("CL 5, 6", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5, 6\r\n\r\n", BAD),
	R("CL 5,", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5,\r\n\r\n", BAD),
	R("CL 5 5", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5 5\r\n\r\n", BAD),
	R("CL 0x5", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 0x5\r\n\r\n", BAD),
	R("CL 5.0", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5.0\r\n\r\n", BAD),
	R("CL empty", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: \r\n\r\n", BAD),
	R("two CL differing", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", BAD),
	R("CL 2^63", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 9223372036854775808\r\n\r\n", BAD),
	R("CL 2^64+5", "POST / HTTP/1.1\r\nHost: a\r\n"
	    "Content-Length: 18446744073709551621\r\n\r\n", BAD),
	/* RFC 9112 5.2: obs-fold; 2.2: whitespace after the start line. */
	R("obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n",
	    BAD),
	R("obs-fold tab", "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n",
	    BAD),
	R("space before first field", "GET / HTTP/1.1\r\n Host: a\r\n\r\n",
	    BAD),
	/* RFC 9112 2.2: bare CR, bare LF. */
	R("bare CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n",
	    BAD),
	R("bare CR at end", "GET / HTTP/1.1\r\nHost: a\r\nX: a\r\r\n\r\n",
	    BAD),
	R("bare CR in request line", "GET /\r HTTP/1.1\r\nHost: a\r\n\r\n",
	    BAD),
	R("bare LF in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\nb\r\n\r\n",
	    BAD),
	R("bare LF line end", "GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n", BAD),
	R("bare LF request line", "GET / HTTP/1.1\nHost: a\r\n\r\n", BAD),
	R("bare LF head end", "GET / HTTP/1.1\r\nHost: a\r\n\n", BAD),
	R("CR CR LF head end", "GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", BAD),
	R("NUL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
	    BAD),
	R("NUL in name", "GET / HTTP/1.1\r\nHost: a\r\nX\0: b\r\n\r\n", BAD),
	R("NUL in target", "GET /\0 HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("DEL in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x7f\r\n\r\n", BAD),
	R("ESC in value", "GET / HTTP/1.1\r\nHost: a\r\nX: \x1b\r\n\r\n", BAD),
	R("empty name", "GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", BAD),
	R("no colon", "GET / HTTP/1.1\r\nHost: a\r\nX-A\r\n\r\n", BAD),
	R("name with slash", "GET / HTTP/1.1\r\nHost: a\r\nX/A: b\r\n\r\n",
	    BAD),
	R("name with high byte", "GET / HTTP/1.1\r\nHost: a\r\nX\xe9: b\r\n"
	    "\r\n", BAD),
	/* RFC 9112 3.2: Host. */
	R("double Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", BAD),
	R("double Host 1.0", "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n",
	    BAD),
	R("missing Host", "GET / HTTP/1.1\r\nX: a\r\n\r\n", BAD),
	R("Host with path", "GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", BAD),
	R("Host with userinfo", "GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", BAD),
	R("Host with space", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", BAD),
	/* RFC 9112 2.3 / 3. */
	R("HTTP/1.2", "GET / HTTP/1.2\r\nHost: a\r\n\r\n", GW_H1_ERR_VERSION),
	R("HTTP/2.0", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", GW_H1_ERR_VERSION),
	R("HTTP/0.9", "GET / HTTP/0.9\r\n\r\n", GW_H1_ERR_VERSION),
	R("HTTP/10.0", "GET / HTTP/10.0\r\n\r\n", BAD),
	R("http/1.1", "GET / http/1.1\r\nHost: a\r\n\r\n", BAD),
	R("HTTP/1", "GET / HTTP/1\r\nHost: a\r\n\r\n", BAD),
	R("HTTP/1.1 trailing space", "GET / HTTP/1.1 \r\nHost: a\r\n\r\n",
	    BAD),
	R("no version", "GET /\r\nHost: a\r\n\r\n", BAD),
	R("tab after method", "GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("tab after target", "GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("two SP after method", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("two SP after target", "GET /  HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("leading SP", " GET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("empty method", "/ HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("method with slash", "G/ET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("overlong method", "GETGETGETGETGETGETGETGETGETGETGET / HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", BAD),
	R("leading bare LF", "\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", BAD),
	R("too many leading CRLF", "\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n"
	    "Host: a\r\n\r\n", BAD),
};

static void
run_rejects(const struct reject *t, size_t n, bool response)
{
	struct gw_h1_request req;
	struct gw_h1_response resp;
	size_t i, k;
	int rv;

	for (i = 0; i < n; i++) {
		rv = response ? resp_parse(t[i].msg, t[i].len, &resp, false) :
		    req_parse(t[i].msg, t[i].len, &req);
		if (rv != t[i].want)
			fail_msg("%s: got %d, want %d", t[i].name, rv,
			    t[i].want);
		/* Prefixes: AGAIN or the same error, never a success. */
		for (k = 0; k < t[i].len; k++) {
			rv = response ? resp_parse(t[i].msg, k, &resp, false) :
			    req_parse(t[i].msg, k, &req);
			if (rv != GW_ERR_AGAIN && rv != t[i].want)
				fail_msg("%s: prefix %zu got %d", t[i].name,
				    k, rv);
		}
	}
}

static void
request_rejections(void **state)
{
	(void)state;
	run_rejects(request_rejects, GW_ARRAY_SIZE(request_rejects), false);
}

/* Field values are checked eight bytes at a time: every bad byte at every
 * position of a long value is still refused, and HTAB and obs-text at
 * every position are still allowed. */
static void
field_value_every_position(void **state)
{
	static const unsigned char bad[] = { 0x00, 0x01, 0x08, 0x0a, 0x0b,
	    0x1f, 0x7f };
	static const unsigned char good[] = { '\t', ' ', 0x21, 0x7e, 0x80,
	    0xa0, 0xfe, 0xff };
	struct gw_h1_request req;
	char msg[256];
	size_t pos, i, n;
	int rv;

	(void)state;
	for (pos = 0; pos < 40; pos++) {
		for (i = 0; i < sizeof(bad) + sizeof(good); i++) {
			unsigned char c = i < sizeof(bad) ? bad[i] :
			    good[i - sizeof(bad)];
			char value[41];

			memset(value, 'v', 40);
			value[40] = '\0';
			value[pos] = (char)c;
			n = (size_t)snprintf(msg, sizeof(msg),
			    "GET / HTTP/1.1\r\nHost: a\r\nX-Long: %.40s\r\n"
			    "\r\n", value);
			/* snprintf stops at a NUL: put the value in whole. */
			memcpy(strstr(msg, "X-Long: ") + 8, value, 40);
			n = strlen("GET / HTTP/1.1\r\nHost: a\r\nX-Long: ") +
			    40 + 4;
			rv = req_parse(msg, n, &req);
			if (i < sizeof(bad) && rv != GW_H1_ERR_BAD)
				fail_msg("byte 0x%02x at %zu: got %d", c, pos,
				    rv);
			if (i >= sizeof(bad) && rv != (int)n)
				fail_msg("byte 0x%02x at %zu refused: %d", c,
				    pos, rv);
		}
	}
	/* A trailing HTAB is whitespace, not part of the value. */
	n = strlen("GET / HTTP/1.1\r\nHost: a\r\nX: abcdefghijklmnop\t\t\r\n"
	    "\r\n");
	assert_int_equal(req_parse("GET / HTTP/1.1\r\nHost: a\r\n"
	    "X: abcdefghijklmnop\t\t\r\n\r\n", n, &req), (int)n);
	assert_int_equal(req.nheaders, 2);
	assert_int_equal(hdrs[1].value_len, 16);
}

static void
request_early_rejection(void **state)
{
	struct gw_h1_request req;

	(void)state;
	/* Garbage is refused without waiting for the end of the head. */
	assert_int_equal(req_parse(S("GET /\0"), &req), GW_H1_ERR_BAD);
	assert_int_equal(req_parse(S("GET / HTTP/1.1\r\nX: \x01"), &req),
	    GW_H1_ERR_BAD);
	assert_int_equal(req_parse(S("GET / FTP"), &req), GW_H1_ERR_BAD);
	assert_int_equal(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n b"),
	    &req), GW_H1_ERR_BAD);
	assert_int_equal(req_parse(S("GET / HTTP/2.0\r"), &req),
	    GW_ERR_AGAIN);
	assert_int_equal(req_parse(S("GET / HTTP/2.0\r\n"), &req),
	    GW_H1_ERR_VERSION);
}

static void
request_leading_empty_lines(void **state)
{
	static const char m[] = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
	struct gw_h1_request req;

	(void)state;
	assert_int_equal(req_parse(S(m), &req), sizeof(m) - 1);
	assert_true(mem_is(req.method, req.method_len, "GET"));
	check_prefixes(m, sizeof(m) - 1, false);
	assert_int_equal(req_parse(S("\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\n"
	    "Host: a\r\n\r\n"), &req), 4 * 2 + 27);
	assert_int_equal(req_parse(S("\r\r\nGET / HTTP/1.1\r\n"), &req),
	    GW_H1_ERR_BAD);
}

static void
request_too_many_headers(void **state)
{
	static const char m[] = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\n"
	    "B: 2\r\nC: 3\r\n\r\n";
	struct gw_h1_header h[4];
	struct gw_h1_request req;

	(void)state;
	assert_int_equal(gw_h1_parse_request(S(m), &req, h, 4),
	    sizeof(m) - 1);
	assert_int_equal(req.nheaders, 4);
	assert_int_equal(gw_h1_parse_request(S(m), &req, h, 3),
	    GW_H1_ERR_TOO_LARGE);
	assert_int_equal(gw_h1_parse_request(S(m), &req, NULL, 0),
	    GW_H1_ERR_TOO_LARGE);
	/* Decided as soon as the extra line starts. */
	assert_int_equal(gw_h1_parse_request(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "A: 1\r\nB"), &req, h, 2), GW_H1_ERR_TOO_LARGE);
}

static void
request_field_values(void **state)
{
	struct gw_h1_request req;

	(void)state;
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost:a\r\n"
	    "X-Empty:\r\nX-Ws: \t \r\nX-Obs: caf\xc3\xa9\r\n"
	    "X-In: a \t b\r\n\r\n"), &req) > 0);
	assert_int_equal(req.nheaders, 5);
	assert_true(mem_is(hdrs[0].value, hdrs[0].value_len, "a"));
	assert_int_equal(hdrs[1].value_len, 0);
	assert_int_equal(hdrs[2].value_len, 0);
	assert_true(mem_is(hdrs[3].value, hdrs[3].value_len,
	    "caf\xc3\xa9"));
	assert_true(mem_is(hdrs[4].value, hdrs[4].value_len, "a \t b"));
	/* Empty Host is allowed when the target has no authority. */
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost:\r\n\r\n"), &req) > 0);
	assert_non_null(req.framing.host);
	assert_int_equal(req.framing.host_len, 0);
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n"),
	    &req) > 0);
	/* Only the exact expectation counts. */
	assert_true(req_parse(S("GET / HTTP/1.1\r\nHost: a\r\n"
	    "Expect: 100-continuex\r\n\r\n"), &req) > 0);
	assert_false(req.framing.expect_continue);
}

static void
name_eq(void **state)
{
	(void)state;
	assert_true(gw_h1_name_eq("Content-Length", 14, "content-length"));
	assert_true(gw_h1_name_eq("CONTENT-LENGTH", 14, "Content-Length"));
	assert_false(gw_h1_name_eq("Content-Length", 13, "content-length"));
	assert_false(gw_h1_name_eq("Content-Lengths", 15, "content-length"));
	assert_false(gw_h1_name_eq("Content_Length", 14, "content-length"));
	assert_true(gw_h1_name_eq("", 0, ""));
	assert_false(gw_h1_name_eq("a", 1, ""));
	/* ASCII only: 0xC0 is not 0xE0 in any case mapping. */
	assert_false(gw_h1_name_eq("\xc0", 1, "\xe0"));
}

/*
 * Feeding a head one byte at a time, parsing only when gw_h1_head_ready()
 * says so: the parse runs a bounded number of times, not once per byte.
 */
static void
head_ready(void **state)
{
	static const char m[] = "\r\nGET / HTTP/1.1\r\nHost: a\r\nX: y\r\n"
	    "\r\nGET /next";
	static const char lf[] = "GET / HTTP/1.1\nHost: a";
	struct gw_h1_request req;
	size_t scan = 0, k, parses = 0;
	int rv = GW_ERR_AGAIN;

	(void)state;
	for (k = 1; k <= sizeof(m) - 1 && rv == GW_ERR_AGAIN; k++) {
		if (!gw_h1_head_ready(m, k, &scan))
			continue;
		parses++;
		rv = req_parse(m, k, &req);
	}
	assert_int_equal(rv, strstr(m, "\r\n\r\n") + 4 - m);
	assert_int_equal(k - 1, (size_t)rv);
	assert_int_equal(parses, 2);

	scan = 0;
	assert_false(gw_h1_head_ready(lf, 13, &scan));
	assert_int_equal(scan, 13);
	assert_true(gw_h1_head_ready(lf, sizeof(lf) - 1, &scan));
	assert_int_equal(req_parse(lf, sizeof(lf) - 1, &req), GW_H1_ERR_BAD);
	scan = 0;
	assert_true(gw_h1_head_ready("\n", 1, &scan));
	scan = 0;
	assert_false(gw_h1_head_ready("a\r\nb\r\n", 6, &scan));
	assert_true(gw_h1_head_ready("a\r\nb\r\n\r\n", 8, &scan));
	assert_int_equal(scan, 8);
}

static void
response_basic(void **state)
{
	static const char m[] = "HTTP/1.1 200 OK\r\n"
	    "Content-Type: text/plain\r\n"
	    "Content-Length: 12\r\n"
	    "\r\n"
	    "hello world\n";
	struct gw_h1_response resp;
	int rv;

	(void)state;
	rv = resp_parse(S(m), &resp, false);
	assert_int_equal(rv, sizeof(m) - 1 - 12);
	assert_int_equal(resp.status, 200);
	assert_true(mem_is(resp.reason, resp.reason_len, "OK"));
	assert_int_equal(resp.minor_version, 1);
	assert_int_equal(resp.nheaders, 2);
	assert_int_equal(resp.framing.body, GW_H1_BODY_LENGTH);
	assert_int_equal(resp.framing.content_length, 12);
	assert_true(resp.framing.keep_alive);
	assert_null(resp.framing.host);
	check_prefixes(m, (size_t)rv, true);

	/* HEAD: the same head, no body. */
	assert_int_equal(resp_parse(S(m), &resp, true), rv);
	assert_int_equal(resp.framing.body, GW_H1_BODY_NONE);
	assert_true(resp.framing.keep_alive);
}

static void
response_status_line(void **state)
{
	struct gw_h1_response resp;

	(void)state;
	assert_int_equal(resp_parse(S("HTTP/1.1 200 \r\n"
	    "Content-Length: 0\r\n\r\n"), &resp, false), 36);
	assert_int_equal(resp.reason_len, 0);
	assert_int_equal(resp_parse(S("HTTP/1.1 200\r\n"
	    "Content-Length: 0\r\n\r\n"), &resp, false), 35);
	assert_int_equal(resp.reason_len, 0);
	assert_int_equal(resp_parse(S("HTTP/1.0 404 Not  \tFound\xff\r\n\r\n"),
	    &resp, false), 29);
	assert_int_equal(resp.status, 404);
	assert_int_equal(resp.minor_version, 0);
	assert_true(mem_is(resp.reason, resp.reason_len,
	    "Not  \tFound\xff"));
	assert_int_equal(resp_parse(S("HTTP/1.1 999 X\r\n\r\n"), &resp, false),
	    18);
	assert_int_equal(resp.status, 999);
	assert_int_equal(resp_parse(S("HTTP/1.1 100 Continue\r\n\r\n"), &resp,
	    false), 25);
	assert_int_equal(resp.status, 100);
}

static const struct reject response_rejects[] = {
	R("status 099", "HTTP/1.1 099 X\r\n\r\n", BAD),
	R("status 000", "HTTP/1.1 000 X\r\n\r\n", BAD),
	R("status 20", "HTTP/1.1 20 X\r\n\r\n", BAD),
	R("status 2000", "HTTP/1.1 2000 X\r\n\r\n", BAD),
	R("status 2x0", "HTTP/1.1 2x0 X\r\n\r\n", BAD),
	R("status +20", "HTTP/1.1 +20 X\r\n\r\n", BAD),
	R("two SP", "HTTP/1.1  200 X\r\n\r\n", BAD),
	R("tab", "HTTP/1.1\t200 X\r\n\r\n", BAD),
	R("HTTP/2.0", "HTTP/2.0 200 OK\r\n\r\n", GW_H1_ERR_VERSION),
	R("HTTP/1.2", "HTTP/1.2 200 OK\r\n\r\n", GW_H1_ERR_VERSION),
	R("lowercase", "http/1.1 200 OK\r\n\r\n", BAD),
	R("ICY", "ICY 200 OK\r\n\r\n", BAD),
	R("leading CRLF", "\r\nHTTP/1.1 200 OK\r\n\r\n", BAD),
	R("CTL in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", BAD),
	R("bare LF status line", "HTTP/1.1 200 OK\n\r\n", BAD),
	R("bare CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n", BAD),
	R("obs-fold", "HTTP/1.1 200 OK\r\nX: a\r\n b\r\n\r\n", BAD),
	R("CL differing", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\n", BAD),
	R("CL sign", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", BAD),
	R("CL bad on 204", "HTTP/1.1 204 OK\r\nContent-Length: x\r\n\r\n",
	    BAD),
	R("TE chunked twice", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked, chunked\r\n\r\n", BAD),
	R("TE chunked twice, lines", "HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip, "
	    "chunked\r\n\r\n", BAD),
	R("space before colon", "HTTP/1.1 200 OK\r\n"
	    "Content-Length : 5\r\n\r\n", BAD),
	R("NUL", "HTTP/1.1 200 OK\r\nX: \0\r\n\r\n", BAD),
};

static void
response_rejections(void **state)
{
	(void)state;
	run_rejects(response_rejects, GW_ARRAY_SIZE(response_rejects), true);
}

static void
response_no_body(void **state)
{
	static const char *const heads[] = {
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\n"
		    "Upgrade: websocket\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n",
		"HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
	};
	struct gw_h1_response resp;
	size_t i;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(heads); i++) {
		assert_int_equal(resp_parse(heads[i], strlen(heads[i]), &resp,
		    false), strlen(heads[i]));
		assert_int_equal(resp.framing.body, GW_H1_BODY_NONE);
		assert_int_equal(resp.framing.content_length, 0);
	}
	assert_true(resp.framing.keep_alive);
	assert_true(resp_parse(heads[1], strlen(heads[1]), &resp, false) > 0);
	assert_true(resp.framing.conn_upgrade);
	assert_true(mem_is(resp.framing.upgrade, resp.framing.upgrade_len,
	    "websocket"));
	/* HEAD: whatever the headers say. */
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), &resp, true) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_NONE);
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n\r\n"), &resp, true) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_NONE);
	assert_true(resp.framing.keep_alive);
}

static void
response_framing(void **state)
{
	struct gw_h1_response resp;

	(void)state;
	/* RFC 9112 6.3 point 8: no length, read until close. */
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n\r\n"), &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_UNTIL_CLOSE);
	assert_false(resp.framing.keep_alive);
	assert_true(resp_parse(S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\n"),
	    &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_LENGTH);
	assert_false(resp.framing.keep_alive);
	assert_true(resp_parse(S("HTTP/1.0 200 OK\r\nContent-Length: 3\r\n"
	    "Connection: keep-alive\r\n\r\n"), &resp, false) > 0);
	assert_true(resp.framing.keep_alive);

	/* Chunked, with a final chunked coding. */
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip, CHUNKED\r\n\r\n"), &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_CHUNKED);
	assert_true(resp.framing.keep_alive);
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n"),
	    &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_CHUNKED);

	/* 6.3 point 4: a final coding other than chunked: until close. */
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: chunked, gzip\r\n\r\n"), &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_UNTIL_CLOSE);
	assert_false(resp.framing.keep_alive);
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\n"
	    "Transfer-Encoding: identity\r\n\r\n"), &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_UNTIL_CLOSE);

	/* 6.3 point 3: TE wins over CL, and the connection is not reused. */
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"), &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_CHUNKED);
	assert_int_equal(resp.framing.content_length, 0);
	assert_true(resp.framing.has_te);
	assert_false(resp.framing.keep_alive);

	/* 6.1: TE in HTTP/1.0 is honoured but the connection closes. */
	assert_true(resp_parse(S("HTTP/1.0 200 OK\r\n"
	    "Transfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n"),
	    &resp, false) > 0);
	assert_int_equal(resp.framing.body, GW_H1_BODY_CHUNKED);
	assert_false(resp.framing.keep_alive);

	/* A response is not a request: no Host needed, Host not kept. */
	assert_true(resp_parse(S("HTTP/1.1 200 OK\r\nHost: a\r\nHost: b\r\n"
	    "Content-Length: 1\r\n\r\n"), &resp, false) > 0);
	assert_null(resp.framing.host);
}

/* --- chunked decoder ---------------------------------------------------- */

struct dec_result {
	int rv;
	char out[512];
	size_t out_len;
	char tr[512];
	size_t tr_len;
	size_t left;             /* bytes left in `in` */
	size_t calls;
};

/*
 * Feeds msg to a fresh decoder `piece` bytes at a time (0: all at once),
 * with the given max_out.
 */
static void
decode(const char *msg, size_t len, size_t piece, size_t max_out,
    struct dec_result *r)
{
	struct gw_h1_chunked c;
	struct evbuffer *in, *out, *tr;
	size_t off = 0, n, before_in, before_out, grew;

	memset(r, 0, sizeof *r);
	in = evbuffer_new();
	out = evbuffer_new();
	tr = evbuffer_new();
	assert_non_null(in);
	assert_non_null(out);
	assert_non_null(tr);
	gw_h1_chunked_init(&c);
	r->rv = 0;
	while (off < len && r->rv == 0) {
		n = piece == 0 ? len - off : GW_MIN(piece, len - off);
		assert_int_equal(evbuffer_add(in, msg + off, n), 0);
		off += n;
		/*
		 * As a caller would: call again at once only when max_out
		 * stopped it; any other 0 means "wait for input", so a
		 * repeat call must change nothing.
		 */
		for (;;) {
			before_out = evbuffer_get_length(out);
			r->rv = gw_h1_chunked_decode(&c, in, out, tr, max_out);
			r->calls++;
			grew = evbuffer_get_length(out) - before_out;
			if (max_out != 0)
				assert_true(grew <= max_out);
			if (r->rv != 0)
				break;
			if (max_out != 0 && grew == max_out)
				continue;
			before_in = evbuffer_get_length(in);
			before_out = evbuffer_get_length(out);
			assert_int_equal(gw_h1_chunked_decode(&c, in, out, tr,
			    max_out), 0);
			assert_int_equal(evbuffer_get_length(in), before_in);
			assert_int_equal(evbuffer_get_length(out), before_out);
			break;
		}
	}
	r->out_len = evbuffer_get_length(out);
	assert_true(r->out_len < sizeof r->out);
	evbuffer_remove(out, r->out, r->out_len);
	r->tr_len = evbuffer_get_length(tr);
	if (r->tr_len < sizeof r->tr)
		evbuffer_remove(tr, r->tr, r->tr_len);
	r->left = evbuffer_get_length(in) + (len - off);
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(tr);
}

static void
expect_decode(const char *msg, size_t len, int rv, const char *out,
    const char *tr, size_t left)
{
	struct dec_result r;
	size_t piece, max_out;
	static const size_t maxes[] = { 0, 1, 3, 1000 };
	size_t m;

	for (piece = 0; piece <= 7; piece++) {
		for (m = 0; m < GW_ARRAY_SIZE(maxes); m++) {
			max_out = maxes[m];
			decode(msg, len, piece, max_out, &r);
			if (r.rv != rv)
				fail_msg("piece %zu max %zu: rv %d want %d",
				    piece, max_out, r.rv, rv);
			if (out != NULL && (r.out_len != strlen(out) ||
			    memcmp(r.out, out, r.out_len) != 0))
				fail_msg("piece %zu max %zu: out '%.*s'",
				    piece, max_out, (int)r.out_len, r.out);
			if (tr != NULL && (r.tr_len != strlen(tr) ||
			    memcmp(r.tr, tr, r.tr_len) != 0))
				fail_msg("piece %zu: trailers '%.*s'", piece,
				    (int)r.tr_len, r.tr);
			if (rv == 1 && r.left != left)
				fail_msg("piece %zu: left %zu want %zu", piece,
				    r.left, left);
		}
	}
}

static void
chunked_basic(void **state)
{
	(void)state;
	expect_decode(S("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), 1,
	    "hello world", "", 0);
	expect_decode(S("0\r\n\r\n"), 1, "", "", 0);
	expect_decode(S("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"), 1,
	    "0123456789abcdefghij", "", 0);
	expect_decode(S("000000000000000000000003\r\nabc\r\n0000\r\n\r\n"), 1,
	    "abc", "", 0);
	/* Bytes after the body stay for the next message. */
	expect_decode(S("1\r\nx\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), 1, "x", "",
	    16);
	/* Incomplete bodies ask for more, having moved what they could. */
	expect_decode(S("5\r\nhel"), 0, "hel", "", 0);
	expect_decode(S("5\r\nhello\r\n0\r\n"), 0, "hello", "", 0);
	expect_decode(S("5\r\nhello\r\n0\r\nX: y\r\n"), 0, "hello", NULL, 0);
	expect_decode(S("ffffffffffffffff\r\nab"), 0, "ab", "", 0);
}

static void
chunked_extensions(void **state)
{
	(void)state;
	expect_decode(S("3;a\r\nabc\r\n0\r\n\r\n"), 1, "abc", "", 0);
	expect_decode(S("3;a=b\r\nabc\r\n0;last\r\n\r\n"), 1, "abc", "", 0);
	expect_decode(S("3 ; a = b ;c;d=\"x;y\\\"z\"\r\nabc\r\n0\r\n\r\n"), 1,
	    "abc", "", 0);
	expect_decode(S("3;a=\"\"\r\nabc\r\n0\r\n\r\n"), 1, "abc", "", 0);
	expect_decode(S("3\t;a\r\nabc\r\n0\r\n\r\n"), 1, "abc", "", 0);
	expect_decode(S("3;a \t = \t b \t;c \t;d\r\nabc\r\n0\r\n\r\n"), 1,
	    "abc", "", 0);
	expect_decode(S("3;a=\"\\\"\\\\\t\x80\"\r\nabc\r\n0\r\n\r\n"), 1,
	    "abc", "", 0);
}

static void
chunked_trailers(void **state)
{
	(void)state;
	expect_decode(S("1\r\na\r\n0\r\nX-Sum: 1\r\nX-B:two \r\n\r\n"), 1,
	    "a", "X-Sum: 1\r\nX-B:two \r\n", 0);
	expect_decode(S("0\r\nA:\r\n\r\nrest"), 1, "", "A:\r\n", 4);
}

static void
chunked_trailers_dropped(void **state)
{
	static const char m[] = "0\r\nX: y\r\n\r\n";
	struct gw_h1_chunked c;
	struct evbuffer *in, *out;

	(void)state;
	in = evbuffer_new();
	out = evbuffer_new();
	gw_h1_chunked_init(&c);
	evbuffer_add(in, S(m));
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 0), 1);
	assert_int_equal(evbuffer_get_length(in), 0);
	assert_int_equal(evbuffer_get_length(out), 0);
	/* Done stays done and leaves later bytes alone. */
	evbuffer_add(in, "x", 1);
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 0), 1);
	assert_int_equal(evbuffer_get_length(in), 1);
	evbuffer_free(in);
	evbuffer_free(out);
}

static void
chunked_max_out(void **state)
{
	static const char m[] = "a\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n";
	struct gw_h1_chunked c;
	struct evbuffer *in, *out;
	char got[16];

	(void)state;
	in = evbuffer_new();
	out = evbuffer_new();
	gw_h1_chunked_init(&c);
	evbuffer_add(in, S(m));
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 4), 0);
	assert_int_equal(evbuffer_get_length(out), 4);
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 4), 0);
	assert_int_equal(evbuffer_get_length(out), 8);
	/* 2 bytes end chunk one, 2 more from chunk two. */
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 4), 0);
	assert_int_equal(evbuffer_get_length(out), 12);
	/* The last byte, then the framing to the end: done in one call. */
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 4), 1);
	assert_int_equal(evbuffer_get_length(out), 13);
	assert_int_equal(evbuffer_get_length(in), 0);
	evbuffer_remove(out, got, 13);
	assert_memory_equal(got, "0123456789abc", 13);
	evbuffer_free(in);
	evbuffer_free(out);
}

static void
chunked_malformed(void **state)
{
	static const struct reject t[] = {
		R("-1", "-1\r\n", BAD),
		R("0x10", "0x10\r\n0123456789abcdef\r\n0\r\n\r\n", BAD),
		R("17 hex digits", "fffffffffffffffff\r\n", BAD),
		R("2^64", "10000000000000000\r\n", BAD),
		R("missing CRLF after data", "1\r\nab\r\n0\r\n\r\n", BAD),
		R("LF only after data", "1\r\na\n0\r\n\r\n", BAD),
		R("CR only after data", "1\r\na\r0\r\n\r\n", BAD),
		R("nothing after data", "3\r\nabc0\r\n\r\n", BAD),
		R("empty size", "\r\n", BAD),
		R("leading space", " 1\r\na\r\n0\r\n\r\n", BAD),
		R("trailing space", "1 \r\na\r\n0\r\n\r\n", BAD),
		R("trailing tab", "1\t\r\na\r\n0\r\n\r\n", BAD),
		R("plus", "+1\r\na\r\n0\r\n\r\n", BAD),
		R("bare LF size", "1\na\r\n0\r\n\r\n", BAD),
		R("bare CR size", "1\ra\r\n0\r\n\r\n", BAD),
		R("NUL in size", "1\0\r\na\r\n0\r\n\r\n", BAD),
		R("ext no name", "1;\r\na\r\n0\r\n\r\n", BAD),
		R("ext no value", "1;a=\r\na\r\n0\r\n\r\n", BAD),
		R("ext bad name", "1;a/b\r\na\r\n0\r\n\r\n", BAD),
		R("ext bad value", "1;a=b/c\r\na\r\n0\r\n\r\n", BAD),
		R("ext open quote", "1;a=\"b\r\na\r\n0\r\n\r\n", BAD),
		R("ext CTL in quote", "1;a=\"\x01\"\r\na\r\n0\r\n\r\n", BAD),
		R("ext after quote", "1;a=\"b\"c\r\na\r\n0\r\n\r\n", BAD),
		R("ext trailing space", "1;a \r\na\r\n0\r\n\r\n", BAD),
		R("ext bare LF", "1;a\na\r\n0\r\n\r\n", BAD),
		R("trailer obs-fold", "0\r\nX: a\r\n b\r\n\r\n", BAD),
		R("trailer no colon", "0\r\nX\r\n\r\n", BAD),
		R("trailer space before colon", "0\r\nX : a\r\n\r\n", BAD),
		R("trailer empty name", "0\r\n: a\r\n\r\n", BAD),
		R("trailer bare LF", "0\r\nX: a\n\r\n", BAD),
		R("trailer bare CR", "0\r\nX: a\rb\r\n\r\n", BAD),
		R("trailer NUL", "0\r\nX: \0\r\n\r\n", BAD),
		R("final bare LF", "0\r\n\n", BAD),
		R("final CR CR", "0\r\n\r\r", BAD),
	};
	size_t i;
	struct dec_result r;
	size_t piece;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(t); i++) {
		for (piece = 0; piece <= 3; piece++) {
			decode(t[i].msg, t[i].len, piece, 0, &r);
			if (r.rv != t[i].want)
				fail_msg("%s (piece %zu): got %d", t[i].name,
				    piece, r.rv);
		}
	}
}

static void
chunked_limits(void **state)
{
	struct gw_h1_chunked c;
	struct evbuffer *in, *out, *tr;
	char line[GW_H1_MAX_CHUNK_LINE + 16];
	size_t i, n;
	int rv = 0;

	(void)state;
	in = evbuffer_new();
	out = evbuffer_new();
	tr = evbuffer_new();

	/* A size line of exactly the limit passes, one byte more fails. */
	memset(line, '0', sizeof line);
	n = GW_H1_MAX_CHUNK_LINE - 2;
	memcpy(line + n, "\r\n", 2);
	gw_h1_chunked_init(&c);
	evbuffer_add(in, line, n + 2);
	evbuffer_add(in, "\r\n", 2);
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, tr, 0), 1);
	evbuffer_drain(in, evbuffer_get_length(in));
	memset(line, '0', sizeof line);
	memcpy(line + n + 1, "\r\n", 2);
	gw_h1_chunked_init(&c);
	evbuffer_add(in, line, n + 3);
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, tr, 0),
	    GW_H1_ERR_BAD);
	/* Errors stick. */
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, tr, 0),
	    GW_H1_ERR_BAD);
	evbuffer_drain(in, evbuffer_get_length(in));

	/* Trailers: 64 KiB of them are refused, fed in small pieces. */
	gw_h1_chunked_init(&c);
	evbuffer_add(in, "0\r\n", 3);
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, tr, 0), 0);
	for (i = 0; i < 10000 && rv == 0; i++) {
		evbuffer_add_printf(in, "X-%05zu: yy\r\n", i);
		rv = gw_h1_chunked_decode(&c, in, out, tr, 0);
	}
	assert_int_equal(rv, GW_H1_ERR_BAD);
	assert_true(i * 13 > GW_H1_MAX_TRAILERS);
	assert_true((i - 1) * 13 <= GW_H1_MAX_TRAILERS);
	evbuffer_drain(in, evbuffer_get_length(in));

	/* Exactly at the limit, counting the final CRLF: one line of
	 * "X: " + k bytes + CRLF, then CRLF, is k + 7 bytes. */
	for (n = GW_H1_MAX_TRAILERS - 7; n <= GW_H1_MAX_TRAILERS - 6; n++) {
		gw_h1_chunked_init(&c);
		evbuffer_drain(tr, evbuffer_get_length(tr));
		evbuffer_add(in, "0\r\nX: ", 6);
		for (i = 0; i < n; i++)
			evbuffer_add(in, "a", 1);
		evbuffer_add(in, "\r\n\r\n", 4);
		rv = gw_h1_chunked_decode(&c, in, out, tr, 0);
		if (n == GW_H1_MAX_TRAILERS - 7) {
			assert_int_equal(rv, 1);
			assert_int_equal(evbuffer_get_length(tr), n + 5);
		} else
			assert_int_equal(rv, GW_H1_ERR_BAD);
		evbuffer_drain(in, evbuffer_get_length(in));
	}

	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(tr);
}

/*
 * Regression: evbuffer_peek(in, -1, ...) fills at most the extents it is
 * given and returns that number, not how many the buffer holds.  The
 * decoder took "all extents read" for "all input read" and returned 0
 * (wait for input) with framing bytes still queued, once `in` held more
 * than 8 chains: a body that had fully arrived then never completed.
 */
static void
chunked_regress_peek_extents(void **state)
{
	static const char m[] = "3;a=b\r\nabc\r\n0\r\nX-A: 1\r\n\r\n";
	struct gw_h1_chunked c;
	struct evbuffer *in, *out, *tr;
	size_t i;

	(void)state;
	in = evbuffer_new();
	out = evbuffer_new();
	tr = evbuffer_new();
	gw_h1_chunked_init(&c);
	/* One chain per byte. */
	for (i = 0; i < sizeof(m) - 1; i++)
		assert_int_equal(evbuffer_add_reference(in, m + i, 1, NULL,
		    NULL), 0);
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, tr, 0), 1);
	assert_int_equal(evbuffer_get_length(in), 0);
	assert_int_equal(evbuffer_get_length(out), 3);
	assert_int_equal(evbuffer_get_length(tr), 8);
	evbuffer_free(in);
	evbuffer_free(out);
	evbuffer_free(tr);
}

/* Data is moved between evbuffers, not copied through the decoder. */
static void
chunked_large(void **state)
{
	struct gw_h1_chunked c;
	struct evbuffer *in, *out;
	char *body;
	size_t n = 1 << 20;

	(void)state;
	body = malloc(n);
	assert_non_null(body);
	memset(body, 'z', n);
	in = evbuffer_new();
	out = evbuffer_new();
	gw_h1_chunked_init(&c);
	evbuffer_add_printf(in, "%zx\r\n", n);
	evbuffer_add(in, body, n);
	evbuffer_add(in, S("\r\n0\r\n\r\n"));
	assert_int_equal(gw_h1_chunked_decode(&c, in, out, NULL, 0), 1);
	assert_int_equal(evbuffer_get_length(out), n);
	assert_int_equal(evbuffer_get_length(in), 0);
	free(body);
	evbuffer_free(in);
	evbuffer_free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_get),
		cmocka_unit_test(request_post_length),
		cmocka_unit_test(request_chunked),
		cmocka_unit_test(request_pipelined),
		cmocka_unit_test(request_http10),
		cmocka_unit_test(request_connection),
		cmocka_unit_test(request_content_length_forms),
		cmocka_unit_test(request_targets),
		cmocka_unit_test(request_rejections),
		cmocka_unit_test(request_early_rejection),
		cmocka_unit_test(field_value_every_position),
		cmocka_unit_test(request_leading_empty_lines),
		cmocka_unit_test(request_too_many_headers),
		cmocka_unit_test(request_field_values),
		cmocka_unit_test(name_eq),
		cmocka_unit_test(head_ready),
		cmocka_unit_test(response_basic),
		cmocka_unit_test(response_status_line),
		cmocka_unit_test(response_rejections),
		cmocka_unit_test(response_no_body),
		cmocka_unit_test(response_framing),
		cmocka_unit_test(chunked_basic),
		cmocka_unit_test(chunked_extensions),
		cmocka_unit_test(chunked_trailers),
		cmocka_unit_test(chunked_trailers_dropped),
		cmocka_unit_test(chunked_max_out),
		cmocka_unit_test(chunked_malformed),
		cmocka_unit_test(chunked_limits),
		cmocka_unit_test(chunked_large),
		cmocka_unit_test(chunked_regress_peek_extents),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
