/*
 * replay.c: runs the libFuzzer entry point without libFuzzer, for
 * `make check` (tests/fuzz/fuzz_h1_replay).
 *
 * First every file of the seed directory (GW_FUZZ_SEEDS, or argv[1]) goes
 * through LLVMFuzzerTestOneInput() as is; then a deterministic mutation
 * loop (a fixed-seed PRNG over the seeds: byte flips, insertions of bytes
 * and protocol tokens, deletions, duplications, splices) feeds it
 * FUZZ_ITERATIONS more inputs, or as many as fit in FUZZ_SECONDS.  The
 * harness abort()s on a broken invariant, so reaching the closing line
 * means every input passed.
 *
 * GW_FUZZ_ITERATIONS and GW_FUZZ_SECONDS in the environment override the
 * bounds, for a longer run by hand.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef GW_FUZZ_SEEDS
#define GW_FUZZ_SEEDS "tests/fuzz/seeds/h1"
#endif

#define FUZZ_ITERATIONS 200000
#define FUZZ_SECONDS 5
#define FUZZ_MAX_INPUT 8192      /* mutated inputs are cut to this */
#define FUZZ_MAX_SEEDS 256

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seed {
	char *name;
	uint8_t *data;
	size_t len;
};

static struct seed seeds[FUZZ_MAX_SEEDS];
static size_t nseeds;

/* Tokens the mutator splices in: the bytes the parser decides on. */
static const char *const tokens[] = {
	"\r\n", "\r\n\r\n", "\n", "\r", " ", "\t", ":", ",", ";", "=", "\"",
	"\\", "\0", "\x7f", "\x80", "\xff", "0", "f", "00000000000000000",
	"ffffffffffffffff", "HTTP/1.1", "HTTP/1.0", "HTTP/2.0", " 200 ",
	" 204 ", " 304 ", " 101 ", "GET ", "HEAD ", "CONNECT ", "OPTIONS ",
	" * ", "http://", "https://", "Host: a\r\n", "Content-Length: ",
	"Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
	"Transfer-Encoding: ", "chunked", "gzip, ", "Connection: close\r\n",
	"Connection: keep-alive, upgrade\r\n", "Upgrade: websocket\r\n",
	"Expect: 100-continue\r\n", "0\r\n\r\n", "5\r\nhello\r\n",
	";a=\"b\\\"c\"", " ;x=y", "X-T: v\r\n",
};

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t
rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

static size_t
rng_below(size_t n)
{
	return n == 0 ? 0 : (size_t)(rng() % n);
}

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static int
seed_cmp(const void *a, const void *b)
{
	const struct seed *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Loads the seed files, sorted by name so that runs are reproducible. */
static int
load_seeds(const char *dir)
{
	char path[4096];
	struct dirent *de;
	struct stat st;
	FILE *f;
	DIR *d;

	if ((d = opendir(dir)) == NULL) {
		fprintf(stderr, "fuzz_h1: %s: %s\n", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && nseeds < FUZZ_MAX_SEEDS) {
		struct seed *s = &seeds[nseeds];

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
		if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) ||
		    st.st_size > FUZZ_MAX_INPUT)
			continue;
		if ((f = fopen(path, "rb")) == NULL)
			continue;
		s->len = (size_t)st.st_size;
		s->data = malloc(s->len + 1);
		s->name = strdup(de->d_name);
		if (s->data == NULL || s->name == NULL ||
		    fread(s->data, 1, s->len, f) != s->len) {
			fprintf(stderr, "fuzz_h1: cannot read %s\n", path);
			fclose(f);
			closedir(d);
			return -1;
		}
		fclose(f);
		nseeds++;
	}
	closedir(d);
	qsort(seeds, nseeds, sizeof seeds[0], seed_cmp);
	return 0;
}

/* One random edit of buf[0..*len), within FUZZ_MAX_INPUT. */
static void
mutate(uint8_t *buf, size_t *len)
{
	const struct seed *o;
	const char *tok;
	size_t n = *len, at, k, tlen;

	at = rng_below(n + 1);
	switch (rng_below(9)) {
	case 0:  /* flip a bit */
		if (n > 0)
			buf[rng_below(n)] ^= 1u << rng_below(8);
		break;
	case 1:  /* overwrite a byte */
		if (n > 0)
			buf[rng_below(n)] = (uint8_t)rng();
		break;
	case 2:  /* insert a byte */
		if (n < FUZZ_MAX_INPUT) {
			memmove(buf + at + 1, buf + at, n - at);
			buf[at] = (uint8_t)rng();
			n++;
		}
		break;
	case 3:  /* insert a token */
	case 4:
		k = rng_below(sizeof tokens / sizeof tokens[0]);
		tok = tokens[k];
		tlen = tok[0] == '\0' ? 1 : strlen(tok);
		if (n + tlen <= FUZZ_MAX_INPUT) {
			memmove(buf + at + tlen, buf + at, n - at);
			memcpy(buf + at, tok, tlen);
			n += tlen;
		}
		break;
	case 5:  /* delete a range */
		if (at < n) {
			k = 1 + rng_below(min_size(n - at, 16));
			memmove(buf + at, buf + at + k, n - at - k);
			n -= k;
		}
		break;
	case 6:  /* duplicate a range */
		if (at < n) {
			k = 1 + rng_below(min_size(n - at, 64));
			if (n + k <= FUZZ_MAX_INPUT) {
				memmove(buf + at + k, buf + at, n - at);
				n += k;
			}
		}
		break;
	case 7:  /* splice: keep a prefix, append another seed's tail */
		o = &seeds[rng_below(nseeds)];
		k = rng_below(o->len + 1);
		tlen = min_size(o->len - k, FUZZ_MAX_INPUT - at);
		memcpy(buf + at, o->data + k, tlen);
		n = at + tlen;
		break;
	case 8:  /* truncate */
		n = at;
		break;
	}
	*len = n;
}

static unsigned long
env_ulong(const char *name, unsigned long def)
{
	const char *v = getenv(name);
	char *end;
	unsigned long n;

	if (v == NULL || *v == '\0')
		return def;
	n = strtoul(v, &end, 10);
	return *end == '\0' ? n : def;
}

int
main(int argc, char **argv)
{
	static uint8_t work[FUZZ_MAX_INPUT];
	const char *dir = argc > 1 ? argv[1] : GW_FUZZ_SEEDS;
	unsigned long iterations, seconds, i, passed = 0;
	struct timespec t0, t;
	const struct seed *s;
	uint8_t *input;
	size_t len, m, edits;

	iterations = env_ulong("GW_FUZZ_ITERATIONS", FUZZ_ITERATIONS);
	seconds = env_ulong("GW_FUZZ_SECONDS", FUZZ_SECONDS);
	if (load_seeds(dir) != 0)
		return 1;
	if (nseeds == 0) {
		fprintf(stderr, "fuzz_h1: no seeds in %s\n", dir);
		return 1;
	}
	for (i = 0; i < nseeds; i++) {
		LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
		passed++;
	}

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < iterations; i++) {
		if ((i & 255) == 0) {
			clock_gettime(CLOCK_MONOTONIC, &t);
			if ((t.tv_sec - t0.tv_sec) * 1000000000LL +
			    (t.tv_nsec - t0.tv_nsec) >=
			    (long long)seconds * 1000000000LL)
				break;
		}
		s = &seeds[rng_below(nseeds)];
		len = s->len;
		memcpy(work, s->data, len);
		edits = 1 + rng_below(4);
		for (m = 0; m < edits; m++)
			mutate(work, &len);
		/* An exact-size copy, so ASan catches reads past the end. */
		input = malloc(len == 0 ? 1 : len);
		if (input == NULL)
			abort();
		memcpy(input, work, len);
		LLVMFuzzerTestOneInput(input, len);
		free(input);
		passed++;
	}

	for (i = 0; i < nseeds; i++) {
		free(seeds[i].data);
		free(seeds[i].name);
	}
	printf("fuzz_h1: %lu passed, 0 failed\n", passed);
	return 0;
}
