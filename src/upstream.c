/*
 * upstream.c: connections to backends, pooled per (scheme, host, port)
 * per worker, and the HTTP/1.1 client side of one exchange on them; the
 * HTTP/2 (h2c) client has its own section near the end, which shares the
 * pool, the DNS cache and the connect path, and is reached by dispatching
 * on up->kind in the functions of the API (one file, so that the connect
 * path stays static).
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

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/buffer_compat.h>  /* evbuffer_setcb: drop callbacks */
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/util.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <nghttp2/nghttp2.h>

#include "gw.h"
#include "h1_parser.h"
#include "h2_frame.h"
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
#define UP_SPARE_MAX 256             /* dead structs kept per pool */
#define UP_FIELDS_KEEP 8192          /* h2 field buffer a spare keeps */
#define UP_NAMES_STACK 2048          /* h2 request field names on the
					stack; a longer head: the heap */

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
	struct up_list h2conns;      /* UP_H2_CONN that are not UP_DEAD */
	struct up_list spare;        /* dead structs for up_new() to reuse
					(events idle, buffers empty); not
					counted in nobjs */
	unsigned nspare;             /* length of spare, <= UP_SPARE_MAX */
};

/* What a struct gw_upstream stands for. */
enum up_kind {
	UP_H1 = 0,      /* an HTTP/1.1 connection (or a stream waiting for
			   one): everything above this section */
	UP_H2_CONN,     /* an h2c connection: one session, many streams */
	UP_H2_STREAM,   /* one stream on an h2c connection's session */
};

/* The session of an UP_H2_CONN. */
struct up_h2 {
	nghttp2_session *session;    /* from connected; freed with the
					struct (never inside its callback) */
	struct up_list streams;      /* UP_H2_STREAM attached, by h2entry */
	unsigned nstreams;           /* length of streams */
	struct gw_upstream **byid;   /* the streams with an id, by id: open
					addressing, linear probing */
	unsigned byid_cap;           /* 0 or a power of two >= 2 * byid_n */
	unsigned byid_shift;         /* 32 - log2(byid_cap) */
	unsigned byid_n;
	bool goaway;                 /* GOAWAY received: no new streams
					here */
};

struct gw_upstream {
	struct gw_pool *pool;
	TAILQ_ENTRY(gw_upstream) entry;  /* idle, queue or resolving */
	enum up_kind kind;
	enum up_state state;
	struct gw_stream *stream;    /* whom to call; NULL when unlinked or
					orphaned (the stream said -1) */
	bool linked;                 /* a stream's st->up points here */
	bool release_pending;        /* released inside our callback */
	int in_cb;                   /* our callbacks on the stack */
	const char *fail_err;        /* UP_FAILING: what to report */

	/* --- the connection ------------------------------------------- */
	struct bufferevent *bev;     /* from connected (TLS: handshaking) */
	int64_t idle_since_ns;       /* UP_IDLE: when it became idle */
	struct gw_sockio sockio;      /* bev's socket I/O, once ready */
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

	/* --- HTTP/2 (UP_H2_CONN and UP_H2_STREAM) ------------------- */
	struct up_h2 *h2;            /* UP_H2_CONN: its session */
	struct gw_upstream *sess;    /* UP_H2_STREAM: its connection, NULL
					once closed */
	TAILQ_ENTRY(gw_upstream) h2entry; /* pool->h2conns (a connection) or
					sess->h2->streams (a stream) */
	int32_t sid;                 /* stream id; 0 before the request */
	int status;                  /* :status of the head being read */
	unsigned nfields;            /* fields of the head being read */
	char *fbuf;                  /* UP_H2_STREAM: the fields of the head
					or trailers being read, as "name:
					value\r\n" lines; kept by a spare */
	size_t flen, fcap;           /* bytes in fbuf, its size */
	bool closed;                 /* nghttp2 closed the stream */
	bool remote_ended;           /* END_STREAM came from the backend */
	bool deferred;               /* the request body is DEFERRED */
	bool drained;                /* body moved: tell the stream */
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
static void h2c_ready(struct gw_upstream *);
static void h2c_close(struct gw_upstream *);
static void h2c_schedule(struct gw_upstream *);
static void h2c_io(struct gw_upstream *, bool);
static void h2s_kick_cb(struct gw_upstream *);
static void h2s_close(struct gw_upstream *);
static int h2_start(struct gw_pool *, struct gw_stream *);

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

/* RFC 9110 9.2.2, for the request line m[0..n). */
static bool
method_idempotent(const char *m, size_t n)
{
	return method_is(m, n, "GET") || method_is(m, n, "HEAD") ||
	    method_is(m, n, "OPTIONS") || method_is(m, n, "PUT") ||
	    method_is(m, n, "DELETE") || method_is(m, n, "TRACE");
}

/* Whether the request stream st sends is idempotent (by the method on
 * the wire, the one in its request line). */
static bool
req_idempotent(struct gw_stream *st)
{
	char m[16];
	ev_ssize_t got;

	if (st == NULL || st->req_head == NULL ||
	    (got = evbuffer_copyout(st->req_head, m, sizeof(m))) <= 0)
		return false;
	return method_idempotent(m, (size_t)got);
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

/*
 * A struct for pool p: a spare one if there is, else a new one.  A spare
 * keeps its kick and timer events (deleted, their argument the struct
 * itself), its data and trailers buffers (empty, no callback) and its
 * fbuf (flen 0); every other field is zeroed as by calloc, so nothing of
 * its last life shows.
 */
static struct gw_upstream *
up_new(struct gw_pool *p, enum up_state state)
{
	struct gw_upstream *up;

	if ((up = TAILQ_FIRST(&p->spare)) != NULL) {
		struct event *kick = up->kick, *timer = up->timer;
		struct evbuffer *data = up->data, *trailers = up->trailers;
		char *fbuf = up->fbuf;
		size_t fcap = up->fcap;

		TAILQ_REMOVE(&p->spare, up, entry);
		p->nspare--;
		memset(up, 0, sizeof(*up));
		up->kick = kick;
		up->timer = timer;
		up->data = data;
		up->trailers = trailers;
		up->fbuf = fbuf;
		up->fcap = fcap;
	} else {
		up = xcalloc(1, sizeof(*up));
		up->kick = event_new(p->base, -1, 0, up_kick_cb, up);
		up->timer = evtimer_new(p->base, up_timer_cb, up);
		up->data = evbuffer_new();
		up->trailers = evbuffer_new();
		if (up->kick == NULL || up->timer == NULL ||
		    up->data == NULL || up->trailers == NULL) {
			log_crit("out of memory");
			abort();
		}
	}
	up->pool = p;
	up->state = state;
	up->fd = -1;
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

static void
up_free(struct gw_upstream *up)
{
	event_free(up->kick);
	event_free(up->timer);
	evbuffer_free(up->data);
	evbuffer_free(up->trailers);
	free(up->fbuf);
	free(up);
}

/* Empties a buffer for its next owner: no bytes, no callback.  False if
 * it cannot be (frozen). */
static bool
up_buf_reset(struct evbuffer *b)
{
	evbuffer_setcb(b, NULL, NULL);
	return evbuffer_drain(b, evbuffer_get_length(b)) == 0 &&
	    evbuffer_get_length(b) == 0;
}

/* Frees up if nothing can reach it any more: into the pool's spares
 * while there is room and the pool stays, else for good. */
static void
up_maybe_free(struct gw_upstream *up)
{
	struct gw_pool *p = up->pool;

	if (up->in_cb > 0 || up->linked || up->state != UP_DEAD)
		return;
	if (up->h2 != NULL) {
		nghttp2_session_del(up->h2->session);
		free(up->h2->byid);
		free(up->h2);
		up->h2 = NULL;
	}
	event_del(up->kick);
	event_del(up->timer);
	up->flen = 0;
	if (up->fcap > UP_FIELDS_KEEP) {
		free(up->fbuf);
		up->fbuf = NULL;
		up->fcap = 0;
	}
	if (!p->destroying && p->nspare < UP_SPARE_MAX && up->bev == NULL &&
	    up->conn_ev == NULL && up->fd == -1 && up_buf_reset(up->data) &&
	    up_buf_reset(up->trailers)) {
		TAILQ_INSERT_HEAD(&p->spare, up, entry);
		p->nspare++;
	} else
		up_free(up);
	p->nobjs--;
	pool_maybe_free(p);
}

/* Frees the spare structs (the pool is going). */
static void
pool_free_spare(struct gw_pool *p)
{
	struct gw_upstream *up;

	while ((up = TAILQ_FIRST(&p->spare)) != NULL) {
		TAILQ_REMOVE(&p->spare, up, entry);
		p->nspare--;
		up_free(up);
	}
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

	if (up->kind == UP_H2_STREAM) {
		h2s_close(up);
		return;
	}
	if (up->kind == UP_H2_CONN && up->state != UP_DEAD) {
		enum up_state was = up->state;

		/* Dead first: the streams told below must not pick it. */
		up->state = UP_DEAD;
		h2c_close(up);
		up->state = was;
	}
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
		gw_sockio_detach(&up->sockio);
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
	up->flen = 0;

	/* The method that goes on the wire is the one in the request line
	 * (the route may set its own), so framing and retries follow it. */
	if (st->req_head != NULL &&
	    (got = evbuffer_copyout(st->req_head, m, sizeof(m))) > 0)
		n = (size_t)got;
	if (n > 0) {
		up->req_is_head = method_is(m, n, "HEAD");
		up->idempotent = method_idempotent(m, n);
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

	if (up->kind == UP_H2_STREAM) {
		h2s_close(up);
		return;
	}
	reusable = up->state == UP_BUSY && (up->phase == PH_ENDED ?
	    up->clean : !up->started && !up->eof &&
	    evbuffer_get_length(bufferevent_get_input(up->bev)) == 0);
	if (!reusable || p->destroying || p->nidle >= p->lim.max_idle) {
		up_close_conn(up);
		return;
	}
	up->state = UP_IDLE;
	up->paused = false;
	up->idle_since_ns = gw_now_ns();
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
 *
 * For an idempotent request the socket is looked at only after
 * UP_PEEK_AFTER_NS of idleness: a server closes a connection for
 * idleness after seconds, and what it sent before was read when it came
 * (reading stays on while idle); a close the loop has not seen yet fails
 * the exchange before any response byte, and the request is retried.
 * Under load connections come back within microseconds, and the system
 * call per request that the look costs is saved.
 */
#define UP_PEEK_AFTER_NS GW_NS_PER_S

static bool
up_usable(struct gw_upstream *up, bool idempotent)
{
	char c;
	ssize_t n;
	int fd;

	if (evbuffer_get_length(bufferevent_get_input(up->bev)) > 0)
		return false;
	if (idempotent && gw_now_ns() - up->idle_since_ns < UP_PEEK_AFTER_NS)
		return true;
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

/* Takes the most recently used idle connection that is still usable, for
 * stream st. */
static struct gw_upstream *
pool_take_idle(struct gw_pool *p, struct gw_stream *st)
{
	struct gw_upstream *up;
	bool idempotent = req_idempotent(st);

	while ((up = TAILQ_FIRST(&p->idle)) != NULL) {
		if (!up_usable(up, idempotent)) {
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
		if ((c = pool_take_idle(p, wt->stream)) != NULL) {
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
	pool_free_spare(p);
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
	TAILQ_INIT(&p->h2conns);
	TAILQ_INIT(&p->spare);

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
	pool_free_spare(p);
	while ((up = TAILQ_FIRST(&p->idle)) != NULL)
		up_close(up);
	/* h2c connections without a stream go now, the others with their
	 * last stream. */
	for (up = TAILQ_FIRST(&p->h2conns); up != NULL; ) {
		struct gw_upstream *next = TAILQ_NEXT(up, h2entry);

		if (up->h2->nstreams == 0)
			up_close(up);
		up = next;
	}
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

unsigned
gw_pool_spare(const struct gw_pool *p)
{
	return p->nspare;
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
	gw_sockio_attach(&up->sockio, &up->pool->w->flusher, up->bev,
	    up->pool->host->tls);
	if (up->kind == UP_H2_CONN) {
		h2c_ready(up);
		return;
	}
	bufferevent_setcb(up->bev, up_read_cb, up_write_cb, up_event_cb, up);
	/* The write callback fires once the output drains to the low
	 * watermark: time to move more request body. */
	bufferevent_setwatermark(up->bev, EV_WRITE, GW_STREAM_LOW_WATER, 0);
	gw_sockio_enable(&up->sockio, up->bev,
	    EV_WRITE | (up->paused ? 0 : EV_READ));
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

	if (up->kind == UP_H2_CONN) {
		/* Every stream waiting on the connection hears err. */
		up->fail_err = err;
		up_close_conn(up);
		return;
	}
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

/*
 * Splits the field line p..eol (eol at its LF; a CR before it is not
 * part of the value) at its colon, without the whitespace around the
 * value.  False if the line has no colon.
 */
static bool
up_split_field(const char *p, const char *eol, const char **name,
    size_t *name_len, const char **value, size_t *value_len)
{
	const char *ve = eol > p && eol[-1] == '\r' ? eol - 1 : eol;
	const char *colon = memchr(p, ':', (size_t)(ve - p)), *v;

	if (colon == NULL)
		return false;
	for (v = colon + 1; v < ve && (*v == ' ' || *v == '\t'); v++)
		;
	while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
		ve--;
	*name = p;
	*name_len = (size_t)(colon - p);
	*value = v;
	*value_len = (size_t)(ve - v);
	return true;
}

/* Splits raw field lines p[0..len) ("name: value\r\n", validated by the
 * decoder) into out[0..max); returns the count.  Pointers go into p. */
static size_t
up_parse_fields(const char *p, size_t len, struct gw_hdr *out, size_t max)
{
	size_t n = 0;
	const char *end = p + len, *eol;

	while (p < end && n < max) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (up_split_field(p, eol, &out[n].name, &out[n].name_len,
		    &out[n].value, &out[n].value_len))
			n++;
		p = eol + 1;
	}
	return n;
}

/* The same for the trailer lines in up->trailers (HTTP/1.1). */
static size_t
up_parse_trailers(struct gw_upstream *up, struct gw_hdr *out, size_t max)
{
	size_t len = evbuffer_get_length(up->trailers);

	if (len == 0)
		return 0;
	return up_parse_fields((const char *)evbuffer_pullup(up->trailers,
	    -1), len, out, max);
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
	struct evbuffer_iovec first;
	const char *buf;
	int64_t cl;
	int rc, cb;

	if (len == 0)
		return 0;
	up->got_byte = true;
	/* The head nearly always ends in the input's first chunk, which the
	 * body often shares (a whole 64 KiB response in one read): parse it
	 * in place; making everything contiguous would copy the body. */
	n = 0;
	buf = NULL;
	if (evbuffer_peek(in, -1, NULL, &first, 1) >= 1 &&
	    first.iov_len < len) {
		n = GW_MIN(first.iov_len, (size_t)UP_HEAD_MAX);
		if (gw_h1_head_ready(first.iov_base, n, &up->scan))
			buf = first.iov_base;
	}
	if (buf == NULL) {
		/* Across chunks: contiguous (the scan goes on where the
		 * first chunk's ended). */
		n = GW_MIN(len, (size_t)UP_HEAD_MAX);
		buf = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
		if (!gw_h1_head_ready(buf, n, &up->scan)) {
			if (n < UP_HEAD_MAX)
				return 0;
			up_fail(up, gw_upstream_err_too_large);
			return -1;
		}
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
	if (up->kind == UP_H2_STREAM) {
		h2s_kick_cb(up);
		up_leave(up);
		return;
	}
	if (up->kind == UP_H2_CONN && up->state == UP_BUSY) {
		h2c_io(up, false);
		up_leave(up);
		return;
	}
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
	case UP_BUSY:
		/* An h2c connection with no stream for the idle time. */
		if (up->kind == UP_H2_CONN && up->h2->nstreams == 0) {
			log_debug("%s: idle h2c connection expired", up->addr);
			up_close_conn(up);
		}
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
	gw_sockio_written(&up->sockio);
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

/* --- HTTP/2 with prior knowledge (h2c://) ----------------------------- */

/*
 * A pool whose host says h2c speaks HTTP/2 (RFC 9113 3.3, prior
 * knowledge) and shares connections between streams.  The connection is
 * an UP_H2_CONN: it resolves and connects through the same path as an
 * HTTP/1.1 one (UP_NEW .. UP_CONNECTING), then holds an nghttp2 client
 * session while UP_BUSY, whatever the number of its streams; it sits in
 * pool->h2conns and counts in nconns.  Each exchange is an UP_H2_STREAM,
 * the st->up of its stream, in its connection's streams list from
 * gw_upstream_start() to its release.  The stream-facing contract is the
 * one of HTTP/1.1 (upstream.h); what differs stays in this section.
 *
 * Streams are found by id through their connection's list (as long as
 * the streams the backend allows at once, plus those nghttp2 holds back),
 * never through nghttp2's stream_user_data: a request
 * still queued in the session (past the peer's MAX_CONCURRENT_STREAMS)
 * has no nghttp2 stream yet, so user data set there could not be cleared
 * when the stream is released, and a later callback would reach freed
 * memory.  A released stream leaves the list at once and the frames that
 * still come for it are dropped.
 *
 * Calls into the gw_stream happen from nghttp2's receive callbacks and
 * from the stream object's kick, bracketed by up_enter()/up_leave() on
 * the stream object, and on the connection around nghttp2_session_mem_recv:
 * the session is deleted only when the connection struct is freed, never
 * inside its own callbacks.  nghttp2_session_send runs only from the
 * connection's own callbacks (read, write, kick), never from a call the
 * gw_stream made: pump/resume only mark and schedule.
 *
 * Back-pressure: the connection window is opened as bytes arrive; each
 * stream's window (UP_H2_STREAM_WINDOW) only as the stream takes the
 * bytes (NO_AUTO_WINDOW_UPDATE), so a paused stream holds at most one
 * window and the backend stops sending on it.
 */

#define UP_H2_STREAM_WINDOW (256 * 1024)
#define UP_H2_CONN_WINDOW (16 * 1024 * 1024)
#define UP_H2_OUT_HIGH (64 * 1024)   /* session writes while below */
#define UP_H2_OUT_LOW (16 * 1024)    /* the write callback resumes it */
#define UP_H2_MAX_OUTBOUND_ACK 128

/*
 * Streams by id.  Every frame names its stream, and a connection carries
 * hundreds: a list walk per frame showed at the top of the profile.
 * Client stream ids are consecutive odd numbers: placed at id / 2 they
 * would form one long run of full slots, which every removal walks, so
 * they are scattered by Fibonacci hashing (Knuth 6.4).
 */
static unsigned
h2c_slot(const struct up_h2 *h, int32_t sid)
{
	return (unsigned)((((uint32_t)sid >> 1) * 2654435769u) >>
	    h->byid_shift);
}

static void
h2c_byid_insert(struct up_h2 *h, struct gw_upstream *hs)
{
	unsigned i = h2c_slot(h, hs->sid);

	while (h->byid[i] != NULL)
		i = (i + 1) & (h->byid_cap - 1);
	h->byid[i] = hs;
}

/* Files hs (its sid just assigned) under its id. */
static void
h2c_byid_add(struct up_h2 *h, struct gw_upstream *hs)
{
	struct gw_upstream **old = h->byid;
	unsigned i, oldcap = h->byid_cap;

	if ((h->byid_n + 1) * 2 > h->byid_cap) {
		h->byid_cap = oldcap == 0 ? 64 : oldcap * 2;
		h->byid_shift = oldcap == 0 ? 32 - 6 : h->byid_shift - 1;
		h->byid = xcalloc(h->byid_cap, sizeof(*h->byid));
		for (i = 0; i < oldcap; i++)
			if (old[i] != NULL)
				h2c_byid_insert(h, old[i]);
		free(old);
	}
	h2c_byid_insert(h, hs);
	h->byid_n++;
}

/* Takes hs out; the entries behind it move up so that no probe stops
 * short of them. */
static void
h2c_byid_remove(struct up_h2 *h, struct gw_upstream *hs)
{
	unsigned mask = h->byid_cap - 1, i, j, k;

	if (h->byid_cap == 0)
		return;
	for (i = h2c_slot(h, hs->sid); h->byid[i] != hs; i = (i + 1) & mask)
		if (h->byid[i] == NULL)
			return;
	h->byid[i] = NULL;
	h->byid_n--;
	for (j = (i + 1) & mask; h->byid[j] != NULL; j = (j + 1) & mask) {
		k = h2c_slot(h, h->byid[j]->sid);
		/* Moves j to the hole at i unless its home k lies in
		 * (i, j], cyclically. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		h->byid[i] = h->byid[j];
		h->byid[j] = NULL;
		i = j;
	}
}

/* The stream of connection c with id sid, or NULL (released, unknown). */
static struct gw_upstream *
h2c_find(struct gw_upstream *c, int32_t sid)
{
	struct up_h2 *h = c->h2;
	struct gw_upstream *hs;
	unsigned i;

	if (sid <= 0 || h->byid_cap == 0)
		return NULL;
	for (i = h2c_slot(h, sid); (hs = h->byid[i]) != NULL;
	    i = (i + 1) & (h->byid_cap - 1))
		if (hs->sid == sid)
			return hs;
	return NULL;
}

/* The session has something to write: on the next loop turn. */
static void
h2c_schedule(struct gw_upstream *c)
{
	if (c != NULL && c->state == UP_BUSY)
		up_kick(c);
}

/* The connection has no stream: it expires after the idle time, or goes
 * at once when it can take no more (GOAWAY) or the pool is going. */
static void
h2c_idle(struct gw_upstream *c)
{
	struct timeval tv;

	if (c->state != UP_BUSY || c->h2->nstreams > 0)
		return;
	if (c->h2->goaway || c->pool->destroying) {
		h2c_schedule(c);
		return;
	}
	tv = ns_to_tv(c->pool->lim.idle_timeout_ns);
	evtimer_add(c->timer, &tv);
}

/*
 * A connection for a new stream: the first one (open or opening) below
 * the peer's SETTINGS_MAX_CONCURRENT_STREAMS (nghttp2 assumes 100 until
 * the peer says), else a new one while below max_total, else the least
 * loaded (nghttp2 holds requests past the peer's limit until a stream
 * closes).  Never `exclude` nor one that got or sent GOAWAY.
 */
static struct gw_upstream *
h2_pick(struct gw_pool *p, const struct gw_upstream *exclude)
{
	struct gw_upstream *c, *least = NULL;
	uint32_t cap;

	TAILQ_FOREACH(c, &p->h2conns, h2entry) {
		if (c == exclude || c->h2->goaway)
			continue;
		cap = c->h2->session != NULL ?
		    nghttp2_session_get_remote_settings(c->h2->session,
		    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) : 100;
		if (c->h2->nstreams < cap)
			return c;
		if (least == NULL || c->h2->nstreams < least->h2->nstreams)
			least = c;
	}
	if (least != NULL && p->nconns >= p->lim.max_total)
		return least;
	c = up_new(p, UP_NEW);
	c->kind = UP_H2_CONN;
	c->h2 = xcalloc(1, sizeof(*c->h2));
	TAILQ_INIT(&c->h2->streams);
	TAILQ_INSERT_TAIL(&p->h2conns, c, h2entry);
	up_kick(c);
	return c;
}

/* Puts stream object hs on connection c; it starts once c is ready. */
static void
h2s_attach(struct gw_upstream *hs, struct gw_upstream *c)
{
	hs->sess = c;
	TAILQ_INSERT_TAIL(&c->h2->streams, hs, h2entry);
	c->h2->nstreams++;
	if (c->state == UP_BUSY) {
		evtimer_del(c->timer);
		up_kick(hs);
	}
}

/* Takes hs off its connection (no frame sent). */
static void
h2s_unlink(struct gw_upstream *hs)
{
	struct gw_upstream *c = hs->sess;

	if (c == NULL)
		return;
	TAILQ_REMOVE(&c->h2->streams, hs, h2entry);
	c->h2->nstreams--;
	if (hs->sid > 0)
		h2c_byid_remove(c->h2, hs);
	hs->sess = NULL;
	h2c_idle(c);
}

/*
 * Closes a stream object: off its connection, with RST_STREAM(CANCEL)
 * to the backend unless the exchange is complete (or nghttp2 closed the
 * stream already), and UP_DEAD.  The stream link is left as it is.  Safe
 * twice.  Reached from the release, a failure and a retry.
 */
static void
h2s_close(struct gw_upstream *hs)
{
	struct gw_upstream *c = hs->sess;

	if (hs->state == UP_DEAD)
		return;
	hs->state = UP_DEAD;
	event_del(hs->kick);
	if (c == NULL)
		return;
	if (c->state == UP_BUSY && hs->sid > 0 && !hs->closed &&
	    !(hs->remote_ended && hs->req_complete)) {
		nghttp2_submit_rst_stream(c->h2->session, NGHTTP2_FLAG_NONE,
		    hs->sid, NGHTTP2_CANCEL);
		h2c_schedule(c);
	}
	h2s_unlink(hs);
}

/* The exchange failed: detach, close, then tell the stream (as up_fail;
 * called between up_enter() and up_leave() on hs). */
static void
h2s_fail(struct gw_upstream *hs, const char *err)
{
	struct gw_stream *st = hs->stream;

	if (st != NULL)
		up_detach(hs);
	h2s_close(hs);
	if (st != NULL) {
		if (hs->addr[0] != '\0')
			snprintf(st->upstream_addr, sizeof(st->upstream_addr),
			    "%s", hs->addr);
		gw_stream_on_upstream_error(st, err);
	}
}

/*
 * A stream the backend refused (RST_STREAM or GOAWAY with
 * REFUSED_STREAM, or a request the session could not start) was not
 * processed (RFC 9113 8.7): it may go again, once, on another
 * connection, as long as no body byte left the stream's buffer.
 */
static bool
h2s_may_retry(const struct gw_upstream *hs)
{
	const struct gw_stream *st = hs->stream;

	return st != NULL && !hs->got_byte && hs->body_moved == 0 &&
	    st->retries == 0 && st->req_head != NULL;
}

static void
h2s_retry(struct gw_upstream *hs)
{
	struct gw_stream *st = hs->stream;
	struct gw_pool *p = hs->pool;
	struct gw_upstream *old = hs->sess, *fresh = up_new(p, UP_BUSY);

	log_debug("%s: stream refused, retrying %s %s", hs->addr,
	    st->method != NULL ? st->method : "-",
	    st->path != NULL ? st->path : "-");
	fresh->kind = UP_H2_STREAM;
	hs->stream = NULL;
	hs->linked = false;
	up_attach(fresh, st);
	fresh->paused = hs->paused;
	st->retries++;
	hs->closed = true;
	h2s_close(hs);
	h2s_attach(fresh, h2_pick(p, old));
}

/* True if h is a field HTTP/2 does not carry (RFC 9113 8.2.2) or one
 * that becomes a pseudo-field (Host). */
static bool
h2_field_dropped(const struct gw_h1_header *h)
{
	unsigned c = gw_hdr_class(h->name, h->name_len);

	if (!(c & (HDR_HOP | HDR_HOST)))
		return false;
	/* TE may only say "trailers" (gRPC does). */
	return !(h->name_len == 2 && h->value_len == 8 &&
	    strncasecmp(h->value, "trailers", 8) == 0);
}

#define UP_NV(n, nl, v, vl) ((nghttp2_nv){ (uint8_t *)(uintptr_t)(n), \
	(uint8_t *)(uintptr_t)(v), (nl), (vl), NGHTTP2_NV_FLAG_NONE })

static ssize_t h2s_data_read_cb(nghttp2_session *, int32_t, uint8_t *,
    size_t, uint32_t *, nghttp2_data_source *, void *);

/*
 * Splits a request head that stream.c built (well formed by
 * construction: its fields were checked when the client sent them) into
 * method, target and fields, without the byte checks the parser makes on
 * what a client sends.  CRLF or LF line ends.  -1 if it is not such a
 * head after all, or has more than `max` fields.
 */
static int
up_split_head(const char *buf, size_t len, struct gw_h1_request *req,
    struct gw_h1_header *hh, size_t max)
{
	const char *p = buf, *e = buf + len, *eol, *sp;
	size_t n = 0;

	if ((eol = memchr(p, '\n', len)) == NULL ||
	    (sp = memchr(p, ' ', (size_t)(eol - p))) == NULL)
		return -1;
	req->method = p;
	req->method_len = (size_t)(sp - p);
	p = sp + 1;
	if ((sp = memchr(p, ' ', (size_t)(eol - p))) == NULL)
		return -1;
	req->target = p;
	req->target_len = (size_t)(sp - p);
	for (p = eol + 1; ; p = eol + 1) {
		if (p >= e || (eol = memchr(p, '\n', (size_t)(e - p))) == NULL)
			return -1;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			break;
		if (n == max || !up_split_field(p, eol, &hh[n].name,
		    &hh[n].name_len, &hh[n].value, &hh[n].value_len))
			return -1;
		n++;
	}
	req->headers = hh;
	req->nheaders = n;
	return 0;
}

/*
 * Submits the request: st->req_head (our own HTTP/1.1 head, so it
 * parses) becomes :method, :scheme, :authority (from Host), :path and
 * lower-case fields without the connection-specific ones; the body, if
 * any is to come, flows from st->req_body through a data provider, never
 * chunk-encoded.  nghttp2 copies the fields.  Returns 0 or -1.
 */
static int
h2s_submit(struct gw_upstream *hs)
{
	struct gw_stream *st = hs->stream;
	nghttp2_session *s = hs->sess->h2->session;
	struct gw_h1_header hh[UP_MAX_HEADERS];
	nghttp2_nv nv[UP_MAX_HEADERS + 4];
	struct gw_h1_request req;
	nghttp2_data_provider prd;
	size_t len = evbuffer_get_length(st->req_head), i, j, n = 4;
	const char *buf = (const char *)evbuffer_pullup(st->req_head, -1);
	char namebuf[UP_NAMES_STACK];
	char *names, *q;
	int rc;
	int32_t sid;

	rc = up_split_head(buf, len, &req, hh, GW_ARRAY_SIZE(hh));
	if (rc != 0) {
		log_error("%s: request head does not split", hs->addr);
		return -1;
	}
	names = q = len <= sizeof(namebuf) ? namebuf : xmalloc(len);
	nv[0] = UP_NV(":method", 7, req.method, req.method_len);
	nv[1] = UP_NV(":scheme", 7, "http", 4);
	nv[2] = UP_NV(":authority", 10, hs->pool->host->name,
	    strlen(hs->pool->host->name));
	nv[3] = UP_NV(":path", 5, req.target, req.target_len);
	for (i = 0; i < req.nheaders; i++) {
		const struct gw_h1_header *h = &hh[i];

		if (gw_h1_name_eq(h->name, h->name_len, "host")) {
			nv[2] = UP_NV(":authority", 10, h->value,
			    h->value_len);
			continue;
		}
		if (h2_field_dropped(h))
			continue;
		for (j = 0; j < h->name_len; j++)
			q[j] = (char)tolower((unsigned char)h->name[j]);
		nv[n] = UP_NV(q, h->name_len, h->value, h->value_len);
		nv[n++].flags = gw_h2_nv_flags((uint8_t *)q, h->name_len);
		q += h->name_len;
	}
	hs->req_complete = st->req_done &&
	    evbuffer_get_length(st->req_body) == 0;
	prd.source.ptr = NULL;
	prd.read_callback = h2s_data_read_cb;
	sid = nghttp2_submit_request(s, NULL, nv, n,
	    hs->req_complete ? NULL : &prd, NULL);
	if (names != namebuf)
		free(names);
	if (sid < 0) {
		log_info("%s: request not submitted: %s", hs->addr,
		    nghttp2_strerror(sid));
		return -1;
	}
	hs->sid = sid;
	h2c_byid_add(hs->sess->h2, hs);
	return 0;
}

/* The connection is ready: the stream learns it, then the request goes
 * (written by the session on the next turn). */
static void
h2s_begin(struct gw_upstream *hs)
{
	struct gw_stream *st = hs->stream;

	snprintf(hs->addr, sizeof(hs->addr), "%s", hs->sess->addr);
	gw_stream_on_upstream_ready(st);
	if (hs->stream != st)
		return;
	if (st->req_head == NULL) {
		log_error("exchange without a request head");
		h2s_fail(hs, gw_upstream_err_reset);
		return;
	}
	if (h2s_submit(hs) != 0) {
		h2s_fail(hs, gw_upstream_err_reset);
		return;
	}
	hs->started = true;
	h2c_schedule(hs->sess);
}

/* The response is complete: trailers (if any) go with the end. */
static void
h2s_end(struct gw_upstream *hs)
{
	struct gw_hdr tr[UP_MAX_HEADERS];
	size_t ntr;

	hs->phase = PH_ENDED;
	hs->clean = true;
	ntr = up_parse_fields(hs->fbuf, hs->flen, tr, GW_ARRAY_SIZE(tr));
	if (gw_stream_on_response_end(hs->stream, ntr > 0 ? tr : NULL,
	    ntr) < 0)
		up_orphan(hs);
	hs->flen = 0;
}

/*
 * Hands the body received so far to the stream (unless paused), opening
 * the stream's window by as much as it took, then ends the response
 * once END_STREAM came and everything was handed over.
 */
static void
h2s_deliver(struct gw_upstream *hs)
{
	struct gw_stream *st = hs->stream;
	size_t n;
	int rc;

	if (st == NULL || hs->paused || hs->phase != PH_BODY)
		return;
	if ((n = evbuffer_get_length(hs->data)) > 0) {
		rc = gw_stream_on_response_data(st, hs->data);
		evbuffer_drain(hs->data, evbuffer_get_length(hs->data));
		if (hs->sess != NULL && hs->sess->state == UP_BUSY &&
		    !hs->closed) {
			nghttp2_session_consume_stream(hs->sess->h2->session,
			    hs->sid, n);
			h2c_schedule(hs->sess);
		}
		if (rc < 0) {
			up_orphan(hs);
			return;
		}
		if (hs->stream != st)
			return;
	}
	if (hs->remote_ended)
		h2s_end(hs);
}

/*
 * The response head is complete (fields in hs->fbuf, :status in
 * hs->status).  Interim 1xx heads are dropped (RFC 9110 15.2); a 101 is
 * nonsense here.  end: the HEADERS ended the stream (no body).
 */
static void
h2s_head(struct gw_upstream *hs, bool end)
{
	struct gw_stream *st = hs->stream;
	struct gw_hdr hdrs[UP_MAX_HEADERS];
	int64_t cl = -1;
	size_t n, i, j;
	int status = hs->status, cb;

	hs->got_byte = true;
	hs->status = 0;
	if (status < 200) {
		hs->flen = 0;
		if (status == 101 || end)
			h2s_fail(hs, gw_upstream_err_bad_response);
		return;
	}
	n = up_parse_fields(hs->fbuf, hs->flen, hdrs, GW_ARRAY_SIZE(hdrs));
	for (i = 0; i < n && !end; i++) {
		if (!gw_h1_name_eq(hdrs[i].name, hdrs[i].name_len,
		    "content-length") || hdrs[i].value_len == 0 ||
		    hdrs[i].value_len > 18)
			continue;
		for (cl = 0, j = 0; j < hdrs[i].value_len && cl >= 0; j++)
			cl = hdrs[i].value[j] >= '0' && hdrs[i].value[j] <= '9' ?
			    cl * 10 + (hdrs[i].value[j] - '0') : -1;
	}
	if (end)
		cl = 0;
	hs->phase = PH_BODY;
	cb = gw_stream_on_response_head(st, status, hdrs, n, cl);
	hs->flen = 0;
	if (cb < 0) {
		up_orphan(hs);
		return;
	}
	if (hs->stream != st)
		return;
	if (end) {
		hs->remote_ended = true;
		h2s_end(hs);
	}
}

/* The stream object's kick: start on a ready connection (or move off
 * one that got GOAWAY meanwhile), tell the stream of body moved, hand
 * over what a pause held. */
static void
h2s_kick_cb(struct gw_upstream *hs)
{
	struct gw_stream *st = hs->stream;
	struct gw_upstream *c = hs->sess;

	if (hs->state == UP_DEAD || st == NULL)
		return;
	if (!hs->started) {
		if (c == NULL || c->state != UP_BUSY)
			return;
		if (c->h2->goaway) {
			h2s_unlink(hs);
			h2s_attach(hs, h2_pick(hs->pool, c));
			return;
		}
		h2s_begin(hs);
		return;
	}
	if (hs->drained) {
		hs->drained = false;
		gw_stream_on_req_drained(st);
		if (hs->stream != st)
			return;
	}
	h2s_deliver(hs);
}

/* --- the session's callbacks --- */

static ssize_t
h2c_send_cb(nghttp2_session *s, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct gw_upstream *c = arg;
	struct evbuffer *out = bufferevent_get_output(c->bev);

	(void)s;
	(void)flags;
	if (evbuffer_get_length(out) >= UP_H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

/*
 * The request body's source: what the stream buffered, by length only
 * (NO_COPY, written by h2c_send_data_cb); empty and not done: DEFERRED
 * until gw_upstream_pump().  Never chunked, whatever st->req_chunked.
 */
static ssize_t
h2s_data_read_cb(nghttp2_session *s, int32_t sid, uint8_t *buf,
    size_t length, uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct gw_upstream *hs = h2c_find(arg, sid);
	size_t avail, n;

	(void)s;
	(void)buf;
	(void)src;
	if (hs == NULL || hs->stream == NULL)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	avail = evbuffer_get_length(hs->stream->req_body);
	n = GW_MIN(avail, length);
	if (n == 0 && !hs->stream->req_done) {
		hs->deferred = true;
		return NGHTTP2_ERR_DEFERRED;
	}
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (hs->stream->req_done && n == avail) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		hs->req_complete = true;
	}
	return (ssize_t)n;
}

/*
 * Writes one DATA frame of a request body: the frame header, then
 * `length` bytes moved from st->req_body.  Never WOULDBLOCK: nghttp2
 * calls this right after h2s_data_read_cb, with no call into a stream in
 * between, so the bytes counted there are still in the buffer.  The
 * stream hears of the drain on the next turn (the kick).
 */
static int
h2c_send_data_cb(nghttp2_session *s, nghttp2_frame *frame,
    const uint8_t *framehd, size_t length, nghttp2_data_source *src,
    void *arg)
{
	struct gw_upstream *c = arg;
	struct gw_upstream *hs = h2c_find(c, frame->hd.stream_id);

	(void)s;
	(void)src;
	if (hs == NULL || hs->stream == NULL ||
	    gw_h2_frame_add_data(bufferevent_get_output(c->bev), framehd,
	    frame->data.padlen, hs->stream->req_body, length) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	if (length > 0) {
		hs->body_moved += length;
		hs->drained = true;
		up_kick(hs);
	}
	return 0;
}

static int
h2c_on_header_cb(nghttp2_session *s, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *arg)
{
	struct gw_upstream *hs;
	size_t i, need;
	char *q;

	(void)s;
	(void)flags;
	if (frame->hd.type != NGHTTP2_HEADERS ||
	    (hs = h2c_find(arg, frame->hd.stream_id)) == NULL)
		return 0;
	if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
		hs->status = 0;
		for (i = 0; i < valuelen && i < 3; i++)
			hs->status = hs->status * 10 + (value[i] - '0');
		return 0;
	}
	if (namelen > 0 && name[0] == ':')
		return 0;
	/* The fields wait as "name: value" lines (nghttp2 checked them:
	 * no CR, LF or NUL, no colon in a name) in fbuf until the head or
	 * the trailers are complete. */
	need = hs->flen + namelen + valuelen + 4;
	if (need > UP_HEAD_MAX || ++hs->nfields > UP_MAX_HEADERS) {
		hs->fail_err = gw_upstream_err_too_large;
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	if (need > hs->fcap) {
		hs->fcap = GW_MAX(need, GW_MAX(hs->fcap * 2, 1024));
		hs->fbuf = xrealloc(hs->fbuf, hs->fcap);
	}
	q = hs->fbuf + hs->flen;
	memcpy(q, name, namelen);
	q += namelen;
	memcpy(q, ": ", 2);
	q += 2;
	memcpy(q, value, valuelen);
	q += valuelen;
	memcpy(q, "\r\n", 2);
	hs->flen = need;
	return 0;
}

static int
h2c_on_frame_recv_cb(nghttp2_session *s, const nghttp2_frame *frame,
    void *arg)
{
	struct gw_upstream *c = arg, *hs;
	bool end = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	(void)s;
	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		log_debug("%s: GOAWAY (last stream %d, error %u)", c->addr,
		    frame->goaway.last_stream_id, frame->goaway.error_code);
		c->h2->goaway = true;
		return 0;
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		break;
	default:
		return 0;
	}
	if ((hs = h2c_find(c, frame->hd.stream_id)) == NULL)
		return 0;
	up_enter(hs);
	if (frame->hd.type == NGHTTP2_HEADERS) {
		hs->nfields = 0;
		if (hs->phase == PH_HEAD)
			h2s_head(hs, end);
		else if (end) {
			/* Trailers: they end the response. */
			hs->remote_ended = true;
			h2s_deliver(hs);
		}
	} else if (end) {
		hs->remote_ended = true;
		h2s_deliver(hs);
	}
	up_leave(hs);
	return 0;
}

static int
h2c_on_data_chunk_cb(nghttp2_session *s, uint8_t flags, int32_t sid,
    const uint8_t *data, size_t len, void *arg)
{
	struct gw_upstream *hs = h2c_find(arg, sid);

	(void)flags;
	/* The connection's window reopens at once; the stream's only as
	 * the stream takes the bytes (h2s_deliver). */
	nghttp2_session_consume_connection(s, len);
	if (hs == NULL || hs->stream == NULL || hs->phase != PH_BODY)
		return 0;
	hs->got_byte = true;
	evbuffer_add(hs->data, data, len);
	up_enter(hs);
	h2s_deliver(hs);
	up_leave(hs);
	return 0;
}

/* A stream that ends without a complete response failed; a refused one
 * is retried when it may be. */
static void
h2s_closed(struct gw_upstream *hs, uint32_t code)
{
	hs->closed = true;
	if (hs->remote_ended || hs->stream == NULL)
		return;
	up_enter(hs);
	if (code == NGHTTP2_REFUSED_STREAM && h2s_may_retry(hs))
		h2s_retry(hs);
	else
		h2s_fail(hs, hs->fail_err != NULL ? hs->fail_err :
		    gw_upstream_err_reset);
	up_leave(hs);
}

static int
h2c_on_stream_close_cb(nghttp2_session *s, int32_t sid, uint32_t code,
    void *arg)
{
	struct gw_upstream *hs = h2c_find(arg, sid);

	(void)s;
	if (hs != NULL)
		h2s_closed(hs, code);
	return 0;
}

/* A request the session could not start (GOAWAY came first): nothing
 * went out, so it is as refused. */
static int
h2c_on_frame_not_send_cb(nghttp2_session *s, const nghttp2_frame *frame,
    int lib_error, void *arg)
{
	struct gw_upstream *hs;

	(void)s;
	(void)lib_error;
	if (frame->hd.type == NGHTTP2_HEADERS &&
	    (hs = h2c_find(arg, frame->hd.stream_id)) != NULL && !hs->closed)
		h2s_closed(hs, NGHTTP2_REFUSED_STREAM);
	return 0;
}

/* --- the connection --- */

/*
 * One pass: the input (when asked) through the session, then whatever
 * the session has to write while the output is below UP_H2_OUT_HIGH.
 * Closes the connection on a protocol error, when the session is done,
 * or when it has no stream left and can take none.
 */
static void
h2c_io(struct gw_upstream *c, bool input)
{
	nghttp2_session *s = c->h2->session;
	struct evbuffer *in, *out;
	struct evbuffer_iovec v;
	ssize_t n;
	int rv;

	if (c->state != UP_BUSY)
		return;
	in = bufferevent_get_input(c->bev);
	while (input && evbuffer_peek(in, -1, NULL, &v, 1) > 0 &&
	    v.iov_len > 0) {
		n = nghttp2_session_mem_recv(s, v.iov_base, v.iov_len);
		if (c->state != UP_BUSY)
			return;
		if (n < 0) {
			log_info("%s (%s): HTTP/2: %s", c->pool->host->name,
			    c->addr, nghttp2_strerror((int)n));
			up_fail(c, gw_upstream_err_bad_response);
			return;
		}
		evbuffer_drain(in, (size_t)n);
	}
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) < UP_H2_OUT_HIGH &&
	    (rv = nghttp2_session_send(s)) != 0) {
		log_info("%s (%s): HTTP/2: %s", c->pool->host->name, c->addr,
		    nghttp2_strerror(rv));
		up_fail(c, gw_upstream_err_reset);
		return;
	}
	if (!nghttp2_session_want_read(s) && !nghttp2_session_want_write(s) &&
	    evbuffer_get_length(out) == 0) {
		up_fail(c, gw_upstream_err_reset);
		return;
	}
	if (c->h2->nstreams == 0 && (c->h2->goaway || c->pool->destroying))
		up_close_conn(c);
}

static void
h2c_read_cb(struct bufferevent *bev, void *arg)
{
	struct gw_upstream *c = arg;

	(void)bev;
	up_enter(c);
	h2c_io(c, true);
	up_leave(c);
}

static void
h2c_write_cb(struct bufferevent *bev, void *arg)
{
	struct gw_upstream *c = arg;

	(void)bev;
	gw_sockio_written(&c->sockio);
	up_enter(c);
	h2c_io(c, false);
	up_leave(c);
}

static void
h2c_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw_upstream *c = arg;

	(void)bev;
	if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	up_enter(c);
	/* What came before the close is read first. */
	h2c_io(c, true);
	if (c->state == UP_BUSY) {
		log_debug("%s: h2c connection closed by the peer", c->addr);
		up_fail(c, gw_upstream_err_reset);
	}
	up_leave(c);
}

/*
 * TCP is up: the session starts with the preface and our SETTINGS (no
 * push; UP_H2_STREAM_WINDOW per stream, window updates by hand), a large
 * connection window, and the streams that waited start.
 */
static void
h2c_ready(struct gw_upstream *c)
{
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_ENABLE_PUSH, 0 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, UP_H2_STREAM_WINDOW },
	};
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	struct gw_upstream *hs;

	if (nghttp2_session_callbacks_new(&cb) != 0 ||
	    nghttp2_option_new(&opt) != 0) {
		log_crit("out of memory");
		abort();
	}
	nghttp2_session_callbacks_set_send_callback(cb, h2c_send_cb);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2c_send_data_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, h2c_on_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h2c_on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2c_on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2c_on_stream_close_cb);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb,
	    h2c_on_frame_not_send_cb);
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, UP_H2_MAX_OUTBOUND_ACK);
	if ((c->pool->w->h2mem.mem.malloc != NULL ?
	    nghttp2_session_client_new3(&c->h2->session, cb, c, opt,
	    &c->pool->w->h2mem.mem) :
	    nghttp2_session_client_new2(&c->h2->session, cb, c, opt)) != 0) {
		log_crit("out of memory");
		abort();
	}
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->h2->session, NGHTTP2_FLAG_NONE, iv,
	    GW_ARRAY_SIZE(iv));
	nghttp2_session_set_local_window_size(c->h2->session,
	    NGHTTP2_FLAG_NONE, 0, UP_H2_CONN_WINDOW);

	bufferevent_setcb(c->bev, h2c_read_cb, h2c_write_cb, h2c_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_WRITE, UP_H2_OUT_LOW, 0);
	gw_sockio_enable(&c->sockio, c->bev, EV_READ | EV_WRITE);
	c->state = UP_BUSY;
	up_kick(c);
	TAILQ_FOREACH(hs, &c->h2->streams, h2entry)
		up_kick(hs);
	h2c_idle(c);
}

/*
 * The connection is closing (up_close_conn, state already UP_DEAD): off
 * the pool's list; streams with their whole response received keep it
 * (a pause may hold the end), the others fail with c->fail_err or
 * gw_upstream_err_reset.
 */
static void
h2c_close(struct gw_upstream *c)
{
	const char *err = c->fail_err != NULL ? c->fail_err :
	    gw_upstream_err_reset;
	struct gw_upstream *hs;

	TAILQ_REMOVE(&c->pool->h2conns, c, h2entry);
	while ((hs = TAILQ_FIRST(&c->h2->streams)) != NULL) {
		if (hs->remote_ended) {
			hs->closed = true;
			h2s_unlink(hs);
			continue;
		}
		up_enter(hs);
		h2s_fail(hs, err);
		up_leave(hs);
	}
}

/* A new exchange on an h2c pool (gw_upstream_start). */
static int
h2_start(struct gw_pool *p, struct gw_stream *st)
{
	struct gw_upstream *hs = up_new(p, UP_BUSY);

	hs->kind = UP_H2_STREAM;
	up_attach(hs, st);
	h2s_attach(hs, h2_pick(p, NULL));
	return 0;
}

/* --- the API ---------------------------------------------------------- */

int
gw_upstream_start(struct gw_pool *p, struct gw_stream *st)
{
	struct gw_upstream *up;

	if (p->host->h2)
		return h2_start(p, st);
	if (TAILQ_EMPTY(&p->queue)) {
		if ((up = pool_take_idle(p, st)) != NULL) {
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
	if (up->kind == UP_H2_STREAM) {
		/* Never calls back: the session writes on the next turn. */
		if (up->deferred && up->sess != NULL && !up->closed) {
			up->deferred = false;
			nghttp2_session_resume_data(up->sess->h2->session,
			    up->sid);
			h2c_schedule(up->sess);
		}
		return;
	}
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
	if (up->kind == UP_H2_STREAM)
		return;
	if (up->state == UP_BUSY && up->bev != NULL)
		bufferevent_disable(up->bev, EV_READ);
}

void
gw_upstream_resume(struct gw_upstream *up)
{
	if (up == NULL || !up->paused)
		return;
	up->paused = false;
	if (up->kind == UP_H2_STREAM) {
		/* Held data goes out, and the window opens, next turn. */
		if (up->started)
			up_kick(up);
		return;
	}
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
