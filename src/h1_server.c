/*
 * h1_server.c: the client-facing HTTP/1.1 front.
 *
 * One request at a time per connection: a pipelined request waits in the
 * input buffer until the response before it is complete, so responses go
 * out in request order (RFC 9112 9.3.2) with no reordering buffer.
 *
 * Lifecycle of the per-request stream: created when a head parses,
 * destroyed on this front's close path only, which is h1_kick_cb (the
 * response is complete, or the connection is closing) or
 * gw_h1_server_free.  Front operations called by the stream never free
 * anything; they schedule the kick event instead, so the stream and
 * upstream code up the stack stay valid.
 *
 * An idle keep-alive connection parks (conn.h) once it has been idle for
 * H1_PARK_DELAY_MS with nothing queued either way: the kick event waits
 * on the socket, with the idle timeout.  The first byte of the next
 * request unparks it.  A busy connection never waits that long, so it
 * never pays for parking.
 */
#define GW_LOG_MODULE "h1"
#include "h1_server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "conn.h"
#include "gw.h"
#include "h1_parser.h"
#include "h2_server.h"
#include "httplist.h"
#include "log.h"
#include "stream.h"
#include "strbuf.h"
#include "worker.h"
#include "xmalloc.h"

#define H1_MAX_HEAD (32 * 1024)  /* request line + fields: else 431 */
#define H1_MAX_HEADERS 100       /* fields: else 431 */
/* Pipelined input held while a response is pending: past it, stop
 * reading. */
#define H1_MAX_PIPELINED (64 * 1024)
#define H1_PARK_DELAY_MS 20

enum h1_state {
	H1_IDLE = 0,             /* between requests (keep-alive) */
	H1_HEAD,                 /* some of a head received */
	H1_BODY,                 /* receiving the request body */
	H1_WAIT,                 /* request complete, response pending */
	H1_CLOSING,              /* flushing, then close */
};

struct gw_h1_conn {
	struct gw_conn *c;
	struct gw_stream *st;    /* the current request; NULL between */
	enum h1_state state;
	/* request body framing */
	enum gw_h1_body body_kind;
	uint64_t body_left;      /* Content-Length bytes still to come */
	struct gw_h1_chunked chunked;
	uint64_t outstanding;    /* body bytes given to the stream, not yet
				    consumed by the backend */
	bool read_paused;        /* for request-body back-pressure */
	/* per request */
	bool http10;
	bool keep_alive;
	bool expect_continue;
	bool continue_sent;
	bool resp_chunked;
	bool resp_done;          /* the whole response is queued */
	size_t scan_from;        /* head search resumes here */
	/* connection */
	bool close_after_write;
	/* Deferred work (finish / resume / close), activated with EV_READ;
	 * idle, it times out into parking; parked, it waits on the socket
	 * (see the top of the file). */
	struct event *kick;
	/* Made when first needed: most heads come whole, many requests have
	 * no body. */
	struct event *head_timer;/* deadline for a whole request head */
	bool head_timer_on;
	struct evbuffer *tmp;    /* body bytes on their way to the stream */
};

static const struct gw_front_ops h1_front_ops;
static void h1_process(struct gw_h1_conn *h);
static void kick_cb(evutil_socket_t, short, void *);
static bool h1_kick(struct gw_h1_conn *h);
static void h1_set_read_timeout(struct gw_h1_conn *h, int64_t ns);
static void h1_read_cb(struct bufferevent *, void *);
static void h1_write_cb(struct bufferevent *, void *);
static void h1_event_cb(struct bufferevent *, short, void *);

static const char *
reason_phrase(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 206: return "Partial Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 307: return "Temporary Redirect";
	case 308: return "Permanent Redirect";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "";
	}
}

static void
h1_schedule(struct gw_h1_conn *h)
{
	event_active(h->kick, EV_READ, 0);
}

static struct evbuffer *
h1_out(struct gw_h1_conn *h)
{
	return bufferevent_get_output(h->c->bev);
}

/* Starts closing: flush what is queued, then free the connection. */
static void
h1_close(struct gw_h1_conn *h)
{
	h->state = H1_CLOSING;
	h->close_after_write = true;
	bufferevent_disable(h->c->bev, EV_READ);
	bufferevent_setwatermark(h->c->bev, EV_WRITE, 0, 0);
	h1_schedule(h);
}

/* An error the front answers itself (no stream): status, JSON, close. */
static void
h1_error(struct gw_h1_conn *h, int status, const char *msg)
{
	char body[160];
	int n;

	n = snprintf(body, sizeof(body), "{\"message\": \"%s\"}", msg);
	evbuffer_add_printf(h1_out(h), "HTTP/1.1 %d %s\r\n"
	    "Content-Type: application/json\r\nContent-Length: %d\r\n"
	    "Connection: close\r\n\r\n%s", status, reason_phrase(status), n,
	    body);
	h1_close(h);
}

/* Sets the connection's read timeout (idle keep-alive, and stalled
 * request bodies) and write timeout (a client that stops reading). */
static void
h1_set_read_timeout(struct gw_h1_conn *h, int64_t ns)
{
	struct timeval tv, wtv;
	int64_t wns = h->c->worker->body_timeout_ns;

	tv.tv_sec = ns / GW_NS_PER_S;
	tv.tv_usec = (ns % GW_NS_PER_S) / 1000;
	wtv.tv_sec = wns / GW_NS_PER_S;
	wtv.tv_usec = (wns % GW_NS_PER_S) / 1000;
	bufferevent_set_timeouts(h->c->bev, ns > 0 ? &tv : NULL,
	    wns > 0 ? &wtv : NULL);
}

static void
head_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h1_conn *h = arg;

	(void)fd;
	(void)what;
	if (h->state == H1_HEAD)
		h1_error(h, 408, "request head timeout");
}

/* The connection's bufferevent, with this front's callbacks and timeouts
 * (at the start, and again when a parked connection wakes up). */
static void
h1_bev_setup(struct gw_h1_conn *h)
{
	struct gw_conn *c = h->c;

	bufferevent_setcb(c->bev, h1_read_cb, h1_write_cb, h1_event_cb, h);
	bufferevent_setwatermark(c->bev, EV_WRITE, GW_STREAM_LOW_WATER, 0);
	h1_set_read_timeout(h, c->worker->idle_timeout_ns);
	gw_sockio_enable(&c->sockio, c->bev, EV_READ | EV_WRITE);
}

/* Idle: park after H1_PARK_DELAY_MS unless a request comes first (the
 * kick then fires with nothing to do). */
static void
h1_arm_park(struct gw_h1_conn *h)
{
	static const struct timeval delay = { H1_PARK_DELAY_MS / 1000,
	    (H1_PARK_DELAY_MS % 1000) * 1000 };

	if (h->state == H1_IDLE && !h->c->tls && !h->c->closing)
		event_add(h->kick, &delay);
}

static void
h1_park(struct gw_h1_conn *h)
{
	struct gw_conn *c = h->c;

	if (h->state != H1_IDLE || h->st != NULL)
		return;
	if (!gw_conn_can_park(c)) {
		/* A response still on its way out: not idle yet. */
		h1_arm_park(h);
		return;
	}
	gw_conn_park(c, h->kick, kick_cb, h, c->worker->idle_timeout_ns);
}

/* The parked socket is readable (or the kick was activated): back to a
 * bufferevent, and whatever came is read now. */
static void
h1_unpark(struct gw_h1_conn *h)
{
	struct gw_conn *c = h->c;

	if (gw_conn_unpark(c, h->kick, kick_cb, h) != 0) {
		gw_conn_free(c);
		return;
	}
	h1_bev_setup(h);
	gw_sockio_read(&c->sockio, GW_SOCKIO_READ_MAX);
	h1_process(h);
	if (c->proto_ctx == h)
		h1_arm_park(h);
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct gw_h1_conn *h = arg;
	struct gw_conn *c = h->c;

	(void)fd;
	if (c->parked_fd != -1) {
		if (what & EV_READ)
			h1_unpark(h);
		else
			gw_conn_free(c);         /* the idle timeout */
		return;
	}
	if (!(what & EV_READ)) {
		h1_park(h);
		return;
	}
	/* h is gone if the connection upgraded to HTTP/2. */
	if (h1_kick(h) && c->proto_ctx == h)
		h1_arm_park(h);
}

/* The kick's deferred work.  False if it freed the connection. */
static bool
h1_kick(struct gw_h1_conn *h)
{
	struct gw_conn *c = h->c;

	if (h->state == H1_CLOSING) {
		if (evbuffer_get_length(h1_out(h)) == 0) {
			gw_conn_free(c);
			return false;
		}
		return true;
	}
	if (h->st != NULL && h->resp_done) {
		/* The response is queued whole: this request is over. */
		bool body_pending = h->state == H1_BODY;

		gw_stream_destroy(h->st);
		h->st = NULL;
		if (body_pending || !h->keep_alive || c->closing) {
			/* A body we did not read to its end leaves the
			 * connection unframed: close it. */
			h1_close(h);
			return true;
		}
		h->state = H1_IDLE;
		h->resp_done = false;
		h->outstanding = 0;
		if (h->read_paused) {
			h->read_paused = false;
			bufferevent_enable(c->bev, EV_READ);
		}
		h1_process(h);
		return true;
	}
	if (h->read_paused && h->outstanding < GW_STREAM_LOW_WATER) {
		h->read_paused = false;
		bufferevent_enable(c->bev, EV_READ);
		h1_process(h);
	}
	return true;
}

/* Decodes base64url (RFC 4648 5) without padding, for HTTP2-Settings. */
static int
base64url_decode(const char *in, size_t len, uint8_t *out, size_t *outlen)
{
	uint32_t acc = 0;
	size_t i, o = 0;
	int bits = 0;

	for (i = 0; i < len; i++) {
		char ch = in[i];
		int v;

		if (ch >= 'A' && ch <= 'Z')
			v = ch - 'A';
		else if (ch >= 'a' && ch <= 'z')
			v = ch - 'a' + 26;
		else if (ch >= '0' && ch <= '9')
			v = ch - '0' + 52;
		else if (ch == '-' || ch == '+')
			v = 62;
		else if (ch == '_' || ch == '/')
			v = 63;
		else if (ch == '=')
			break;
		else
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	*outlen = o;
	return 0;
}

static bool
has_token(const char *v, size_t len, const char *want)
{
	size_t wl = strlen(want), tl;
	struct gw_list_iter it;
	const char *tok;

	gw_list_init(&it, v, len);
	while (gw_list_next(&it, &tok, &tl))
		if (tl == wl && strncasecmp(tok, want, wl) == 0)
			return true;
	return false;
}

/*
 * HTTP/1.1 -> h2c (RFC 7540 3.2): a request without a body that asks
 * for it with Upgrade: h2c, exactly one HTTP2-Settings and a Connection
 * naming both.  Returns true if the connection was handed to HTTP/2
 * (which may have freed it).
 */
static bool
try_upgrade_h2c(struct gw_h1_conn *h, struct gw_req_head *head,
    struct gw_hdr *hdrs, size_t nhdrs, const struct gw_h1_request *req,
    size_t head_len, unsigned char *raw)
{
	const struct gw_hdr *settings = NULL, *conn = NULL;
	struct gw_conn *c = h->c;
	uint8_t payload[256];
	size_t i, plen;
	char *copy;
	ptrdiff_t delta;

	if (c->tls || head->has_body || req->framing.upgrade == NULL ||
	    !has_token(req->framing.upgrade, req->framing.upgrade_len, "h2c"))
		return false;
	for (i = 0; i < nhdrs; i++) {
		if (gw_h1_name_eq(hdrs[i].name, hdrs[i].name_len,
		    "http2-settings")) {
			if (settings != NULL)
				return false;
			settings = &hdrs[i];
		} else if (gw_h1_name_eq(hdrs[i].name, hdrs[i].name_len,
		    "connection"))
			conn = &hdrs[i];
	}
	if (settings == NULL || conn == NULL ||
	    !has_token(conn->value, conn->value_len, "upgrade") ||
	    !has_token(conn->value, conn->value_len, "http2-settings") ||
	    settings->value_len > sizeof(payload) * 4 / 3 ||
	    base64url_decode(settings->value, settings->value_len, payload,
	    &plen) != 0 || plen % 6 != 0)
		return false;

	/* The head lives in the input buffer, which HTTP/2 reads next:
	 * move it aside before draining. */
	copy = xmalloc(head_len);
	memcpy(copy, raw, head_len);
	delta = copy - (char *)raw;
	for (i = 0; i < nhdrs; i++) {
		hdrs[i].name += delta;
		hdrs[i].value += delta;
	}
	head->method += delta;
	head->target += delta;
	if (head->authority != NULL)
		head->authority += delta;
	evbuffer_drain(bufferevent_get_input(c->bev), head_len);
	evbuffer_add_printf(h1_out(h), "HTTP/1.1 101 Switching Protocols\r\n"
	    "Connection: Upgrade\r\nUpgrade: h2c\r\n\r\n");

	/* The HTTP/1.1 state goes; the connection becomes HTTP/2. */
	gw_h1_server_free(c);
	gw_h2_server_upgrade(c, payload, plen, head);
	free(copy);
	return true;
}

/*
 * The length of the head at the start of `in` (through LF CR LF or LF LF),
 * searched from `from`, when the input's first chunk holds all `len`
 * bytes; 0 if not found there.
 */
static size_t
h1_head_end(struct evbuffer *in, size_t len, size_t from)
{
	struct evbuffer_iovec v;
	const char *b, *p, *e;

	if (evbuffer_peek(in, -1, NULL, &v, 1) != 1 || v.iov_len != len)
		return 0;
	b = v.iov_base;
	e = b + len;
	for (p = b + from; (p = memchr(p, '\n', (size_t)(e - p))) != NULL;
	    p++) {
		if (p + 1 < e && p[1] == '\n')
			return (size_t)(p - b) + 2;
		if (p + 2 < e && p[1] == '\r' && p[2] == '\n')
			return (size_t)(p - b) + 3;
	}
	return 0;
}

/* Parses a head if one is complete; returns false when it must wait or
 * the connection is closing. */
static bool
h1_read_head(struct gw_h1_conn *h)
{
	struct evbuffer *in = bufferevent_get_input(h->c->bev);
	size_t len = evbuffer_get_length(in), end;
	struct gw_h1_header hv[H1_MAX_HEADERS];
	struct gw_hdr hdrs[H1_MAX_HEADERS];
	struct gw_h1_request req;
	struct gw_req_head head;
	struct evbuffer_ptr p1, p2, start;
	unsigned char *raw;
	int rc;
	size_t i;

	if (len == 0)
		return false;
	if (h->state == H1_IDLE) {
		h->state = H1_HEAD;
		h->scan_from = 0;
	}
	/* The head ends at CRLF CRLF; a bare-LF head ends at LF LF and is
	 * rejected by the parser, rather than waited for. */
	if ((end = h1_head_end(in, len, h->scan_from)) != 0) {
		/* found where the input is one chunk (nearly always) */
	} else if (evbuffer_peek(in, -1, NULL, NULL, 0) > 1) {
		evbuffer_ptr_set(in, &start, h->scan_from, EVBUFFER_PTR_SET);
		p1 = evbuffer_search(in, "\n\r\n", 3, &start);
		p2 = evbuffer_search(in, "\n\n", 2, &start);
		if (p1.pos >= 0 && (p2.pos < 0 || p1.pos < p2.pos))
			end = (size_t)p1.pos + 3;
		else if (p2.pos >= 0)
			end = (size_t)p2.pos + 2;
	}
	if (end == 0) {
		if (len > H1_MAX_HEAD) {
			h1_error(h, 431, "request header fields too large");
			return false;
		}
		h->scan_from = len > 3 ? len - 3 : 0;
		if (!h->head_timer_on) {
			/* The head did not come whole: it has a deadline,
			 * however slowly its bytes trickle in. */
			struct timeval tv;
			int64_t ns = h->c->worker->header_timeout_ns;

			tv.tv_sec = ns / GW_NS_PER_S;
			tv.tv_usec = (ns % GW_NS_PER_S) / 1000;
			if (h->head_timer == NULL)
				h->head_timer = evtimer_new(
				    h->c->worker->base, head_timer_cb, h);
			evtimer_add(h->head_timer, &tv);
			h->head_timer_on = true;
		}
		return false;
	}
	if (end > H1_MAX_HEAD) {
		h1_error(h, 431, "request header fields too large");
		return false;
	}
	raw = evbuffer_pullup(in, (ev_ssize_t)end);
	rc = gw_h1_parse_request((const char *)raw, end, &req, hv,
	    H1_MAX_HEADERS);
	if (rc < 0) {
		if (rc == GW_H1_ERR_TOO_LARGE)
			h1_error(h, 431, "too many header fields");
		else if (rc == GW_H1_ERR_VERSION)
			h1_error(h, 505, "http version not supported");
		else
			h1_error(h, 400, "malformed request");
		return false;
	}
	if (h->head_timer_on) {
		evtimer_del(h->head_timer);
		h->head_timer_on = false;
	}

	memset(&head, 0, sizeof(head));
	for (i = 0; i < req.nheaders; i++) {
		hdrs[i].name = hv[i].name;
		hdrs[i].name_len = hv[i].name_len;
		hdrs[i].value = hv[i].value;
		hdrs[i].value_len = hv[i].value_len;
	}
	head.method = req.method;
	head.method_len = req.method_len;
	head.target = req.target;
	head.target_len = req.target_len;
	head.authority = req.framing.host;
	head.authority_len = req.framing.host_len;
	if (req.target_len > 0 && req.target[0] != '/' &&
	    req.target[0] != '*') {
		/* Absolute form (RFC 9112 3.2.2): its authority wins over
		 * Host; route on the path. */
		const char *t = req.target, *e = t + req.target_len;
		const char *a = memmem(t, req.target_len, "://", 3);

		if (a != NULL) {
			const char *slash;

			a += 3;
			slash = memchr(a, '/', (size_t)(e - a));
			head.authority = a;
			head.authority_len = (size_t)((slash ? slash : e) - a);
			head.target = slash ? slash : "/";
			head.target_len = slash ? (size_t)(e - slash) : 1;
		}
	}
	head.hdrs = hdrs;
	head.nhdrs = req.nheaders;
	switch (req.framing.body) {
	case GW_H1_BODY_LENGTH:
		head.has_body = true;
		head.content_length = (int64_t)req.framing.content_length;
		break;
	case GW_H1_BODY_CHUNKED:
		head.has_body = true;
		head.content_length = -1;
		break;
	default:
		head.has_body = false;
		head.content_length = 0;
		break;
	}
	head.expect_continue = req.framing.expect_continue &&
	    req.minor_version == 1;
	if (req.framing.conn_upgrade && req.framing.upgrade != NULL) {
		head.upgrade = req.framing.upgrade;
		head.upgrade_len = req.framing.upgrade_len;
	}

	if (try_upgrade_h2c(h, &head, hdrs, req.nheaders, &req, end, raw))
		return false;

	h->http10 = req.minor_version == 0;
	h->keep_alive = req.framing.keep_alive && !h->c->closing;
	h->expect_continue = head.expect_continue;
	h->continue_sent = false;
	h->resp_chunked = false;
	h->resp_done = false;
	h->body_kind = req.framing.body;
	h->body_left = req.framing.content_length;
	gw_h1_chunked_init(&h->chunked);
	h->state = head.has_body ? H1_BODY : H1_WAIT;
	h->st = gw_stream_create(h->c, &h1_front_ops, h);
	gw_stream_begin(h->st, &head);
	evbuffer_drain(in, end);
	if (h->state == H1_WAIT)
		gw_stream_req_end(h->st);
	return h->state != H1_CLOSING;
}

/* Moves request body bytes to the stream; false when it must wait. */
static bool
h1_read_body(struct gw_h1_conn *h)
{
	struct evbuffer *in = bufferevent_get_input(h->c->bev);
	size_t avail = evbuffer_get_length(in), n;
	bool done = false;
	int rc;

	if (h->tmp == NULL)
		h->tmp = evbuffer_new();
	if (h->body_kind == GW_H1_BODY_LENGTH) {
		n = (size_t)GW_MIN((uint64_t)avail, h->body_left);
		if (n > 0)
			evbuffer_remove_buffer(in, h->tmp, n);
		h->body_left -= n;
		done = h->body_left == 0;
	} else {
		rc = gw_h1_chunked_decode(&h->chunked, in, h->tmp, NULL,
		    GW_STREAM_HIGH_WATER);
		if (rc < 0) {
			if (h->st != NULL && !h->resp_done) {
				gw_stream_client_gone(h->st);
				if (h->st->status == 0) {
					h1_error(h, 400, "malformed chunked "
					    "body");
					return false;
				}
			}
			h1_close(h);
			return false;
		}
		done = rc == 1;
	}
	n = evbuffer_get_length(h->tmp);
	if (n > 0) {
		h->outstanding += n;
		gw_stream_req_body(h->st, h->tmp);
	}
	if (done) {
		h->state = H1_WAIT;
		gw_stream_req_end(h->st);
		return true;
	}
	if (h->outstanding > GW_STREAM_HIGH_WATER) {
		h->read_paused = true;
		bufferevent_disable(h->c->bev, EV_READ);
		return false;
	}
	/* The decoder stopped at max_out with input left: go on. */
	return n == GW_STREAM_HIGH_WATER;
}

static void
h1_process(struct gw_h1_conn *h)
{
	for (;;) {
		switch (h->state) {
		case H1_IDLE:
		case H1_HEAD:
			if (!h1_read_head(h))
				return;
			break;
		case H1_BODY:
			if (h->read_paused || !h1_read_body(h))
				return;
			break;
		case H1_WAIT: {
			struct evbuffer *in =
			    bufferevent_get_input(h->c->bev);

			/* Pipelined requests wait; bound what we hold. */
			if (evbuffer_get_length(in) > H1_MAX_PIPELINED) {
				h->read_paused = true;
				bufferevent_disable(h->c->bev, EV_READ);
			}
			return;
		}
		case H1_CLOSING:
			return;
		}
	}
}

static void
h1_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	h1_process(arg);
}

static void
h1_write_cb(struct bufferevent *bev, void *arg)
{
	struct gw_h1_conn *h = arg;

	gw_sockio_written(&h->c->sockio);
	if (h->close_after_write) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			gw_conn_free(h->c);
		return;
	}
	if (h->st != NULL && !h->resp_done)
		gw_stream_resp_drained(h->st);
}

static void
h1_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct gw_h1_conn *h = arg;

	(void)bev;
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING)) {
		/* One read timeout serves every state (set once per
		 * connection): a client that waits for its response is not
		 * idle, so that case only reads on. */
		if (h->state == H1_WAIT || (h->st != NULL &&
		    h->st->status != 0 && !h->resp_done)) {
			bufferevent_enable(h->c->bev, EV_READ);
			return;
		}
		if (h->state == H1_HEAD) {
			h1_error(h, 408, "request head timeout");
			return;
		}
		if (h->state == H1_BODY && h->st != NULL &&
		    h->st->status == 0) {
			gw_stream_client_gone(h->st);
			h1_error(h, 408, "request body timeout");
			return;
		}
	}
	if (h->st != NULL && !h->resp_done)
		gw_stream_client_gone(h->st);
	gw_conn_free(h->c);
}

int
gw_h1_server_start(struct gw_conn *c)
{
	struct gw_h1_conn *h = xcalloc(1, sizeof(*h));

	h->c = c;
	h->kick = event_new(c->worker->base, -1, 0, kick_cb, h);
	c->proto = GW_PROTO_H1;
	c->proto_ctx = h;
	h1_bev_setup(h);
	h1_process(h);
	if (c->proto_ctx == h)
		h1_arm_park(h);
	return 0;
}

void
gw_h1_server_free(struct gw_conn *c)
{
	struct gw_h1_conn *h = c->proto_ctx;

	if (h == NULL)
		return;
	if (h->st != NULL) {
		if (!h->resp_done)
			gw_stream_client_gone(h->st);
		gw_stream_destroy(h->st);
	}
	event_free(h->kick);
	if (h->head_timer != NULL)
		event_free(h->head_timer);
	if (h->tmp != NULL)
		evbuffer_free(h->tmp);
	free(h);
	c->proto_ctx = NULL;
	c->proto = GW_PROTO_SNIFF;
}

void
gw_h1_server_shutdown(struct gw_conn *c)
{
	struct gw_h1_conn *h = c->proto_ctx;

	/* Idle connections go now; busy ones after their response. */
	if (c->parked_fd != -1)
		gw_conn_free(c);
	else if (h->state == H1_IDLE)
		h1_close(h);
	else
		h->keep_alive = false;
}

/* --- front operations (called by the stream) ------------------------ */

static int
h1_send_head(struct gw_stream *st, int status, const struct gw_hdr *hdrs,
    size_t n, int64_t content_length, bool end_stream)
{
	struct gw_h1_conn *h = st->front_ctx;
	bool no_body = status < 200 || status == 204 || status == 304;
	const char *reason = reason_phrase(status);
	struct gw_strbuf b;
	char stack[4096];
	size_t i;

	if (h->state == H1_CLOSING && h->close_after_write)
		return -1;
	gw_strbuf_init(&b, stack, sizeof(stack));
	gw_strbuf_lit(&b, "HTTP/1.1 ");
	gw_strbuf_u64(&b, (uint64_t)status);
	gw_strbuf_lit(&b, " ");
	gw_strbuf_add(&b, reason, strlen(reason));
	gw_strbuf_lit(&b, "\r\n");
	for (i = 0; i < n; i++)
		gw_strbuf_field(&b, hdrs[i].name, hdrs[i].name_len,
		    hdrs[i].value, hdrs[i].value_len);
	if (h->state == H1_BODY && h->expect_continue && !h->continue_sent)
		h->keep_alive = false;  /* the body will never come */
	if (no_body) {
		;
	} else if (content_length >= 0) {
		gw_strbuf_lit(&b, "Content-Length: ");
		gw_strbuf_u64(&b, (uint64_t)content_length);
		gw_strbuf_lit(&b, "\r\n");
	} else if (end_stream) {
		if (!st->is_head)
			gw_strbuf_lit(&b, "Content-Length: 0\r\n");
	} else if (!h->http10) {
		gw_strbuf_lit(&b, "Transfer-Encoding: chunked\r\n");
		h->resp_chunked = true;
	} else {
		/* HTTP/1.0 has no chunked coding: the close ends it. */
		h->keep_alive = false;
	}
	if (!h->keep_alive || h->c->closing)
		gw_strbuf_lit(&b, "Connection: close\r\n");
	else if (h->http10)
		gw_strbuf_lit(&b, "Connection: keep-alive\r\n");
	gw_strbuf_lit(&b, "\r\n");
	evbuffer_add(h1_out(h), b.p, b.len);
	gw_strbuf_free(&b);
	if (end_stream) {
		h->resp_done = true;
		h1_schedule(h);
	}
	return 0;
}

static int
h1_send_data(struct gw_stream *st, struct evbuffer *data, bool end_stream)
{
	struct gw_h1_conn *h = st->front_ctx;
	struct evbuffer *out = h1_out(h);
	size_t n = evbuffer_get_length(data);

	if (h->state == H1_CLOSING && h->close_after_write) {
		evbuffer_drain(data, n);
		return -1;
	}
	/* The framing goes around the data in the caller's buffer (it has
	 * no callbacks), so the output buffer is touched once. */
	if (n > 0 && h->resp_chunked) {
		char size[24];
		struct gw_strbuf b;

		gw_strbuf_init(&b, size, sizeof(size));
		gw_strbuf_hex(&b, n);
		gw_strbuf_lit(&b, "\r\n");
		evbuffer_prepend(data, b.p, b.len);
		evbuffer_add(data, "\r\n", 2);
	}
	if (end_stream && h->resp_chunked)
		evbuffer_add(data, "0\r\n\r\n", 5);
	if (evbuffer_get_length(data) > 0)
		evbuffer_add_buffer(out, data);
	if (end_stream) {
		h->resp_done = true;
		h1_schedule(h);
	}
	return 0;
}

static int
h1_send_trailers(struct gw_stream *st, const struct gw_hdr *hdrs, size_t n)
{
	struct gw_h1_conn *h = st->front_ctx;
	struct evbuffer *out = h1_out(h);
	size_t i;

	if (h->resp_chunked) {
		evbuffer_add(out, "0\r\n", 3);
		for (i = 0; i < n; i++)
			evbuffer_add_printf(out, "%.*s: %.*s\r\n",
			    (int)hdrs[i].name_len, hdrs[i].name,
			    (int)hdrs[i].value_len, hdrs[i].value);
		evbuffer_add(out, "\r\n", 2);
	}
	h->resp_done = true;
	h1_schedule(h);
	return 0;
}

static size_t
h1_pending(struct gw_stream *st)
{
	struct gw_h1_conn *h = st->front_ctx;

	return evbuffer_get_length(h1_out(h));
}

static void
h1_abort(struct gw_stream *st)
{
	struct gw_h1_conn *h = st->front_ctx;

	/* The response is cut short: closing the connection is the only
	 * way HTTP/1.1 can tell the client (a chunked body then lacks its
	 * last chunk; a sized one is short). */
	h->resp_done = true;
	h->keep_alive = false;
	h1_close(h);
}

static void
h1_req_consumed(struct gw_stream *st, size_t n)
{
	struct gw_h1_conn *h = st->front_ctx;

	h->outstanding -= GW_MIN((uint64_t)n, h->outstanding);
	if (h->read_paused && h->outstanding < GW_STREAM_LOW_WATER)
		h1_schedule(h);
}

static void
h1_send_continue(struct gw_stream *st)
{
	struct gw_h1_conn *h = st->front_ctx;

	if (!h->expect_continue || h->continue_sent || st->status != 0)
		return;
	h->continue_sent = true;
	evbuffer_add(h1_out(h), "HTTP/1.1 100 Continue\r\n\r\n", 25);
}

static const struct gw_front_ops h1_front_ops = {
	.send_head = h1_send_head,
	.send_data = h1_send_data,
	.send_trailers = h1_send_trailers,
	.pending = h1_pending,
	.abort = h1_abort,
	.req_consumed = h1_req_consumed,
	.send_continue = h1_send_continue,
};
