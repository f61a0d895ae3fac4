/*
 * main.c: the command line.
 *
 *   hanzo-gateway run -c FILE [--workers N]   serve
 *   hanzo-gateway check -c FILE [-d]          validate (and dump routes)
 *   hanzo-gateway version
 *
 * Exit codes: 0 success; 1 the config is invalid or the server failed;
 * 2 usage errors (unknown flag, missing argument, unreadable file).
 */
#define GW_LOG_MODULE "main"
#include "config.h"
#include "gw_autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gw.h"
#include "log.h"
#include "router.h"
#include "server.h"
#include "xmalloc.h"

#define GW_MALLOC_TRIM_THRESHOLD (64 * 1024 * 1024)

static const char usage_text[] =
	"usage: hanzo-gateway run -c FILE [--workers N]\n"
	"       hanzo-gateway check -c FILE [-d]\n"
	"       hanzo-gateway version\n"
	"       hanzo-gateway --help\n";

static void __attribute__((noreturn, format(printf, 1, 2)))
usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "hanzo-gateway: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see hanzo-gateway --help)\n");
	exit(2);
}

struct options {
	const char *config;
	bool dump;
	long workers;            /* 0: one per core */
};

static void
parse_options(int argc, char **argv, const char *cmd, struct options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "debug", no_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	bool is_run = strcmp(cmd, "run") == 0;
	char *end;
	int ch;

	opterr = 0;
	optind = 1;
	while ((ch = getopt_long(argc, argv, ":c:dw:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			o->config = optarg;
			break;
		case 'd':
			if (is_run)
				usage_error("%s: -d is an option of check", cmd);
			o->dump = true;
			break;
		case 'w':
			if (!is_run)
				usage_error("%s: --workers is an option of run",
				    cmd);
			errno = 0;
			o->workers = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || o->workers < 1 ||
			    o->workers > 256)
				usage_error("--workers takes 1 to 256, not '%s'",
				    optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		case ':':
			usage_error("option '%s' needs an argument",
			    argv[optind - 1]);
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (o->config == NULL)
		usage_error("%s needs -c FILE", cmd);
	if (access(o->config, R_OK) != 0)
		usage_error("cannot read config file '%s'", o->config);
}

/* Loads a config; prints every error and returns NULL if invalid. */
static struct gw_config *
load_config(const char *path)
{
	struct gw_config_errors errs = { 0 };
	struct gw_config *cfg = NULL;
	size_t i;

	if (gw_config_load_file(path, &cfg, &errs) != 0) {
		for (i = 0; i < errs.n; i++)
			fprintf(stderr, "%s\n", errs.msgs[i]);
		fprintf(stderr, "hanzo-gateway: %zu error%s in %s\n", errs.n,
		    errs.n == 1 ? "" : "s", path);
		gw_config_errors_clear(&errs);
		return NULL;
	}
	return cfg;
}

static void
dump_route(void *arg, const struct gw_endpoint_config *ep)
{
	size_t b, h;

	(void)arg;
	printf("%-7s %-50s", ep->method, ep->endpoint);
	for (b = 0; b < ep->nbackends; b++) {
		const struct gw_backend_config *be = &ep->backends[b];

		printf(" -> ");
		for (h = 0; h < be->nhosts; h++)
			printf("%s%s", h ? "," : "", be->hosts[h].url);
		printf("%s", be->url_pattern);
	}
	printf(" [%s]\n", gw_encoding_name(ep->output_encoding));
}

static int
cmd_check(int argc, char **argv)
{
	struct options o = { 0 };
	struct gw_config *cfg;
	struct gw_router *r;
	char *cause = NULL;
	size_t i;

	parse_options(argc, argv, "check", &o);
	if ((cfg = load_config(o.config)) == NULL)
		return 1;
	for (i = 0; i < cfg->nnotices; i++)
		fprintf(stderr, "notice: %s\n", cfg->notices[i]);
	if ((r = gw_router_create(cfg, &cause)) == NULL) {
		fprintf(stderr, "%s: %s\n", o.config, cause);
		free(cause);
		gw_config_unref(cfg);
		return 1;
	}
	if (o.dump) {
		printf("%s: %zu endpoints on port %u\n", o.config,
		    cfg->nendpoints, cfg->port);
		gw_router_dump(r, dump_route, NULL);
	}
	printf("Syntax OK\n");
	gw_router_destroy(r);
	gw_config_unref(cfg);
	return 0;
}

static int
cmd_run(int argc, char **argv)
{
	struct options o = { 0 };
	struct gw_config *cfg;
	int rc;

	parse_options(argc, argv, "run", &o);
	if ((cfg = load_config(o.config)) == NULL)
		return 1;
	/*
	 * Bodies pass through buffer chunks of up to 64 KiB, freed as soon
	 * as they are written.  With glibc's default trim threshold each
	 * free at the top of a heap gave the pages back (madvise) and the
	 * next read faulted them in again: a third of the CPU of a 64 KiB
	 * response.  The memory is kept instead, as a server's would be.
	 */
	mallopt(M_TRIM_THRESHOLD, GW_MALLOC_TRIM_THRESHOLD);
	rc = gw_server_run(cfg, o.config, (int)o.workers);
	gw_config_unref(cfg);
	return rc == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	const char *cmd;

	if (argc < 2) {
		fputs(usage_text, stderr);
		return 2;
	}
	cmd = argv[1];
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
		printf("hanzo-gateway %s\n", PACKAGE_VERSION);
		return 0;
	}
	if (strcmp(cmd, "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(cmd, "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	usage_error("unknown command '%s'", cmd);
}
