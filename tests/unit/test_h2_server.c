/*
 * test_h2_server.c: the HTTP/2 front driven by a real nghttp2 client
 * session over a socketpair, both on one event_base with bounded loops;
 * the stream layer is mock_h2_stream.c.  h2_server.c is included to
 * reach its statics (rate limiter, shutdown delay, limits).
 *
 * Every test ends in finish(): the connection is freed (if the test did
 * not close it) and every stream created was destroyed exactly once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <sys/socket.h>

#include <errno.h>
#include <signal.h>
#include <unistd.h>

#include "h2_server.c"
#include "mock_h2_stream.c"

#define MAX_CSTREAMS 2048
#define BIG (1024 * 1024)

/* What the client saw of one stream. */
struct cstream {
	int status;
	size_t body_len;
	char body[64];           /* the first bytes, NUL-terminated */
	bool closed;
	uint32_t error_code;     /* from on_stream_close */
	bool rst;                /* RST_STREAM received */
	uint32_t rst_code;
	bool trailers;           /* a trailer block arrived */
	bool trailers_end;       /* ...with END_STREAM */
	char grpc_status[8];
	char content_length[24];
	bool hop_field;          /* a connection-specific field leaked */
	char mixed_case[8];      /* value of x-mixed-case */
	bool ws_accept;          /* sec-websocket-accept leaked */
	size_t unconsumed;       /* manual flow control: not yet consumed */
};

/* A request body the client sends. */
struct body_src {
	const uint8_t *data;
	size_t len;
	size_t off;
	bool trailers;
};

struct test {
	struct event_base *base;
	struct gw_worker w;
	struct gw_conn *c;       /* NULL once gw_conn_free() ran */
	int frees;
	int fd;                  /* the client's end */
	nghttp2_session *cs;     /* the client */
	struct evbuffer *cout;   /* client bytes not yet written */
	struct cstream s[MAX_CSTREAMS];
	struct body_src src[8];
	size_t nsrc;
	bool manual_consume;     /* client consumes by hand (window) */
	bool strip_101;          /* h2c: skip the HTTP/1.1 101 first */
	char pre[512];
	size_t npre;
	bool eof;
	int goaways;
	uint32_t goaway_error;
	int32_t goaway_last;
};

static struct test *T;

static uint8_t big_body[BIG];

/* The conn.c stand-in: frees what h2_server.c would leave to it. */
void
gw_conn_free(struct gw_conn *c)
{
	gw_h2_server_free(c);
	gw_sockio_detach(&c->sockio);
	bufferevent_free(c->bev);
	free(c);
	if (T != NULL && T->c == c) {
		T->c = NULL;
		T->frees++;
	}
}

/* conn.c's parking: these tests never park (the integration tests do). */
bool
gw_conn_can_park(const struct gw_conn *c)
{
	(void)c;
	return false;
}

void
gw_conn_park(struct gw_conn *c, struct event *ev,
    void (*cb)(int, short, void *), void *arg, int64_t idle_ns)
{
	(void)c, (void)ev, (void)cb, (void)arg, (void)idle_ns;
	fail_msg("gw_conn_park called");
}

int
gw_conn_unpark(struct gw_conn *c, struct event *ev,
    void (*cb)(int, short, void *), void *arg)
{
	(void)c, (void)ev, (void)cb, (void)arg;
	fail_msg("gw_conn_unpark called");
	return -1;
}

/* --- client ------------------------------------------------------------ */

static struct cstream *
cs_get(struct test *t, int32_t id)
{
	if (id <= 0 || (id - 1) / 2 >= MAX_CSTREAMS)
		return NULL;
	return &t->s[(id - 1) / 2];
}

#define IS(lit) (namelen == sizeof(lit) - 1 && \
    memcmp(name, lit, sizeof(lit) - 1) == 0)

static void
copy_value(char *dst, size_t size, const uint8_t *v, size_t len)
{
	mock_copy(dst, size, (const char *)v, len);
}

static int
c_on_header(nghttp2_session *s, const nghttp2_frame *frame,
    const uint8_t *name, size_t namelen, const uint8_t *value,
    size_t valuelen, uint8_t flags, void *arg)
{
	struct test *t = arg;
	struct cstream *cs = cs_get(t, frame->hd.stream_id);

	if (cs == NULL || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (frame->headers.cat == NGHTTP2_HCAT_HEADERS && cs->status >= 200) {
		cs->trailers = true;
		if (IS("grpc-status"))
			copy_value(cs->grpc_status, sizeof cs->grpc_status,
			    value, valuelen);
		return 0;
	}
	if (IS(":status"))
		cs->status = atoi((const char *)value);
	else if (IS("content-length"))
		copy_value(cs->content_length, sizeof cs->content_length,
		    value, valuelen);
	else if (IS("connection") || IS("transfer-encoding") ||
	    IS("keep-alive") || IS("upgrade"))
		cs->hop_field = true;
	else if (IS("x-mixed-case"))
		copy_value(cs->mixed_case, sizeof cs->mixed_case, value,
		    valuelen);
	else if (IS("sec-websocket-accept"))
		cs->ws_accept = true;
	return 0;
}

static int
c_on_data(nghttp2_session *s, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct test *t = arg;
	struct cstream *cs = cs_get(t, id);
	size_t room;

	if (cs == NULL)
		return 0;
	if (cs->body_len < sizeof cs->body - 1) {
		room = sizeof cs->body - 1 - cs->body_len;
		memcpy(cs->body + cs->body_len, data, GW_MIN(room, len));
	}
	cs->body_len += len;
	if (t->manual_consume)
		cs->unconsumed += len;
	return 0;
}

static int
c_on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *arg)
{
	struct test *t = arg;
	struct cstream *cs = cs_get(t, frame->hd.stream_id);

	switch (frame->hd.type) {
	case NGHTTP2_GOAWAY:
		t->goaways++;
		t->goaway_error = frame->goaway.error_code;
		t->goaway_last = frame->goaway.last_stream_id;
		break;
	case NGHTTP2_RST_STREAM:
		if (cs != NULL) {
			cs->rst = true;
			cs->rst_code = frame->rst_stream.error_code;
		}
		break;
	case NGHTTP2_HEADERS:
		if (cs != NULL && frame->headers.cat == NGHTTP2_HCAT_HEADERS &&
		    (frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			cs->trailers_end = true;
		break;
	default:
		break;
	}
	return 0;
}

static int
c_on_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *arg)
{
	struct test *t = arg;
	struct cstream *cs = cs_get(t, id);

	if (cs != NULL) {
		cs->closed = true;
		cs->error_code = error_code;
	}
	return 0;
}

static ssize_t
c_body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len,
    uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	static const nghttp2_nv tr[] = {
		{ (uint8_t *)"x-checksum", (uint8_t *)"abc", 10, 3,
		  NGHTTP2_NV_FLAG_NONE },
	};
	struct body_src *b = source->ptr;
	size_t n = GW_MIN(len, b->len - b->off);

	memcpy(buf, b->data + b->off, n);
	b->off += n;
	if (b->off == b->len) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (b->trailers) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			if (nghttp2_submit_trailer(s, id, tr, 1) != 0)
				return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
	}
	return (ssize_t)n;
}

/*
 * Creates the client session.  peer_max: the concurrency it assumes
 * before the server's SETTINGS (0: nghttp2's 100).  hdr_max: the largest
 * header block it may send (0: nghttp2's 64 KiB).  settings: submit the
 * client SETTINGS (not for h2c, where upgrade2 does).
 */
static void
client_start(struct test *t, uint32_t peer_max, size_t hdr_max,
    bool settings)
{
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;

	assert_int_equal(nghttp2_session_callbacks_new(&cb), 0);
	nghttp2_session_callbacks_set_on_header_callback(cb, c_on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    c_on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    c_on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    c_on_close);
	assert_int_equal(nghttp2_option_new(&opt), 0);
	if (t->manual_consume)
		nghttp2_option_set_no_auto_window_update(opt, 1);
	if (peer_max > 0)
		nghttp2_option_set_peer_max_concurrent_streams(opt, peer_max);
	if (hdr_max > 0)
		nghttp2_option_set_max_send_header_block_length(opt, hdr_max);
	assert_int_equal(nghttp2_session_client_new2(&t->cs, cb, t, opt), 0);
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);
	if (settings)
		assert_int_equal(nghttp2_submit_settings(t->cs,
		    NGHTTP2_FLAG_NONE, NULL, 0), 0);
}

static void
client_feed(struct test *t, const uint8_t *buf, size_t len)
{
	char *end;
	size_t used;

	if (t->strip_101) {
		used = GW_MIN(len, sizeof t->pre - 1 - t->npre);
		memcpy(t->pre + t->npre, buf, used);
		t->npre += used;
		t->pre[t->npre] = '\0';
		end = strstr(t->pre, "\r\n\r\n");
		if (end == NULL)
			return;
		assert_memory_equal(t->pre, "HTTP/1.1 101 ", 13);
		t->strip_101 = false;
		/* Whatever followed the 101 in this read is HTTP/2. */
		used = (size_t)(end + 4 - t->pre) - (t->npre - used);
		buf += used;
		len -= used;
	}
	if (len > 0)
		(void)nghttp2_session_mem_recv(t->cs, buf, len);
}

/* Moves client bytes both ways; true if any moved. */
static bool
client_io(struct test *t)
{
	struct evbuffer_iovec v;
	const uint8_t *d;
	uint8_t buf[16384];
	ssize_t n;
	bool moved = false;

	while ((n = nghttp2_session_mem_send(t->cs, &d)) > 0)
		evbuffer_add(t->cout, d, (size_t)n);
	while (evbuffer_peek(t->cout, -1, NULL, &v, 1) > 0) {
		n = write(t->fd, v.iov_base, v.iov_len);
		if (n < 0 && errno != EAGAIN) {
			/* The server closed: nobody reads any more. */
			evbuffer_drain(t->cout, evbuffer_get_length(t->cout));
			break;
		}
		if (n <= 0)
			break;
		evbuffer_drain(t->cout, (size_t)n);
		moved = true;
	}
	while (!t->eof) {
		n = read(t->fd, buf, sizeof buf);
		if (n == 0)
			t->eof = true;
		if (n <= 0)
			break;
		client_feed(t, buf, (size_t)n);
		moved = true;
	}
	return moved;
}

static void
pump_once(struct test *t)
{
	bool moved;

	moved = client_io(t);
	event_base_loop(t->base, EVLOOP_NONBLOCK);
	moved |= client_io(t);
	if (!moved)
		usleep(200);
}

/* Runs both sides until cond holds (at most ~4 s of idle turns). */
#define PUMP_UNTIL(t, cond) do {					\
	int pump_i_;							\
	for (pump_i_ = 0; pump_i_ < 20000 && !(cond); pump_i_++)	\
		pump_once(t);						\
	assert_true(cond);						\
} while (0)

static void
pump_quiet(struct test *t, int turns)
{
	while (turns-- > 0)
		pump_once(t);
}

static nghttp2_nv
mknv(const char *name, const char *value)
{
	nghttp2_nv nv;

	nv.name = (uint8_t *)(uintptr_t)name;
	nv.namelen = strlen(name);
	nv.value = (uint8_t *)(uintptr_t)value;
	nv.valuelen = strlen(value);
	nv.flags = NGHTTP2_NV_FLAG_NONE;
	return nv;
}

/* Submits a request; body (may be NULL) is sent from the client. */
static int32_t
request(struct test *t, const char *method, const char *path,
    const nghttp2_nv *extra, size_t nextra, const void *body, size_t len,
    bool trailers)
{
	nghttp2_data_provider prd;
	nghttp2_nv *nv;
	struct body_src *b;
	int32_t id;

	nv = xcalloc(4 + nextra, sizeof *nv);
	nv[0] = mknv(":method", method);
	nv[1] = mknv(":scheme", "http");
	nv[2] = mknv(":authority", "example.com");
	nv[3] = mknv(":path", path);
	if (nextra > 0)
		memcpy(nv + 4, extra, nextra * sizeof *nv);
	if (body != NULL) {
		assert_true(t->nsrc < GW_ARRAY_SIZE(t->src));
		b = &t->src[t->nsrc++];
		b->data = body;
		b->len = len;
		b->off = 0;
		b->trailers = trailers;
		prd.source.ptr = b;
		prd.read_callback = c_body_read;
	}
	id = nghttp2_submit_request(t->cs, NULL, nv, 4 + nextra,
	    body != NULL ? &prd : NULL, NULL);
	free(nv);
	assert_true(id > 0);
	return id;
}

static void
server_start(struct test *t)
{
	assert_int_equal(gw_h2_server_start(t->c), 0);
	assert_int_equal(t->c->proto, GW_PROTO_H2);
}

/* Client and server exchanged SETTINGS (the client saw ours). */
static bool
handshaken(struct test *t)
{
	return nghttp2_session_get_remote_settings(t->cs,
	    NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 100;
}

/* Closes what is left and checks that no stream leaked. */
static void
finish(struct test *t)
{
	if (t->c != NULL)
		gw_conn_free(t->c);
	assert_int_equal(t->frees, 1);
	assert_int_equal(mock.created, mock.destroyed);
	assert_null(mock.live);
}

static int
setup(void **state)
{
	struct test *t;
	int sv[2];

	t = xcalloc(1, sizeof *t);
	t->base = event_base_new();
	assert_non_null(t->base);
	t->w.base = t->base;
	gw_flusher_init(&t->w.flusher, t->base);
	t->w.max_concurrent_streams = 100;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	evutil_make_socket_nonblocking(sv[0]);
	evutil_make_socket_nonblocking(sv[1]);
	t->fd = sv[1];
	t->c = xcalloc(1, sizeof *t->c);
	t->c->parked_fd = -1;
	t->c->worker = &t->w;
	t->c->bev = bufferevent_socket_new(t->base, sv[0],
	    BEV_OPT_CLOSE_ON_FREE);
	assert_non_null(t->c->bev);
	gw_sockio_attach(&t->c->sockio, &t->w.flusher, t->c->bev, false);
	snprintf(t->c->peer_ip, sizeof t->c->peer_ip, "127.0.0.1");
	t->c->peer_port = 4242;
	t->cout = evbuffer_new();
	mock_reset(t->base);
	h2_shutdown_delay_ns = GW_NS_PER_S;
	T = t;
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct test *t = *state;

	if (t->c != NULL)
		gw_conn_free(t->c);
	nghttp2_session_del(t->cs);
	close(t->fd);
	evbuffer_free(t->cout);
	mock_done();
	gw_h2_server_cache_free(&t->w);
	assert_int_equal(t->w.free_h2_streams.n, 0);
	assert_null(t->w.free_h2_streams.head);
	gw_flusher_fini(&t->w.flusher);
	event_base_free(t->base);
	free(t);
	T = NULL;
	return 0;
}

/* --- tests ------------------------------------------------------------- */

/* The flood buckets, with literal timestamps. */
static void
ratelim_burst_refill_and_skew(void **state)
{
	struct h2_ratelim r;
	int64_t t0 = 1000, far;
	int i;

	h2_ratelim_init(&r, 3, 2, t0);
	for (i = 0; i < 3; i++)
		assert_true(h2_ratelim_take(&r, t0));
	assert_false(h2_ratelim_take(&r, t0));
	/* 2 a second: one more after half a second, not before. */
	assert_false(h2_ratelim_take(&r, t0 + GW_NS_PER_S / 2 - 1));
	assert_true(h2_ratelim_take(&r, t0 + GW_NS_PER_S / 2));
	assert_false(h2_ratelim_take(&r, t0 + GW_NS_PER_S / 2));
	/* A clock going back refills nothing. */
	assert_false(h2_ratelim_take(&r, 0));
	/* A century idle: full again, never more than the burst. */
	far = INT64_C(100) * 365 * 86400 * GW_NS_PER_S;
	for (i = 0; i < 3; i++)
		assert_true(h2_ratelim_take(&r, far));
	assert_false(h2_ratelim_take(&r, far));
}

static void
h2_get_hello(void **state)
{
	struct test *t = *state;
	nghttp2_nv extra[3];
	struct cstream *cs;
	int32_t id;

	extra[0] = mknv("cookie", "a=1");
	extra[1] = mknv("user-agent", "test");
	extra[2] = mknv("cookie", "b=2");
	client_start(t, 0, 0, true);
	server_start(t);
	id = request(t, "GET", "/hello", extra, 3, NULL, 0, false);
	cs = cs_get(t, id);
	PUMP_UNTIL(t, cs->closed);

	assert_int_equal(cs->status, 200);
	assert_string_equal(cs->body, "hello");
	assert_int_equal(cs->body_len, 5);
	assert_string_equal(cs->content_length, "5");
	assert_string_equal(cs->mixed_case, "Yes");
	assert_false(cs->hop_field);
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);

	assert_string_equal(mock.last.method, "GET");
	assert_string_equal(mock.last.path, "/hello");
	assert_string_equal(mock.last.authority, "example.com");
	assert_string_equal(mock.last.cookie, "a=1; b=2");
	assert_int_equal(mock.last.nhdrs, 2);
	assert_false(mock.last.has_body);
	assert_int_equal(mock.last.content_length, -1);
	assert_int_equal(mock.ended, 1);
	assert_int_equal(mock.gone, 0);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
}

static void
h2_head_and_204_have_no_body(void **state)
{
	struct test *t = *state;
	struct cstream *head, *empty;

	client_start(t, 0, 0, true);
	server_start(t);
	head = cs_get(t, request(t, "HEAD", "/hello", NULL, 0, NULL, 0,
	    false));
	empty = cs_get(t, request(t, "GET", "/empty", NULL, 0, NULL, 0,
	    false));
	PUMP_UNTIL(t, head->closed && empty->closed);
	assert_int_equal(head->status, 200);
	assert_string_equal(head->content_length, "5");
	assert_int_equal(head->body_len, 0);
	assert_int_equal(head->error_code, NGHTTP2_NO_ERROR);
	assert_int_equal(empty->status, 204);
	assert_int_equal(empty->body_len, 0);
	assert_int_equal(empty->error_code, NGHTTP2_NO_ERROR);
	assert_int_equal(mock.gone, 0);
	finish(t);
}

/*
 * The window opens only through req_consumed: with nothing consumed the
 * client can send exactly the stream window; once consumed, the rest
 * (four windows' worth) flows.
 */
static void
h2_post_window_opens_on_consume(void **state)
{
	struct test *t = *state;
	nghttp2_nv cl = mknv("content-length", "1048576");
	struct cstream *cs;

	mock.consume = MOCK_CONSUME_NEVER;
	client_start(t, 0, 0, true);
	server_start(t);
	cs = cs_get(t, request(t, "POST", "/sink", &cl, 1, big_body, BIG,
	    false));
	pump_quiet(t, 300);
	assert_int_equal(mock.body_bytes, GW_H2_STREAM_WINDOW);
	assert_false(cs->closed);
	assert_true(mock.last.has_body);
	assert_int_equal(mock.last.content_length, BIG);

	mock.consume = MOCK_CONSUME_NOW;
	mock_consume_all();
	PUMP_UNTIL(t, cs->closed);
	assert_int_equal(cs->status, 200);
	assert_string_equal(cs->body, "1048576");
	assert_int_equal(mock.body_bytes, BIG);
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);
	finish(t);
}

/* Consumed on later loop turns, two uploads sharing the connection
 * window (together twice its size). */
static void
h2_post_deferred_consume(void **state)
{
	struct test *t = *state;
	struct cstream *a, *b;

	mock.consume = MOCK_CONSUME_LATER;
	client_start(t, 0, 0, true);
	server_start(t);
	a = cs_get(t, request(t, "POST", "/sink", NULL, 0, big_body, BIG,
	    false));
	b = cs_get(t, request(t, "POST", "/sink", NULL, 0, big_body, BIG,
	    false));
	PUMP_UNTIL(t, a->closed && b->closed);
	assert_string_equal(a->body, "1048576");
	assert_string_equal(b->body, "1048576");
	assert_int_equal(mock.body_bytes, 2 * BIG);
	finish(t);
}

/*
 * Streams reset with body bytes never consumed give those bytes back to
 * the connection window: four stuck uploads fill it exactly, and a fifth
 * upload after their reset still completes.
 */
static void
h2_reset_returns_connection_window(void **state)
{
	struct test *t = *state;
	struct cstream *cs;
	int32_t ids[4];
	int i;

	mock.consume = MOCK_CONSUME_NEVER;
	client_start(t, 0, 0, true);
	server_start(t);
	for (i = 0; i < 4; i++)
		ids[i] = request(t, "POST", "/sink", NULL, 0, big_body, BIG,
		    false);
	pump_quiet(t, 300);
	assert_int_equal(mock.body_bytes, GW_H2_CONN_WINDOW);
	for (i = 0; i < 4; i++)
		nghttp2_submit_rst_stream(t->cs, NGHTTP2_FLAG_NONE, ids[i],
		    NGHTTP2_CANCEL);
	PUMP_UNTIL(t, mock.destroyed == 4);
	assert_int_equal(mock.gone, 4);

	mock.consume = MOCK_CONSUME_NOW;
	cs = cs_get(t, request(t, "POST", "/sink", NULL, 0, big_body, BIG,
	    false));
	PUMP_UNTIL(t, cs->closed);
	assert_string_equal(cs->body, "1048576");
	finish(t);
}

/* Request trailers (gRPC style) end the request; their fields are not
 * passed on. */
static void
h2_post_with_trailers_echo(void **state)
{
	struct test *t = *state;
	static const char msg[] = "hello world";
	struct cstream *cs;

	client_start(t, 0, 0, true);
	server_start(t);
	cs = cs_get(t, request(t, "POST", "/echo", NULL, 0, msg,
	    sizeof msg - 1, true));
	PUMP_UNTIL(t, cs->closed);
	assert_int_equal(cs->status, 200);
	assert_string_equal(cs->body, msg);
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);
	assert_int_equal(mock.ended, 1);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
}

/* A client that heeds SETTINGS_MAX_CONCURRENT_STREAMS queues the rest. */
static void
h2_max_concurrent_streams_queued(void **state)
{
	struct test *t = *state;
	int32_t ids[150];
	int i, done;

	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, handshaken(t));
	for (i = 0; i < 150; i++)
		ids[i] = request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
	pump_quiet(t, 200);
	assert_int_equal(mock.begun, 100);
	mock_release();
	PUMP_UNTIL(t, mock.begun == 150);
	mock_release();
	for (i = 0, done = 0; i < 20000 && done < 150; i++) {
		pump_once(t);
		for (done = 0; done < 150 && cs_get(t, ids[done])->closed;
		    done++)
			;
	}
	for (i = 0; i < 150; i++) {
		assert_true(cs_get(t, ids[i])->closed);
		assert_int_equal(cs_get(t, ids[i])->status, 200);
	}
	finish(t);
}

/* A client that sends before seeing our SETTINGS gets the excess
 * refused (RFC 9113 5.1.2: REFUSED_STREAM, safe to retry). */
static void
h2_max_concurrent_streams_refused(void **state)
{
	struct test *t = *state;
	struct cstream *cs;
	int32_t ids[150];
	int i, j, refused = 0, ok = 0;

	client_start(t, 1000, 0, true);
	for (i = 0; i < 150; i++)
		ids[i] = request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
	server_start(t);
	PUMP_UNTIL(t, mock.begun == 100 && cs_get(t, ids[149])->closed);
	pump_quiet(t, 50);
	assert_int_equal(mock.begun, 100);
	mock_release();
	for (i = 0; i < 20000 && refused + ok < 150; i++) {
		pump_once(t);
		refused = ok = 0;
		for (j = 0; j < 150; j++) {
			cs = cs_get(t, ids[j]);
			if (cs->closed && cs->status == 200)
				ok++;
			else if (cs->closed &&
			    cs->error_code == NGHTTP2_REFUSED_STREAM)
				refused++;
		}
	}
	assert_int_equal(ok, 100);
	assert_int_equal(refused, 50);
	finish(t);
}

/* RST_STREAM from the client: client_gone, then destroy, once each; the
 * connection goes on. */
static void
h2_client_reset_stream(void **state)
{
	struct test *t = *state;
	struct cstream *cs;
	int32_t id;

	client_start(t, 0, 0, true);
	server_start(t);
	id = request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
	PUMP_UNTIL(t, mock.begun == 1);
	nghttp2_submit_rst_stream(t->cs, NGHTTP2_FLAG_NONE, id,
	    NGHTTP2_CANCEL);
	PUMP_UNTIL(t, mock.destroyed == 1);
	assert_int_equal(mock.gone, 1);
	assert_int_equal(mock.op_failures, 0);

	cs = cs_get(t, request(t, "GET", "/hello", NULL, 0, NULL, 0, false));
	PUMP_UNTIL(t, cs->closed);
	assert_int_equal(cs->status, 200);
	assert_int_equal(mock.gone, 1);
	finish(t);
}

/* CVE-2023-44487: streams opened and cancelled at once, without end. */
static void
h2_rapid_reset_goaway(void **state)
{
	struct test *t = *state;
	int64_t start, elapsed;
	int32_t id;
	int i;

	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, handshaken(t));
	start = gw_now_ns();
	for (i = 0; i < 1000 && t->goaways == 0 && !t->eof; i++) {
		id = request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
		client_io(t);
		nghttp2_submit_rst_stream(t->cs, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_CANCEL);
		client_io(t);
		if (i % 16 == 0)
			event_base_loop(t->base, EVLOOP_NONBLOCK);
	}
	PUMP_UNTIL(t, t->c == NULL);
	elapsed = gw_now_ns() - start;
	assert_true(t->goaways > 0);
	assert_int_equal(t->goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
	/* The burst, plus what refilled while the flood ran (slow under
	 * sanitizers or load). */
	assert_true(mock.begun <= GW_H2_RST_BURST + 2 +
	    GW_H2_RST_RATE * elapsed / GW_NS_PER_S);
	assert_true(i < 1000);
	finish(t);
}

/*
 * A response larger than the client's window: the front holds at most
 * about GW_STREAM_HIGH_WATER, tells the stream when it drained, and the
 * body flows as the client opens its window.
 */
static void
h2_response_follows_client_window(void **state)
{
	struct test *t = *state;
	struct cstream *cs;
	int32_t id;
	int i;

	t->manual_consume = true;
	client_start(t, 0, 0, true);
	server_start(t);
	id = request(t, "GET", "/big?n=1048576", NULL, 0, NULL, 0, false);
	cs = cs_get(t, id);
	pump_quiet(t, 300);
	assert_int_equal(cs->body_len, 65535);
	assert_false(cs->closed);
	assert_true(mock.max_pending <= GW_STREAM_HIGH_WATER + MOCK_PIECE);

	for (i = 0; i < 20000 && !cs->closed; i++) {
		if (cs->unconsumed > 0) {
			nghttp2_session_consume(t->cs, id, cs->unconsumed);
			cs->unconsumed = 0;
		}
		pump_once(t);
	}
	assert_true(cs->closed);
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);
	assert_int_equal(cs->status, 200);
	assert_string_equal(cs->content_length, "1048576");
	assert_int_equal(cs->body_len, BIG);
	assert_true(mock.drained >= 1);
	assert_true(mock.max_pending <= GW_STREAM_HIGH_WATER + MOCK_PIECE);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
}

static void
h2_response_trailers(void **state)
{
	struct test *t = *state;
	struct cstream *cs;

	client_start(t, 0, 0, true);
	server_start(t);
	cs = cs_get(t, request(t, "GET", "/trailers", NULL, 0, NULL, 0,
	    false));
	PUMP_UNTIL(t, cs->closed);
	assert_int_equal(cs->status, 200);
	assert_string_equal(cs->body, "abc");
	assert_true(cs->trailers);
	assert_true(cs->trailers_end);
	assert_string_equal(cs->grpc_status, "0");
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
}

/* abort after the head: RST_STREAM(INTERNAL_ERROR), not "client gone". */
static void
h2_abort_resets_stream(void **state)
{
	struct test *t = *state;
	struct cstream *cs;

	client_start(t, 0, 0, true);
	server_start(t);
	cs = cs_get(t, request(t, "GET", "/abort", NULL, 0, NULL, 0, false));
	PUMP_UNTIL(t, cs->closed);
	assert_true(cs->rst);
	assert_int_equal(cs->rst_code, NGHTTP2_INTERNAL_ERROR);
	assert_int_equal(mock.gone, 0);
	assert_int_equal(mock.destroyed, 1);
	finish(t);
}

/* A head over SETTINGS_MAX_HEADER_LIST_SIZE, or with too many fields:
 * 431 on that stream, the stream layer never sees it. */
static void
h2_header_list_too_large_431(void **state)
{
	struct test *t = *state;
	static char value[1001];
	static char names[250][16];
	nghttp2_nv nv[250];
	struct cstream *a, *b, *ok;
	int i;

	memset(value, 'v', sizeof value - 1);
	for (i = 0; i < 250; i++)
		snprintf(names[i], sizeof names[i], "x-fill-%d", i);
	client_start(t, 0, 1024 * 1024, true);
	server_start(t);
	for (i = 0; i < 100; i++)
		nv[i] = mknv(names[i], value);
	a = cs_get(t, request(t, "GET", "/hello", nv, 100, NULL, 0, false));
	for (i = 0; i < 250; i++)
		nv[i] = mknv(names[i], "v");
	b = cs_get(t, request(t, "GET", "/hello", nv, 250, NULL, 0, false));
	PUMP_UNTIL(t, a->closed && b->closed);
	assert_int_equal(a->status, 431);
	assert_int_equal(b->status, 431);
	assert_int_equal(mock.begun, 0);
	assert_int_equal(mock.destroyed, 2);

	ok = cs_get(t, request(t, "GET", "/hello", NULL, 0, NULL, 0, false));
	PUMP_UNTIL(t, ok->closed);
	assert_int_equal(ok->status, 200);
	finish(t);
}

/* Far past the field limit in one block: the connection goes. */
static void
h2_header_flood_goaway(void **state)
{
	struct test *t = *state;
	static char names[GW_H2_ABUSE_HEADER_FIELDS + 10][16];
	nghttp2_nv nv[GW_H2_ABUSE_HEADER_FIELDS + 10];
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(nv); i++) {
		snprintf(names[i], sizeof names[i], "x-%zu", i);
		nv[i] = mknv(names[i], "v");
	}
	client_start(t, 0, 0, true);
	server_start(t);
	request(t, "GET", "/hello", nv, GW_ARRAY_SIZE(nv), NULL, 0, false);
	PUMP_UNTIL(t, t->c == NULL);
	assert_true(t->goaways > 0);
	assert_int_equal(t->goaway_error, NGHTTP2_ENHANCE_YOUR_CALM);
	assert_int_equal(mock.begun, 0);
	finish(t);
}

/* PINGs faster than anyone needs: the connection goes (our bucket, or
 * nghttp2's cap on queued ACKs for a peer that does not read them). */
static void
h2_ping_flood_closes(void **state)
{
	struct test *t = *state;
	int i;

	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, handshaken(t));
	for (i = 0; i < 3000; i++)
		nghttp2_submit_ping(t->cs, NGHTTP2_FLAG_NONE, NULL);
	PUMP_UNTIL(t, t->c == NULL);
	finish(t);
}

/* RFC 8441: extended CONNECT reaches the stream as GET + upgrade, the
 * 101 the stream answers goes out as 200, data flows both ways. */
static void
h2_extended_connect_websocket(void **state)
{
	struct test *t = *state;
	nghttp2_nv nv[6];
	nghttp2_data_provider prd;
	struct body_src *b;
	struct cstream *cs;
	int32_t id;

	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, nghttp2_session_get_remote_settings(t->cs,
	    NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL) == 1);
	nv[0] = mknv(":method", "CONNECT");
	nv[1] = mknv(":protocol", "websocket");
	nv[2] = mknv(":scheme", "http");
	nv[3] = mknv(":path", "/ws");
	nv[4] = mknv(":authority", "example.com");
	nv[5] = mknv("sec-websocket-version", "13");
	b = &t->src[t->nsrc++];
	b->data = (const uint8_t *)"ping";
	b->len = 4;
	prd.source.ptr = b;
	prd.read_callback = c_body_read;
	id = nghttp2_submit_request(t->cs, NULL, nv, 6, &prd, NULL);
	assert_true(id > 0);
	cs = cs_get(t, id);
	PUMP_UNTIL(t, cs->closed);
	assert_int_equal(cs->status, 200);
	assert_false(cs->ws_accept);
	assert_string_equal(cs->body, "ping");
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);
	assert_string_equal(mock.last.method, "GET");
	assert_string_equal(mock.last.upgrade, "websocket");
	assert_string_equal(mock.last.path, "/ws");
	assert_true(mock.last.has_body);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
}

/* RFC 7540 3.2: after the 101, stream 1 is the upgrading request. */
static void
h2c_upgrade_answers_stream_1(void **state)
{
	struct test *t = *state;
	static const char r101[] = "HTTP/1.1 101 Switching Protocols\r\n"
	    "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
	nghttp2_settings_entry iv[2] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 65535 },
	};
	struct gw_req_head head;
	uint8_t payload[32];
	ssize_t plen;
	struct cstream *one, *three;

	plen = nghttp2_pack_settings_payload(payload, sizeof payload, iv, 2);
	assert_true(plen > 0);
	client_start(t, 0, 0, false);
	assert_int_equal(nghttp2_session_upgrade2(t->cs, payload,
	    (size_t)plen, 0, NULL), 0);
	t->strip_101 = true;
	client_io(t);

	memset(&head, 0, sizeof head);
	head.method = "GET";
	head.method_len = 3;
	head.target = "/upgrade";
	head.target_len = 8;
	head.authority = "example.com";
	head.authority_len = 11;
	head.content_length = -1;
	bufferevent_write(t->c->bev, r101, sizeof r101 - 1);
	assert_int_equal(gw_h2_server_upgrade(t->c, payload, (size_t)plen,
	    &head), 0);
	one = cs_get(t, 1);
	PUMP_UNTIL(t, one->closed);
	assert_int_equal(one->status, 200);
	assert_string_equal(one->body, "upgraded");
	assert_int_equal(one->error_code, NGHTTP2_NO_ERROR);
	assert_int_equal(mock.ended, 1);
	assert_string_equal(mock.last.path, "/upgrade");

	three = cs_get(t, request(t, "GET", "/hello", NULL, 0, NULL, 0,
	    false));
	PUMP_UNTIL(t, three->closed);
	assert_int_equal(three->status, 200);
	finish(t);
}

/* No stream for the idle time: GOAWAY(NO_ERROR), then closed. */
static void
h2_idle_timeout_goaway(void **state)
{
	struct test *t = *state;

	t->w.idle_timeout_ns = 50 * GW_NS_PER_MS;
	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, t->c == NULL);
	assert_int_equal(t->goaways, 1);
	assert_int_equal(t->goaway_error, NGHTTP2_NO_ERROR);
	finish(t);
}

/* A client that opened huge windows and stopped reading: the output
 * makes no progress for the idle time and the connection is cut. */
static void
h2_stalled_reader_write_timeout(void **state)
{
	struct test *t = *state;
	nghttp2_settings_entry iv[1] = {
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 16 * 1024 * 1024 },
	};
	int i;

	t->w.idle_timeout_ns = 100 * GW_NS_PER_MS;
	client_start(t, 0, 0, false);
	assert_int_equal(nghttp2_submit_settings(t->cs, NGHTTP2_FLAG_NONE,
	    iv, 1), 0);
	assert_int_equal(nghttp2_session_set_local_window_size(t->cs,
	    NGHTTP2_FLAG_NONE, 0, 16 * 1024 * 1024), 0);
	request(t, "GET", "/big?n=16000000", NULL, 0, NULL, 0, false);
	t->eof = true;           /* client_io() no longer reads */
	client_io(t);
	server_start(t);
	for (i = 0; i < 20000 && t->c != NULL; i++) {
		event_base_loop(t->base, EVLOOP_NONBLOCK);
		usleep(200);
	}
	assert_null(t->c);
	assert_int_equal(mock.begun, 1);
	assert_int_equal(mock.gone, 1);
	finish(t);
}

/* Graceful shutdown: notice, final GOAWAY naming the stream in flight,
 * which completes; then the connection closes. */
static void
h2_graceful_shutdown(void **state)
{
	struct test *t = *state;
	struct cstream *cs;
	int32_t id;

	h2_shutdown_delay_ns = 20 * GW_NS_PER_MS;
	client_start(t, 0, 0, true);
	server_start(t);
	id = request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
	cs = cs_get(t, id);
	PUMP_UNTIL(t, mock.begun == 1);
	gw_h2_server_shutdown(t->c);
	PUMP_UNTIL(t, t->goaways == 1);
	assert_int_equal(t->goaway_last, INT32_MAX);
	PUMP_UNTIL(t, t->goaways == 2);
	assert_int_equal(t->goaway_last, id);
	assert_int_equal(t->goaway_error, NGHTTP2_NO_ERROR);
	assert_non_null(t->c);
	mock_release();
	PUMP_UNTIL(t, cs->closed && t->c == NULL);
	assert_int_equal(cs->status, 200);
	assert_int_equal(mock.gone, 0);
	finish(t);
}

/* The client's socket closes with a stream open: gone, destroyed. */
static void
h2_client_eof_with_open_stream(void **state)
{
	struct test *t = *state;

	client_start(t, 0, 0, true);
	server_start(t);
	request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
	PUMP_UNTIL(t, mock.begun == 1);
	shutdown(t->fd, SHUT_WR);
	PUMP_UNTIL(t, t->c == NULL);
	assert_int_equal(mock.gone, 1);
	assert_int_equal(mock.destroyed, 1);
	finish(t);
}

/* A garbage preface: the connection is closed, nothing leaks. */
static void
h2_bad_preface_closes(void **state)
{
	struct test *t = *state;
	static const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";

	client_start(t, 0, 0, true);
	assert_int_equal(write(t->fd, junk, sizeof junk - 1),
	    (ssize_t)(sizeof junk - 1));
	server_start(t);
	PUMP_UNTIL(t, t->c == NULL);
	assert_int_equal(mock.created, 0);
	finish(t);
}

/* --- reuse of streams (the worker's free list) ------------------------- */

/* The server's object for a client stream id (while it is open). */
static struct gw_h2_stream *
server_stream(struct test *t, int32_t id)
{
	struct gw_h2_conn *h2 = t->c->proto_ctx;

	return nghttp2_session_get_stream_user_data(h2->session, id);
}

/* One GET /hello answered in full, with nothing left of an earlier
 * stream: status, length, body, no trailers, no reset. */
static void
expect_clean_hello(struct test *t, int32_t id)
{
	struct cstream *cs = cs_get(t, id);

	PUMP_UNTIL(t, cs->closed);
	assert_int_equal(cs->status, 200);
	assert_string_equal(cs->content_length, "5");
	assert_int_equal(cs->body_len, 5);
	assert_string_equal(cs->body, "hello");
	assert_string_equal(cs->mixed_case, "Yes");
	assert_false(cs->trailers);
	assert_false(cs->rst);
	assert_int_equal(cs->error_code, NGHTTP2_NO_ERROR);
}

/* Many streams one after the other on one connection: one object serves
 * them all, each request sees its own head (field counts that grow and
 * shrink the kept field array, joined cookies on and off the stack) and
 * its own response (HEAD, 204 and trailers before a plain GET). */
static void
h2_sequential_streams_reuse_one(void **state)
{
	struct test *t = *state;
	static nghttp2_nv extra[80];
	static char names[80][16], big_crumb[1500];
	static const size_t nfields[] = { 0, 2, 40, 20, 70, 1, 33, 0 };
	struct gw_h2_stream *first = NULL;
	struct cstream *cs;
	size_t i, k, nx;
	int32_t id;

	for (i = 0; i < GW_ARRAY_SIZE(extra); i++) {
		snprintf(names[i], sizeof names[i], "x-f%zu", i);
		extra[i] = mknv(names[i], "v");
	}
	memset(big_crumb, 'c', sizeof big_crumb - 1);
	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, handshaken(t));
	assert_int_equal(t->w.free_h2_streams.n, 0);

	for (i = 0; i < 400; i++) {
		k = i % 8;
		nx = nfields[k];
		switch (i % 5) {
		case 1:
			/* HEAD: the next GET must have its body again. */
			id = request(t, "HEAD", "/hello", extra, nx, NULL, 0,
			    false);
			PUMP_UNTIL(t, cs_get(t, id)->closed);
			assert_int_equal(cs_get(t, id)->body_len, 0);
			break;
		case 2:
			id = request(t, "GET", "/trailers", extra, nx, NULL, 0,
			    false);
			PUMP_UNTIL(t, cs_get(t, id)->closed);
			assert_true(cs_get(t, id)->trailers);
			assert_string_equal(cs_get(t, id)->grpc_status, "0");
			break;
		case 3:
			id = request(t, "GET", "/empty", extra, nx, NULL, 0,
			    false);
			PUMP_UNTIL(t, cs_get(t, id)->closed);
			assert_int_equal(cs_get(t, id)->status, 204);
			break;
		case 4: {
			/* Cookie crumbs joined past the stack room. */
			nghttp2_nv ck[3];

			ck[0] = mknv("cookie", big_crumb);
			ck[1] = mknv("cookie", "z=9");
			ck[2] = mknv("cookie", big_crumb);
			id = request(t, "GET", "/hello", ck, 3, NULL, 0, false);
			expect_clean_hello(t, id);
			assert_int_equal(mock.last.nhdrs, 1);
			assert_int_equal(strncmp(mock.last.cookie, "ccc", 3),
			    0);
			continue;
		}
		default:
			id = request(t, "GET", "/hello", extra, nx, NULL, 0,
			    false);
			expect_clean_hello(t, id);
			break;
		}
		assert_int_equal(mock.last.nhdrs, nx);
		assert_int_equal(mock.last.cookie[0], '\0');
		assert_string_equal(mock.last.authority, "example.com");
		/* Closed and listed: one object, over and over. */
		assert_int_equal(t->w.free_h2_streams.n, 1);
		if (first == NULL)
			first = t->w.free_h2_streams.head;
		assert_ptr_equal(t->w.free_h2_streams.head, first);
	}
	cs = cs_get(t, request(t, "GET", "/hello", NULL, 0, NULL, 0, false));
	expect_clean_hello(t, (int32_t)(2 * (cs - t->s) + 1));
	assert_int_equal(mock.created, 401);
	assert_int_equal(mock.gone, 0);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
	/* teardown frees the listed stream (valgrind and ASan check). */
	assert_int_equal(t->w.free_h2_streams.n, 1);
}

/* A stream reset by the client while its response body waits in the
 * queue: the object that serves the next streams starts empty. */
static void
h2_reset_mid_response_then_clean_stream(void **state)
{
	struct test *t = *state;
	struct gw_h2_stream *hs;
	struct cstream *cs;
	int32_t id;
	int round;

	t->manual_consume = true;
	client_start(t, 0, 0, true);
	server_start(t);
	for (round = 0; round < 3; round++) {
		id = request(t, "GET", "/big?n=1048576", NULL, 0, NULL, 0,
		    false);
		cs = cs_get(t, id);
		pump_quiet(t, 100);
		/* The client's window is full and the server holds more. */
		assert_true(cs->body_len > 60000 && cs->body_len <= 65535);
		assert_false(cs->closed);
		hs = server_stream(t, id);
		assert_non_null(hs);
		assert_true(evbuffer_get_length(hs->kept.out) > 0);
		nghttp2_submit_rst_stream(t->cs, NGHTTP2_FLAG_NONE, id,
		    NGHTTP2_CANCEL);
		/* The connection window is the client's to reopen. */
		nghttp2_session_consume_connection(t->cs, cs->unconsumed);
		cs->unconsumed = 0;
		PUMP_UNTIL(t, mock.destroyed == 2 * round + 1);
		assert_int_equal(t->w.free_h2_streams.n, 1);
		assert_ptr_equal(t->w.free_h2_streams.head, hs);

		/* Same object (else two would be listed after), nothing
		 * of the reset stream in it. */
		expect_clean_hello(t, request(t, "GET", "/hello", NULL, 0,
		    NULL, 0, false));
		assert_int_equal(t->w.free_h2_streams.n, 1);
		assert_ptr_equal(t->w.free_h2_streams.head, hs);
	}
	/* An aborted response (RST from us) before a clean one, too. */
	id = request(t, "GET", "/abort", NULL, 0, NULL, 0, false);
	PUMP_UNTIL(t, cs_get(t, id)->closed);
	assert_true(cs_get(t, id)->rst);
	expect_clean_hello(t, request(t, "GET", "/hello", NULL, 0, NULL, 0,
	    false));
	assert_int_equal(mock.gone, 3);
	assert_int_equal(mock.op_failures, 0);
	finish(t);
}

/* More streams at once than the list keeps: the list stops at its bound,
 * the rest is freed; teardown frees a full list. */
static void
h2_concurrent_streams_fill_free_list(void **state)
{
	struct test *t = *state;
	int32_t ids[300];
	size_t i;

	t->w.max_concurrent_streams = 300;
	client_start(t, 0, 0, true);
	server_start(t);
	PUMP_UNTIL(t, handshaken(t) || nghttp2_session_get_remote_settings(
	    t->cs, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) == 300);
	for (i = 0; i < GW_ARRAY_SIZE(ids); i++)
		ids[i] = request(t, "GET", "/hold", NULL, 0, NULL, 0, false);
	PUMP_UNTIL(t, mock.begun == 300);
	assert_int_equal(t->w.free_h2_streams.n, 0);
	mock_release();
	for (i = 0; i < GW_ARRAY_SIZE(ids); i++) {
		PUMP_UNTIL(t, cs_get(t, ids[i])->closed);
		assert_int_equal(cs_get(t, ids[i])->status, 200);
		assert_string_equal(cs_get(t, ids[i])->body, "held");
	}
	PUMP_UNTIL(t, mock.destroyed == 300);
	assert_int_equal(t->w.free_h2_streams.n, GW_FREELIST_MAX);
	/* The next streams come from the list. */
	for (i = 0; i < 10; i++)
		expect_clean_hello(t, request(t, "GET", "/hello", NULL, 0,
		    NULL, 0, false));
	assert_int_equal(t->w.free_h2_streams.n, GW_FREELIST_MAX);
	finish(t);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ratelim_burst_refill_and_skew),
		T_(h2_get_hello),
		T_(h2_head_and_204_have_no_body),
		T_(h2_post_window_opens_on_consume),
		T_(h2_post_deferred_consume),
		T_(h2_reset_returns_connection_window),
		T_(h2_post_with_trailers_echo),
		T_(h2_max_concurrent_streams_queued),
		T_(h2_max_concurrent_streams_refused),
		T_(h2_client_reset_stream),
		T_(h2_rapid_reset_goaway),
		T_(h2_response_follows_client_window),
		T_(h2_response_trailers),
		T_(h2_abort_resets_stream),
		T_(h2_header_list_too_large_431),
		T_(h2_header_flood_goaway),
		T_(h2_ping_flood_closes),
		T_(h2_extended_connect_websocket),
		T_(h2c_upgrade_answers_stream_1),
		T_(h2_idle_timeout_goaway),
		T_(h2_stalled_reader_write_timeout),
		T_(h2_graceful_shutdown),
		T_(h2_client_eof_with_open_stream),
		T_(h2_bad_preface_closes),
		T_(h2_sequential_streams_reuse_one),
		T_(h2_reset_mid_response_then_clean_stream),
		T_(h2_concurrent_streams_fill_free_list),
	};

	signal(SIGPIPE, SIG_IGN);
	memset(big_body, 'b', sizeof big_body);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
