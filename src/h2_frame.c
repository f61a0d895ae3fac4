/*
 * h2_frame.c: see h2_frame.h.
 */
#include <string.h>

#include <event2/buffer.h>
#include <nghttp2/nghttp2.h>

#include "h2_frame.h"

int
gw_h2_frame_add_data(struct evbuffer *out, const uint8_t *framehd,
    size_t padlen, struct evbuffer *src, size_t length)
{
	static const uint8_t zeros[256];
	uint8_t padbyte;

	if (evbuffer_get_length(src) < length)
		return -1;
	evbuffer_add(out, framehd, 9);
	if (padlen > 0) {
		/* padlen counts the pad length byte itself (at most 256). */
		padbyte = (uint8_t)(padlen - 1);
		evbuffer_add(out, &padbyte, 1);
	}
	if (length > 0 && evbuffer_remove_buffer(src, out, length) !=
	    (int)length)
		return -1;
	if (padlen > 1)
		evbuffer_add(out, zeros, padlen - 1);
	return 0;
}

uint8_t
gw_h2_nv_flags(const uint8_t *name, size_t len)
{
	static const struct {
		const char *name;
		size_t len;
	} unique[] = {
		{ "x-request-id", 12 }, { "x-correlation-id", 16 },
		{ "traceparent", 11 }, { "x-b3-traceid", 12 },
		{ "x-b3-spanid", 11 }, { "x-amzn-trace-id", 15 },
	};
	size_t i;

	if (len < 11 || (name[0] != 'x' && name[0] != 't'))
		return NGHTTP2_NV_FLAG_NONE;
	for (i = 0; i < sizeof(unique) / sizeof(unique[0]); i++)
		if (len == unique[i].len && memcmp(name, unique[i].name,
		    len) == 0)
			return NGHTTP2_NV_FLAG_NO_INDEX;
	return NGHTTP2_NV_FLAG_NONE;
}
