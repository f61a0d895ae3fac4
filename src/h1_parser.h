/*
 * h1_parser.h: a small, strict HTTP/1.1 message-head parser and chunked
 * decoder (RFC 9112), written for the gateway and fuzzed
 * (tests/fuzz/fuzz_h1.c).
 *
 * Strict on purpose: a gateway that forwards requests must not read a
 * message differently from the backend behind it (request smuggling).
 * Everything ambiguous is rejected, not repaired:
 *  - lines end in CRLF; a bare CR or bare LF is an error;
 *  - obs-fold (a header line starting with SP/HTAB) is an error;
 *  - field names are tokens, no whitespace before ':'; values hold no
 *    CTL but HTAB; leading/trailing OWS is trimmed;
 *  - Content-Length: digits only; several equal values (in one line
 *    "5, 5" or in several lines) are one value; differing values are an
 *    error;
 *  - Transfer-Encoding with Content-Length is an error in a request; in a
 *    request, Transfer-Encoding must be exactly "chunked" (any case);
 *    in a response, a final coding other than chunked means the body runs
 *    until close;
 *  - HTTP/1.0 and HTTP/1.1 only; request-target in origin form,
 *    absolute form ("http://host/p"), authority form ("host:port", CONNECT
 *    only) or "*" (OPTIONS only); printable ASCII only (no SP, CTL, '#'
 *    or bytes >= 0x80 in it);
 *  - one Host field line in a request, required in HTTP/1.1;
 *  - chunk-size lines follow RFC 9112 7.1 exactly: hex digits, then
 *    optional extensions; no whitespace that is not before a ';'.
 *
 * The parser never allocates: name/value pointers point into the caller's
 * buffer and stay valid while it does.  It keeps no state between calls:
 * the caller passes the whole buffer from the first byte of the message
 * each time, and a call costs O(len).  gw_h1_head_ready() tells a caller
 * reading a head in pieces when a parse is worth running, which keeps the
 * total cost linear in the head size however the bytes arrive.
 */
#ifndef GW_H1_PARSER_H
#define GW_H1_PARSER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/* Errors, beside GW_ERR_AGAIN (the head is not complete yet). */
#define GW_H1_ERR_BAD        (-1)   /* malformed: 400 and close */
#define GW_H1_ERR_TOO_LARGE  (-4)   /* too many headers: 431 */
#define GW_H1_ERR_VERSION    (-9)   /* not HTTP/1.x: 505 */

/* Limits the parser applies itself (the head size limit is the caller's). */
#define GW_H1_MAX_METHOD     32     /* bytes in a method token */
#define GW_H1_MAX_EMPTY_LINES 4     /* CRLFs skipped before a request line */
#define GW_H1_MAX_CHUNK_LINE 4096   /* bytes in a chunk-size line + exts */
#define GW_H1_MAX_TRAILERS   65536  /* bytes in the trailer section */

struct gw_h1_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

enum gw_h1_body {
	GW_H1_BODY_NONE = 0,     /* no body (no CL/TE, or CL 0) */
	GW_H1_BODY_LENGTH,       /* content_length bytes */
	GW_H1_BODY_CHUNKED,
	GW_H1_BODY_UNTIL_CLOSE,  /* responses only */
};

/* Facts the parser derives from the headers, shared by both directions. */
struct gw_h1_framing {
	enum gw_h1_body body;
	uint64_t content_length; /* for GW_H1_BODY_LENGTH */
	bool keep_alive;         /* per version and Connection */
	bool conn_close;         /* Connection: close present */
	bool conn_upgrade;       /* Connection: upgrade present */
	bool expect_continue;    /* Expect: 100-continue (requests) */
	bool has_te;             /* a Transfer-Encoding header was present */
	const char *upgrade;     /* Upgrade value or NULL */
	size_t upgrade_len;
	const char *host;        /* Host value or NULL (requests) */
	size_t host_len;
};

struct gw_h1_request {
	const char *method;
	size_t method_len;
	const char *target;      /* request-target as received */
	size_t target_len;
	int minor_version;       /* 0 or 1 */
	struct gw_h1_header *headers;   /* caller's array */
	size_t nheaders;
	struct gw_h1_framing framing;
};

struct gw_h1_response {
	int status;              /* 100..999 */
	const char *reason;
	size_t reason_len;
	int minor_version;
	struct gw_h1_header *headers;
	size_t nheaders;
	struct gw_h1_framing framing;
};

/*
 * Parses a request head from buf[0..len).  headers/max_headers is the
 * caller's array.  Returns the length of the head (through the empty
 * line) on success; GW_ERR_AGAIN if the head is incomplete (the caller
 * enforces its own head size limit and answers 431 past it);
 * GW_H1_ERR_BAD, GW_H1_ERR_TOO_LARGE (more than max_headers fields) or
 * GW_H1_ERR_VERSION.  Leading empty lines before a request line (RFC 9112
 * 2.2) are skipped, up to GW_H1_MAX_EMPTY_LINES, and counted in the
 * returned length.
 *
 * buf must hold the message from its first byte: pass the whole buffer on
 * every call.  An error is reported as soon as the bytes seen make the
 * head invalid, so a prefix of a valid head always gives GW_ERR_AGAIN and
 * a prefix of an invalid one gives GW_ERR_AGAIN or the same error.  Only
 * the first INT_MAX bytes are looked at.  *req is filled on success only.
 */
int gw_h1_parse_request(const char *buf, size_t len,
    struct gw_h1_request *req, struct gw_h1_header *headers,
    size_t max_headers);

/*
 * Parses a response head.  request_was_head and the status decide
 * framing: 1xx, 204, 304 and responses to HEAD have no body; a 2xx to
 * CONNECT is not parsed here.  Returns as gw_h1_parse_request().
 */
int gw_h1_parse_response(const char *buf, size_t len,
    struct gw_h1_response *resp, struct gw_h1_header *headers,
    size_t max_headers, bool request_was_head);

/*
 * Cheap check for a caller that reads a head in pieces: true once
 * buf[0..len) holds an empty line (the possible end of the head) or a
 * bare LF (an error the parser will report), i.e. once running
 * gw_h1_parse_request() or gw_h1_parse_response() can give anything but
 * GW_ERR_AGAIN.  *scan is the caller's cursor: 0 for a new message, kept
 * between calls, so each byte is looked at once.  After a true return
 * that parses as GW_ERR_AGAIN (leading empty lines), keep *scan and call
 * again when more bytes arrive.
 */
bool gw_h1_head_ready(const char *buf, size_t len, size_t *scan);

/*
 * Case-insensitive (ASCII) comparison of name[0..len) with the
 * NUL-terminated lit; true if they are the same length and equal.
 */
bool gw_h1_name_eq(const char *name, size_t len, const char *lit);

/*
 * Incremental chunked-body decoder (RFC 9112 7.1).  Chunk extensions are
 * parsed and dropped; trailer fields are collected into `trailers` (an
 * evbuffer of raw "name: value\r\n" lines, caller-owned, may be NULL to
 * drop them).  Trailer lines are validated like header lines but not
 * interpreted: the caller must not let them change framing or routing
 * (RFC 9110 6.5.1).  The decoder holds all its state in the struct, so
 * input may arrive split anywhere, down to one byte per call.
 */
struct gw_h1_chunked {
	int state;               /* private */
	uint64_t remaining;      /* bytes left in the current chunk */
	size_t line_len;         /* private: bytes of the current line */
	size_t trailer_bytes;    /* private: total trailer size */
};

void gw_h1_chunked_init(struct gw_h1_chunked *c);

/*
 * Decodes from `in` into `out`: chunk data is moved (evbuffer chains, no
 * copy where libevent allows), framing bytes are drained.  Returns 1 when
 * the last chunk and trailers have been consumed (bytes after them stay in
 * `in`; later calls return 1 and consume nothing), 0 when it needs more
 * input, GW_H1_ERR_BAD on a malformed size line (or one longer than
 * GW_H1_MAX_CHUNK_LINE), a chunk size over 2^64-1, chunk data not followed
 * by exactly CRLF, a malformed trailer line, a trailer section over
 * GW_H1_MAX_TRAILERS, or an evbuffer failure; after an error every call
 * returns GW_H1_ERR_BAD.
 * `max_out` bounds the data moved in one call (back-pressure); 0 = no bound.
 * Once max_out bytes have moved, the call still consumes framing bytes up
 * to the next chunk data, so it returns 1 if the body ends there; when it
 * returns 0 and `out` grew by max_out, call again once `out` has drained,
 * even if no new input has arrived.
 */
int gw_h1_chunked_decode(struct gw_h1_chunked *c, struct evbuffer *in,
    struct evbuffer *out, struct evbuffer *trailers, size_t max_out);

/* What the gateway knows about a field name, as bits (gw_hdr_class). */
enum {
	HDR_HOP = 1 << 0,        /* hop-by-hop (RFC 9110 7.6.1), TE included */
	HDR_CONNECTION = 1 << 1,
	HDR_HOST = 1 << 2,
	HDR_CONTENT_LENGTH = 1 << 3,
	HDR_EXPECT = 1 << 4,
	HDR_REQUEST_ID = 1 << 5,
	HDR_XFF = 1 << 6,
	HDR_XF_OTHER = 1 << 7,   /* X-Forwarded-Host / -Proto: ours */
	HDR_USER_AGENT = 1 << 8,
};

/* The HDR_* bits of field name n[0..len), any case; 0 for the rest. */
unsigned gw_hdr_class(const char *n, size_t len);

#endif
