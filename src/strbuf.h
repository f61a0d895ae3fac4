/*
 * strbuf.h: a byte string built in a caller's (stack) buffer, growing on
 * the heap only when that is too small.  Message heads are assembled here
 * and handed to an evbuffer in one call: each evbuffer_add on a
 * bufferevent's output runs its callbacks, so one add per field line
 * costs more than building the head.
 */
#ifndef GW_STRBUF_H
#define GW_STRBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct gw_strbuf {
	char *p;                 /* data */
	size_t len;              /* bytes used */
	size_t cap;              /* bytes available at p */
	char *_stack;            /* the caller's buffer (p until grown) */
};

static inline void
gw_strbuf_init(struct gw_strbuf *b, char *stack, size_t size)
{
	b->p = b->_stack = stack;
	b->len = 0;
	b->cap = size;
}

static inline void
gw_strbuf_grow(struct gw_strbuf *b, size_t need)
{
	size_t cap = b->cap * 2;

	while (cap < b->len + need)
		cap *= 2;
	if (b->p == b->_stack) {
		char *p = xmalloc(cap);

		memcpy(p, b->p, b->len);
		b->p = p;
	} else
		b->p = xrealloc(b->p, cap);
	b->cap = cap;
}

static inline void
gw_strbuf_add(struct gw_strbuf *b, const void *data, size_t len)
{
	if (b->len + len > b->cap)
		gw_strbuf_grow(b, len);
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

#define gw_strbuf_lit(b, lit) gw_strbuf_add((b), (lit), sizeof(lit) - 1)

/* Appends "name: value\r\n". */
static inline void
gw_strbuf_field(struct gw_strbuf *b, const char *name, size_t nlen,
    const char *value, size_t vlen)
{
	char *p;

	if (b->len + nlen + vlen + 4 > b->cap)
		gw_strbuf_grow(b, nlen + vlen + 4);
	p = b->p + b->len;
	memcpy(p, name, nlen);
	p += nlen;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, value, vlen);
	p += vlen;
	*p++ = '\r';
	*p++ = '\n';
	b->len += nlen + vlen + 4;
}

/* Writes v in decimal at out (room for 20 bytes, no NUL); returns the
 * length.  What snprintf("%llu") does, at a tenth of its cost. */
static inline size_t
gw_fmt_u64(char *out, uint64_t v)
{
	char tmp[20];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - ++n] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	memcpy(out, tmp + sizeof(tmp) - n, n);
	return n;
}

/* Appends an unsigned decimal. */
static inline void
gw_strbuf_u64(struct gw_strbuf *b, uint64_t v)
{
	char tmp[20];

	gw_strbuf_add(b, tmp, gw_fmt_u64(tmp, v));
}

/* Appends a lower-case hexadecimal (chunk sizes). */
static inline void
gw_strbuf_hex(struct gw_strbuf *b, uint64_t v)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[16];
	size_t n = 0;

	do {
		tmp[sizeof(tmp) - ++n] = digits[v & 15];
		v >>= 4;
	} while (v != 0);
	gw_strbuf_add(b, tmp + sizeof(tmp) - n, n);
}

static inline void
gw_strbuf_free(struct gw_strbuf *b)
{
	if (b->p != b->_stack)
		free(b->p);
}

#endif
