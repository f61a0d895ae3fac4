/*
 * test_upstream.c: pooled upstream connections and the HTTP/1.1 client,
 * against a scripted backend on 127.0.0.1 (an evconnlistener on port 0),
 * all on one event_base.  The stream side is mock_stream.c.
 *
 * Every wait is bounded (RUN_UNTIL gives up after a deadline and the
 * assertion that follows fails), so a broken upstream fails a test
 * instead of hanging it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "config.h"
#include "gw.h"
#include "mock_stream.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

#define WAIT_MS 3000             /* the longest any wait may take */
#define BIG (1024 * 1024)

/* Runs the loop until cond holds or ms pass (a 5 ms tick keeps
 * EVLOOP_ONCE returning). */
#define RUN_UNTIL(e, cond, ms) do {					\
	int64_t dl_ = gw_now_ns() + (int64_t)(ms) * GW_NS_PER_MS;	\
	while (!(cond) && gw_now_ns() < dl_)				\
		event_base_loop((e)->base, EVLOOP_ONCE);		\
} while (0)

#define RUN_FOR(e, ms) RUN_UNTIL(e, false, ms)

/* --- the scripted backend ------------------------------------------- */

struct backend;

struct bconn {
	struct backend *b;
	struct bufferevent *bev;
	struct evbuffer *req;    /* bytes of the request being received */
	size_t head_len;         /* 0 until the head is complete */
	uint64_t cl;             /* Content-Length of the request */
	bool chunked;
	int nreq;                /* requests completed on this connection */
	bool close_after;        /* close once the output is written */
	LIST_ENTRY(bconn) entry;
};

/* Bytes to send, or a close, a little later. */
struct later {
	struct bconn *c;
	const char *s;           /* NULL: nothing to send */
	bool close;
	struct event *ev;
	LIST_ENTRY(later) entry;
};

/* Called for each complete request: n counts all connections, c->nreq
 * this one (both from 0). */
typedef void (*reply_fn)(struct bconn *c, int n);

struct backend {
	struct event_base *base;
	struct evconnlistener *lis;
	SSL_CTX *tls;            /* NULL: plaintext */
	uint16_t port;
	int accepts;
	int closes;              /* connections closed by the client */
	int requests;
	struct evbuffer *seen;   /* every complete request, in order */
	reply_fn reply;
	bool hang_up_on_tls;     /* close if the first byte is not a letter */
	bool hang_up_at_once;    /* close every connection on accept */
	LIST_HEAD(, bconn) conns;
	LIST_HEAD(, later) laters;
};

static void later_free(struct later *);

static void
bconn_free(struct bconn *c)
{
	struct later *l, *next;

	for (l = LIST_FIRST(&c->b->laters); l != NULL; l = next) {
		next = LIST_NEXT(l, entry);
		if (l->c == c)
			later_free(l);
	}
	LIST_REMOVE(c, entry);
	bufferevent_free(c->bev);
	evbuffer_free(c->req);
	free(c);
}

static void
bc_send(struct bconn *c, const char *s)
{
	bufferevent_write(c->bev, s, strlen(s));
}

static void
bc_send_close(struct bconn *c, const char *s)
{
	bc_send(c, s);
	c->close_after = true;
}

static void
later_free(struct later *l)
{
	LIST_REMOVE(l, entry);
	event_free(l->ev);
	free(l);
}

static void
later_cb(evutil_socket_t fd, short what, void *arg)
{
	struct later *l = arg;
	struct bconn *c = l->c;
	bool close = l->close;

	(void)fd;
	(void)what;
	if (l->s != NULL)
		bc_send(c, l->s);
	later_free(l);
	if (close)
		bconn_free(c);
}

/* Sends s (may be NULL) after ms, then closes if asked; cancelled if c
 * goes first. */
static void
bc_later(struct bconn *c, int ms, const char *s, bool close)
{
	struct later *l = xcalloc(1, sizeof(*l));
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	l->c = c;
	l->s = s;
	l->close = close;
	l->ev = evtimer_new(c->b->base, later_cb, l);
	evtimer_add(l->ev, &tv);
	LIST_INSERT_HEAD(&c->b->laters, l, entry);
}

/* Whether c->req holds a complete request; *total is its length. */
static bool
bconn_complete(struct bconn *c, size_t *total)
{
	struct evbuffer_ptr p;

	if (c->head_len == 0) {
		char *h, *v;
		size_t i;

		p = evbuffer_search(c->req, "\r\n\r\n", 4, NULL);
		if (p.pos < 0)
			return false;
		c->head_len = (size_t)p.pos + 4;
		h = xstrndup((const char *)evbuffer_pullup(c->req,
		    (ev_ssize_t)c->head_len), c->head_len);
		for (i = 0; h[i] != '\0'; i++)
			h[i] = (char)tolower((unsigned char)h[i]);
		c->cl = 0;
		c->chunked = strstr(h, "transfer-encoding: chunked") != NULL;
		if ((v = strstr(h, "content-length: ")) != NULL)
			c->cl = strtoull(v + 16, NULL, 10);
		free(h);
	}
	if (c->chunked) {
		struct evbuffer_ptr start;

		evbuffer_ptr_set(c->req, &start, c->head_len - 2,
		    EVBUFFER_PTR_SET);
		p = evbuffer_search(c->req, "\r\n0\r\n\r\n", 7, &start);
		if (p.pos < 0)
			return false;
		*total = (size_t)p.pos + 7;
		return true;
	}
	*total = c->head_len + c->cl;
	return evbuffer_get_length(c->req) >= *total;
}

static void
bconn_read_cb(struct bufferevent *bev, void *arg)
{
	struct bconn *c = arg;
	struct backend *b = c->b;
	size_t total;
	int n;

	evbuffer_add_buffer(c->req, bufferevent_get_input(bev));
	if (b->hang_up_on_tls && evbuffer_get_length(c->req) > 0 &&
	    !isupper(*evbuffer_pullup(c->req, 1))) {
		bconn_free(c);
		return;
	}
	while (bconn_complete(c, &total)) {
		evbuffer_remove_buffer(c->req, b->seen, total);
		c->head_len = 0;
		n = b->requests++;
		b->reply(c, n);
		/* The reply may have closed c. */
		return;
	}
}

static void
bconn_write_cb(struct bufferevent *bev, void *arg)
{
	struct bconn *c = arg;

	if (c->close_after &&
	    evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bconn_free(c);
}

static void
bconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct bconn *c = arg;

	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
		c->b->closes++;
		bconn_free(c);
	}
}

static void
backend_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct backend *b = arg;
	struct bconn *c = xcalloc(1, sizeof(*c));

	(void)lis;
	(void)sa;
	(void)salen;
	b->accepts++;
	if (b->hang_up_at_once) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->b = b;
	c->req = evbuffer_new();
	if (b->tls != NULL)
		c->bev = bufferevent_openssl_socket_new(b->base, fd,
		    SSL_new(b->tls), BUFFEREVENT_SSL_ACCEPTING,
		    BEV_OPT_CLOSE_ON_FREE);
	else
		c->bev = bufferevent_socket_new(b->base, fd,
		    BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(c->bev);
	bufferevent_setcb(c->bev, bconn_read_cb, bconn_write_cb,
	    bconn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	LIST_INSERT_HEAD(&b->conns, c, entry);
}

static void
backend_init(struct backend *b, struct event_base *base, SSL_CTX *tls)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(b, 0, sizeof(*b));
	b->base = base;
	b->tls = tls;
	b->seen = evbuffer_new();
	LIST_INIT(&b->conns);
	LIST_INIT(&b->laters);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->lis = evconnlistener_new_bind(base, backend_accept_cb, b,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 16,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(b->lis);
	assert_int_equal(getsockname(evconnlistener_get_fd(b->lis),
	    (struct sockaddr *)&sin, &len), 0);
	b->port = ntohs(sin.sin_port);
}

static void
backend_dispose(struct backend *b)
{
	while (!LIST_EMPTY(&b->conns))
		bconn_free(LIST_FIRST(&b->conns));
	if (b->lis != NULL)
		evconnlistener_free(b->lis);
	evbuffer_free(b->seen);
	SSL_CTX_free(b->tls);
}

/* The n-th complete request the backend saw, NUL-terminated (freed by
 * the caller); NULL if there are fewer. */
static char *
backend_request(struct backend *b, int n)
{
	size_t len = evbuffer_get_length(b->seen);
	const char *s = (const char *)evbuffer_pullup(b->seen, -1);
	const char *p = s, *e;
	int i;

	for (i = 0; p < s + len; i++) {
		e = memmem(p, (size_t)(s + len - p), "\r\n\r\n", 4);
		if (e == NULL)
			return NULL;
		e += 4;
		/* A body, if any, runs to the next request line. */
		while (e < s + len && !(e[0] == 'G' || e[0] == 'P' ||
		    e[0] == 'H' || e[0] == 'D'))
			e++;
		if (i == n)
			return xstrndup(p, (size_t)(e - p));
		p = e;
	}
	return NULL;
}

/* --- replies -------------------------------------------------------- */

static const char OK5[] =
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello";

static void
reply_ok(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, OK5);
}

static void
reply_chunked_split(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhel");
	bc_later(c, 30, "lo\r\n6\r\n world\r\n0\r\nX-T", false);
	bc_later(c, 60, ": 1\r\n\r\n", false);
}

static void
reply_until_close(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send_close(c, "HTTP/1.1 200 OK\r\n\r\nabc");
}

/* Answers with keep-alive, then closes the idle connection 20 ms later. */
static void
reply_then_close_later(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, OK5);
	bc_later(c, 20, NULL, true);
}

/* Answers, then sends a 408 on the idle connection and keeps it open. */
static void
reply_then_408(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, OK5);
	bc_later(c, 20, "HTTP/1.1 408 Request Timeout\r\n"
	    "Content-Length: 0\r\n\r\n", false);
}

/* Answers, and closes as soon as the answer is out. */
static void
reply_then_close(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send_close(c, OK5);
}

/* The first request on a connection is answered; the second finds the
 * connection closed by the server (as if its keep-alive timer fired just
 * as the request went out). */
static void
reply_drop_second(struct bconn *c, int n)
{
	(void)n;
	if (c->nreq++ == 0)
		bc_send(c, OK5);
	else
		bconn_free(c);
}

static void
reply_partial_then_close(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send_close(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
}

static void
reply_bad_status(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, "HTTP/1.1 2x0 OK\r\nContent-Length: 0\r\n\r\n");
}

static void
reply_bad_chunk(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "zz\r\nabc\r\n");
}

static void
reply_huge_head(struct bconn *c, int n)
{
	char line[1024];
	int i;

	(void)n;
	c->nreq++;
	memset(line, 'a', sizeof(line));
	memcpy(line, "X-Long: ", 8);
	memcpy(line + sizeof(line) - 2, "\r\n", 2);
	bc_send(c, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < 70; i++)
		bufferevent_write(c->bev, line, sizeof(line));
}

static void
reply_many_headers(struct bconn *c, int n)
{
	int i;

	(void)n;
	c->nreq++;
	bc_send(c, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < 129; i++)
		evbuffer_add_printf(bufferevent_get_output(c->bev),
		    "X-H%d: %d\r\n", i, i);
	bc_send(c, "Content-Length: 0\r\n\r\n");
}

static void
reply_head(struct bconn *c, int n)
{
	(void)n;
	if (c->nreq++ == 0)
		bc_send(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
	else
		bc_send(c, OK5);
}

static void
reply_continue(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_send(c, "HTTP/1.1 100 Continue\r\n\r\n"
	    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
}

static unsigned char
pattern(size_t i)
{
	return (unsigned char)((i * 7 + i / 251) & 0xff);
}

static void
reply_big(struct bconn *c, int n)
{
	unsigned char *buf = xmalloc(BIG);
	size_t i;

	(void)n;
	c->nreq++;
	for (i = 0; i < BIG; i++)
		buf[i] = pattern(i);
	evbuffer_add_printf(bufferevent_get_output(c->bev),
	    "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", BIG);
	bufferevent_write(c->bev, buf, BIG);
	free(buf);
}

static void
reply_slow(struct bconn *c, int n)
{
	(void)n;
	c->nreq++;
	bc_later(c, 50, OK5, false);
}

/* --- the environment -------------------------------------------------- */

struct env {
	struct event_base *base;
	struct event *tick;
	struct gw_worker w;
	struct backend b;
	struct gw_host host;
	struct gw_pool *pool;
	SSL_CTX *client_tls;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
}

/* Replaces e->pool with a pool for name:port. */
static void
env_pool(struct env *e, const char *name, uint16_t port, bool tls,
    const struct gw_pool_limits *lim)
{
	gw_pool_destroy(e->pool);
	free(e->host.name);
	e->host.name = xstrdup(name);
	e->host.port = port;
	e->host.tls = tls;
	e->pool = gw_pool_create(&e->w, &e->host, lim);
}

static int
env_setup(void **state)
{
	struct env *e = xcalloc(1, sizeof(*e));
	struct timeval tv = { 0, 5000 };

	e->base = event_base_new();
	e->tick = event_new(e->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(e->tick, &tv);
	e->w.base = e->base;
	gw_flusher_init(&e->w.flusher, e->base);
	/* No name servers: names come from the hosts entries only. */
	e->w.dns = evdns_base_new(e->base, 0);
	evdns_base_load_hosts(e->w.dns, NULL);
	backend_init(&e->b, e->base, NULL);
	e->b.reply = reply_ok;
	env_pool(e, "127.0.0.1", e->b.port, false, NULL);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	gw_pool_destroy(e->pool);
	backend_dispose(&e->b);
	RUN_FOR(e, 20);
	event_free(e->tick);
	evdns_base_free(e->w.dns, 0);
	gw_flusher_fini(&e->w.flusher);
	event_base_free(e->base);
	SSL_CTX_free(e->client_tls);
	free(e->host.name);
	free(e);
	return 0;
}

static const char GET_A[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\n";

/* A GET with no body, started on e->pool. */
static struct mock_stream *
start_get(struct env *e, const char *head)
{
	struct mock_stream *ms = mock_stream_new("GET", head);

	ms->st.req_done = true;
	assert_int_equal(gw_upstream_start(e->pool, &ms->st), 0);
	assert_non_null(ms->st.up);
	return ms;
}

static void
assert_body(struct mock_stream *ms, const char *want)
{
	size_t n = evbuffer_get_length(ms->body);

	assert_int_equal(n, strlen(want));
	assert_memory_equal(evbuffer_pullup(ms->body, -1), want, n);
}

/* --- tests ------------------------------------------------------------ */

static void
test_get_content_length(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms = start_get(e, GET_A);
	char *req, want[64];

	/* Nothing happens inside gw_upstream_start(). */
	assert_int_equal(ms->ready, 0);
	assert_false(ms->done);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->errors, 0);
	assert_int_equal(ms->ready, 1);
	assert_int_equal(ms->heads, 1);
	assert_int_equal(ms->status, 200);
	assert_int_equal(ms->content_length, 5);
	assert_non_null(strstr(ms->hdrs, "X-A: b\n"));
	assert_body(ms, "hello");
	assert_true(ms->trailers_null);
	assert_null(ms->st.up);
	snprintf(want, sizeof(want), "127.0.0.1:%u", e->b.port);
	assert_string_equal(ms->st.upstream_addr, want);
	/* The backend got the head as the stream wrote it. */
	req = backend_request(&e->b, 0);
	assert_string_equal(req, GET_A);
	free(req);
	/* Clean end: pooled. */
	assert_int_equal(gw_pool_idle(e->pool), 1);
	assert_int_equal(gw_pool_total(e->pool), 1);
	mock_stream_free(ms);
}

static void
test_chunked_split(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_chunked_split;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->content_length, -1);
	assert_body(ms, "hello world");
	assert_true(ms->data_calls >= 2);
	assert_int_equal(ms->ntrailers, 1);
	assert_string_equal(ms->trailers, "X-T: 1\n");
	assert_int_equal(gw_pool_idle(e->pool), 1);
	mock_stream_free(ms);
}

static void
test_until_close(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_until_close;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->errors, 0);
	assert_int_equal(ms->content_length, -1);
	assert_body(ms, "abc");
	/* Framed by the close: never pooled. */
	assert_int_equal(gw_pool_idle(e->pool), 0);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);
}

static void
test_reuse(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	b = start_get(e, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_body(b, "hello");
	assert_int_equal(e->b.accepts, 1);
	assert_int_equal(e->b.requests, 2);
	assert_int_equal(b->st.retries, 0);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	assert_int_equal(gw_pool_total(e->pool), 1);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_idle_closed_by_server(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_then_close_later;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	/* The server's close is seen while the connection is idle. */
	RUN_UNTIL(e, gw_pool_idle(e->pool) == 0, WAIT_MS);
	assert_int_equal(gw_pool_idle(e->pool), 0);
	assert_int_equal(gw_pool_total(e->pool), 0);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_int_equal(b->st.retries, 0);
	assert_int_equal(e->b.accepts, 2);
	mock_stream_free(a);
	mock_stream_free(b);
}

/* Bytes on an idle connection answer nothing we asked: it leaves the
 * pool. */
static void
test_idle_unexpected_bytes(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_then_408;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	RUN_UNTIL(e, gw_pool_idle(e->pool) == 0, WAIT_MS);
	assert_int_equal(gw_pool_total(e->pool), 0);
	RUN_UNTIL(e, e->b.closes == 1, WAIT_MS);
	assert_int_equal(e->b.closes, 1);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_int_equal(b->status, 200);
	assert_int_equal(e->b.accepts, 2);
	mock_stream_free(a);
	mock_stream_free(b);
}

/* The close arrives while the loop does not run.  A POST, which cannot
 * be retried, gets the check on reuse (pending EOF on the socket): the
 * connection is refused before anything is written. */
static void
test_idle_close_seen_on_reuse(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_then_close;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	usleep(100 * 1000);
	b = mock_stream_new("POST",
	    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n");
	evbuffer_add(b->st.req_body, "abc", 3);
	b->st.req_done = true;
	assert_int_equal(gw_upstream_start(e->pool, &b->st), 0);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_int_equal(b->errors, 0);
	assert_int_equal(b->st.retries, 0);
	assert_int_equal(e->b.accepts, 2);
	mock_stream_free(a);
	mock_stream_free(b);
}

/* The same for a GET idle less than a second: no look at the socket (a
 * system call per request saved); the write meets the close, and the
 * idempotent request is retried on a new connection. */
static void
test_idle_close_get_retried(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_then_close;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	usleep(100 * 1000);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_int_equal(b->errors, 0);
	assert_int_equal(b->status, 200);
	assert_int_equal(b->st.retries, 1);
	assert_int_equal(e->b.accepts, 2);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_retry_get_on_reused(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;
	char *req;

	e->b.reply = reply_drop_second;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	b = start_get(e, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
	RUN_UNTIL(e, b->done, WAIT_MS);
	/* The stream never saw the failed attempt. */
	assert_true(b->ended);
	assert_int_equal(b->errors, 0);
	assert_int_equal(b->heads, 1);
	assert_int_equal(b->st.retries, 1);
	assert_int_equal(b->ready, 2);
	assert_body(b, "hello");
	assert_int_equal(e->b.accepts, 2);
	req = backend_request(&e->b, 2);
	assert_string_equal(req, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
	free(req);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_post_not_retried(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_drop_second;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	b = mock_stream_new("POST",
	    "POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\n");
	evbuffer_add(b->st.req_body, "abc", 3);
	b->st.req_done = true;
	gw_upstream_start(e->pool, &b->st);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_false(b->ended);
	assert_int_equal(b->errors, 1);
	assert_ptr_equal(b->error, gw_upstream_err_reset);
	assert_int_equal(b->st.retries, 0);
	assert_null(b->st.up);
	RUN_FOR(e, 50);
	assert_int_equal(e->b.accepts, 1);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(a);
	mock_stream_free(b);
}

/* A failure after response bytes is never retried, even for GET. */
static void
test_reset_mid_response(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_partial_then_close;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->heads, 1);
	assert_body(ms, "abc");
	assert_false(ms->ended);
	assert_ptr_equal(ms->error, gw_upstream_err_reset);
	assert_int_equal(ms->st.retries, 0);
	assert_int_equal(e->b.accepts, 1);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);
}

static void
test_connect_refused(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;
	uint16_t port = e->b.port;

	/* Nothing listens there any more. */
	evconnlistener_free(e->b.lis);
	e->b.lis = NULL;
	env_pool(e, "127.0.0.1", port, false, NULL);
	ms = start_get(e, GET_A);
	assert_int_equal(ms->errors, 0);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->errors, 1);
	assert_ptr_equal(ms->error, gw_upstream_err_connect);
	assert_int_equal(ms->ready, 0);
	assert_null(ms->st.up);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);
}

static void
test_bad_response(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_bad_status;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->heads, 0);
	assert_ptr_equal(ms->error, gw_upstream_err_bad_response);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);

	e->b.reply = reply_bad_chunk;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->heads, 1);
	assert_false(ms->ended);
	assert_ptr_equal(ms->error, gw_upstream_err_bad_response);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);
}

static void
test_head_too_large(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_huge_head;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->heads, 0);
	assert_ptr_equal(ms->error, gw_upstream_err_too_large);
	mock_stream_free(ms);

	e->b.reply = reply_many_headers;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->heads, 0);
	assert_ptr_equal(ms->error, gw_upstream_err_too_large);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);
}

static void
test_request_body_chunked(void **state)
{
	struct env *e = *state;
	static const char head[] = "POST /u HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	struct mock_stream *ms = mock_stream_new("POST", head);
	char *req, want[256];

	ms->st.req_chunked = true;
	evbuffer_add(ms->st.req_body, "abc", 3);
	gw_upstream_start(e->pool, &ms->st);
	RUN_UNTIL(e, ms->drained == 1, WAIT_MS);
	assert_int_equal(ms->drained, 1);
	assert_int_equal(evbuffer_get_length(ms->st.req_body), 0);
	/* More body, then the end, as the front delivers it. */
	evbuffer_add(ms->st.req_body, "defg", 4);
	gw_upstream_pump(ms->st.up);
	assert_int_equal(ms->drained, 2);
	ms->st.req_done = true;
	gw_upstream_pump(ms->st.up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	snprintf(want, sizeof(want), "%s3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
	    head);
	req = backend_request(&e->b, 0);
	assert_string_equal(req, want);
	free(req);
	/* Request and response complete: pooled. */
	assert_int_equal(gw_pool_idle(e->pool), 1);
	mock_stream_free(ms);
}

#define FIRST_BODY (300 * 1024)

static void
feed_more(struct mock_stream *ms)
{
	size_t n = GW_MIN(ms->feed_left, (size_t)(48 * 1024)), i;
	size_t off = BIG - ms->feed_left;
	unsigned char buf[48 * 1024];

	for (i = 0; i < n; i++)
		buf[i] = pattern(off + i);
	evbuffer_add(ms->st.req_body, buf, n);
	ms->feed_left -= n;
	if (ms->feed_left == 0)
		ms->st.req_done = true;
}

static void
test_request_body_content_length(void **state)
{
	struct env *e = *state;
	char head[128];
	struct mock_stream *ms;
	const unsigned char *p;
	unsigned char *first;
	size_t i, hlen;

	hlen = (size_t)snprintf(head, sizeof(head),
	    "PUT /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
	    BIG);
	ms = mock_stream_new("PUT", head);
	first = xmalloc(FIRST_BODY);
	for (i = 0; i < FIRST_BODY; i++)
		first[i] = pattern(i);
	evbuffer_add(ms->st.req_body, first, FIRST_BODY);
	free(first);
	ms->feed_left = BIG - FIRST_BODY;
	ms->on_drained = feed_more;
	gw_upstream_start(e->pool, &ms->st);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->errors, 0);
	/* Back-pressure: the first move stopped at the high watermark,
	 * head included. */
	assert_int_equal(ms->first_drain_left,
	    FIRST_BODY - (GW_STREAM_HIGH_WATER - hlen));
	assert_true(ms->drained > 2);
	/* Every byte arrived, in order. */
	assert_int_equal(evbuffer_get_length(e->b.seen), hlen + BIG);
	p = evbuffer_pullup(e->b.seen, -1);
	assert_memory_equal(p, head, hlen);
	for (i = 0; i < BIG; i++)
		if (p[hlen + i] != pattern(i))
			fail_msg("body byte %zu differs", i);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	mock_stream_free(ms);
}

static void
test_pause_resume(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;
	const unsigned char *p;
	size_t got, i;

	e->b.reply = reply_big;
	ms = start_get(e, GET_A);
	ms->pause_on_data = true;
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	got = evbuffer_get_length(ms->body);
	assert_true(got > 0 && got < BIG);
	/* Paused: nothing more reaches the stream. */
	RUN_FOR(e, 100);
	assert_int_equal(evbuffer_get_length(ms->body), got);
	assert_int_equal(ms->data_calls, 1);
	assert_false(ms->done);
	gw_upstream_resume(ms->st.up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(evbuffer_get_length(ms->body), BIG);
	p = evbuffer_pullup(ms->body, -1);
	for (i = 0; i < BIG; i++)
		if (p[i] != pattern(i))
			fail_msg("body byte %zu differs", i);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	mock_stream_free(ms);
}

static void
test_release_mid_response(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_big;
	ms = start_get(e, GET_A);
	ms->release_on_data = true;
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	assert_int_equal(ms->data_calls, 1);
	assert_null(ms->st.up);
	/* Released mid-body: closed, not pooled. */
	assert_int_equal(gw_pool_idle(e->pool), 0);
	assert_int_equal(gw_pool_total(e->pool), 0);
	RUN_UNTIL(e, e->b.closes == 1, WAIT_MS);
	assert_int_equal(e->b.closes, 1);
	assert_false(ms->done);
	assert_int_equal(ms->data_calls, 1);
	mock_stream_free(ms);
}

/* The stream says -1 from the head (its client is gone): the upstream
 * calls it no more and closes the connection at the release. */
static void
test_stream_gone_at_head(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_big;
	ms = start_get(e, GET_A);
	ms->head_rc = -1;
	RUN_UNTIL(e, ms->heads > 0, WAIT_MS);
	RUN_FOR(e, 50);
	assert_int_equal(ms->data_calls, 0);
	assert_false(ms->done);
	assert_non_null(ms->st.up);
	mock_stream_free(ms);
	assert_int_equal(gw_pool_total(e->pool), 0);
}

/* Release before the exchange even started (client gone while the
 * connection was being opened). */
static void
test_release_before_connect(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms = start_get(e, GET_A);

	assert_int_equal(gw_pool_total(e->pool), 1);
	mock_stream_free(ms);
	assert_int_equal(gw_pool_total(e->pool), 0);
	RUN_FOR(e, 50);
	assert_int_equal(e->b.requests, 0);
}

/* Released after it got an idle connection but before the exchange
 * started: nothing was written, so the connection goes back. */
static void
test_release_before_start(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b, *c;

	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	b = start_get(e, GET_A);
	assert_int_equal(gw_pool_idle(e->pool), 0);
	mock_stream_free(b);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	c = start_get(e, GET_A);
	RUN_UNTIL(e, c->done, WAIT_MS);
	assert_true(c->ended);
	assert_int_equal(e->b.accepts, 1);
	assert_int_equal(e->b.requests, 2);
	mock_stream_free(a);
	mock_stream_free(c);
}

/* A fresh connection the server closes at once: a reset, not a hang, and
 * no retry (the connection was not a reused one). */
static void
test_fresh_closed_at_once(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.hang_up_at_once = true;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_reset);
	assert_int_equal(ms->st.retries, 0);
	assert_int_equal(e->b.accepts, 1);
	mock_stream_free(ms);
}

/* A listener whose accept queue is full drops SYNs: the connect deadline
 * fires. */
static void
test_connect_timeout(void **state)
{
	struct env *e = *state;
	struct gw_pool_limits lim = {
		.connect_timeout_ns = 200 * GW_NS_PER_MS,
	};
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct mock_stream *ms;
	int lfd, cfd[4], i;

	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 0), 0);
	getsockname(lfd, (struct sockaddr *)&sin, &len);
	for (i = 0; i < 4; i++) {
		cfd[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		(void)connect(cfd[i], (struct sockaddr *)&sin, sizeof(sin));
	}
	usleep(50 * 1000);
	env_pool(e, "127.0.0.1", ntohs(sin.sin_port), false, &lim);
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_timeout);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(ms);
	for (i = 0; i < 4; i++)
		close(cfd[i]);
	close(lfd);
}

static void
test_head_request(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_head;
	a = mock_stream_new("HEAD", "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\n");
	a->st.req_done = true;
	gw_upstream_start(e->pool, &a->st);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	assert_int_equal(a->status, 200);
	assert_int_equal(evbuffer_get_length(a->body), 0);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	/* The framing held: the next response on the connection parses. */
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_body(b, "hello");
	assert_int_equal(e->b.accepts, 1);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_continue_skipped(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->b.reply = reply_continue;
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->heads, 1);
	assert_int_equal(ms->status, 200);
	assert_body(ms, "ok");
	mock_stream_free(ms);
}

static void
test_queue_at_max_total(void **state)
{
	struct env *e = *state;
	struct gw_pool_limits lim = { .max_total = 1, .max_queue = 1 };
	struct mock_stream *a, *b, *c;

	e->b.reply = reply_slow;
	env_pool(e, "127.0.0.1", e->b.port, false, &lim);
	a = start_get(e, GET_A);
	b = start_get(e, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
	c = start_get(e, GET_A);
	assert_int_equal(gw_pool_total(e->pool), 1);
	/* The queue holds one: the third fails, later. */
	assert_int_equal(c->errors, 0);
	RUN_UNTIL(e, a->done && b->done && c->done, WAIT_MS);
	assert_ptr_equal(c->error, gw_upstream_err_connect);
	assert_true(a->ended);
	assert_true(b->ended);
	assert_body(b, "hello");
	/* b waited for a's connection and got it. */
	assert_int_equal(e->b.accepts, 1);
	assert_int_equal(e->b.requests, 2);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	mock_stream_free(a);
	mock_stream_free(b);
	mock_stream_free(c);
}

/* A queued stream gets the slot of a connection that closed. */
static void
test_queue_gets_closed_slot(void **state)
{
	struct env *e = *state;
	struct gw_pool_limits lim = { .max_total = 1 };
	struct mock_stream *a, *b;

	e->b.reply = reply_until_close;
	env_pool(e, "127.0.0.1", e->b.port, false, &lim);
	a = start_get(e, GET_A);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, a->done && b->done, WAIT_MS);
	assert_true(a->ended);
	assert_true(b->ended);
	assert_body(b, "abc");
	assert_int_equal(e->b.accepts, 2);
	assert_int_equal(gw_pool_total(e->pool), 0);
	mock_stream_free(a);
	mock_stream_free(b);
}

/* The structs of a queued stream (dead once it moves to a connection)
 * and of a refused one (dead once told) are the pool's spares, and the
 * next queued and refused streams take them: each round sees the same
 * outcome, none of the last round's state. */
static void
test_queue_structs_reused(void **state)
{
	struct env *e = *state;
	struct gw_pool_limits lim = { .max_total = 1, .max_queue = 1 };
	struct mock_stream *a, *b, *c;
	int round;

	env_pool(e, "127.0.0.1", e->b.port, false, &lim);
	for (round = 0; round < 3; round++) {
		assert_int_equal(gw_pool_spare(e->pool), round == 0 ? 0 : 2);
		a = start_get(e, GET_A);
		b = start_get(e, "GET /b HTTP/1.1\r\nHost: x\r\n\r\n");
		c = start_get(e, GET_A);
		assert_int_equal(gw_pool_spare(e->pool), 0);
		RUN_UNTIL(e, a->done && b->done && c->done, WAIT_MS);
		assert_true(a->ended);
		assert_body(a, "hello");
		assert_true(b->ended);
		assert_int_equal(b->errors, 0);
		assert_int_equal(b->ready, 1);
		assert_int_equal(b->heads, 1);
		assert_int_equal(b->status, 200);
		assert_int_equal(b->st.retries, 0);
		assert_body(b, "hello");
		assert_int_equal(c->errors, 1);
		assert_ptr_equal(c->error, gw_upstream_err_connect);
		assert_int_equal(c->ready, 0);
		assert_int_equal(gw_pool_spare(e->pool), 2);
		mock_stream_free(a);
		mock_stream_free(b);
		mock_stream_free(c);
	}
	assert_int_equal(e->b.accepts, 1);
	assert_int_equal(e->b.requests, 6);
}

/* A queued stream that leaves is simply dropped from the queue. */
static void
test_queue_leave(void **state)
{
	struct env *e = *state;
	struct gw_pool_limits lim = { .max_total = 1 };
	struct mock_stream *a, *b;

	e->b.reply = reply_slow;
	env_pool(e, "127.0.0.1", e->b.port, false, &lim);
	a = start_get(e, GET_A);
	b = start_get(e, GET_A);
	mock_stream_free(b);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	RUN_FOR(e, 20);
	assert_int_equal(e->b.requests, 1);
	assert_int_equal(gw_pool_idle(e->pool), 1);
	mock_stream_free(a);
}

/* The pool goes away (a reload) while an exchange runs: the exchange
 * completes, then its connection closes and the pool is freed (ASan
 * checks the frees). */
static void
test_destroy_with_busy(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->b.reply = reply_slow;
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->ready > 0, WAIT_MS);
	assert_int_equal(b->ready, 1);
	gw_pool_destroy(e->pool);
	e->pool = NULL;
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_body(b, "hello");
	RUN_UNTIL(e, e->b.closes == 1, WAIT_MS);
	assert_int_equal(e->b.closes, 1);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_dns_localhost(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	/* "localhost" may give ::1 first, where nothing listens: the next
	 * address is tried. */
	env_pool(e, "localhost", e->b.port, false, NULL);
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_true(a->ended);
	assert_int_equal(a->errors, 0);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_int_equal(e->b.accepts, 1);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_dns_failure(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd;

	/* A name server that never answers, and no hosts entry. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	getsockname(fd, (struct sockaddr *)&sin, &len);
	assert_int_equal(evdns_base_nameserver_sockaddr_add(e->w.dns,
	    (struct sockaddr *)&sin, sizeof(sin), 0), 0);
	evdns_base_set_option(e->w.dns, "timeout", "0.2");
	evdns_base_set_option(e->w.dns, "attempts", "1");
	env_pool(e, "no-such-host.invalid", e->b.port, false, NULL);
	a = start_get(e, GET_A);
	b = start_get(e, GET_A);
	assert_int_equal(a->errors, 0);
	RUN_UNTIL(e, a->done && b->done, WAIT_MS);
	assert_ptr_equal(a->error, gw_upstream_err_dns);
	assert_ptr_equal(b->error, gw_upstream_err_dns);
	assert_int_equal(gw_pool_total(e->pool), 0);
	assert_int_equal(e->b.accepts, 0);
	mock_stream_free(a);
	mock_stream_free(b);
	close(fd);
}

static void
test_ipv6_literal(void **state)
{
	struct env *e = *state;
	struct sockaddr_in6 sin6;
	socklen_t len = sizeof(sin6);
	struct evconnlistener *lis;
	struct mock_stream *ms;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	lis = evconnlistener_new_bind(e->base, backend_accept_cb, &e->b,
	    LEV_OPT_CLOSE_ON_FREE, 16, (struct sockaddr *)&sin6,
	    sizeof(sin6));
	if (lis == NULL)
		skip();
	getsockname(evconnlistener_get_fd(lis), (struct sockaddr *)&sin6,
	    &len);
	env_pool(e, "::1", ntohs(sin6.sin6_port), false, NULL);
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_memory_equal(ms->st.upstream_addr, "[::1]:", 6);
	mock_stream_free(ms);
	evconnlistener_free(lis);
}

/* --- TLS ---------------------------------------------------------- */

/* A self-signed certificate with subjectAltName san. */
static void
make_cert(const char *san, EVP_PKEY **pkey, X509 **cert)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *name;
	X509_EXTENSION *ext;
	X509V3_CTX ctx;

	assert_non_null(k);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), -60);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, k);
	name = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)"test backend", -1, -1, 0);
	X509_set_issuer_name(x, name);
	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name, san);
	assert_non_null(ext);
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	assert_true(X509_sign(x, k, EVP_sha256()) > 0);
	*pkey = k;
	*cert = x;
}

/* A TLS backend with a certificate for san, and a client context that
 * trusts that certificate alone. */
static void
env_tls(struct env *e, const char *san)
{
	EVP_PKEY *k;
	X509 *x;
	SSL_CTX *srv;

	make_cert(san, &k, &x);
	srv = SSL_CTX_new(TLS_server_method());
	assert_int_equal(SSL_CTX_use_certificate(srv, x), 1);
	assert_int_equal(SSL_CTX_use_PrivateKey(srv, k), 1);
	backend_dispose(&e->b);
	backend_init(&e->b, e->base, srv);
	e->b.reply = reply_ok;

	e->client_tls = SSL_CTX_new(TLS_client_method());
	X509_STORE_add_cert(SSL_CTX_get_cert_store(e->client_tls), x);
	SSL_CTX_set_verify(e->client_tls, SSL_VERIFY_PEER, NULL);
	e->w.client_tls = e->client_tls;
	X509_free(x);
	EVP_PKEY_free(k);
}

static void
test_tls_ok(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	env_tls(e, "DNS:localhost,IP:127.0.0.1");
	env_pool(e, "127.0.0.1", e->b.port, true, NULL);
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_int_equal(a->errors, 0);
	assert_true(a->ended);
	assert_body(a, "hello");
	b = start_get(e, GET_A);
	RUN_UNTIL(e, b->done, WAIT_MS);
	assert_true(b->ended);
	assert_int_equal(e->b.accepts, 1);
	mock_stream_free(a);
	mock_stream_free(b);

	/* By name too (SNI and host-name check). */
	env_pool(e, "localhost", e->b.port, true, NULL);
	a = start_get(e, GET_A);
	RUN_UNTIL(e, a->done, WAIT_MS);
	assert_int_equal(a->errors, 0);
	assert_true(a->ended);
	mock_stream_free(a);
}

static void
test_tls_name_mismatch(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	env_tls(e, "DNS:other.example");
	env_pool(e, "127.0.0.1", e->b.port, true, NULL);
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_tls);
	assert_int_equal(ms->ready, 0);
	assert_int_equal(e->b.requests, 0);
	mock_stream_free(ms);
}

static void
test_tls_to_plaintext(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->client_tls = gw_upstream_tls_ctx_create();
	e->w.client_tls = e->client_tls;
	e->b.hang_up_on_tls = true;
	env_pool(e, "127.0.0.1", e->b.port, true, NULL);
	ms = start_get(e, GET_A);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_tls);
	mock_stream_free(ms);
}

static void
test_idle_timeout_and_max_idle(void **state)
{
	struct env *e = *state;
	struct gw_pool_limits lim = {
		.max_idle = 1,
		.idle_timeout_ns = 100 * GW_NS_PER_MS,
	};
	struct mock_stream *a, *b;

	e->b.reply = reply_slow;
	env_pool(e, "127.0.0.1", e->b.port, false, &lim);
	a = start_get(e, GET_A);
	b = start_get(e, GET_A);
	RUN_UNTIL(e, a->done && b->done, WAIT_MS);
	assert_true(a->ended && b->ended);
	assert_int_equal(e->b.accepts, 2);
	/* Only one is kept... */
	assert_int_equal(gw_pool_idle(e->pool), 1);
	assert_int_equal(gw_pool_total(e->pool), 1);
	/* ...and only for a while. */
	RUN_UNTIL(e, gw_pool_idle(e->pool) == 0, WAIT_MS);
	assert_int_equal(gw_pool_total(e->pool), 0);
	RUN_UNTIL(e, e->b.closes == 2, WAIT_MS);
	assert_int_equal(e->b.closes, 2);
	mock_stream_free(a);
	mock_stream_free(b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
		T(test_get_content_length),
		T(test_chunked_split),
		T(test_until_close),
		T(test_reuse),
		T(test_idle_closed_by_server),
		T(test_idle_close_seen_on_reuse),
		T(test_idle_close_get_retried),
		T(test_idle_unexpected_bytes),
		T(test_retry_get_on_reused),
		T(test_post_not_retried),
		T(test_reset_mid_response),
		T(test_connect_refused),
		T(test_bad_response),
		T(test_head_too_large),
		T(test_request_body_chunked),
		T(test_request_body_content_length),
		T(test_pause_resume),
		T(test_release_mid_response),
		T(test_stream_gone_at_head),
		T(test_release_before_connect),
		T(test_release_before_start),
		T(test_fresh_closed_at_once),
		T(test_connect_timeout),
		T(test_head_request),
		T(test_continue_skipped),
		T(test_queue_at_max_total),
		T(test_queue_gets_closed_slot),
		T(test_queue_leave),
		T(test_queue_structs_reused),
		T(test_destroy_with_busy),
		T(test_dns_localhost),
		T(test_dns_failure),
		T(test_ipv6_literal),
		T(test_tls_ok),
		T(test_tls_name_mismatch),
		T(test_tls_to_plaintext),
		T(test_idle_timeout_and_max_idle),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
