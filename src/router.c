/*
 * router.c: the segment tree behind gw_router_match().
 *
 * Each node stands for one path prefix.  Its children are the static
 * segments that may follow (a sorted array, searched by bisection), one
 * placeholder child whatever the placeholder is called, and one wildcard
 * child that takes the rest of the path.  An endpoint is attached, with its
 * method, to the node where its pattern ends.
 *
 * A request path is first split into decoded segments in the caller's
 * scratch buffer; the match is then a depth-first walk trying, at each
 * level, the static child, then the placeholder, then the wildcard, and
 * coming back up when a branch has no endpoint for the request's method.
 * Every node sits at one depth, so a walk visits each node at most once.
 */
#include <sys/types.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gw.h"
#include "router.h"
#include "xmalloc.h"

struct rnode;

/* A static child. */
struct redge {
	char *label;             /* the decoded segment, owned */
	size_t len;
	struct rnode *node;
};

/* An endpoint ending at a node. */
struct rroute {
	unsigned method;         /* index in gw_router.methods */
	size_t endpoint;         /* index in cfg->endpoints */
};

struct rnode {
	struct redge *statics;   /* sorted by label_cmp() */
	size_t nstatics;
	struct rnode *param;     /* the {name} child, whatever the name */
	struct rnode *wild;      /* the final "*": takes one or more segments */
	struct rroute *routes;   /* sorted by method rank */
	size_t nroutes;
	uint32_t mask;           /* bit i set: a route for methods[i] */
};

/* What the router keeps of one endpoint. */
struct rendpoint {
	/* Placeholder names, NUL-terminated, in path order. */
	char *names[GW_ROUTER_MAX_PARAMS];
	size_t nparams;
};

/* A method used by the config. */
struct rmethod {
	const char *name;        /* points into the config */
	size_t len;
	int rank;                /* order in Allow strings */
};

struct gw_router {
	const struct gw_config *cfg;
	struct rnode *root;
	struct rendpoint *endpoints; /* one per cfg->endpoints */
	struct rmethod methods[GW_ROUTER_MAX_METHODS];
	size_t nmethods;
	char **allow;            /* [1 << nmethods]: Allow per method set */
};

/* One segment of a pattern, as parsed at build time. */
enum pkind {
	PSEG_STATIC,
	PSEG_PARAM,
};

struct pseg {
	enum pkind kind;
	const char *s;           /* in the pattern: raw static or name */
	size_t len;
};

/* One segment of a request path, as split by split_path(). */
struct seg {
	const char *raw;         /* the segment as received, in target */
	size_t rawlen;
	size_t off;              /* its decoded bytes, in scratch */
	size_t len;
};

/* The state of one gw_router_match() walk. */
struct mstate {
	const char *scratch;
	const struct seg *segs;
	size_t nsegs;
	unsigned method;         /* the request method's index */
	uint32_t bit;            /* its bit; 0: no endpoint has it */
	uint32_t seen;           /* methods of every node the path reached */
	const struct rnode *hit; /* the node that matched, or NULL */
	size_t rest;             /* first segment of the remainder if hit is
				    a wildcard, else SIZE_MAX */
	size_t vals[GW_ROUTER_MAX_PARAMS]; /* segment of each placeholder */
	size_t nvals;
};

/* Methods in the order RFC 9110 section 9 lists them, GET first: the
 * order of Allow strings.  Others follow by name. */
static const char *const method_order[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	"CONNECT", "TRACE",
};

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
 * Decodes %XX escapes of one segment once into out (room for len bytes).
 * Returns the decoded length, or -1 on a malformed escape or a NUL.
 */
static ssize_t
pct_decode(const char *s, size_t len, char *out)
{
	size_t i, n = 0;
	int hi, lo;

	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			out[n++] = s[i];
			continue;
		}
		if (len - i < 3 || (hi = hexval(s[i + 1])) < 0 ||
		    (lo = hexval(s[i + 2])) < 0 || (hi | lo) == 0)
			return -1;
		out[n++] = (char)(hi << 4 | lo);
		i += 2;
	}
	return (ssize_t)n;
}

static int
label_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	if ((c = memcmp(a, b, GW_MIN(alen, blen))) != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

/*
 * Bisects n's static children for s.  Returns the child or NULL; with
 * at != NULL, sets *at to where s would be inserted.
 */
static struct redge *
find_static(const struct rnode *n, const char *s, size_t len, size_t *at)
{
	size_t lo = 0, hi = n->nstatics, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = label_cmp(s, len, n->statics[mid].label,
		    n->statics[mid].len);
		if (c == 0)
			return &n->statics[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (at != NULL)
		*at = lo;
	return NULL;
}

static int
method_rank(const char *name)
{
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(method_order); i++)
		if (strcmp(name, method_order[i]) == 0)
			return (int)i;
	return (int)GW_ARRAY_SIZE(method_order);
}

/* Orders methods for Allow: known ones by rank, the others by name. */
static int
method_cmp(const struct rmethod *a, const struct rmethod *b)
{
	if (a->rank != b->rank)
		return a->rank < b->rank ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * Splits an endpoint pattern into segs (room for GW_ROUTER_MAX_SEGMENTS).
 * Sets *nsegs, *nparams and *wild (the pattern ends in a "*" segment).
 * Returns 0, or -1 with *why set to a static message.
 */
static int
parse_pattern(const char *pattern, struct pseg *segs, size_t *nsegs,
    size_t *nparams, int *wild, const char **why)
{
	const char *p, *s, *e;
	size_t n = 0, np = 0, len;

	*wild = 0;
	if (pattern == NULL || pattern[0] != '/') {
		*why = "the pattern must start with '/'";
		return -1;
	}
	p = pattern + 1;
	for (;;) {
		s = p;
		e = strchr(s, '/');
		len = e != NULL ? (size_t)(e - s) : strlen(s);
		if (len == 0 && e != NULL) {
			*why = "empty segment (\"//\")";
			return -1;
		}
		if (len == 1 && s[0] == '*') {
			if (e != NULL) {
				*why = "'*' must be the last segment";
				return -1;
			}
			*wild = 1;
			break;
		}
		if (n == GW_ROUTER_MAX_SEGMENTS) {
			*why = "too many segments";
			return -1;
		}
		if (len >= 2 && s[0] == '{' && s[len - 1] == '}') {
			if (len == 2 || memchr(s + 1, '{', len - 2) != NULL ||
			    memchr(s + 1, '}', len - 2) != NULL) {
				*why = "malformed placeholder";
				return -1;
			}
			if (np == GW_ROUTER_MAX_PARAMS) {
				*why = "too many placeholders";
				return -1;
			}
			segs[n].kind = PSEG_PARAM;
			segs[n].s = s + 1;
			segs[n].len = len - 2;
			np++;
		} else {
			if (memchr(s, '{', len) != NULL ||
			    memchr(s, '}', len) != NULL) {
				*why = "a placeholder must be a whole segment";
				return -1;
			}
			segs[n].kind = PSEG_STATIC;
			segs[n].s = s;
			segs[n].len = len;
		}
		n++;
		if (e == NULL)
			break;
		p = e + 1;
	}
	*nsegs = n;
	*nparams = np;
	return 0;
}

int
gw_router_pattern(const char *pattern, struct gw_pattern *p, const char **why)
{
	struct pseg segs[GW_ROUTER_MAX_SEGMENTS];
	size_t nsegs, nparams, i;
	int wild;

	if (parse_pattern(pattern, segs, &nsegs, &nparams, &wild, why) != 0)
		return -1;
	p->nparams = 0;
	for (i = 0; i < nsegs; i++) {
		if (segs[i].kind != PSEG_PARAM)
			continue;
		p->params[p->nparams].name = segs[i].s;
		p->params[p->nparams].len = segs[i].len;
		p->nparams++;
	}
	p->wild = wild;
	return 0;
}

static struct rnode *
add_static(struct rnode *n, const char *label, size_t len)
{
	struct redge *e;
	size_t at;

	if ((e = find_static(n, label, len, &at)) != NULL)
		return e->node;
	n->statics = xreallocarray(n->statics, n->nstatics + 1,
	    sizeof *n->statics);
	memmove(&n->statics[at + 1], &n->statics[at],
	    (n->nstatics - at) * sizeof *n->statics);
	n->nstatics++;
	e = &n->statics[at];
	e->label = xstrndup(label, len);
	e->len = len;
	e->node = xcalloc(1, sizeof *e->node);
	return e->node;
}

/* Returns the index of method in r->methods, adding it; -1 if full. */
static int
add_method(struct gw_router *r, const char *method)
{
	size_t i;

	for (i = 0; i < r->nmethods; i++)
		if (strcmp(r->methods[i].name, method) == 0)
			return (int)i;
	if (r->nmethods == GW_ROUTER_MAX_METHODS)
		return -1;
	r->methods[i].name = method;
	r->methods[i].len = strlen(method);
	r->methods[i].rank = method_rank(method);
	r->nmethods++;
	return (int)i;
}

/*
 * Adds endpoint i to r.  Returns 0, or -1 with *cause set.
 */
static int
add_endpoint(struct gw_router *r, size_t i, char **cause)
{
	const struct gw_endpoint_config *ep = &r->cfg->endpoints[i];
	struct rendpoint *re = &r->endpoints[i];
	struct pseg segs[GW_ROUTER_MAX_SEGMENTS];
	const char *method = ep->method != NULL ? ep->method : "GET";
	const char *why;
	struct rnode *n = r->root;
	struct rroute *rt;
	size_t nsegs, nparams, k, at;
	char *buf;
	ssize_t dl;
	int wild, mi;

	if (parse_pattern(ep->endpoint, segs, &nsegs, &nparams, &wild,
	    &why) != 0) {
		xasprintf(cause, "endpoints[%zu]: %s %s: %s", i, method,
		    ep->endpoint != NULL ? ep->endpoint : "(null)", why);
		return -1;
	}
	if ((mi = add_method(r, method)) < 0) {
		xasprintf(cause, "endpoints[%zu]: %s %s: more than %d distinct "
		    "methods", i, method, ep->endpoint, GW_ROUTER_MAX_METHODS);
		return -1;
	}

	/* A pattern "/" is one empty static segment, as the path "/" is. */
	for (k = 0; k < nsegs; k++) {
		if (segs[k].kind == PSEG_PARAM) {
			re->names[re->nparams++] = xstrndup(segs[k].s,
			    segs[k].len);
			if (n->param == NULL)
				n->param = xcalloc(1, sizeof *n->param);
			n = n->param;
			continue;
		}
		/* Statics are decoded as request segments are, so that
		 * "/a%20b" and "/a b" name the same path. */
		buf = xmalloc(segs[k].len);
		dl = pct_decode(segs[k].s, segs[k].len, buf);
		if (dl < 0 || (dl == 1 && buf[0] == '.') ||
		    (dl == 2 && buf[0] == '.' && buf[1] == '.')) {
			free(buf);
			xasprintf(cause, "endpoints[%zu]: %s %s: %s", i,
			    method, ep->endpoint, dl < 0 ?
			    "malformed %XX escape" : "\".\" or \"..\" segment");
			return -1;
		}
		n = add_static(n, buf, (size_t)dl);
		free(buf);
	}
	if (wild) {
		if (n->wild == NULL)
			n->wild = xcalloc(1, sizeof *n->wild);
		n = n->wild;
	}

	if (n->mask & (UINT32_C(1) << mi)) {
		for (k = 0; n->routes[k].method != (unsigned)mi; k++)
			/* nothing */;
		xasprintf(cause, "endpoints[%zu]: %s %s collides with "
		    "endpoints[%zu]: %s %s", i, method, ep->endpoint,
		    n->routes[k].endpoint, method,
		    r->cfg->endpoints[n->routes[k].endpoint].endpoint);
		return -1;
	}
	for (at = 0; at < n->nroutes; at++)
		if (method_cmp(&r->methods[mi],
		    &r->methods[n->routes[at].method]) < 0)
			break;
	n->routes = xreallocarray(n->routes, n->nroutes + 1,
	    sizeof *n->routes);
	memmove(&n->routes[at + 1], &n->routes[at],
	    (n->nroutes - at) * sizeof *n->routes);
	n->nroutes++;
	rt = &n->routes[at];
	rt->method = (unsigned)mi;
	rt->endpoint = i;
	n->mask |= UINT32_C(1) << mi;
	return 0;
}

/* Precomputes the Allow string of every set of methods. */
static void
build_allow(struct gw_router *r)
{
	size_t order[GW_ROUTER_MAX_METHODS], i, j, t, size = 1, len;
	uint32_t mask, nmasks = UINT32_C(1) << r->nmethods;
	char *s;

	for (i = 0; i < r->nmethods; i++) {
		order[i] = i;
		size += r->methods[i].len + 2;
	}
	/* Insertion sort: ten elements at most. */
	for (i = 1; i < r->nmethods; i++) {
		for (j = i; j > 0 && method_cmp(&r->methods[order[j]],
		    &r->methods[order[j - 1]]) < 0; j--) {
			t = order[j];
			order[j] = order[j - 1];
			order[j - 1] = t;
		}
	}
	r->allow = xcalloc(nmasks, sizeof *r->allow);
	for (mask = 0; mask < nmasks; mask++) {
		s = r->allow[mask] = xmalloc(size);
		len = 0;
		for (i = 0; i < r->nmethods; i++) {
			if ((mask & (UINT32_C(1) << order[i])) == 0)
				continue;
			if (len != 0) {
				memcpy(s + len, ", ", 2);
				len += 2;
			}
			memcpy(s + len, r->methods[order[i]].name,
			    r->methods[order[i]].len);
			len += r->methods[order[i]].len;
		}
		s[len] = '\0';
	}
}

struct gw_router *
gw_router_create(const struct gw_config *cfg, char **cause)
{
	struct gw_router *r;
	size_t i;

	*cause = NULL;
	r = xcalloc(1, sizeof *r);
	r->cfg = cfg;
	r->root = xcalloc(1, sizeof *r->root);
	r->endpoints = xcalloc(cfg->nendpoints, sizeof *r->endpoints);
	for (i = 0; i < cfg->nendpoints; i++) {
		if (add_endpoint(r, i, cause) != 0) {
			gw_router_destroy(r);
			return NULL;
		}
	}
	build_allow(r);
	return r;
}

static void
free_node(struct rnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->nstatics; i++) {
		free(n->statics[i].label);
		free_node(n->statics[i].node);
	}
	free(n->statics);
	free_node(n->param);
	free_node(n->wild);
	free(n->routes);
	free(n);
}

void
gw_router_destroy(struct gw_router *r)
{
	size_t i, j;

	if (r == NULL)
		return;
	free_node(r->root);
	for (i = 0; i < r->cfg->nendpoints; i++)
		for (j = 0; j < r->endpoints[i].nparams; j++)
			free(r->endpoints[i].names[j]);
	free(r->endpoints);
	if (r->allow != NULL) {
		for (i = 0; i < (UINT32_C(1) << r->nmethods); i++)
			free(r->allow[i]);
		free(r->allow);
	}
	free(r);
}

/*
 * Splits the path of target into decoded segments, resolving "." and
 * "..", as router.h describes.  Decoded bytes go to scratch: a segment
 * never decodes longer than it was received, and a ".." only takes back
 * the last segment written, so scratch never needs more than target_len
 * bytes.  A path ending in '/' (or in a "." or ".." segment) gets a final
 * empty segment.  Returns 0 or GW_ERR_INVAL.
 */
static int
split_path(const char *target, size_t target_len, char *scratch,
    struct seg *segs, size_t *nsegs)
{
	const char *p, *end, *q, *s;
	size_t n = 0, w = 0, len;
	int hi, lo, trailing = 0;
	unsigned char c;

	if (target_len == 0 || target[0] != '/')
		return GW_ERR_INVAL;
	q = memchr(target, '?', target_len);
	end = q != NULL ? q : target + target_len;

	p = target;
	while (p < end) {
		while (p < end && *p == '/')
			p++;
		if (p == end) {
			trailing = 1;
			break;
		}
		s = p;
		len = 0;
		for (; p < end && *p != '/'; p++) {
			c = (unsigned char)*p;
			if (c == '%') {
				if (end - p < 3 || (hi = hexval(p[1])) < 0 ||
				    (lo = hexval(p[2])) < 0 || (hi | lo) == 0)
					return GW_ERR_INVAL;
				c = (unsigned char)(hi << 4 | lo);
				p += 2;
			} else if (c <= 0x20 || c == 0x7f || c == '#')
				return GW_ERR_INVAL;
			scratch[w + len++] = (char)c;
		}

		/* Literal dot segments: RFC 3986 5.2.4.  What they leave
		 * behind is a directory, hence the trailing empty segment. */
		if (p - s == 1 && s[0] == '.') {
			trailing = 1;
			continue;
		}
		if (p - s == 2 && s[0] == '.' && s[1] == '.') {
			if (n == 0)
				return GW_ERR_INVAL;
			w = segs[--n].off;
			trailing = 1;
			continue;
		}
		/* Encoded ones are refused: a backend that decodes again
		 * would resolve them after the route was chosen. */
		if ((len == 1 && scratch[w] == '.') ||
		    (len == 2 && scratch[w] == '.' && scratch[w + 1] == '.'))
			return GW_ERR_INVAL;
		if (n == GW_ROUTER_MAX_SEGMENTS)
			return GW_ERR_INVAL;
		segs[n].raw = s;
		segs[n].rawlen = (size_t)(p - s);
		segs[n].off = w;
		segs[n].len = len;
		n++;
		w += len;
		trailing = 0;
	}
	if (trailing || n == 0) {
		if (n == GW_ROUTER_MAX_SEGMENTS)
			return GW_ERR_INVAL;
		segs[n].raw = end;
		segs[n].rawlen = 0;
		segs[n].off = w;
		segs[n].len = 0;
		n++;
	}
	*nsegs = n;
	return 0;
}

/*
 * Walks n for segments d and below.  Returns 1 when a node with a route
 * for st->bit is found (st->hit), else 0 with st->seen updated.
 */
static int
match_node(struct mstate *st, const struct rnode *n, size_t d)
{
	const struct seg *sg;
	const struct redge *e;

	if (d == st->nsegs) {
		st->seen |= n->mask;
		if (n->mask & st->bit) {
			st->hit = n;
			return 1;
		}
		return 0;
	}
	sg = &st->segs[d];

	e = find_static(n, st->scratch + sg->off, sg->len, NULL);
	if (e != NULL && match_node(st, e->node, d + 1))
		return 1;

	/* nvals cannot overflow: every node exists for some pattern, and no
	 * pattern has more than GW_ROUTER_MAX_PARAMS placeholders. */
	if (n->param != NULL && sg->len != 0 &&
	    st->nvals < GW_ROUTER_MAX_PARAMS) {
		st->vals[st->nvals++] = d;
		if (match_node(st, n->param, d + 1))
			return 1;
		st->nvals--;
	}

	if (n->wild != NULL) {
		st->seen |= n->wild->mask;
		if (n->wild->mask & st->bit) {
			st->hit = n->wild;
			st->rest = d;
			return 1;
		}
	}
	return 0;
}

/*
 * Writes the remainder from segment `from` into scratch at that segment's
 * decoded offset, re-decoded from the raw bytes so that '/' and '%' of a
 * segment stay escaped.  Each segment's form is no longer than its raw
 * bytes and is preceded by at least one raw '/', while its offset is no
 * more than its raw position: it fits in target_len bytes.
 */
static size_t
write_rest(const struct seg *segs, size_t from, size_t nsegs, char *scratch)
{
	char *out = scratch + segs[from].off, *o = out;
	const char *p, *end;
	size_t j;
	int c;

	for (j = from; j < nsegs; j++) {
		if (j != from)
			*o++ = '/';
		p = segs[j].raw;
		end = p + segs[j].rawlen;
		for (; p < end; p++) {
			if (*p != '%') {
				*o++ = *p;
				continue;
			}
			/* split_path() validated every escape. */
			c = hexval(p[1]) << 4 | hexval(p[2]);
			if (c == '/' || c == '%') {
				memcpy(o, c == '/' ? "%2F" : "%25", 3);
				o += 3;
			} else
				*o++ = (char)c;
			p += 2;
		}
	}
	return (size_t)(o - out);
}

int
gw_router_match(const struct gw_router *r, const char *method,
    size_t method_len, const char *target, size_t target_len,
    struct gw_match *m, char *scratch)
{
	struct seg segs[GW_ROUTER_MAX_SEGMENTS];
	struct mstate st;
	const struct rendpoint *re;
	size_t i;
	int error;

	m->endpoint = SIZE_MAX;
	m->nparams = 0;
	m->rest = NULL;
	m->rest_len = 0;
	m->allow = NULL;

	if ((error = split_path(target, target_len, scratch, segs,
	    &st.nsegs)) != 0)
		return error;
	st.scratch = scratch;
	st.segs = segs;
	st.method = 0;
	st.bit = 0;
	for (i = 0; i < r->nmethods; i++) {
		if (r->methods[i].len == method_len &&
		    memcmp(r->methods[i].name, method, method_len) == 0) {
			st.method = (unsigned)i;
			st.bit = UINT32_C(1) << i;
			break;
		}
	}
	st.seen = 0;
	st.hit = NULL;
	st.rest = SIZE_MAX;
	st.nvals = 0;

	if (!match_node(&st, r->root, 0)) {
		if (st.seen == 0)
			return GW_ERR_NOT_FOUND;
		m->allow = r->allow[st.seen];
		return GW_ERR_METHOD;
	}

	for (i = 0; st.hit->routes[i].method != st.method; i++)
		/* nothing: the mask says it is there */;
	m->endpoint = st.hit->routes[i].endpoint;
	re = &r->endpoints[m->endpoint];
	m->nparams = st.nvals;
	for (i = 0; i < st.nvals; i++) {
		m->params[i].name = re->names[i];
		m->params[i].value = scratch + segs[st.vals[i]].off;
		m->params[i].len = segs[st.vals[i]].len;
	}
	if (st.rest != SIZE_MAX) {
		m->rest = scratch + segs[st.rest].off;
		m->rest_len = write_rest(segs, st.rest, st.nsegs, scratch);
	}
	return 0;
}

static void
dump_node(const struct gw_router *r, const struct rnode *n,
    void (*fn)(void *, const struct gw_endpoint_config *), void *arg)
{
	size_t i;

	for (i = 0; i < n->nroutes; i++)
		fn(arg, &r->cfg->endpoints[n->routes[i].endpoint]);
	for (i = 0; i < n->nstatics; i++)
		dump_node(r, n->statics[i].node, fn, arg);
	if (n->param != NULL)
		dump_node(r, n->param, fn, arg);
	if (n->wild != NULL)
		dump_node(r, n->wild, fn, arg);
}

void
gw_router_dump(const struct gw_router *r,
    void (*fn)(void *arg, const struct gw_endpoint_config *ep), void *arg)
{
	dump_node(r, r->root, fn, arg);
}
