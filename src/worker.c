/*
 * worker.c: a worker thread: its event_base, its listeners, its client
 * connections and its upstream pools.
 *
 * Other threads talk to a worker only through its mailbox (a mutex and
 * two fields) and an eventfd that wakes its loop (memcached's notify
 * pipe); everything else in struct gw_worker is touched by the worker's
 * own thread alone.  So libevent runs without its internal locks: no
 * event_base is ever touched by two threads.
 */
#define GW_LOG_MODULE "worker"
#include "worker.h"

#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "conn.h"
#include "gw.h"
#include "h2_server.h"
#include "log.h"
#include "route.h"
#include "stream.h"
#include "upstream.h"
#include "xmalloc.h"

static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	(void)l;
	gw_conn_accept(arg, fd, sa, salen);
}

static void
accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: libevent retries on the next readiness. */
	log_warn("accept: %s",
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
pools_destroy(struct gw_worker *w)
{
	size_t i;

	for (i = 0; i < w->npools; i++)
		if (w->pools[i] != NULL)
			gw_pool_destroy(w->pools[i]);
	free(w->pools);
	w->pools = NULL;
	w->npools = 0;
}

/* Swaps in new routes: fresh pools, because old pools point at hosts of
 * the old config (freed once its last stream ends). */
static void
set_routes(struct gw_worker *w, struct gw_routes *routes)
{
	pools_destroy(w);
	gw_routes_unref(w->routes);
	w->routes = routes;
	w->npools = routes->nhosts;
	w->pools = xcalloc(w->npools ? w->npools : 1, sizeof(*w->pools));
}

struct gw_pool *
gw_worker_pool(struct gw_worker *w, size_t host)
{
	if (w->pools[host] == NULL) {
		struct gw_pool_limits lim = {
			.max_idle = w->set.pool_max_idle,
			.max_total = 0,
			.idle_timeout_ns = w->set.pool_idle_timeout_ns,
			.connect_timeout_ns = w->set.pool_connect_timeout_ns,
			.dns_ttl_ns = 0,
		};

		w->pools[host] = gw_pool_create(w, w->routes->hosts[host],
		    &lim);
	}
	return w->pools[host];
}

void
gw_worker_conn_add(struct gw_worker *w, struct gw_conn *c)
{
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
}

void
gw_worker_conn_remove(struct gw_worker *w, struct gw_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->nconns--;
	if (w->stopping && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_worker *w = arg;

	(void)fd;
	(void)what;
	log_warn("worker %d: grace period over, closing %zu connection%s",
	    w->id, w->nconns, w->nconns == 1 ? "" : "s");
	while (w->conns != NULL)
		gw_conn_free(w->conns);
	event_base_loopexit(w->base, NULL);
}

static void
begin_stop(struct gw_worker *w)
{
	struct gw_conn *c, *next;
	struct timeval tv;
	size_t i;

	w->stopping = true;
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	w->nlisteners = 0;
	for (c = w->conns; c != NULL; c = next) {
		/* Shutdown may free c (an idle connection): step first. */
		next = c->next;
		gw_conn_shutdown(c);
	}
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	tv.tv_sec = w->set.grace_ns / GW_NS_PER_S;
	tv.tv_usec = (w->set.grace_ns % GW_NS_PER_S) / 1000;
	w->grace_timer = evtimer_new(w->base, grace_cb, w);
	evtimer_add(w->grace_timer, &tv);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_worker *w = arg;
	struct gw_routes *routes;
	bool stop;

	uint64_t n;

	(void)what;
	/* Several posts may have been folded into one count. */
	(void)!read(fd, &n, sizeof(n));
	pthread_mutex_lock(&w->mbox_lock);
	routes = w->mbox_routes;
	w->mbox_routes = NULL;
	stop = w->mbox_stop;
	w->mbox_stop = false;
	pthread_mutex_unlock(&w->mbox_lock);
	if (routes != NULL)
		set_routes(w, routes);
	if (stop && !w->stopping)
		begin_stop(w);
}

struct gw_worker *
gw_worker_create(int id, const int *fds, size_t nfds,
    struct gw_routes *routes, SSL_CTX *server_tls, SSL_CTX *client_tls,
    const struct gw_worker_settings *set)
{
	struct gw_worker *w = xcalloc(1, sizeof(*w));
	struct event_config *ecfg;
	size_t i;

	w->id = id;
	w->set = *set;
	w->header_timeout_ns = set->header_timeout_ns;
	w->idle_timeout_ns = set->idle_timeout_ns;
	w->body_timeout_ns = set->body_timeout_ns;
	w->max_concurrent_streams = set->max_concurrent_streams;
	w->server_tls = server_tls;
	w->client_tls = client_tls;
	ecfg = event_config_new();
	/* Batch epoll_ctl: a read disabled and enabled again within one
	 * loop turn (back-pressure) then costs no system call. */
	event_config_set_flag(ecfg, EVENT_BASE_FLAG_NOLOCK |
	    EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	w->base = event_base_new_with_config(ecfg);
	event_config_free(ecfg);
	if (w->base == NULL)
		abort();
	w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
	    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (w->dns == NULL) {
		/* No resolv.conf: IP literals still work. */
		w->dns = evdns_base_new(w->base,
		    EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	}
	pthread_mutex_init(&w->mbox_lock, NULL);
	if ((w->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		abort();
	w->wake = event_new(w->base, w->wake_fd, EV_READ | EV_PERSIST,
	    wake_cb, w);
	event_add(w->wake, NULL);
	gw_flusher_init(&w->flusher, w->base);
	gw_h2_mem_init(&w->h2mem);
	w->listeners = xcalloc(nfds ? nfds : 1, sizeof(*w->listeners));
	for (i = 0; i < nfds; i++) {
		int fd = dup(fds[i]);

		w->listeners[i] = evconnlistener_new(w->base, accept_cb, w,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
		if (w->listeners[i] == NULL)
			abort();
		evconnlistener_set_error_cb(w->listeners[i], accept_error_cb);
		w->nlisteners++;
	}
	set_routes(w, gw_routes_ref(routes));
	return w;
}

static void *
worker_main(void *arg)
{
	struct gw_worker *w = arg;

	event_base_loop(w->base, 0);
	return NULL;
}

int
gw_worker_start(struct gw_worker *w)
{
	return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 :
	    GW_ERR_FATAL;
}

static void
worker_wake(struct gw_worker *w)
{
	uint64_t one = 1;

	/* Only EAGAIN can fail here (counter full): the worker is awake. */
	(void)!write(w->wake_fd, &one, sizeof(one));
}

void
gw_worker_post_routes(struct gw_worker *w, struct gw_routes *routes)
{
	pthread_mutex_lock(&w->mbox_lock);
	gw_routes_unref(w->mbox_routes);
	w->mbox_routes = gw_routes_ref(routes);
	pthread_mutex_unlock(&w->mbox_lock);
	worker_wake(w);
}

void
gw_worker_post_stop(struct gw_worker *w)
{
	pthread_mutex_lock(&w->mbox_lock);
	w->mbox_stop = true;
	pthread_mutex_unlock(&w->mbox_lock);
	worker_wake(w);
}

void
gw_worker_join_destroy(struct gw_worker *w)
{
	size_t i;

	pthread_join(w->thread, NULL);
	while (w->conns != NULL)
		gw_conn_free(w->conns);
	for (i = 0; i < w->nlisteners; i++)
		evconnlistener_free(w->listeners[i]);
	free(w->listeners);
	pools_destroy(w);
	/* Pools close their connections through the loop: let it run. */
	event_base_loop(w->base, EVLOOP_NONBLOCK);
	/* Every stream was destroyed with its connection: the caches are
	 * all that is left of them. */
	gw_h2_server_cache_free(w);
	gw_stream_cache_free(w);
	gw_routes_unref(w->routes);
	gw_routes_unref(w->mbox_routes);
	if (w->grace_timer != NULL)
		event_free(w->grace_timer);
	event_free(w->wake);
	gw_flusher_fini(&w->flusher);
	gw_h2_mem_fini(&w->h2mem);
	close(w->wake_fd);
	evdns_base_free(w->dns, 0);
	event_base_free(w->base);
	pthread_mutex_destroy(&w->mbox_lock);
	free(w);
}
