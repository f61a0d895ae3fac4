/*
 * duration.c: Go-style duration strings ("1h30m", "500ms", "0s").
 *
 * KrakenD configs are read by Go's time.ParseDuration, so a file that
 * loads there must load here with the same value: the grammar, the unit
 * names and the rounding of fractions below follow Go's.  We differ on
 * purpose in one place: negative durations are rejected, because no
 * setting of ours has a meaning for them.
 */
#include "config.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gw.h"

/* Units by name, longest spelling first is not needed: a unit is the whole
 * run of non-digit, non-'.' bytes after a number. */
static const struct {
	const char *name;
	uint64_t ns;
} duration_units[] = {
	{ "ns", 1 },
	{ "us", 1000 },
	{ "\xc2\xb5s", 1000 },	/* U+00B5 MICRO SIGN */
	{ "\xce\xbcs", 1000 },	/* U+03BC GREEK SMALL LETTER MU */
	{ "ms", 1000 * 1000 },
	{ "s", 1000 * 1000 * 1000 },
	{ "m", UINT64_C(60) * 1000 * 1000 * 1000 },
	{ "h", UINT64_C(3600) * 1000 * 1000 * 1000 },
};

/* Largest value an int64 holds; sums are checked against it in uint64. */
#define DURATION_MAX ((uint64_t)INT64_MAX)

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/*
 * Reads the digits at *sp into *v.  Returns -1 when the value does not fit
 * in an int64 (Go's leadingInt rejects the same inputs).
 */
static int
duration_int(const char **sp, uint64_t *v)
{
	const char *s = *sp;
	uint64_t x = 0;

	for (; is_digit(*s); s++) {
		if (x > DURATION_MAX / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > DURATION_MAX)
			return -1;
	}
	*sp = s;
	*v = x;
	return 0;
}

/*
 * Reads the digits after a '.'.  Digits past what a uint64 can hold are
 * consumed but dropped: they are far below a nanosecond for every unit.
 */
static void
duration_frac(const char **sp, uint64_t *f, double *scale)
{
	const char *s = *sp;
	uint64_t x = 0;
	double sc = 1;
	bool overflow = false;

	for (; is_digit(*s); s++) {
		if (overflow)
			continue;
		if (x > DURATION_MAX / 10) {
			overflow = true;
			continue;
		}
		x = x * 10 + (uint64_t)(*s - '0');
		if (x > DURATION_MAX) {
			overflow = true;
			continue;
		}
		sc *= 10;
	}
	*sp = s;
	*f = x;
	*scale = sc;
}

int
gw_duration_parse(const char *s, int64_t *ns)
{
	uint64_t total = 0, v, f, unit;
	double scale;
	const char *u;
	size_t ulen, i;
	bool pre, post;

	if (s == NULL)
		return -1;
	if (*s == '-')
		return -1;
	if (*s == '+')
		s++;
	/* A bare zero is the one number that needs no unit. */
	if (strcmp(s, "0") == 0) {
		*ns = 0;
		return 0;
	}
	if (*s == '\0')
		return -1;

	while (*s != '\0') {
		if (*s != '.' && !is_digit(*s))
			return -1;
		u = s;
		if (duration_int(&s, &v) != 0)
			return -1;
		pre = s != u;
		f = 0;
		scale = 1;
		post = false;
		if (*s == '.') {
			s++;
			u = s;
			duration_frac(&s, &f, &scale);
			post = s != u;
		}
		if (!pre && !post)
			return -1;

		u = s;
		while (*s != '\0' && *s != '.' && !is_digit(*s))
			s++;
		ulen = (size_t)(s - u);
		if (ulen == 0)
			return -1;
		unit = 0;
		for (i = 0; i < GW_ARRAY_SIZE(duration_units); i++) {
			if (strlen(duration_units[i].name) == ulen &&
			    memcmp(duration_units[i].name, u, ulen) == 0) {
				unit = duration_units[i].ns;
				break;
			}
		}
		if (unit == 0)
			return -1;

		if (v > DURATION_MAX / unit)
			return -1;
		v *= unit;
		if (f > 0) {
			/* Go adds the fraction through a float64 too. */
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > DURATION_MAX)
				return -1;
		}
		if (v > DURATION_MAX - total)
			return -1;
		total += v;
	}
	*ns = (int64_t)total;
	return 0;
}

/*
 * Writes the low `prec` decimal digits of v backwards ending at buf[w],
 * dropping trailing zeros and the '.' when nothing is left.  Returns the
 * new start and leaves v / 10^prec in *vp.
 */
static size_t
duration_fmt_frac(char *buf, size_t w, uint64_t *vp, int prec)
{
	uint64_t v = *vp;
	bool print = false;
	int i;

	for (i = 0; i < prec; i++) {
		char digit = (char)(v % 10);

		print = print || digit != 0;
		if (print)
			buf[--w] = (char)('0' + digit);
		v /= 10;
	}
	if (print)
		buf[--w] = '.';
	*vp = v;
	return w;
}

static size_t
duration_fmt_int(char *buf, size_t w, uint64_t v)
{
	if (v == 0)
		buf[--w] = '0';
	while (v > 0) {
		buf[--w] = (char)('0' + v % 10);
		v /= 10;
	}
	return w;
}

void
gw_duration_format(int64_t ns, char *buf, size_t size)
{
	char tmp[40];
	size_t w = sizeof(tmp), len;
	uint64_t u;
	bool neg = ns < 0;

	if (size == 0)
		return;
	/* Negate in unsigned arithmetic so INT64_MIN is fine. */
	u = neg ? -(uint64_t)ns : (uint64_t)ns;

	if (u < (uint64_t)GW_NS_PER_S) {
		int prec;

		tmp[--w] = 's';
		if (u == 0) {
			tmp[--w] = '0';
			goto done;
		} else if (u < 1000) {
			prec = 0;
			tmp[--w] = 'n';
		} else if (u < 1000 * 1000) {
			prec = 3;
			tmp[--w] = '\xb5';
			tmp[--w] = '\xc2';
		} else {
			prec = 6;
			tmp[--w] = 'm';
		}
		w = duration_fmt_frac(tmp, w, &u, prec);
		w = duration_fmt_int(tmp, w, u);
	} else {
		tmp[--w] = 's';
		w = duration_fmt_frac(tmp, w, &u, 9);
		w = duration_fmt_int(tmp, w, u % 60);
		u /= 60;
		if (u > 0) {
			tmp[--w] = 'm';
			w = duration_fmt_int(tmp, w, u % 60);
			u /= 60;
			if (u > 0) {
				tmp[--w] = 'h';
				w = duration_fmt_int(tmp, w, u);
			}
		}
	}
done:
	if (neg)
		tmp[--w] = '-';
	len = sizeof(tmp) - w;
	if (len > size - 1)
		len = size - 1;
	memcpy(buf, tmp + w, len);
	buf[len] = '\0';
}
