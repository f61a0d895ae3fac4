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
 *  - the query string (from '?') is not part of the path;
 *  - runs of '/' are merged into one ("//a" is "/a");
 *  - literal "." and ".." segments are resolved (RFC 3986 5.2.4); a ".."
 *    above the root is rejected;
 *  - each segment is percent-decoded once; a segment that decodes to "."
 *    or "..", or that holds NUL, or a malformed %XX is rejected
 *    (GW_ERR_INVAL -> 400).  An encoded '/' (%2F) stays inside its segment:
 *    it never splits a segment, so it cannot change which route matches.
 */
#ifndef GW_ROUTER_H
#define GW_ROUTER_H

#include <stddef.h>

#include "config.h"

#define GW_ROUTER_MAX_PARAMS 16

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
	/* The wildcard remainder of a trailing-star endpoint, without its leading
	 * '/': decoded segments joined by '/', each segment's own encoded
	 * '/' staying encoded as "%2F".  NULL for other endpoints. */
	const char *rest;
	size_t rest_len;
	/* On GW_ERR_METHOD: the methods the path allows, "GET, POST". */
	const char *allow;
};

struct gw_router;

/*
 * Builds the router for cfg->endpoints.  The router keeps pointers into
 * cfg, which must outlive it.  Returns NULL and sets *cause (malloc'd) if
 * two endpoints collide (same method and same pattern once placeholder
 * names are ignored); the config loader reports that earlier with a path.
 */
struct gw_router *gw_router_create(const struct gw_config *cfg, char **cause);
void gw_router_destroy(struct gw_router *r);

/*
 * Matches a request.  `target` is the request-target as received (origin
 * form, may include a query).  `scratch` must have room for target_len + 1
 * bytes; decoded values and `rest` are written there, so they live as long
 * as scratch does.
 *
 * Returns 0 and fills *m; GW_ERR_NOT_FOUND (404); GW_ERR_METHOD (405, with
 * m->allow set); GW_ERR_INVAL (400: hostile or malformed path).
 */
int gw_router_match(const struct gw_router *r, const char *method,
    size_t method_len, const char *target, size_t target_len,
    struct gw_match *m, char *scratch);

/* Calls fn once per endpoint in match order of its tree walk, for
 * `check -d`: method, endpoint pattern, backend summary. */
void gw_router_dump(const struct gw_router *r,
    void (*fn)(void *arg, const struct gw_endpoint_config *ep), void *arg);

#endif
