/*
 * cidr.h: address ranges ("10.0.0.0/8", "::1", "fd00::/8") and the
 * client address behind trusted proxies.
 */
#ifndef GW_CIDR_H
#define GW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gw_cidr {
	int family;              /* AF_INET or AF_INET6 */
	uint8_t addr[16];        /* network byte order, masked */
	unsigned bits;           /* prefix length */
};

/* Parses "a.b.c.d[/n]" or "v6[/n]".  Returns 0, or -1 if malformed. */
int gw_cidr_parse(const char *s, struct gw_cidr *out);

/* Whether the textual address ip (len bytes, v4 or v6, optional spaces
 * around it) lies in any of the n ranges.  A v4-mapped v6 address is
 * compared as v4. */
bool gw_cidr_match(const struct gw_cidr *set, size_t n, const char *ip,
    size_t len);

/*
 * The client address, given the TCP peer and an X-Forwarded-For value
 * (may be NULL): if the peer is trusted, walk X-Forwarded-For from the
 * right and return the first address that is not trusted (or the
 * leftmost one if all are); else the peer.  Returns a pointer into peer
 * or xff and sets *len.  Malformed list entries stop the walk there:
 * an address a client could have forged is never preferred over one a
 * trusted proxy wrote.
 */
const char *gw_cidr_client(const struct gw_cidr *set, size_t n,
    const char *peer, const char *xff, size_t xff_len, size_t *len);

#endif
