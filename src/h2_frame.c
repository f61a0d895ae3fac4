/*
 * h2_frame.c: see h2_frame.h.
 */
#include <event2/buffer.h>

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
