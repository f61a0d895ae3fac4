/*
 * upstream.h: connections to backends, pooled per (scheme, host, port)
 * per worker, speaking HTTP/1.1 (plain or TLS), or HTTP/2 with prior
 * knowledge for h2c:// hosts (gw_host.h2).
 *
 * The contract below is the same for both.  On an h2c pool a struct
 * gw_upstream is one HTTP/2 stream on a connection shared with other
 * streams (one per pool per worker, more only when the backend's
 * SETTINGS_MAX_CONCURRENT_STREAMS is reached, up to max_total; streams
 * never queue in the pool); its release pools nothing: it resets the
 * stream (RST_STREAM CANCEL) unless the exchange was complete, and the
 * connection stays for the other streams.  The retry covers a stream the
 * backend refused (REFUSED_STREAM, or above a GOAWAY's last stream id)
 * before any body byte left the stream's buffer.
 *
 * A pool belongs to one worker and is used only on its thread: no locks.
 * An upstream connection belongs to its pool.  While an exchange runs it
 * and its stream point at each other; gw_stream_detach_upstream() cuts
 * the link and calls gw_upstream_release(), after which the pool decides:
 * back to the idle list if the exchange ended cleanly (request fully
 * written, response fully read, keep-alive), else closed.
 *
 * Re-entrancy: an upstream calls into its stream from its bufferevent
 * callbacks; the stream may release the upstream from inside such a call.
 * The upstream then only marks itself and frees on the way out of its
 * callback (never free what a caller up the stack may still touch).
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct gw_pool;
struct gw_stream;
struct gw_upstream;
struct gw_worker;

/* Failure reasons, compared by pointer; the text goes to logs and, when
 * router.return_error_msg is set, to the client's error body. */
extern const char gw_upstream_err_dns[];        /* name did not resolve */
extern const char gw_upstream_err_connect[];    /* refused / unreachable */
extern const char gw_upstream_err_tls[];        /* handshake/verification */
extern const char gw_upstream_err_reset[];      /* closed/reset mid-way */
extern const char gw_upstream_err_timeout[];    /* connect timed out */
extern const char gw_upstream_err_bad_response[]; /* malformed reply */
extern const char gw_upstream_err_too_large[];  /* reply head too large */

/*
 * Limits, per pool (per worker).  A zero field takes its default.
 *
 * At max_total, a stream waits in the pool's queue (first come, first
 * served) for the next connection released cleanly or for the slot of
 * one that closed.  The queue holds at most max_queue streams; past that
 * gw_upstream_start() fails the stream with gw_upstream_err_connect (on
 * the next loop turn, like every failure).  The stream's own timeout
 * bounds the wait.
 */
struct gw_pool_limits {
	unsigned max_idle;       /* idle connections kept; default 64 */
	unsigned max_total;      /* open connections; default 1024 */
	int64_t idle_timeout_ns; /* idle connection lifetime; default 90s */
	int64_t connect_timeout_ns; /* TCP connect + TLS handshake, all
				       addresses tried; default 10s */
	int64_t dns_ttl_ns;      /* resolved addresses cached; default 30s */
	unsigned max_queue;      /* streams waiting at max_total; default
				    1024 */
};

/*
 * Creates the pool for host on worker w (w->base, w->dns, w->client_tls).
 * `host` must outlive the pool.
 */
struct gw_pool *gw_pool_create(struct gw_worker *w, const struct gw_host *host,
    const struct gw_pool_limits *limits);
/* Closes idle connections; busy ones are closed as their streams detach
 * (the pool stays allocated until the last one is gone). */
void gw_pool_destroy(struct gw_pool *p);

/*
 * Starts st's exchange on a connection of pool p: reuses an idle one or
 * opens one (asynchronous DNS, cached; connect; TLS handshake with
 * certificate and host-name verification for https), or queues st at
 * max_total.  Sets st->up and up->stream before returning, in every case
 * (a queued stream points at its place in the queue), so the stream can
 * always let go with gw_stream_detach_upstream().  Everything else runs
 * from the event loop: gw_stream_on_upstream_ready() once connected,
 * then a copy of st->req_head is written (the stream keeps the original
 * for one retry, until the first response byte) and st->req_body pumped.
 * A connection that was reused and fails before the first response byte
 * is retried once on a fresh connection (st->retries++) when the method
 * in the request line is idempotent and no body byte was sent; the
 * stream sees only a second gw_stream_on_upstream_ready().
 * Returns 0; failures, even immediate ones, come later through
 * gw_stream_on_upstream_error() (never from inside this call).
 */
int gw_upstream_start(struct gw_pool *p, struct gw_stream *st);

/*
 * The stream appended to st->req_body or set st->req_done: the upstream
 * moves what its output has room for (below GW_STREAM_HIGH_WATER), as
 * chunked when st->req_chunked, and ends the body when req_done and
 * req_body is empty.  When it moved bytes it calls
 * gw_stream_on_req_drained() once.  The upstream pumps by itself when
 * the connection becomes ready and whenever its output drains below
 * GW_STREAM_LOW_WATER; a no-op before the request head is written.
 */
void gw_upstream_pump(struct gw_upstream *up);

/* Stop / resume reading the response (client-side back-pressure).  What
 * was already read is handed over after resume, on the next loop turn. */
void gw_upstream_pause(struct gw_upstream *up);
void gw_upstream_resume(struct gw_upstream *up);

/*
 * The stream let go (called only by gw_stream_detach_upstream(), after it
 * cleared st->up; this clears up->stream).  Pools the connection if its
 * exchange ended cleanly or never started, else closes it; deferred to
 * the end of the upstream's own callback if called from inside one.  The
 * upstream calls the stream no more.
 */
void gw_upstream_release(struct gw_upstream *up);

/* The peer address "ip:port" of an upstream connection, for logs. */
const char *gw_upstream_addr(const struct gw_upstream *up);

/* The client-side TLS context for https:// backends: system trust store,
 * peer verification on.  Aborts on failure (no TLS library). */
struct ssl_ctx_st *gw_upstream_tls_ctx_create(void);

/* Idle and total connections of a pool (tests, metrics). */
unsigned gw_pool_idle(const struct gw_pool *p);
unsigned gw_pool_total(const struct gw_pool *p);
/* Dead upstream structs the pool keeps for reuse (tests). */
unsigned gw_pool_spare(const struct gw_pool *p);

#endif
