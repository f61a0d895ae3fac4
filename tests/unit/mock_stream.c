/*
 * mock_stream.c: records what upstream.c tells a stream; see
 * mock_stream.h.  Behaves like stream.c where the upstream depends on it:
 * the end of the response and an error both detach the upstream.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mock_stream.h"
#include "upstream.h"
#include "xmalloc.h"

#define MS(st) ((struct mock_stream *)(void *)(st))

struct mock_stream *
mock_stream_new(const char *method, const char *req_head)
{
	struct mock_stream *ms = xcalloc(1, sizeof(*ms));

	ms->st.method = xstrdup(method);
	ms->st.path = xstrdup("/");
	ms->st.is_head = strcmp(method, "HEAD") == 0;
	ms->st.req_head = evbuffer_new();
	evbuffer_add(ms->st.req_head, req_head, strlen(req_head));
	ms->st.req_body = evbuffer_new();
	ms->st.upstream_addr[0] = '-';
	ms->body = evbuffer_new();
	ms->content_length = -2;
	return ms;
}

void
mock_stream_free(struct mock_stream *ms)
{
	if (ms == NULL)
		return;
	gw_stream_detach_upstream(&ms->st);
	if (ms->st.req_head != NULL)
		evbuffer_free(ms->st.req_head);
	evbuffer_free(ms->st.req_body);
	evbuffer_free(ms->body);
	free(ms->st.method);
	free(ms->st.path);
	free(ms);
}

static void
append_fields(char *dst, size_t size, const struct gw_hdr *h, size_t n)
{
	size_t i, len = strlen(dst);

	for (i = 0; i < n && len < size; i++) {
		int w = snprintf(dst + len, size - len, "%.*s: %.*s\n",
		    (int)h[i].name_len, h[i].name, (int)h[i].value_len,
		    h[i].value);

		if (w < 0)
			break;
		len += (size_t)w;
	}
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
gw_stream_on_upstream_ready(struct gw_stream *st)
{
	MS(st)->ready++;
	snprintf(st->upstream_addr, sizeof(st->upstream_addr), "%s",
	    gw_upstream_addr(st->up));
}

int
gw_stream_on_response_head(struct gw_stream *st, int status,
    const struct gw_hdr *hdrs, size_t n, int64_t content_length)
{
	struct mock_stream *ms = MS(st);

	/* As stream.c: the first response byte ends any retry. */
	if (st->req_head != NULL) {
		evbuffer_free(st->req_head);
		st->req_head = NULL;
	}
	ms->heads++;
	ms->status = status;
	ms->content_length = content_length;
	ms->nhdrs = n;
	append_fields(ms->hdrs, sizeof(ms->hdrs), hdrs, n);
	return ms->head_rc;
}

int
gw_stream_on_response_data(struct gw_stream *st, struct evbuffer *data)
{
	struct mock_stream *ms = MS(st);

	ms->data_calls++;
	evbuffer_add_buffer(ms->body, data);
	if (ms->pause_on_data && ms->data_calls == 1)
		gw_upstream_pause(st->up);
	if (ms->release_on_data && ms->data_calls == 1)
		gw_stream_detach_upstream(st);
	return 0;
}

int
gw_stream_on_response_end(struct gw_stream *st,
    const struct gw_hdr *trailers, size_t ntrailers)
{
	struct mock_stream *ms = MS(st);

	ms->ended = true;
	ms->done = true;
	ms->trailers_null = trailers == NULL;
	ms->ntrailers = ntrailers;
	append_fields(ms->trailers, sizeof(ms->trailers), trailers, ntrailers);
	gw_stream_detach_upstream(st);
	return 0;
}

void
gw_stream_on_upstream_error(struct gw_stream *st, const char *errstr)
{
	struct mock_stream *ms = MS(st);

	ms->errors++;
	ms->error = errstr;
	ms->done = true;
	gw_stream_detach_upstream(st);
}

void
gw_stream_on_req_drained(struct gw_stream *st)
{
	struct mock_stream *ms = MS(st);

	if (ms->drained++ == 0)
		ms->first_drain_left = evbuffer_get_length(st->req_body);
	if (ms->on_drained != NULL)
		ms->on_drained(ms);
}
