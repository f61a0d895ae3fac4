/*
 * stream.c: one request from its head to its access-log line.
 *
 * The stream is the only module that knows both sides: it asks the
 * router, applies the route's checks, writes the backend request head,
 * and relays the response to the front with back-pressure.  It never
 * touches sockets; fronts and upstreams do.
 */
#define GW_LOG_MODULE "stream"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "breaker.h"
#include "cidr.h"
#include "config.h"
#include "conn.h"
#include "cors.h"
#include "gw.h"
#include "h1_parser.h"
#include "httplist.h"
#include "log.h"
#include "ratelimit.h"
#include "rewrite.h"
#include "route.h"
#include "router.h"
#include "strbuf.h"
#include "upstream.h"
#include "worker.h"
#include "xmalloc.h"

#define MAX_RESP_HDRS 128

/* What a stream kept for reuse may hold on to: more is freed. */
#define KEEP_STRS_MAX 2048

static const char json_type[] = "application/json";

static void stream_timer_cb(evutil_socket_t, short, void *);
static void stream_breaker_record(struct gw_stream *, bool);

static bool
name_eq(const char *name, size_t len, const char *lit)
{
	return strlen(lit) == len && strncasecmp(name, lit, len) == 0;
}

static const struct gw_hdr *
find_hdr(const struct gw_hdr *h, size_t n, const char *lit)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (name_eq(h[i].name, h[i].name_len, lit))
			return &h[i];
	return NULL;
}

/* ASCII case-insensitive comparison with a lower-case literal of the
 * same length. */
static bool
lc_eq(const char *s, const char *lit, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c >= 'A' && c <= 'Z')
			c += 'a' - 'A';
		if (c != (unsigned char)lit[i])
			return false;
	}
	return true;
}


/* Whether `name` is one of the tokens of a Connection field value: those
 * fields are hop-by-hop too (RFC 9110 7.6.1).  Called only for requests
 * and responses that have a Connection field. */
static bool
named_by_connection(const struct gw_hdr *hdrs, size_t n, const char *name,
    size_t len)
{
	struct gw_list_iter it;
	const char *tok;
	size_t i, tl;

	for (i = 0; i < n; i++) {
		if (hdrs[i].name_len != 10 ||
		    !lc_eq(hdrs[i].name, "connection", 10))
			continue;
		gw_list_init(&it, hdrs[i].value, hdrs[i].value_len);
		while (gw_list_next(&it, &tok, &tl))
			if (tl == len && strncasecmp(tok, name, len) == 0)
				return true;
	}
	return false;
}

/*
 * Whether a Connection field names any field (a token other than the
 * connection options close, keep-alive and upgrade): only then must each
 * field be checked against its tokens.  "Connection: keep-alive" on
 * every backend response costs nothing then.
 */
static bool
has_connection(const struct gw_hdr *hdrs, size_t n)
{
	struct gw_list_iter it;
	const char *tok;
	size_t i, tl;

	for (i = 0; i < n; i++) {
		if (hdrs[i].name_len != 10 ||
		    !lc_eq(hdrs[i].name, "connection", 10))
			continue;
		gw_list_init(&it, hdrs[i].value, hdrs[i].value_len);
		while (gw_list_next(&it, &tok, &tl)) {
			if (tl == 0 || (tl == 5 && lc_eq(tok, "close", 5)) ||
			    (tl == 10 && lc_eq(tok, "keep-alive", 10)) ||
			    (tl == 7 && lc_eq(tok, "upgrade", 7)))
				continue;
			return true;
		}
	}
	return false;
}

/* --- reuse ------------------------------------------------------------ */

/*
 * Streams are not freed but kept on the worker's free list (at most
 * GW_FREELIST_MAX), with their evbuffers and string room: a request then
 * allocates nothing of its own here.  A listed stream is zero but for
 * _kept, as xcalloc would give it; ASan builds poison the zero part so
 * that a pointer kept past destroy still fails loudly.
 */
#define ST_KEEP offsetof(struct gw_stream, _kept)
#define ST_LINK offsetof(struct gw_stream, _kept.next_free)

static struct gw_stream *
stream_alloc(struct gw_worker *w)
{
	struct gw_stream *st;

	st = gw_freelist_take(&w->free_streams, ST_KEEP, ST_LINK);
	return st != NULL ? st : xcalloc(1, sizeof(*st));
}

static void
stream_free_kept(struct gw_stream_kept *k)
{
	if (k->head != NULL)
		evbuffer_free(k->head);
	if (k->body != NULL)
		evbuffer_free(k->body);
	free(k->strs);
}

/* Empties an evbuffer kept for reuse. */
static void
buf_clear(struct evbuffer *b)
{
	if (b != NULL)
		evbuffer_drain(b, evbuffer_get_length(b));
}

static void
stream_release(struct gw_worker *w, struct gw_stream *st)
{
	buf_clear(st->_kept.head);
	buf_clear(st->_kept.body);
	if (st->_kept.strs_cap > KEEP_STRS_MAX) {
		free(st->_kept.strs);
		st->_kept.strs = NULL;
		st->_kept.strs_cap = 0;
	}
	if (!gw_freelist_put(&w->free_streams, st, ST_KEEP, ST_LINK)) {
		stream_free_kept(&st->_kept);
		free(st);
	}
}

void
gw_stream_cache_free(struct gw_worker *w)
{
	struct gw_stream *st;

	while ((st = gw_freelist_take(&w->free_streams, ST_KEEP,
	    ST_LINK)) != NULL) {
		stream_free_kept(&st->_kept);
		free(st);
	}
	if (w->scratch != NULL)
		evbuffer_free(w->scratch);
	w->scratch = NULL;
}

/*
 * Lends the worker's scratch evbuffer (empty) for the length of one call;
 * a nested call (a front answering from inside send_data) gets its own.
 * The stream may be gone when it is given back: w is the worker's.
 */
static struct evbuffer *
scratch_take(struct gw_worker *w)
{
	struct evbuffer *b = w->scratch;

	if (b != NULL) {
		w->scratch = NULL;
		return b;
	}
	if ((b = evbuffer_new()) == NULL)
		abort();
	return b;
}

static void
scratch_give(struct gw_worker *w, struct evbuffer *b)
{
	if (w->scratch != NULL) {
		evbuffer_free(b);
		return;
	}
	buf_clear(b);
	w->scratch = b;
}

/* An evbuffer kept in the stream (created on first use). */
static struct evbuffer *
kept_buf(struct evbuffer **slot)
{
	if (*slot == NULL && (*slot = evbuffer_new()) == NULL)
		abort();
	return *slot;
}

struct gw_stream *
gw_stream_create(struct gw_conn *conn, const struct gw_front_ops *front,
    void *front_ctx)
{
	struct gw_worker *w = conn->worker;
	struct gw_stream *st = stream_alloc(w);

	st->conn = conn;
	st->worker = w;
	st->front = front;
	st->front_ctx = front_ctx;
	st->state = GW_STREAM_HEAD;
	st->routes = gw_routes_ref(w->routes);
	st->start_ns = gw_now_ns();
	st->term_by = GW_TERM_NONE;
	st->term_phase = 'R';
	st->upstream_addr[0] = '-';
	w->stats.requests++;
	return st;
}

static void
stream_set_state(struct gw_stream *st, enum gw_stream_state to)
{
	/* Legal moves only; DONE and ABORTED are final. */
	switch (to) {
	case GW_STREAM_WAIT_UPSTREAM:
		if (st->state != GW_STREAM_HEAD)
			abort();
		break;
	case GW_STREAM_SENDING:
		if (st->state != GW_STREAM_WAIT_UPSTREAM &&
		    st->state != GW_STREAM_SENDING)
			abort();
		break;
	case GW_STREAM_RECEIVING:
		if (st->state != GW_STREAM_WAIT_UPSTREAM &&
		    st->state != GW_STREAM_SENDING)
			abort();
		break;
	case GW_STREAM_DONE:
	case GW_STREAM_ABORTED:
		break;
	case GW_STREAM_HEAD:
		abort();
	}
	st->state = to;
}

static void
log_access(struct gw_stream *st)
{
	const struct gw_route *rt = st->route;
	char line[2048];
	double ms = (double)(gw_now_ns() - st->start_ns) / 1e6;
	int n;

	if (st->routes->cfg->router.disable_access_log)
		return;
	n = snprintf(line, sizeof(line),
	    "access client=%s proto=%s method=%s path=\"%.512s\" "
	    "endpoint=\"%s\" status=%d in=%llu out=%llu ms=%.3f "
	    "upstream=%s term=%c%c id=%s\n",
	    st->conn->peer_ip, st->h2_id ? "h2" : "h1",
	    st->method ? st->method : "-", st->path ? st->path : "-",
	    rt ? rt->ep->endpoint : "-", st->status,
	    (unsigned long long)st->bytes_in,
	    (unsigned long long)st->bytes_out, ms, st->upstream_addr,
	    st->term_by, st->term_phase,
	    st->request_id[0] ? st->request_id : "-");
	if (n > 0)
		gw_log_access(line, GW_MIN((size_t)n, sizeof(line) - 1));
}

void
gw_stream_detach_upstream(struct gw_stream *st)
{
	struct gw_upstream *up = st->up;

	if (up == NULL)
		return;
	st->up = NULL;
	gw_upstream_release(up);
}

void
gw_stream_destroy(struct gw_stream *st)
{
	if (st == NULL)
		return;
	gw_stream_detach_upstream(st);
	if (st->breaker_taken && !st->_breaker_done)
		stream_breaker_record(st, true);
	if (st->timer_on)
		evtimer_del(&st->timer);
	if (st->state != GW_STREAM_HEAD && st->method != NULL)
		log_access(st);
	if (st->status >= 100 && st->status < 600)
		st->worker->stats.responses[st->status / 100]++;
	gw_routes_unref(st->routes);
	stream_release(st->worker, st);
}

static void
stream_breaker_record(struct gw_stream *st, bool ok)
{
	if (!st->breaker_taken || st->_breaker_done)
		return;
	st->_breaker_done = true;
	gw_breaker_record_gen(st->route->breaker, st->_breaker_gen, ok,
	    gw_now_ns());
}

/* Collects response headers into a fixed array. */
struct hdr_list {
	struct gw_hdr h[MAX_RESP_HDRS + 16];
	size_t n;
	char store[4096];        /* copies of values that do not outlive
				    their callback (gw_header_cb) */
	size_t used;             /* bytes of store in use */
};

static void
hdr_add(struct hdr_list *l, const char *name, const char *value, size_t vlen)
{
	if (l->n == GW_ARRAY_SIZE(l->h))
		return;
	l->h[l->n].name = name;
	l->h[l->n].name_len = strlen(name);
	l->h[l->n].value = value;
	l->h[l->n].value_len = vlen;
	l->n++;
}

static void
hdr_cb(void *arg, const char *name, const char *value, size_t vlen)
{
	struct hdr_list *l = arg;

	/* The value is gone after this call: keep a copy.  A value that
	 * does not fit (kilobytes of requested header names) is dropped,
	 * which the browser treats as not allowed. */
	if (vlen > sizeof(l->store) - l->used)
		return;
	memcpy(l->store + l->used, value, vlen);
	hdr_add(l, name, l->store + l->used, vlen);
	l->used += vlen;
}

/* Adds CORS headers for an actual response, when the request had an
 * Origin. */
static void
add_cors(struct gw_stream *st, struct hdr_list *l)
{
	if (st->routes->cors == NULL)
		return;
	gw_cors_actual_headers(st->routes->cors, st->method,
	    st->method ? strlen(st->method) : 0, st->_origin,
	    st->_origin ? strlen(st->_origin) : 0, hdr_cb, l);
}

/* gw_stream_respond() with the body in buf (moved; may be empty). */
static int
respond_buf(struct gw_stream *st, int status, struct evbuffer *buf,
    const struct gw_hdr *extra, size_t nextra)
{
	struct hdr_list l;
	size_t i, len;

	l.n = 0;
	l.used = 0;
	len = evbuffer_get_length(buf);
	hdr_add(&l, "content-type", json_type, sizeof(json_type) - 1);
	if (st->request_id[0] != '\0')
		hdr_add(&l, "x-request-id", st->request_id,
		    strlen(st->request_id));
	for (i = 0; i < nextra; i++)
		if (l.n < GW_ARRAY_SIZE(l.h))
			l.h[l.n++] = extra[i];
	add_cors(st, &l);
	st->status = status;
	if (st->state != GW_STREAM_DONE && st->state != GW_STREAM_ABORTED)
		stream_set_state(st, GW_STREAM_DONE);
	st->_resp_ended = true;
	if (status >= 400 && st->term_by == GW_TERM_NONE)
		st->term_by = GW_TERM_PROXY;
	st->term_phase = 'H';
	if (st->front->send_head(st, status, l.h, l.n, (int64_t)len,
	    len == 0 || st->is_head) != 0)
		return -1;
	if (len == 0 || st->is_head)
		return 0;
	st->bytes_out += len;
	return st->front->send_data(st, buf, true);
}

int
gw_stream_respond(struct gw_stream *st, int status, const char *body,
    const struct gw_hdr *extra, size_t nextra)
{
	struct gw_worker *w = st->worker;
	struct evbuffer *buf = scratch_take(w);
	int rc;

	if (body != NULL)
		evbuffer_add(buf, body, strlen(body));
	rc = respond_buf(st, status, buf, extra, nextra);
	scratch_give(w, buf);
	return rc;
}

/* Answers {"message": msg} with status; msg is a fixed ASCII string. */
static int
respond_msg(struct gw_stream *st, int status, const char *msg,
    const struct gw_hdr *extra, size_t nextra)
{
	char body[512];

	snprintf(body, sizeof(body), "{\"message\": \"%s\"}", msg);
	return gw_stream_respond(st, status, body, extra, nextra);
}

/* A request id we accept from a client: 1..36 visible safe chars. */
static bool
request_id_ok(const char *v, size_t len)
{
	size_t i;

	if (len == 0 || len >= sizeof(((struct gw_stream *)0)->request_id))
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '-' || c == '_' ||
		    c == '.' || c == ':'))
			return false;
	}
	return true;
}

static void
request_id_make(char *out)
{
	static __thread uint64_t state[2];
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	uint64_t x;
	int i;

	/* A per-thread xorshift generator seeded from the kernel: request
	 * ids must be unique, not secret. */
	if (state[0] == 0 && state[1] == 0) {
		if (getrandom(state, sizeof(state), 0) != sizeof(state))
			state[0] = (uint64_t)gw_now_ns() | 1;
	}
	for (i = 0; i < 2; i++) {
		uint64_t s1 = state[0];
		const uint64_t s0 = state[1];

		state[0] = s0;
		s1 ^= s1 << 23;
		state[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
		x = state[1] + s0;
		memcpy(b + 8 * i, &x, 8);
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	for (i = 0; i < 16; i++) {
		*out++ = hex[b[i] >> 4];
		*out++ = hex[b[i] & 15];
		if (i == 3 || i == 5 || i == 7 || i == 9)
			*out++ = '-';
	}
	*out = '\0';
}

/*
 * The client address for rate limits and X-Forwarded-For: the TCP peer,
 * or, when the peer is a trusted proxy, the last address of its
 * X-Forwarded-For that is not itself trusted.
 */
static void
client_ip(struct gw_stream *st, const struct gw_req_head *head,
    const char **ip, size_t *len)
{
	const struct gw_routes *r = st->routes;
	const struct gw_hdr *xff = NULL;

	if (r->ntrusted > 0)
		xff = find_hdr(head->hdrs, head->nhdrs, "x-forwarded-for");
	*ip = gw_cidr_client(r->trusted, r->ntrusted, st->conn->peer_ip,
	    xff ? xff->value : NULL, xff ? xff->value_len : 0, len);
}

/* Writes the backend request head into st->req_head. */
static void
build_backend_head(struct gw_stream *st, const struct gw_req_head *head,
    const struct gw_match *m, const struct gw_host *host)
{
	const struct gw_endpoint_config *ep = st->route->ep;
	const struct gw_backend_config *be = &ep->backends[0];
	const char *method = be->method != NULL ? be->method : st->method;
	const char *q = memchr(head->target, '?', head->target_len);
	const char *peer = st->conn->peer_ip;
	const struct gw_hdr *xff = NULL;
	struct evbuffer *b = kept_buf(&st->_kept.head);
	bool ua_sent = false, conn = has_connection(head->hdrs, head->nhdrs);
	struct gw_strbuf sb;
	char stack[4096];
	size_t i;

	evbuffer_add(b, method, strlen(method));
	evbuffer_add(b, " ", 1);
	gw_urltmpl_expand(st->route->tmpl, m, q ? q + 1 : NULL,
	    q ? (size_t)(head->target + head->target_len - q - 1) : 0,
	    &ep->input_query_strings, b);

	gw_strbuf_init(&sb, stack, sizeof(stack));
	gw_strbuf_lit(&sb, " HTTP/1.1\r\nHost: ");
	gw_strbuf_add(&sb, host->name, strlen(host->name));
	if (host->port != (host->tls ? 443 : 80)) {
		gw_strbuf_lit(&sb, ":");
		gw_strbuf_u64(&sb, host->port);
	}
	gw_strbuf_lit(&sb, "\r\n");
	for (i = 0; i < head->nhdrs; i++) {
		const struct gw_hdr *h = &head->hdrs[i];
		unsigned cls = gw_hdr_class(h->name, h->name_len);

		if (cls & (HDR_HOP | HDR_HOST | HDR_CONTENT_LENGTH |
		    HDR_EXPECT | HDR_REQUEST_ID | HDR_XF_OTHER))
			continue;
		if (cls & HDR_XFF) {
			xff = h;
			continue;
		}
		if (conn && named_by_connection(head->hdrs, head->nhdrs,
		    h->name, h->name_len))
			continue;
		if (!gw_header_allowed(ep, h->name, h->name_len))
			continue;
		if (cls & HDR_USER_AGENT)
			ua_sent = true;
		gw_strbuf_field(&sb, h->name, h->name_len, h->value,
		    h->value_len);
	}
	/* Like KrakenD, the gateway names itself when the client's agent
	 * is not forwarded. */
	if (!ua_sent)
		gw_strbuf_lit(&sb, "User-Agent: hanzo-gateway\r\n");
	gw_strbuf_lit(&sb, "X-Forwarded-For: ");
	if (xff != NULL && xff->value_len > 0) {
		gw_strbuf_add(&sb, xff->value, xff->value_len);
		gw_strbuf_lit(&sb, ", ");
	}
	gw_strbuf_add(&sb, peer, strlen(peer));
	if (st->conn->tls)
		gw_strbuf_lit(&sb, "\r\nX-Forwarded-Proto: https\r\n");
	else
		gw_strbuf_lit(&sb, "\r\nX-Forwarded-Proto: http\r\n");
	if (head->authority != NULL)
		gw_strbuf_field(&sb, "X-Forwarded-Host", 16, head->authority,
		    head->authority_len);
	gw_strbuf_field(&sb, "X-Request-ID", 12, st->request_id,
	    strlen(st->request_id));
	if (head->has_body) {
		if (head->content_length >= 0) {
			gw_strbuf_lit(&sb, "Content-Length: ");
			gw_strbuf_u64(&sb, (uint64_t)head->content_length);
			gw_strbuf_lit(&sb, "\r\n");
		} else {
			gw_strbuf_lit(&sb, "Transfer-Encoding: chunked\r\n");
			st->req_chunked = true;
		}
	} else if (strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
		/* RFC 9110 8.6: a request that usually has content says
		 * when it has none. */
		gw_strbuf_lit(&sb, "Content-Length: 0\r\n");
	}
	gw_strbuf_lit(&sb, "\r\n");
	evbuffer_add(b, sb.p, sb.len);
	gw_strbuf_free(&sb);
	st->req_head = b;
}

/*
 * Arms the stream's timer for ns.  While the response streams, the timer
 * is not re-armed per chunk: chunks only note the time, and the timer,
 * when it fires, re-arms itself for what is left (one event_add per
 * response instead of one per chunk).
 */
static void
stream_arm_timer(struct gw_stream *st, int64_t ns)
{
	struct timeval tv;

	if (ns <= 0)
		return;
	if (!st->timer_on) {
		evtimer_assign(&st->timer, st->worker->base, stream_timer_cb,
		    st);
		st->timer_on = true;
	}
	tv.tv_sec = ns / GW_NS_PER_S;
	tv.tv_usec = (ns % GW_NS_PER_S) / 1000;
	evtimer_add(&st->timer, &tv);
}

/* Answers the health check, CORS preflight and echo; returns 1 if it
 * answered, 0 if routing goes on, -1 if the stream is gone. */
static int
answer_builtin(struct gw_stream *st, const struct gw_req_head *head,
    size_t path_len)
{
	const struct gw_config *cfg = st->routes->cfg;
	const char *hp = cfg->router.health_path;
	const struct gw_hdr *acrm, *acrh;
	struct hdr_list l;
	int status;

	l.n = 0;
	l.used = 0;
	if (!cfg->router.disable_health && hp != NULL &&
	    strlen(hp) == path_len &&
	    memcmp(head->target, hp, path_len) == 0) {
		st->route = NULL;
		return gw_stream_respond(st, 200, "{\"status\":\"ok\"}", NULL,
		    0) == 0 ? 1 : -1;
	}
	if (st->routes->cors != NULL && st->_origin != NULL &&
	    strcmp(st->method, "OPTIONS") == 0 &&
	    (acrm = find_hdr(head->hdrs, head->nhdrs,
	    "access-control-request-method")) != NULL) {
		acrh = find_hdr(head->hdrs, head->nhdrs,
		    "access-control-request-headers");
		status = gw_cors_preflight(st->routes->cors, st->_origin,
		    strlen(st->_origin), acrm->value, acrm->value_len,
		    acrh ? acrh->value : NULL, acrh ? acrh->value_len : 0,
		    hdr_cb, &l);
		st->status = status;
		stream_set_state(st, GW_STREAM_DONE);
		st->_resp_ended = true;
		return st->front->send_head(st, status, l.h, l.n, 0, true) ==
		    0 ? 1 : -1;
	}
	return 0;
}

static int
answer_echo(struct gw_stream *st, const struct gw_req_head *head)
{
	struct gw_worker *w = st->worker;
	struct evbuffer *b = scratch_take(w);
	size_t i;
	int rc;

	/* Minimal JSON escaping: the values are HTTP field values, which
	 * hold no CTL but HTAB; quote and backslash need escaping. */
	evbuffer_add_printf(b, "{\"method\": \"%s\", \"url\": \"", st->method);
	for (i = 0; i < head->target_len; i++) {
		char c = head->target[i];

		if (c == '"' || c == '\\')
			evbuffer_add(b, "\\", 1);
		evbuffer_add(b, &c, 1);
	}
	evbuffer_add_printf(b, "\", \"headers\": {");
	for (i = 0; i < head->nhdrs; i++) {
		const struct gw_hdr *h = &head->hdrs[i];
		size_t k;

		evbuffer_add_printf(b, "%s\"%.*s\": \"", i ? ", " : "",
		    (int)h->name_len, h->name);
		for (k = 0; k < h->value_len; k++) {
			char c = h->value[k];

			if (c == '"' || c == '\\')
				evbuffer_add(b, "\\", 1);
			if (c == '\t')
				evbuffer_add(b, "\\t", 2);
			else
				evbuffer_add(b, &c, 1);
		}
		evbuffer_add(b, "\"", 1);
	}
	evbuffer_add(b, "}}", 2);
	rc = respond_buf(st, 200, b, NULL, 0);
	scratch_give(w, b);
	return rc;
}

static const char *
rate_client_key(struct gw_stream *st, const struct gw_req_head *head,
    const struct gw_match *m, size_t *len)
{
	const struct gw_ratelimit_config *rl = st->route->ep->ratelimit;
	const struct gw_hdr *h;
	const char *ip;
	size_t i;

	switch (rl->strategy) {
	case GW_RL_STRATEGY_HEADER:
		if ((h = find_hdr(head->hdrs, head->nhdrs, rl->key)) != NULL) {
			*len = h->value_len;
			return h->value;
		}
		break;
	case GW_RL_STRATEGY_PARAM:
		for (i = 0; i < m->nparams; i++) {
			if (strcmp(m->params[i].name, rl->key) == 0) {
				*len = m->params[i].len;
				return m->params[i].value;
			}
		}
		break;
	case GW_RL_STRATEGY_IP:
		break;
	}
	/* Without the header or parameter, the address identifies the
	 * client: an absent key must not share one bucket for everybody. */
	client_ip(st, head, &ip, len);
	return ip;
}

/* Runs the limiter; returns 1 if it answered (rejected), 0 to go on, -1
 * if the stream is gone. */
static int
check_rate(struct gw_stream *st, const struct gw_req_head *head,
    const struct gw_match *m)
{
	enum gw_rl_verdict v;
	int64_t retry = 0;
	const char *key;
	char ra[24];
	struct gw_hdr extra;
	size_t klen;

	if (st->route->limiter == NULL)
		return 0;
	key = rate_client_key(st, head, m, &klen);
	v = gw_limiter_check(st->route->limiter, key, klen, gw_now_ns(),
	    &retry);
	if (v == GW_RL_PASS)
		return 0;
	snprintf(ra, sizeof(ra), "%lld",
	    (long long)((retry + GW_NS_PER_S - 1) / GW_NS_PER_S));
	extra = (struct gw_hdr){ "retry-after", 11, ra, strlen(ra) };
	st->term_by = GW_TERM_RATE;
	if (v == GW_RL_CLIENT_LIMITED)
		return respond_msg(st, 429, "rate limit exceeded", &extra, 1)
		    == 0 ? 1 : -1;
	return respond_msg(st, 503, "rate limit exceeded", &extra, 1) == 0 ?
	    1 : -1;
}

/* Copies method, path and origin (may be NULL) into the stream's kept
 * string room, grown only when a request does not fit. */
static void
stream_copy_strs(struct gw_stream *st, const struct gw_req_head *head,
    const struct gw_hdr *origin)
{
	size_t need = head->method_len + head->target_len + 2;
	char *p;

	if (origin != NULL)
		need += origin->value_len + 1;
	if (need > st->_kept.strs_cap) {
		free(st->_kept.strs);
		st->_kept.strs_cap = GW_MAX(need, (size_t)256);
		st->_kept.strs = xmalloc(st->_kept.strs_cap);
	}
	p = st->_kept.strs;
	st->method = p;
	memcpy(p, head->method, head->method_len);
	p += head->method_len;
	*p++ = '\0';
	st->path = p;
	memcpy(p, head->target, head->target_len);
	p += head->target_len;
	*p++ = '\0';
	if (origin != NULL) {
		st->_origin = p;
		memcpy(p, origin->value, origin->value_len);
		p[origin->value_len] = '\0';
	}
}

int
gw_stream_begin(struct gw_stream *st, const struct gw_req_head *head)
{
	char stackbuf[2048], *scratch = stackbuf;
	const struct gw_hdr *h;
	struct gw_match m;
	const struct gw_host *host;
	size_t path_len;
	int rc;

	stream_copy_strs(st, head, find_hdr(head->hdrs, head->nhdrs,
	    "origin"));
	st->is_head = strcmp(st->method, "HEAD") == 0;
	st->term_phase = 'H';
	if ((h = find_hdr(head->hdrs, head->nhdrs, "x-request-id")) != NULL &&
	    request_id_ok(h->value, h->value_len)) {
		memcpy(st->request_id, h->value, h->value_len);
		st->request_id[h->value_len] = '\0';
	} else
		request_id_make(st->request_id);

	for (path_len = 0; path_len < head->target_len &&
	    head->target[path_len] != '?'; path_len++)
		;
	if ((rc = answer_builtin(st, head, path_len)) != 0)
		return rc < 0 ? -1 : 0;
	if (st->routes->cfg->echo_endpoint && path_len >= 7 &&
	    memcmp(head->target, "/__echo", 7) == 0 &&
	    (path_len == 7 || head->target[7] == '/'))
		return answer_echo(st, head);

	if (head->target_len >= sizeof(stackbuf))
		scratch = xmalloc(head->target_len + 1);
	rc = gw_router_match(st->routes->router, head->method,
	    head->method_len, head->target, head->target_len, &m, scratch);
	switch (rc) {
	case 0:
		break;
	case GW_ERR_METHOD: {
		struct gw_hdr allow = { "allow", 5, m.allow, strlen(m.allow) };

		rc = respond_msg(st, 405, "method not allowed", &allow, 1);
		goto out;
	}
	case GW_ERR_INVAL:
		rc = respond_msg(st, 400, "malformed path", NULL, 0);
		goto out;
	default:
		rc = respond_msg(st, 404, "not found", NULL, 0);
		goto out;
	}
	st->route = &st->routes->routes[m.endpoint];
	if ((rc = check_rate(st, head, &m)) != 0) {
		rc = rc < 0 ? -1 : 0;
		goto out;
	}
	if (st->route->breaker != NULL) {
		if (!gw_breaker_allow_gen(st->route->breaker, gw_now_ns(),
		    &st->_breaker_gen)) {
			st->term_by = GW_TERM_RATE;
			rc = respond_msg(st, 503, "circuit breaker is open",
			    NULL, 0);
			goto out;
		}
		st->breaker_taken = true;
	}

	st->backend_host = gw_route_pick_host((struct gw_route *)st->route);
	host = st->routes->hosts[st->route->host_ids[st->backend_host]];
	build_backend_head(st, head, &m, host);
	st->req_body = kept_buf(&st->_kept.body);
	stream_set_state(st, GW_STREAM_WAIT_UPSTREAM);
	stream_arm_timer(st, st->route->ep->timeout_ns);
	st->term_phase = 'C';
	gw_upstream_start(gw_worker_pool(st->worker,
	    st->route->host_ids[st->backend_host]), st);
	if (head->expect_continue && st->front->send_continue != NULL)
		st->front->send_continue(st);
	rc = 0;
out:
	if (scratch != stackbuf)
		free(scratch);
	return rc;
}

/* Tells the front how much request body left our hands. */
static void
ack_request_body(struct gw_stream *st)
{
	uint64_t held = st->req_body ? evbuffer_get_length(st->req_body) : 0;
	uint64_t moved = st->bytes_in - held;

	if (moved > st->_req_acked) {
		size_t n = (size_t)(moved - st->_req_acked);

		st->_req_acked = moved;
		st->front->req_consumed(st, n);
	}
}

int
gw_stream_req_body(struct gw_stream *st, struct evbuffer *data)
{
	size_t n = evbuffer_get_length(data);

	st->bytes_in += n;
	if (st->req_body == NULL || st->state == GW_STREAM_DONE ||
	    st->state == GW_STREAM_ABORTED) {
		/* Answered locally, or over: the body goes nowhere. */
		evbuffer_drain(data, n);
		st->_req_acked += n;
		st->front->req_consumed(st, n);
		return 0;
	}
	evbuffer_add_buffer(st->req_body, data);
	if (st->up != NULL)
		gw_upstream_pump(st->up);
	return 0;
}

int
gw_stream_req_end(struct gw_stream *st)
{
	st->req_done = true;
	if (st->up != NULL)
		gw_upstream_pump(st->up);
	return 0;
}

void
gw_stream_on_req_drained(struct gw_stream *st)
{
	ack_request_body(st);
}

void
gw_stream_on_upstream_ready(struct gw_stream *st)
{
	if (st->state == GW_STREAM_WAIT_UPSTREAM)
		stream_set_state(st, GW_STREAM_SENDING);
	if (st->up != NULL)
		gw_copy_str(st->upstream_addr, sizeof(st->upstream_addr),
		    gw_upstream_addr(st->up));
}

void
gw_stream_client_gone(struct gw_stream *st)
{
	if (st->state == GW_STREAM_DONE || st->state == GW_STREAM_ABORTED)
		return;
	if (st->term_by == GW_TERM_NONE)
		st->term_by = GW_TERM_CLIENT;
	gw_stream_detach_upstream(st);
	if (st->timer_on)
		evtimer_del(&st->timer);
	stream_set_state(st, GW_STREAM_ABORTED);
}

void
gw_stream_resp_drained(struct gw_stream *st)
{
	if (st->resp_paused && st->up != NULL) {
		st->resp_paused = false;
		gw_upstream_resume(st->up);
	}
}

int
gw_stream_on_response_head(struct gw_stream *st, int status,
    const struct gw_hdr *hdrs, size_t n, int64_t content_length)
{
	struct hdr_list l;
	bool end, conn;
	size_t i;

	l.n = 0;
	l.used = 0;
	if (st->req_head != NULL) {
		/* The first response byte ends any chance of a retry. */
		buf_clear(st->req_head);
		st->req_head = NULL;
	}
	stream_breaker_record(st, status < 500);
	if (status >= 500)
		st->worker->stats.upstream_errors++;
	conn = has_connection(hdrs, n);
	for (i = 0; i < n && l.n < MAX_RESP_HDRS; i++) {
		if (gw_hdr_class(hdrs[i].name, hdrs[i].name_len) & (HDR_HOP |
		    HDR_CONTENT_LENGTH | HDR_REQUEST_ID))
			continue;
		if (conn && named_by_connection(hdrs, n, hdrs[i].name,
		    hdrs[i].name_len))
			continue;
		l.h[l.n++] = hdrs[i];
	}
	hdr_add(&l, "x-request-id", st->request_id, strlen(st->request_id));
	add_cors(st, &l);
	st->status = status;
	st->term_phase = 'D';
	stream_set_state(st, GW_STREAM_RECEIVING);
	/* From here the endpoint timeout bounds silence, not the whole
	 * response: a stream that keeps sending is never cut. */
	st->_timer_idle = true;
	st->_activity_ns = gw_now_ns();
	end = st->is_head || status == 204 || status == 304 ||
	    content_length == 0;
	if (end)
		st->_resp_ended = true;
	return st->front->send_head(st, status, l.h, l.n,
	    st->is_head ? -1 : content_length, end);
}

int
gw_stream_on_response_data(struct gw_stream *st, struct evbuffer *data)
{
	size_t n = evbuffer_get_length(data);
	int rc;

	if (st->_resp_ended) {
		evbuffer_drain(data, n);
		return 0;
	}
	st->bytes_out += n;
	if (st->_timer_idle)
		st->_activity_ns = gw_now_ns();
	rc = st->front->send_data(st, data, false);
	if (rc != 0)
		return -1;
	if (st->up != NULL && !st->resp_paused &&
	    st->front->pending(st) > GW_STREAM_HIGH_WATER) {
		st->resp_paused = true;
		gw_upstream_pause(st->up);
	}
	return 0;
}

int
gw_stream_on_response_end(struct gw_stream *st,
    const struct gw_hdr *trailers, size_t ntrailers)
{
	struct gw_worker *w = st->worker;
	struct evbuffer *empty;
	int rc = 0;

	if (st->timer_on)
		evtimer_del(&st->timer);
	stream_set_state(st, GW_STREAM_DONE);
	st->term_phase = '-';
	gw_stream_detach_upstream(st);
	if (st->_resp_ended)
		return 0;
	st->_resp_ended = true;
	if (ntrailers > 0)
		return st->front->send_trailers(st, trailers, ntrailers);
	empty = scratch_take(w);
	rc = st->front->send_data(st, empty, true);
	scratch_give(w, empty);
	return rc;
}

static void
stream_fail(struct gw_stream *st, const char *errstr, int status)
{
	const struct gw_config *cfg = st->routes->cfg;

	gw_stream_detach_upstream(st);
	if (st->timer_on)
		evtimer_del(&st->timer);
	stream_breaker_record(st, false);
	st->worker->stats.upstream_errors++;
	log_info("%s %s: upstream %s: %s", st->method, st->path,
	    st->upstream_addr, errstr);
	if (st->status == 0 && !st->_resp_ended) {
		/* Nothing sent yet: the client gets a proper answer. */
		if (st->term_by == GW_TERM_NONE)
			st->term_by = status == 504 ? GW_TERM_TIMEOUT :
			    GW_TERM_SERVER;
		respond_msg(st, status, cfg->router.return_error_msg ? errstr :
		    (status == 504 ? "gateway timeout" : "bad gateway"),
		    NULL, 0);
		return;
	}
	if (st->term_by == GW_TERM_NONE)
		st->term_by = status == 504 ? GW_TERM_TIMEOUT : GW_TERM_SERVER;
	stream_set_state(st, GW_STREAM_ABORTED);
	st->_resp_ended = true;
	st->front->abort(st);
}

void
gw_stream_on_upstream_error(struct gw_stream *st, const char *errstr)
{
	if (st->state == GW_STREAM_DONE || st->state == GW_STREAM_ABORTED)
		return;
	stream_fail(st, errstr, errstr == gw_upstream_err_timeout ? 504 : 502);
}

static void
stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_stream *st = arg;

	(void)fd;
	(void)what;
	if (st->state == GW_STREAM_DONE || st->state == GW_STREAM_ABORTED)
		return;
	if (st->_timer_idle) {
		int64_t quiet = gw_now_ns() - st->_activity_ns;
		int64_t limit = st->route->ep->timeout_ns;

		if (quiet < limit) {
			stream_arm_timer(st, limit - quiet);
			return;
		}
	}
	stream_fail(st, st->_timer_idle ? "backend stopped sending" :
	    "backend timeout", 504);
}
