/*
 * test_stream.c: stream.c's reuse of streams (the worker's free list and
 * scratch buffer), with real routes and a recording front; the upstream
 * side is stubbed here (gw_upstream_* and gw_worker_pool), so upstream.o
 * and worker.o are never linked.
 *
 * A reused stream must start exactly as a fresh one: no method, path,
 * origin, status or counters of the request before it, and empty request
 * head and body buffers, whether that request completed, was answered
 * locally or was cut by the client mid-way.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "config.h"
#include "conn.h"
#include "gw.h"
#include "route.h"
#include "stream.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

/* --- the upstream side, stubbed ---------------------------------------- */

const char gw_upstream_err_timeout[] = "timeout";

static struct {
	struct gw_stream *started;   /* last gw_upstream_start() */
	int starts;
	int releases;
	int pumps;
} up;

static char fake_up;             /* st->up points here while attached */

struct gw_pool *
gw_worker_pool(struct gw_worker *w, size_t host)
{
	(void)w;
	(void)host;
	return (struct gw_pool *)&fake_up;
}

int
gw_upstream_start(struct gw_pool *p, struct gw_stream *st)
{
	(void)p;
	up.started = st;
	up.starts++;
	st->up = (struct gw_upstream *)&fake_up;
	gw_stream_on_upstream_ready(st);
	return 0;
}

void
gw_upstream_release(struct gw_upstream *u)
{
	(void)u;
	up.releases++;
}

void
gw_upstream_pump(struct gw_upstream *u)
{
	(void)u;
	up.pumps++;
}

void
gw_upstream_pause(struct gw_upstream *u)
{
	(void)u;
}

void
gw_upstream_resume(struct gw_upstream *u)
{
	(void)u;
}

const char *
gw_upstream_addr(const struct gw_upstream *u)
{
	(void)u;
	return "10.0.0.1:80";
}

/* --- a recording front ------------------------------------------------- */

static struct {
	int status;
	int heads;
	bool ended;
	int aborts;
	char request_id[64];
	struct evbuffer *body;
	size_t consumed;
} fr;

static int
f_send_head(struct gw_stream *st, int status, const struct gw_hdr *hdrs,
    size_t n, int64_t content_length, bool end_stream)
{
	size_t i;

	(void)st;
	(void)content_length;
	fr.status = status;
	fr.heads++;
	fr.ended = end_stream;
	for (i = 0; i < n; i++) {
		if (hdrs[i].name_len == 12 &&
		    memcmp(hdrs[i].name, "x-request-id", 12) == 0)
			snprintf(fr.request_id, sizeof fr.request_id, "%.*s",
			    (int)hdrs[i].value_len, hdrs[i].value);
	}
	return 0;
}

static int
f_send_data(struct gw_stream *st, struct evbuffer *data, bool end_stream)
{
	(void)st;
	evbuffer_add_buffer(fr.body, data);
	if (end_stream)
		fr.ended = true;
	return 0;
}

static int
f_send_trailers(struct gw_stream *st, const struct gw_hdr *hdrs, size_t n)
{
	(void)st;
	(void)hdrs;
	(void)n;
	fr.ended = true;
	return 0;
}

static size_t
f_pending(struct gw_stream *st)
{
	(void)st;
	return 0;
}

static void
f_abort(struct gw_stream *st)
{
	(void)st;
	fr.aborts++;
}

static void
f_req_consumed(struct gw_stream *st, size_t n)
{
	(void)st;
	fr.consumed += n;
}

static const struct gw_front_ops front = {
	.send_head = f_send_head,
	.send_data = f_send_data,
	.send_trailers = f_send_trailers,
	.pending = f_pending,
	.abort = f_abort,
	.req_consumed = f_req_consumed,
	.send_continue = NULL,
};

static void
front_reset(void)
{
	struct evbuffer *b = fr.body;

	memset(&fr, 0, sizeof fr);
	fr.body = b;
	evbuffer_drain(b, evbuffer_get_length(b));
}

/* The front's body so far, as a string (static storage). */
static const char *
front_body(void)
{
	static char s[4096];
	size_t n = evbuffer_copyout(fr.body, s, sizeof s - 1);

	s[n] = '\0';
	return s;
}

/* --- fixture ----------------------------------------------------------- */

static const char config_json[] =
    "{\"version\": 3, \"port\": 8080,"
    " \"extra_config\": {\"router\": {\"disable_access_log\": true},"
    "  \"telemetry/logging\": {\"level\": \"ERROR\"}},"
    " \"endpoints\": ["
    "  {\"endpoint\": \"/api/{id}\", \"method\": \"GET\","
    "   \"input_headers\": [\"*\"],"
    "   \"backend\": [{\"host\": [\"http://10.0.0.1:80\"],"
    "    \"url_pattern\": \"/x/{id}\"}]},"
    "  {\"endpoint\": \"/up\", \"method\": \"POST\","
    "   \"backend\": [{\"host\": [\"http://10.0.0.1:80\"],"
    "    \"url_pattern\": \"/up\"}]}"
    " ]}";

struct fixture {
	struct event_base *base;
	struct gw_worker w;
	struct gw_conn conn;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof *f);
	struct gw_config_errors errs;
	struct gw_config *cfg = NULL;
	char *cause = NULL;

	memset(&errs, 0, sizeof errs);
	assert_int_equal(gw_config_load_string(config_json, "t.json", &cfg,
	    &errs), 0);
	gw_config_errors_clear(&errs);
	f->w.routes = gw_routes_create(cfg, &cause);
	assert_non_null(f->w.routes);
	gw_config_unref(cfg);
	f->base = event_base_new();
	assert_non_null(f->base);
	f->w.base = f->base;
	f->conn.worker = &f->w;
	snprintf(f->conn.peer_ip, sizeof f->conn.peer_ip, "192.0.2.7");
	fr.body = evbuffer_new();
	front_reset();
	memset(&up, 0, sizeof up);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	/* Whatever the test left listed is freed here (valgrind, ASan). */
	gw_stream_cache_free(&f->w);
	assert_int_equal(f->w.free_streams.n, 0);
	assert_null(f->w.free_streams.head);
	assert_null(f->w.scratch);
	gw_routes_unref(f->w.routes);
	event_base_free(f->base);
	evbuffer_free(fr.body);
	fr.body = NULL;
	free(f);
	return 0;
}

/* A stream as gw_stream_create() must give it, fresh or reused. */
static void
assert_fresh(struct fixture *f, struct gw_stream *st)
{
	assert_ptr_equal(st->conn, &f->conn);
	assert_ptr_equal(st->worker, &f->w);
	assert_int_equal(st->state, GW_STREAM_HEAD);
	assert_int_equal(st->h2_id, 0);
	assert_null(st->route);
	assert_null(st->method);
	assert_null(st->path);
	assert_null(st->_origin);
	assert_int_equal(st->request_id[0], '\0');
	assert_false(st->is_head);
	assert_false(st->req_done);
	assert_false(st->req_chunked);
	assert_null(st->req_head);
	assert_null(st->req_body);
	assert_null(st->up);
	assert_false(st->breaker_taken);
	assert_int_equal(st->retries, 0);
	assert_false(st->timer_on);
	assert_int_equal(st->status, 0);
	assert_false(st->resp_paused);
	assert_int_equal(st->bytes_in, 0);
	assert_int_equal(st->bytes_out, 0);
	assert_int_equal(st->term_by, GW_TERM_NONE);
	assert_int_equal(st->term_phase, 'R');
	assert_string_equal(st->upstream_addr, "-");
	assert_int_equal(st->_req_acked, 0);
	assert_false(st->_resp_ended);
	assert_false(st->_timer_idle);
	assert_null(st->_kept.next_free);
	if (st->_kept.head != NULL)
		assert_int_equal(evbuffer_get_length(st->_kept.head), 0);
	if (st->_kept.body != NULL)
		assert_int_equal(evbuffer_get_length(st->_kept.body), 0);
}

static int
begin(struct gw_stream *st, const char *method, const char *target,
    const struct gw_hdr *hdrs, size_t n, bool has_body)
{
	struct gw_req_head h;

	memset(&h, 0, sizeof h);
	h.method = method;
	h.method_len = strlen(method);
	h.target = target;
	h.target_len = strlen(target);
	h.authority = "example.com";
	h.authority_len = 11;
	h.hdrs = hdrs;
	h.nhdrs = n;
	h.has_body = has_body;
	h.content_length = -1;
	return gw_stream_begin(st, &h);
}

/* The backend head the stream built, as a string (static storage). */
static const char *
backend_head(struct gw_stream *st)
{
	static char s[8192];
	size_t n;

	assert_non_null(st->req_head);
	n = evbuffer_copyout(st->req_head, s, sizeof s - 1);
	s[n] = '\0';
	return s;
}

static size_t
count(const char *s, const char *sub)
{
	size_t n = 0;

	while ((s = strstr(s, sub)) != NULL) {
		n++;
		s += strlen(sub);
	}
	return n;
}

/* --- tests ------------------------------------------------------------- */

/*
 * Requests one after another: one object serves them all.  They end in
 * turn normally, cut by the client with request head and body still
 * held, and answered locally (404, through the scratch buffer); each
 * starts fresh and sees only its own head, body and response.
 */
static void
stream_reused_fresh_each_time(void **state)
{
	struct fixture *f = *state;
	struct gw_stream *st, *first = NULL;
	struct gw_hdr hdrs[2];
	struct evbuffer *data = evbuffer_new();
	char target[64], line[96], body[32], rid[40];
	const char *head;
	int i;

	for (i = 0; i < 600; i++) {
		st = gw_stream_create(&f->conn, &front, NULL);
		if (first == NULL)
			first = st;
		assert_ptr_equal(st, first);
		assert_fresh(f, st);
		front_reset();
		snprintf(rid, sizeof rid, "rid-%d", i);
		hdrs[0] = (struct gw_hdr){ "x-request-id", 12, rid,
		    strlen(rid) };
		hdrs[1] = (struct gw_hdr){ "origin", 6, "https://a.example",
		    17 };

		switch (i % 3) {
		case 0:	/* completes */
			snprintf(target, sizeof target, "/api/%d", i);
			assert_int_equal(begin(st, "GET", target, hdrs,
			    i % 2 ? 2 : 1, false), 0);
			assert_ptr_equal(up.started, st);
			assert_string_equal(st->method, "GET");
			assert_string_equal(st->path, target);
			if (i % 2)
				assert_string_equal(st->_origin,
				    "https://a.example");
			else
				assert_null(st->_origin);
			head = backend_head(st);
			snprintf(line, sizeof line, "GET /x/%d HTTP/1.1\r\n",
			    i);
			assert_int_equal(strncmp(head, line, strlen(line)), 0);
			assert_int_equal(count(head, "HTTP/1.1"), 1);
			assert_int_equal(count(head, "X-Request-ID"), 1);
			assert_non_null(strstr(head, rid));
			assert_int_equal(count(head, "\r\n\r\n"), 1);
			assert_int_equal(evbuffer_get_length(st->req_body), 0);
			assert_int_equal(gw_stream_req_end(st), 0);
			assert_int_equal(gw_stream_on_response_head(st, 200,
			    NULL, 0, -1), 0);
			assert_null(st->req_head);
			snprintf(body, sizeof body, "resp-%d", i);
			evbuffer_add(data, body, strlen(body));
			assert_int_equal(gw_stream_on_response_data(st, data),
			    0);
			assert_int_equal(gw_stream_on_response_end(st, NULL,
			    0), 0);
			assert_int_equal(fr.status, 200);
			assert_string_equal(fr.request_id, rid);
			assert_string_equal(front_body(), body);
			assert_true(fr.ended);
			break;
		case 1:	/* the client goes with head and body held */
			assert_int_equal(begin(st, "POST", "/up", hdrs, 1,
			    true), 0);
			snprintf(body, sizeof body, "req-%d", i);
			evbuffer_add(data, body, strlen(body));
			assert_int_equal(gw_stream_req_body(st, data), 0);
			assert_int_equal(evbuffer_get_length(st->req_body),
			    strlen(body));
			assert_int_equal(count(backend_head(st),
			    "POST /up HTTP/1.1\r\n"), 1);
			gw_stream_client_gone(st);
			assert_int_equal(st->state, GW_STREAM_ABORTED);
			assert_non_null(st->req_head);
			break;
		default: /* answered locally */
			assert_int_equal(begin(st, "GET", "/nowhere", hdrs, 1,
			    false), 0);
			assert_int_equal(fr.status, 404);
			assert_string_equal(front_body(),
			    "{\"message\": \"not found\"}");
			assert_string_equal(fr.request_id, rid);
			assert_null(st->req_head);
			assert_null(st->req_body);
			/* The scratch buffer went back, empty. */
			assert_non_null(f->w.scratch);
			assert_int_equal(evbuffer_get_length(f->w.scratch), 0);
			break;
		}
		gw_stream_destroy(st);
		assert_int_equal(f->w.free_streams.n, 1);
		assert_ptr_equal(f->w.free_streams.head, first);
	}
	assert_int_equal(f->w.stats.requests, 600);
	assert_int_equal(up.releases, up.starts);
	evbuffer_free(data);
}

/* A path longer than a kept stream may hold: served, then its room is
 * freed, and the next request still fits its own. */
static void
stream_long_path_room_not_kept(void **state)
{
	struct fixture *f = *state;
	static char target[5000];
	struct gw_stream *st;

	memcpy(target, "/api/", 5);
	memset(target + 5, 'p', sizeof target - 6);
	st = gw_stream_create(&f->conn, &front, NULL);
	assert_int_equal(begin(st, "GET", target, NULL, 0, false), 0);
	assert_string_equal(st->path, target);
	assert_true(st->_kept.strs_cap >= sizeof target);
	gw_stream_destroy(st);
	assert_int_equal(st->_kept.strs_cap, 0);
	assert_null(st->_kept.strs);

	st = gw_stream_create(&f->conn, &front, NULL);
	assert_fresh(f, st);
	assert_int_equal(begin(st, "GET", "/api/7", NULL, 0, false), 0);
	assert_string_equal(st->path, "/api/7");
	gw_stream_destroy(st);
}

/* More streams at once than the list keeps: it stops at its bound, the
 * rest is freed; a full list is freed at teardown. */
static void
stream_free_list_bounded(void **state)
{
	struct fixture *f = *state;
	struct gw_stream *st[GW_FREELIST_MAX + 50];
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(st); i++) {
		st[i] = gw_stream_create(&f->conn, &front, NULL);
		assert_fresh(f, st[i]);
		assert_int_equal(begin(st[i], "GET", "/api/1", NULL, 0,
		    false), 0);
	}
	for (i = 0; i < GW_ARRAY_SIZE(st); i++)
		gw_stream_destroy(st[i]);
	assert_int_equal(f->w.free_streams.n, GW_FREELIST_MAX);
	for (i = 0; i < 10; i++) {
		st[i] = gw_stream_create(&f->conn, &front, NULL);
		assert_fresh(f, st[i]);
	}
	assert_int_equal(f->w.free_streams.n, GW_FREELIST_MAX - 10);
	for (i = 0; i < 10; i++)
		gw_stream_destroy(st[i]);
	assert_int_equal(f->w.free_streams.n, GW_FREELIST_MAX);
}

#define T_(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T_(stream_reused_fresh_each_time),
		T_(stream_long_path_room_not_kept),
		T_(stream_free_list_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
