/*
 * httplist.h: walking the elements of a comma-separated field value
 * (RFC 9110 5.6.1: #element with optional whitespace around commas).
 */
#ifndef GW_HTTPLIST_H
#define GW_HTTPLIST_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Steps to the next element of v[0..len) from *pos.  Returns false when
 * none is left; else sets *tok and *toklen to the element without its
 * surrounding whitespace (empty elements are skipped) and advances *pos.
 */
static inline bool
gw_list_next(const char *v, size_t len, size_t *pos, const char **tok,
    size_t *toklen)
{
	size_t s = *pos, e, te;

	for (;;) {
		while (s < len && (v[s] == ' ' || v[s] == '\t' || v[s] == ','))
			s++;
		if (s >= len) {
			*pos = len;
			return false;
		}
		for (e = s; e < len && v[e] != ','; e++)
			;
		te = e;
		while (te > s && (v[te - 1] == ' ' || v[te - 1] == '\t'))
			te--;
		*pos = e;
		if (te > s) {
			*tok = v + s;
			*toklen = te - s;
			return true;
		}
		s = e;
	}
}

#endif
