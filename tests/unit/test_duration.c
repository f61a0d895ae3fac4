/*
 * test_duration.c: Go-style duration parsing and formatting.
 *
 * Expected values are what Go's time.ParseDuration and Duration.String
 * give, since KrakenD configs are written against those.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "config.h"
#include "gw.h"

#define NS_US INT64_C(1000)
#define NS_MS INT64_C(1000000)
#define NS_S INT64_C(1000000000)
#define NS_M (60 * NS_S)
#define NS_H (60 * NS_M)

static int64_t
parse_ok(const char *s)
{
	int64_t ns = -42;

	if (gw_duration_parse(s, &ns) != 0)
		fail_msg("\"%s\" was rejected", s);
	return ns;
}

static void
parse_bad(const char *s)
{
	int64_t ns = -42;

	if (gw_duration_parse(s, &ns) == 0)
		fail_msg("\"%s\" was accepted as %lld", s, (long long)ns);
	/* A rejected string leaves the output alone. */
	assert_int_equal(ns, -42);
}

static void
duration_parse_valid(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("500ms"), 500 * NS_MS);
	assert_int_equal(parse_ok("120s"), 120 * NS_S);
	assert_int_equal(parse_ok("1m"), NS_M);
	assert_int_equal(parse_ok("1h30m"), NS_H + 30 * NS_M);
	assert_int_equal(parse_ok("12h"), 12 * NS_H);
	assert_int_equal(parse_ok("0s"), 0);
	assert_int_equal(parse_ok("0"), 0);
	assert_int_equal(parse_ok("+0"), 0);
	assert_int_equal(parse_ok("0h0m0s"), 0);
	assert_int_equal(parse_ok("1.5h"), NS_H + 30 * NS_M);
	assert_int_equal(parse_ok("300us"), 300 * NS_US);
	/* MICRO SIGN and GREEK SMALL LETTER MU, as Go accepts both. */
	assert_int_equal(parse_ok("300\xc2\xb5s"), 300 * NS_US);
	assert_int_equal(parse_ok("300\xce\xbcs"), 300 * NS_US);
	assert_int_equal(parse_ok("1ns"), 1);
	assert_int_equal(parse_ok("2000ms"), 2 * NS_S);
	assert_int_equal(parse_ok(".5s"), 500 * NS_MS);
	assert_int_equal(parse_ok("1.s"), NS_S);
	assert_int_equal(parse_ok("+5s"), 5 * NS_S);
	assert_int_equal(parse_ok("2h45m30.5s"),
	    2 * NS_H + 45 * NS_M + 30 * NS_S + 500 * NS_MS);
	assert_int_equal(parse_ok("1h1h"), 2 * NS_H);
	assert_int_equal(parse_ok("0.000000001s"), 1);
	/* Digits past nanosecond precision are dropped, not an error. */
	assert_int_equal(parse_ok("1.0000000001s"), NS_S);
	assert_int_equal(parse_ok("1.123456789123456789123s"),
	    NS_S + 123456789);
}

static void
duration_parse_invalid(void **state)
{
	int64_t ns;

	(void)state;
	parse_bad("");
	parse_bad("-1s");
	parse_bad("-0");
	parse_bad("-0s");
	parse_bad("1");		/* a unit is required but for "0" */
	parse_bad("10");
	parse_bad("00");
	parse_bad("1s5");
	parse_bad("s");
	parse_bad("1x");
	parse_bad("1S");
	parse_bad("1sec");
	parse_bad("1.2.3s");
	parse_bad(".s");
	parse_bad("1 s");
	parse_bad(" 1s");
	parse_bad("1s ");
	parse_bad("+");
	parse_bad("++1s");
	parse_bad("1e3s");
	parse_bad("\xc2s");	/* a broken µ */
	assert_int_equal(gw_duration_parse(NULL, &ns), -1);
}

static void
duration_parse_overflow(void **state)
{
	(void)state;
	/* The largest duration parses; one more nanosecond does not. */
	assert_int_equal(parse_ok("9223372036854775807ns"), INT64_MAX);
	assert_int_equal(parse_ok("2562047h47m16.854775807s"), INT64_MAX);
	parse_bad("9223372036854775808ns");
	parse_bad("2562047h47m16.854775808s");
	parse_bad("2562048h");
	parse_bad("9999999999999999999h");
	parse_bad("99999999999999999999999ns");
	parse_bad("2562047h2562047h");
	parse_bad("9223372036.854775808s");
}

static void
fmt_is(int64_t ns, const char *want)
{
	char buf[64];

	memset(buf, 'x', sizeof(buf));
	gw_duration_format(ns, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void
duration_format(void **state)
{
	(void)state;
	fmt_is(0, "0s");
	fmt_is(1, "1ns");
	fmt_is(999, "999ns");
	fmt_is(1500, "1.5\xc2\xb5s");
	fmt_is(300 * NS_US, "300\xc2\xb5s");
	fmt_is(1500 * NS_US, "1.5ms");
	fmt_is(500 * NS_MS, "500ms");
	fmt_is(NS_S, "1s");
	fmt_is(NS_S + 1, "1.000000001s");
	fmt_is(90 * NS_S, "1m30s");
	fmt_is(120 * NS_S, "2m0s");
	fmt_is(NS_H, "1h0m0s");
	fmt_is(NS_H + 30 * NS_M, "1h30m0s");
	fmt_is(12 * NS_H, "12h0m0s");
	fmt_is(INT64_MAX, "2562047h47m16.854775807s");
	fmt_is(-NS_S, "-1s");
	fmt_is(-1500, "-1.5\xc2\xb5s");
	fmt_is(INT64_MIN, "-2562047h47m16.854775808s");
}

static void
duration_format_truncates(void **state)
{
	char buf[4];

	(void)state;
	gw_duration_format(90 * NS_S, buf, sizeof(buf));
	assert_string_equal(buf, "1m3");
	gw_duration_format(90 * NS_S, buf, 1);
	assert_string_equal(buf, "");
	/* Size 0 writes nothing at all. */
	buf[0] = 'z';
	gw_duration_format(90 * NS_S, buf, 0);
	assert_int_equal(buf[0], 'z');
}

static void
duration_round_trip(void **state)
{
	static const int64_t values[] = {
		0, 1, 999, 1000, 1001, 123456789, NS_S, 61 * NS_S,
		25 * NS_H + 1, 12 * NS_H, INT64_MAX, 1500 * NS_US,
	};
	char buf[64];
	size_t i;

	(void)state;
	for (i = 0; i < GW_ARRAY_SIZE(values); i++) {
		gw_duration_format(values[i], buf, sizeof(buf));
		assert_int_equal(parse_ok(buf), values[i]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(duration_parse_valid),
		cmocka_unit_test(duration_parse_invalid),
		cmocka_unit_test(duration_parse_overflow),
		cmocka_unit_test(duration_format),
		cmocka_unit_test(duration_format_truncates),
		cmocka_unit_test(duration_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
