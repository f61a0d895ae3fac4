/*
 * log.h: the gateway's log, configured by the telemetry/logging namespace.
 *
 * Lines are written with one write(2) each so that worker threads never
 * interleave within a line.  Before gw_log_configure() runs, messages at
 * INFO and above go to stderr.
 */
#ifndef GW_LOG_H
#define GW_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum gw_log_level {
	GW_LOG_DEBUG = 0,
	GW_LOG_INFO,
	GW_LOG_WARNING,
	GW_LOG_ERROR,
	GW_LOG_CRITICAL,
};

/*
 * Parses a level name as the config spells it (DEBUG, INFO, WARNING, WARN,
 * ERROR, CRITICAL; any case).  Returns the level or -1.
 */
int gw_log_level_parse(const char *name);
const char *gw_log_level_name(enum gw_log_level level);

/*
 * Sets where lines go.  prefix may be NULL; it is copied.  use_stdout sends
 * lines to standard output (else standard error); use_syslog also sends
 * them to syslog(3).  Not thread-safe: call before workers start or from
 * the main thread while workers only read the settings.
 */
void gw_log_configure(enum gw_log_level level, const char *prefix,
    bool use_stdout, bool use_syslog);

bool gw_log_enabled(enum gw_log_level level);

void gw_log(enum gw_log_level level, const char *module, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Writes an access-log line as is (no level filter other than INFO). */
void gw_log_access(const char *line, size_t len);

#define log_debug(...) \
	do { if (gw_log_enabled(GW_LOG_DEBUG)) \
		gw_log(GW_LOG_DEBUG, GW_LOG_MODULE, __VA_ARGS__); } while (0)
#define log_info(...) gw_log(GW_LOG_INFO, GW_LOG_MODULE, __VA_ARGS__)
#define log_warn(...) gw_log(GW_LOG_WARNING, GW_LOG_MODULE, __VA_ARGS__)
#define log_error(...) gw_log(GW_LOG_ERROR, GW_LOG_MODULE, __VA_ARGS__)
#define log_crit(...) gw_log(GW_LOG_CRITICAL, GW_LOG_MODULE, __VA_ARGS__)

/* Each .c file defines GW_LOG_MODULE before including log.h; default: */
#ifndef GW_LOG_MODULE
#define GW_LOG_MODULE "gateway"
#endif

#endif
