/*
 * upstream.c: connections to backends, pooled per (scheme, host, port)
 * per worker, and the HTTP/1.1 client side of one exchange on them.
 *
 * The shape follows h2o's socketpool.c (an idle list reused most recent
 * first, addresses resolved once per pool) and http1client.c (one
 * exchange per connection; bodies streamed both ways with back-pressure).
 *
 * Objects.  A struct gw_pool per host per worker.  A struct gw_upstream
 * per connection, and also one per stream that is waiting for a
 * connection (UP_QUEUED) or is about to be told of a failure
 * (UP_FAILING): that way a stream always has an st->up to detach from,
 * and gw_stream_detach_upstream() is the one way out of every state.
 *
 * States of a gw_upstream:
 *
 *   gw_upstream_start()
 *     +- an idle connection ------------------------------> UP_BUSY
 *     +- a free slot --> UP_NEW -(address known)-> UP_CONNECTING -> UP_BUSY
 *     |                    +--> UP_RESOLVING -(answer)--^
 *     +- at max_total --> UP_QUEUED -(a slot frees)-> UP_NEW ...
 *     |                     +-(an idle connection frees: the stream
 *     |                        moves to it and this struct dies)
 *     +- queue full ----> UP_FAILING
 *   UP_BUSY -(released after a clean end)-> UP_IDLE -(reused)-> UP_BUSY
 *   any state -(closed)-> UP_DEAD: no socket; see "Freeing" below
 *
 * Work that gw_upstream_start() asks for runs from the upstream's "kick"
 * event on the next loop turn, so that no failure (and no other call into
 * the stream) ever happens inside gw_upstream_start().
 *
 * Freeing.  Every entry point from libevent into an upstream (bufferevent
 * callbacks, timers, the kick, the DNS answer) and every call from the
 * stream that may call back (gw_upstream_pump) is bracketed by
 * up_enter()/up_leave().  The stream may release the upstream from inside
 * one of those calls; gw_upstream_release() then only cuts the link and
 * marks it, and up_leave() finishes the job once the depth is back to
 * zero.  A struct is freed only when it is UP_DEAD, no stream points at
 * it, and none of its callbacks is on the stack.  The pool is freed by
 * the last of its structs after gw_pool_destroy(), and never while its
 * DNS request is in flight.
 *
 * Calls into the stream that return -1 mean the stream is gone or going:
 * the upstream stops calling it (up->stream = NULL, the "orphaned" case),
 * stops reading, and waits for the release, which closes the connection
 * unless the exchange had already ended cleanly.
 */
#define GW_LOG_MODULE "upstream"

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/time.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "gw.h"
#include "h1_parser.h"
#include "log.h"
#include "stream.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

const char gw_upstream_err_dns[] = "backend name did not resolve";
const char gw_upstream_err_connect[] = "backend connection failed";
const char gw_upstream_err_tls[] = "backend TLS handshake failed";
const char gw_upstream_err_reset[] = "backend closed the connection";
const char gw_upstream_err_timeout[] = "backend connect timed out";
const char gw_upstream_err_bad_response[] = "malformed backend response";
const char gw_upstream_err_too_large[] = "backend response head too large";

#define UP_HEAD_MAX (64 * 1024)      /* bytes in a response head */
#define UP_MAX_HEADERS 128           /* fields in a head or trailers */
#define UP_MAX_ADDRS 16              /* addresses kept per name */

#define UP_DEFAULT_MAX_IDLE 64
#define UP_DEFAULT_MAX_TOTAL 1024
#define UP_DEFAULT_MAX_QUEUE 1024
#define UP_DEFAULT_IDLE_TIMEOUT (90 * GW_NS_PER_S)
#define UP_DEFAULT_CONNECT_TIMEOUT (10 * GW_NS_PER_S)
#define UP_DEFAULT_DNS_TTL (30 * GW_NS_PER_S)

/* Callbacks are deferred to the loop: an OpenSSL bufferevent may read
 * (and so call back) from inside bufferevent_enable(), which the stream
 * reaches through gw_upstream_resume(); deferring keeps every call into
 * the stream at the top of a loop turn. */
#define UP_BEV_OPTS (BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS)

enum up_state {
	UP_QUEUED = 0,  /* a stream waiting for a connection (max_total) */
	UP_FAILING,     /* a stream to be told fail_err on the next turn */
	UP_NEW,         /* a connection to open on the next turn */
	UP_RESOLVING,   /* in pool->resolving, waiting for the DNS answer */
	UP_CONNECTING,  /* TCP connect, then TLS handshake, in progress */
	UP_BUSY,        /* connected and given to a stream */
	UP_IDLE,        /* in pool->idle */
	UP_DEAD,        /* closed; freed when unlinked and off the stack */
};

/* Where the response of the current exchange is. */
enum up_phase {
	PH_HEAD = 0,    /* reading the head (1xx heads are skipped) */
	PH_BODY,        /* head given to the stream, body flowing */
	PH_ENDED,       /* gw_stream_on_response_end() called */
};

struct up_addr {
	struct sockaddr_storage ss;  /* port filled in */
	socklen_t len;
};

TAILQ_HEAD(up_list, gw_upstream);

struct gw_pool {
	struct gw_worker *w;
	struct event_base *base;     /* w->base */
	const struct gw_host *host;  /* the caller's; outlives the pool */
	struct gw_pool_limits lim;   /* with the defaults filled in */
	struct up_list idle;         /* most recently used first */
	struct up_list queue;        /* UP_QUEUED streams, oldest first */
	struct up_list resolving;    /* UP_RESOLVING connections */
	unsigned nidle;              /* length of idle */
	unsigned nconns;             /* connections open or being opened:
					UP_NEW..UP_IDLE */
	unsigned nqueued;            /* length of queue */
	unsigned nobjs;              /* every struct gw_upstream not yet
					freed, whatever its state */
	struct up_addr addrs[UP_MAX_ADDRS];
	size_t naddrs;
	int64_t addrs_expire_ns;     /* monotonic; INT64_MAX: IP literal */
	unsigned next_addr;          /* round robin over addrs */
	struct evdns_getaddrinfo_request *dns_req; /* while in flight */
	bool dns_pending;            /* a lookup is in flight */
	bool dns_cancelled;          /* ...and was cancelled (destroy) */
	int hold;                    /* > 0: a pool-level callback runs */
	bool in_dispatch;            /* pool_dispatch() is on the stack */
	bool destroying;             /* gw_pool_destroy() was called */
	int64_t full_logged_ns;      /* last "queue full" warning */
};

struct gw_upstream {
	struct gw_pool *pool;
	TAILQ_ENTRY(gw_upstream) entry;  /* idle, queue or resolving */
	enum up_state state;
	struct gw_stream *stream;    /* whom to call; NULL when unlinked or
					orphaned (the stream said -1) */
	bool linked;                 /* a stream's st->up points here */
	bool release_pending;        /* released inside our callback */
	int in_cb;                   /* our callbacks on the stack */
	const char *fail_err;        /* UP_FAILING: what to report */

	/* --- the connection ------------------------------------------- */
	struct bufferevent *bev;     /* from connected (TLS: handshaking) */
	int fd;                      /* during the TCP connect, else -1 */
	struct event *conn_ev;       /* EV_WRITE on fd while connecting */
	struct event *timer;         /* connect deadline, then idle expiry */
	struct event *kick;          /* deferred work, next loop turn */
	unsigned addr_first;         /* pool->addrs index of the first try */
	unsigned tries;              /* addresses tried so far */
	char addr[INET6_ADDRSTRLEN + 8]; /* "ip:port", "[ip6]:port", "" */

	/* --- the exchange (reset by up_attach) ------------------------ */
	bool reused;                 /* came from the idle list */
	bool started;                /* request head written */
	bool req_complete;           /* the whole request is in the output */
	bool write_failed;           /* a write error after response bytes */
	bool idempotent;             /* of the method in the request line */
	bool req_is_head;            /* the request line says HEAD */
	uint64_t body_moved;         /* request body bytes moved to output */
	bool got_byte;               /* a response byte arrived */
	bool paused;                 /* gw_upstream_pause() */
	bool eof;                    /* peer closed/reset: no more input */
	bool keep_alive;             /* the response allows reuse */
	bool clean;                  /* ended so the connection is reusable */
	enum up_phase phase;
	enum gw_h1_body body;        /* framing of the response body */
	uint64_t remaining;          /* GW_H1_BODY_LENGTH: bytes to come */
	size_t scan;                 /* gw_h1_head_ready() cursor */
	struct gw_h1_chunked chunked;
	struct evbuffer *data;       /* one piece of body for the stream */
	struct evbuffer *trailers;   /* raw trailer lines */
};

static void up_kick_cb(evutil_socket_t, short, void *);
static void up_timer_cb(evutil_socket_t, short, void *);
static void up_read_cb(struct bufferevent *, void *);
static void up_write_cb(struct bufferevent *, void *);
static void up_event_cb(struct bufferevent *, short, void *);
static void up_connect_next(struct gw_upstream *);
static void up_fail(struct gw_upstream *, const char *);
static void up_process(struct gw_upstream *);
static void pool_dispatch(struct gw_pool *);
static void pool_maybe_free(struct gw_pool *);

/* --- small helpers ---------------------------------------------------- */

static struct timeval
ns_to_tv(int64_t ns)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ns / GW_NS_PER_S);
	tv.tv_usec = (suseconds_t)((ns % GW_NS_PER_S) / 1000);
	return tv;
}

/* True if the request line m[0..n) starts with method `name` and a SP. */
static bool
method_is(const char *m, size_t n, const char *name)
{
	size_t len = strlen(name);

	return n > len && memcmp(m, name, len) == 0 && m[len] == ' ';
}

static void
up_format_addr(struct gw_upstream *up, const struct sockaddr *sa)
{
	char ip[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;

		evutil_inet_ntop(AF_INET6, &s6->sin6_addr, ip, sizeof(ip));
		snprintf(up->addr, sizeof(up->addr), "[%s]:%u", ip,
		    ntohs(s6->sin6_port));
	} else {
		const struct sockaddr_in *s4 = (const void *)sa;

		evutil_inet_ntop(AF_INET, &s4->sin_addr, ip, sizeof(ip));
		snprintf(up->addr, sizeof(up->addr), "%s:%u", ip,
		    ntohs(s4->sin_port));
	}
}

/* --- lifetime --------------------------------------------------------- */

static struct gw_upstream *
up_new(struct gw_pool *p, enum up_state state)
{
	struct gw_upstream *up = xcalloc(1, sizeof(*up));

	up->pool = p;
	up->state = state;
	up->fd = -1;
	up->kick = event_new(p->base, -1, 0, up_kick_cb, up);
	up->timer = evtimer_new(p->base, up_timer_cb, up);
	up->data = evbuffer_new();
	up->trailers = evbuffer_new();
	if (up->kick == NULL || up->timer == NULL || up->data == NULL ||
	    up->trailers == NULL) {
		log_crit("out of memory");
		abort();
	}
	p->nobjs++;
	if (state == UP_NEW)
		p->nconns++;
	return up;
}

static void
up_kick(struct gw_upstream *up)
{
	event_active(up->kick, EV_TIMEOUT, 1);
}

static void
up_enter(struct gw_upstream *up)
{
	up->in_cb++;
}

/* Frees up if nothing can reach it any more. */
static void
up_maybe_free(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;

	if (up->in_cb > 0 || up->linked || up->state != UP_DEAD)
		return;
	event_free(up->kick);
	event_free(up->timer);
	evbuffer_free(up->data);
	evbuffer_free(up->trailers);
	free(up);
	p->nobjs--;
	pool_maybe_free(p);
}

/*
 * Closes whatever up holds (socket, list membership, timers) and makes it
 * UP_DEAD; the stream link is left as it is.  Safe in any state and twice.
 * Reached from: an error (up_fail), a retry (the old connection), the
 * release of an unclean exchange, an idle connection expiring, closed by
 * the peer or found dead on reuse, an idle list over max_idle, and
 * gw_pool_destroy().  A freed slot goes to a queued stream.
 */
static void
up_close_conn(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;

	switch (up->state) {
	case UP_DEAD:
		return;
	case UP_QUEUED:
		TAILQ_REMOVE(&p->queue, up, entry);
		p->nqueued--;
		break;
	case UP_FAILING:
		break;
	case UP_RESOLVING:
		TAILQ_REMOVE(&p->resolving, up, entry);
		p->nconns--;
		break;
	case UP_IDLE:
		TAILQ_REMOVE(&p->idle, up, entry);
		p->nidle--;
		p->nconns--;
		break;
	case UP_NEW:
	case UP_CONNECTING:
	case UP_BUSY:
		p->nconns--;
		break;
	}
	up->state = UP_DEAD;
	if (up->conn_ev != NULL) {
		event_free(up->conn_ev);
		up->conn_ev = NULL;
	}
	if (up->fd != -1) {
		close(up->fd);
		up->fd = -1;
	}
	if (up->bev != NULL) {
		bufferevent_free(up->bev);
		up->bev = NULL;
	}
	evtimer_del(up->timer);
	event_del(up->kick);
	pool_dispatch(p);
}

/* Closes an upstream no stream points at, freeing it if possible. */
static void
up_close(struct gw_upstream *up)
{
	up_close_conn(up);
	up_maybe_free(up);
}

/* Makes st and up point at each other and resets the exchange. */
static void
up_attach(struct gw_upstream *up, struct gw_stream *st)
{
	char m[8];
	size_t n = 0;
	ev_ssize_t got;

	up->stream = st;
	up->linked = true;
	st->up = up;

	up->started = false;
	up->req_complete = false;
	up->write_failed = false;
	up->body_moved = 0;
	up->got_byte = false;
	up->paused = false;
	up->eof = false;
	up->keep_alive = false;
	up->clean = false;
	up->phase = PH_HEAD;
	up->body = GW_H1_BODY_NONE;
	up->remaining = 0;
	up->scan = 0;
	gw_h1_chunked_init(&up->chunked);
	evbuffer_drain(up->data, evbuffer_get_length(up->data));
	evbuffer_drain(up->trailers, evbuffer_get_length(up->trailers));

	/* The method that goes on the wire is the one in the request line
	 * (the route may set its own), so framing and retries follow it. */
	if (st->req_head != NULL &&
	    (got = evbuffer_copyout(st->req_head, m, sizeof(m))) > 0)
		n = (size_t)got;
	if (n > 0) {
		up->req_is_head = method_is(m, n, "HEAD");
		up->idempotent = method_is(m, n, "GET") ||
		    method_is(m, n, "HEAD") || method_is(m, n, "OPTIONS") ||
		    method_is(m, n, "PUT") || method_is(m, n, "DELETE") ||
		    method_is(m, n, "TRACE");
	} else {
		up->req_is_head = st->is_head;
		up->idempotent = false;
	}
}

/* Cuts the link from our side: st->up and up->stream. */
static void
up_detach(struct gw_upstream *up)
{
	struct gw_stream *st = up->stream;

	if (st != NULL && st->up == up)
		st->up = NULL;
	up->stream = NULL;
	up->linked = false;
}

/* The stream said -1: call it no more, read no more, wait for release. */
static void
up_orphan(struct gw_upstream *up)
{
	up->stream = NULL;
	if (up->bev != NULL)
		bufferevent_disable(up->bev, EV_READ);
}

/*
 * Finishes a release: pools a connection whose exchange ended cleanly, or
 * never started (the stream left between getting the connection and the
 * next loop turn: nothing was written), and closes the rest.
 */
static void
up_release_now(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;
	bool reusable;

	reusable = up->state == UP_BUSY && (up->phase == PH_ENDED ?
	    up->clean : !up->started && !up->eof &&
	    evbuffer_get_length(bufferevent_get_input(up->bev)) == 0);
	if (!reusable || p->destroying || p->nidle >= p->lim.max_idle) {
		up_close_conn(up);
		return;
	}
	up->state = UP_IDLE;
	up->paused = false;
	/* Reading stays on while idle: a close by the server shows up as
	 * EOF and the connection leaves the pool at once. */
	bufferevent_enable(up->bev, EV_READ);
	TAILQ_INSERT_HEAD(&p->idle, up, entry);
	p->nidle++;
	{
		struct timeval tv = ns_to_tv(p->lim.idle_timeout_ns);

		evtimer_add(up->timer, &tv);
	}
	pool_dispatch(p);
}

static void
up_leave(struct gw_upstream *up)
{
	if (--up->in_cb > 0)
		return;
	if (up->release_pending) {
		up->release_pending = false;
		up_release_now(up);
	}
	up_maybe_free(up);
}

/* --- the pool --------------------------------------------------------- */

/*
 * Whether an idle connection may carry a request.  Anything in the input
 * buffer, or on a plaintext socket, is a reply to nothing (often a 408
 * before a close): unusable.  A TLS socket may hold records that carry no
 * data (session tickets), so bytes there are accepted; a close_notify
 * among them fails the exchange before any response byte, which the
 * retry covers.
 */
static bool
up_usable(struct gw_upstream *up)
{
	char c;
	ssize_t n;
	int fd;

	if (evbuffer_get_length(bufferevent_get_input(up->bev)) > 0)
		return false;
	if ((fd = bufferevent_getfd(up->bev)) < 0)
		return false;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return false;
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR;
	return up->pool->host->tls;
}

/* Takes the most recently used idle connection that is still usable. */
static struct gw_upstream *
pool_take_idle(struct gw_pool *p)
{
	struct gw_upstream *up;

	while ((up = TAILQ_FIRST(&p->idle)) != NULL) {
		if (!up_usable(up)) {
			log_debug("%s: idle connection closed by the peer",
			    up->addr);
			up_close(up);
			continue;
		}
		TAILQ_REMOVE(&p->idle, up, entry);
		p->nidle--;
		evtimer_del(up->timer);
		up->state = UP_BUSY;
		return up;
	}
	return NULL;
}

/*
 * Serves queued streams: an idle connection goes to the oldest one (its
 * waiting struct dies), else a free slot becomes a new connection for it.
 * Only attaches and kicks, so it is safe from any context; the recursion
 * guard covers the closes pool_take_idle() makes.
 */
static void
pool_dispatch(struct gw_pool *p)
{
	struct gw_upstream *wt, *c;
	struct gw_stream *st;

	if (p->in_dispatch)
		return;
	p->in_dispatch = true;
	while ((wt = TAILQ_FIRST(&p->queue)) != NULL) {
		if ((c = pool_take_idle(p)) != NULL) {
			st = wt->stream;
			TAILQ_REMOVE(&p->queue, wt, entry);
			p->nqueued--;
			wt->state = UP_DEAD;
			wt->stream = NULL;
			wt->linked = false;
			c->reused = true;
			up_attach(c, st);
			up_kick(c);
			up_maybe_free(wt);
			continue;
		}
		if (p->nconns >= p->lim.max_total)
			break;
		TAILQ_REMOVE(&p->queue, wt, entry);
		p->nqueued--;
		wt->state = UP_NEW;
		p->nconns++;
		up_kick(wt);
	}
	p->in_dispatch = false;
}

static void
pool_maybe_free(struct gw_pool *p)
{
	if (!p->destroying || p->hold > 0 || p->nobjs > 0)
		return;
	if (p->dns_pending) {
		/* The answer comes back (EVUTIL_EAI_CANCEL) on a later
		 * turn and frees the pool then. */
		if (p->dns_req != NULL && !p->dns_cancelled) {
			p->dns_cancelled = true;
			p->hold++;
			evdns_getaddrinfo_cancel(p->dns_req);
			p->hold--;
		}
		if (p->dns_pending)
			return;
	}
	free(p);
}

/* Keeps the addresses of res (with our port); returns how many. */
static size_t
pool_store_addrs(struct gw_pool *p, const struct evutil_addrinfo *res)
{
	const struct evutil_addrinfo *ai;
	size_t n = 0;

	for (ai = res; ai != NULL && n < UP_MAX_ADDRS; ai = ai->ai_next) {
		struct up_addr *a = &p->addrs[n];

		if (ai->ai_family == AF_INET &&
		    ai->ai_addrlen == sizeof(struct sockaddr_in)) {
			struct sockaddr_in *s4 = (void *)&a->ss;

			memcpy(s4, ai->ai_addr, sizeof(*s4));
			s4->sin_port = htons(p->host->port);
		} else if (ai->ai_family == AF_INET6 &&
		    ai->ai_addrlen == sizeof(struct sockaddr_in6)) {
			struct sockaddr_in6 *s6 = (void *)&a->ss;

			memcpy(s6, ai->ai_addr, sizeof(*s6));
			s6->sin6_port = htons(p->host->port);
		} else
			continue;
		a->len = (socklen_t)ai->ai_addrlen;
		n++;
	}
	return n;
}

/*
 * The pool's lookup answered (or was cancelled).  Every connection that
 * waited for it connects or fails.  A failed lookup keeps serving the
 * addresses of the last good one, if any: a resolver hiccup should not
 * take a healthy backend down.
 */
static void
pool_dns_cb(int result, struct evutil_addrinfo *res, void *arg)
{
	struct gw_pool *p = arg;
	struct gw_upstream *up;
	bool ok = false;
	size_t n;

	p->dns_req = NULL;
	p->dns_pending = false;
	p->hold++;
	if (result == 0 && (n = pool_store_addrs(p, res)) > 0) {
		p->naddrs = n;
		p->addrs_expire_ns = gw_now_ns() + p->lim.dns_ttl_ns;
		ok = true;
	} else if (result != EVUTIL_EAI_CANCEL) {
		log_info("%s: %s", p->host->name, result != 0 ?
		    evutil_gai_strerror(result) : "no usable address");
		ok = p->naddrs > 0;
	}
	if (res != NULL)
		evutil_freeaddrinfo(res);

	while ((up = TAILQ_FIRST(&p->resolving)) != NULL) {
		TAILQ_REMOVE(&p->resolving, up, entry);
		up->state = UP_NEW;
		up_enter(up);
		if (ok)
			up_connect_next(up);
		else
			up_fail(up, gw_upstream_err_dns);
		up_leave(up);
	}
	p->hold--;
	pool_maybe_free(p);
}

static void
pool_resolve(struct gw_pool *p)
{
	struct evutil_addrinfo hints;
	struct evdns_getaddrinfo_request *req;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_protocol = IPPROTO_TCP;
	hints.ai_flags = EVUTIL_AI_ADDRCONFIG;
	p->dns_pending = true;
	p->dns_cancelled = false;
	p->hold++;
	/* May answer at once (hosts file, errors): the callback has then
	 * run and cleared dns_pending, and NULL comes back. */
	req = evdns_getaddrinfo(p->w->dns, p->host->name, NULL, &hints,
	    pool_dns_cb, p);
	if (p->dns_pending)
		p->dns_req = req;
	p->hold--;
}

struct gw_pool *
gw_pool_create(struct gw_worker *w, const struct gw_host *host,
    const struct gw_pool_limits *limits)
{
	struct gw_pool *p = xcalloc(1, sizeof(*p));
	struct up_addr *a = &p->addrs[0];
	struct sockaddr_in *s4 = (void *)&a->ss;
	struct sockaddr_in6 *s6 = (void *)&a->ss;

	p->w = w;
	p->base = w->base;
	p->host = host;
	if (limits != NULL)
		p->lim = *limits;
	if (p->lim.max_idle == 0)
		p->lim.max_idle = UP_DEFAULT_MAX_IDLE;
	if (p->lim.max_total == 0)
		p->lim.max_total = UP_DEFAULT_MAX_TOTAL;
	if (p->lim.max_queue == 0)
		p->lim.max_queue = UP_DEFAULT_MAX_QUEUE;
	if (p->lim.idle_timeout_ns <= 0)
		p->lim.idle_timeout_ns = UP_DEFAULT_IDLE_TIMEOUT;
	if (p->lim.connect_timeout_ns <= 0)
		p->lim.connect_timeout_ns = UP_DEFAULT_CONNECT_TIMEOUT;
	if (p->lim.dns_ttl_ns <= 0)
		p->lim.dns_ttl_ns = UP_DEFAULT_DNS_TTL;
	TAILQ_INIT(&p->idle);
	TAILQ_INIT(&p->queue);
	TAILQ_INIT(&p->resolving);

	/* An address literal needs no lookup, ever. */
	if (evutil_inet_pton(AF_INET, host->name, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons(host->port);
		a->len = sizeof(*s4);
		p->naddrs = 1;
		p->addrs_expire_ns = INT64_MAX;
	} else if (evutil_inet_pton(AF_INET6, host->name, &s6->sin6_addr) ==
	    1) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(host->port);
		a->len = sizeof(*s6);
		p->naddrs = 1;
		p->addrs_expire_ns = INT64_MAX;
	}
	return p;
}

void
gw_pool_destroy(struct gw_pool *p)
{
	struct gw_upstream *up;

	if (p == NULL)
		return;
	p->destroying = true;
	p->hold++;
	while ((up = TAILQ_FIRST(&p->idle)) != NULL)
		up_close(up);
	p->hold--;
	pool_maybe_free(p);
}

unsigned
gw_pool_idle(const struct gw_pool *p)
{
	return p->nidle;
}

unsigned
gw_pool_total(const struct gw_pool *p)
{
	return p->nconns;
}

/* --- connecting ------------------------------------------------------- */

/* Starts a fresh connection: from the cached addresses, or after the
 * pool's lookup (one in flight per pool, shared by all who wait). */
static void
up_connect_begin(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;

	if (p->naddrs > 0 && gw_now_ns() < p->addrs_expire_ns) {
		up_connect_next(up);
		return;
	}
	if (p->w->dns == NULL) {
		up_fail(up, gw_upstream_err_dns);
		return;
	}
	up->state = UP_RESOLVING;
	TAILQ_INSERT_TAIL(&p->resolving, up, entry);
	if (!p->dns_pending)
		pool_resolve(p);
}

static void
up_log_tls_error(struct gw_upstream *up)
{
	SSL *ssl = bufferevent_openssl_get_ssl(up->bev);
	unsigned long e;
	char buf[256];
	long vr;

	while ((e = bufferevent_get_openssl_error(up->bev)) != 0) {
		/* libevent queues errno values here too: logged elsewhere. */
		if (ERR_GET_LIB(e) == 0)
			continue;
		ERR_error_string_n(e, buf, sizeof(buf));
		log_info("%s (%s): TLS: %s", up->pool->host->name, up->addr,
		    buf);
	}
	if (ssl != NULL && (vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		log_info("%s (%s): certificate: %s", up->pool->host->name,
		    up->addr, X509_verify_cert_error_string(vr));
}

/* The connection is ready for requests (TCP up, TLS done). */
static void
up_ready(struct gw_upstream *up)
{
	evtimer_del(up->timer);
	bufferevent_setcb(up->bev, up_read_cb, up_write_cb, up_event_cb, up);
	/* The write callback fires once the output drains to the low
	 * watermark: time to move more request body. */
	bufferevent_setwatermark(up->bev, EV_WRITE, GW_STREAM_LOW_WATER, 0);
	bufferevent_enable(up->bev, EV_WRITE | (up->paused ? 0 : EV_READ));
	up->state = UP_BUSY;
	/* A stream that let go while we connected closed us: we have one. */
	up_kick(up);
}

/* TCP is connected on up->fd: plaintext is ready, TLS starts its
 * handshake (SNI, host-name verification against w->client_tls). */
static void
up_tcp_connected(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;
	const char *name = p->host->name;
	struct in6_addr tmp;
	bool literal;
	SSL *ssl;
	int fd = up->fd;

	up->fd = -1;
	up->state = UP_CONNECTING;
	if (!p->host->tls) {
		up->bev = bufferevent_socket_new(p->base, fd, UP_BEV_OPTS);
		if (up->bev == NULL) {
			close(fd);
			up_fail(up, gw_upstream_err_connect);
			return;
		}
		up_ready(up);
		return;
	}
	if (p->w->client_tls == NULL || (ssl = SSL_new(p->w->client_tls)) ==
	    NULL) {
		log_warn("%s: no TLS context for https", name);
		close(fd);
		up_fail(up, gw_upstream_err_tls);
		return;
	}
	literal = evutil_inet_pton(AF_INET, name, &tmp) == 1 ||
	    evutil_inet_pton(AF_INET6, name, &tmp) == 1;
	/* RFC 6066 3: SNI carries host names only, never addresses. */
	if (!literal)
		SSL_set_tlsext_host_name(ssl, name);
	if (literal)
		X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
	else {
		SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		SSL_set1_host(ssl, name);
	}
	SSL_set_alpn_protos(ssl, (const unsigned char *)"\x08http/1.1", 9);
	up->bev = bufferevent_openssl_socket_new(p->base, fd, ssl,
	    BUFFEREVENT_SSL_CONNECTING, UP_BEV_OPTS);
	if (up->bev == NULL) {
		SSL_free(ssl);
		close(fd);
		up_fail(up, gw_upstream_err_tls);
		return;
	}
	/* Many servers close without close_notify; that is an EOF, not an
	 * error (a body framed by close cannot tell truncation either way,
	 * as with plaintext). */
	bufferevent_openssl_set_allow_dirty_shutdown(up->bev, 1);
	bufferevent_setcb(up->bev, up_read_cb, up_write_cb, up_event_cb, up);
	bufferevent_enable(up->bev, EV_READ | EV_WRITE);
}

static void
up_connect_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_upstream *up = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	(void)what;
	up_enter(up);
	if (up->state != UP_CONNECTING || up->fd != fd)
		goto out;
	event_free(up->conn_ev);
	up->conn_ev = NULL;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		log_debug("connect %s: %s", up->addr, strerror(err));
		close(up->fd);
		up->fd = -1;
		up->state = UP_NEW;
		up_connect_next(up);
		goto out;
	}
	up_tcp_connected(up);
out:
	up_leave(up);
}

/*
 * Tries the pool's addresses in turn (starting from a rotating index),
 * moving on after a refusal or an unreachable address.  The connect
 * deadline, armed at the first try, covers every try and the handshake.
 */
static void
up_connect_next(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;
	const struct up_addr *a;
	int fd, one = 1;

	if (up->tries == 0) {
		struct timeval tv = ns_to_tv(p->lim.connect_timeout_ns);

		up->addr_first = p->next_addr++;
		evtimer_add(up->timer, &tv);
	}
	for (;;) {
		if (up->tries >= p->naddrs || up->tries >= UP_MAX_ADDRS) {
			up_fail(up, gw_upstream_err_connect);
			return;
		}
		a = &p->addrs[(up->addr_first + up->tries) % p->naddrs];
		up->tries++;
		up_format_addr(up, (const struct sockaddr *)&a->ss);
		fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, IPPROTO_TCP);
		if (fd < 0) {
			log_debug("socket for %s: %s", up->addr,
			    strerror(errno));
			continue;
		}
		/* Requests are written whole: no reason to wait for acks. */
		(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		up->fd = fd;
		up->state = UP_CONNECTING;
		if (connect(fd, (const struct sockaddr *)&a->ss, a->len) == 0) {
			up_tcp_connected(up);
			return;
		}
		if (errno == EINPROGRESS) {
			up->conn_ev = event_new(p->base, fd, EV_WRITE,
			    up_connect_cb, up);
			if (up->conn_ev == NULL) {
				log_crit("out of memory");
				abort();
			}
			event_add(up->conn_ev, NULL);
			return;
		}
		log_debug("connect %s: %s", up->addr, strerror(errno));
		close(fd);
		up->fd = -1;
		up->state = UP_NEW;
	}
}

/* --- failures and the retry ------------------------------------------- */

/*
 * A request may go again, once, on a fresh connection when the failure
 * says nothing about the request: the connection was an idle one the
 * server may have closed just as we wrote (RFC 9112 9.3.1), no response
 * byte came, no body byte left the stream's buffer, and the method is
 * idempotent or nothing was written at all.
 */
static bool
up_may_retry(const struct gw_upstream *up, const char *err)
{
	const struct gw_stream *st = up->stream;

	return err == gw_upstream_err_reset && st != NULL && up->reused &&
	    !up->got_byte && up->body_moved == 0 && st->retries == 0 &&
	    st->req_head != NULL && (up->idempotent || !up->started);
}

static void
up_retry(struct gw_upstream *up)
{
	struct gw_stream *st = up->stream;
	struct gw_upstream *fresh = up_new(up->pool, UP_NEW);

	log_debug("%s: reused connection failed, retrying %s %s", up->addr,
	    st->method != NULL ? st->method : "-",
	    st->path != NULL ? st->path : "-");
	up->stream = NULL;
	up->linked = false;
	up_attach(fresh, st);
	fresh->paused = up->paused;
	st->retries++;
	up_close_conn(up);
	up_kick(fresh);
}

/*
 * The exchange failed with err.  Retries when allowed; otherwise detaches,
 * closes, then tells the stream (which may do anything, up is only freed
 * on the way out of our callback).  Called only between up_enter() and
 * up_leave().
 */
static void
up_fail(struct gw_upstream *up, const char *err)
{
	struct gw_stream *st = up->stream;

	if (up_may_retry(up, err)) {
		up_retry(up);
		return;
	}
	if (st != NULL)
		up_detach(up);
	up_close_conn(up);
	if (st != NULL) {
		if (up->addr[0] != '\0')
			gw_copy_str(st->upstream_addr,
			    sizeof(st->upstream_addr), up->addr);
		gw_stream_on_upstream_error(st, err);
	}
}

/* --- writing the request ---------------------------------------------- */

/*
 * Moves request body from st->req_body to the output while the output
 * holds less than GW_STREAM_HIGH_WATER (evbuffer chains move, no copy),
 * framing each move as one chunk when st->req_chunked, and ends the body
 * when the stream has all of it.
 */
static void
up_pump_body(struct gw_upstream *up)
{
	struct gw_stream *st = up->stream;
	struct evbuffer *out, *body;
	size_t n, olen, moved = 0;

	if (st == NULL || up->state != UP_BUSY || !up->started ||
	    up->req_complete || up->write_failed)
		return;
	out = bufferevent_get_output(up->bev);
	body = st->req_body;
	while (body != NULL && (n = evbuffer_get_length(body)) > 0 &&
	    (olen = evbuffer_get_length(out)) < GW_STREAM_HIGH_WATER) {
		n = GW_MIN(n, GW_STREAM_HIGH_WATER - olen);
		if (st->req_chunked)
			evbuffer_add_printf(out, "%zx\r\n", n);
		evbuffer_remove_buffer(body, out, n);
		if (st->req_chunked)
			evbuffer_add(out, "\r\n", 2);
		moved += n;
	}
	up->body_moved += moved;
	if (st->req_done && (body == NULL || evbuffer_get_length(body) == 0)) {
		if (st->req_chunked)
			evbuffer_add(out, "0\r\n\r\n", 5);
		up->req_complete = true;
	}
	if (moved > 0)
		gw_stream_on_req_drained(st);
}

/* Begins the exchange on a ready connection: a copy of the head (the
 * original stays with the stream for a retry), then the body. */
static void
up_exchange_start(struct gw_upstream *up)
{
	struct gw_stream *st = up->stream;
	struct evbuffer *out;
	size_t len;

	if (up->reused && (up->eof ||
	    evbuffer_get_length(bufferevent_get_input(up->bev)) > 0)) {
		/* Closed or spoke while we took it: nothing sent, so any
		 * request may go again on a fresh connection. */
		up_fail(up, gw_upstream_err_reset);
		return;
	}
	gw_stream_on_upstream_ready(st);
	if (up->stream != st)
		return;
	if (st->req_head == NULL) {
		log_error("exchange without a request head");
		up_fail(up, gw_upstream_err_reset);
		return;
	}
	up->started = true;
	out = bufferevent_get_output(up->bev);
	len = evbuffer_get_length(st->req_head);
	evbuffer_add(out, evbuffer_pullup(st->req_head, -1), len);
	up_pump_body(up);
	/* A fresh connection the server closed (or spoke on) before we
	 * wrote: no read event will come, so look now. */
	if (up->eof || evbuffer_get_length(bufferevent_get_input(up->bev)) > 0)
		up_process(up);
}

/* --- reading the response --------------------------------------------- */

/* Splits raw trailer lines ("name: value\r\n", validated by the decoder)
 * into out[0..max); returns the count.  Pointers go into up->trailers. */
static size_t
up_parse_trailers(struct gw_upstream *up, struct gw_hdr *out, size_t max)
{
	size_t len = evbuffer_get_length(up->trailers), n = 0;
	const char *p, *end, *eol, *colon, *v, *ve;

	if (len == 0)
		return 0;
	p = (const char *)evbuffer_pullup(up->trailers, -1);
	end = p + len;
	while (p < end && n < max) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
		if ((colon = memchr(p, ':', (size_t)(ve - p))) != NULL) {
			v = colon + 1;
			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			out[n].name = p;
			out[n].name_len = (size_t)(colon - p);
			out[n].value = v;
			out[n].value_len = (size_t)(ve - v);
			n++;
		}
		p = eol + 1;
	}
	return n;
}

/* The response is complete: decides reuse, then tells the stream. */
static void
up_end(struct gw_upstream *up)
{
	struct gw_stream *st = up->stream;
	struct gw_hdr tr[UP_MAX_HEADERS];
	size_t ntr;

	up->phase = PH_ENDED;
	/* Reusable only with the whole request written and nothing more
	 * from the server: a byte past the response, or a request the
	 * server answered before reading it all, leaves the framing of the
	 * connection unknown. */
	up->clean = up->keep_alive && up->req_complete && !up->write_failed &&
	    !up->eof &&
	    evbuffer_get_length(bufferevent_get_input(up->bev)) == 0;
	ntr = up_parse_trailers(up, tr, GW_ARRAY_SIZE(tr));
	if (gw_stream_on_response_end(st, ntr > 0 ? tr : NULL, ntr) < 0)
		up_orphan(up);
	evbuffer_drain(up->trailers, evbuffer_get_length(up->trailers));
}

/* Hands up->data to the stream.  Returns 0, or -1 if the stream is gone
 * or let go (stop). */
static int
up_deliver(struct gw_upstream *up)
{
	struct gw_stream *st = up->stream;
	int rc;

	rc = gw_stream_on_response_data(st, up->data);
	/* The callee moves the data out; whatever it left is dropped so
	 * that it never reaches the next piece. */
	evbuffer_drain(up->data, evbuffer_get_length(up->data));
	if (rc < 0) {
		up_orphan(up);
		return -1;
	}
	return up->stream == st ? 0 : -1;
}

/*
 * Reads the response head (skipping 1xx).  Returns 1 on progress, 0 when
 * more input is needed, -1 when processing must stop (failed, ended, or
 * the stream is gone).
 */
static int
up_read_head(struct gw_upstream *up, struct evbuffer *in)
{
	struct gw_stream *st = up->stream;
	struct gw_h1_header hh[UP_MAX_HEADERS];
	struct gw_hdr hdrs[UP_MAX_HEADERS];
	struct gw_h1_response resp;
	size_t len = evbuffer_get_length(in), n, i;
	const char *buf;
	int64_t cl;
	int rc, cb;

	if (len == 0)
		return 0;
	up->got_byte = true;
	n = GW_MIN(len, (size_t)UP_HEAD_MAX);
	buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	if (!gw_h1_head_ready(buf, n, &up->scan)) {
		if (n < UP_HEAD_MAX)
			return 0;
		up_fail(up, gw_upstream_err_too_large);
		return -1;
	}
	rc = gw_h1_parse_response(buf, n, &resp, hh, GW_ARRAY_SIZE(hh),
	    up->req_is_head);
	if (rc == GW_ERR_AGAIN) {
		if (n < UP_HEAD_MAX)
			return 0;
		up_fail(up, gw_upstream_err_too_large);
		return -1;
	}
	if (rc == GW_H1_ERR_TOO_LARGE) {
		up_fail(up, gw_upstream_err_too_large);
		return -1;
	}
	if (rc <= 0) {
		up_fail(up, gw_upstream_err_bad_response);
		return -1;
	}
	if (resp.status < 200) {
		/* We never ask to switch protocols (Upgrade is hop-by-hop
		 * and not forwarded), so a 101 is nonsense; other 1xx are
		 * interim and go no further (RFC 9110 15.2). */
		if (resp.status == 101) {
			up_fail(up, gw_upstream_err_bad_response);
			return -1;
		}
		evbuffer_drain(in, (size_t)rc);
		up->scan = 0;
		return 1;
	}

	up->body = resp.framing.body;
	switch (up->body) {
	case GW_H1_BODY_NONE:
		cl = 0;
		break;
	case GW_H1_BODY_LENGTH:
		up->remaining = resp.framing.content_length;
		cl = resp.framing.content_length > (uint64_t)INT64_MAX ? -1 :
		    (int64_t)resp.framing.content_length;
		break;
	default:
		cl = -1;
		break;
	}
	up->keep_alive = resp.framing.keep_alive &&
	    up->body != GW_H1_BODY_UNTIL_CLOSE;
	for (i = 0; i < resp.nheaders; i++) {
		hdrs[i].name = hh[i].name;
		hdrs[i].name_len = hh[i].name_len;
		hdrs[i].value = hh[i].value;
		hdrs[i].value_len = hh[i].value_len;
	}
	up->phase = PH_BODY;
	cb = gw_stream_on_response_head(st, resp.status, hdrs, resp.nheaders,
	    cl);
	/* The fields pointed into the input until now. */
	evbuffer_drain(in, (size_t)rc);
	if (cb < 0) {
		up_orphan(up);
		return -1;
	}
	if (up->stream != st)
		return -1;
	if (up->body == GW_H1_BODY_NONE) {
		up_end(up);
		return -1;
	}
	return 1;
}

/* Moves body from the input to the stream; returns as up_read_head(). */
static int
up_read_body(struct gw_upstream *up, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), n;
	int rc;

	switch (up->body) {
	case GW_H1_BODY_LENGTH:
		if (len == 0)
			return 0;
		n = (size_t)GW_MIN((uint64_t)len, up->remaining);
		evbuffer_remove_buffer(in, up->data, n);
		up->remaining -= n;
		if (up_deliver(up) < 0)
			return -1;
		if (up->remaining == 0) {
			up_end(up);
			return -1;
		}
		return 1;
	case GW_H1_BODY_CHUNKED:
		rc = gw_h1_chunked_decode(&up->chunked, in, up->data,
		    up->trailers, 0);
		if (rc < 0) {
			up_fail(up, gw_upstream_err_bad_response);
			return -1;
		}
		if (evbuffer_get_length(up->data) > 0 && up_deliver(up) < 0)
			return -1;
		if (rc == 1) {
			up_end(up);
			return -1;
		}
		return 0;
	case GW_H1_BODY_UNTIL_CLOSE:
		if (len == 0)
			return 0;
		evbuffer_add_buffer(up->data, in);
		return up_deliver(up) < 0 ? -1 : 1;
	case GW_H1_BODY_NONE:
		break;
	}
	up_end(up);
	return -1;
}

/*
 * Drives the response from what is in the input: head, body, end.  Stops
 * while paused.  Once the input is used up after the peer closed, a body
 * framed by the close ends; anything else failed mid-way.
 */
static void
up_process(struct gw_upstream *up)
{
	struct evbuffer *in;
	int rc;

	for (;;) {
		if (up->state != UP_BUSY || up->stream == NULL || !up->started)
			return;
		in = bufferevent_get_input(up->bev);
		if (up->phase == PH_ENDED) {
			/* The stream holds on after the end: bytes or a
			 * close now make the connection unusable. */
			if (evbuffer_get_length(in) > 0 || up->eof)
				up->clean = false;
			return;
		}
		if (up->paused)
			return;
		if (up->phase == PH_HEAD)
			rc = up_read_head(up, in);
		else
			rc = up_read_body(up, in);
		if (rc < 0)
			return;
		if (rc == 0)
			break;
	}
	if (!up->eof)
		return;
	if (up->phase == PH_BODY && up->body == GW_H1_BODY_UNTIL_CLOSE) {
		up->keep_alive = false;
		up_end(up);
		return;
	}
	up_fail(up, gw_upstream_err_reset);
}

/* --- libevent callbacks ----------------------------------------------- */

static void
up_kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_upstream *up = arg;

	(void)fd;
	(void)what;
	up_enter(up);
	switch (up->state) {
	case UP_FAILING:
		up_fail(up, up->fail_err);
		break;
	case UP_NEW:
		up_connect_begin(up);
		break;
	case UP_BUSY:
		if (up->stream == NULL)
			break;
		if (!up->started)
			up_exchange_start(up);
		else
			up_process(up);
		break;
	default:
		break;
	}
	up_leave(up);
}

static void
up_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_upstream *up = arg;

	(void)fd;
	(void)what;
	up_enter(up);
	switch (up->state) {
	case UP_CONNECTING:
	case UP_RESOLVING:
	case UP_NEW:
		log_debug("%s: connect timed out", up->addr);
		up_fail(up, gw_upstream_err_timeout);
		break;
	case UP_IDLE:
		log_debug("%s: idle connection expired", up->addr);
		up_close_conn(up);
		break;
	default:
		break;
	}
	up_leave(up);
}

static void
up_read_cb(struct bufferevent *bev, void *arg)
{
	struct gw_upstream *up = arg;

	up_enter(up);
	if (up->state == UP_IDLE) {
		/* A reply to nothing (often a 408 before a close): the
		 * connection's framing is lost. */
		if (evbuffer_get_length(bufferevent_get_input(bev)) > 0) {
			log_debug("%s: unexpected bytes on an idle connection",
			    up->addr);
			up_close_conn(up);
		}
	} else if (up->state == UP_BUSY)
		up_process(up);
	up_leave(up);
}

static void
up_write_cb(struct bufferevent *bev, void *arg)
{
	struct gw_upstream *up = arg;

	(void)bev;
	up_enter(up);
	if (up->state == UP_BUSY)
		up_pump_body(up);
	up_leave(up);
}

static void
up_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw_upstream *up = arg;

	(void)bev;
	up_enter(up);
	switch (up->state) {
	case UP_CONNECTING:
		/* Only TLS gets here: the handshake ended. */
		if (what & BEV_EVENT_CONNECTED) {
			up_ready(up);
			break;
		}
		up_log_tls_error(up);
		up_fail(up, gw_upstream_err_tls);
		break;
	case UP_IDLE:
		log_debug("%s: idle connection closed by the peer", up->addr);
		up_close_conn(up);
		break;
	case UP_BUSY:
		if (what & BEV_EVENT_CONNECTED)
			break;
		if ((what & (BEV_EVENT_ERROR | BEV_EVENT_WRITING)) ==
		    (BEV_EVENT_ERROR | BEV_EVENT_WRITING) && up->got_byte) {
			/* The server stopped reading but answers: read the
			 * answer; the connection will not be reused. */
			up->write_failed = true;
			break;
		}
		if (up->pool->host->tls && (what & BEV_EVENT_ERROR))
			up_log_tls_error(up);
		up->eof = true;
		/* Not started yet: the pending kick sees eof. */
		up_process(up);
		break;
	default:
		break;
	}
	up_leave(up);
}

/* --- the API ---------------------------------------------------------- */

int
gw_upstream_start(struct gw_pool *p, struct gw_stream *st)
{
	struct gw_upstream *up;

	if (TAILQ_EMPTY(&p->queue)) {
		if ((up = pool_take_idle(p)) != NULL) {
			up->reused = true;
			up_attach(up, st);
			up_kick(up);
			return 0;
		}
		if (p->nconns < p->lim.max_total) {
			up = up_new(p, UP_NEW);
			up_attach(up, st);
			up_kick(up);
			return 0;
		}
	}
	if (p->nqueued >= p->lim.max_queue) {
		int64_t now = gw_now_ns();

		/* Once a second at most: an overload should not also flood
		 * the log (each stream logs its own failure). */
		if (now - p->full_logged_ns >= GW_NS_PER_S) {
			p->full_logged_ns = now;
			log_warn("%s: %u connections busy and %u requests "
			    "waiting: refusing more", p->host->name, p->nconns,
			    p->nqueued);
		}
		up = up_new(p, UP_FAILING);
		up->fail_err = gw_upstream_err_connect;
		up_attach(up, st);
		up_kick(up);
		return 0;
	}
	up = up_new(p, UP_QUEUED);
	TAILQ_INSERT_TAIL(&p->queue, up, entry);
	p->nqueued++;
	up_attach(up, st);
	return 0;
}

void
gw_upstream_pump(struct gw_upstream *up)
{
	if (up == NULL)
		return;
	up_enter(up);
	up_pump_body(up);
	up_leave(up);
}

void
gw_upstream_pause(struct gw_upstream *up)
{
	if (up == NULL)
		return;
	up->paused = true;
	if (up->state == UP_BUSY && up->bev != NULL)
		bufferevent_disable(up->bev, EV_READ);
}

void
gw_upstream_resume(struct gw_upstream *up)
{
	if (up == NULL || !up->paused)
		return;
	up->paused = false;
	if (up->state != UP_BUSY || up->bev == NULL)
		return;
	if (!up->eof)
		bufferevent_enable(up->bev, EV_READ);
	/* What was read before the pause is processed on the next turn,
	 * not inside the stream's call. */
	if (up->started && (up->eof ||
	    evbuffer_get_length(bufferevent_get_input(up->bev)) > 0))
		up_kick(up);
}

void
gw_upstream_release(struct gw_upstream *up)
{
	if (up == NULL)
		return;
	up->stream = NULL;
	up->linked = false;
	if (up->in_cb > 0) {
		up->release_pending = true;
		return;
	}
	up_release_now(up);
	up_maybe_free(up);
}

const char *
gw_upstream_addr(const struct gw_upstream *up)
{
	return up != NULL && up->addr[0] != '\0' ? up->addr : "-";
}

struct ssl_ctx_st *
gw_upstream_tls_ctx_create(void)
{
	SSL_CTX *ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		log_crit("TLS client context: %s",
		    ERR_error_string(ERR_get_error(), NULL));
		abort();
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
		/* Without a trust store every https backend fails its
		 * handshake; say so once here rather than per request. */
		log_warn("TLS client: no system trust store: %s",
		    ERR_error_string(ERR_get_error(), NULL));
		ERR_clear_error();
	}
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return ctx;
}
