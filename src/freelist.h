/*
 * freelist.h: objects kept for reuse instead of freed (a worker's
 * streams and HTTP/2 streams).
 *
 * An object on a list is zero up to `keep`, as xcalloc would give it;
 * from `keep` on it holds what survives reuse (its buffers, and `link`,
 * the list's pointer).  ASan builds poison the zero part while listed,
 * so that a pointer kept past the object's release still fails loudly.
 * Lists belong to one thread.
 */
#ifndef GW_FREELIST_H
#define GW_FREELIST_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define GW_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GW_ASAN 1
#endif
#endif
#ifdef GW_ASAN
#include <sanitizer/asan_interface.h>
#define GW_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define GW_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define GW_POISON(p, n) ((void)(p), (void)(n))
#define GW_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

struct gw_freelist {
	void *head;
	size_t n;
};

/* At most this many objects per list; more are freed. */
#define GW_FREELIST_MAX 256

/* A listed object (zero up to keep), or NULL when the list is empty. */
static inline void *
gw_freelist_take(struct gw_freelist *fl, size_t keep, size_t link)
{
	char *o = fl->head;

	if (o == NULL)
		return NULL;
	memcpy(&fl->head, o + link, sizeof(void *));
	memset(o + link, 0, sizeof(void *));
	fl->n--;
	GW_UNPOISON(o, keep);
	return o;
}

/* Lists o, zeroing it up to keep; false when the list is full (the
 * caller frees o). */
static inline bool
gw_freelist_put(struct gw_freelist *fl, void *o, size_t keep, size_t link)
{
	if (fl->n >= GW_FREELIST_MAX)
		return false;
	memset(o, 0, keep);
	GW_POISON(o, keep);
	memcpy((char *)o + link, &fl->head, sizeof(void *));
	fl->head = o;
	fl->n++;
	return true;
}

#endif
