/* log.c: leveled log lines to stdout/stderr and optionally syslog. */
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "gw.h"
#include "xmalloc.h"

static enum gw_log_level log_level = GW_LOG_INFO;
static char *log_prefix;
static int log_fd = STDERR_FILENO;
static bool log_syslog;

static const char *const level_names[] = {
	"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL",
};

int
gw_log_level_parse(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++)
		if (strcasecmp(name, level_names[i]) == 0)
			return (int)i;
	if (strcasecmp(name, "WARN") == 0)
		return GW_LOG_WARNING;
	return -1;
}

const char *
gw_log_level_name(enum gw_log_level level)
{
	return level_names[level];
}

void
gw_log_configure(enum gw_log_level level, const char *prefix,
    bool use_stdout, bool use_syslog)
{
	log_level = level;
	free(log_prefix);
	log_prefix = prefix != NULL && *prefix != '\0' ? xstrdup(prefix) : NULL;
	log_fd = use_stdout ? STDOUT_FILENO : STDERR_FILENO;
	if (use_syslog && !log_syslog)
		openlog("hanzo-gateway", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_syslog = use_syslog;
}

bool
gw_log_enabled(enum gw_log_level level)
{
	return level >= log_level;
}

static size_t
log_stamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;
	size_t n;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, size - n, ".%03ldZ",
	    ts.tv_nsec / 1000000);
	return n;
}

static void
log_write(const char *line, size_t len)
{
	/* A short write to a log is not worth failing a request over. */
	while (len > 0) {
		ssize_t w = write(log_fd, line, len);

		if (w <= 0)
			return;
		line += w;
		len -= (size_t)w;
	}
}

void
gw_log(enum gw_log_level level, const char *module, const char *fmt, ...)
{
	static const int syslog_prio[] = {
		LOG_DEBUG, LOG_INFO, LOG_WARNING, LOG_ERR, LOG_CRIT,
	};
	char line[4096];
	size_t n, body;
	va_list ap;
	int r;

	if (level < log_level)
		return;
	n = log_stamp(line, sizeof(line));
	r = snprintf(line + n, sizeof(line) - n, " %s%s%s %s: ",
	    log_prefix ? log_prefix : "", log_prefix ? " " : "",
	    level_names[level], module);
	n += (size_t)r;
	body = n;
	va_start(ap, fmt);
	r = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (r < 0)
		r = 0;
	n += GW_MIN((size_t)r, sizeof(line) - n - 2);
	line[n++] = '\n';
	log_write(line, n);
	if (log_syslog)
		syslog(syslog_prio[level], "%.*s", (int)(n - body - 1),
		    line + body);
}

void
gw_log_access(const char *line, size_t len)
{
	if (GW_LOG_INFO < log_level)
		return;
	log_write(line, len);
	if (log_syslog)
		syslog(LOG_INFO, "%.*s", (int)len, line);
}
