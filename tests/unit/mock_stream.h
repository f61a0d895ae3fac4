/*
 * mock_stream.h: the stream side of upstream.c for test_upstream.c.
 *
 * mock_stream.c defines exactly the functions of stream.h that upstream.c
 * calls (gw_stream_on_* and gw_stream_detach_upstream), so the test links
 * upstream.c without stream.c.  Each mock stream records what the
 * upstream told it and can be told how to behave.
 */
#ifndef MOCK_STREAM_H
#define MOCK_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"

struct mock_stream {
	struct gw_stream st;     /* first: upstream.c sees &ms->st */

	/* --- what happened -------------------------------------------- */
	int ready;               /* gw_stream_on_upstream_ready() calls */
	int heads;               /* gw_stream_on_response_head() calls */
	int status;
	int64_t content_length;
	char hdrs[2048];         /* "name: value\n" per field, as given */
	size_t nhdrs;
	struct evbuffer *body;   /* response body received */
	int data_calls;
	bool ended;
	char trailers[512];      /* as hdrs */
	size_t ntrailers;
	bool trailers_null;      /* end came with trailers == NULL */
	const char *error;       /* errstr of gw_stream_on_upstream_error */
	int errors;
	int drained;             /* gw_stream_on_req_drained() calls */
	size_t first_drain_left; /* req_body length at the first drain */
	bool done;               /* ended or failed */

	/* --- how to behave -------------------------------------------- */
	bool pause_on_data;      /* pause the upstream at the first data */
	bool release_on_data;    /* let go at the first data (client gone) */
	int head_rc;             /* what on_response_head returns */
	/* Called at each gw_stream_on_req_drained(), e.g. to feed more. */
	void (*on_drained)(struct mock_stream *ms);
	size_t feed_left;        /* for on_drained: body bytes still to add */
};

/* A stream whose backend request head is req_head (copied); method is
 * the client's (st->method).  req_done is false, req_body empty. */
struct mock_stream *mock_stream_new(const char *method, const char *req_head);
/* Detaches (if attached) and frees. */
void mock_stream_free(struct mock_stream *ms);

#endif
