/*
 * h2_server.c: the client-facing HTTP/2 front, an nghttp2 server session
 * on the connection's bufferevent (the model is nghttp2's
 * examples/libevent-server.c).
 *
 * Objects and owners:
 *  - struct gw_h2_conn is c->proto_ctx: it owns the nghttp2 session, its
 *    events and the list of its streams.  gw_conn_free() frees it through
 *    gw_h2_server_free().
 *  - struct gw_h2_stream is one HTTP/2 stream: the nghttp2 stream user
 *    data and the gw_stream's front_ctx.  It owns the gw_stream.  Both are
 *    released only in h2_stream_close() (to the worker's free lists, for
 *    the next streams; see h2_stream_release()), called from
 *    on_stream_close_callback
 *    and, for streams still open when the connection goes, from
 *    gw_h2_server_free() (nghttp2_session_del() does not call
 *    on_stream_close_callback).  Every other callback looks the stream up
 *    again with nghttp2_session_get_stream_user_data() and accepts NULL.
 *
 * Re-entrancy: the front ops (called by the stream layer, possibly from
 * inside our own nghttp2 callbacks) only queue frames and schedule a
 * flush through an event_active()'d event; they never free a stream or
 * the connection.  The connection is freed only from the top of a
 * libevent callback of ours (read, write, event, flush, timers), after
 * nghttp2_session_mem_recv()/nghttp2_session_send() returned, and the
 * callback returns at once.
 *
 * Flow control and back-pressure:
 *  - Request bodies: automatic WINDOW_UPDATE is off; the stream and
 *    connection windows are reopened by nghttp2_session_consume() only
 *    from the req_consumed op, that is as the backend takes the bytes.
 *  - Responses: body bytes wait in the stream's evbuffer and go out with
 *    NGHTTP2_DATA_FLAG_NO_COPY (frame header, then the payload moved with
 *    evbuffer_remove_buffer()).  The session writes only while the
 *    socket's output is below GW_H2_OUT_HIGH; the write callback resumes
 *    it.  A stream whose queue went above GW_STREAM_HIGH_WATER is told
 *    gw_stream_resp_drained() once it is below GW_STREAM_LOW_WATER.
 */
#define GW_LOG_MODULE "h2"

#include <sys/queue.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <nghttp2/nghttp2.h>

#include "gw.h"
#include "conn.h"
#include "h2_frame.h"
#include "h2_server.h"
#include "log.h"
#include "stream.h"
#include "strbuf.h"
#include "worker.h"
#include "xmalloc.h"


/* --- limits ------------------------------------------------------------ */

/* SETTINGS_MAX_CONCURRENT_STREAMS when the worker gives 0. */
#define GW_H2_DEFAULT_MAX_STREAMS 100
/* SETTINGS_INITIAL_WINDOW_SIZE: the most request body one stream may have
 * in flight before the backend took some (equal to GW_STREAM_HIGH_WATER,
 * so the stream never buffers more than it would pause at). */
#define GW_H2_STREAM_WINDOW (256 * 1024)
/* Connection-level receive window: bounds the request body bytes held
 * for all the streams of one connection together. */
#define GW_H2_CONN_WINDOW (1024 * 1024)
/* SETTINGS_MAX_HEADER_LIST_SIZE (RFC 9113 6.5.2: names + values + 32 per
 * field).  Enforced here, since nghttp2 only advertises it: a request
 * head above it, or with more than GW_H2_MAX_HEADER_FIELDS fields, is
 * answered 431 on its stream (RFC 6585 5) and the rest of its fields is
 * decoded (to keep the HPACK state) but dropped.  A 431 rather than a
 * RST_STREAM lets the client see why. */
#define GW_H2_MAX_HEADER_LIST (64 * 1024)
#define GW_H2_MAX_HEADER_FIELDS 200
/* A header block (request or trailers) four times past either limit is
 * an attack (HPACK indexed fields decode 1 byte into up to 4 KiB, and a
 * CONTINUATION flood keeps adding fields): GOAWAY ENHANCE_YOUR_CALM. */
#define GW_H2_ABUSE_HEADER_LIST (4 * GW_H2_MAX_HEADER_LIST)
#define GW_H2_ABUSE_HEADER_FIELDS (4 * GW_H2_MAX_HEADER_FIELDS)
/* A request head is handed on from the stack up to these sizes (regular
 * fields, joined cookie bytes), from the heap beyond. */
#define GW_H2_STACK_FIELDS 64
#define GW_H2_STACK_COOKIE 1024
/* A stream kept for reuse keeps its field array and trailer room up to
 * these sizes; larger ones are freed. */
#define GW_H2_KEEP_FIELDS 32
#define GW_H2_KEEP_TRAILERS 4096

/*
 * Flood limits, per connection, as token buckets (burst, refill per
 * second).  Exhausting one sends GOAWAY with ENHANCE_YOUR_CALM, stops
 * reading and closes once the GOAWAY is written.
 *  - RST: RST_STREAM frames received, plus the ones nghttp2 sends because
 *    the client broke a stream rule (PROTOCOL_ERROR, FLOW_CONTROL_ERROR,
 *    STREAM_CLOSED, REFUSED_STREAM...; not our own INTERNAL_ERROR aborts
 *    nor NO_ERROR after an early response).  CVE-2023-44487 "rapid reset"
 *    opens a stream and cancels it at once, so MAX_CONCURRENT_STREAMS
 *    never bounds the work (routing, limiter, a backend connection) it
 *    causes; its server-provoked variant makes us do the reset.  200 at
 *    once and 100 a second sustained is far above what browsers or gRPC
 *    deadlines produce on one connection.
 *  - OPEN: streams opened.  Bounds the churn of stream setup one
 *    connection can ask for even when every stream completes; generous
 *    so that busy gRPC channels are not cut.
 *  - CTRL: PING, SETTINGS and PRIORITY frames (not ACKs) and empty DATA
 *    frames without END_STREAM (CVE-2019-9512, -9515, -9516/-9518 and
 *    the like): each costs us work and gives nothing.
 */
#define GW_H2_RST_BURST 200
#define GW_H2_RST_RATE 100
#define GW_H2_OPEN_BURST 5000
#define GW_H2_OPEN_RATE 2500
#define GW_H2_CTRL_BURST 1000
#define GW_H2_CTRL_RATE 100
/* nghttp2_option_set_max_outbound_ack: SETTINGS and PING ACKs queued and
 * not yet written.  More means the peer floods while not reading; nghttp2
 * then fails the session (NGHTTP2_ERR_FLOODED) and we close. */
#define GW_H2_MAX_OUTBOUND_ACK 128
/* nghttp2_option_set_max_settings: entries in one SETTINGS frame
 * (nghttp2's default, stated so that a library change does not move it;
 * real clients send fewer than 10). */
#define GW_H2_MAX_SETTINGS 32
/* nghttp2_option_set_max_continuations: CONTINUATION frames after one
 * HEADERS (CVE-2024-28182; 64 KiB of fields fits in 4 frames of the
 * default 16 KiB size).  Available in Debian 12's library (security
 * update) and upstream from 1.61; see h2_options(). */
#define GW_H2_MAX_CONTINUATIONS 8

/* Socket output: the session writes while below HIGH; the write callback
 * resumes it when the output drained to LOW. */
#define GW_H2_OUT_HIGH (64 * 1024)
#define GW_H2_OUT_LOW (16 * 1024)

/* Idle timeout (no open stream), and the longest the socket may take no
 * output while we have some (a peer that stopped reading), when the
 * worker gives 0. */
#define GW_H2_DEFAULT_IDLE_NS (60 * GW_NS_PER_S)

/*
 * Graceful shutdown: between the shutdown notice (GOAWAY with the largest
 * stream id) and the final GOAWAY, at least one round trip so that
 * requests already on the wire are not refused.  Not const: tests shorten
 * it.
 */
static int64_t h2_shutdown_delay_ns = GW_NS_PER_S;

/*
 * Options of newer libraries, declared weak so that the gateway links
 * with any libnghttp2 >= 1.43: the Debian 12 package has both from its
 * security updates (1.52.0-1+deb12u1, +deb12u2), upstream from 1.57 and
 * 1.61.  Where they are missing, our own counters are the guard against
 * rapid reset, and a CONTINUATION flood is cut by the header limits when
 * it carries fields.
 */
void nghttp2_option_set_stream_reset_rate_limit(nghttp2_option *option,
    uint64_t burst, uint64_t rate) __attribute__((weak));
void nghttp2_option_set_max_continuations(nghttp2_option *option,
    size_t val) __attribute__((weak));

/* --- types ------------------------------------------------------------- */

/*
 * A token bucket kept as time credit: each event costs 1/rate s; the
 * credit grows with elapsed time up to burst events' worth.  The clock is
 * a parameter so that tests use literal timestamps.
 */
struct h2_ratelim {
	int64_t credit_ns;       /* credit available now */
	int64_t cap_ns;          /* burst * cost_ns */
	int64_t cost_ns;         /* credit one event takes: 1 s / rate */
	int64_t last_ns;         /* monotonic time of the last update */
};

enum h2_pseudo {
	H2_METHOD = 0,
	H2_PATH,
	H2_SCHEME,
	H2_AUTHORITY,
	H2_PROTOCOL,
	H2_NPSEUDO,
};

/* One regular request field, by reference into nghttp2's buffers. */
struct h2_field {
	nghttp2_rcbuf *name;
	nghttp2_rcbuf *value;
};

struct gw_h2_conn;

struct gw_h2_stream {
	struct gw_h2_conn *h2;
	struct gw_stream *st;    /* owned; destroyed in h2_stream_close() */
	int32_t id;
	TAILQ_ENTRY(gw_h2_stream) entry;

	/* Request head, until END_HEADERS: references (no copies) to the
	 * field buffers nghttp2 decoded, dropped after gw_stream_begin(). */
	nghttp2_rcbuf *pseudo[H2_NPSEUDO];
	size_t nfields;          /* in kept.fields */
	size_t head_bytes;       /* RFC 9113 6.5.2 size of this block */
	size_t head_count;       /* fields in this block */
	bool head_too_large;     /* answer 431, drop the fields */

	bool begun;              /* gw_stream_begin() was called */
	bool req_ended;          /* the client's END_STREAM was seen */
	bool websocket;          /* RFC 8441 extended CONNECT */
	bool is_head;            /* HEAD: a response has no content */
	size_t unconsumed;       /* body bytes given to the stream and not yet
				    reported consumed (window still closed) */

	/* Response. */
	nghttp2_nv *trailers;    /* in kept.tr: sent after the body */
	size_t ntrailers;
	bool head_sent;          /* final (non-1xx) response head queued */
	bool has_provider;       /* DATA will follow the head */
	bool no_body;            /* HEAD, 204, 304: body bytes dropped */
	bool out_eof;            /* the body is complete in `out` */
	bool resp_over;          /* `out` went above GW_STREAM_HIGH_WATER:
				    gw_stream_resp_drained() owed */
	bool resp_sent;          /* a frame with END_STREAM was written */
	bool aborted;            /* we reset the stream */
	bool closed;             /* nghttp2 closed it: ops fail */

	/* Kept across reuse (must stay last): a released stream is zero
	 * but for these, as xcalloc gave it; `out` is empty. */
	struct h2_stream_kept {
		struct evbuffer *out;    /* body bytes not yet framed */
		struct h2_field *fields; /* request fields, fields_cap room */
		size_t fields_cap;
		void *tr;                /* trailer nv and bytes, tr_cap room */
		size_t tr_cap;
		struct gw_h2_stream *next_free;
	} kept;
};

TAILQ_HEAD(h2_streams, gw_h2_stream);

struct gw_h2_conn {
	struct gw_conn *c;
	nghttp2_session *session;
	struct h2_streams streams;
	size_t nstreams;
	struct evbuffer *rx;     /* request body bytes on their way to a
				    stream (reused; always empty between
				    callbacks; made with the first body) */
	/* event_active()'d (EV_WRITE): run the session.  Without streams
	 * it times out into parking (conn.h); parked, it waits on the
	 * socket. */
	struct event *flush_ev;
	struct event *idle_ev;   /* no stream for the idle time: GOAWAY
				    (NULL while parked: flush_ev times out
				    instead) */
	int64_t idle_since_ns;   /* when the last stream went */
	int64_t idle_ns;
	struct event *shutdown_ev; /* final GOAWAY of a graceful shutdown
				      (made by the shutdown) */
	struct timeval idle_tv;
	struct h2_ratelim rst_lim;
	struct h2_ratelim open_lim;
	struct h2_ratelim ctrl_lim;
	bool calm;               /* GOAWAY ENHANCE_YOUR_CALM queued */
	bool shutting_down;      /* shutdown notice sent */
	bool idle_fired;         /* idle GOAWAY sent: next expiry closes */
	bool draining;           /* session done: close once output empty */
	bool dead;               /* being freed: ops and flushes do nothing */
};

static const struct gw_front_ops h2_front_ops;

static int h2_io(struct gw_h2_conn *, bool);
static void h2_flush_cb(evutil_socket_t, short, void *);
static void h2_bev_setup(struct gw_h2_conn *);
static void h2_idle_cb(evutil_socket_t, short, void *);
static struct timeval h2_tv(int64_t);

/* --- rate limits ------------------------------------------------------- */

static void
h2_ratelim_init(struct h2_ratelim *r, int64_t burst, int64_t rate,
    int64_t now)
{
	r->cost_ns = GW_NS_PER_S / rate;
	r->cap_ns = r->cost_ns * burst;
	r->credit_ns = r->cap_ns;
	r->last_ns = now;
}

/* Takes one event at time now.  Returns false when the bucket is empty
 * (the event is over the limit).  A clock going back refills nothing. */
static bool
h2_ratelim_take(struct h2_ratelim *r, int64_t now)
{
	int64_t elapsed;

	if (now > r->last_ns) {
		elapsed = now - r->last_ns;
		if (elapsed >= r->cap_ns - r->credit_ns)
			r->credit_ns = r->cap_ns;
		else
			r->credit_ns += elapsed;
		r->last_ns = now;
	}
	if (r->credit_ns < r->cost_ns)
		return false;
	r->credit_ns -= r->cost_ns;
	return true;
}

/*
 * The peer is flooding: queue GOAWAY(ENHANCE_YOUR_CALM) and stop reading.
 * The connection closes once the GOAWAY is written (the session then
 * wants neither read nor write).  Safe inside nghttp2 callbacks.
 */
static void
h2_calm(struct gw_h2_conn *h2, const char *why)
{
	if (h2->calm)
		return;
	h2->calm = true;
	log_warn("%s:%u: %s: GOAWAY ENHANCE_YOUR_CALM", h2->c->peer_ip,
	    h2->c->peer_port, why);
	nghttp2_session_terminate_session(h2->session,
	    NGHTTP2_ENHANCE_YOUR_CALM);
}

/* --- scheduling -------------------------------------------------------- */

/* Runs the session send on this loop turn, after the current callbacks
 * returned.  Never frees anything. */
static void
h2_schedule(struct gw_h2_conn *h2)
{
	if (!h2->dead)
		event_active(h2->flush_ev, EV_WRITE, 0);
}

/* A connection without streams parks after this (the HTTP/1.1 front's
 * delay): an idle h2c connection is mostly its nghttp2 session, and the
 * bufferevent is most of the rest. */
#define GW_H2_PARK_DELAY_MS 20

/* Without streams: park after the delay (restarts the delay only). */
static void
h2_arm_park(struct gw_h2_conn *h2)
{
	static const struct timeval delay = { 0,
	    GW_H2_PARK_DELAY_MS * 1000 };

	if (h2->nstreams == 0 && !h2->c->tls && h2->c->parked_fd == -1)
		event_add(h2->flush_ev, &delay);
}

static void
h2_idle_update(struct gw_h2_conn *h2)
{
	if (h2->nstreams == 0) {
		h2->idle_since_ns = gw_now_ns();
		evtimer_add(h2->idle_ev, &h2->idle_tv);
		h2_arm_park(h2);
	} else
		evtimer_del(h2->idle_ev);
}

/* --- streams ----------------------------------------------------------- */

static struct gw_h2_stream *
h2_stream_get(struct gw_h2_conn *h2, int32_t id)
{
	return nghttp2_session_get_stream_user_data(h2->session, id);
}

/*
 * Streams are kept on the worker's free list (at most GW_FREELIST_MAX)
 * rather than freed, with their `out` evbuffer, field array and trailer
 * room: opening a stream then allocates nothing here.  ASan builds poison
 * a listed stream but for `kept`.
 */
#define HS_KEEP offsetof(struct gw_h2_stream, kept)
#define HS_LINK offsetof(struct gw_h2_stream, kept.next_free)

static struct gw_h2_stream *
h2_stream_alloc(struct gw_worker *w)
{
	struct gw_h2_stream *hs;

	hs = gw_freelist_take(&w->free_h2_streams, HS_KEEP, HS_LINK);
	if (hs == NULL) {
		hs = xcalloc(1, sizeof *hs);
		if ((hs->kept.out = evbuffer_new()) == NULL)
			abort();
	}
	return hs;
}

static void
h2_stream_free_kept(struct h2_stream_kept *k)
{
	evbuffer_free(k->out);
	free(k->fields);
	free(k->tr);
}

/* hs is closed and its head dropped: keep it for reuse, or free it. */
static void
h2_stream_release(struct gw_worker *w, struct gw_h2_stream *hs)
{
	struct h2_stream_kept *k = &hs->kept;

	evbuffer_drain(k->out, evbuffer_get_length(k->out));
	if (k->fields_cap > GW_H2_KEEP_FIELDS) {
		free(k->fields);
		k->fields = NULL;
		k->fields_cap = 0;
	}
	if (k->tr_cap > GW_H2_KEEP_TRAILERS) {
		free(k->tr);
		k->tr = NULL;
		k->tr_cap = 0;
	}
	if (!gw_freelist_put(&w->free_h2_streams, hs, HS_KEEP, HS_LINK)) {
		h2_stream_free_kept(k);
		free(hs);
	}
}

void
gw_h2_server_cache_free(struct gw_worker *w)
{
	struct gw_h2_stream *hs;

	while ((hs = gw_freelist_take(&w->free_h2_streams, HS_KEEP,
	    HS_LINK)) != NULL) {
		h2_stream_free_kept(&hs->kept);
		free(hs);
	}
}

static struct gw_h2_stream *
h2_stream_new(struct gw_h2_conn *h2, int32_t id)
{
	struct gw_h2_stream *hs;

	hs = h2_stream_alloc(h2->c->worker);
	hs->h2 = h2;
	hs->id = id;
	hs->st = gw_stream_create(h2->c, &h2_front_ops, hs);
	hs->st->h2_id = id;
	TAILQ_INSERT_TAIL(&h2->streams, hs, entry);
	h2->nstreams++;
	h2_idle_update(h2);
	return hs;
}

/* Drops the references to the request head's field buffers. */
static void
h2_stream_drop_head(struct gw_h2_stream *hs)
{
	size_t i;

	for (i = 0; i < H2_NPSEUDO; i++) {
		if (hs->pseudo[i] != NULL)
			nghttp2_rcbuf_decref(hs->pseudo[i]);
		hs->pseudo[i] = NULL;
	}
	for (i = 0; i < hs->nfields; i++) {
		nghttp2_rcbuf_decref(hs->kept.fields[i].name);
		nghttp2_rcbuf_decref(hs->kept.fields[i].value);
	}
	hs->nfields = 0;
}

/*
 * The stream is over (nghttp2 closed it, or the connection is going):
 * tells the stream layer the client is gone if its response did not
 * complete and we did not reset it ourselves, destroys the gw_stream,
 * returns its unconsumed body bytes to the connection window, releases
 * hs.  The only place streams are released.
 */
static void
h2_stream_close(struct gw_h2_stream *hs)
{
	struct gw_h2_conn *h2 = hs->h2;

	hs->closed = true;
	if (hs->begun && !hs->resp_sent && !hs->aborted)
		gw_stream_client_gone(hs->st);
	gw_stream_destroy(hs->st);
	hs->st = NULL;
	if (hs->unconsumed > 0 && !h2->dead)
		nghttp2_session_consume_connection(h2->session, hs->unconsumed);

	TAILQ_REMOVE(&h2->streams, hs, entry);
	h2->nstreams--;
	h2_stream_drop_head(hs);
	h2_stream_release(h2->c->worker, hs);
	if (!h2->dead)
		h2_idle_update(h2);
}

/* Resets the stream with INTERNAL_ERROR (the gateway failed it). */
static void
h2_stream_reset(struct gw_h2_stream *hs)
{
	if (hs->aborted)
		return;
	hs->aborted = true;
	nghttp2_submit_rst_stream(hs->h2->session, NGHTTP2_FLAG_NONE, hs->id,
	    NGHTTP2_INTERNAL_ERROR);
	h2_schedule(hs->h2);
}

/* Answers the stream from the front, without a body (431, 501): the
 * request never reached the stream layer. */
static void
h2_stream_reply(struct gw_h2_stream *hs, int status)
{
	char code[4];
	nghttp2_nv nv[2] = {
		{ (uint8_t *)":status", (uint8_t *)code, 7, 3,
		  NGHTTP2_NV_FLAG_NONE },
		{ (uint8_t *)"content-length", (uint8_t *)"0", 14, 1,
		  NGHTTP2_NV_FLAG_NONE },
	};

	snprintf(code, sizeof code, "%03d", status);
	hs->head_sent = true;
	if (nghttp2_submit_response(hs->h2->session, hs->id, nv, 2,
	    NULL) != 0)
		h2_stream_reset(hs);
	h2_schedule(hs->h2);
}

/* --- request ----------------------------------------------------------- */

static nghttp2_vec
h2_vec(nghttp2_rcbuf *rb)
{
	nghttp2_vec v = { NULL, 0 };

	if (rb != NULL)
		v = nghttp2_rcbuf_get_buf(rb);
	return v;
}

static bool
h2_vec_is(nghttp2_vec v, const char *s)
{
	size_t len = strlen(s);

	return v.len == len && memcmp(v.base, s, len) == 0;
}

static bool
h2_vec_case_is(nghttp2_vec v, const char *s)
{
	size_t len = strlen(s);

	return v.len == len && strncasecmp((const char *)v.base, s, len) == 0;
}

/* Content-Length as nghttp2 validated it (digits only), or -1. */
static int64_t
h2_parse_length(nghttp2_vec v)
{
	int64_t n = 0;
	size_t i;

	if (v.len == 0 || v.len > 18)
		return -1;
	for (i = 0; i < v.len; i++) {
		if (!isdigit(v.base[i]))
			return -1;
		n = n * 10 + (v.base[i] - '0');
	}
	return n;
}

/*
 * The request head is complete (END_HEADERS of the request HEADERS):
 * builds the gw_req_head from the collected references and starts the
 * stream.  RFC 9113 8.2.3: the cookie field may arrive as several
 * "crumbs"; they are joined with "; " into one field, since HTTP/1.1
 * backends must see one Cookie line.  Extended CONNECT (RFC 8441) with
 * :protocol websocket is handed on as GET with upgrade "websocket", the
 * same as the HTTP/1.1 handshake it replaces, so both route alike.
 */
static void
h2_request_head(struct gw_h2_stream *hs, bool end_stream)
{
	struct gw_req_head head;
	struct gw_hdr *hdrs, hdrs_stack[GW_H2_STACK_FIELDS];
	nghttp2_vec method, path, authority, protocol, name, value;
	size_t i, n, ncookies = 0, cookie_len = 0;
	char *cookie = NULL, cookie_stack[GW_H2_STACK_COOKIE];
	bool cookie_done = false;
	struct h2_field *fields = hs->kept.fields;

	if (hs->head_too_large) {
		log_debug("stream %d: request head too large: 431", hs->id);
		h2_stream_drop_head(hs);
		h2_stream_reply(hs, 431);
		return;
	}

	method = h2_vec(hs->pseudo[H2_METHOD]);
	path = h2_vec(hs->pseudo[H2_PATH]);
	authority = h2_vec(hs->pseudo[H2_AUTHORITY]);
	protocol = h2_vec(hs->pseudo[H2_PROTOCOL]);

	memset(&head, 0, sizeof head);
	head.method = (const char *)method.base;
	head.method_len = method.len;
	head.target = (const char *)path.base;
	head.target_len = path.len;
	head.content_length = -1;
	head.has_body = !end_stream;

	if (hs->pseudo[H2_PROTOCOL] != NULL) {
		if (!h2_vec_case_is(protocol, "websocket")) {
			h2_stream_drop_head(hs);
			h2_stream_reply(hs, 501);
			return;
		}
		hs->websocket = true;
		head.method = "GET";
		head.method_len = 3;
		head.upgrade = "websocket";
		head.upgrade_len = 9;
	} else if (hs->pseudo[H2_PATH] == NULL) {
		/* Plain CONNECT: the target is the authority. */
		head.target = (const char *)authority.base;
		head.target_len = authority.len;
	}
	hs->is_head = h2_vec_is(method, "HEAD");

	for (i = 0; i < hs->nfields; i++) {
		name = h2_vec(fields[i].name);
		value = h2_vec(fields[i].value);
		if (h2_vec_is(name, "cookie")) {
			ncookies++;
			cookie_len += value.len + 2;
		}
	}
	if (ncookies > 1)
		cookie = cookie_len <= sizeof cookie_stack ? cookie_stack :
		    xmalloc(cookie_len);
	cookie_len = 0;

	hdrs = hs->nfields <= GW_ARRAY_SIZE(hdrs_stack) ? hdrs_stack :
	    xcalloc(hs->nfields, sizeof *hdrs);
	n = 0;
	for (i = 0; i < hs->nfields; i++) {
		name = h2_vec(fields[i].name);
		value = h2_vec(fields[i].value);
		if (h2_vec_is(name, "content-length"))
			head.content_length = h2_parse_length(value);
		else if (h2_vec_is(name, "host") &&
		    hs->pseudo[H2_AUTHORITY] == NULL) {
			authority = value;
		}
		if (cookie != NULL && h2_vec_is(name, "cookie")) {
			if (cookie_len > 0) {
				memcpy(cookie + cookie_len, "; ", 2);
				cookie_len += 2;
			}
			memcpy(cookie + cookie_len, value.base, value.len);
			cookie_len += value.len;
			if (cookie_done)
				continue;
			/* The joined field takes the first crumb's place;
			 * its length is final once the loop is over. */
			cookie_done = true;
			hdrs[n].name = "cookie";
			hdrs[n].name_len = 6;
			hdrs[n].value = cookie;
			n++;
			continue;
		}
		hdrs[n].name = (const char *)name.base;
		hdrs[n].name_len = name.len;
		hdrs[n].value = (const char *)value.base;
		hdrs[n].value_len = value.len;
		n++;
	}
	for (i = 0; i < n; i++) {
		if (hdrs[i].value == cookie && cookie != NULL)
			hdrs[i].value_len = cookie_len;
	}
	if (authority.len > 0) {
		head.authority = (const char *)authority.base;
		head.authority_len = authority.len;
	}
	head.hdrs = hdrs;
	head.nhdrs = n;

	hs->begun = true;
	if (gw_stream_begin(hs->st, &head) != 0)
		log_debug("stream %d: begin failed", hs->id);
	if (hdrs != hdrs_stack)
		free(hdrs);
	if (cookie != cookie_stack)
		free(cookie);
	h2_stream_drop_head(hs);
}

/* The client ended its half of the stream. */
static void
h2_request_end(struct gw_h2_stream *hs)
{
	if (hs->req_ended)
		return;
	hs->req_ended = true;
	if (hs->begun)
		gw_stream_req_end(hs->st);
}

/* --- nghttp2 callbacks ------------------------------------------------- */

static ssize_t
h2_send_cb(nghttp2_session *session, const uint8_t *data, size_t len,
    int flags, void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct evbuffer *out = bufferevent_get_output(h2->c->bev);

	if (evbuffer_get_length(out) >= GW_H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (evbuffer_add(out, data, len) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return (ssize_t)len;
}

/*
 * Writes one DATA frame without copying the payload into nghttp2: the
 * 9-byte header (and pad length), then `length` bytes moved from the
 * stream's queue to the socket's output.
 */
static int
h2_send_data_cb(nghttp2_session *session, nghttp2_frame *frame,
    const uint8_t *framehd, size_t length, nghttp2_data_source *source,
    void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs = source->ptr;
	struct evbuffer *out = bufferevent_get_output(h2->c->bev);

	if (evbuffer_get_length(out) >= GW_H2_OUT_HIGH)
		return NGHTTP2_ERR_WOULDBLOCK;
	if (gw_h2_frame_add_data(out, framehd, frame->data.padlen, hs->kept.out,
	    length) != 0)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/*
 * The data source of a response: hands out what the stream queued, by
 * length only (NO_COPY).  Empty and not ended: DEFERRED until send_data
 * resumes it.  At the end with trailers pending, the last DATA goes
 * without END_STREAM and the trailers are submitted behind it.
 */
static ssize_t
h2_data_read_cb(nghttp2_session *session, int32_t id, uint8_t *buf,
    size_t length, uint32_t *flags, nghttp2_data_source *source, void *arg)
{
	struct gw_h2_stream *hs = source->ptr;
	size_t avail = evbuffer_get_length(hs->kept.out);
	size_t n = GW_MIN(avail, length);
	int rv;

	if (n == 0 && !hs->out_eof)
		return NGHTTP2_ERR_DEFERRED;
	*flags |= NGHTTP2_DATA_FLAG_NO_COPY;
	if (hs->out_eof && n == avail) {
		*flags |= NGHTTP2_DATA_FLAG_EOF;
		if (hs->trailers != NULL) {
			*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
			rv = nghttp2_submit_trailer(session, id, hs->trailers,
			    hs->ntrailers);
			hs->trailers = NULL;
			hs->ntrailers = 0;
			if (rv != 0) {
				hs->aborted = true;
				return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
			}
		}
	}
	return (ssize_t)n;
}

static int
h2_on_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame,
    void *arg)
{
	struct gw_h2_conn *h2 = arg;

	if (frame->hd.type != NGHTTP2_HEADERS ||
	    frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	if (!h2_ratelim_take(&h2->open_lim, gw_now_ns())) {
		h2_calm(h2, "streams opened too fast");
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	nghttp2_session_set_stream_user_data(session, frame->hd.stream_id,
	    h2_stream_new(h2, frame->hd.stream_id));
	return 0;
}

/* Keeps a reference to each field of a request head (trailers are
 * counted against the limits, then ignored). */
static int
h2_on_header_cb(nghttp2_session *session, const nghttp2_frame *frame,
    nghttp2_rcbuf *name, nghttp2_rcbuf *value, uint8_t flags, void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs;
	nghttp2_vec n, v;
	enum h2_pseudo p;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	hs = h2_stream_get(h2, frame->hd.stream_id);
	if (hs == NULL)
		return 0;
	n = nghttp2_rcbuf_get_buf(name);
	v = nghttp2_rcbuf_get_buf(value);

	hs->head_bytes += n.len + v.len + 32;
	hs->head_count++;
	if (hs->head_bytes > GW_H2_ABUSE_HEADER_LIST ||
	    hs->head_count > GW_H2_ABUSE_HEADER_FIELDS) {
		h2_calm(h2, "header block flood");
		return NGHTTP2_ERR_PAUSE;
	}
	if (frame->headers.cat != NGHTTP2_HCAT_REQUEST || hs->head_too_large)
		return 0;
	if (hs->head_bytes > GW_H2_MAX_HEADER_LIST ||
	    hs->head_count > GW_H2_MAX_HEADER_FIELDS) {
		hs->head_too_large = true;
		h2_stream_drop_head(hs);
		return 0;
	}

	if (n.len > 0 && n.base[0] == ':') {
		/* nghttp2 rejected unknown and repeated pseudo-fields. */
		if (h2_vec_is(n, ":method"))
			p = H2_METHOD;
		else if (h2_vec_is(n, ":path"))
			p = H2_PATH;
		else if (h2_vec_is(n, ":scheme"))
			p = H2_SCHEME;
		else if (h2_vec_is(n, ":authority"))
			p = H2_AUTHORITY;
		else if (h2_vec_is(n, ":protocol"))
			p = H2_PROTOCOL;
		else
			return 0;
		if (hs->pseudo[p] != NULL)
			nghttp2_rcbuf_decref(hs->pseudo[p]);
		nghttp2_rcbuf_incref(value);
		hs->pseudo[p] = value;
		return 0;
	}
	if (hs->nfields == hs->kept.fields_cap) {
		hs->kept.fields_cap = hs->kept.fields_cap == 0 ? 16 :
		    hs->kept.fields_cap * 2;
		hs->kept.fields = xreallocarray(hs->kept.fields,
		    hs->kept.fields_cap, sizeof *hs->kept.fields);
	}
	nghttp2_rcbuf_incref(name);
	nghttp2_rcbuf_incref(value);
	hs->kept.fields[hs->nfields].name = name;
	hs->kept.fields[hs->nfields].value = value;
	hs->nfields++;
	return 0;
}

static int
h2_on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame,
    void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs;
	bool end_stream = (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
		hs = h2_stream_get(h2, frame->hd.stream_id);
		if (hs == NULL)
			break;
		if (frame->headers.cat == NGHTTP2_HCAT_REQUEST)
			h2_request_head(hs, end_stream);
		/* Limits are per header block. */
		hs->head_bytes = hs->head_count = 0;
		if (end_stream)
			h2_request_end(hs);
		break;
	case NGHTTP2_DATA:
		if (frame->hd.length == 0 && !end_stream &&
		    !h2_ratelim_take(&h2->ctrl_lim, gw_now_ns())) {
			h2_calm(h2, "empty DATA flood");
			break;
		}
		hs = h2_stream_get(h2, frame->hd.stream_id);
		if (hs != NULL && end_stream)
			h2_request_end(hs);
		break;
	case NGHTTP2_RST_STREAM:
		if (!h2_ratelim_take(&h2->rst_lim, gw_now_ns()))
			h2_calm(h2, "RST_STREAM flood");
		break;
	case NGHTTP2_PING:
	case NGHTTP2_SETTINGS:
		if (frame->hd.flags & NGHTTP2_FLAG_ACK)
			break;
		/* FALLTHROUGH */
	case NGHTTP2_PRIORITY:
		if (!h2_ratelim_take(&h2->ctrl_lim, gw_now_ns()))
			h2_calm(h2, "control frame flood");
		break;
	default:
		break;
	}
	return 0;
}

/* Request body: moved on to the stream at once.  The window stays closed
 * until the stream reports the bytes consumed (req_consumed). */
static int
h2_on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t id,
    const uint8_t *data, size_t len, void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs;

	hs = h2_stream_get(h2, id);
	if (hs == NULL || !hs->begun || hs->aborted) {
		/* Nobody takes it: reopen the windows now. */
		nghttp2_session_consume(session, id, len);
		return 0;
	}
	hs->unconsumed += len;
	if (h2->rx == NULL)
		h2->rx = evbuffer_new();
	evbuffer_add(h2->rx, data, len);
	gw_stream_req_body(hs->st, h2->rx);
	evbuffer_drain(h2->rx, evbuffer_get_length(h2->rx));
	return 0;
}

static int
h2_on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame,
    void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs;

	switch (frame->hd.type) {
	case NGHTTP2_HEADERS:
	case NGHTTP2_DATA:
		if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
			break;
		hs = h2_stream_get(h2, frame->hd.stream_id);
		if (hs == NULL)
			break;
		hs->resp_sent = true;
		/* RFC 9113 8.1: a complete response before the whole
		 * request; ask the client to stop sending, without error. */
		if (!hs->req_ended && !hs->aborted)
			nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE,
			    hs->id, NGHTTP2_NO_ERROR);
		break;
	case NGHTTP2_RST_STREAM:
		/* Resets the client provoked count as its own. */
		if (frame->rst_stream.error_code != NGHTTP2_NO_ERROR &&
		    frame->rst_stream.error_code != NGHTTP2_INTERNAL_ERROR &&
		    !h2_ratelim_take(&h2->rst_lim, gw_now_ns()))
			h2_calm(h2, "streams reset by protocol errors");
		break;
	default:
		break;
	}
	return 0;
}

/* A frame could not be sent (typically a response head too large for
 * the client): the stream cannot complete, reset it. */
static int
h2_on_frame_not_send_cb(nghttp2_session *session, const nghttp2_frame *frame,
    int error, void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs;

	if (frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	hs = h2_stream_get(h2, frame->hd.stream_id);
	if (hs == NULL)
		return 0;
	log_debug("stream %d: HEADERS not sent: %s", hs->id,
	    nghttp2_strerror(error));
	h2_stream_reset(hs);
	return 0;
}

static int
h2_on_stream_close_cb(nghttp2_session *session, int32_t id,
    uint32_t error_code, void *arg)
{
	struct gw_h2_conn *h2 = arg;
	struct gw_h2_stream *hs;

	hs = h2_stream_get(h2, id);
	if (hs == NULL)
		return 0;
	nghttp2_session_set_stream_user_data(session, id, NULL);
	log_debug("stream %d closed (%s)", id,
	    nghttp2_http2_strerror(error_code));
	h2_stream_close(hs);
	return 0;
}

/* --- front ops --------------------------------------------------------- */

static bool
h2_name_is(const char *name, size_t len, const char *s)
{
	return strlen(s) == len && strncasecmp(name, s, len) == 0;
}

/*
 * Fields that may not appear in HTTP/2 (RFC 9113 8.2.2): connection-
 * specific ones, and te other than "trailers".  Also empty names and
 * anything looking like a pseudo-field.
 */
static bool
h2_field_dropped(const struct gw_hdr *h)
{
	if (h->name_len == 0 || h->name[0] == ':')
		return true;
	if (h2_name_is(h->name, h->name_len, "te"))
		return !(h->value_len == 8 &&
		    strncasecmp(h->value, "trailers", 8) == 0);
	return h2_name_is(h->name, h->name_len, "connection") ||
	    h2_name_is(h->name, h->name_len, "keep-alive") ||
	    h2_name_is(h->name, h->name_len, "proxy-connection") ||
	    h2_name_is(h->name, h->name_len, "transfer-encoding") ||
	    h2_name_is(h->name, h->name_len, "upgrade");
}

/* More fields to leave out of a response head. */
#define H2_SKIP_CL 0x1           /* content-length: we add our own */
#define H2_SKIP_WS 0x2           /* sec-websocket-accept (RFC 8441 has
				    no key to answer) */

/*
 * Appends hdrs to nv (room for n), names lower-cased into `names` (room
 * for the sum of the name lengths), values by pointer.  nghttp2 copies
 * the pairs when they are submitted.  skip: H2_SKIP_* flags.  Returns the
 * count appended.
 */
static size_t
h2_nv_fields(nghttp2_nv *nv, const struct gw_hdr *hdrs, size_t n,
    uint8_t *names, int skip)
{
	size_t i, j, k = 0;
	const struct gw_hdr *h;

	for (i = 0; i < n; i++) {
		h = &hdrs[i];
		if (h2_field_dropped(h))
			continue;
		if ((skip & H2_SKIP_CL) &&
		    h2_name_is(h->name, h->name_len, "content-length"))
			continue;
		if ((skip & H2_SKIP_WS) &&
		    h2_name_is(h->name, h->name_len, "sec-websocket-accept"))
			continue;
		for (j = 0; j < h->name_len; j++)
			names[j] = (uint8_t)tolower((unsigned char)h->name[j]);
		nv[k].name = names;
		nv[k].namelen = h->name_len;
		nv[k].value = (uint8_t *)(uintptr_t)h->value;
		nv[k].valuelen = h->value_len;
		nv[k].flags = gw_h2_nv_flags(names, h->name_len);
		names += h->name_len;
		k++;
	}
	return k;
}

static size_t
h2_names_len(const struct gw_hdr *hdrs, size_t n)
{
	size_t i, len = 0;

	for (i = 0; i < n; i++)
		len += hdrs[i].name_len;
	return len;
}

/* The ops' common check: false when the stream or connection is gone. */
static bool
h2_stream_usable(struct gw_h2_stream *hs)
{
	return hs != NULL && !hs->closed && !hs->h2->dead;
}

static int
h2_op_send_head(struct gw_stream *st, int status, const struct gw_hdr *hdrs,
    size_t n, int64_t content_length, bool end_stream)
{
	struct gw_h2_stream *hs = st->front_ctx;
	struct gw_h2_conn *h2;
	nghttp2_data_provider prd;
	nghttp2_nv *nv, nv_stack[48];
	uint8_t *names, names_stack[2048];
	char code[4], cl[24];
	size_t k, nlen;
	int rv, skip;
	bool informational;

	if (!h2_stream_usable(hs))
		return -1;
	h2 = hs->h2;
	if (hs->head_sent || hs->aborted)
		return hs->aborted ? -1 : 0;

	/* RFC 8441 5: the extended CONNECT succeeds with 200, where the
	 * HTTP/1.1 handshake answered 101. */
	if (hs->websocket && status == 101)
		status = 200;
	/* 101 does not exist in HTTP/2 (RFC 9113 8.6). */
	if (status < 100 || status > 999 || status == 101) {
		h2_stream_reset(hs);
		return -1;
	}
	informational = status < 200;

	/* Most heads fit on the stack; nghttp2 copies them on submit. */
	nlen = h2_names_len(hdrs, n) + 1;
	nv = n + 2 <= GW_ARRAY_SIZE(nv_stack) ? nv_stack :
	    xcalloc(n + 2, sizeof *nv);
	names = nlen <= sizeof(names_stack) ? names_stack : xmalloc(nlen);
	code[0] = (char)('0' + status / 100);
	code[1] = (char)('0' + status / 10 % 10);
	code[2] = (char)('0' + status % 10);
	code[3] = '\0';
	nv[0].name = (uint8_t *)":status";
	nv[0].namelen = 7;
	nv[0].value = (uint8_t *)code;
	nv[0].valuelen = 3;
	nv[0].flags = NGHTTP2_NV_FLAG_NONE;
	k = 1;
	skip = hs->websocket ? H2_SKIP_WS : 0;
	if (!informational && content_length >= 0) {
		nv[k].name = (uint8_t *)"content-length";
		nv[k].namelen = 14;
		nv[k].value = (uint8_t *)cl;
		nv[k].valuelen = gw_fmt_u64(cl, (uint64_t)content_length);
		nv[k].flags = NGHTTP2_NV_FLAG_NONE;
		k++;
		skip |= H2_SKIP_CL;
	}
	k += h2_nv_fields(nv + k, hdrs, n, names, skip);

	if (informational) {
		rv = nghttp2_submit_headers(h2->session, NGHTTP2_FLAG_NONE,
		    hs->id, NULL, nv, k, NULL);
	} else {
		hs->head_sent = true;
		hs->no_body = hs->is_head || status == 204 || status == 304;
		hs->has_provider = !end_stream;
		prd.source.ptr = hs;
		prd.read_callback = h2_data_read_cb;
		rv = nghttp2_submit_response(h2->session, hs->id, nv, k,
		    end_stream ? NULL : &prd);
	}
	if (names != names_stack)
		free(names);
	if (nv != nv_stack)
		free(nv);
	if (rv != 0) {
		log_debug("stream %d: response head: %s", hs->id,
		    nghttp2_strerror(rv));
		h2_stream_reset(hs);
		return -1;
	}
	h2_schedule(h2);
	return 0;
}

static void
h2_drop(struct evbuffer *data)
{
	if (data != NULL)
		evbuffer_drain(data, evbuffer_get_length(data));
}

/* Queues body bytes (data may be NULL: none); resumes the deferred data
 * source. */
static int
h2_queue_data(struct gw_h2_stream *hs, struct evbuffer *data,
    bool end_stream)
{
	if (!h2_stream_usable(hs) || hs->aborted) {
		h2_drop(data);
		return -1;
	}
	if (!hs->head_sent) {
		log_error("stream %d: body before the response head", hs->id);
		h2_drop(data);
		h2_stream_reset(hs);
		return -1;
	}
	if (!hs->has_provider || hs->out_eof || hs->no_body)
		h2_drop(data);
	else if (data != NULL)
		evbuffer_add_buffer(hs->kept.out, data);
	if (!hs->has_provider || hs->out_eof)
		return 0;
	if (end_stream)
		hs->out_eof = true;
	if (evbuffer_get_length(hs->kept.out) > GW_STREAM_HIGH_WATER)
		hs->resp_over = true;
	nghttp2_session_resume_data(hs->h2->session, hs->id);
	h2_schedule(hs->h2);
	return 0;
}

static int
h2_op_send_data(struct gw_stream *st, struct evbuffer *data, bool end_stream)
{
	return h2_queue_data(st->front_ctx, data, end_stream);
}

/* Ends the body with trailers: kept until the data source reaches the
 * end of the body, then submitted behind the last DATA frame. */
static int
h2_op_send_trailers(struct gw_stream *st, const struct gw_hdr *hdrs,
    size_t n)
{
	struct gw_h2_stream *hs = st->front_ctx;
	nghttp2_nv *nv;
	uint8_t *p;
	size_t i, k, size;

	if (!h2_stream_usable(hs) || hs->aborted)
		return -1;
	if (!hs->head_sent) {
		log_error("stream %d: trailers before the response head",
		    hs->id);
		h2_stream_reset(hs);
		return -1;
	}
	if (!hs->has_provider || hs->out_eof)
		return 0;
	if (n > 0 && !hs->no_body) {
		size = (n * sizeof *nv) + h2_names_len(hdrs, n);
		for (i = 0; i < n; i++)
			size += hdrs[i].value_len;
		if (size > hs->kept.tr_cap) {
			free(hs->kept.tr);
			hs->kept.tr_cap = GW_MAX(size, (size_t)512);
			hs->kept.tr = xmalloc(hs->kept.tr_cap);
		}
		nv = hs->kept.tr;
		p = (uint8_t *)(nv + n);
		k = h2_nv_fields(nv, hdrs, n, p, 0);
		/* Values move next to the names: nv must outlive hdrs. */
		p += h2_names_len(hdrs, n);
		for (i = 0; i < k; i++) {
			memcpy(p, nv[i].value, nv[i].valuelen);
			nv[i].value = p;
			p += nv[i].valuelen;
		}
		if (k > 0) {
			hs->trailers = nv;
			hs->ntrailers = k;
		}
	}
	return h2_queue_data(hs, NULL, true);
}

static size_t
h2_op_pending(struct gw_stream *st)
{
	struct gw_h2_stream *hs = st->front_ctx;

	if (!h2_stream_usable(hs))
		return 0;
	return evbuffer_get_length(hs->kept.out);
}

/* RST_STREAM(INTERNAL_ERROR); the stream is destroyed when nghttp2 closes
 * it, after this returns. */
static void
h2_op_abort(struct gw_stream *st)
{
	struct gw_h2_stream *hs = st->front_ctx;

	if (!h2_stream_usable(hs))
		return;
	h2_stream_reset(hs);
}

/* The backend took n request body bytes: reopen the windows by as much
 * (nghttp2 sends WINDOW_UPDATE once half a window was consumed). */
static void
h2_op_req_consumed(struct gw_stream *st, size_t n)
{
	struct gw_h2_stream *hs = st->front_ctx;

	if (!h2_stream_usable(hs))
		return;
	n = GW_MIN(n, hs->unconsumed);
	if (n == 0)
		return;
	hs->unconsumed -= n;
	nghttp2_session_consume(hs->h2->session, hs->id, n);
	h2_schedule(hs->h2);
}

static const struct gw_front_ops h2_front_ops = {
	.send_head = h2_op_send_head,
	.send_data = h2_op_send_data,
	.send_trailers = h2_op_send_trailers,
	.pending = h2_op_pending,
	.abort = h2_op_abort,
	.req_consumed = h2_op_req_consumed,
	.send_continue = NULL,
};

/* --- I/O --------------------------------------------------------------- */

/* Feeds the socket's input to the session, chunk by chunk, no copy. */
static int
h2_recv(struct gw_h2_conn *h2)
{
	struct evbuffer *in = bufferevent_get_input(h2->c->bev);
	struct evbuffer_iovec v;
	ssize_t n;

	while (evbuffer_peek(in, -1, NULL, &v, 1) > 0 && v.iov_len > 0) {
		if (h2->calm || !nghttp2_session_want_read(h2->session)) {
			evbuffer_drain(in, evbuffer_get_length(in));
			break;
		}
		n = nghttp2_session_mem_recv(h2->session, v.iov_base,
		    v.iov_len);
		if (n < 0) {
			log_debug("%s:%u: %s", h2->c->peer_ip,
			    h2->c->peer_port, nghttp2_strerror((int)n));
			return -1;
		}
		evbuffer_drain(in, (size_t)n);
		if (n == 0 && !h2->calm)
			break;
	}
	return 0;
}

/* Streams whose queue fell below the low mark may take more. */
static void
h2_notify_drained(struct gw_h2_conn *h2)
{
	struct gw_h2_stream *hs, *next;

	for (hs = TAILQ_FIRST(&h2->streams); hs != NULL; hs = next) {
		next = TAILQ_NEXT(hs, entry);
		if (!hs->resp_over ||
		    evbuffer_get_length(hs->kept.out) >= GW_STREAM_LOW_WATER)
			continue;
		hs->resp_over = false;
		gw_stream_resp_drained(hs->st);
	}
}

/*
 * Writes what the session has while the output is below GW_H2_OUT_HIGH.
 * Returns -1 when the connection is to be closed now: an error, or the
 * session is done and everything was written.  When done with output
 * still queued, the write callback closes once it is written.
 */
static int
h2_send(struct gw_h2_conn *h2)
{
	struct bufferevent *bev = h2->c->bev;
	struct evbuffer *out = bufferevent_get_output(bev);
	int rv;

	if (evbuffer_get_length(out) < GW_H2_OUT_HIGH) {
		rv = nghttp2_session_send(h2->session);
		if (rv != 0) {
			log_debug("%s:%u: %s", h2->c->peer_ip,
			    h2->c->peer_port, nghttp2_strerror(rv));
			return -1;
		}
	}
	h2_notify_drained(h2);
	if (nghttp2_session_want_read(h2->session) ||
	    nghttp2_session_want_write(h2->session))
		return 0;
	if (evbuffer_get_length(out) == 0)
		return -1;
	h2->draining = true;
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	return 0;
}

/* One pass: input (when asked), then output.  -1: free the connection. */
static int
h2_io(struct gw_h2_conn *h2, bool input)
{
	if (h2->draining)
		return 0;
	if (input && h2_recv(h2) != 0)
		return -1;
	return h2_send(h2);
}

static void
h2_readcb(struct bufferevent *bev, void *arg)
{
	struct gw_conn *c = arg;

	if (h2_io(c->proto_ctx, true) != 0)
		gw_conn_free(c);
}

static void
h2_writecb(struct bufferevent *bev, void *arg)
{
	struct gw_conn *c = arg;
	struct gw_h2_conn *h2 = c->proto_ctx;

	gw_sockio_written(&c->sockio);
	if (h2->draining) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			gw_conn_free(c);
		return;
	}
	if (h2_io(h2, false) != 0)
		gw_conn_free(c);
}

static void
h2_eventcb(struct bufferevent *bev, short events, void *arg)
{
	struct gw_conn *c = arg;

	if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
		log_debug("%s:%u: %s", c->peer_ip, c->peer_port,
		    (events & BEV_EVENT_EOF) ? "closed" : "error");
		gw_conn_free(c);
	}
}

/* Parks a connection that has been without streams for the park delay,
 * if nothing is under way either. */
static void
h2_park(struct gw_h2_conn *h2)
{
	int64_t left;

	if (h2->nstreams > 0 || h2->shutting_down || h2->idle_fired ||
	    h2->draining || h2->calm || h2->dead ||
	    nghttp2_session_want_write(h2->session))
		return;
	if (!gw_conn_can_park(h2->c)) {
		h2_arm_park(h2);         /* output still going: later */
		return;
	}
	/* The idle time left goes with the parked event; idle_ev goes (one
	 * event less per parked connection). */
	left = h2->idle_ns - (gw_now_ns() - h2->idle_since_ns);
	event_free(h2->idle_ev);
	h2->idle_ev = NULL;
	gw_conn_park(h2->c, h2->flush_ev, h2_flush_cb, h2,
	    left > 0 ? left : 1);
}

/* Back from parking before anything that needs the bufferevent; what the
 * socket holds is read (and passed to the session by the caller's
 * h2_io).  -1: the connection is to be freed. */
static int
h2_unpark(struct gw_h2_conn *h2)
{
	struct gw_conn *c = h2->c;
	int64_t left;

	if (c->parked_fd == -1)
		return 0;
	if (gw_conn_unpark(c, h2->flush_ev, h2_flush_cb, h2) != 0)
		return -1;
	/* The idle timer again, with what is left of the idle time (none:
	 * it fires now). */
	if ((h2->idle_ev = evtimer_new(c->worker->base, h2_idle_cb, h2)) ==
	    NULL)
		return -1;
	left = h2->idle_ns - (gw_now_ns() - h2->idle_since_ns);
	if (left > 0) {
		struct timeval tv = h2_tv(left);

		evtimer_add(h2->idle_ev, &tv);
	} else
		event_active(h2->idle_ev, EV_TIMEOUT, 0);
	h2_bev_setup(h2);
	gw_sockio_read(&c->sockio, GW_SOCKIO_READ_MAX);
	return 0;
}

static void
h2_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h2_conn *h2 = arg;
	bool parked = h2->c->parked_fd != -1;

	(void)fd;
	if (!parked && !(what & (EV_READ | EV_WRITE))) {
		h2_park(h2);
		return;
	}
	if (h2_unpark(h2) != 0 || h2_io(h2, parked) != 0) {
		gw_conn_free(h2->c);
		return;
	}
	/* The activation took the park timer with it. */
	h2_arm_park(h2);
}

/* No stream for the idle time: GOAWAY(NO_ERROR).  If the peer does not
 * take even that within another idle time, close. */
static void
h2_idle_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h2_conn *h2 = arg;

	if (h2->idle_fired || h2->draining || h2_unpark(h2) != 0) {
		gw_conn_free(h2->c);
		return;
	}
	h2->idle_fired = true;
	nghttp2_session_terminate_session(h2->session, NGHTTP2_NO_ERROR);
	evtimer_add(h2->idle_ev, &h2->idle_tv);
	if (h2_io(h2, false) != 0)
		gw_conn_free(h2->c);
}

/* The round trip after the shutdown notice passed: the final GOAWAY names
 * the last stream we processed; those finish, then the session closes. */
static void
h2_shutdown_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h2_conn *h2 = arg;

	if (h2_unpark(h2) != 0) {
		gw_conn_free(h2->c);
		return;
	}
	nghttp2_submit_goaway(h2->session, NGHTTP2_FLAG_NONE,
	    nghttp2_session_get_last_proc_stream_id(h2->session),
	    NGHTTP2_NO_ERROR, NULL, 0);
	if (h2_io(h2, false) != 0)
		gw_conn_free(h2->c);
}

/* --- setup ------------------------------------------------------------- */

/* The connection's bufferevent, with this front's callbacks and timeouts
 * (at the start, and again when a parked connection wakes up). */
static void
h2_bev_setup(struct gw_h2_conn *h2)
{
	struct gw_conn *c = h2->c;

	bufferevent_setcb(c->bev, h2_readcb, h2_writecb, h2_eventcb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
	bufferevent_setwatermark(c->bev, EV_WRITE, GW_H2_OUT_LOW, 0);
	/* A peer that stops reading (its streams can then never close) is
	 * cut after the idle time without write progress.  No read timeout:
	 * open streams may be quiet for long; the idle timer covers a
	 * connection without streams. */
	bufferevent_set_timeouts(c->bev, NULL, &h2->idle_tv);
	gw_sockio_enable(&c->sockio, c->bev, EV_READ | EV_WRITE);
}

static struct timeval
h2_tv(int64_t ns)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ns / GW_NS_PER_S);
	tv.tv_usec = (suseconds_t)((ns % GW_NS_PER_S) / 1000);
	return tv;
}

static nghttp2_option *
h2_options(void)
{
	nghttp2_option *opt;

	if (nghttp2_option_new(&opt) != 0)
		abort();
	nghttp2_option_set_no_auto_window_update(opt, 1);
	nghttp2_option_set_max_outbound_ack(opt, GW_H2_MAX_OUTBOUND_ACK);
	nghttp2_option_set_max_settings(opt, GW_H2_MAX_SETTINGS);
	/* Closed streams kept for the RFC 7540 priority tree cost memory
	 * per reset stream; the gateway does not need them. */
	nghttp2_option_set_no_closed_streams(opt, 1);
	/* nghttp2's own rapid-reset guard answers INTERNAL_ERROR; keep it
	 * above ours (twice) as a backstop so that ours speaks first. */
	if (nghttp2_option_set_stream_reset_rate_limit != NULL)
		nghttp2_option_set_stream_reset_rate_limit(opt,
		    2 * GW_H2_RST_BURST, 2 * GW_H2_RST_RATE);
	if (nghttp2_option_set_max_continuations != NULL)
		nghttp2_option_set_max_continuations(opt,
		    GW_H2_MAX_CONTINUATIONS);
	return opt;
}

static nghttp2_session_callbacks *
h2_callbacks(void)
{
	nghttp2_session_callbacks *cb;

	if (nghttp2_session_callbacks_new(&cb) != 0)
		abort();
	nghttp2_session_callbacks_set_send_callback(cb, h2_send_cb);
	nghttp2_session_callbacks_set_send_data_callback(cb, h2_send_data_cb);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb,
	    h2_on_begin_headers_cb);
	nghttp2_session_callbacks_set_on_header_callback2(cb,
	    h2_on_header_cb);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb,
	    h2_on_frame_recv_cb);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb,
	    h2_on_data_chunk_cb);
	nghttp2_session_callbacks_set_on_frame_send_callback(cb,
	    h2_on_frame_send_cb);
	nghttp2_session_callbacks_set_on_frame_not_send_callback(cb,
	    h2_on_frame_not_send_cb);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb,
	    h2_on_stream_close_cb);
	return cb;
}

/*
 * Creates the session on c and queues the server SETTINGS and the
 * connection window.  Takes over c->bev's callbacks.  Never fails
 * (allocation failure is fatal).
 */
static struct gw_h2_conn *
h2_conn_new(struct gw_conn *c)
{
	struct gw_worker *w = c->worker;
	struct event_base *base = w->base;
	struct gw_h2_conn *h2;
	nghttp2_session_callbacks *cb;
	nghttp2_option *opt;
	nghttp2_settings_entry iv[4];
	int64_t now = gw_now_ns();
	unsigned max_streams;

	h2 = xcalloc(1, sizeof *h2);
	h2->c = c;
	TAILQ_INIT(&h2->streams);
	h2->flush_ev = event_new(base, -1, 0, h2_flush_cb, h2);
	h2->idle_ev = evtimer_new(base, h2_idle_cb, h2);
	if (h2->flush_ev == NULL || h2->idle_ev == NULL)
		abort();
	h2->idle_ns = w->idle_timeout_ns > 0 ? w->idle_timeout_ns :
	    GW_H2_DEFAULT_IDLE_NS;
	h2->idle_tv = h2_tv(h2->idle_ns);
	h2_ratelim_init(&h2->rst_lim, GW_H2_RST_BURST, GW_H2_RST_RATE, now);
	h2_ratelim_init(&h2->open_lim, GW_H2_OPEN_BURST, GW_H2_OPEN_RATE,
	    now);
	h2_ratelim_init(&h2->ctrl_lim, GW_H2_CTRL_BURST, GW_H2_CTRL_RATE,
	    now);

	cb = h2_callbacks();
	opt = h2_options();
	if ((w->h2mem.mem.malloc != NULL ?
	    nghttp2_session_server_new3(&h2->session, cb, h2, opt,
	    &w->h2mem.mem) :
	    nghttp2_session_server_new2(&h2->session, cb, h2, opt)) != 0)
		abort();
	nghttp2_option_del(opt);
	nghttp2_session_callbacks_del(cb);

	max_streams = w->max_concurrent_streams > 0 ?
	    w->max_concurrent_streams : GW_H2_DEFAULT_MAX_STREAMS;
	iv[0].settings_id = NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS;
	iv[0].value = max_streams;
	iv[1].settings_id = NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE;
	iv[1].value = GW_H2_STREAM_WINDOW;
	iv[2].settings_id = NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE;
	iv[2].value = GW_H2_MAX_HEADER_LIST;
	iv[3].settings_id = NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL;
	iv[3].value = 1;
	if (nghttp2_submit_settings(h2->session, NGHTTP2_FLAG_NONE, iv,
	    GW_ARRAY_SIZE(iv)) != 0)
		abort();
	if (nghttp2_session_set_local_window_size(h2->session,
	    NGHTTP2_FLAG_NONE, 0, GW_H2_CONN_WINDOW) != 0)
		abort();

	c->proto = GW_PROTO_H2;
	c->proto_ctx = h2;
	h2_bev_setup(h2);
	h2_idle_update(h2);
	return h2;
}

/* The first pass after setup; a worker already stopping starts the
 * graceful shutdown at once. */
static int
h2_begin_io(struct gw_conn *c, struct gw_h2_conn *h2)
{
	if (c->worker->stopping)
		gw_h2_server_shutdown(c);
	if (h2_io(h2, true) != 0) {
		gw_conn_free(c);
		return -1;
	}
	return 0;
}

int
gw_h2_server_start(struct gw_conn *c)
{
	return h2_begin_io(c, h2_conn_new(c));
}

/*
 * RFC 7540 3.2 (HTTP/1.1 Upgrade to h2c): the HTTP2-Settings payload
 * becomes the client's SETTINGS and the upgrading request becomes
 * stream 1, half-closed (remote): it had no body.  Our SETTINGS go out
 * first, then whatever stream 1 answers.
 */
int
gw_h2_server_upgrade(struct gw_conn *c, const uint8_t *settings, size_t len,
    const struct gw_req_head *head)
{
	struct gw_h2_conn *h2;
	struct gw_h2_stream *hs;
	int rv, head_request;

	h2 = h2_conn_new(c);
	head_request = head->method_len == 4 &&
	    memcmp(head->method, "HEAD", 4) == 0;
	rv = nghttp2_session_upgrade2(h2->session, settings, len,
	    head_request, NULL);
	if (rv != 0) {
		log_debug("%s:%u: h2c upgrade: %s", c->peer_ip, c->peer_port,
		    nghttp2_strerror(rv));
		gw_conn_free(c);
		return -1;
	}
	hs = h2_stream_new(h2, 1);
	nghttp2_session_set_stream_user_data(h2->session, 1, hs);
	hs->is_head = head_request;
	hs->req_ended = true;
	hs->begun = true;
	if (gw_stream_begin(hs->st, head) != 0)
		log_debug("stream 1: begin failed");
	else if (!hs->closed)
		gw_stream_req_end(hs->st);
	return h2_begin_io(c, h2);
}

/*
 * Frees the session and its streams; called by gw_conn_free() only.
 * nghttp2_session_del() does not report open streams as closed, so they
 * are closed here first (client gone, destroyed), while the session is
 * still valid; ops called meanwhile see `dead` and do nothing.
 */
void
gw_h2_server_free(struct gw_conn *c)
{
	struct gw_h2_conn *h2 = c->proto_ctx;
	struct gw_h2_stream *hs;

	if (h2 == NULL)
		return;
	h2->dead = true;
	while ((hs = TAILQ_FIRST(&h2->streams)) != NULL)
		h2_stream_close(hs);
	nghttp2_session_del(h2->session);
	event_free(h2->flush_ev);
	if (h2->idle_ev != NULL)
		event_free(h2->idle_ev);
	if (h2->shutdown_ev != NULL)
		event_free(h2->shutdown_ev);
	if (h2->rx != NULL)
		evbuffer_free(h2->rx);
	free(h2);
	c->proto_ctx = NULL;
	if (c->bev != NULL)
		bufferevent_setcb(c->bev, NULL, NULL, NULL, NULL);
}

/*
 * Graceful shutdown: the notice now, the final GOAWAY one round trip
 * later (h2_shutdown_cb); in-flight streams finish, then the session
 * wants nothing more and the connection closes.  Never frees c here.
 */
void
gw_h2_server_shutdown(struct gw_conn *c)
{
	struct gw_h2_conn *h2 = c->proto_ctx;
	struct timeval tv;

	if (h2 == NULL || h2->dead || h2->shutting_down)
		return;
	h2->shutting_down = true;
	nghttp2_submit_shutdown_notice(h2->session);
	tv = h2_tv(h2_shutdown_delay_ns);
	h2->shutdown_ev = evtimer_new(c->worker->base, h2_shutdown_cb, h2);
	evtimer_add(h2->shutdown_ev, &tv);
	/* A parked connection wakes up here (h2_flush_cb). */
	h2_schedule(h2);
}
