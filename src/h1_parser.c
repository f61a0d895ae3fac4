/*
 * h1_parser.c: strict HTTP/1.1 message heads (RFC 9112 2-5, RFC 9110 5)
 * and the chunked transfer coding (RFC 9112 7.1).
 *
 * The head parser is one forward pass over the caller's buffer.  Each
 * decision depends only on the bytes before the point where it is made,
 * and the parser returns GW_ERR_AGAIN whenever it needs a byte past the
 * end, so a prefix of a message parses as GW_ERR_AGAIN or as the error
 * the whole message gives: the fuzz harness checks this.
 *
 * Field lines are checked as they complete (Content-Length syntax, a
 * second Host, a Transfer-Encoding a request may not carry); rules that
 * need the whole head (Host missing, Transfer-Encoding with
 * Content-Length) are checked at the empty line.
 */
#include <limits.h>
#include <string.h>

#include <event2/buffer.h>

#include "gw.h"
#include "h1_parser.h"
#include "httplist.h"

/* RFC 9110 5.6.2: tchar, the bytes of a token. */
static const uint8_t tchar_map[256] = {
	/* 0x00-0x1f: CTL */
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	/* SP ! " # $ % & ' ( ) * + , - . / */
	0, 1, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 0,
	/* 0-9 : ; < = > ? */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
	/* @ A-O */
	0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* P-Z [ \ ] ^ _ */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 1, 1,
	/* ` a-o */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
	/* p-z { | } ~ DEL */
	1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 0, 1, 0,
	/* 0x80-0xff: not in a token */
};

static inline bool
is_tchar(unsigned char c)
{
	return tchar_map[c] != 0;
}

/*
 * RFC 9110 5.5: field-vchar / SP / HTAB, obs-text included.  Every CTL
 * but HTAB is refused, NUL, CR and LF among them.
 */
static inline bool
is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/*
 * True if every byte of [p, e) is a field char.  Eight bytes at a time
 * first: a word with no byte below 0x20 and none equal to 0x7f is all
 * field chars (bytes from 0x80 up are obs-text, allowed).  A word that
 * fails the test (HTAB, or a bad byte) is looked at byte by byte.
 */
static bool
field_chars_ok(const unsigned char *p, const unsigned char *e)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t w, del;
	int i;

	while (e - p >= 8) {
		memcpy(&w, p, 8);
		del = w ^ (0x7f * ones);
		/* A byte below 0x20 in w, or a zero byte in del (0x7f). */
		if ((((w - 0x20 * ones) & ~w) | ((del - ones) & ~del)) &
		    highs) {
			for (i = 0; i < 8; i++)
				if (!is_field_char(p[i]))
					return false;
		}
		p += 8;
	}
	for (; p < e; p++)
		if (!is_field_char(*p))
			return false;
	return true;
}

static inline bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static inline bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static inline unsigned char
to_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c;
}

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = to_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool
gw_h1_name_eq(const char *name, size_t len, const char *lit)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lit[i] == '\0')
			return false;
		if (to_lower((unsigned char)name[i]) !=
		    to_lower((unsigned char)lit[i]))
			return false;
	}
	return lit[len] == '\0';
}

bool
gw_h1_head_ready(const char *buf, size_t len, size_t *scan)
{
	const char *lf;
	size_t at = *scan, i;

	while (at < len) {
		lf = memchr(buf + at, '\n', len - at);
		if (lf == NULL)
			break;
		i = lf - buf;
		at = i + 1;
		/*
		 * A bare LF (the parser rejects it) or an empty line: either
		 * the end of the head or a leading CRLF before a request line.
		 */
		if (i == 0 || buf[i - 1] != '\r' || i == 1 ||
		    buf[i - 2] == '\n') {
			*scan = at;
			return true;
		}
	}
	*scan = len;
	return false;
}

/*
 * RFC 9110 4.2.3 / RFC 3986 3.2.2: the bytes a uri-host and port may hold
 * (reg-name, IP-literal, ':' before a port).  Refusing '/', '?', '#', '@'
 * and whitespace keeps a Host value from smuggling a path or userinfo
 * into whatever routes on it.
 */
static bool
is_host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))
		return true;
	return c != '\0' && strchr("-._~%!$&'()*+,;=:[]", c) != NULL;
}

static bool
host_valid(const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (!is_host_char((unsigned char)v[i]))
			return false;
	}
	return true;
}

/*
 * RFC 9112 3.2.3: authority-form, uri-host ":" port, for CONNECT.  The
 * port must be there and be 1..65535; a ':' in the host only inside an
 * IP-literal.
 */
static bool
authority_form_valid(const char *t, size_t len)
{
	size_t colon, i;
	unsigned long port = 0;

	if (!host_valid(t, len))
		return false;
	for (colon = len; colon > 0; colon--) {
		if (t[colon - 1] == ':')
			break;
	}
	if (colon == 0)
		return false;
	colon--;
	if (colon == 0 || len - colon - 1 == 0 || len - colon - 1 > 5)
		return false;
	for (i = colon + 1; i < len; i++) {
		if (!is_digit((unsigned char)t[i]))
			return false;
		port = port * 10 + (t[i] - '0');
	}
	if (port == 0 || port > 65535)
		return false;
	if (t[0] == '[')
		return t[colon - 1] == ']' && colon > 2 &&
		    memchr(t + 1, '[', colon - 1) == NULL &&
		    memchr(t, ']', colon - 1) == NULL;
	return memchr(t, ':', colon) == NULL &&
	    memchr(t, '[', colon) == NULL && memchr(t, ']', colon) == NULL;
}

static bool
prefix_ci(const char *s, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && gw_h1_name_eq(s, n, lit);
}

/*
 * RFC 9112 3.2: which request-target form the method allows.  The target
 * is already known to be printable ASCII without SP.
 */
static int
target_check(const char *m, size_t mlen, const char *t, size_t tlen)
{
	size_t skip, i;

	/* A fragment is never sent (RFC 9112 3.2); '#' would only be read
	 * differently by whatever sits behind us. */
	if (memchr(t, '#', tlen) != NULL)
		return GW_H1_ERR_BAD;
	if (mlen == 7 && memcmp(m, "CONNECT", 7) == 0)
		return authority_form_valid(t, tlen) ? 0 : GW_H1_ERR_BAD;
	if (t[0] == '/')
		return 0;
	if (tlen == 1 && t[0] == '*')
		return mlen == 7 && memcmp(m, "OPTIONS", 7) == 0 ?
		    0 : GW_H1_ERR_BAD;
	if (prefix_ci(t, tlen, "http://"))
		skip = 7;
	else if (prefix_ci(t, tlen, "https://"))
		skip = 8;
	else
		return GW_H1_ERR_BAD;
	/*
	 * The authority stands in for Host (RFC 9112 3.2.2), so it gets the
	 * same check.  RFC 9110 4.2.1: an http(s) URI with an empty host is
	 * invalid; 4.2.4: userinfo is treated as an error ('@' is no host
	 * byte).
	 */
	for (i = skip; i < tlen && t[i] != '/' && t[i] != '?'; i++) {
		if (!is_host_char((unsigned char)t[i]))
			return GW_H1_ERR_BAD;
	}
	if (i == skip || t[skip] == ':')
		return GW_H1_ERR_BAD;
	return 0;
}

/*
 * RFC 9112 2.3: HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive.
 * Checks the n bytes available against that shape, so garbage is refused
 * before the line completes.
 */
static bool
version_shape(const unsigned char *p, size_t n)
{
	static const char shape[] = "HTTP/#.#";
	size_t i;

	for (i = 0; i < n && i < 8; i++) {
		if (shape[i] == '#') {
			if (!is_digit(p[i]))
				return false;
		} else if (p[i] != (unsigned char)shape[i])
			return false;
	}
	return true;
}

/* Once the shape is right: 1.0 and 1.1 only (RFC 9112 2.3, 505). */
static int
version_value(const unsigned char *p, int *minor)
{
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1'))
		return GW_H1_ERR_VERSION;
	*minor = p[7] - '0';
	return 0;
}

/* What the field lines said, gathered while reading them. */
struct fields {
	bool request;
	int minor;
	struct gw_h1_framing *fr;
	size_t hosts;            /* Host field lines */
	bool have_cl;
	uint64_t cl;
	size_t te_codings;       /* transfer-codings seen, all lines */
	size_t te_chunked;       /* how many of them were "chunked" */
	bool te_last_chunked;    /* the last coding seen was "chunked" */
	bool conn_keep_alive;
};

/*
 * RFC 9110 8.6: Content-Length = 1*DIGIT.  A list of identical values,
 * in one line or several, is one value; anything else is refused
 * (RFC 9112 6.3 point 5).  Values at or above 2^63 are refused so that
 * the length fits an off_t/int64 everywhere it travels.
 */
static int
field_content_length(struct fields *f, const char *v, size_t len)
{
	struct gw_list_iter it;
	const char *e;
	size_t elen, i;
	uint64_t n;
	unsigned d;

	gw_list_init(&it, v, len);
	while (gw_list_next(&it, &e, &elen)) {
		if (elen == 0)
			return GW_H1_ERR_BAD;
		n = 0;
		for (i = 0; i < elen; i++) {
			if (!is_digit((unsigned char)e[i]))
				return GW_H1_ERR_BAD;
			d = e[i] - '0';
			if (n > ((uint64_t)INT64_MAX - d) / 10)
				return GW_H1_ERR_BAD;
			n = n * 10 + d;
		}
		if (f->have_cl && f->cl != n)
			return GW_H1_ERR_BAD;
		f->have_cl = true;
		f->cl = n;
	}
	return 0;
}

/*
 * RFC 9112 6.1.  In a request we accept exactly one coding, "chunked":
 * we do not decode others, and a backend that would read "gzip, chunked"
 * or "chunked, chunked" differently from us is how smuggling starts.  An
 * HTTP/1.0 request with Transfer-Encoding has faulty framing (6.1) and is
 * refused.  In a response, chunked may appear once, last (then the body
 * is chunked) or not at all (then it runs until close).
 */
static int
field_transfer_encoding(struct fields *f, const char *v, size_t len)
{
	struct gw_list_iter it;
	const char *e;
	size_t elen;
	bool chunked;

	f->fr->has_te = true;
	if (f->request && f->minor == 0)
		return GW_H1_ERR_BAD;
	gw_list_init(&it, v, len);
	while (gw_list_next(&it, &e, &elen)) {
		if (elen == 0) {
			if (f->request)
				return GW_H1_ERR_BAD;
			continue;
		}
		chunked = gw_h1_name_eq(e, elen, "chunked");
		f->te_codings++;
		if (chunked)
			f->te_chunked++;
		f->te_last_chunked = chunked;
		if (f->request && (!chunked || f->te_codings > 1))
			return GW_H1_ERR_BAD;
		if (f->te_chunked > 1)
			return GW_H1_ERR_BAD;
	}
	return 0;
}

/* RFC 9110 7.6.1: Connection is a list of case-insensitive tokens. */
static void
field_connection(struct fields *f, const char *v, size_t len)
{
	struct gw_list_iter it;
	const char *e;
	size_t elen;

	gw_list_init(&it, v, len);
	while (gw_list_next(&it, &e, &elen)) {
		if (gw_h1_name_eq(e, elen, "close"))
			f->fr->conn_close = true;
		else if (gw_h1_name_eq(e, elen, "keep-alive"))
			f->conn_keep_alive = true;
		else if (gw_h1_name_eq(e, elen, "upgrade"))
			f->fr->conn_upgrade = true;
	}
}

/* Applies one complete field line to the framing facts. */
static int
field_note(struct fields *f, const char *name, size_t nlen, const char *v,
    size_t vlen)
{
	switch (nlen) {
	case 4:
		if (f->request && gw_h1_name_eq(name, nlen, "host")) {
			/* RFC 9112 3.2: one Host, with a valid value. */
			if (++f->hosts > 1 || !host_valid(v, vlen))
				return GW_H1_ERR_BAD;
			f->fr->host = v;
			f->fr->host_len = vlen;
		}
		break;
	case 6:
		if (f->request && gw_h1_name_eq(name, nlen, "expect") &&
		    gw_h1_name_eq(v, vlen, "100-continue"))
			f->fr->expect_continue = true;
		break;
	case 7:
		if (gw_h1_name_eq(name, nlen, "upgrade") &&
		    f->fr->upgrade == NULL) {
			f->fr->upgrade = v;
			f->fr->upgrade_len = vlen;
		}
		break;
	case 10:
		if (gw_h1_name_eq(name, nlen, "connection"))
			field_connection(f, v, vlen);
		break;
	case 14:
		if (gw_h1_name_eq(name, nlen, "content-length"))
			return field_content_length(f, v, vlen);
		break;
	case 17:
		if (gw_h1_name_eq(name, nlen, "transfer-encoding"))
			return field_transfer_encoding(f, v, vlen);
		break;
	}
	return 0;
}

/*
 * Reads field lines from *pp to the empty line that ends the head
 * (RFC 9112 5), storing them in headers[] and noting framing facts.
 * On success *pp is just past the empty line.
 */
static int
parse_fields(const unsigned char **pp, const unsigned char *end,
    struct gw_h1_header *headers, size_t max_headers, size_t *nheaders,
    struct fields *f)
{
	const unsigned char *p = *pp, *name, *colon, *value, *vend;
	struct gw_h1_header *h;
	int rv;

	for (;;) {
		if (p == end)
			return GW_ERR_AGAIN;
		if (*p == '\r') {
			if (p + 1 == end)
				return GW_ERR_AGAIN;
			if (p[1] != '\n')
				return GW_H1_ERR_BAD;
			*pp = p + 2;
			return 0;
		}
		/*
		 * RFC 9112 5.2: obs-fold is refused, not unfolded; 2.2:
		 * whitespace before the first field line likewise.
		 */
		if (is_ows(*p))
			return GW_H1_ERR_BAD;
		if (*nheaders == max_headers)
			return GW_H1_ERR_TOO_LARGE;

		/* RFC 9112 5.1: no whitespace between name and colon. */
		name = p;
		while (p < end && is_tchar(*p))
			p++;
		if (p == end)
			return GW_ERR_AGAIN;
		if (*p != ':' || p == name)
			return GW_H1_ERR_BAD;
		colon = p++;
		while (p < end && is_ows(*p))
			p++;
		/* The value runs to CR (found by memchr, which is fast on long
		 * values); then every byte of it is checked (of a partial
		 * value too: garbage is refused at once), and trailing
		 * whitespace is not part of it. */
		value = p;
		p = memchr(p, '\r', (size_t)(end - p));
		if (!field_chars_ok(value, p != NULL ? p : end))
			return GW_H1_ERR_BAD;
		vend = p != NULL ? p : end;
		if (p == NULL)
			return GW_ERR_AGAIN;
		while (vend > value && is_ows(vend[-1]))
			vend--;
		if (p + 1 == end)
			return GW_ERR_AGAIN;
		if (p[1] != '\n')
			return GW_H1_ERR_BAD;
		p += 2;

		h = &headers[(*nheaders)++];
		h->name = (const char *)name;
		h->name_len = colon - name;
		h->value = (const char *)value;
		h->value_len = vend - value;
		rv = field_note(f, h->name, h->name_len, h->value,
		    h->value_len);
		if (rv != 0)
			return rv;
	}
}

static void
fields_init(struct fields *f, struct gw_h1_framing *fr, bool request,
    int minor)
{
	memset(f, 0, sizeof *f);
	memset(fr, 0, sizeof *fr);
	f->request = request;
	f->minor = minor;
	f->fr = fr;
}

/* RFC 9112 9.3: persistence by version and Connection. */
static bool
keep_alive(const struct fields *f)
{
	if (f->fr->conn_close)
		return false;
	return f->minor == 1 || f->conn_keep_alive;
}

int
gw_h1_parse_request(const char *buf, size_t len, struct gw_h1_request *req,
    struct gw_h1_header *headers, size_t max_headers)
{
	const unsigned char *p = (const unsigned char *)buf, *end;
	const unsigned char *method, *target, *version;
	struct gw_h1_request r;
	struct fields f;
	size_t empties = 0, avail;
	int rv, minor;

	if (len > INT_MAX)
		len = INT_MAX;
	end = p + len;

	/* RFC 9112 2.2: ignore a few empty lines before the request line. */
	while (p < end && *p == '\r') {
		if (p + 1 == end)
			return GW_ERR_AGAIN;
		if (p[1] != '\n' || ++empties > GW_H1_MAX_EMPTY_LINES)
			return GW_H1_ERR_BAD;
		p += 2;
	}

	/* RFC 9112 3: method SP request-target SP HTTP-version CRLF. */
	method = p;
	while (p < end && is_tchar(*p)) {
		if (p - method >= GW_H1_MAX_METHOD)
			return GW_H1_ERR_BAD;
		p++;
	}
	if (p == end)
		return GW_ERR_AGAIN;
	if (*p != ' ' || p == method)
		return GW_H1_ERR_BAD;
	p++;

	/* Printable ASCII only: a CTL, SP or raw non-ASCII byte ends it. */
	target = p;
	while (p < end && *p > 0x20 && *p < 0x7f)
		p++;
	if (p == end)
		return GW_ERR_AGAIN;
	if (*p != ' ' || p == target)
		return GW_H1_ERR_BAD;
	p++;

	version = p;
	avail = end - p;
	if (!version_shape(p, avail))
		return GW_H1_ERR_BAD;
	if (avail < 9)
		return GW_ERR_AGAIN;
	if (p[8] != '\r')
		return GW_H1_ERR_BAD;
	if (avail < 10)
		return GW_ERR_AGAIN;
	if (p[9] != '\n')
		return GW_H1_ERR_BAD;
	if ((rv = version_value(version, &minor)) != 0)
		return rv;
	p += 10;

	memset(&r, 0, sizeof r);
	r.method = (const char *)method;
	r.method_len = target - method - 1;
	r.target = (const char *)target;
	r.target_len = version - target - 1;
	r.minor_version = minor;
	r.headers = headers;
	rv = target_check(r.method, r.method_len, r.target, r.target_len);
	if (rv != 0)
		return rv;

	fields_init(&f, &r.framing, true, minor);
	rv = parse_fields(&p, end, headers, max_headers, &r.nheaders, &f);
	if (rv != 0)
		return rv;

	/* RFC 9112 3.2: an HTTP/1.1 request without Host gets a 400. */
	if (minor == 1 && f.hosts == 0)
		return GW_H1_ERR_BAD;
	/*
	 * RFC 9112 6.1: Transfer-Encoding and Content-Length together
	 * "ought to be handled as an error"; a server may reject it, and a
	 * gateway must, since the backend might pick the other one.
	 */
	if (r.framing.has_te && f.have_cl)
		return GW_H1_ERR_BAD;
	if (r.framing.has_te)
		r.framing.body = GW_H1_BODY_CHUNKED;
	else if (f.have_cl && f.cl > 0) {
		r.framing.body = GW_H1_BODY_LENGTH;
		r.framing.content_length = f.cl;
	} else
		r.framing.body = GW_H1_BODY_NONE;
	r.framing.keep_alive = keep_alive(&f);

	*req = r;
	return (int)((const char *)p - buf);
}

int
gw_h1_parse_response(const char *buf, size_t len,
    struct gw_h1_response *resp, struct gw_h1_header *headers,
    size_t max_headers, bool request_was_head)
{
	const unsigned char *p = (const unsigned char *)buf, *end, *reason;
	struct gw_h1_response r;
	struct fields f;
	size_t avail, i;
	int rv, minor, status = 0;

	if (len > INT_MAX)
		len = INT_MAX;
	end = p + len;

	/* RFC 9112 4: HTTP-version SP status-code SP [ reason-phrase ]. */
	avail = len;
	if (!version_shape(p, avail))
		return GW_H1_ERR_BAD;
	if (avail < 9)
		return GW_ERR_AGAIN;
	if (p[8] != ' ')
		return GW_H1_ERR_BAD;
	if ((rv = version_value(p, &minor)) != 0)
		return rv;
	p += 9;

	/* RFC 9110 15: three digits, 100..999 here ("099" is no status). */
	for (i = 0; i < 3; i++, p++) {
		if (p == end)
			return GW_ERR_AGAIN;
		if (!is_digit(*p) || (i == 0 && *p == '0'))
			return GW_H1_ERR_BAD;
		status = status * 10 + (*p - '0');
	}

	/*
	 * RFC 9112 4 has the sender write the SP even with no reason, but
	 * servers that drop it exist; as a client should ignore the reason
	 * anyway and it never bears on framing, "200 \r\n" and "200\r\n"
	 * are both read as an empty reason.
	 */
	if (p == end)
		return GW_ERR_AGAIN;
	if (*p == ' ')
		p++;
	else if (*p != '\r')
		return GW_H1_ERR_BAD;
	reason = p;
	for (;;) {
		if (p == end)
			return GW_ERR_AGAIN;
		if (*p == '\r')
			break;
		if (!is_field_char(*p))
			return GW_H1_ERR_BAD;
		p++;
	}
	if (p + 1 == end)
		return GW_ERR_AGAIN;
	if (p[1] != '\n')
		return GW_H1_ERR_BAD;

	memset(&r, 0, sizeof r);
	r.status = status;
	r.reason = (const char *)reason;
	r.reason_len = p - reason;
	r.minor_version = minor;
	r.headers = headers;
	p += 2;

	fields_init(&f, &r.framing, false, minor);
	rv = parse_fields(&p, end, headers, max_headers, &r.nheaders, &f);
	if (rv != 0)
		return rv;

	/* RFC 9112 6.3, in its order. */
	r.framing.keep_alive = keep_alive(&f);
	if (r.framing.has_te && f.have_cl) {
		/* Point 3: TE wins, but the sender is suspect. */
		r.framing.keep_alive = false;
	}
	if (r.framing.has_te && minor == 0) {
		/* 6.1: TE in HTTP/1.0 is faulty framing: close after it. */
		r.framing.keep_alive = false;
	}
	if (request_was_head || (status >= 100 && status < 200) ||
	    status == 204 || status == 304)
		r.framing.body = GW_H1_BODY_NONE;
	else if (r.framing.has_te)
		r.framing.body = f.te_last_chunked ?
		    GW_H1_BODY_CHUNKED : GW_H1_BODY_UNTIL_CLOSE;
	else if (f.have_cl) {
		if (f.cl > 0) {
			r.framing.body = GW_H1_BODY_LENGTH;
			r.framing.content_length = f.cl;
		} else
			r.framing.body = GW_H1_BODY_NONE;
	} else
		r.framing.body = GW_H1_BODY_UNTIL_CLOSE;
	if (r.framing.body == GW_H1_BODY_UNTIL_CLOSE)
		r.framing.keep_alive = false;

	*resp = r;
	return (int)((const char *)p - buf);
}

/*
 * Chunked decoder states.  The size line is read byte by byte following
 * RFC 9112 7.1.1:
 *
 *   chunk-size [ chunk-ext ] CRLF
 *   chunk-ext  = *( BWS ";" BWS ext-name [ BWS "=" BWS ext-val ] )
 *   ext-val    = token / quoted-string
 *
 * BWS is only accepted where the grammar has it: "5 \r\n" (whitespace not
 * followed by ';') is refused, as some peers would read the size and
 * others would not.
 */
enum {
	CH_SIZE_FIRST = 0,       /* first HEXDIG */
	CH_SIZE,                 /* more HEXDIG, ';', BWS or CR */
	CH_EXT_BWS,              /* BWS that must lead to ';' */
	CH_EXT_NAME_START,       /* after ';' (and BWS) */
	CH_EXT_NAME,
	CH_EXT_NAME_BWS,         /* BWS after a name: '=' or ';' */
	CH_EXT_VAL_START,        /* after '=' (and BWS) */
	CH_EXT_TOKEN,
	CH_EXT_QUOTED,
	CH_EXT_QPAIR,            /* after a backslash in a quoted-string */
	CH_EXT_AFTER_VAL,        /* after the closing quote */
	CH_SIZE_LF,
	CH_DATA,
	CH_DATA_CR,
	CH_DATA_LF,
	CH_TR_START,             /* a trailer line or the final CRLF */
	CH_TR_NAME,
	CH_TR_VALUE,
	CH_TR_LF,
	CH_FINAL_LF,
	CH_DONE,
	CH_ERROR,
};

void
gw_h1_chunked_init(struct gw_h1_chunked *c)
{
	memset(c, 0, sizeof *c);
	c->state = CH_SIZE_FIRST;
}

/* After an ext-name or ext-val: what may follow it. */
static int
ch_after_ext(struct gw_h1_chunked *c, unsigned char ch)
{
	if (is_ows(ch))
		c->state = CH_EXT_BWS;
	else if (ch == ';')
		c->state = CH_EXT_NAME_START;
	else if (ch == '\r')
		c->state = CH_SIZE_LF;
	else
		return GW_H1_ERR_BAD;
	return 0;
}

/* One byte of a size line (CH_SIZE_FIRST..CH_SIZE_LF). */
static int
ch_size_line(struct gw_h1_chunked *c, unsigned char ch)
{
	int v;

	if (++c->line_len > GW_H1_MAX_CHUNK_LINE)
		return GW_H1_ERR_BAD;
	switch (c->state) {
	case CH_SIZE_FIRST:
		if ((v = hex_value(ch)) < 0)
			return GW_H1_ERR_BAD;
		c->remaining = v;
		c->state = CH_SIZE;
		return 0;
	case CH_SIZE:
		if ((v = hex_value(ch)) >= 0) {
			/* More than 64 bits of size: refuse, don't wrap. */
			if (c->remaining > UINT64_MAX >> 4)
				return GW_H1_ERR_BAD;
			c->remaining = c->remaining << 4 | (unsigned)v;
			return 0;
		}
		return ch_after_ext(c, ch);
	case CH_EXT_BWS:
		if (is_ows(ch))
			return 0;
		if (ch != ';')
			return GW_H1_ERR_BAD;
		c->state = CH_EXT_NAME_START;
		return 0;
	case CH_EXT_NAME_START:
		if (is_ows(ch))
			return 0;
		if (!is_tchar(ch))
			return GW_H1_ERR_BAD;
		c->state = CH_EXT_NAME;
		return 0;
	case CH_EXT_NAME:
		if (is_tchar(ch))
			return 0;
		if (ch == '=') {
			c->state = CH_EXT_VAL_START;
			return 0;
		}
		if (is_ows(ch)) {
			c->state = CH_EXT_NAME_BWS;
			return 0;
		}
		return ch_after_ext(c, ch);
	case CH_EXT_NAME_BWS:
		if (is_ows(ch))
			return 0;
		if (ch == '=')
			c->state = CH_EXT_VAL_START;
		else if (ch == ';')
			c->state = CH_EXT_NAME_START;
		else
			return GW_H1_ERR_BAD;
		return 0;
	case CH_EXT_VAL_START:
		if (is_ows(ch))
			return 0;
		if (ch == '"')
			c->state = CH_EXT_QUOTED;
		else if (is_tchar(ch))
			c->state = CH_EXT_TOKEN;
		else
			return GW_H1_ERR_BAD;
		return 0;
	case CH_EXT_TOKEN:
		if (is_tchar(ch))
			return 0;
		return ch_after_ext(c, ch);
	case CH_EXT_QUOTED:
		/* RFC 9110 5.6.4: qdtext and quoted-pair; no CTL but HTAB. */
		if (ch == '"')
			c->state = CH_EXT_AFTER_VAL;
		else if (ch == '\\')
			c->state = CH_EXT_QPAIR;
		else if (!is_field_char(ch))
			return GW_H1_ERR_BAD;
		return 0;
	case CH_EXT_QPAIR:
		if (!is_field_char(ch))
			return GW_H1_ERR_BAD;
		c->state = CH_EXT_QUOTED;
		return 0;
	case CH_EXT_AFTER_VAL:
		return ch_after_ext(c, ch);
	case CH_SIZE_LF:
		if (ch != '\n')
			return GW_H1_ERR_BAD;
		if (c->remaining == 0) {
			c->state = CH_TR_START;
			c->trailer_bytes = 0;
		} else
			c->state = CH_DATA;
		return 0;
	}
	return GW_H1_ERR_BAD;
}

/* One framing byte: CRLF after data, size lines, trailer section. */
static int
ch_step(struct gw_h1_chunked *c, unsigned char ch)
{
	if (c->state <= CH_SIZE_LF)
		return ch_size_line(c, ch);
	switch (c->state) {
	case CH_DATA_CR:
		if (ch != '\r')
			return GW_H1_ERR_BAD;
		c->state = CH_DATA_LF;
		return 0;
	case CH_DATA_LF:
		if (ch != '\n')
			return GW_H1_ERR_BAD;
		c->state = CH_SIZE_FIRST;
		c->line_len = 0;
		return 0;
	}

	/* RFC 9112 7.1.2: trailer-section, field lines as in a head. */
	if (++c->trailer_bytes > GW_H1_MAX_TRAILERS)
		return GW_H1_ERR_BAD;
	switch (c->state) {
	case CH_TR_START:
		if (ch == '\r')
			c->state = CH_FINAL_LF;
		else if (is_tchar(ch))
			c->state = CH_TR_NAME;
		else
			return GW_H1_ERR_BAD;
		return 0;
	case CH_TR_NAME:
		if (ch == ':')
			c->state = CH_TR_VALUE;
		else if (!is_tchar(ch))
			return GW_H1_ERR_BAD;
		return 0;
	case CH_TR_VALUE:
		if (ch == '\r')
			c->state = CH_TR_LF;
		else if (!is_field_char(ch))
			return GW_H1_ERR_BAD;
		return 0;
	case CH_TR_LF:
		if (ch != '\n')
			return GW_H1_ERR_BAD;
		c->state = CH_TR_START;
		return 0;
	case CH_FINAL_LF:
		if (ch != '\n')
			return GW_H1_ERR_BAD;
		c->state = CH_DONE;
		return 0;
	}
	return GW_H1_ERR_BAD;
}

/* Whether byte ch, read in state st, belongs to a raw trailer line. */
static inline bool
ch_is_trailer_byte(int st, unsigned char ch)
{
	return (st == CH_TR_START && ch != '\r') || st == CH_TR_NAME ||
	    st == CH_TR_VALUE || st == CH_TR_LF;
}

/*
 * Runs the framing state machine over the bytes at the front of `in`
 * until it reaches chunk data, the end of the body, an error or the end
 * of the input, and drains what it accepted (on an error, the bytes
 * before the offending one).  Returns 0 or GW_H1_ERR_BAD.
 */
static int
ch_scan(struct gw_h1_chunked *c, struct evbuffer *in,
    struct evbuffer *trailers, bool *starved)
{
	struct evbuffer_iovec vec[8];
	const unsigned char *b, *span;
	size_t total = 0, avail, i;
	int n, k, rv = 0;
	bool stop = false, tb;

	/*
	 * Bytes are read in place (evbuffer_peek) and drained once at the
	 * end; raw trailer lines are copied out in runs, not byte by byte.
	 * With len -1, evbuffer_peek() fills at most 8 extents and does not
	 * say how many more there are: "starved" is decided on byte counts.
	 */
	avail = evbuffer_get_length(in);
	n = evbuffer_peek(in, -1, NULL, vec, (int)GW_ARRAY_SIZE(vec));
	for (k = 0; k < n && k < (int)GW_ARRAY_SIZE(vec) && !stop; k++) {
		b = vec[k].iov_base;
		span = NULL;
		for (i = 0; i < vec[k].iov_len && !stop; i++) {
			tb = ch_is_trailer_byte(c->state, b[i]);
			if (tb && span == NULL)
				span = &b[i];
			else if (!tb && span != NULL) {
				if (trailers != NULL && evbuffer_add(trailers,
				    span, &b[i] - span) != 0)
					rv = GW_H1_ERR_BAD;
				span = NULL;
			}
			if (rv == 0)
				rv = ch_step(c, b[i]);
			if (rv != 0)
				break;
			stop = c->state == CH_DATA || c->state == CH_DONE;
		}
		if (span != NULL && trailers != NULL &&
		    evbuffer_add(trailers, span, &b[i] - span) != 0 && rv == 0)
			rv = GW_H1_ERR_BAD;
		total += i;
		if (rv != 0)
			break;
	}
	if (total > 0 && evbuffer_drain(in, total) != 0 && rv == 0)
		rv = GW_H1_ERR_BAD;
	*starved = rv == 0 && !stop && total == avail;
	return rv;
}

int
gw_h1_chunked_decode(struct gw_h1_chunked *c, struct evbuffer *in,
    struct evbuffer *out, struct evbuffer *trailers, size_t max_out)
{
	size_t budget = max_out == 0 ? SIZE_MAX : max_out, n;
	bool starved;
	int moved;

	for (;;) {
		switch (c->state) {
		case CH_ERROR:
			return GW_H1_ERR_BAD;
		case CH_DONE:
			return 1;
		case CH_DATA:
			n = evbuffer_get_length(in);
			if (n > c->remaining)
				n = c->remaining;
			if (n > budget)
				n = budget;
			/* evbuffer_remove_buffer() counts in an int. */
			if (n > INT_MAX / 2)
				n = INT_MAX / 2;
			if (n == 0)
				return 0;
			moved = evbuffer_remove_buffer(in, out, n);
			if (moved <= 0) {
				c->state = CH_ERROR;
				return GW_H1_ERR_BAD;
			}
			c->remaining -= (size_t)moved;
			budget -= (size_t)moved;
			if (c->remaining == 0)
				c->state = CH_DATA_CR;
			break;
		default:
			if (ch_scan(c, in, trailers, &starved) != 0) {
				c->state = CH_ERROR;
				return GW_H1_ERR_BAD;
			}
			if (starved && c->state != CH_DATA &&
			    c->state != CH_DONE)
				return 0;
			break;
		}
	}
}

/* s[0..len) equals the lower-case literal lit, in any case. */
static bool
hc_eq(const char *s, const char *lit, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (to_lower((unsigned char)s[i]) != (unsigned char)lit[i])
			return false;
	return true;
}

/*
 * Classifies a field name with one switch on its length, so filtering a
 * request's fields costs a comparison or two per field.  Hop-by-hop
 * fields and the ones the gateway writes itself never go through, in
 * either direction.
 */
unsigned
gw_hdr_class(const char *n, size_t len)
{
	unsigned c = 0;

	switch (len) {
	case 2:
		if (hc_eq(n, "te", 2))
			c = HDR_HOP;
		break;
	case 4:
		if (hc_eq(n, "host", 4))
			c = HDR_HOST;
		break;
	case 6:
		if (hc_eq(n, "expect", 6))
			c = HDR_EXPECT;
		break;
	case 7:
		if (hc_eq(n, "upgrade", 7))
			c = HDR_HOP;
		break;
	case 10:
		if (hc_eq(n, "connection", 10))
			c = HDR_HOP | HDR_CONNECTION;
		else if (hc_eq(n, "keep-alive", 10))
			c = HDR_HOP;
		else if (hc_eq(n, "user-agent", 10))
			c = HDR_USER_AGENT;
		break;
	case 12:
		if (hc_eq(n, "x-request-id", 12))
			c = HDR_REQUEST_ID;
		break;
	case 14:
		if (hc_eq(n, "content-length", 14))
			c = HDR_CONTENT_LENGTH;
		else if (hc_eq(n, "http2-settings", 14))
			c = HDR_HOP;
		break;
	case 15:
		if (hc_eq(n, "x-forwarded-for", 15))
			c = HDR_XFF;
		break;
	case 16:
		if (hc_eq(n, "x-forwarded-host", 16))
			c = HDR_XF_OTHER;
		break;
	case 17:
		if (hc_eq(n, "transfer-encoding", 17))
			c = HDR_HOP;
		else if (hc_eq(n, "x-forwarded-proto", 17))
			c = HDR_XF_OTHER;
		break;
	}
	/* Proxy-Connection, Proxy-Authenticate, Proxy-Authorization... */
	if (c == 0 && len > 6 && hc_eq(n, "proxy-", 6))
		c = HDR_HOP;
	return c;
}
