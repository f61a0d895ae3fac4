/*
 * rewrite.c: url_pattern templates, query string and header filters.
 *
 * A template is a list of operations compiled once per config: copy a
 * literal run, encode a placeholder value, encode the wildcard remainder.
 * Expanding one measures the result first and then writes it into a single
 * evbuffer reservation, so a request costs one pass to count, one to write
 * and no allocation of our own.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "gw.h"
#include "rewrite.h"
#include "xmalloc.h"

enum op_kind {
	OP_LITERAL,
	OP_PARAM,
	OP_REST,
};

struct tmpl_op {
	enum op_kind kind;
	const char *s;           /* OP_LITERAL: bytes in the template */
	size_t len;
	size_t param;            /* OP_PARAM: index in gw_match.params */
	int query;               /* in the url_pattern's query: encode the
				    value for a query, not for a segment */
};

struct gw_urltmpl {
	char *text;              /* the url_pattern; literals point here */
	struct tmpl_op *ops;
	size_t nops;
	char qsep;               /* put before the client's parameters: '?',
				    '&' after a literal query, or none (0) */
};

/* encode() modes. */
#define ENC_QUERY 0x1            /* for a query value, not a segment */
#define ENC_REST 0x2             /* '/' separates, '%' starts an escape */

static const char hexdigits[] = "0123456789ABCDEF";

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Whether c may appear as is.  In a segment: RFC 3986 pchar (unreserved,
 * sub-delims, ':' and '@').  In a query value: the same less the
 * characters a query parser splits or translates on ('&', '=', '+', ';'),
 * plus '/' and '?', which RFC 3986 3.4 allows there.
 */
static int
is_safe(unsigned char c, unsigned mode)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	switch (c) {
	case '-': case '.': case '_': case '~':
	case '!': case '$': case '\'': case '(': case ')': case '*':
	case ',': case ':': case '@':
		return 1;
	case '&': case '=': case '+': case ';':
		return (mode & ENC_QUERY) == 0;
	case '/': case '?':
		return (mode & ENC_QUERY) != 0;
	}
	return 0;
}

/* Whether the segment at s (up to len bytes, ending at a '/' in REST
 * mode) is "." or "..": a backend would resolve it. */
static int
is_dots(const char *s, size_t len, unsigned mode)
{
	const char *e;

	if ((mode & ENC_REST) && (e = memchr(s, '/', len)) != NULL)
		len = (size_t)(e - s);
	return (len == 1 && s[0] == '.') ||
	    (len == 2 && s[0] == '.' && s[1] == '.');
}

/*
 * Puts c at dst + n, as %XX when `escape` is set; with dst NULL, only
 * measures.  Returns the bytes it takes.
 */
static size_t
put(char *dst, size_t n, unsigned char c, int escape)
{
	if (!escape) {
		if (dst != NULL)
			dst[n] = (char)c;
		return 1;
	}
	if (dst != NULL) {
		dst[n] = '%';
		dst[n + 1] = hexdigits[c >> 4];
		dst[n + 2] = hexdigits[c & 0xf];
	}
	return 3;
}

/*
 * Percent-encodes s for mode into dst, or only measures when dst is NULL.
 * A whole "." or ".." segment has its dots encoded.  Returns the length.
 */
static size_t
encode(char *dst, const char *s, size_t len, unsigned mode)
{
	size_t i, n = 0;
	unsigned char c;
	int dots;

	dots = is_dots(s, len, mode);
	for (i = 0; i < len; i++) {
		c = (unsigned char)s[i];
		if ((mode & ENC_REST) && (c == '/' || c == '%')) {
			n += put(dst, n, c, 0);
			if (c == '/')
				dots = is_dots(s + i + 1, len - i - 1, mode);
			continue;
		}
		n += put(dst, n, c, !is_safe(c, mode) || (c == '.' && dots));
	}
	return n;
}

/*
 * Whether a raw query parameter name, decoded as a query parser would
 * ('+' is a space, %XX once), is exactly want.  A malformed escape never
 * matches: Go's url.ParseQuery, which KrakenD uses, drops the parameter.
 */
static int
qname_is(const char *raw, size_t len, const char *want)
{
	size_t i;
	int hi, lo;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)raw[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (len - i < 3 || (hi = hexval(raw[i + 1])) < 0 ||
			    (lo = hexval(raw[i + 2])) < 0)
				return 0;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
		}
		if (*want == '\0' || (unsigned char)*want != c)
			return 0;
		want++;
	}
	return *want == '\0';
}

static int
param_allowed(const char *p, size_t len, const struct gw_strlist *allowed)
{
	const char *eq;
	size_t i;

	if (allowed->all)
		return 1;
	if ((eq = memchr(p, '=', len)) != NULL)
		len = (size_t)(eq - p);
	for (i = 0; i < allowed->n; i++)
		if (qname_is(p, len, allowed->v[i]))
			return 1;
	return 0;
}

/*
 * Writes the client's parameters that `allowed` admits, each as received
 * but for bytes no request-target may hold (controls, space, '#',
 * non-ASCII), which are escaped so that they cannot reach the backend's
 * request line.  Empty parameters ("a=1&&b=2") are dropped.  The first is
 * preceded by sep (when not 0), the others by '&'.  dst NULL: measures.
 */
static size_t
filter_query(char *dst, const char *q, size_t qlen,
    const struct gw_strlist *allowed, char sep)
{
	const char *p = q, *end = q + qlen, *e;
	size_t n = 0, k, plen;
	int first = 1;
	unsigned char c;

	while (p < end) {
		if ((e = memchr(p, '&', (size_t)(end - p))) == NULL)
			e = end;
		plen = (size_t)(e - p);
		if (plen != 0 && param_allowed(p, plen, allowed)) {
			if (!first || sep != '\0')
				n += put(dst, n, first ? sep : '&', 0);
			first = 0;
			for (k = 0; k < plen; k++) {
				c = (unsigned char)p[k];
				n += put(dst, n, c, c <= 0x20 || c >= 0x7f ||
				    c == '#');
			}
		}
		if (e == end)
			break;
		p = e + 1;
	}
	return n;
}

static struct tmpl_op *
add_op(struct gw_urltmpl *t, enum op_kind kind, int query)
{
	struct tmpl_op *op;

	t->ops = xreallocarray(t->ops, t->nops + 1, sizeof *t->ops);
	op = &t->ops[t->nops++];
	memset(op, 0, sizeof *op);
	op->kind = kind;
	op->query = query;
	return op;
}

static void
add_literal(struct gw_urltmpl *t, const char *s, size_t len, int query)
{
	struct tmpl_op *op;

	if (len == 0)
		return;
	op = add_op(t, OP_LITERAL, query);
	op->s = s;
	op->len = len;
}

/*
 * Compiles s[0..len) of t->text, the path (query 0) or the query part of
 * the url_pattern.  Returns 0, or -1 with *cause set.
 */
static int
compile_part(struct gw_urltmpl *t, const char *s, size_t len, int query,
    const struct gw_pattern *ep, const char *pattern, const char *endpoint,
    char **cause)
{
	const char *lit = s, *end = s + len, *p, *name, *close;
	struct tmpl_op *op;
	size_t nlen, i;

	for (p = s; p < end; p++) {
		if (*p == '}') {
			xasprintf(cause, "url_pattern %s: '}' without '{'",
			    pattern);
			return -1;
		}
		if (*p == '*' && p + 1 == end && !query) {
			/* A final '*' stands for the remainder. */
			if (!ep->wild) {
				xasprintf(cause, "url_pattern %s: '*' but the "
				    "endpoint %s has no wildcard", pattern,
				    endpoint);
				return -1;
			}
			add_literal(t, lit, (size_t)(p - lit), query);
			add_op(t, OP_REST, query);
			lit = p + 1;
			continue;
		}
		if (*p != '{')
			continue;

		name = p + 1;
		if ((close = memchr(name, '}', (size_t)(end - name))) == NULL ||
		    memchr(name, '{', (size_t)(close - name)) != NULL) {
			xasprintf(cause, "url_pattern %s: unterminated "
			    "placeholder", pattern);
			return -1;
		}
		nlen = (size_t)(close - name);
		add_literal(t, lit, (size_t)(p - lit), query);
		lit = close + 1;
		if (nlen == 1 && name[0] == '*') {
			if (!ep->wild) {
				xasprintf(cause, "url_pattern %s: {*} but the "
				    "endpoint %s has no wildcard", pattern,
				    endpoint);
				return -1;
			}
			add_op(t, OP_REST, query);
			p = close;
			continue;
		}
		for (i = 0; i < ep->nparams; i++) {
			if (ep->params[i].len == nlen &&
			    memcmp(ep->params[i].name, name, nlen) == 0)
				break;
		}
		if (i == ep->nparams) {
			xasprintf(cause, "placeholder {%.*s} is not defined by "
			    "the endpoint %s", (int)nlen, name, endpoint);
			return -1;
		}
		op = add_op(t, OP_PARAM, query);
		op->param = i;
		p = close;
	}
	add_literal(t, lit, (size_t)(end - lit), query);
	return 0;
}

struct gw_urltmpl *
gw_urltmpl_compile(const char *pattern, const char *endpoint, char **cause)
{
	struct gw_urltmpl *t;
	struct gw_pattern ep;
	const char *why, *q;
	size_t i, plen, len;
	int has_rest;

	*cause = NULL;
	if (gw_router_pattern(endpoint, &ep, &why) != 0) {
		xasprintf(cause, "endpoint %s: %s", endpoint != NULL ?
		    endpoint : "(null)", why);
		return NULL;
	}
	if (pattern == NULL || pattern[0] != '/') {
		xasprintf(cause, "url_pattern %s: must start with '/'",
		    pattern != NULL ? pattern : "(null)");
		return NULL;
	}

	t = xcalloc(1, sizeof *t);
	t->text = xstrdup(pattern);
	len = strlen(t->text);
	q = strchr(t->text, '?');
	plen = q != NULL ? (size_t)(q - t->text) : len;

	if (compile_part(t, t->text, plen, 0, &ep, pattern, endpoint,
	    cause) != 0)
		goto fail;
	has_rest = 0;
	for (i = 0; i < t->nops; i++)
		has_rest |= t->ops[i].kind == OP_REST;
	if (ep.wild && !has_rest) {
		/* KrakenD appends the remainder of a wildcard endpoint to
		 * a url_pattern that does not place it. */
		if (t->text[plen - 1] != '/')
			add_literal(t, "/", 1, 0);
		add_op(t, OP_REST, 0);
	}

	if (q == NULL)
		t->qsep = '?';
	else {
		add_literal(t, q, 1, 0);
		if (compile_part(t, q + 1, len - plen - 1, 1, &ep, pattern,
		    endpoint, cause) != 0)
			goto fail;
		/* "/a?" and "/a?x=1&" need no separator of their own. */
		t->qsep = t->text[len - 1] == '?' || t->text[len - 1] == '&' ?
		    '\0' : '&';
	}
	return t;

fail:
	gw_urltmpl_destroy(t);
	return NULL;
}

void
gw_urltmpl_destroy(struct gw_urltmpl *t)
{
	if (t == NULL)
		return;
	free(t->ops);
	free(t->text);
	free(t);
}

/* Writes the expansion into dst, or measures it when dst is NULL. */
static size_t
expand_to(char *dst, const struct gw_urltmpl *t, const struct gw_match *m,
    const char *query, size_t query_len, const struct gw_strlist *allowed)
{
	const struct tmpl_op *op;
	size_t i, n = 0;
	unsigned mode;

	for (i = 0; i < t->nops; i++) {
		op = &t->ops[i];
		mode = op->query ? ENC_QUERY : 0;
		switch (op->kind) {
		case OP_LITERAL:
			if (dst != NULL)
				memcpy(dst + n, op->s, op->len);
			n += op->len;
			break;
		case OP_PARAM:
			/* Placeholders are numbered as the endpoint pattern
			 * has them, which is the order the router fills. */
			if (op->param < m->nparams)
				n += encode(dst != NULL ? dst + n : NULL,
				    m->params[op->param].value,
				    m->params[op->param].len, mode);
			break;
		case OP_REST:
			if (m->rest != NULL)
				n += encode(dst != NULL ? dst + n : NULL,
				    m->rest, m->rest_len, mode | ENC_REST);
			break;
		}
	}
	if (query != NULL && query_len != 0 && allowed != NULL &&
	    (allowed->all || allowed->n != 0))
		n += filter_query(dst != NULL ? dst + n : NULL, query,
		    query_len, allowed, t->qsep);
	return n;
}

void
gw_urltmpl_expand(const struct gw_urltmpl *t, const struct gw_match *m,
    const char *query, size_t query_len, const struct gw_strlist *allowed,
    struct evbuffer *out)
{
	struct evbuffer_iovec v;
	size_t need;

	need = expand_to(NULL, t, m, query, query_len, allowed);
	if (need == 0)
		return;
	/* One contiguous reservation; failing it is running out of
	 * memory, which is fatal as in xmalloc.h. */
	if (evbuffer_reserve_space(out, (ev_ssize_t)need, &v, 1) != 1) {
		fprintf(stderr, "hanzo-gateway: out of memory expanding "
		    "url_pattern (%zu bytes)\n", need);
		abort();
	}
	v.iov_len = expand_to(v.iov_base, t, m, query, query_len, allowed);
	evbuffer_commit_space(out, &v, 1);
}

/* The client headers KrakenD passes when input_headers is empty or absent:
 * lura's router HeadersToSend, {"Content-Type"}, which its gin endpoint
 * handler uses when the endpoint's list is empty (lura
 * router/gin/endpoint.go NewRequest; KrakenD's documentation,
 * endpoints/parameter-forwarding: "By default, KrakenD won't pass any
 * header from the client to the backend").  The User-Agent, Accept-Encoding
 * and X-Forwarded-* a backend sees by default are the gateway's own, not
 * the client's. */
static const char default_header[] = "Content-Type";

/* ASCII case-insensitive comparison of name[0..len) with the C string s,
 * stopping at the first difference: no strlen of s. */
static int
header_is(const char *name, size_t len, const char *s)
{
	size_t i;
	unsigned char a, b;

	for (i = 0; i < len; i++) {
		a = (unsigned char)name[i];
		b = (unsigned char)s[i];
		if (b == '\0')
			return 0;
		if (a >= 'A' && a <= 'Z')
			a += 'a' - 'A';
		if (b >= 'A' && b <= 'Z')
			b += 'a' - 'A';
		if (a != b)
			return 0;
	}
	return s[len] == '\0';
}

bool
gw_header_allowed(const struct gw_endpoint_config *ep, const char *name,
    size_t len)
{
	const struct gw_strlist *l = &ep->input_headers;
	size_t i;

	if (ep->input_headers_set && l->all)
		return true;
	if (!ep->input_headers_set || l->n == 0)
		return header_is(name, len, default_header);
	for (i = 0; i < l->n; i++)
		if (header_is(name, len, l->v[i]))
			return true;
	return false;
}
