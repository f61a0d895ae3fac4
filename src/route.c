/*
 * route.c: compiles a config into routes, and keeps the process-wide
 * registry of QoS state (limiters, breakers) that survives reloads.
 */
#define GW_LOG_MODULE "route"
#include "route.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "cidr.h"
#include "cors.h"
#include "gw.h"
#include "log.h"
#include "ratelimit.h"
#include "rewrite.h"
#include "router.h"
#include "xmalloc.h"

/*
 * The QoS registry.  A limiter or breaker is keyed by its identity (the
 * endpoint's method and path, or the backend's host list) plus its
 * settings: a reload that keeps both gets the same object, so budgets and
 * open circuits are not reset; a changed setting makes a fresh one.
 * Entries are refcounted by the routes that use them.  The lock is taken
 * only when routes are built or freed, never on the request path.
 */
struct qos_entry {
	char *key;
	void *obj;
	void (*destroy)(void *);
	int refs;
	struct qos_entry *next;
};

static pthread_mutex_t qos_lock = PTHREAD_MUTEX_INITIALIZER;
static struct qos_entry *qos_entries;

static void *
qos_acquire(const char *key, void *(*create)(const void *, const char *),
    const void *arg, void (*destroy)(void *))
{
	struct qos_entry *e;
	void *obj;

	pthread_mutex_lock(&qos_lock);
	for (e = qos_entries; e != NULL; e = e->next) {
		if (strcmp(e->key, key) == 0) {
			e->refs++;
			obj = e->obj;
			pthread_mutex_unlock(&qos_lock);
			return obj;
		}
	}
	e = xcalloc(1, sizeof(*e));
	e->key = xstrdup(key);
	e->obj = create(arg, key);
	e->destroy = destroy;
	e->refs = 1;
	e->next = qos_entries;
	qos_entries = e;
	obj = e->obj;
	pthread_mutex_unlock(&qos_lock);
	return obj;
}

static void
qos_release(void *obj)
{
	struct qos_entry **pe, *e;

	if (obj == NULL)
		return;
	pthread_mutex_lock(&qos_lock);
	for (pe = &qos_entries; (e = *pe) != NULL; pe = &e->next) {
		if (e->obj != obj)
			continue;
		if (--e->refs == 0) {
			*pe = e->next;
			e->destroy(e->obj);
			free(e->key);
			free(e);
		}
		break;
	}
	pthread_mutex_unlock(&qos_lock);
}

struct limiter_arg {
	const struct gw_ratelimit_config *rl;
	size_t max_clients;
};

static void *
limiter_create(const void *arg, const char *key)
{
	const struct limiter_arg *la = arg;

	(void)key;
	return gw_limiter_local_create(la->rl, la->max_clients);
}

static void
limiter_destroy(void *obj)
{
	gw_limiter_destroy(obj);
}

static void
breaker_notify(void *arg, const char *name, enum gw_breaker_state from,
    enum gw_breaker_state to)
{
	/* arg is non-NULL when log_status_change is set: the flag, not the
	 * config, because the breaker may outlive this config. */
	if (arg != NULL)
		log_warn("circuit breaker %s: %s -> %s", name,
		    gw_breaker_state_name(from), gw_breaker_state_name(to));
}

static void *
breaker_create(const void *arg, const char *key)
{
	const struct gw_backend_config *be = arg;
	const char *name = be->breaker->name;
	struct gw_breaker *b;

	b = gw_breaker_create(be->breaker, name != NULL ? name :
	    be->hosts[0].url);
	gw_breaker_set_notify(b, breaker_notify,
	    be->breaker->log_status_change ? (void *)b : NULL);
	(void)key;
	return b;
}

static void
breaker_destroy(void *obj)
{
	gw_breaker_destroy(obj);
}

static char *
limiter_key(const struct gw_endpoint_config *ep,
    const struct gw_ratelimit_config *rl, size_t max_clients)
{
	char *key;

	xasprintf(&key, "rl %s %s|%.17g|%.17g|%llu|%llu|%d|%s|%lld|%zu",
	    ep->method, ep->endpoint, rl->max_rate, rl->client_max_rate,
	    (unsigned long long)rl->capacity,
	    (unsigned long long)rl->client_capacity, (int)rl->strategy,
	    rl->key != NULL ? rl->key : "", (long long)rl->every_ns,
	    max_clients);
	return key;
}

static char *
breaker_key(const struct gw_backend_config *be)
{
	const struct gw_breaker_config *cb = be->breaker;
	char *key, *hosts = xstrdup(""), *tmp;
	size_t i;

	for (i = 0; i < be->nhosts; i++) {
		xasprintf(&tmp, "%s%s,", hosts, be->hosts[i].url);
		free(hosts);
		hosts = tmp;
	}
	xasprintf(&key, "cb %s|%lld|%lld|%u|%s|%d", hosts,
	    (long long)cb->interval_ns, (long long)cb->timeout_ns,
	    cb->max_errors, cb->name != NULL ? cb->name : "",
	    cb->log_status_change);
	free(hosts);
	return key;
}

static bool
host_eq(const struct gw_host *a, const struct gw_host *b)
{
	return a->tls == b->tls && a->h2 == b->h2 && a->port == b->port &&
	    strcmp(a->name, b->name) == 0;
}

/* Returns the id of host in r->hosts, adding it if new. */
static size_t
host_id(struct gw_routes *r, const struct gw_host *h)
{
	size_t i;

	for (i = 0; i < r->nhosts; i++)
		if (host_eq(r->hosts[i], h))
			return i;
	r->hosts = xreallocarray(r->hosts, r->nhosts + 1, sizeof(*r->hosts));
	r->hosts[r->nhosts] = h;
	return r->nhosts++;
}

static void
routes_free(struct gw_routes *r)
{
	size_t i;

	for (i = 0; i < r->nroutes; i++) {
		struct gw_route *rt = &r->routes[i];

		gw_urltmpl_destroy(rt->tmpl);
		qos_release(rt->limiter);
		qos_release(rt->breaker);
		free(rt->host_ids);
	}
	free(r->routes);
	free(r->hosts);
	free(r->trusted);
	gw_cors_destroy(r->cors);
	gw_router_destroy(r->router);
	gw_config_unref(r->cfg);
	free(r);
}

struct gw_routes *
gw_routes_create(struct gw_config *cfg, char **cause)
{
	struct gw_routes *r;
	size_t i, h;

	r = xcalloc(1, sizeof(*r));
	r->_refcnt = 1;
	r->cfg = gw_config_ref(cfg);
	if ((r->router = gw_router_create(cfg, cause)) == NULL)
		goto fail;
	if (cfg->cors != NULL)
		r->cors = gw_cors_create(cfg->cors);
	r->trusted = xcalloc(cfg->router.trusted_proxies.n + 1,
	    sizeof(*r->trusted));
	for (i = 0; i < cfg->router.trusted_proxies.n; i++) {
		/* The loader validated them; a bad one is skipped, never
		 * trusted. */
		if (gw_cidr_parse(cfg->router.trusted_proxies.v[i],
		    &r->trusted[r->ntrusted]) == 0)
			r->ntrusted++;
	}
	r->routes = xcalloc(cfg->nendpoints ? cfg->nendpoints : 1,
	    sizeof(*r->routes));
	for (i = 0; i < cfg->nendpoints; i++) {
		const struct gw_endpoint_config *ep = &cfg->endpoints[i];
		const struct gw_backend_config *be = &ep->backends[0];
		struct gw_route *rt = &r->routes[i];
		char *why = NULL, *key;

		r->nroutes = i + 1;
		rt->ep = ep;
		rt->tmpl = gw_urltmpl_compile(be->url_pattern, ep->endpoint,
		    &why);
		if (rt->tmpl == NULL) {
			xasprintf(cause, "endpoints[%zu].backend[0]"
			    ".url_pattern: %s", i, why);
			free(why);
			goto fail;
		}
		if (ep->ratelimit != NULL) {
			struct limiter_arg la = { ep->ratelimit,
			    cfg->router.max_clients };

			key = limiter_key(ep, ep->ratelimit, la.max_clients);
			rt->limiter = qos_acquire(key, limiter_create, &la,
			    limiter_destroy);
			free(key);
		}
		if (be->breaker != NULL) {
			key = breaker_key(be);
			rt->breaker = qos_acquire(key, breaker_create, be,
			    breaker_destroy);
			free(key);
		}
		rt->nhosts = be->nhosts;
		rt->host_ids = xcalloc(be->nhosts, sizeof(*rt->host_ids));
		for (h = 0; h < be->nhosts; h++)
			rt->host_ids[h] = host_id(r, &be->hosts[h]);
	}
	return r;
fail:
	routes_free(r);
	return NULL;
}

struct gw_routes *
gw_routes_ref(struct gw_routes *r)
{
	__atomic_add_fetch(&r->_refcnt, 1, __ATOMIC_RELAXED);
	return r;
}

void
gw_routes_unref(struct gw_routes *r)
{
	if (r == NULL)
		return;
	if (__atomic_sub_fetch(&r->_refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		routes_free(r);
}

size_t
gw_route_pick_host(struct gw_route *r)
{
	unsigned n;

	if (r->nhosts == 1)
		return 0;
	n = __atomic_fetch_add(&r->_rr, 1, __ATOMIC_RELAXED);
	return n % r->nhosts;
}
