/*
 * worker.h: one thread, one event_base.  A worker accepts on the shared
 * listening sockets and owns every connection it accepted, its upstream
 * pools and its timers; the request path takes no lock shared between
 * workers.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "freelist.h"
#include "h2_mem.h"
#include "sockio.h"

struct event;
struct evbuffer;
struct event_base;
struct evdns_base;
struct evconnlistener;
struct gw_conn;
struct gw_host;
struct gw_pool;
struct gw_routes;

/* Per-worker counters, summed at scrape time (no atomics needed: only
 * the worker writes them; readers tolerate a torn read of a counter). */
struct gw_worker_stats {
	uint64_t conns_accepted;
	uint64_t requests;
	uint64_t responses[6];   /* by class: 1xx..5xx, [0] unused */
	uint64_t upstream_errors;
};

/* The worker's free lists (freelist.h) of request objects of stream.c
 * and h2_server.c.  A zeroed list is an empty one: fake workers in unit
 * tests need no setup, only the module's cache_free call at the end. */

/* What a worker is started with; copied. */
struct gw_worker_settings {
	int64_t header_timeout_ns;
	int64_t idle_timeout_ns;
	int64_t body_timeout_ns;
	int64_t grace_ns;        /* shutdown: in-flight work may take this */
	unsigned max_concurrent_streams;
	unsigned pool_max_idle;
	int64_t pool_idle_timeout_ns;
	int64_t pool_connect_timeout_ns;
};

struct gw_worker {
	int id;
	pthread_t thread;
	struct event_base *base;
	struct evdns_base *dns;
	SSL_CTX *server_tls;     /* NULL: plaintext front */
	SSL_CTX *client_tls;     /* for https:// backends */
	struct evconnlistener **listeners;
	size_t nlisteners;
	struct gw_routes *routes;    /* current routes (ref) */
	struct gw_pool **pools;  /* by host id of routes; lazily created */
	size_t npools;
	struct gw_conn *conns;   /* list of open client connections */
	size_t nconns;
	bool stopping;           /* graceful shutdown in progress */
	struct event *wake;      /* reads wake_fd */
	int wake_fd;             /* eventfd other threads write to wake us */
	pthread_mutex_t mbox_lock;   /* guards the two fields below */
	struct gw_routes *mbox_routes;   /* routes posted, not yet taken */
	bool mbox_stop;
	struct event *grace_timer;
	struct gw_worker_settings set;
	struct gw_worker_stats stats;
	struct gw_flusher flusher;   /* batches socket writes (sockio.h) */
	struct gw_h2_mem h2mem;      /* its nghttp2 sessions' allocator (zero:
					none, plain malloc) */
	/* Front limits and timeouts resolved from the config (ns). */
	int64_t header_timeout_ns;
	int64_t idle_timeout_ns;
	int64_t body_timeout_ns;
	unsigned max_concurrent_streams;
	/* Request objects kept for reuse (gw_stream_cache_free(),
	 * gw_h2_server_cache_free() free them). */
	struct gw_freelist free_streams;     /* struct gw_stream */
	struct gw_freelist free_h2_streams;  /* struct gw_h2_stream */
	struct evbuffer *scratch;    /* stream.c: an empty evbuffer lent for
					the length of one call, or NULL */
};



/*
 * Creates a worker accepting on the listening sockets fds[0..nfds) (they
 * stay owned by the caller) and serving routes.  TLS contexts may be
 * NULL.  The thread starts with gw_worker_start().
 */
struct gw_worker *gw_worker_create(int id, const int *fds, size_t nfds,
    struct gw_routes *routes, SSL_CTX *server_tls, SSL_CTX *client_tls,
    const struct gw_worker_settings *set);
int gw_worker_start(struct gw_worker *w);
/* From another thread: serve `routes` from the next loop turn on (takes
 * its own reference).  In-flight requests keep theirs. */
void gw_worker_post_routes(struct gw_worker *w, struct gw_routes *routes);
/* From another thread: stop accepting, finish in-flight requests within
 * the grace period, then end the thread. */
void gw_worker_post_stop(struct gw_worker *w);
/* Joins the thread and frees the worker. */
void gw_worker_join_destroy(struct gw_worker *w);

/* The pool for host id `host` of the worker's current routes. */
struct gw_pool *gw_worker_pool(struct gw_worker *w, size_t host);

/* Removes a closed connection from the worker's list (conn.c). */
void gw_worker_conn_add(struct gw_worker *w, struct gw_conn *c);
void gw_worker_conn_remove(struct gw_worker *w, struct gw_conn *c);

#endif
