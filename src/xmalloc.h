/*
 * xmalloc.h: allocation that never returns NULL.
 *
 * Out of memory is fatal for the gateway: the process logs and aborts, so
 * callers never test these results (tmux's xmalloc.c has the same rule).
 */
#ifndef GW_XMALLOC_H
#define GW_XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t nmemb, size_t size);
void *xrealloc(void *ptr, size_t size);
/* Grows an array of nmemb elements of size bytes; checks the product. */
void *xreallocarray(void *ptr, size_t nmemb, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* asprintf that aborts on failure; returns the length. */
int xasprintf(char **ret, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
