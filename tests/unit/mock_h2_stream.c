/*
 * mock_h2_stream.c: the stream layer (stream.h) as the HTTP/2 front sees
 * it, for test_h2_server.c, which includes this file next to
 * h2_server.c.  Each request runs a script chosen by its path; every call
 * from the front is counted, and each stream checks the order of the
 * calls it gets (begin once, client_gone at most once, nothing after
 * destroy: ASan sees that one).
 *
 * Scripts (answered through the front ops, often from inside the front's
 * own nghttp2 callbacks, as the real stream layer does):
 *   /hello      200, "hello" with a content length, answered in begin
 *   /empty      204, no body
 *   /hold       nothing until mock_release() (or the client goes)
 *   /sink       counts the body; at its end, 200 with the count
 *   /echo       200 at once, the body echoed as it comes, ended with it
 *   /ws         as /echo, answering 101 (the HTTP/1.1 handshake's code)
 *   /big?n=N    200 with N bytes produced in pieces, pausing while the
 *               front holds more than GW_STREAM_HIGH_WATER
 *   /trailers   200, "abc", then trailers
 *   /abort      200, "partial", then abort
 *   /upgrade    200, "upgraded"
 * Request body is reported consumed per mock.consume: at once, on a later
 * loop turn, or only when the test calls mock_consume_all().
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "conn.h"
#include "stream.h"
#include "xmalloc.h"

enum mock_script {
	MOCK_NONE = 0,
	MOCK_HELLO,
	MOCK_EMPTY,
	MOCK_HOLD,
	MOCK_SINK,
	MOCK_ECHO,
	MOCK_WS,
	MOCK_BIG,
	MOCK_TRAILERS,
	MOCK_ABORT,
	MOCK_UPGRADE,
};

enum mock_consume {
	MOCK_CONSUME_NOW = 0,    /* inside req_body */
	MOCK_CONSUME_LATER,      /* on a later loop turn */
	MOCK_CONSUME_NEVER,      /* only through mock_consume_all() */
};

#define MOCK_PIECE (16 * 1024)

struct mock_stream {
	struct gw_stream st;     /* first: what the front holds */
	struct mock_stream *next;
	enum mock_script script;
	int begins;
	int ends;
	int gones;
	char method[16];
	char path[128];
	char authority[128];
	char upgrade[16];
	char cookie[128];
	size_t nhdrs;
	bool has_body;
	int64_t content_length;
	size_t body_bytes;       /* request body received */
	size_t unconsumed;       /* received, not yet reported consumed */
	size_t resp_left;        /* /big: bytes still to produce */
	bool responded;
};

struct mock_state {
	struct event_base *base;
	struct event *consume_ev;
	struct mock_stream *live;
	enum mock_consume consume;
	int created;
	int destroyed;
	int begun;
	int ended;
	int gone;
	int drained;
	size_t body_bytes;       /* all streams */
	size_t max_pending;      /* largest pending() seen by /big */
	int op_failures;         /* front ops that returned -1 */
	struct mock_stream last; /* copy of the last begun stream's head */
};

static struct mock_state mock;

static void mock_consume_cb(evutil_socket_t, short, void *);

static void
mock_reset(struct event_base *base)
{
	memset(&mock, 0, sizeof mock);
	mock.base = base;
	mock.consume_ev = event_new(base, -1, 0, mock_consume_cb, NULL);
	if (mock.consume_ev == NULL)
		abort();
}

static void
mock_done(void)
{
	event_free(mock.consume_ev);
	mock.consume_ev = NULL;
}

static struct mock_stream *
mock_of(struct gw_stream *st)
{
	return (struct mock_stream *)st;
}

static void
mock_copy(char *dst, size_t size, const char *src, size_t len)
{
	if (src == NULL)
		len = 0;
	if (len >= size)
		len = size - 1;
	if (len > 0)
		memcpy(dst, src, len);
	dst[len] = '\0';
}

static void
mock_check(int rv)
{
	if (rv != 0)
		mock.op_failures++;
}

/* Sends `len` bytes of `data` (NULL: a pattern) on st. */
static int
mock_send(struct mock_stream *ms, const char *data, size_t len, bool end)
{
	struct evbuffer *b = evbuffer_new();
	char piece[MOCK_PIECE];
	int rv;

	if (data == NULL) {
		memset(piece, 'x', sizeof piece);
		data = piece;
		len = GW_MIN(len, sizeof piece);
	}
	evbuffer_add(b, data, len);
	rv = ms->st.front->send_data(&ms->st, b, end);
	evbuffer_free(b);
	return rv;
}

static void
mock_respond(struct mock_stream *ms, int status, const char *body)
{
	static const struct gw_hdr hdrs[] = {
		{ "Content-Type", 12, "text/plain", 10 },
		{ "Connection", 10, "keep-alive", 10 },
		{ "Transfer-Encoding", 17, "chunked", 7 },
		{ "X-Mixed-Case", 12, "Yes", 3 },
	};
	size_t len = body != NULL ? strlen(body) : 0;

	ms->responded = true;
	if (body == NULL) {
		mock_check(ms->st.front->send_head(&ms->st, status, NULL, 0,
		    -1, true));
		return;
	}
	if (ms->st.front->send_head(&ms->st, status, hdrs,
	    GW_ARRAY_SIZE(hdrs), (int64_t)len, false) != 0) {
		mock.op_failures++;
		return;
	}
	mock_check(mock_send(ms, body, len, true));
}

/* /big: produce while the front holds less than the high mark. */
static void
mock_produce(struct mock_stream *ms)
{
	size_t n, pending;

	while (ms->resp_left > 0) {
		pending = ms->st.front->pending(&ms->st);
		if (pending > mock.max_pending)
			mock.max_pending = pending;
		if (pending > GW_STREAM_HIGH_WATER)
			return;
		n = GW_MIN(ms->resp_left, (size_t)MOCK_PIECE);
		ms->resp_left -= n;
		if (mock_send(ms, NULL, n, ms->resp_left == 0) != 0) {
			mock.op_failures++;
			return;
		}
	}
}

/* Answers every held stream with 200 "held". */
static void
mock_release(void)
{
	struct mock_stream *ms, *next;

	for (ms = mock.live; ms != NULL; ms = next) {
		next = ms->next;
		if (ms->script == MOCK_HOLD && !ms->responded &&
		    ms->gones == 0)
			mock_respond(ms, 200, "held");
	}
}

/* Reports every received body byte consumed. */
static void
mock_consume_all(void)
{
	struct mock_stream *ms;
	size_t n;

	for (ms = mock.live; ms != NULL; ms = ms->next) {
		n = ms->unconsumed;
		ms->unconsumed = 0;
		if (n > 0 && ms->gones == 0)
			ms->st.front->req_consumed(&ms->st, n);
	}
}

static void
mock_consume_cb(evutil_socket_t fd, short what, void *arg)
{
	if (mock.consume == MOCK_CONSUME_LATER)
		mock_consume_all();
}

/* --- stream.h ---------------------------------------------------------- */

struct gw_stream *
gw_stream_create(struct gw_conn *conn, const struct gw_front_ops *front,
    void *front_ctx)
{
	struct mock_stream *ms = xcalloc(1, sizeof *ms);

	ms->st.conn = conn;
	ms->st.worker = conn->worker;
	ms->st.front = front;
	ms->st.front_ctx = front_ctx;
	ms->next = mock.live;
	mock.live = ms;
	mock.created++;
	return &ms->st;
}

void
gw_stream_destroy(struct gw_stream *st)
{
	struct mock_stream *ms, **pp;

	if (st == NULL)
		return;
	ms = mock_of(st);
	for (pp = &mock.live; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == ms) {
			*pp = ms->next;
			break;
		}
	}
	mock.destroyed++;
	free(ms);
}

int
gw_stream_begin(struct gw_stream *st, const struct gw_req_head *head)
{
	struct mock_stream *ms = mock_of(st);
	size_t i;

	ms->begins++;
	mock.begun++;
	mock_copy(ms->method, sizeof ms->method, head->method,
	    head->method_len);
	mock_copy(ms->path, sizeof ms->path, head->target, head->target_len);
	mock_copy(ms->authority, sizeof ms->authority, head->authority,
	    head->authority_len);
	mock_copy(ms->upgrade, sizeof ms->upgrade, head->upgrade,
	    head->upgrade_len);
	for (i = 0; i < head->nhdrs; i++) {
		if (head->hdrs[i].name_len == 6 &&
		    memcmp(head->hdrs[i].name, "cookie", 6) == 0)
			mock_copy(ms->cookie, sizeof ms->cookie,
			    head->hdrs[i].value, head->hdrs[i].value_len);
	}
	ms->nhdrs = head->nhdrs;
	ms->has_body = head->has_body;
	ms->content_length = head->content_length;
	mock.last = *ms;

	if (strcmp(ms->path, "/hello") == 0) {
		ms->script = MOCK_HELLO;
		mock_respond(ms, 200, "hello");
	} else if (strcmp(ms->path, "/empty") == 0) {
		ms->script = MOCK_EMPTY;
		mock_respond(ms, 204, NULL);
	} else if (strcmp(ms->path, "/hold") == 0) {
		ms->script = MOCK_HOLD;
	} else if (strcmp(ms->path, "/sink") == 0) {
		ms->script = MOCK_SINK;
	} else if (strcmp(ms->path, "/echo") == 0 ||
	    strcmp(ms->path, "/ws") == 0) {
		ms->script = ms->path[1] == 'w' ? MOCK_WS : MOCK_ECHO;
		mock_check(st->front->send_head(st,
		    ms->script == MOCK_WS ? 101 : 200, NULL, 0, -1, false));
	} else if (strncmp(ms->path, "/big?n=", 7) == 0) {
		ms->script = MOCK_BIG;
		ms->resp_left = strtoul(ms->path + 7, NULL, 10);
		mock_check(st->front->send_head(st, 200, NULL, 0,
		    (int64_t)ms->resp_left, false));
		mock_produce(ms);
	} else if (strcmp(ms->path, "/trailers") == 0) {
		static const struct gw_hdr tr[] = {
			{ "Grpc-Status", 11, "0", 1 },
			{ "grpc-message", 12, "ok", 2 },
		};
		ms->script = MOCK_TRAILERS;
		mock_check(st->front->send_head(st, 200, NULL, 0, -1, false));
		mock_check(mock_send(ms, "abc", 3, false));
		mock_check(st->front->send_trailers(st, tr,
		    GW_ARRAY_SIZE(tr)));
	} else if (strcmp(ms->path, "/abort") == 0) {
		ms->script = MOCK_ABORT;
		mock_check(st->front->send_head(st, 200, NULL, 0, -1, false));
		mock_check(mock_send(ms, "partial", 7, false));
		st->front->abort(st);
	} else if (strcmp(ms->path, "/upgrade") == 0) {
		ms->script = MOCK_UPGRADE;
		mock_respond(ms, 200, "upgraded");
	}
	return 0;
}

int
gw_stream_req_body(struct gw_stream *st, struct evbuffer *data)
{
	struct mock_stream *ms = mock_of(st);
	size_t len = evbuffer_get_length(data);

	ms->body_bytes += len;
	mock.body_bytes += len;
	switch (ms->script) {
	case MOCK_ECHO:
	case MOCK_WS:
		mock_check(st->front->send_data(st, data, false));
		st->front->req_consumed(st, len);
		break;
	default:
		evbuffer_drain(data, len);
		ms->unconsumed += len;
		if (mock.consume == MOCK_CONSUME_NOW) {
			ms->unconsumed -= len;
			st->front->req_consumed(st, len);
		} else if (mock.consume == MOCK_CONSUME_LATER)
			event_active(mock.consume_ev, EV_TIMEOUT, 0);
		break;
	}
	return 0;
}

int
gw_stream_req_end(struct gw_stream *st)
{
	struct mock_stream *ms = mock_of(st);
	struct evbuffer *b;
	char count[32];

	ms->ends++;
	mock.ended++;
	switch (ms->script) {
	case MOCK_SINK:
		snprintf(count, sizeof count, "%zu", ms->body_bytes);
		mock_respond(ms, 200, count);
		break;
	case MOCK_ECHO:
	case MOCK_WS:
		b = evbuffer_new();
		mock_check(st->front->send_data(st, b, true));
		evbuffer_free(b);
		break;
	default:
		break;
	}
	return 0;
}

void
gw_stream_client_gone(struct gw_stream *st)
{
	struct mock_stream *ms = mock_of(st);

	ms->gones++;
	mock.gone++;
	/* A stream layer would cancel its upstream here; the front's ops
	 * must then refuse without harm. */
	if (st->front->pending(st) != 0)
		mock.op_failures += 100;
	st->front->abort(st);
}

void
gw_stream_resp_drained(struct gw_stream *st)
{
	struct mock_stream *ms = mock_of(st);

	mock.drained++;
	if (ms->script == MOCK_BIG)
		mock_produce(ms);
}
