/*
 * route.h: a config compiled for serving: the router plus one route
 * object per endpoint holding what a request needs (url templates,
 * rate limiter, circuit breakers, backend host ids).
 *
 * struct gw_routes is immutable, shared by all workers and refcounted: a
 * stream holds a reference for its life, so a reload never pulls a route
 * from under a request in flight.  Limiters and breakers come from a
 * process-wide registry keyed by endpoint/backend identity and settings,
 * so a reload that keeps them keeps their state.
 */
#ifndef GW_ROUTE_H
#define GW_ROUTE_H

#include <stddef.h>

#include "config.h"

struct gw_breaker;
struct gw_cidr;
struct gw_cors;
struct gw_limiter;
struct gw_router;
struct gw_urltmpl;

struct gw_route {
	const struct gw_endpoint_config *ep;
	struct gw_urltmpl *tmpl;     /* backend 0's url_pattern */
	struct gw_limiter *limiter;  /* NULL: no rate limit */
	struct gw_breaker *breaker;  /* backend 0's; NULL: none */
	size_t *host_ids;            /* backend 0's hosts, ids into
					routes->hosts */
	size_t nhosts;
	unsigned _rr;                /* round-robin counter (atomic) */
};

struct gw_routes {
	struct gw_config *cfg;       /* ref */
	struct gw_router *router;
	struct gw_route *routes;     /* one per cfg->endpoints[i] */
	size_t nroutes;
	const struct gw_host **hosts;/* distinct backend hosts */
	size_t nhosts;
	struct gw_cors *cors;        /* NULL: no CORS */
	struct gw_cidr *trusted;     /* router.trusted_proxies */
	size_t ntrusted;
	int _refcnt;
};

/* Compiles cfg.  Returns NULL and sets *cause (malloc'd) on failure. */
struct gw_routes *gw_routes_create(struct gw_config *cfg, char **cause);
struct gw_routes *gw_routes_ref(struct gw_routes *r);
void gw_routes_unref(struct gw_routes *r);

/* Picks the next host of a route (round robin across workers). */
size_t gw_route_pick_host(struct gw_route *r);

#endif
