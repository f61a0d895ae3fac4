/* cidr.c: address ranges and trusted-proxy client addresses. */
#include "cidr.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "gw.h"

static int
parse_addr(const char *s, size_t len, int *family, uint8_t *addr)
{
	char buf[64];

	while (len > 0 && (*s == ' ' || *s == '\t')) {
		s++;
		len--;
	}
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, buf, addr) == 1) {
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0,
		    0, 0xff, 0xff };

		if (memcmp(addr, mapped, 12) == 0) {
			memmove(addr, addr + 12, 4);
			*family = AF_INET;
		} else
			*family = AF_INET6;
		return 0;
	}
	return -1;
}

int
gw_cidr_parse(const char *s, struct gw_cidr *out)
{
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max, i;
	char *end;
	long bits;

	memset(out, 0, sizeof(*out));
	if (parse_addr(s, alen, &out->family, out->addr) != 0)
		return -1;
	max = out->family == AF_INET ? 32 : 128;
	if (slash != NULL) {
		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		bits = strtol(slash + 1, &end, 10);
		if (*end != '\0' || bits < 0 || bits > (long)max)
			return -1;
		out->bits = (unsigned)bits;
	} else
		out->bits = max;
	/* Mask the host part so that "10.1.2.3/8" means 10.0.0.0/8. */
	for (i = out->bits; i < max; i++)
		out->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
	return 0;
}

static bool
in_set(const struct gw_cidr *set, size_t n, int family, const uint8_t *a)
{
	size_t k;
	unsigned i;

	for (k = 0; k < n; k++) {
		const struct gw_cidr *c = &set[k];

		if (c->family != family)
			continue;
		for (i = 0; i < c->bits / 8; i++)
			if (a[i] != c->addr[i])
				break;
		if (i < c->bits / 8)
			continue;
		if (c->bits % 8) {
			uint8_t mask = (uint8_t)(0xff00u >> (c->bits % 8));

			if ((a[i] & mask) != c->addr[i])
				continue;
		}
		return true;
	}
	return false;
}

bool
gw_cidr_match(const struct gw_cidr *set, size_t n, const char *ip,
    size_t len)
{
	uint8_t a[16];
	int family;

	if (n == 0 || parse_addr(ip, len, &family, a) != 0)
		return false;
	return in_set(set, n, family, a);
}

const char *
gw_cidr_client(const struct gw_cidr *set, size_t n, const char *peer,
    const char *xff, size_t xff_len, size_t *len)
{
	const char *best = peer;
	size_t best_len = strlen(peer), e, s;

	if (xff == NULL || !gw_cidr_match(set, n, peer, best_len)) {
		*len = best_len;
		return best;
	}
	e = xff_len;
	while (e > 0) {
		uint8_t a[16];
		int family;

		for (s = e; s > 0 && xff[s - 1] != ','; s--)
			;
		if (parse_addr(xff + s, e - s, &family, a) != 0)
			break;
		best = xff + s;
		best_len = e - s;
		while (best_len > 0 && (*best == ' ' || *best == '\t')) {
			best++;
			best_len--;
		}
		while (best_len > 0 && (best[best_len - 1] == ' ' ||
		    best[best_len - 1] == '\t'))
			best_len--;
		if (!in_set(set, n, family, a))
			break;
		e = s > 0 ? s - 1 : 0;
	}
	*len = best_len;
	return best;
}
