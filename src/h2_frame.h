/*
 * h2_frame.h: small pieces shared by the two nghttp2 users, the
 * client-facing front (h2_server.c) and the h2c backend client
 * (upstream.c).
 */
#ifndef GW_H2_FRAME_H
#define GW_H2_FRAME_H

#include <stddef.h>
#include <stdint.h>

struct evbuffer;

/*
 * Writes one DATA frame whose payload nghttp2 did not copy
 * (NGHTTP2_DATA_FLAG_NO_COPY), from an nghttp2 send_data_callback: the
 * 9-byte frame header framehd, the pad length byte and padding when
 * padlen > 0 (frame->data.padlen), and `length` payload bytes moved (no
 * copy) from src to out.  Returns 0, or -1 when src holds fewer than
 * length bytes (the caller fails the session: its framing is lost).
 */
int gw_h2_frame_add_data(struct evbuffer *out, const uint8_t *framehd,
    size_t padlen, struct evbuffer *src, size_t length);

/*
 * The nghttp2_nv flags of a field by its lower-case name.  A value that
 * is new on every message (request ids, trace ids) would enter HPACK's
 * dynamic table each time (RFC 7541 6.2.1) and evict the fields that do
 * repeat, at the cost of an allocation and a table search on both ends:
 * such fields go without indexing.
 */
uint8_t gw_h2_nv_flags(const uint8_t *name, size_t len);

#endif
