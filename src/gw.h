/*
 * gw.h: definitions every module of hanzo-gateway shares.
 *
 * Error convention: functions return 0 (or a count) on success and a
 * negative GW_ERR_* on failure.  Codes at or below GW_ERR_FATAL leave the
 * object in a state where only its destroy function is valid.
 */
#ifndef GW_H
#define GW_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

enum gw_err {
	GW_OK = 0,
	GW_ERR_INVAL = -1,        /* malformed input (config, request, reply) */
	GW_ERR_NOT_FOUND = -2,    /* no such route / key */
	GW_ERR_METHOD = -3,       /* path known, method not allowed */
	GW_ERR_TOO_LARGE = -4,    /* a size or count limit was hit */
	GW_ERR_AGAIN = -5,        /* incomplete input: feed more bytes */
	GW_ERR_IO = -6,           /* socket or file error */
	GW_ERR_TIMEOUT = -7,
	GW_ERR_LIMITED = -8,      /* rejected by QoS */
	GW_ERR_FATAL = -100,      /* only destroy is valid after this */
};

#define GW_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GW_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GW_MAX(a, b) ((a) > (b) ? (a) : (b))

#define GW_LIKELY(x) __builtin_expect(!!(x), 1)
#define GW_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* Nanoseconds in common units: durations are int64 nanoseconds throughout. */
#define GW_NS_PER_MS INT64_C(1000000)
#define GW_NS_PER_S INT64_C(1000000000)

/* Copies NUL-terminated src into dst[size], truncating; size > 0. */
static inline void
gw_copy_str(char *dst, size_t size, const char *src)
{
	size_t n = __builtin_strlen(src);

	if (n >= size)
		n = size - 1;
	__builtin_memcpy(dst, src, n);
	dst[n] = '\0';
}

/* The value of a hexadecimal digit, or -1. */
static inline int
gw_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Monotonic clock in nanoseconds; QoS code takes it as a parameter. */
int64_t gw_now_ns(void);

#endif
