/* test_cidr.c: address ranges and the client behind trusted proxies. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "cidr.h"

static void
parse_valid_and_invalid(void **state)
{
	struct gw_cidr c;

	(void)state;
	assert_int_equal(gw_cidr_parse("10.0.0.0/8", &c), 0);
	assert_int_equal(c.bits, 8);
	assert_int_equal(gw_cidr_parse("10.1.2.3/8", &c), 0);
	assert_int_equal(c.addr[1], 0);          /* host part masked */
	assert_int_equal(gw_cidr_parse("127.0.0.1", &c), 0);
	assert_int_equal(c.bits, 32);
	assert_int_equal(gw_cidr_parse("fd00::/8", &c), 0);
	assert_int_equal(c.bits, 8);
	assert_int_equal(gw_cidr_parse("::1", &c), 0);
	assert_int_equal(c.bits, 128);
	assert_int_equal(gw_cidr_parse("10.0.0.0/33", &c), -1);
	assert_int_equal(gw_cidr_parse("10.0.0.0/", &c), -1);
	assert_int_equal(gw_cidr_parse("10.0.0.0/-1", &c), -1);
	assert_int_equal(gw_cidr_parse("10.0.0/8", &c), -1);
	assert_int_equal(gw_cidr_parse("example.com", &c), -1);
	assert_int_equal(gw_cidr_parse("", &c), -1);
	assert_int_equal(gw_cidr_parse("::1/129", &c), -1);
}

static void
match(void **state)
{
	struct gw_cidr set[3];

	(void)state;
	gw_cidr_parse("10.0.0.0/8", &set[0]);
	gw_cidr_parse("192.168.1.128/25", &set[1]);
	gw_cidr_parse("fd00::/8", &set[2]);
	assert_true(gw_cidr_match(set, 3, "10.255.0.1", 10));
	assert_false(gw_cidr_match(set, 3, "11.0.0.1", 8));
	assert_true(gw_cidr_match(set, 3, "192.168.1.200", 13));
	assert_false(gw_cidr_match(set, 3, "192.168.1.127", 13));
	assert_true(gw_cidr_match(set, 3, "fd12::1", 7));
	assert_false(gw_cidr_match(set, 3, "fe80::1", 7));
	assert_true(gw_cidr_match(set, 3, "::ffff:10.1.1.1", 15));
	assert_false(gw_cidr_match(set, 3, "garbage", 7));
	assert_false(gw_cidr_match(set, 0, "10.0.0.1", 8));
}

static void
client_behind_proxies(void **state)
{
	struct gw_cidr set[1];
	const char *ip, *xff;
	size_t len;

	(void)state;
	gw_cidr_parse("10.0.0.0/8", set);

	/* Untrusted peer: X-Forwarded-For is ignored. */
	xff = "1.2.3.4";
	ip = gw_cidr_client(set, 1, "8.8.8.8", xff, strlen(xff), &len);
	assert_int_equal(len, 7);
	assert_memory_equal(ip, "8.8.8.8", 7);

	/* Trusted peer: the rightmost untrusted address wins, not a forged
	 * leftmost one. */
	xff = "6.6.6.6, 1.2.3.4, 10.0.0.7";
	ip = gw_cidr_client(set, 1, "10.0.0.1", xff, strlen(xff), &len);
	assert_int_equal(len, 7);
	assert_memory_equal(ip, "1.2.3.4", 7);

	/* All trusted: the leftmost. */
	xff = "10.0.0.9,10.0.0.8";
	ip = gw_cidr_client(set, 1, "10.0.0.1", xff, strlen(xff), &len);
	assert_int_equal(len, 8);
	assert_memory_equal(ip, "10.0.0.9", 8);

	/* Garbage stops the walk at the last good address. */
	xff = "1.2.3.4, not-an-ip, 10.0.0.3";
	ip = gw_cidr_client(set, 1, "10.0.0.1", xff, strlen(xff), &len);
	assert_int_equal(len, 8);
	assert_memory_equal(ip, "10.0.0.3", 8);

	/* No header: the peer. */
	ip = gw_cidr_client(set, 1, "10.0.0.1", NULL, 0, &len);
	assert_int_equal(len, 8);
	assert_memory_equal(ip, "10.0.0.1", 8);

	/* Empty header: the peer. */
	ip = gw_cidr_client(set, 1, "10.0.0.1", "", 0, &len);
	assert_memory_equal(ip, "10.0.0.1", 8);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(parse_valid_and_invalid),
		cmocka_unit_test(match),
		cmocka_unit_test(client_behind_proxies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
