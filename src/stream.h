/*
 * stream.h: one request in flight, between a client-side front (HTTP/1.1
 * or HTTP/2) and an upstream connection.
 *
 * Ownership and lifetime (see doc/threads.txt and DESIGN.md):
 *  - The front owns the stream: it creates it with gw_stream_create() when
 *    a request begins and frees it with gw_stream_destroy() only on its
 *    close path (HTTP/2: on_stream_close_callback; HTTP/1.1: when the
 *    response is written or the connection closes).  All of a stream's
 *    life is on one worker thread.  Destroy puts the memory on the
 *    worker's free list for a later gw_stream_create(): a pointer kept
 *    past destroy is then a bug no allocator catches (ASan builds poison
 *    listed streams).
 *  - An upstream connection holds only a back-pointer (up->stream) while
 *    the exchange runs.  gw_stream_detach_upstream() cuts both directions
 *    at once and is the only way the link is cut; destroy calls it.
 *
 * The flow of one request:
 *   front: gw_stream_create -> gw_stream_begin(head) -> gw_stream_req_body
 *          ... -> gw_stream_req_end
 *   stream: route, QoS, builds the backend request head, asks the pool
 *   upstream: gw_stream_on_response_head / _data / _end or _error
 *   stream -> front: ops->send_head / send_data / send_trailers / abort
 * Back-pressure: the stream tells the upstream to stop reading while the
 * front holds more than GW_STREAM_HIGH_WATER bytes for the client, and
 * the front to stop taking request body while the upstream holds more
 * than that for the backend.  Each side says "drained" to resume.
 */
#ifndef GW_STREAM_H
#define GW_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>

#include <event2/event_struct.h>

struct evbuffer;
struct gw_conn;
struct gw_stream;
struct gw_upstream;
struct gw_worker;
struct gw_routes;
struct gw_route;

/* Bytes buffered per direction per stream before the producer pauses. */
#define GW_STREAM_HIGH_WATER (256 * 1024)
#define GW_STREAM_LOW_WATER (64 * 1024)

/* A header field; not NUL-terminated.  Names are lower case when they
 * come from HTTP/2 and as received from HTTP/1.1. */
struct gw_hdr {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* The request head a front hands to gw_stream_begin(); valid only during
 * that call (the stream copies what it keeps). */
struct gw_req_head {
	const char *method;
	size_t method_len;
	const char *target;      /* origin form "/p?q" (or absolute form) */
	size_t target_len;
	const char *authority;   /* Host / :authority; may be NULL */
	size_t authority_len;
	const struct gw_hdr *hdrs;   /* regular fields only, no pseudo */
	size_t nhdrs;
	bool has_body;           /* a body follows (CL > 0, chunked, or h2
				    HEADERS without END_STREAM) */
	int64_t content_length;  /* -1 when unknown (chunked/h2 without CL) */
	bool expect_continue;
	/* RFC 8441 / HTTP/1.1 Upgrade (WebSocket) */
	const char *upgrade;     /* "websocket" or NULL */
	size_t upgrade_len;
};

/* Implemented by each front (h1_server.c, h2_server.c). */
struct gw_front_ops {
	/*
	 * Sends the response head.  hdrs are end-to-end fields only (the
	 * stream removed hop-by-hop ones); the front adds its own framing.
	 * content_length is -1 when unknown.  end_stream: no body follows.
	 * Returns 0, or -1 if the client side is gone (the stream will be
	 * destroyed by the front's close path; the caller must not touch it
	 * again beyond returning).
	 */
	int (*send_head)(struct gw_stream *st, int status,
	    const struct gw_hdr *hdrs, size_t n, int64_t content_length,
	    bool end_stream);
	/* Moves all of data (may be empty) toward the client; end_stream
	 * marks the end of the body.  Returns as send_head. */
	int (*send_data)(struct gw_stream *st, struct evbuffer *data,
	    bool end_stream);
	/* Ends the body with trailer fields (HTTP/2 trailers, or chunked
	 * trailers on HTTP/1.1).  Returns as send_head. */
	int (*send_trailers)(struct gw_stream *st, const struct gw_hdr *hdrs,
	    size_t n);
	/* Bytes queued toward the client and not yet written to the socket. */
	size_t (*pending)(struct gw_stream *st);
	/* The response cannot be completed after its head went out: HTTP/1.1
	 * closes the connection, HTTP/2 resets the stream.  The front
	 * destroys the stream on its close path, possibly before returning. */
	void (*abort)(struct gw_stream *st);
	/* The stream handed n bytes of request body on to the backend: the
	 * front may read more (HTTP/2: WINDOW_UPDATE; HTTP/1.1: resume). */
	void (*req_consumed)(struct gw_stream *st, size_t n);
	/* A 100 Continue may be sent now (HTTP/1.1 only; may be NULL). */
	void (*send_continue)(struct gw_stream *st);
};

enum gw_stream_state {
	GW_STREAM_HEAD = 0,      /* created, head not yet seen */
	GW_STREAM_WAIT_UPSTREAM, /* routed; waiting for a connection */
	GW_STREAM_SENDING,       /* request going to the backend */
	GW_STREAM_RECEIVING,     /* response head forwarded, body flowing */
	GW_STREAM_DONE,          /* response complete (or answered locally) */
	GW_STREAM_ABORTED,       /* ended in error after the head */
};

/* Who ended the exchange (first letter of the access log's code). */
enum gw_term_by {
	GW_TERM_NONE = '-',      /* normal completion */
	GW_TERM_CLIENT = 'C',    /* client closed / reset */
	GW_TERM_SERVER = 'S',    /* the backend failed or closed */
	GW_TERM_PROXY = 'P',     /* the gateway refused (limits, errors) */
	GW_TERM_RATE = 'R',      /* rate limiter or circuit breaker */
	GW_TERM_INTERNAL = 'I',  /* internal error */
	GW_TERM_TIMEOUT = 's',   /* backend timeout */
};

struct gw_stream {
	/* --- owner: the front ------------------------------------------ */
	struct gw_conn *conn;    /* client connection */
	struct gw_worker *worker;
	const struct gw_front_ops *front;
	void *front_ctx;         /* the front's per-stream data */
	int32_t h2_id;           /* HTTP/2 stream id, 0 for HTTP/1.1 */
	enum gw_stream_state state;

	/* --- routing (set by gw_stream_begin) -------------------------- */
	struct gw_routes *routes;        /* ref held for the stream's life */
	const struct gw_route *route;    /* NULL: answered locally */
	size_t backend_host;     /* index of the chosen host */

	/* --- request ---------------------------------------------------- */
	char *method;            /* copied, NUL-terminated */
	char *path;              /* client's target, copied (access log) */
	char request_id[40];     /* X-Request-ID kept or generated */
	bool is_head;            /* HEAD request: no response body */
	bool req_done;           /* the client sent the whole body */
	bool req_chunked;        /* body goes upstream chunked */
	struct evbuffer *req_head;   /* backend request head, until sent */
	struct evbuffer *req_body;   /* body from client not yet sent */

	/* --- upstream link --------------------------------------------- */
	struct gw_upstream *up;  /* NULL when not attached */
	bool breaker_taken;      /* gw_breaker_allow said yes: record once */
	int retries;             /* retries on a fresh connection so far */
	struct event timer;      /* response-head / idle timeout */
	bool timer_on;           /* timer assigned (and maybe pending) */

	/* --- response --------------------------------------------------- */
	int status;              /* sent to the client, 0 before */
	bool resp_paused;        /* upstream reading paused for us */
	uint64_t bytes_in;       /* request body bytes from the client */
	uint64_t bytes_out;      /* response body bytes to the client */
	int64_t start_ns;        /* monotonic, at creation */
	char term_by;            /* enum gw_term_by */
	char term_phase;         /* R request, H head, D data, '-' done */
	char upstream_addr[64];  /* "10.0.0.1:8000" for the access log */

	/* --- private to stream.c --------------------------------------- */
	uint64_t _req_acked;     /* body bytes reported consumed to front */
	char *_origin;           /* the request's Origin, for CORS */
	bool _resp_ended;        /* front told end_stream */
	bool _breaker_done;      /* outcome recorded */
	uint64_t _breaker_gen;   /* breaker generation we were let in under */
	bool _timer_idle;        /* timer is the streaming idle timeout */
	int64_t _activity_ns;    /* last response byte, for the idle timer */

	/* --- kept across reuse (stream.c; must stay last) --------------
	 * A destroyed stream goes to its worker's free list with these
	 * kept and every field above zeroed, as xcalloc gave it.  The
	 * evbuffers are empty and have no callbacks between requests. */
	struct gw_stream_kept {
		struct evbuffer *head;   /* req_head points here when set */
		struct evbuffer *body;   /* req_body points here when set */
		char *strs;              /* method, path, origin, NUL-ended */
		size_t strs_cap;
		struct gw_stream *next_free;
	} _kept;
};

/* Creates a stream on conn's worker.  Never fails (xmalloc). */
struct gw_stream *gw_stream_create(struct gw_conn *conn,
    const struct gw_front_ops *front, void *front_ctx);

/*
 * Destroys the stream: detaches the upstream (returning the connection to
 * its pool only if its framing is clean, else closing it), writes the
 * access line, frees everything.  Called only by the front's close path.
 * Safe with a NULL stream.
 */
void gw_stream_destroy(struct gw_stream *st);

/* Frees the streams the worker keeps for reuse and its scratch buffer
 * (at its teardown, after its connections are gone). */
void gw_stream_cache_free(struct gw_worker *w);

/*
 * The request head is complete.  Routes it and runs the route's checks in
 * order (CORS preflight, health/echo, 404/405, limiter, breaker); answers
 * locally through the front or starts the upstream exchange.
 * Returns 0, or -1 if the front's send failed and the stream was
 * destroyed (see gw_front_ops.send_head).
 */
int gw_stream_begin(struct gw_stream *st, const struct gw_req_head *head);

/* Request body bytes from the client: moves all of data.  Returns 0. */
int gw_stream_req_body(struct gw_stream *st, struct evbuffer *data);
/* The client's body is complete (also for requests with no body). */
int gw_stream_req_end(struct gw_stream *st);
/* The client went away or reset the stream (before the response ended). */
void gw_stream_client_gone(struct gw_stream *st);
/* The front wrote queued response bytes: it may take more. */
void gw_stream_resp_drained(struct gw_stream *st);

/*
 * Answers the request locally with a JSON body {"message": msg} (or body
 * as given when body != NULL), with extra headers.  Used for 4xx/5xx
 * answered by the gateway.  Returns as gw_front_ops.send_head.
 */
int gw_stream_respond(struct gw_stream *st, int status, const char *body,
    const struct gw_hdr *extra, size_t nextra);

/* --- called by the upstream side (upstream.c) ----------------------- */

/* The connection is ready: the upstream takes st->req_head and body. */
void gw_stream_on_upstream_ready(struct gw_stream *st);
/* Response head from the backend.  Returns 0 or -1 (stream gone). */
int gw_stream_on_response_head(struct gw_stream *st, int status,
    const struct gw_hdr *hdrs, size_t n, int64_t content_length);
/* Response body bytes (moved from data).  Returns 0 or -1 (gone). */
int gw_stream_on_response_data(struct gw_stream *st, struct evbuffer *data);
/* The response is complete; trailers may be NULL.  Returns 0 or -1. */
int gw_stream_on_response_end(struct gw_stream *st,
    const struct gw_hdr *trailers, size_t ntrailers);
/*
 * The exchange failed: errstr is one of the gw_upstream_err_* constants.
 * The upstream has already detached itself.  Before the response head
 * this answers 502/504; after it, aborts the client side.
 */
void gw_stream_on_upstream_error(struct gw_stream *st, const char *errstr);
/* The backend took request bytes: the front may send more. */
void gw_stream_on_req_drained(struct gw_stream *st);

/* Cuts both directions of the stream <-> upstream link.  Idempotent. */
void gw_stream_detach_upstream(struct gw_stream *st);

#endif
