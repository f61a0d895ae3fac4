/*
 * httplist.h: walking the elements of a comma-separated field value
 * (RFC 9110 5.6.1: #element with optional whitespace around commas).
 * Commas inside a quoted-string do not separate elements.
 */
#ifndef GW_HTTPLIST_H
#define GW_HTTPLIST_H

#include <stdbool.h>
#include <stddef.h>

struct gw_list_iter {
	const char *p;           /* start of the next element */
	const char *end;         /* end of the value */
	bool done;               /* the last element was returned */
};

static inline void
gw_list_init(struct gw_list_iter *it, const char *v, size_t len)
{
	it->p = v;
	it->end = v + len;
	it->done = false;
}

/*
 * Returns the next element without its surrounding whitespace, or false
 * when none is left.  Empty elements ("a, ,b") are returned too, with
 * length 0: a strict parser refuses them where the grammar does, other
 * callers skip them.  An empty value is one empty element; "a," is "a"
 * and "".
 */
static inline bool
gw_list_next(struct gw_list_iter *it, const char **elem, size_t *elem_len)
{
	const char *p = it->p, *s, *e;
	bool quoted = false;

	if (it->done)
		return false;
	s = p;
	while (p < it->end) {
		if (quoted) {
			if (*p == '\\' && p + 1 < it->end)
				p++;
			else if (*p == '"')
				quoted = false;
		} else if (*p == '"')
			quoted = true;
		else if (*p == ',')
			break;
		p++;
	}
	e = p;
	if (p < it->end)
		it->p = p + 1;
	else
		it->done = true;
	while (s < e && (*s == ' ' || *s == '\t'))
		s++;
	while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
		e--;
	*elem = s;
	*elem_len = (size_t)(e - s);
	return true;
}

#endif
