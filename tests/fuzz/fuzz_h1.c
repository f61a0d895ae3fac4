/*
 * fuzz_h1.c: fuzz entry point for the HTTP/1.1 head parser and the chunked
 * decoder (src/h1_parser.c).
 *
 * Built two ways: with clang -fsanitize=fuzzer as a libFuzzer target
 * (`make fuzz_h1` under --enable-fuzz), and linked with replay.c into
 * tests/fuzz/fuzz_h1_replay, which `make check` runs over the seed corpus
 * and a bounded mutation loop.
 *
 * Each input is read as a request head, a response head (with and without
 * HEAD) and a chunked body, whole and in pieces.  Beyond "no crash", the
 * harness checks what the parser promises, and abort()s when it does not:
 *  - a successful parse points only inside the head it reports, and what
 *    it reports satisfies the grammar it enforces;
 *  - the framing it derives is consistent (RFC 9112 6.3);
 *  - a prefix of the input parses as GW_ERR_AGAIN or as the input does;
 *    never as a success when the input is not one;
 *  - parsing only when gw_h1_head_ready() says so finds the same head,
 *    after a bounded number of parses;
 *  - the chunked decoder gives the same result, output and trailers
 *    however its input is split and whatever max_out is, never outputs
 *    more than it consumed, and agrees with ref_chunked(), a plain
 *    whole-buffer reading of the same grammar written for this harness.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gw.h"
#include "h1_parser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x) do {							\
	if (!(x)) {							\
		fprintf(stderr, "%s:%d: invariant failed: %s\n",	\
		    __FILE__, __LINE__, #x);				\
		abort();						\
	}								\
} while (0)

#define FUZZ_MAX_HEADERS 32

/* Prefixes of a head this short are all tried; longer ones sampled. */
#define FUZZ_ALL_PREFIXES 96
#define FUZZ_SAMPLED_PREFIXES 6

static uint64_t
fnv1a(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* xorshift64*: positions and sizes derived from the input itself. */
static uint64_t
rng_next(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static bool
within(const char *p, size_t n, const char *buf, size_t len)
{
	uintptr_t a = (uintptr_t)p, b = (uintptr_t)buf;

	return p != NULL && a >= b && n <= len && a - b <= len - n;
}

static bool
tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static bool
is_error(int rv)
{
	return rv == GW_ERR_AGAIN || rv == GW_H1_ERR_BAD ||
	    rv == GW_H1_ERR_TOO_LARGE || rv == GW_H1_ERR_VERSION;
}

static void
check_headers(const char *buf, size_t h, const struct gw_h1_header *hd,
    size_t n, size_t max)
{
	size_t i, j;

	CHECK(n <= max);
	for (i = 0; i < n; i++) {
		CHECK(hd[i].name_len > 0);
		CHECK(within(hd[i].name, hd[i].name_len + 1, buf, h));
		for (j = 0; j < hd[i].name_len; j++)
			CHECK(tchar((unsigned char)hd[i].name[j]));
		CHECK(hd[i].name[hd[i].name_len] == ':');
		if (hd[i].value_len == 0) {
			CHECK(hd[i].value != NULL);
			continue;
		}
		CHECK(within(hd[i].value, hd[i].value_len, buf, h));
		CHECK(hd[i].value > hd[i].name + hd[i].name_len);
		for (j = 0; j < hd[i].value_len; j++)
			CHECK(field_char((unsigned char)hd[i].value[j]));
		CHECK(hd[i].value[0] != ' ' && hd[i].value[0] != '\t');
		CHECK(hd[i].value[hd[i].value_len - 1] != ' ' &&
		    hd[i].value[hd[i].value_len - 1] != '\t');
		/* The value ends its line: CRLF after the trimmed OWS. */
		j = hd[i].value + hd[i].value_len - buf;
		while (buf[j] == ' ' || buf[j] == '\t')
			j++;
		CHECK(buf[j] == '\r' && buf[j + 1] == '\n');
	}
}

static void
check_framing_common(const char *buf, size_t h,
    const struct gw_h1_framing *f)
{
	if (f->body == GW_H1_BODY_LENGTH)
		CHECK(f->content_length > 0 &&
		    f->content_length <= (uint64_t)INT64_MAX);
	else
		CHECK(f->content_length == 0);
	if (f->body == GW_H1_BODY_CHUNKED)
		CHECK(f->has_te);
	if (f->conn_close)
		CHECK(!f->keep_alive);
	if (f->upgrade != NULL)
		CHECK(f->upgrade_len == 0 ||
		    within(f->upgrade, f->upgrade_len, buf, h));
	if (f->host != NULL)
		CHECK(f->host_len == 0 || within(f->host, f->host_len, buf, h));
}

/* A fresh exact-size copy, so that ASan sees any read past len. */
static char *
dup_exact(const char *p, size_t n)
{
	char *q = malloc(n == 0 ? 1 : n);

	CHECK(q != NULL);
	memcpy(q, p, n);
	return q;
}

static int
parse_req(const char *buf, size_t len, struct gw_h1_request *req,
    struct gw_h1_header *hd, size_t max)
{
	char *copy = dup_exact(buf, len);
	int rv;

	rv = gw_h1_parse_request(copy, len, req, hd, max);
	free(copy);
	return rv;
}

static int
parse_resp(const char *buf, size_t len, struct gw_h1_response *resp,
    struct gw_h1_header *hd, size_t max, bool head)
{
	char *copy = dup_exact(buf, len);
	int rv;

	rv = gw_h1_parse_response(copy, len, resp, hd, max, head);
	free(copy);
	return rv;
}

/*
 * Prefix property: every prefix shorter than `upto` parses as
 * GW_ERR_AGAIN or as `whole` (an error); a success is never found early.
 */
static void
check_prefixes(const char *buf, size_t upto, int whole, int kind,
    uint64_t *seed)
{
	struct gw_h1_header hd[FUZZ_MAX_HEADERS];
	struct gw_h1_request req;
	struct gw_h1_response resp;
	size_t k, i, tries;
	int rv;

	tries = upto <= FUZZ_ALL_PREFIXES ? upto : FUZZ_SAMPLED_PREFIXES;
	for (i = 0; i < tries; i++) {
		k = upto <= FUZZ_ALL_PREFIXES ? i :
		    (i == 0 ? upto - 1 : rng_next(seed) % upto);
		if (kind == 0)
			rv = parse_req(buf, k, &req, hd, FUZZ_MAX_HEADERS);
		else
			rv = parse_resp(buf, k, &resp, hd, FUZZ_MAX_HEADERS,
			    kind == 2);
		if (whole > 0)
			CHECK(rv == GW_ERR_AGAIN);
		else
			CHECK(rv == GW_ERR_AGAIN || rv == whole);
	}
}

/*
 * A caller reading the input a byte at a time and parsing only when
 * gw_h1_head_ready() allows must find what a parse of the whole input
 * finds, after at most GW_H1_MAX_EMPTY_LINES fruitless parses.
 */
static void
check_ready(const char *buf, size_t size, int whole, int kind)
{
	struct gw_h1_header hd[FUZZ_MAX_HEADERS];
	struct gw_h1_request req;
	struct gw_h1_response resp;
	size_t k, scan = 0, parses = 0;
	int rv = GW_ERR_AGAIN;

	for (k = 1; k <= size; k++) {
		if (!gw_h1_head_ready(buf, k, &scan))
			continue;
		CHECK(scan == k);
		parses++;
		if (kind == 0)
			rv = gw_h1_parse_request(buf, k, &req, hd,
			    FUZZ_MAX_HEADERS);
		else
			rv = gw_h1_parse_response(buf, k, &resp, hd,
			    FUZZ_MAX_HEADERS, kind == 2);
		if (rv != GW_ERR_AGAIN)
			break;
	}
	CHECK(parses <= GW_H1_MAX_EMPTY_LINES + 1);
	if (whole > 0) {
		CHECK(rv == whole);
		CHECK(k == (size_t)whole);
	} else
		CHECK(rv == GW_ERR_AGAIN || rv == whole);
}

static int
fuzz_request(const char *buf, size_t size, uint64_t *seed)
{
	struct gw_h1_header hd[FUZZ_MAX_HEADERS], hd2[FUZZ_MAX_HEADERS];
	struct gw_h1_request req, req2;
	const struct gw_h1_framing *f;
	size_t h, i;
	int rv, rv2;

	rv = gw_h1_parse_request(buf, size, &req, hd, FUZZ_MAX_HEADERS);
	CHECK(rv > 0 || is_error(rv));
	check_prefixes(buf, rv > 0 ? (size_t)rv : size, rv, 0, seed);
	check_ready(buf, size, rv, 0);
	if (rv <= 0)
		return rv;

	h = (size_t)rv;
	CHECK(h <= size && h >= 4);
	CHECK(memcmp(buf + h - 4, "\r\n\r\n", 4) == 0);
	CHECK(req.method_len > 0 && req.method_len <= GW_H1_MAX_METHOD);
	CHECK(within(req.method, req.method_len, buf, h));
	for (i = 0; i < req.method_len; i++)
		CHECK(tchar((unsigned char)req.method[i]));
	CHECK(req.method[req.method_len] == ' ');
	CHECK(req.target == req.method + req.method_len + 1);
	CHECK(req.target_len > 0 && within(req.target, req.target_len, buf, h));
	for (i = 0; i < req.target_len; i++)
		CHECK(req.target[i] > 0x20 && req.target[i] < 0x7f &&
		    req.target[i] != '#');
	CHECK(memcmp(req.target + req.target_len, " HTTP/1.", 8) == 0);
	CHECK(req.minor_version == 0 || req.minor_version == 1);
	CHECK(req.headers == hd);
	check_headers(buf, h, hd, req.nheaders, FUZZ_MAX_HEADERS);

	f = &req.framing;
	check_framing_common(buf, h, f);
	CHECK(f->body == GW_H1_BODY_NONE || f->body == GW_H1_BODY_LENGTH ||
	    f->body == GW_H1_BODY_CHUNKED);
	CHECK(f->has_te == (f->body == GW_H1_BODY_CHUNKED));
	if (f->has_te)
		CHECK(req.minor_version == 1);
	if (req.minor_version == 1)
		CHECK(f->host != NULL);

	/* The head alone parses the same; one header fewer is too many. */
	rv2 = gw_h1_parse_request(buf, h, &req2, hd2, FUZZ_MAX_HEADERS);
	CHECK(rv2 == rv && req2.nheaders == req.nheaders);
	CHECK(memcmp(&req2.framing, &req.framing, sizeof req.framing) == 0);
	if (req.nheaders > 0)
		CHECK(gw_h1_parse_request(buf, h, &req2, hd2,
		    req.nheaders - 1) == GW_H1_ERR_TOO_LARGE);
	return rv;
}

static int
fuzz_response(const char *buf, size_t size, bool head, uint64_t *seed)
{
	struct gw_h1_header hd[FUZZ_MAX_HEADERS];
	struct gw_h1_response resp;
	const struct gw_h1_framing *f;
	size_t h, i;
	int rv, st;

	rv = gw_h1_parse_response(buf, size, &resp, hd, FUZZ_MAX_HEADERS,
	    head);
	CHECK(rv > 0 || is_error(rv));
	check_prefixes(buf, rv > 0 ? (size_t)rv : size, rv, head ? 2 : 1,
	    seed);
	check_ready(buf, size, rv, head ? 2 : 1);
	if (rv <= 0)
		return rv;

	h = (size_t)rv;
	CHECK(h <= size && h >= 4);
	CHECK(memcmp(buf, "HTTP/1.", 7) == 0);
	CHECK(memcmp(buf + h - 4, "\r\n\r\n", 4) == 0);
	st = resp.status;
	CHECK(st >= 100 && st <= 999);
	CHECK(resp.minor_version == 0 || resp.minor_version == 1);
	CHECK(resp.reason_len == 0 ||
	    within(resp.reason, resp.reason_len, buf, h));
	for (i = 0; i < resp.reason_len; i++)
		CHECK(field_char((unsigned char)resp.reason[i]));
	check_headers(buf, h, hd, resp.nheaders, FUZZ_MAX_HEADERS);

	f = &resp.framing;
	check_framing_common(buf, h, f);
	CHECK(f->host == NULL && !f->expect_continue);
	if (head || (st >= 100 && st < 200) || st == 204 || st == 304)
		CHECK(f->body == GW_H1_BODY_NONE);
	else if (f->has_te)
		CHECK(f->body == GW_H1_BODY_CHUNKED ||
		    f->body == GW_H1_BODY_UNTIL_CLOSE);
	if (f->body == GW_H1_BODY_UNTIL_CLOSE)
		CHECK(!f->keep_alive);
	if (f->has_te && resp.minor_version == 0)
		CHECK(!f->keep_alive);
	return rv;
}

/* What one chunked-decoder run produced. */
struct chunk_run {
	int rv;
	struct evbuffer *out;
	struct evbuffer *tr;
	size_t left;             /* input bytes not consumed */
};

/*
 * Calls the decoder as a caller would after new input arrived: again
 * only while it stops because of max_out.  A 0 for any other reason must
 * mean "no more progress without input", which a repeat call confirms.
 */
static void
chunk_feed(struct gw_h1_chunked *c, struct evbuffer *in, size_t fed,
    size_t max_out, struct chunk_run *r)
{
	size_t in0, out0, grew;

	for (;;) {
		in0 = evbuffer_get_length(in);
		out0 = evbuffer_get_length(r->out);
		r->rv = gw_h1_chunked_decode(c, in, r->out, r->tr, max_out);
		CHECK(r->rv == 0 || r->rv == 1 || r->rv == GW_H1_ERR_BAD);
		CHECK(evbuffer_get_length(in) <= in0);
		grew = evbuffer_get_length(r->out) - out0;
		if (max_out != 0)
			CHECK(grew <= max_out);
		/* Output never exceeds what was consumed. */
		CHECK(evbuffer_get_length(r->out) + evbuffer_get_length(r->tr) <=
		    fed - evbuffer_get_length(in));
		if (r->rv != 0)
			return;
		if (max_out != 0 && grew == max_out)
			continue;
		in0 = evbuffer_get_length(in);
		out0 = evbuffer_get_length(r->out);
		CHECK(gw_h1_chunked_decode(c, in, r->out, r->tr, max_out) == 0);
		CHECK(evbuffer_get_length(in) == in0 &&
		    evbuffer_get_length(r->out) == out0);
		return;
	}
}

/*
 * Decodes buf as a chunked body, appending it in pieces whose sizes come
 * from *seed (all at once if seed is NULL), with the given max_out.  Some
 * pieces are added by reference; with `batch`, all pieces are queued (as
 * separate chains) before the decoder runs, so that its scan has to cross
 * many iovecs.
 */
static void
chunk_run(const uint8_t *buf, size_t size, uint64_t *seed, size_t max_out,
    bool batch, struct chunk_run *r)
{
	struct gw_h1_chunked c;
	struct evbuffer *in;
	size_t off = 0, n;
	uint64_t x;

	in = evbuffer_new();
	r->out = evbuffer_new();
	r->tr = evbuffer_new();
	CHECK(in != NULL && r->out != NULL && r->tr != NULL);
	gw_h1_chunked_init(&c);
	r->rv = 0;
	do {
		x = batch ? 4 : 0;
		n = size - off;
		if (seed != NULL && n > 0) {
			x = rng_next(seed) | (batch ? 4 : 0);
			n = GW_MIN(n, (x & 3) == 0 ? 1 + (x >> 8) % 64 :
			    1 + (x >> 8) % 4);
		}
		if (x & 4)
			CHECK(evbuffer_add_reference(in, buf + off, n, NULL,
			    NULL) == 0);
		else
			CHECK(evbuffer_add(in, buf + off, n) == 0);
		off += n;
		if (!batch || off == size)
			chunk_feed(&c, in, off, max_out, r);
	} while (off < size && r->rv == 0);
	r->left = evbuffer_get_length(in) + (size - off);
	if (r->rv == 1) {
		/* Done: it ended on the final CRLF of the trailer section. */
		CHECK(size - r->left >= 5);
		CHECK(memcmp(buf + size - r->left - 2, "\r\n", 2) == 0);
		/* And stays done without touching what follows. */
		n = evbuffer_get_length(in);
		CHECK(gw_h1_chunked_decode(&c, in, r->out, r->tr, 0) == 1);
		CHECK(evbuffer_get_length(in) == n);
	}
	if (r->rv == GW_H1_ERR_BAD)
		CHECK(gw_h1_chunked_decode(&c, in, r->out, r->tr, 0) ==
		    GW_H1_ERR_BAD);
	evbuffer_free(in);
}

/*
 * Reference chunked decoder for the differential check: the RFC 9112
 * 7.1 grammar with the parser's documented limits, read by recursive
 * descent over the whole input.  Returns 1 (complete), 0 (needs more)
 * or -1 (invalid); fills out/tr with the data and raw trailer lines and
 * *used with the bytes of a complete body.
 */
struct ref {
	const uint8_t *p;
	size_t pos;
	size_t end;              /* the current limit (line or section) */
	size_t n;                /* all input */
};

#define REF_MORE 0
#define REF_BAD (-1)
#define REF_OK 1

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Running out of bytes is "more" at the end of input, "bad" at a limit. */
static int
ref_short(const struct ref *r)
{
	return r->end < r->n ? REF_BAD : REF_MORE;
}

static void
ref_ows(struct ref *r)
{
	while (r->pos < r->end && (r->p[r->pos] == ' ' ||
	    r->p[r->pos] == '\t'))
		r->pos++;
}

static int
ref_token(struct ref *r)
{
	size_t start = r->pos;

	while (r->pos < r->end && tchar(r->p[r->pos]))
		r->pos++;
	if (r->pos == r->end)
		return ref_short(r);
	return r->pos > start ? REF_OK : REF_BAD;
}

static int
ref_quoted(struct ref *r)
{
	uint8_t c;

	r->pos++;
	for (;;) {
		if (r->pos == r->end)
			return ref_short(r);
		c = r->p[r->pos++];
		if (c == '"')
			break;
		if (c == '\\') {
			if (r->pos == r->end)
				return ref_short(r);
			c = r->p[r->pos++];
		}
		if (!field_char(c))
			return REF_BAD;
	}
	if (r->pos == r->end)
		return ref_short(r);
	return REF_OK;
}

/* After the size, an ext-name or an ext-val: ';', BWS ';' or CRLF. */
static int
ref_after(struct ref *r, bool *more_ext)
{
	size_t at = r->pos;

	ref_ows(r);
	if (r->pos == r->end)
		return ref_short(r);
	if (r->p[r->pos] == ';') {
		r->pos++;
		*more_ext = true;
		return REF_OK;
	}
	if (r->p[r->pos] != '\r' || r->pos != at)
		return REF_BAD;
	*more_ext = false;
	return REF_OK;
}

static int
ref_size_line(struct ref *r, uint64_t *size)
{
	bool more;
	int rv, d;

	if (r->pos == r->end)
		return ref_short(r);
	if (hexval(r->p[r->pos]) < 0)
		return REF_BAD;
	*size = 0;
	while (r->pos < r->end && (d = hexval(r->p[r->pos])) >= 0) {
		if (*size > UINT64_MAX / 16)
			return REF_BAD;
		*size = *size * 16 + (unsigned)d;
		r->pos++;
	}
	if ((rv = ref_after(r, &more)) != REF_OK)
		return rv;
	while (more) {
		/* chunk-ext: BWS name [ BWS "=" BWS value ] */
		ref_ows(r);
		if ((rv = ref_token(r)) != REF_OK)
			return rv;
		if (r->p[r->pos] != '=') {
			size_t at = r->pos;

			ref_ows(r);
			if (r->pos == r->end)
				return ref_short(r);
			if (r->p[r->pos] != '=') {
				/* "name BWS ;" or "name CRLF" */
				if (r->p[r->pos] != ';' && r->pos != at)
					return REF_BAD;
				if ((rv = ref_after(r, &more)) != REF_OK)
					return rv;
				continue;
			}
		}
		r->pos++;
		ref_ows(r);
		if (r->pos == r->end)
			return ref_short(r);
		if (r->p[r->pos] == '"')
			rv = ref_quoted(r);
		else
			rv = ref_token(r);
		if (rv != REF_OK)
			return rv;
		if ((rv = ref_after(r, &more)) != REF_OK)
			return rv;
	}
	/* At the CR. */
	r->pos++;
	if (r->pos == r->end)
		return ref_short(r);
	return r->p[r->pos++] == '\n' ? REF_OK : REF_BAD;
}

static int
ref_chunked(const uint8_t *p, size_t n, uint8_t *out, size_t *out_len,
    uint8_t *tr, size_t *tr_len, size_t *used)
{
	struct ref r = { p, 0, 0, n };
	uint64_t size;
	size_t start, avail;
	int rv;

	*out_len = *tr_len = 0;
	for (;;) {
		start = r.pos;
		r.end = GW_MIN(n, start + GW_H1_MAX_CHUNK_LINE);
		if ((rv = ref_size_line(&r, &size)) != REF_OK)
			return rv;
		r.end = n;
		if (size == 0)
			break;
		avail = n - r.pos;
		if (avail < size) {
			memcpy(out + *out_len, p + r.pos, avail);
			*out_len += avail;
			return REF_MORE;
		}
		memcpy(out + *out_len, p + r.pos, size);
		*out_len += size;
		r.pos += size;
		if (r.pos == n)
			return REF_MORE;
		if (p[r.pos++] != '\r')
			return REF_BAD;
		if (r.pos == n)
			return REF_MORE;
		if (p[r.pos++] != '\n')
			return REF_BAD;
	}

	/* trailer-section CRLF, within GW_H1_MAX_TRAILERS bytes. */
	r.end = GW_MIN(n, r.pos + GW_H1_MAX_TRAILERS);
	for (;;) {
		if (r.pos == r.end)
			return ref_short(&r);
		if (p[r.pos] == '\r') {
			r.pos++;
			if (r.pos == r.end)
				return ref_short(&r);
			if (p[r.pos++] != '\n')
				return REF_BAD;
			*used = r.pos;
			return REF_OK;
		}
		start = r.pos;
		if ((rv = ref_token(&r)) != REF_OK)
			return rv;
		if (p[r.pos++] != ':')
			return REF_BAD;
		while (r.pos < r.end && p[r.pos] != '\r') {
			if (!field_char(p[r.pos]))
				return REF_BAD;
			r.pos++;
		}
		if (r.pos + 1 >= r.end)
			return ref_short(&r);
		if (p[r.pos + 1] != '\n')
			return REF_BAD;
		r.pos += 2;
		memcpy(tr + *tr_len, p + start, r.pos - start);
		*tr_len += r.pos - start;
	}
}

static bool
evbuffer_is(struct evbuffer *b, const uint8_t *p, size_t n)
{
	if (evbuffer_get_length(b) != n)
		return false;
	return n == 0 || memcmp(evbuffer_pullup(b, -1), p, n) == 0;
}

static bool
evbuffer_same(struct evbuffer *a, struct evbuffer *b)
{
	size_t n = evbuffer_get_length(a);
	unsigned char *pa, *pb;

	if (n != evbuffer_get_length(b))
		return false;
	if (n == 0)
		return true;
	pa = evbuffer_pullup(a, -1);
	pb = evbuffer_pullup(b, -1);
	return memcmp(pa, pb, n) == 0;
}

static void
chunk_run_free(struct chunk_run *r)
{
	evbuffer_free(r->out);
	evbuffer_free(r->tr);
}

/*
 * The decoder's answer must not depend on how the bytes arrive: whole,
 * in derived pieces with a derived max_out, and (for small inputs) one
 * byte at a time must agree on the result, the data, the trailers and
 * what is left over.
 */
static void
fuzz_chunked(const uint8_t *buf, size_t size, uint64_t seed)
{
	struct chunk_run whole, split;
	uint64_t s = seed | 1;
	size_t max_out = 1 + (size_t)(seed >> 32) % 7;
	size_t out_len, tr_len, used = 0;
	uint8_t *out, *tr;
	int ref;

	chunk_run(buf, size, NULL, 0, false, &whole);

	out = malloc(size + 1);
	tr = malloc(size + 1);
	CHECK(out != NULL && tr != NULL);
	ref = ref_chunked(buf, size, out, &out_len, tr, &tr_len, &used);
	CHECK(whole.rv == (ref == REF_OK ? 1 : ref == REF_MORE ? 0 :
	    GW_H1_ERR_BAD));
	if (ref == REF_OK)
		CHECK(whole.left == size - used);
	if (ref == REF_MORE)
		CHECK(whole.left == 0);
	if (ref != REF_BAD)
		CHECK(evbuffer_is(whole.out, out, out_len));
	/* Trailer bytes are copied as they come: a partial line may be
	 * there before the body is complete. */
	if (ref == REF_OK)
		CHECK(evbuffer_is(whole.tr, tr, tr_len));
	if (ref == REF_MORE)
		CHECK(evbuffer_get_length(whole.tr) >= tr_len &&
		    (tr_len == 0 || memcmp(evbuffer_pullup(whole.tr, -1), tr,
		    tr_len) == 0));
	free(out);
	free(tr);

	chunk_run(buf, size, &s, max_out, (seed & 8) != 0, &split);
	CHECK(split.rv == whole.rv);
	if (whole.rv != GW_H1_ERR_BAD) {
		CHECK(split.left == whole.left);
		CHECK(evbuffer_same(split.out, whole.out));
		CHECK(evbuffer_same(split.tr, whole.tr));
	}
	chunk_run_free(&split);

	if (size <= 512) {
		uint64_t one = 0;   /* rng_next(0) is 0: pieces of 1 */

		chunk_run(buf, size, &one, 0, false, &split);
		CHECK(split.rv == whole.rv);
		if (whole.rv != GW_H1_ERR_BAD) {
			CHECK(split.left == whole.left);
			CHECK(evbuffer_same(split.out, whole.out));
			CHECK(evbuffer_same(split.tr, whole.tr));
		}
		chunk_run_free(&split);
	}
	chunk_run_free(&whole);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	uint64_t seed = fnv1a(data, size) | 1;
	int rv;

	rv = fuzz_request(buf, size, &seed);
	if (rv > 0)
		fuzz_chunked(data + rv, size - (size_t)rv, seed);
	rv = fuzz_response(buf, size, false, &seed);
	if (rv > 0)
		fuzz_chunked(data + rv, size - (size_t)rv, seed);
	fuzz_response(buf, size, true, &seed);
	fuzz_chunked(data, size, seed);
	return 0;
}
