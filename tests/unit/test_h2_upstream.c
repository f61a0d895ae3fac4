/*
 * test_h2_upstream.c: h2c:// pools (upstream.c's HTTP/2 client) against
 * an nghttp2 server written here, on a loopback listener, all on one
 * event_base.  The stream side is mock_stream.c, as in test_upstream.c.
 *
 * The server answers each request when it is complete, as its `mode`
 * says, and records what it saw (accepted connections, the last
 * request's fields and body, how streams were closed), so that each test
 * checks both ends.  Every wait is bounded (RUN_UNTIL).
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

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <nghttp2/nghttp2.h>

#include "config.h"
#include "gw.h"
#include "mock_stream.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

#define WAIT_MS 3000             /* the longest any wait may take */
#define BIG (1024 * 1024)        /* a response larger than a window */
#define WINDOW (256 * 1024)      /* the gateway's stream window */

#define RUN_UNTIL(e, cond, ms) do {					\
	int64_t dl_ = gw_now_ns() + (int64_t)(ms) * GW_NS_PER_MS;	\
	while (!(cond) && gw_now_ns() < dl_)				\
		event_base_loop((e)->base, EVLOOP_ONCE);		\
} while (0)

#define RUN_FOR(e, ms) RUN_UNTIL(e, false, ms)

/* --- the nghttp2 server ------------------------------------------------ */

enum mode {
	M_OK = 0,        /* 200, content-length 5, "hello" */
	M_ECHO,          /* 200, the request body back */
	M_BIG,           /* 200, BIG bytes of pattern() */
	M_TRAILERS,      /* 200, "grpc", trailers grpc-status: 0 */
	M_RST,           /* RST_STREAM(INTERNAL_ERROR) */
	M_CLOSE,         /* closes the connection at the 3rd request */
	M_SLOW,          /* 200, 10 bytes, then nothing */
	M_GOAWAY,        /* at stream 3: GOAWAY(last 1), answers 1; later
			    connections answer as M_OK */
	M_MANY,          /* 200 with MANY_FIELDS fields (too many) */
};

#define MANY_FIELDS 140          /* above the gateway's 128 */

struct server;

struct sconn {
	struct server *s;
	struct bufferevent *bev;
	nghttp2_session *ss;
	bool close_now;          /* free after this read */
	LIST_ENTRY(sconn) entry;
};

struct sstream {
	int32_t id;
	struct evbuffer *in;     /* request body */
	struct evbuffer *out;    /* response body still to send */
	bool trailers;
	bool slow;               /* M_SLOW: never ends */
	LIST_ENTRY(sstream) entry;   /* server.streams */
};

struct server {
	struct event_base *base;
	struct evconnlistener *lis;
	uint16_t port;
	enum mode mode;
	uint32_t max_streams;    /* SETTINGS_MAX_CONCURRENT_STREAMS */
	int accepts;
	int requests;            /* complete requests seen */
	int cancels;             /* streams closed by the peer's CANCEL */
	char method[16], path[64], authority[64], scheme[16];
	char fields[1024];       /* regular fields, "name: value\n" */
	struct evbuffer *body;   /* last request body */
	size_t big_sent;         /* M_BIG bytes handed to nghttp2 */
	LIST_HEAD(, sconn) conns;
	LIST_HEAD(, sstream) streams;    /* open on any connection */
};

static size_t
pattern(size_t i)
{
	return (unsigned char)(i * 7 + i / 251);
}

static void
sstream_free(struct sstream *st)
{
	LIST_REMOVE(st, entry);
	evbuffer_free(st->in);
	evbuffer_free(st->out);
	free(st);
}

static void
sconn_free(struct sconn *c)
{
	LIST_REMOVE(c, entry);
	nghttp2_session_del(c->ss);
	bufferevent_free(c->bev);
	free(c);
}

static ssize_t
srv_send_cb(nghttp2_session *ss, const uint8_t *data, size_t len, int flags,
    void *arg)
{
	struct sconn *c = arg;

	(void)ss;
	(void)flags;
	evbuffer_add(bufferevent_get_output(c->bev), data, len);
	return (ssize_t)len;
}

static ssize_t
srv_read_cb(nghttp2_session *ss, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct sstream *st = src->ptr;
	struct sconn *c = arg;
	int n;

	(void)id;
	if (st->slow && evbuffer_get_length(st->out) == 0)
		return NGHTTP2_ERR_DEFERRED;
	n = evbuffer_remove(st->out, buf, len);
	if (c->s->mode == M_BIG)
		c->s->big_sent += (size_t)n;
	if (evbuffer_get_length(st->out) == 0 && !st->slow) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (st->trailers) {
			nghttp2_nv tr[] = {{ (uint8_t *)"grpc-status",
			    (uint8_t *)"0", 11, 1, 0 }};

			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			nghttp2_submit_trailer(ss, id, tr, 1);
		}
	}
	return n;
}

static void
srv_respond(struct sconn *c, int32_t id, struct sstream *st)
{
	struct server *s = c->s;
	nghttp2_nv hdr[] = {
		{ (uint8_t *)":status", (uint8_t *)"200", 7, 3, 0 },
		{ (uint8_t *)"x-a", (uint8_t *)"b", 3, 1, 0 },
		{ (uint8_t *)"content-length", (uint8_t *)"5", 14, 1, 0 },
	};
	nghttp2_data_provider prd = { { .ptr = st }, srv_read_cb };
	size_t nhdr = 2, i;

	s->requests++;
	switch (s->mode) {
	case M_RST:
		nghttp2_submit_rst_stream(c->ss, 0, id,
		    NGHTTP2_INTERNAL_ERROR);
		return;
	case M_CLOSE:
		if (s->requests >= 3)
			c->close_now = true;
		return;
	case M_GOAWAY:
		if (id == 1)
			return;  /* answered with the GOAWAY below */
		nghttp2_submit_goaway(c->ss, 0, 1, NGHTTP2_NO_ERROR, NULL, 0);
		s->mode = M_OK;
		if ((st = nghttp2_session_get_stream_user_data(c->ss, 1)) ==
		    NULL)
			return;
		prd.source.ptr = st;
		evbuffer_add(st->out, "hello", 5);
		nghttp2_submit_response(c->ss, 1, hdr, 3, &prd);
		return;
	case M_OK:
		evbuffer_add(st->out, "hello", 5);
		nhdr = 3;
		break;
	case M_ECHO:
		evbuffer_add_buffer(st->out, st->in);
		break;
	case M_BIG:
		for (i = 0; i < BIG; i++) {
			unsigned char b = (unsigned char)pattern(i);

			evbuffer_add(st->out, &b, 1);
		}
		break;
	case M_TRAILERS:
		evbuffer_add(st->out, "grpc", 4);
		st->trailers = true;
		break;
	case M_SLOW:
		evbuffer_add(st->out, "0123456789", 10);
		st->slow = true;
		break;
	case M_MANY: {
		nghttp2_nv many[MANY_FIELDS + 1];
		static char names[MANY_FIELDS][8];

		many[0] = hdr[0];
		for (i = 0; i < MANY_FIELDS; i++) {
			snprintf(names[i], sizeof(names[i]), "x-%zu", i);
			many[i + 1] = (nghttp2_nv){ (uint8_t *)names[i],
			    (uint8_t *)"v", strlen(names[i]), 1, 0 };
		}
		nghttp2_submit_response(c->ss, id, many, MANY_FIELDS + 1,
		    NULL);
		return;
	}
	}
	nghttp2_submit_response(c->ss, id, hdr, nhdr, &prd);
}

static int
srv_begin_headers_cb(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct sconn *c = arg;
	struct sstream *st;

	if (f->hd.type != NGHTTP2_HEADERS ||
	    f->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	st = xcalloc(1, sizeof(*st));
	st->id = f->hd.stream_id;
	st->in = evbuffer_new();
	st->out = evbuffer_new();
	LIST_INSERT_HEAD(&c->s->streams, st, entry);
	nghttp2_session_set_stream_user_data(ss, f->hd.stream_id, st);
	return 0;
}

#define COPY(dst, v, n) snprintf((dst), sizeof(dst), "%.*s", (int)(n), \
	(const char *)(v))

static int
srv_header_cb(nghttp2_session *ss, const nghttp2_frame *f,
    const uint8_t *name, size_t nl, const uint8_t *value, size_t vl,
    uint8_t flags, void *arg)
{
	struct sconn *c = arg;
	struct server *s = c->s;
	size_t len;

	(void)ss;
	(void)f;
	(void)flags;
	if (nl == 7 && memcmp(name, ":method", 7) == 0)
		COPY(s->method, value, vl);
	else if (nl == 5 && memcmp(name, ":path", 5) == 0)
		COPY(s->path, value, vl);
	else if (nl == 10 && memcmp(name, ":authority", 10) == 0)
		COPY(s->authority, value, vl);
	else if (nl == 7 && memcmp(name, ":scheme", 7) == 0)
		COPY(s->scheme, value, vl);
	else {
		len = strlen(s->fields);
		snprintf(s->fields + len, sizeof(s->fields) - len,
		    "%.*s: %.*s\n", (int)nl, (const char *)name, (int)vl,
		    (const char *)value);
	}
	return 0;
}

static int
srv_data_cb(nghttp2_session *ss, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct sstream *st = nghttp2_session_get_stream_user_data(ss, id);

	(void)flags;
	(void)arg;
	if (st != NULL)
		evbuffer_add(st->in, data, len);
	return 0;
}

static int
srv_frame_recv_cb(nghttp2_session *ss, const nghttp2_frame *f, void *arg)
{
	struct sconn *c = arg;
	struct sstream *st;

	if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
	    !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = nghttp2_session_get_stream_user_data(ss, f->hd.stream_id);
	if (st == NULL)
		return 0;
	evbuffer_drain(c->s->body, evbuffer_get_length(c->s->body));
	evbuffer_add(c->s->body, evbuffer_pullup(st->in, -1),
	    evbuffer_get_length(st->in));
	srv_respond(c, f->hd.stream_id, st);
	return 0;
}

static int
srv_close_cb(nghttp2_session *ss, int32_t id, uint32_t code, void *arg)
{
	struct sconn *c = arg;
	struct sstream *st = nghttp2_session_get_stream_user_data(ss, id);

	if (code == NGHTTP2_CANCEL)
		c->s->cancels++;
	if (st != NULL)
		sstream_free(st);
	return 0;
}

static void
sconn_io(struct sconn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in);
	ssize_t n;

	if (len > 0) {
		n = nghttp2_session_mem_recv(c->ss, evbuffer_pullup(in, -1),
		    len);
		if (n < 0 || c->close_now) {
			sconn_free(c);
			return;
		}
		evbuffer_drain(in, (size_t)n);
	}
	if (nghttp2_session_send(c->ss) != 0)
		sconn_free(c);
}

static void
sconn_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	sconn_io(arg);
}

static void
sconn_write_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	sconn_io(arg);
}

static void
sconn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		sconn_free(arg);
}

static void
srv_accept_cb(struct evconnlistener *lis, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server *s = arg;
	struct sconn *c = xcalloc(1, sizeof(*c));
	nghttp2_session_callbacks *cb;
	nghttp2_settings_entry iv = {
		NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, s->max_streams };

	(void)lis;
	(void)sa;
	(void)salen;
	s->accepts++;
	c->s = s;
	c->bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE);
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, srv_send_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    srv_begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback(cb, srv_header_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    srv_data_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    srv_frame_recv_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    srv_close_cb);
	nghttp2_session_server_new(&c->ss, cb, c);
	nghttp2_session_callbacks_del(cb);
	nghttp2_submit_settings(c->ss, 0, &iv, 1);
	LIST_INSERT_HEAD(&s->conns, c, entry);
	bufferevent_setcb(c->bev, sconn_read_cb, sconn_write_cb,
	    sconn_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	sconn_io(c);
}

static void
server_init(struct server *s, struct event_base *base)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->base = base;
	s->max_streams = 1000;
	s->body = evbuffer_new();
	LIST_INIT(&s->conns);
	LIST_INIT(&s->streams);
	s->lis = evconnlistener_new_bind(base, srv_accept_cb, s,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 64,
	    (struct sockaddr *)&sin, sizeof(sin));
	assert_non_null(s->lis);
	getsockname(evconnlistener_get_fd(s->lis), (struct sockaddr *)&sin,
	    &len);
	s->port = ntohs(sin.sin_port);
}

static void
server_dispose(struct server *s)
{
	while (!LIST_EMPTY(&s->conns))
		sconn_free(LIST_FIRST(&s->conns));
	/* Streams of a deleted session get no close callback. */
	while (!LIST_EMPTY(&s->streams))
		sstream_free(LIST_FIRST(&s->streams));
	if (s->lis != NULL)
		evconnlistener_free(s->lis);
	evbuffer_free(s->body);
}

/* --- the environment --------------------------------------------------- */

struct env {
	struct event_base *base;
	struct event *tick;
	struct gw_worker w;
	struct server s;
	struct gw_host host;
	struct gw_pool *pool;
};

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
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
	server_init(&e->s, e->base);
	e->host.name = xstrdup("127.0.0.1");
	e->host.port = e->s.port;
	e->host.h2 = true;
	e->pool = gw_pool_create(&e->w, &e->host, NULL);
	*state = e;
	return 0;
}

static int
env_teardown(void **state)
{
	struct env *e = *state;

	gw_pool_destroy(e->pool);
	RUN_FOR(e, 20);
	server_dispose(&e->s);
	RUN_FOR(e, 20);
	event_free(e->tick);
	gw_flusher_fini(&e->w.flusher);
	event_base_free(e->base);
	free(e->host.name);
	free(e);
	return 0;
}

static const char GET_A[] = "GET /a?q=1 HTTP/1.1\r\nHost: api.test:8080\r\n"
    "Connection: keep-alive\r\nX-Custom: v1\r\nTE: gzip\r\n\r\n";

static struct mock_stream *
start_get(struct env *e)
{
	struct mock_stream *ms = mock_stream_new("GET", GET_A);

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

/* --- tests ------------------------------------------------------------- */

static void
test_get(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms = start_get(e);
	char want[64];

	assert_int_equal(ms->ready, 0);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->errors, 0);
	assert_int_equal(ms->ready, 1);
	assert_int_equal(ms->status, 200);
	assert_int_equal(ms->content_length, 5);
	assert_non_null(strstr(ms->hdrs, "x-a: b\n"));
	assert_body(ms, "hello");
	assert_true(ms->trailers_null);
	assert_null(ms->st.up);
	snprintf(want, sizeof(want), "127.0.0.1:%u", e->s.port);
	assert_string_equal(ms->st.upstream_addr, want);
	/* The head became HTTP/2 fields: Host is :authority, the
	 * connection-specific fields are gone, names are lower case. */
	assert_string_equal(e->s.method, "GET");
	assert_string_equal(e->s.path, "/a?q=1");
	assert_string_equal(e->s.scheme, "http");
	assert_string_equal(e->s.authority, "api.test:8080");
	assert_string_equal(e->s.fields, "x-custom: v1\n");
	/* The connection stays for the next stream. */
	assert_int_equal(gw_pool_total(e->pool), 1);
	mock_stream_free(ms);
	ms = start_get(e);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(e->s.accepts, 1);
	mock_stream_free(ms);
}

static void
feed_more(struct mock_stream *ms)
{
	size_t n = GW_MIN(ms->feed_left, (size_t)(48 * 1024)), i;
	size_t off = BIG - ms->feed_left;
	unsigned char buf[48 * 1024];

	for (i = 0; i < n; i++)
		buf[i] = (unsigned char)pattern(off + i);
	evbuffer_add(ms->st.req_body, buf, n);
	ms->feed_left -= n;
	if (ms->feed_left == 0)
		ms->st.req_done = true;
	gw_upstream_pump(ms->st.up);
}

static void
test_post_streamed(void **state)
{
	struct env *e = *state;
	static const char head[] = "POST /u HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	struct mock_stream *ms = mock_stream_new("POST", head);
	const unsigned char *p;
	size_t i;

	e->s.mode = M_ECHO;
	/* Chunked toward an HTTP/1.1 backend; never framed so on h2. */
	ms->st.req_chunked = true;
	ms->feed_left = BIG;
	ms->on_drained = feed_more;
	feed_more(ms);
	gw_upstream_start(e->pool, &ms->st);
	RUN_UNTIL(e, ms->done, 2 * WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->errors, 0);
	assert_true(ms->drained > 2);
	assert_string_equal(e->s.method, "POST");
	assert_null(strstr(e->s.fields, "transfer-encoding"));
	assert_int_equal(evbuffer_get_length(e->s.body), BIG);
	assert_int_equal(evbuffer_get_length(ms->body), BIG);
	p = evbuffer_pullup(e->s.body, -1);
	for (i = 0; i < BIG; i++)
		if (p[i] != (unsigned char)pattern(i))
			fail_msg("body byte %zu differs", i);
	mock_stream_free(ms);
}

static void
test_body_waits_for_pump(void **state)
{
	struct env *e = *state;
	static const char head[] = "PUT /u HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 7\r\n\r\n";
	struct mock_stream *ms = mock_stream_new("PUT", head);

	e->s.mode = M_ECHO;
	evbuffer_add(ms->st.req_body, "abc", 3);
	gw_upstream_start(e->pool, &ms->st);
	RUN_UNTIL(e, ms->drained == 1, WAIT_MS);
	assert_int_equal(ms->drained, 1);
	RUN_FOR(e, 50);
	assert_int_equal(e->s.requests, 0);
	evbuffer_add(ms->st.req_body, "defg", 4);
	ms->st.req_done = true;
	gw_upstream_pump(ms->st.up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_body(ms, "abcdefg");
	assert_non_null(strstr(e->s.fields, "content-length: 7\n"));
	mock_stream_free(ms);
}

#define NSTREAMS 60

static void
test_many_streams_one_connection(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms[NSTREAMS];
	int i;

	for (i = 0; i < NSTREAMS; i++)
		ms[i] = start_get(e);
	for (i = 0; i < NSTREAMS; i++) {
		RUN_UNTIL(e, ms[i]->done, WAIT_MS);
		assert_true(ms[i]->ended);
		assert_body(ms[i], "hello");
		mock_stream_free(ms[i]);
	}
	assert_int_equal(e->s.requests, NSTREAMS);
	assert_int_equal(e->s.accepts, 1);
	assert_int_equal(gw_pool_total(e->pool), 1);
}

/* At the backend's SETTINGS_MAX_CONCURRENT_STREAMS, a new stream opens
 * another connection instead of waiting behind the others. */
static void
test_max_concurrent_opens_another(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b, *c, *d;

	e->s.max_streams = 2;
	e->s.mode = M_SLOW;
	a = start_get(e);
	b = start_get(e);
	RUN_UNTIL(e, a->data_calls > 0 && b->data_calls > 0, WAIT_MS);
	assert_int_equal(e->s.accepts, 1);
	e->s.mode = M_OK;
	c = start_get(e);
	RUN_UNTIL(e, c->done, WAIT_MS);
	assert_true(c->ended);
	assert_int_equal(e->s.accepts, 2);
	assert_int_equal(gw_pool_total(e->pool), 2);
	/* Once a stream of the first one is gone, it has room again. */
	mock_stream_free(a);
	d = start_get(e);
	RUN_UNTIL(e, d->done, WAIT_MS);
	assert_true(d->ended);
	assert_int_equal(e->s.accepts, 2);
	mock_stream_free(b);
	mock_stream_free(c);
	mock_stream_free(d);
}

static void
test_window_as_consumed(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;
	const unsigned char *p;
	size_t got, i;

	e->s.mode = M_BIG;
	ms = start_get(e);
	ms->pause_on_data = true;
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	RUN_FOR(e, 200);
	got = evbuffer_get_length(ms->body);
	/* Paused: the stream got one piece; the backend could send no
	 * more than the stream's window. */
	assert_int_equal(ms->data_calls, 1);
	assert_true(got > 0 && got < BIG);
	assert_true(e->s.big_sent <= WINDOW);
	assert_false(ms->done);
	gw_upstream_resume(ms->st.up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->content_length, -1);
	assert_int_equal(evbuffer_get_length(ms->body), BIG);
	p = evbuffer_pullup(ms->body, -1);
	for (i = 0; i < BIG; i++)
		if (p[i] != (unsigned char)pattern(i))
			fail_msg("body byte %zu differs", i);
	mock_stream_free(ms);
}

static void
test_trailers(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->s.mode = M_TRAILERS;
	ms = start_get(e);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_body(ms, "grpc");
	assert_false(ms->trailers_null);
	assert_int_equal(ms->ntrailers, 1);
	assert_string_equal(ms->trailers, "grpc-status: 0\n");
	mock_stream_free(ms);
}

static void
test_rst_from_server(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms, *ok;

	e->s.mode = M_RST;
	ms = start_get(e);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_int_equal(ms->errors, 1);
	assert_ptr_equal(ms->error, gw_upstream_err_reset);
	assert_null(ms->st.up);
	assert_int_equal(ms->st.retries, 0);
	/* One stream failed, not the connection. */
	e->s.mode = M_OK;
	ok = start_get(e);
	RUN_UNTIL(e, ok->done, WAIT_MS);
	assert_true(ok->ended);
	assert_int_equal(e->s.accepts, 1);
	mock_stream_free(ms);
	mock_stream_free(ok);
}

static void
test_server_closes(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms[3], *next;
	int i;

	e->s.mode = M_CLOSE;
	for (i = 0; i < 3; i++)
		ms[i] = start_get(e);
	for (i = 0; i < 3; i++) {
		RUN_UNTIL(e, ms[i]->done, WAIT_MS);
		assert_int_equal(ms[i]->errors, 1);
		assert_ptr_equal(ms[i]->error, gw_upstream_err_reset);
		mock_stream_free(ms[i]);
	}
	RUN_FOR(e, 20);
	assert_int_equal(gw_pool_total(e->pool), 0);
	/* The next stream gets a new connection. */
	e->s.mode = M_OK;
	next = start_get(e);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_int_equal(e->s.accepts, 2);
	mock_stream_free(next);
}

static void
test_release_mid_response(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms, *next;

	e->s.mode = M_SLOW;
	ms = start_get(e);
	ms->release_on_data = true;
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	assert_null(ms->st.up);
	assert_false(ms->done);
	/* The backend hears RST_STREAM(CANCEL). */
	RUN_UNTIL(e, e->s.cancels == 1, WAIT_MS);
	assert_int_equal(e->s.cancels, 1);
	/* The session serves the next stream. */
	e->s.mode = M_OK;
	next = start_get(e);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_body(next, "hello");
	assert_int_equal(e->s.accepts, 1);
	mock_stream_free(ms);
	mock_stream_free(next);
}

static void
test_release_before_connect(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms = start_get(e), *next;

	mock_stream_free(ms);
	RUN_FOR(e, 50);
	assert_int_equal(e->s.requests, 0);
	next = start_get(e);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_int_equal(e->s.accepts, 1);
	mock_stream_free(next);
}

static void
test_goaway_retries(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	e->s.mode = M_GOAWAY;
	a = start_get(e);
	b = start_get(e);
	RUN_UNTIL(e, a->done && b->done, WAIT_MS);
	/* Stream 1 was answered; stream 3, above the GOAWAY's last id,
	 * went again on a new connection. */
	assert_true(a->ended);
	assert_body(a, "hello");
	assert_true(b->ended);
	assert_body(b, "hello");
	assert_int_equal(a->st.retries, 0);
	assert_int_equal(b->st.retries, 1);
	assert_int_equal(b->ready, 2);
	assert_int_equal(e->s.accepts, 2);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_connect_refused(void **state)
{
	struct env *e = *state;
	struct mock_stream *a, *b;

	/* Nothing listens there any more. */
	evconnlistener_free(e->s.lis);
	e->s.lis = NULL;
	a = start_get(e);
	b = start_get(e);
	RUN_UNTIL(e, a->done && b->done, WAIT_MS);
	assert_ptr_equal(a->error, gw_upstream_err_connect);
	assert_ptr_equal(b->error, gw_upstream_err_connect);
	assert_int_equal(a->ready, 0);
	mock_stream_free(a);
	mock_stream_free(b);
}

static void
test_destroy_with_busy(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;

	e->s.mode = M_SLOW;
	ms = start_get(e);
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	gw_pool_destroy(e->pool);
	e->pool = NULL;
	/* The stream still runs; its release closes the connection (which
	 * cancels the stream with it) and frees the pool (checked by the
	 * ASan runs). */
	assert_false(ms->done);
	mock_stream_free(ms);
	RUN_UNTIL(e, LIST_EMPTY(&e->s.conns), WAIT_MS);
	assert_true(LIST_EMPTY(&e->s.conns));
}

/* --- reuse of dead stream structs (the pool's spares) ----------------- */

/* Sequential streams reuse one struct, most recently dead first: the
 * pool holds one spare between them, and each answer is whole. */
static void
test_spare_sequential(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms;
	struct gw_upstream *first = NULL;
	int i;

	assert_int_equal(gw_pool_spare(e->pool), 0);
	for (i = 0; i < 200; i++) {
		ms = start_get(e);
		if (i == 0)
			first = ms->st.up;
		else
			assert_ptr_equal(ms->st.up, first);
		assert_int_equal(gw_pool_spare(e->pool), 0);
		RUN_UNTIL(e, ms->done, WAIT_MS);
		assert_true(ms->ended);
		assert_int_equal(ms->errors, 0);
		assert_int_equal(ms->ready, 1);
		assert_int_equal(ms->heads, 1);
		assert_int_equal(ms->status, 200);
		assert_int_equal(ms->content_length, 5);
		assert_string_equal(ms->hdrs, "x-a: b\ncontent-length: 5\n");
		assert_body(ms, "hello");
		assert_true(ms->trailers_null);
		/* Ended: the struct is a spare already. */
		assert_int_equal(gw_pool_spare(e->pool), 1);
		mock_stream_free(ms);
	}
	assert_int_equal(e->s.requests, 200);
	assert_int_equal(e->s.accepts, 1);
}

#define NCONC 300

/* More streams at once than the pool keeps spares: each gets its own
 * struct, all answers are whole, and the spares stop at the bound
 * (256); a second wave takes them again. */
static void
test_spare_concurrent_bounded(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms[NCONC];
	int round, i;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < NCONC; i++)
			ms[i] = start_get(e);
		for (i = 0; i < NCONC; i++) {
			int j;

			for (j = 0; j < i; j++)
				assert_ptr_not_equal(ms[i]->st.up,
				    ms[j]->st.up);
		}
		/* The second wave took every spare there was. */
		assert_int_equal(gw_pool_spare(e->pool), 0);
		for (i = 0; i < NCONC; i++) {
			RUN_UNTIL(e, ms[i]->done, WAIT_MS);
			assert_true(ms[i]->ended);
			assert_int_equal(ms[i]->errors, 0);
			assert_int_equal(ms[i]->status, 200);
			assert_string_equal(ms[i]->hdrs,
			    "x-a: b\ncontent-length: 5\n");
			assert_body(ms[i], "hello");
			assert_true(ms[i]->trailers_null);
		}
		for (i = 0; i < NCONC; i++)
			mock_stream_free(ms[i]);
		assert_int_equal(gw_pool_spare(e->pool), 256);
	}
	assert_int_equal(e->s.requests, 2 * NCONC);
}

/* A stream let go with response body held (paused) and one let go with
 * its trailers held: the struct each leaves is reused, and the next
 * exchange on it sees none of that: its own head, body and no trailers.
 * Then one reset by the backend, reused the same way. */
static void
test_spare_no_stale_state(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms, *next;
	struct gw_upstream *up;

	/* Body held: a paused stream takes one piece, the rest of the
	 * window waits in the struct. */
	e->s.mode = M_BIG;
	ms = start_get(e);
	up = ms->st.up;
	ms->pause_on_data = true;
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	RUN_UNTIL(e, e->s.big_sent >= WINDOW / 2, WAIT_MS);
	RUN_FOR(e, 50);
	assert_false(ms->done);
	mock_stream_free(ms);
	assert_int_equal(gw_pool_spare(e->pool), 1);
	e->s.mode = M_OK;
	next = start_get(e);
	assert_ptr_equal(next->st.up, up);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_int_equal(next->ready, 1);
	assert_int_equal(next->status, 200);
	assert_int_equal(next->content_length, 5);
	assert_string_equal(next->hdrs, "x-a: b\ncontent-length: 5\n");
	assert_body(next, "hello");
	assert_int_equal(next->data_calls, 1);
	assert_true(next->trailers_null);
	mock_stream_free(next);
	RUN_UNTIL(e, e->s.cancels == 1, WAIT_MS);

	/* Trailers held: the whole response came while paused. */
	e->s.mode = M_TRAILERS;
	ms = start_get(e);
	assert_ptr_equal(ms->st.up, up);
	ms->pause_on_data = true;
	RUN_UNTIL(e, ms->data_calls > 0, WAIT_MS);
	RUN_FOR(e, 50);
	assert_false(ms->done);
	mock_stream_free(ms);
	e->s.mode = M_OK;
	next = start_get(e);
	assert_ptr_equal(next->st.up, up);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_string_equal(next->hdrs, "x-a: b\ncontent-length: 5\n");
	assert_body(next, "hello");
	assert_true(next->trailers_null);
	assert_int_equal(next->ntrailers, 0);
	mock_stream_free(next);

	/* Reset by the backend: the failed struct serves the next. */
	e->s.mode = M_RST;
	ms = start_get(e);
	assert_ptr_equal(ms->st.up, up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_reset);
	mock_stream_free(ms);
	e->s.mode = M_OK;
	next = start_get(e);
	assert_ptr_equal(next->st.up, up);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_int_equal(next->errors, 0);
	assert_null(next->error);
	assert_int_equal(next->st.retries, 0);
	assert_body(next, "hello");
	mock_stream_free(next);
	assert_int_equal(e->s.accepts, 1);
}

/* A struct whose stream got response bytes, then one that failed with
 * too many fields: reused, neither shows.  A refused stream on the first
 * is retried (it got no byte of its own), the next exchange on the
 * second counts its fields from zero, and a reset reports a reset. */
static void
test_spare_no_stale_verdicts(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms, *next;
	struct gw_upstream *up;

	ms = start_get(e);
	up = ms->st.up;
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	mock_stream_free(ms);
	/* Stream 3, above the GOAWAY's last id 1: refused. */
	e->s.mode = M_GOAWAY;
	ms = start_get(e);
	assert_ptr_equal(ms->st.up, up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_true(ms->ended);
	assert_int_equal(ms->errors, 0);
	assert_int_equal(ms->st.retries, 1);
	assert_body(ms, "hello");
	assert_int_equal(e->s.accepts, 2);
	mock_stream_free(ms);
	RUN_FOR(e, 20);

	e->s.mode = M_MANY;
	ms = start_get(e);
	up = ms->st.up;
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_too_large);
	mock_stream_free(ms);
	e->s.mode = M_RST;
	ms = start_get(e);
	assert_ptr_equal(ms->st.up, up);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_reset);
	mock_stream_free(ms);
	e->s.mode = M_MANY;
	ms = start_get(e);
	up = ms->st.up;
	RUN_UNTIL(e, ms->done, WAIT_MS);
	assert_ptr_equal(ms->error, gw_upstream_err_too_large);
	mock_stream_free(ms);
	e->s.mode = M_OK;
	next = start_get(e);
	assert_ptr_equal(next->st.up, up);
	RUN_UNTIL(e, next->done, WAIT_MS);
	assert_true(next->ended);
	assert_int_equal(next->errors, 0);
	assert_string_equal(next->hdrs, "x-a: b\ncontent-length: 5\n");
	assert_body(next, "hello");
	mock_stream_free(next);
}

/* A stream let go before its kick ran (its connection ready): the
 * struct is reused at once, and the new stream starts once, alone. */
static void
test_spare_released_before_kick(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms, *next;
	struct gw_upstream *up;

	ms = start_get(e);
	RUN_UNTIL(e, ms->done, WAIT_MS);
	mock_stream_free(ms);
	ms = start_get(e);
	up = ms->st.up;
	mock_stream_free(ms);
	next = start_get(e);
	assert_ptr_equal(next->st.up, up);
	RUN_UNTIL(e, next->done, WAIT_MS);
	RUN_FOR(e, 20);
	assert_true(next->ended);
	assert_int_equal(next->ready, 1);
	assert_int_equal(next->heads, 1);
	assert_body(next, "hello");
	assert_int_equal(e->s.requests, 2);
	mock_stream_free(next);
}

/* The pool goes with spares and a busy stream: the spares are freed at
 * once, the stream's struct with the pool at its release (the leak
 * checks of the valgrind and ASan runs see the rest). */
static void
test_destroy_with_spares(void **state)
{
	struct env *e = *state;
	struct mock_stream *ms[3], *busy;
	struct gw_pool *p = e->pool;
	int i;

	for (i = 0; i < 3; i++)
		ms[i] = start_get(e);
	for (i = 0; i < 3; i++)
		RUN_UNTIL(e, ms[i]->done, WAIT_MS);
	for (i = 0; i < 3; i++)
		mock_stream_free(ms[i]);
	assert_int_equal(gw_pool_spare(p), 3);
	e->s.mode = M_SLOW;
	busy = start_get(e);
	assert_int_equal(gw_pool_spare(p), 2);
	RUN_UNTIL(e, busy->data_calls > 0, WAIT_MS);
	gw_pool_destroy(p);
	e->pool = NULL;
	/* Still there: a stream holds it. */
	assert_int_equal(gw_pool_spare(p), 0);
	mock_stream_free(busy);
	RUN_UNTIL(e, LIST_EMPTY(&e->s.conns), WAIT_MS);
	assert_true(LIST_EMPTY(&e->s.conns));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, env_setup, env_teardown)
		T(test_get),
		T(test_post_streamed),
		T(test_body_waits_for_pump),
		T(test_many_streams_one_connection),
		T(test_max_concurrent_opens_another),
		T(test_window_as_consumed),
		T(test_trailers),
		T(test_rst_from_server),
		T(test_server_closes),
		T(test_release_mid_response),
		T(test_release_before_connect),
		T(test_goaway_retries),
		T(test_connect_refused),
		T(test_destroy_with_busy),
		T(test_spare_sequential),
		T(test_spare_concurrent_bounded),
		T(test_spare_no_stale_state),
		T(test_spare_no_stale_verdicts),
		T(test_spare_released_before_kick),
		T(test_destroy_with_spares),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
