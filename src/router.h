/*
 * router.h: method + path -> endpoint, built once per config.
 *
 * The router is a segment tree: each level holds its static children in a
 * sorted array (binary search), at most one {placeholder} child and at most
 * one trailing "*" wildcard.  At each level static beats placeholder beats
 * wildcard, with backtracking, so a match costs O(segments * log fanout)
 * whatever the number of endpoints.  It is immutable after creation and
 * safe to share between threads.
 *
 * Path handling, in order, before matching:
 *  - the request-target must start with '/' (the caller handles the
 *    absolute form and "*"); anything else is rejected;
 *  - the query string (from '?') is not part of the path;
 *  - runs of '/' are merged into one ("//a" is "/a");
 *  - literal "." and ".." segments are resolved (RFC 3986 5.2.4); a ".."
 *    above the root is rejected;
 *  - each segment is percent-decoded once; a segment that decodes to "."
 *    or "..", or that holds NUL, or a malformed %XX is rejected
 *    (GW_ERR_INVAL -> 400).  An encoded '/' (%2F) stays inside its segment:
 *    it never splits a segment, so it cannot change which route matches;
 *  - control bytes, space and '#' are rejected wherever they appear in the
 *    path; other bytes are left to the protocol parsers;
 *  - more than GW_ROUTER_MAX_SEGMENTS segments (after "." and ".." are
 *    resolved) is rejected rather than searched.
 *
 * Patterns: static segments, "{name}" (exactly one non-empty segment) and
 * a final "*" segment, the wildcard (written "/a/\*" here: C comments
 * cannot hold the two characters together).  A trailing '/' is
 * significant, as in gin (KrakenD's router): "/a/" and "/a" are different
 * paths.  "/a/" ends in an empty segment, which only a pattern ending in
 * '/' or a wildcard matches ("{x}" never matches an empty segment).
 * "/a/\*" matches "/a/" and everything below it, but not "/a": declare
 * "/a" as its own endpoint when wanted.
 *
 * Precedence is per method, as with gin's per-method trees: a path that
 * matches "POST /v1/chat/completions" for POST still matches
 * "GET /v1/chat/{path}" for GET.  Methods are compared case-sensitively
 * (RFC 9110 9.1); HEAD is not implied by GET: that is the caller's choice.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define GW_ROUTER_MAX_PARAMS 16

/* Deepest path matched, in segments once "." and ".." are resolved; a
 * deeper request path is GW_ERR_INVAL.  It bounds the matcher's stack
 * (a segment table of 8 KiB and as many recursion levels). */
#define GW_ROUTER_MAX_SEGMENTS 256

/* Distinct methods one config may use: an Allow string is precomputed for
 * every subset of them (2^10 at most). */
#define GW_ROUTER_MAX_METHODS 10

/* A decoded placeholder value: points into the caller's scratch buffer. */
struct gw_param {
	const char *name;        /* from the config, NUL-terminated */
	const char *value;       /* decoded, NOT NUL-terminated */
	size_t len;
};

struct gw_match {
	size_t endpoint;         /* index in cfg->endpoints */
	size_t nparams;
	struct gw_param params[GW_ROUTER_MAX_PARAMS];
	/* The wildcard remainder of a trailing-star endpoint, without its
	 * leading '/': decoded segments joined by '/', each segment's own
	 * encoded '/' staying encoded as "%2F" and its '%' as "%25", so that
	 * every '%' in rest starts an escape and every '/' separates
	 * segments.  "" for "/a/" under "/a/\*", "b/" for "/a/b/".  NULL for
	 * other endpoints. */
	const char *rest;
	size_t rest_len;
	/* On GW_ERR_METHOD: the methods the path allows, "GET, POST": every
	 * method of every endpoint whose pattern matches the path, in the
	 * order GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS, CONNECT, TRACE,
	 * then others by name.  Owned by the router. */
	const char *allow;
};

struct gw_router;

/*
 * Builds the router for cfg->endpoints.  The router keeps pointers into
 * cfg, which must outlive it.  Returns NULL and sets *cause (malloc'd,
 * naming the endpoint as "endpoints[i]") if two endpoints collide (same
 * method and same pattern once placeholder names are ignored), if a
 * pattern is malformed (no leading '/', an empty segment, '*' other than
 * last, '{' or '}' outside a whole "{name}" segment, a "." or ".." or
 * malformed %XX static segment), if it has more than
 * GW_ROUTER_MAX_PARAMS placeholders or GW_ROUTER_MAX_SEGMENTS segments,
 * or if the config uses more than GW_ROUTER_MAX_METHODS methods.  The
 * config loader reports collisions earlier with a JSON path.
 */
struct gw_router *gw_router_create(const struct gw_config *cfg, char **cause);
void gw_router_destroy(struct gw_router *r);

/*
 * Matches a request.  `target` is the request-target as received (origin
 * form, may include a query).  `scratch` must have room for target_len + 1
 * bytes and must not overlap target; decoded values and `rest` are
 * written there, so they live as long as scratch does.  Allocates
 * nothing.
 *
 * Returns 0 and fills *m; GW_ERR_NOT_FOUND (404); GW_ERR_METHOD (405, with
 * m->allow set); GW_ERR_INVAL (400: hostile or malformed path).
 */
int gw_router_match(const struct gw_router *r, const char *method,
    size_t method_len, const char *target, size_t target_len,
    struct gw_match *m, char *scratch);

/* The placeholders of an endpoint pattern, as the router reads it. */
struct gw_pattern {
	struct {
		const char *name;  /* into the pattern, NOT NUL-terminated */
		size_t len;
	} params[GW_ROUTER_MAX_PARAMS]; /* in path order, as in gw_match */
	size_t nparams;
	bool wild;               /* the pattern ends in a "*" segment */
};

/*
 * Parses an endpoint pattern as gw_router_create() does, for modules that
 * must agree with it on placeholders (rewrite.c).  Returns 0, or -1 with
 * *why set to a static message if the pattern is malformed.
 */
int gw_router_pattern(const char *pattern, struct gw_pattern *p,
    const char **why);

/* Calls fn once per endpoint in the order of a tree walk (a node's own
 * endpoints by method, then its static children by bytes, then its
 * placeholder, then its wildcard), for `check -d`: method, endpoint
 * pattern, backend summary.  The order is stable for a given config. */
void gw_router_dump(const struct gw_router *r,
    void (*fn)(void *arg, const struct gw_endpoint_config *ep), void *arg);

#endif
