/*
 * config.c: loads KrakenD-style "version": 3 JSON into the immutable model
 * of config.h.
 *
 * The loader walks the document once and never stops at the first error:
 * an operator fixing a config wants the whole list.  Each message names
 * the file and the JSON path of the offending value
 * ("gw.json: endpoints[3].backend[0].host[0]: expected ...").
 *
 * Keys are handled in three ways, decided per level by a table:
 *   - ours: read into the model and validated;
 *   - known to KrakenD but not implemented: type-checked and ignored, with
 *     a notice when the value asks for something (is not its zero value);
 *   - anything else at a level we own: an error, because a misspelt key
 *     silently ignored is a production incident waiting to happen.
 * Inside "extra_config", namespaces we do not implement (vendor plugins,
 * KrakenD components) are accepted with one notice per namespace name.
 * Keys starting with '@', '$', '_' or '#' are comments (KrakenD's schema
 * allows them everywhere) and are skipped silently.
 *
 * Every allocation is attached to the config as soon as it is made, so one
 * free function releases a half-built config on every error path.
 */
#define GW_LOG_MODULE "config"

#include "config.h"
#include "cors.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/ssl.h>

#include "gw.h"
#include "log.h"
#include "xmalloc.h"

/* Defaults, as KrakenD documents them unless noted. */
#define CFG_DEFAULT_PORT 8080
#define CFG_DEFAULT_TIMEOUT_NS (2 * GW_NS_PER_S)
#define CFG_DEFAULT_HEALTH_PATH "/__health"
#define CFG_DEFAULT_MAX_CLIENTS 100000	/* ours: per-client table cap */
#define CFG_DEFAULT_EVERY_NS GW_NS_PER_S
#define CFG_DEFAULT_OPTIONS_STATUS 204

/* Largest JSON integer; json_int_t is long long on every target we build. */
#define CFG_INT_MAX LLONG_MAX

/* Longest excerpt of a value quoted in a message, in bytes. */
#define CFG_QUOTE_MAX 80

/* One notice, deduplicated by `key`; `count` is how many places had it. */
struct cfg_notice {
	char *key;
	char *msg;
	size_t count;
};

/* A parsed endpoint path: its placeholder names. */
struct cfg_params {
	char **v;
	size_t n;
};

/* State of one load. */
struct loader {
	const char *file;		/* name used in messages */
	struct gw_config *cfg;
	struct gw_config_errors *errs;
	size_t nerr;			/* errors added by this load */

	char *path;			/* JSON path of the current value */
	size_t pathlen;
	size_t pathcap;

	struct cfg_notice *notices;
	size_t nnotices;

	/* The top-level "host" list, parsed, for backends that have none. */
	struct gw_host *hosts;
	size_t nhosts;
	bool hosts_bad;			/* it had an error, already reported */
};

/* --- messages ---------------------------------------------------------- */

static void
errs_add(struct gw_config_errors *errs, char *msg)
{
	errs->msgs = xreallocarray(errs->msgs, errs->n + 1,
	    sizeof(*errs->msgs));
	errs->msgs[errs->n++] = msg;
}

static char *quote(const char *);

static void
path_append(struct loader *l, const char *s, size_t len)
{
	if (l->pathlen + len + 1 > l->pathcap) {
		l->pathcap = (l->pathlen + len + 1) * 2;
		l->path = xrealloc(l->path, l->pathcap);
	}
	memcpy(l->path + l->pathlen, s, len);
	l->pathlen += len;
	l->path[l->pathlen] = '\0';
}

/* Appends .key to the path; returns the length to restore. */
static size_t
path_push_key(struct loader *l, const char *key)
{
	size_t old = l->pathlen;
	bool plain = *key != '\0';
	const char *p;
	char *q;

	/*
	 * Identifier-like keys are written as .key; others (namespaces with
	 * '/', keys with spaces) as ["key"] so that the path stays readable
	 * and unambiguous.
	 */
	for (p = key; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' || *p == '-' ||
		    *p == '$' || *p == '@' || *p == '#')) {
			plain = false;
			break;
		}
	}
	if (plain) {
		if (l->pathlen > 0)
			path_append(l, ".", 1);
		path_append(l, key, strlen(key));
	} else {
		q = quote(key);
		path_append(l, "[", 1);
		path_append(l, q, strlen(q));
		path_append(l, "]", 1);
		free(q);
	}
	return old;
}

/* Appends [idx] to the path; returns the length to restore. */
static size_t
path_push_index(struct loader *l, size_t idx)
{
	size_t old = l->pathlen;
	char buf[32];
	int n;

	n = snprintf(buf, sizeof(buf), "[%zu]", idx);
	path_append(l, buf, (size_t)n);
	return old;
}

static void
path_pop(struct loader *l, size_t old)
{
	l->pathlen = old;
	if (l->path != NULL)
		l->path[old] = '\0';
}

/* "FILE: PATH: text", or "FILE: text" at the root. */
static char *
cfg_format(struct loader *l, const char *fmt, va_list ap)
{
	char *text, *msg;

	if (vasprintf(&text, fmt, ap) == -1)
		abort();
	if (l->pathlen > 0)
		xasprintf(&msg, "%s: %s: %s", l->file, l->path, text);
	else
		xasprintf(&msg, "%s: %s", l->file, text);
	free(text);
	return msg;
}

static void __attribute__((format(printf, 2, 3)))
cfg_error(struct loader *l, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errs_add(l->errs, cfg_format(l, fmt, ap));
	va_end(ap);
	l->nerr++;
}

/* An error about `key` of the current object. */
static void __attribute__((format(printf, 3, 4)))
key_error(struct loader *l, const char *key, const char *fmt, ...)
{
	va_list ap;
	size_t old = path_push_key(l, key);

	va_start(ap, fmt);
	errs_add(l->errs, cfg_format(l, fmt, ap));
	va_end(ap);
	l->nerr++;
	path_pop(l, old);
}

/*
 * Records a notice once per `key`: the message keeps the path of the first
 * place, and the final text says how many places had it.
 */
static void __attribute__((format(printf, 3, 4)))
cfg_notice(struct loader *l, const char *key, const char *fmt, ...)
{
	struct cfg_notice *n;
	va_list ap;
	size_t i;

	for (i = 0; i < l->nnotices; i++) {
		if (strcmp(l->notices[i].key, key) == 0) {
			l->notices[i].count++;
			return;
		}
	}
	l->notices = xreallocarray(l->notices, l->nnotices + 1,
	    sizeof(*l->notices));
	n = &l->notices[l->nnotices++];
	n->key = xstrdup(key);
	va_start(ap, fmt);
	n->msg = cfg_format(l, fmt, ap);
	va_end(ap);
	n->count = 1;
}

/*
 * Quotes a string for a message: JSON-style escapes, cut at CFG_QUOTE_MAX
 * bytes on a UTF-8 boundary.  Returns an allocated string.
 */
static char *
quote(const char *s)
{
	size_t len = strlen(s), cut = len, i, o = 0;
	char *q;

	if (cut > CFG_QUOTE_MAX) {
		cut = CFG_QUOTE_MAX;
		while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
			cut--;
	}
	q = xmalloc(cut * 6 + 8);
	q[o++] = '"';
	for (i = 0; i < cut; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			q[o++] = '\\';
			q[o++] = (char)c;
		} else if (c == '\n') {
			q[o++] = '\\';
			q[o++] = 'n';
		} else if (c == '\t') {
			q[o++] = '\\';
			q[o++] = 't';
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(q + o, 7, "\\u%04x", c);
		} else
			q[o++] = (char)c;
	}
	q[o++] = '"';
	if (cut < len) {
		memcpy(q + o, "...", 3);
		o += 3;
	}
	q[o] = '\0';
	return q;
}

static const char *
json_type_name(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "value";
}

/*
 * Describes a value for "found ...": its type, then the value itself when
 * it is short enough to help ("integer 5", "string \"5\"", "object").
 */
static char *
describe(const json_t *v)
{
	char *out, *q;

	switch (json_typeof(v)) {
	case JSON_STRING:
		q = quote(json_string_value(v));
		xasprintf(&out, "string %s", q);
		free(q);
		return out;
	case JSON_INTEGER:
		xasprintf(&out, "integer %" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		return out;
	case JSON_REAL:
		xasprintf(&out, "number %g", json_real_value(v));
		return out;
	case JSON_TRUE:
		return xstrdup("boolean true");
	case JSON_FALSE:
		return xstrdup("boolean false");
	default:
		return xstrdup(json_type_name(v));
	}
}

/* Just the value, for value errors: "\"ftp://x\"", "0", "-1.5". */
static char *
value_str(const json_t *v)
{
	char *out;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return quote(json_string_value(v));
	case JSON_INTEGER:
		xasprintf(&out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return out;
	case JSON_REAL:
		xasprintf(&out, "%g", json_real_value(v));
		return out;
	default:
		return describe(v);
	}
}

/* "expected WHAT, found <value>" about `key` of the current object. */
static void
key_expected(struct loader *l, const char *key, const char *what,
    const json_t *found)
{
	char *d = value_str(found);

	key_error(l, key, "expected %s, found %s", what, d);
	free(d);
}

/* True when v is an object; else reports it at the current path. */
static bool
want_object(struct loader *l, const json_t *v)
{
	char *d;

	if (json_is_object(v))
		return true;
	d = describe(v);
	cfg_error(l, "expected object, found %s", d);
	free(d);
	return false;
}

/* --- key tables -------------------------------------------------------- */

enum cfg_type {
	CT_ANY,
	CT_STRING,
	CT_INT,
	CT_NUMBER,
	CT_BOOL,
	CT_OBJECT,
	CT_OBJECT_OR_NULL,
	CT_ARRAY,
	CT_STRLIST,
	CT_DURATION,
};

enum cfg_use {
	CU_OURS,	/* read by the loader */
	CU_NOTICE,	/* ignored; a notice unless the value is its zero */
	CU_SILENT,	/* ignored; makes no difference to us */
};

struct cfg_key {
	const char *name;
	enum cfg_type type;
	enum cfg_use use;
	const char *unset;	/* CU_NOTICE strings: the value meaning "off" */
};

static const struct cfg_key service_keys[] = {
	{ "version", CT_INT, CU_OURS, NULL },
	{ "name", CT_STRING, CU_OURS, NULL },
	{ "port", CT_INT, CU_OURS, NULL },
	{ "listen_ip", CT_STRING, CU_OURS, NULL },
	{ "timeout", CT_DURATION, CU_OURS, NULL },
	{ "output_encoding", CT_STRING, CU_OURS, NULL },
	{ "echo_endpoint", CT_BOOL, CU_OURS, NULL },
	{ "debug_endpoint", CT_BOOL, CU_OURS, NULL },
	{ "host", CT_STRLIST, CU_OURS, NULL },
	{ "tls", CT_OBJECT_OR_NULL, CU_OURS, NULL },
	{ "extra_config", CT_OBJECT, CU_OURS, NULL },
	{ "endpoints", CT_ARRAY, CU_OURS, NULL },
	{ "read_header_timeout", CT_DURATION, CU_OURS, NULL },
	{ "read_timeout", CT_DURATION, CU_OURS, NULL },
	{ "write_timeout", CT_DURATION, CU_OURS, NULL },
	{ "idle_timeout", CT_DURATION, CU_OURS, NULL },
	{ "idle_connection_timeout", CT_DURATION, CU_OURS, NULL },
	{ "dialer_timeout", CT_DURATION, CU_OURS, NULL },
	{ "max_idle_connections_per_host", CT_INT, CU_OURS, NULL },
	{ "async_agent", CT_ARRAY, CU_NOTICE, NULL },
	{ "cache_ttl", CT_DURATION, CU_NOTICE, NULL },
	{ "client_tls", CT_OBJECT, CU_NOTICE, NULL },
	{ "dialer_fallback_delay", CT_DURATION, CU_NOTICE, NULL },
	{ "dialer_keep_alive", CT_DURATION, CU_NOTICE, NULL },
	{ "disable_compression", CT_BOOL, CU_NOTICE, NULL },
	{ "disable_keep_alives", CT_BOOL, CU_NOTICE, NULL },
	{ "disable_rest", CT_BOOL, CU_NOTICE, NULL },
	{ "dns_cache_ttl", CT_DURATION, CU_NOTICE, NULL },
	{ "expect_continue_timeout", CT_DURATION, CU_NOTICE, NULL },
	{ "max_header_bytes", CT_INT, CU_NOTICE, NULL },
	{ "max_idle_connections", CT_INT, CU_NOTICE, NULL },
	{ "max_shutdown_wait_time", CT_DURATION, CU_NOTICE, NULL },
	{ "plugin", CT_OBJECT, CU_NOTICE, NULL },
	{ "response_header_timeout", CT_DURATION, CU_NOTICE, NULL },
	{ "sequential_start", CT_BOOL, CU_SILENT, NULL },
	{ "use_h2c", CT_BOOL, CU_NOTICE, NULL },
};

static const struct cfg_key endpoint_keys[] = {
	{ "endpoint", CT_STRING, CU_OURS, NULL },
	{ "method", CT_STRING, CU_OURS, NULL },
	{ "backend", CT_ARRAY, CU_OURS, NULL },
	{ "timeout", CT_DURATION, CU_OURS, NULL },
	{ "input_headers", CT_STRLIST, CU_OURS, NULL },
	{ "input_query_strings", CT_STRLIST, CU_OURS, NULL },
	{ "output_encoding", CT_STRING, CU_OURS, NULL },
	{ "extra_config", CT_OBJECT, CU_OURS, NULL },
	{ "concurrent_calls", CT_INT, CU_OURS, NULL },
	{ "cache_ttl", CT_DURATION, CU_NOTICE, NULL },
};

static const struct cfg_key backend_keys[] = {
	{ "url_pattern", CT_STRING, CU_OURS, NULL },
	{ "host", CT_STRLIST, CU_OURS, NULL },
	{ "encoding", CT_STRING, CU_OURS, NULL },
	{ "method", CT_STRING, CU_OURS, NULL },
	{ "extra_config", CT_OBJECT, CU_OURS, NULL },
	{ "disable_host_sanitize", CT_BOOL, CU_OURS, NULL },
	{ "allow", CT_STRLIST, CU_NOTICE, NULL },
	{ "deny", CT_STRLIST, CU_NOTICE, NULL },
	{ "group", CT_STRING, CU_NOTICE, NULL },
	{ "mapping", CT_OBJECT, CU_NOTICE, NULL },
	{ "target", CT_STRING, CU_NOTICE, NULL },
	{ "is_collection", CT_BOOL, CU_NOTICE, NULL },
	{ "sd", CT_STRING, CU_NOTICE, "static" },
	{ "sd_scheme", CT_STRING, CU_NOTICE, "http" },
	{ "input_headers", CT_STRLIST, CU_NOTICE, NULL },
	{ "input_query_strings", CT_STRLIST, CU_NOTICE, NULL },
};

static const struct cfg_key router_keys[] = {
	{ "return_error_msg", CT_BOOL, CU_OURS, NULL },
	{ "health_path", CT_STRING, CU_OURS, NULL },
	{ "disable_health", CT_BOOL, CU_OURS, NULL },
	{ "disable_access_log", CT_BOOL, CU_OURS, NULL },
	{ "auto_options", CT_BOOL, CU_OURS, NULL },
	{ "trusted_proxies", CT_STRLIST, CU_OURS, NULL },
	{ "remote_ip_headers", CT_STRLIST, CU_OURS, NULL },
	{ "forwarded_by_client_ip", CT_BOOL, CU_OURS, NULL },
	{ "max_clients", CT_INT, CU_OURS, NULL },
	{ "app_engine", CT_BOOL, CU_NOTICE, NULL },
	{ "decompress_gzip", CT_ANY, CU_NOTICE, NULL },
	{ "disable_gzip", CT_BOOL, CU_NOTICE, NULL },
	{ "disable_handle_method_not_allowed", CT_BOOL, CU_NOTICE, NULL },
	{ "disable_path_decoding", CT_BOOL, CU_NOTICE, NULL },
	{ "error_body", CT_OBJECT, CU_NOTICE, NULL },
	{ "logger_skip_paths", CT_STRLIST, CU_NOTICE, NULL },
	{ "max_multipart_memory", CT_INT, CU_NOTICE, NULL },
	{ "max_payload", CT_INT, CU_NOTICE, NULL },
	{ "remove_extra_slash", CT_BOOL, CU_NOTICE, NULL },
	{ "use_h2c", CT_BOOL, CU_NOTICE, NULL },
	/* We never redirect and never send X-KrakenD-Version: these flags
	 * ask for what we do anyway. */
	{ "disable_redirect_fixed_path", CT_BOOL, CU_SILENT, NULL },
	{ "disable_redirect_trailing_slash", CT_BOOL, CU_SILENT, NULL },
	{ "hide_version_header", CT_BOOL, CU_SILENT, NULL },
};

static const struct cfg_key ratelimit_keys[] = {
	{ "max_rate", CT_NUMBER, CU_OURS, NULL },
	{ "client_max_rate", CT_NUMBER, CU_OURS, NULL },
	{ "capacity", CT_INT, CU_OURS, NULL },
	{ "client_capacity", CT_INT, CU_OURS, NULL },
	{ "every", CT_DURATION, CU_OURS, NULL },
	{ "strategy", CT_STRING, CU_OURS, NULL },
	{ "key", CT_STRING, CU_OURS, NULL },
	/* Tuning of KrakenD's own counter store; ours needs none. */
	{ "cleanup_period", CT_DURATION, CU_SILENT, NULL },
	{ "cleanup_threads", CT_INT, CU_SILENT, NULL },
	{ "num_shards", CT_INT, CU_SILENT, NULL },
};

static const struct cfg_key breaker_keys[] = {
	{ "interval", CT_INT, CU_OURS, NULL },
	{ "timeout", CT_INT, CU_OURS, NULL },
	{ "max_errors", CT_INT, CU_OURS, NULL },
	{ "name", CT_STRING, CU_OURS, NULL },
	{ "log_status_change", CT_BOOL, CU_OURS, NULL },
};

static const struct cfg_key cors_keys[] = {
	{ "allow_origins", CT_STRLIST, CU_OURS, NULL },
	{ "allow_methods", CT_STRLIST, CU_OURS, NULL },
	{ "allow_headers", CT_STRLIST, CU_OURS, NULL },
	{ "expose_headers", CT_STRLIST, CU_OURS, NULL },
	{ "max_age", CT_DURATION, CU_OURS, NULL },
	{ "allow_credentials", CT_BOOL, CU_OURS, NULL },
	{ "allow_private_network", CT_BOOL, CU_OURS, NULL },
	{ "options_success_status", CT_INT, CU_OURS, NULL },
	{ "debug", CT_BOOL, CU_OURS, NULL },
	{ "options_passthrough", CT_BOOL, CU_NOTICE, NULL },
};

static const struct cfg_key logging_keys[] = {
	{ "level", CT_STRING, CU_OURS, NULL },
	{ "prefix", CT_STRING, CU_OURS, NULL },
	{ "syslog", CT_BOOL, CU_OURS, NULL },
	{ "stdout", CT_BOOL, CU_OURS, NULL },
	{ "format", CT_STRING, CU_OURS, NULL },
	{ "syslog_facility", CT_STRING, CU_OURS, NULL },
	{ "custom_format", CT_STRING, CU_NOTICE, NULL },
	{ "access_log_format", CT_STRING, CU_NOTICE, NULL },
	{ "access_log_custom_format", CT_STRING, CU_NOTICE, NULL },
	{ "access_log_missing_key_marker", CT_STRING, CU_NOTICE, NULL },
	{ "backend", CT_OBJECT, CU_NOTICE, NULL },
};

static const struct cfg_key tls_keys[] = {
	{ "public_key", CT_STRING, CU_OURS, NULL },
	{ "private_key", CT_STRING, CU_OURS, NULL },
	{ "keys", CT_ARRAY, CU_OURS, NULL },
	{ "min_version", CT_STRING, CU_OURS, NULL },
	{ "max_version", CT_STRING, CU_OURS, NULL },
	{ "disabled", CT_BOOL, CU_OURS, NULL },
	{ "ca_certs", CT_STRLIST, CU_NOTICE, NULL },
	{ "cipher_suites", CT_ARRAY, CU_NOTICE, NULL },
	{ "curve_preferences", CT_ARRAY, CU_NOTICE, NULL },
	{ "disable_system_ca_pool", CT_BOOL, CU_NOTICE, NULL },
	{ "enable_mtls", CT_BOOL, CU_OURS, NULL },	/* a louder notice */
	{ "prefer_server_cipher_suites", CT_BOOL, CU_NOTICE, NULL },
};

static const struct cfg_key tls_pair_keys[] = {
	{ "public_key", CT_STRING, CU_OURS, NULL },
	{ "private_key", CT_STRING, CU_OURS, NULL },
};

/* Keys of the version 1/2 syntax, to say what they became. */
static const struct {
	const char *old;
	const char *now;
} renamed_keys[] = {
	{ "headers_to_pass", "input_headers" },
	{ "querystring_params", "input_query_strings" },
	{ "whitelist", "allow" },
	{ "blacklist", "deny" },
};

#define KEYS(t) (t), GW_ARRAY_SIZE(t)

static bool
is_comment_key(const char *key)
{
	return key[0] == '@' || key[0] == '$' || key[0] == '_' ||
	    key[0] == '#';
}

/* True when an ignored value asks for nothing: false, 0, "", "0s", []. */
static bool
is_unset(const json_t *v, const struct cfg_key *k)
{
	int64_t ns;

	switch (json_typeof(v)) {
	case JSON_NULL:
	case JSON_FALSE:
		return true;
	case JSON_TRUE:
		return false;
	case JSON_INTEGER:
		return json_integer_value(v) == 0;
	case JSON_REAL:
		return json_real_value(v) == 0;
	case JSON_STRING:
		if (json_string_length(v) == 0)
			return true;
		if (k->unset != NULL &&
		    strcasecmp(json_string_value(v), k->unset) == 0)
			return true;
		if (k->type == CT_DURATION &&
		    gw_duration_parse(json_string_value(v), &ns) == 0)
			return ns == 0;
		return false;
	case JSON_ARRAY:
		return json_array_size(v) == 0;
	case JSON_OBJECT:
		return json_object_size(v) == 0;
	}
	return false;
}

static bool
type_matches(const json_t *v, enum cfg_type t)
{
	switch (t) {
	case CT_ANY:
		return true;
	case CT_STRING:
	case CT_DURATION:
		return json_is_string(v);
	case CT_INT:
		return json_is_integer(v);
	case CT_NUMBER:
		return json_is_number(v);
	case CT_BOOL:
		return json_is_boolean(v);
	case CT_OBJECT:
		return json_is_object(v);
	case CT_OBJECT_OR_NULL:
		return json_is_object(v) || json_is_null(v);
	case CT_ARRAY:
	case CT_STRLIST:
		return json_is_array(v);
	}
	return false;
}

static const char *
type_expected(enum cfg_type t)
{
	switch (t) {
	case CT_ANY:
		return "a value";
	case CT_STRING:
		return "string";
	case CT_DURATION:
		return "string (a duration)";
	case CT_INT:
		return "integer";
	case CT_NUMBER:
		return "number";
	case CT_BOOL:
		return "boolean";
	case CT_OBJECT:
		return "object";
	case CT_OBJECT_OR_NULL:
		return "object or null";
	case CT_ARRAY:
		return "array";
	case CT_STRLIST:
		return "array of strings";
	}
	return "a value";
}

/*
 * Checks a duration string.  Ignored KrakenD keys may be negative where Go
 * gives that a meaning (dialer_keep_alive), so `allow_neg` skips a '-'.
 */
static bool
duration_ok(const char *s, bool allow_neg, int64_t *ns)
{
	int64_t dummy;

	if (ns == NULL)
		ns = &dummy;
	if (allow_neg && *s == '-')
		s++;
	return gw_duration_parse(s, ns) == 0;
}

static void
duration_error(struct loader *l, const char *key, const json_t *v)
{
	key_expected(l, key,
	    "a duration such as \"500ms\", \"2s\" or \"1h30m\"", v);
}

/*
 * Checks every key of `obj` against `keys`: unknown keys and wrong types
 * are errors, ignored keys that ask for something get a notice.  The
 * readers below then take only values of the right type, so a type error
 * is reported once.  `level` names the object in notices ("service").
 */
static void
check_keys(struct loader *l, json_t *obj, const struct cfg_key *keys,
    size_t nkeys, const char *level)
{
	const struct cfg_key *k;
	const char *key;
	json_t *v, *e;
	size_t i, j, old, old2;
	char *d, *dedup;

	json_object_foreach(obj, key, v) {
		if (is_comment_key(key))
			continue;
		k = NULL;
		for (i = 0; i < nkeys; i++) {
			if (strcmp(keys[i].name, key) == 0) {
				k = &keys[i];
				break;
			}
		}
		if (k == NULL) {
			for (i = 0; i < GW_ARRAY_SIZE(renamed_keys); i++) {
				if (strcmp(renamed_keys[i].old, key) == 0)
					break;
			}
			if (i < GW_ARRAY_SIZE(renamed_keys))
				key_error(l, key, "unknown key (version 3 "
				    "calls it \"%s\")", renamed_keys[i].now);
			else
				key_error(l, key, "unknown key");
			continue;
		}
		if (!type_matches(v, k->type)) {
			d = describe(v);
			key_error(l, key, "expected %s, found %s",
			    type_expected(k->type), d);
			free(d);
			continue;
		}
		if (k->type == CT_STRLIST) {
			old = path_push_key(l, key);
			json_array_foreach(v, j, e) {
				if (json_is_string(e))
					continue;
				old2 = path_push_index(l, j);
				d = describe(e);
				cfg_error(l, "expected string, found %s", d);
				free(d);
				path_pop(l, old2);
			}
			path_pop(l, old);
		}
		if (k->type == CT_DURATION && !duration_ok(json_string_value(v),
		    k->use != CU_OURS, NULL)) {
			duration_error(l, key, v);
			continue;
		}
		if (k->use == CU_NOTICE && !is_unset(v, k)) {
			xasprintf(&dedup, "key:%s:%s", level, key);
			old = path_push_key(l, key);
			cfg_notice(l, dedup, "not implemented; ignored");
			path_pop(l, old);
			free(dedup);
		}
	}
}

/* A value of the right type, or NULL (absent, or already reported). */
static json_t *
get(json_t *obj, const char *key, enum cfg_type t)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL || !type_matches(v, t))
		return NULL;
	if (t == CT_STRLIST) {
		size_t i;
		json_t *e;

		json_array_foreach(v, i, e) {
			if (!json_is_string(e))
				return NULL;
		}
	}
	return v;
}

static const char *
get_string(json_t *obj, const char *key)
{
	json_t *v = get(obj, key, CT_STRING);

	return v != NULL ? json_string_value(v) : NULL;
}

static bool
get_bool(json_t *obj, const char *key, bool dflt)
{
	json_t *v = get(obj, key, CT_BOOL);

	return v != NULL ? json_is_true(v) : dflt;
}

/* A duration checked by check_keys(); false when absent or malformed. */
static bool
get_duration(json_t *obj, const char *key, int64_t *ns)
{
	json_t *v = get(obj, key, CT_DURATION);

	return v != NULL && gw_duration_parse(json_string_value(v), ns) == 0;
}

/* --- small parsers ----------------------------------------------------- */

static void
strlist_free(struct gw_strlist *sl)
{
	size_t i;

	for (i = 0; i < sl->n; i++)
		free(sl->v[i]);
	free(sl->v);
	sl->v = NULL;
	sl->n = 0;
	sl->all = false;
}

static void
strlist_add(struct gw_strlist *sl, const char *s)
{
	sl->v = xreallocarray(sl->v, sl->n + 1, sizeof(*sl->v));
	sl->v[sl->n++] = xstrdup(s);
}

/* RFC 9110 5.6.2 token characters, for header names. */
static bool
is_token(const char *s)
{
	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (strchr("!#$%&'*+-.^_`|~", c) == NULL)
			return false;
	}
	return true;
}

#define SL_STAR		0x1	/* ["*"] alone means all */
#define SL_TOKEN	0x2	/* elements are header names */
#define SL_NONEMPTY	0x4	/* elements are not "" */

/*
 * Reads an array of strings into `out` (replacing what it held).  "*" is
 * accepted only alone, because a list such as ["*", "Cookie"] reads as a
 * mistake either way.  Errors name the element.
 */
static void
load_strlist(struct loader *l, json_t *obj, const char *key, int flags,
    struct gw_strlist *out)
{
	json_t *arr = get(obj, key, CT_STRLIST), *e;
	size_t i, old, old2;
	const char *s;
	char *q;

	if (arr == NULL)
		return;
	strlist_free(out);
	old = path_push_key(l, key);
	json_array_foreach(arr, i, e) {
		s = json_string_value(e);
		old2 = path_push_index(l, i);
		if (strcmp(s, "*") == 0) {
			if (!(flags & SL_STAR))
				cfg_error(l, "\"*\" is not allowed here");
			else if (json_array_size(arr) != 1)
				cfg_error(l, "\"*\" must be the only "
				    "element");
		} else if ((flags & SL_TOKEN) && !is_token(s)) {
			q = quote(s);
			cfg_error(l, "expected a header name, found %s", q);
			free(q);
		} else if ((flags & SL_NONEMPTY) && *s == '\0')
			cfg_error(l, "expected a non-empty string, found \"\"");
		path_pop(l, old2);
		strlist_add(out, s);
	}
	path_pop(l, old);
	out->all = out->n == 1 && strcmp(out->v[0], "*") == 0;
}

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
	"CONNECT", "TRACE",
};

/* Upper-cases a known method name into an allocated string, or NULL. */
static char *
method_parse(const char *s)
{
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(methods); i++) {
		if (strcasecmp(s, methods[i]) == 0)
			return xstrdup(methods[i]);
	}
	return NULL;
}

static char *
load_method(struct loader *l, json_t *obj)
{
	json_t *v = get(obj, "method", CT_STRING);
	char *m;

	if (v == NULL)
		return NULL;
	if ((m = method_parse(json_string_value(v))) == NULL)
		key_expected(l, "method", "one of GET, HEAD, POST, PUT, PATCH, "
		    "DELETE, OPTIONS, CONNECT, TRACE", v);
	return m;
}

static const struct {
	const char *name;
	enum gw_encoding enc;
	bool output;	/* valid as an endpoint's output_encoding */
	bool backend;	/* valid as a backend's encoding */
} encodings[] = {
	{ "json", GW_ENC_JSON, true, true },
	{ "no-op", GW_ENC_NOOP, true, true },
	{ "string", GW_ENC_STRING, true, true },
	{ "xml", GW_ENC_XML, true, true },
	{ "rss", GW_ENC_RSS, false, true },
	{ "yaml", GW_ENC_YAML, true, true },
	{ "safejson", GW_ENC_SAFEJSON, false, true },
	{ "fast-json", GW_ENC_FAST_JSON, true, true },
	{ "json-collection", GW_ENC_JSON_COLLECTION, true, false },
	{ "negotiate", GW_ENC_NEGOTIATE, true, false },
};

const char *
gw_encoding_name(enum gw_encoding enc)
{
	size_t i;

	for (i = 0; i < GW_ARRAY_SIZE(encodings); i++) {
		if (encodings[i].enc == enc)
			return encodings[i].name;
	}
	return "json";
}

/*
 * Reads an encoding key.  Returns true and sets *enc when present and
 * valid for the level.  Encodings other than json and no-op are served as
 * json, which the operator should know about.
 */
static bool
load_encoding(struct loader *l, json_t *obj, const char *key, bool output,
    enum gw_encoding *enc)
{
	json_t *v = get(obj, key, CT_STRING);
	const char *s;
	char *dedup;
	size_t i, old;

	if (v == NULL)
		return false;
	s = json_string_value(v);
	for (i = 0; i < GW_ARRAY_SIZE(encodings); i++) {
		if (strcmp(encodings[i].name, s) == 0 &&
		    (output ? encodings[i].output : encodings[i].backend))
			break;
	}
	if (i == GW_ARRAY_SIZE(encodings)) {
		key_expected(l, key, output ?
		    "one of json, no-op, string, xml, yaml, fast-json, "
		    "json-collection, negotiate" :
		    "one of json, no-op, string, xml, rss, yaml, safejson, "
		    "fast-json", v);
		return false;
	}
	*enc = encodings[i].enc;
	if (*enc != GW_ENC_JSON && *enc != GW_ENC_NOOP) {
		xasprintf(&dedup, "encoding:%s", s);
		old = path_push_key(l, key);
		cfg_notice(l, dedup, "encoding \"%s\" is not implemented; "
		    "responses are handled as json", s);
		path_pop(l, old);
		free(dedup);
	}
	return true;
}

/*
 * Parses "http(s)://name[:port]" or "h2c://name[:port]" (HTTP/2 with
 * prior knowledge, plaintext, port 80 by default) with an optional lone
 * trailing '/'.  Returns NULL and fills h, or the reason the string is
 * not one.
 */
static const char *
host_parse(const char *s, struct gw_host *h)
{
	const char *p, *name, *end;
	size_t namelen;
	char buf[INET6_ADDRSTRLEN + 1], *hostname;
	struct in6_addr a6;
	unsigned long port;
	bool tls, h2 = false;

	if (strncasecmp(s, "http://", 7) == 0) {
		tls = false;
		p = s + 7;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		tls = true;
		p = s + 8;
	} else if (strncasecmp(s, "h2c://", 6) == 0) {
		tls = false;
		h2 = true;
		p = s + 6;
	} else
		return strstr(s, "://") != NULL ?
		    "scheme is not http or https" : "no http:// or https://";

	end = p + strlen(p);
	if (end > p && end[-1] == '/')
		end--;
	if (memchr(p, '@', (size_t)(end - p)) != NULL)
		return "user information is not allowed";
	if (memchr(p, '/', (size_t)(end - p)) != NULL ||
	    memchr(p, '?', (size_t)(end - p)) != NULL ||
	    memchr(p, '#', (size_t)(end - p)) != NULL)
		return "a host has no path; put it in url_pattern";

	if (*p == '[') {
		name = p + 1;
		p = memchr(name, ']', (size_t)(end - name));
		if (p == NULL)
			return "unterminated [IPv6 address]";
		namelen = (size_t)(p - name);
		if (namelen == 0 || namelen >= sizeof(buf))
			return "invalid IPv6 address";
		memcpy(buf, name, namelen);
		buf[namelen] = '\0';
		if (inet_pton(AF_INET6, buf, &a6) != 1)
			return "invalid IPv6 address";
		p++;
		if (p != end && *p != ':')
			return "unexpected text after the IPv6 address";
	} else {
		name = p;
		while (p < end && *p != ':') {
			char c = *p;

			if (!((c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') ||
			    c == '-' || c == '.' || c == '_'))
				return "invalid character in the host name";
			p++;
		}
		namelen = (size_t)(p - name);
		if (namelen == 0)
			return "empty host name";
	}

	if (p == end)
		port = tls ? 443 : 80;
	else {
		const char *d = ++p;

		if (d == end)
			return "empty port";
		port = 0;
		for (; d < end; d++) {
			if (*d < '0' || *d > '9')
				return "port is not a number";
			port = port * 10 + (unsigned long)(*d - '0');
			if (port > 65535)
				return "port out of range 1..65535";
		}
		if (port == 0)
			return "port out of range 1..65535";
	}

	hostname = xstrndup(name, namelen);
	h->url = xstrdup(s);
	h->name = hostname;
	h->port = (uint16_t)port;
	h->tls = tls;
	h->h2 = h2;
	return NULL;
}

static void
host_free(struct gw_host *h)
{
	free(h->url);
	free(h->name);
}

/*
 * Parses the "host" array of `obj` into *hosts.  Returns the number
 * parsed; reports each bad element.  *bad tells if any was bad.
 */
static size_t
load_hosts(struct loader *l, json_t *obj, struct gw_host **hosts, bool *bad)
{
	json_t *arr = get(obj, "host", CT_STRLIST), *e;
	size_t i, n = 0, old, old2;
	const char *why;
	char *q;

	*bad = false;
	if (arr == NULL) {
		*bad = json_object_get(obj, "host") != NULL;
		return 0;
	}
	*hosts = xcalloc(json_array_size(arr) + 1, sizeof(**hosts));
	old = path_push_key(l, "host");
	json_array_foreach(arr, i, e) {
		if ((why = host_parse(json_string_value(e),
		    &(*hosts)[n])) != NULL) {
			old2 = path_push_index(l, i);
			q = quote(json_string_value(e));
			cfg_error(l, "expected http(s)://name[:port], found %s "
			    "(%s)", q, why);
			free(q);
			path_pop(l, old2);
			*bad = true;
			continue;
		}
		n++;
	}
	path_pop(l, old);
	return n;
}

/* Checks an IPv4/IPv6 address with an optional /prefix. */
static bool
cidr_ok(const char *s)
{
	char buf[INET6_ADDRSTRLEN + 1], *end;
	const char *slash = strchr(s, '/');
	size_t len = slash != NULL ? (size_t)(slash - s) : strlen(s);
	unsigned char a[sizeof(struct in6_addr)];
	unsigned long bits, max;

	if (len == 0 || len >= sizeof(buf))
		return false;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, a) == 1)
		max = 32;
	else if (inet_pton(AF_INET6, buf, a) == 1)
		max = 128;
	else
		return false;
	if (slash == NULL)
		return true;
	if (slash[1] < '0' || slash[1] > '9')
		return false;
	errno = 0;
	bits = strtoul(slash + 1, &end, 10);
	return errno == 0 && *end == '\0' && bits <= max;
}

/* --- placeholders ------------------------------------------------------ */

static void
params_free(struct cfg_params *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++)
		free(ps->v[i]);
	free(ps->v);
	ps->v = NULL;
	ps->n = 0;
}

static bool
params_has(const struct cfg_params *ps, const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		if (strlen(ps->v[i]) == len && memcmp(ps->v[i], name, len) == 0)
			return true;
	}
	return false;
}

static bool
is_param_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

/*
 * Checks an endpoint path and collects its placeholders.  The grammar: a
 * '/' then segments separated by '/'; a segment is literal text or exactly
 * "{name}"; a final segment "*" makes the path a prefix.  An empty
 * segment is allowed only last (a trailing slash).  Returns NULL, with
 * ps filled and *key set to the route ("GET /a/{}/b", names dropped, so
 * that /a/{x} and /a/{y} compare equal), or the reason it is invalid.
 */
#define PARAM_WHOLE \
	"a placeholder must be a whole path segment, such as /users/{id}"
#define PARAM_CHARS \
	"invalid character in a placeholder name (letters, digits, _ - .)"

static const char *
endpoint_parse(const char *path, const char *method, struct cfg_params *ps,
    char **key)
{
	const char *seg = path + 1, *end, *p;
	size_t len, klen;
	char *k;

	if (path[0] != '/')
		return "must start with \"/\"";
	klen = strlen(method) + 1 + strlen(path) + 1;
	k = xmalloc(klen);
	len = (size_t)snprintf(k, klen, "%s /", method);

	for (;;) {
		end = strchr(seg, '/');
		if (end == NULL)
			end = seg + strlen(seg);
		if (end == seg && *end == '/') {
			free(k);
			return "empty path segment (\"//\")";
		}
		if (end - seg == 1 && *seg == '*') {
			if (*end != '\0') {
				free(k);
				return "\"*\" is only allowed as a final "
				    "\"/*\"";
			}
			k[len++] = '*';
		} else if (*seg == '{') {
			if (end[-1] != '}' || end - seg < 2) {
				free(k);
				return PARAM_WHOLE;
			}
			if (end - seg == 2) {
				free(k);
				return "empty placeholder \"{}\"";
			}
			for (p = seg + 1; p < end - 1; p++) {
				if (!is_param_char(*p)) {
					free(k);
					return *p == '{' || *p == '}' ?
					    PARAM_WHOLE : PARAM_CHARS;
				}
			}
			if (params_has(ps, seg + 1, (size_t)(end - seg - 2))) {
				free(k);
				return "placeholder defined twice";
			}
			ps->v = xreallocarray(ps->v, ps->n + 1, sizeof(*ps->v));
			ps->v[ps->n++] = xstrndup(seg + 1,
			    (size_t)(end - seg - 2));
			k[len++] = '{';
			k[len++] = '}';
		} else {
			for (p = seg; p < end; p++) {
				unsigned char c = (unsigned char)*p;

				if (c == '*') {
					free(k);
					return "\"*\" is only allowed as a "
					    "final \"/*\"";
				}
				if (c == '{' || c == '}') {
					free(k);
					return PARAM_WHOLE;
				}
				if (c <= 0x20 || c >= 0x7f ||
				    strchr("?#%&\\\"<>", c) != NULL) {
					free(k);
					return "invalid character in the path";
				}
				k[len++] = (char)c;
			}
		}
		if (*end == '\0')
			break;
		k[len++] = '/';
		seg = end + 1;
	}
	k[len] = '\0';
	*key = k;
	return NULL;
}

/*
 * Checks that every {name} of a backend url_pattern is defined by the
 * endpoint; reports each one that is not.
 */
static void
check_url_pattern(struct loader *l, const char *pat,
    const struct cfg_params *ps, const char *endpoint)
{
	const char *p = pat, *close;
	char *name;

	while ((p = strpbrk(p, "{}")) != NULL) {
		if (*p == '}') {
			key_error(l, "url_pattern", "unbalanced \"}\"");
			return;
		}
		close = strpbrk(p + 1, "{}");
		if (close == NULL || *close != '}') {
			key_error(l, "url_pattern", "unterminated placeholder "
			    "\"{\"");
			return;
		}
		if (ps != NULL && !params_has(ps, p + 1,
		    (size_t)(close - p - 1))) {
			name = xstrndup(p + 1, (size_t)(close - p - 1));
			key_error(l, "url_pattern", "placeholder {%s} is not "
			    "defined by the endpoint \"%s\"", name, endpoint);
			free(name);
		}
		p = close + 1;
	}
}

/* --- namespaces -------------------------------------------------------- */

/* Namespaces we implement, and where. */
#define NS_ROUTER	"router"
#define NS_RATELIMIT	"qos/ratelimit/router"
#define NS_BREAKER	"qos/circuit-breaker"
#define NS_CORS		"security/cors"
#define NS_LOGGING	"telemetry/logging"

/* KrakenD namespaces whose names have no '/'. */
static const char *const krakend_plain_ns[] = {
	"grpc", "proxy", "redis", "websocket", "workflow",
};

/*
 * A namespace that is not ours at this level: a notice (one per name)
 * when it is someone's, an error when it looks like a typo.
 */
static void
foreign_namespace(struct loader *l, const char *ns, const char *level)
{
	static const char *const ours[] = {
		NS_ROUTER, NS_RATELIMIT, NS_BREAKER, NS_CORS, NS_LOGGING,
	};
	size_t i, old;
	char *dedup;

	for (i = 0; i < GW_ARRAY_SIZE(ours); i++) {
		if (strcmp(ns, ours[i]) == 0) {
			xasprintf(&dedup, "ns:%s:%s", level, ns);
			old = path_push_key(l, ns);
			cfg_notice(l, dedup, "namespace \"%s\" is not "
			    "implemented at %s level and is ignored", ns,
			    level);
			path_pop(l, old);
			free(dedup);
			return;
		}
	}
	for (i = 0; i < GW_ARRAY_SIZE(krakend_plain_ns); i++) {
		if (strcmp(ns, krakend_plain_ns[i]) == 0)
			break;
	}
	if (strchr(ns, '/') == NULL && i == GW_ARRAY_SIZE(krakend_plain_ns)) {
		key_error(l, ns, "unknown namespace (vendor namespaces have a "
		    "'/', such as \"github.com/org/name\")");
		return;
	}
	xasprintf(&dedup, "ns:%s", ns);
	old = path_push_key(l, ns);
	/* Say it plainly where ignoring a namespace lets requests through. */
	cfg_notice(l, dedup, "namespace \"%s\" is not implemented and is "
	    "ignored%s", ns, strncmp(ns, "auth/", 5) == 0 ?
	    " (the gateway does not check credentials)" : "");
	path_pop(l, old);
	free(dedup);
}

/* Positive number of a rate or size key, or a report. */
static bool
positive_number(struct loader *l, json_t *obj, const char *key, double *out)
{
	json_t *v = get(obj, key, CT_NUMBER);

	if (v == NULL)
		return false;
	if (!(json_number_value(v) > 0)) {
		key_expected(l, key, "a number > 0 (omit the key for no "
		    "limit)", v);
		return false;
	}
	*out = json_number_value(v);
	return true;
}

static bool
int_in_range(struct loader *l, json_t *obj, const char *key, json_int_t min,
    json_int_t max, json_int_t *out)
{
	json_t *v = get(obj, key, CT_INT);
	char what[96];

	if (v == NULL)
		return false;
	if (json_integer_value(v) < min || json_integer_value(v) > max) {
		if (max == CFG_INT_MAX)
			snprintf(what, sizeof(what), "an integer >= %"
			    JSON_INTEGER_FORMAT, min);
		else
			snprintf(what, sizeof(what), "an integer %"
			    JSON_INTEGER_FORMAT "..%" JSON_INTEGER_FORMAT,
			    min, max);
		key_expected(l, key, what, v);
		return false;
	}
	*out = json_integer_value(v);
	return true;
}

static struct gw_ratelimit_config *
load_ratelimit(struct loader *l, json_t *obj)
{
	struct gw_ratelimit_config *rl;
	const char *s;
	json_t *v;
	json_int_t n;
	bool has_rate, has_client;

	rl = xcalloc(1, sizeof(*rl));
	rl->every_ns = CFG_DEFAULT_EVERY_NS;
	rl->strategy = GW_RL_STRATEGY_IP;
	check_keys(l, obj, KEYS(ratelimit_keys), NS_RATELIMIT);

	has_rate = json_object_get(obj, "max_rate") != NULL;
	has_client = json_object_get(obj, "client_max_rate") != NULL;
	if (!has_rate && !has_client)
		cfg_error(l, "expected max_rate or client_max_rate");
	positive_number(l, obj, "max_rate", &rl->max_rate);
	positive_number(l, obj, "client_max_rate", &rl->client_max_rate);
	if (int_in_range(l, obj, "capacity", 1, CFG_INT_MAX, &n))
		rl->capacity = (uint64_t)n;
	if (int_in_range(l, obj, "client_capacity", 1, CFG_INT_MAX, &n))
		rl->client_capacity = (uint64_t)n;
	if (get_duration(obj, "every", &rl->every_ns) && rl->every_ns == 0) {
		key_expected(l, "every", "a duration > 0",
		    json_object_get(obj, "every"));
		rl->every_ns = CFG_DEFAULT_EVERY_NS;
	}

	if ((v = get(obj, "strategy", CT_STRING)) != NULL) {
		s = json_string_value(v);
		if (strcmp(s, "ip") == 0)
			rl->strategy = GW_RL_STRATEGY_IP;
		else if (strcmp(s, "header") == 0)
			rl->strategy = GW_RL_STRATEGY_HEADER;
		else if (strcmp(s, "param") == 0)
			rl->strategy = GW_RL_STRATEGY_PARAM;
		else
			key_expected(l, "strategy", "one of ip, header, param",
			    v);
	}
	s = get_string(obj, "key");
	switch (rl->strategy) {
	case GW_RL_STRATEGY_IP:
		if (s != NULL && *s != '\0')
			cfg_notice(l, "ratelimit:key-with-ip", "\"key\" is "
			    "ignored with strategy ip");
		break;
	case GW_RL_STRATEGY_HEADER:
		if (s == NULL || *s == '\0')
			cfg_error(l, "strategy header needs \"key\", the "
			    "header that identifies the client");
		else if (!is_token(s))
			key_expected(l, "key", "a header name",
			    json_object_get(obj, "key"));
		else
			rl->key = xstrdup(s);
		break;
	case GW_RL_STRATEGY_PARAM:
		if (s == NULL || *s == '\0')
			cfg_error(l, "strategy param needs \"key\", the "
			    "placeholder that identifies the client");
		else
			rl->key = xstrdup(s);
		break;
	}
	return rl;
}

static void
ratelimit_free(struct gw_ratelimit_config *rl)
{
	if (rl == NULL)
		return;
	free(rl->key);
	free(rl);
}

static struct gw_breaker_config *
load_breaker(struct loader *l, json_t *obj)
{
	struct gw_breaker_config *b;
	const char *s;
	json_int_t n;
	/* Seconds that still fit in int64 nanoseconds. */
	const json_int_t max_s = INT64_MAX / GW_NS_PER_S;

	b = xcalloc(1, sizeof(*b));
	check_keys(l, obj, KEYS(breaker_keys), NS_BREAKER);
	/* KrakenD's interval and timeout are integers of seconds. */
	if (json_object_get(obj, "interval") == NULL)
		cfg_error(l, "missing \"interval\" (seconds)");
	else if (int_in_range(l, obj, "interval", 1, max_s, &n))
		b->interval_ns = n * GW_NS_PER_S;
	if (json_object_get(obj, "timeout") == NULL)
		cfg_error(l, "missing \"timeout\" (seconds)");
	else if (int_in_range(l, obj, "timeout", 1, max_s, &n))
		b->timeout_ns = n * GW_NS_PER_S;
	if (int_in_range(l, obj, "max_errors", 1, UINT32_MAX, &n))
		b->max_errors = (uint32_t)n;
	if ((s = get_string(obj, "name")) != NULL && *s != '\0')
		b->name = xstrdup(s);
	b->log_status_change = get_bool(obj, "log_status_change", false);
	return b;
}

static void
breaker_free(struct gw_breaker_config *b)
{
	if (b == NULL)
		return;
	free(b->name);
	free(b);
}

static const char *const cors_methods[] = {
	"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS",
};

static void
load_cors(struct loader *l, json_t *obj)
{
	struct gw_cors_config *c;
	json_int_t n;
	size_t i, j, old, old2;
	const char *s, *star;
	char *q;

	c = l->cfg->cors = xcalloc(1, sizeof(*c));
	check_keys(l, obj, KEYS(cors_keys), NS_CORS);

	load_strlist(l, obj, "allow_origins", SL_STAR | SL_NONEMPTY,
	    &c->allow_origins);
	old = path_push_key(l, "allow_origins");
	for (i = 0; i < c->allow_origins.n; i++) {
		s = c->allow_origins.v[i];
		star = strchr(s, '*');
		if (star != NULL && strcmp(s, "*") != 0 &&
		    strchr(star + 1, '*') != NULL) {
			old2 = path_push_index(l, i);
			q = quote(s);
			cfg_error(l, "expected at most one \"*\" in an origin, "
			    "found %s", q);
			free(q);
			path_pop(l, old2);
		} else if (!gw_cors_origin_pattern_valid(s)) {
			/* An origin that can never match is a typo, not a
			 * policy. */
			old2 = path_push_index(l, i);
			q = quote(s);
			cfg_error(l, "expected an origin such as "
			    "https://example.com[:port] or "
			    "https://*.example.com, found %s", q);
			free(q);
			path_pop(l, old2);
		}
	}
	path_pop(l, old);

	strlist_add(&c->allow_methods, "GET");
	strlist_add(&c->allow_methods, "HEAD");
	strlist_add(&c->allow_methods, "POST");
	load_strlist(l, obj, "allow_methods", 0, &c->allow_methods);
	old = path_push_key(l, "allow_methods");
	for (i = 0; i < c->allow_methods.n; i++) {
		for (j = 0; j < GW_ARRAY_SIZE(cors_methods); j++) {
			if (strcasecmp(c->allow_methods.v[i],
			    cors_methods[j]) == 0)
				break;
		}
		if (j < GW_ARRAY_SIZE(cors_methods)) {
			free(c->allow_methods.v[i]);
			c->allow_methods.v[i] = xstrdup(cors_methods[j]);
			continue;
		}
		old2 = path_push_index(l, i);
		q = quote(c->allow_methods.v[i]);
		cfg_error(l, "expected one of GET, HEAD, POST, PUT, PATCH, "
		    "DELETE, OPTIONS, found %s", q);
		free(q);
		path_pop(l, old2);
	}
	path_pop(l, old);

	load_strlist(l, obj, "allow_headers", SL_STAR | SL_TOKEN,
	    &c->allow_headers);
	strlist_add(&c->expose_headers, "Content-Length");
	strlist_add(&c->expose_headers, "Content-Type");
	load_strlist(l, obj, "expose_headers", SL_STAR | SL_TOKEN,
	    &c->expose_headers);
	get_duration(obj, "max_age", &c->max_age_ns);
	c->allow_credentials = get_bool(obj, "allow_credentials", false);
	c->allow_private_network = get_bool(obj, "allow_private_network",
	    false);
	c->debug = get_bool(obj, "debug", false);
	c->options_success_status = CFG_DEFAULT_OPTIONS_STATUS;
	if (int_in_range(l, obj, "options_success_status", 200, 299, &n))
		c->options_success_status = (int)n;
}

static void
cors_free(struct gw_cors_config *c)
{
	if (c == NULL)
		return;
	strlist_free(&c->allow_origins);
	strlist_free(&c->allow_methods);
	strlist_free(&c->allow_headers);
	strlist_free(&c->expose_headers);
	free(c);
}

static void
load_logging(struct loader *l, json_t *obj)
{
	struct gw_logging_config *lg = &l->cfg->logging;
	const char *s;
	json_t *v;
	int level;
	size_t i;

	check_keys(l, obj, KEYS(logging_keys), NS_LOGGING);
	if ((v = get(obj, "level", CT_STRING)) != NULL) {
		if ((level = gw_log_level_parse(json_string_value(v))) == -1)
			key_expected(l, "level", "one of DEBUG, INFO, WARNING, "
			    "ERROR, CRITICAL", v);
		else
			lg->level = level;
	}
	if ((s = get_string(obj, "prefix")) != NULL && *s != '\0')
		lg->prefix = xstrdup(s);
	lg->use_syslog = get_bool(obj, "syslog", false);
	lg->use_stdout = get_bool(obj, "stdout", false);
	if ((v = get(obj, "format", CT_STRING)) != NULL) {
		s = json_string_value(v);
		if (strcmp(s, "default") == 0 || strcmp(s, "logstash") == 0 ||
		    strcmp(s, "custom") == 0)
			lg->format = xstrdup(s);
		else
			key_expected(l, "format", "one of default, logstash, "
			    "custom", v);
	}
	if ((v = get(obj, "syslog_facility", CT_STRING)) != NULL) {
		s = json_string_value(v);
		i = strlen(s);
		if (i == 6 && strncmp(s, "local", 5) == 0 && s[5] >= '0' &&
		    s[5] <= '7')
			lg->syslog_facility = xstrdup(s);
		else
			key_expected(l, "syslog_facility", "one of local0 .. "
			    "local7", v);
	}
}

static void
load_router(struct loader *l, json_t *obj)
{
	struct gw_router_config *r = &l->cfg->router;
	const char *s;
	json_t *v;
	json_int_t n;
	size_t i, old, old2;
	char *q;

	check_keys(l, obj, KEYS(router_keys), NS_ROUTER);
	r->return_error_msg = get_bool(obj, "return_error_msg", false);
	r->disable_health = get_bool(obj, "disable_health", false);
	r->disable_access_log = get_bool(obj, "disable_access_log", false);
	r->auto_options = get_bool(obj, "auto_options", false);
	if ((v = get(obj, "health_path", CT_STRING)) != NULL) {
		s = json_string_value(v);
		for (i = 0; s[i] != '\0'; i++) {
			if ((unsigned char)s[i] <= 0x20 ||
			    (unsigned char)s[i] >= 0x7f ||
			    strchr("?#{}*", s[i]) != NULL)
				break;
		}
		if (s[0] != '/' || s[i] != '\0')
			key_expected(l, "health_path", "a plain path starting "
			    "with \"/\"", v);
		else {
			free(r->health_path);
			r->health_path = xstrdup(s);
		}
	}

	load_strlist(l, obj, "trusted_proxies", 0,
	    &r->trusted_proxies);
	old = path_push_key(l, "trusted_proxies");
	for (i = 0; i < r->trusted_proxies.n; i++) {
		if (cidr_ok(r->trusted_proxies.v[i]))
			continue;
		old2 = path_push_index(l, i);
		q = quote(r->trusted_proxies.v[i]);
		cfg_error(l, "expected an IPv4 or IPv6 address or CIDR, "
		    "found %s", q);
		free(q);
		path_pop(l, old2);
	}
	path_pop(l, old);
	load_strlist(l, obj, "remote_ip_headers", SL_TOKEN,
	    &r->remote_ip_headers);
	/*
	 * KrakenD reads forwarding headers only when forwarded_by_client_ip
	 * is true; an explicit false keeps that meaning.  Without the key,
	 * trusted_proxies alone turns the feature on.
	 */
	v = get(obj, "forwarded_by_client_ip", CT_BOOL);
	if (v != NULL && json_is_false(v) && r->trusted_proxies.n > 0) {
		old = path_push_key(l, "trusted_proxies");
		cfg_notice(l, "router:forwarded-false", "ignored because "
		    "forwarded_by_client_ip is false");
		path_pop(l, old);
		strlist_free(&r->trusted_proxies);
	}
	if (int_in_range(l, obj, "max_clients", 1, CFG_INT_MAX, &n))
		r->max_clients = (uint64_t)n;
}

static void
tls_free(struct gw_tls_config *t)
{
	if (t == NULL)
		return;
	free(t->public_key);
	free(t->private_key);
	free(t);
}

static int
tls_version(const char *s)
{
	if (strcmp(s, "TLS10") == 0)
		return TLS1_VERSION;
	if (strcmp(s, "TLS11") == 0)
		return TLS1_1_VERSION;
	if (strcmp(s, "TLS12") == 0)
		return TLS1_2_VERSION;
	if (strcmp(s, "TLS13") == 0)
		return TLS1_3_VERSION;
	return -1;
}

static void
load_tls(struct loader *l, json_t *obj)
{
	struct gw_tls_config *t;
	json_t *keys, *pair, *v;
	const char *pub = NULL, *priv = NULL;
	size_t i, old, old2;
	int ver;

	t = l->cfg->tls = xcalloc(1, sizeof(*t));
	t->min_version = TLS1_2_VERSION;
	check_keys(l, obj, KEYS(tls_keys), "tls");
	t->disabled = get_bool(obj, "disabled", false);

	if ((v = get(obj, "min_version", CT_STRING)) != NULL) {
		if ((ver = tls_version(json_string_value(v))) == -1)
			key_expected(l, "min_version", "one of TLS10, TLS11, "
			    "TLS12, TLS13", v);
		else
			t->min_version = ver;
	}
	if ((v = get(obj, "max_version", CT_STRING)) != NULL) {
		if ((ver = tls_version(json_string_value(v))) == -1)
			key_expected(l, "max_version", "one of TLS10, TLS11, "
			    "TLS12, TLS13", v);
		else
			t->max_version = ver;
	}
	if (t->max_version != 0 && t->max_version < t->min_version)
		key_error(l, "max_version", "lower than min_version");

	/*
	 * KrakenD 2.4 and older have one pair at this level; newer ones a
	 * "keys" array.  We serve one certificate.
	 */
	keys = get(obj, "keys", CT_ARRAY);
	if (keys != NULL) {
		if (json_object_get(obj, "public_key") != NULL ||
		    json_object_get(obj, "private_key") != NULL)
			key_error(l, "keys", "give either keys or "
			    "public_key/private_key, not both");
		old = path_push_key(l, "keys");
		json_array_foreach(keys, i, pair) {
			old2 = path_push_index(l, i);
			if (want_object(l, pair)) {
				check_keys(l, pair, KEYS(tls_pair_keys),
				    "tls.keys");
				if (i == 0) {
					pub = get_string(pair, "public_key");
					priv = get_string(pair, "private_key");
					if (pub == NULL || priv == NULL)
						cfg_error(l, "expected "
						    "public_key and "
						    "private_key");
				}
			}
			path_pop(l, old2);
		}
		if (json_array_size(keys) > 1)
			cfg_notice(l, "tls:keys", "only the first key pair "
			    "is used");
		if (json_array_size(keys) == 0 && !t->disabled)
			cfg_error(l, "expected at least one key pair");
		path_pop(l, old);
	} else {
		pub = get_string(obj, "public_key");
		priv = get_string(obj, "private_key");
		if ((pub == NULL || priv == NULL) && !t->disabled)
			cfg_error(l, "expected public_key and private_key "
			    "(or \"disabled\": true)");
	}
	if (pub != NULL && *pub != '\0')
		t->public_key = xstrdup(pub);
	if (priv != NULL && *priv != '\0')
		t->private_key = xstrdup(priv);
	if ((v = get(obj, "enable_mtls", CT_BOOL)) != NULL && json_is_true(v)) {
		/* Louder than the generic notice: this one weakens security. */
		old = path_push_key(l, "enable_mtls");
		cfg_notice(l, "tls:mtls", "mutual TLS is not implemented: "
		    "client certificates are NOT verified");
		path_pop(l, old);
	}
	/*
	 * The section was checked all the same, so that turning it back on
	 * cannot surprise; but a disabled one loads as no TLS at all, so no
	 * reader of the model can serve TLS by forgetting the flag.
	 */
	if (t->disabled) {
		tls_free(t);
		l->cfg->tls = NULL;
	}
}

/* --- endpoints and backends -------------------------------------------- */

static void
load_backend(struct loader *l, json_t *obj, struct gw_backend_config *be,
    const struct cfg_params *ps, const char *endpoint)
{
	const char *s, *key;
	json_t *ec, *v;
	size_t i, n;
	bool bad;

	if (!want_object(l, obj))
		return;
	check_keys(l, obj, KEYS(backend_keys), "backend");

	if ((v = get(obj, "url_pattern", CT_STRING)) != NULL) {
		s = json_string_value(v);
		if (strstr(s, "://") != NULL)
			key_expected(l, "url_pattern", "a path (the scheme and "
			    "host go in \"host\")", v);
		else {
			check_url_pattern(l, s, ps, endpoint);
			/* KrakenD cleans the pattern the same way. */
			if (*s == '/')
				be->url_pattern = xstrdup(s);
			else
				xasprintf(&be->url_pattern, "/%s", s);
		}
	}
	if (be->url_pattern == NULL)
		be->url_pattern = xstrdup("/");

	n = load_hosts(l, obj, &be->hosts, &bad);
	be->nhosts = n;
	if (n == 0 && !bad) {
		free(be->hosts);
		be->hosts = NULL;
		if (l->nhosts > 0) {
			be->hosts = xcalloc(l->nhosts, sizeof(*be->hosts));
			for (i = 0; i < l->nhosts; i++) {
				be->hosts[i].url = xstrdup(l->hosts[i].url);
				be->hosts[i].name = xstrdup(l->hosts[i].name);
				be->hosts[i].port = l->hosts[i].port;
				be->hosts[i].tls = l->hosts[i].tls;
				be->hosts[i].h2 = l->hosts[i].h2;
			}
			be->nhosts = l->nhosts;
		} else if (!l->hosts_bad)
			cfg_error(l, "no \"host\" here and no top-level "
			    "\"host\" to fall back to");
	}

	be->encoding = GW_ENC_JSON;
	load_encoding(l, obj, "encoding", false, &be->encoding);
	be->method = load_method(l, obj);
	be->disable_host_sanitize = get_bool(obj, "disable_host_sanitize",
	    false);

	if ((ec = get(obj, "extra_config", CT_OBJECT)) != NULL) {
		size_t old = path_push_key(l, "extra_config");

		json_object_foreach(ec, key, v) {
			if (is_comment_key(key))
				continue;
			if (strcmp(key, NS_BREAKER) == 0) {
				size_t old2 = path_push_key(l, key);

				if (want_object(l, v))
					be->breaker = load_breaker(l, v);
				path_pop(l, old2);
			} else
				foreign_namespace(l, key, "backend");
		}
		path_pop(l, old);
	}
}

static void
backend_free(struct gw_backend_config *be)
{
	size_t i;

	free(be->url_pattern);
	for (i = 0; i < be->nhosts; i++)
		host_free(&be->hosts[i]);
	free(be->hosts);
	free(be->method);
	breaker_free(be->breaker);
}

/* False when a param strategy names a placeholder the path lacks. */
static bool
rl_key_ok(const struct gw_ratelimit_config *rl, const struct cfg_params *ps)
{
	if (rl->strategy != GW_RL_STRATEGY_PARAM || rl->key == NULL)
		return true;
	return params_has(ps, rl->key, strlen(rl->key));
}

/*
 * Loads endpoints[idx].  Sets *route to the route key for the duplicate
 * check, or leaves it NULL when the path is invalid.
 */
static void
load_endpoint(struct loader *l, json_t *obj, struct gw_endpoint_config *ep,
    size_t idx, char **route)
{
	struct cfg_params ps = { NULL, 0 };
	const struct gw_ratelimit_config *rl;
	const char *s, *key, *why;
	json_t *v, *ec, *arr;
	json_int_t n;
	size_t i, old, old2;
	bool params_ok = false, method_ok;
	char *d;

	ep->index = idx;
	if (!want_object(l, obj))
		return;
	check_keys(l, obj, KEYS(endpoint_keys), "endpoint");

	ep->method = load_method(l, obj);
	/* A bad method is reported; keep it out of the duplicate check. */
	method_ok = ep->method != NULL ||
	    json_object_get(obj, "method") == NULL;
	if (ep->method == NULL)
		ep->method = xstrdup("GET");

	v = json_object_get(obj, "endpoint");
	if (v == NULL)
		cfg_error(l, "missing \"endpoint\", the path to serve");
	else if (json_is_string(v)) {
		s = json_string_value(v);
		ep->endpoint = xstrdup(s);
		if ((why = endpoint_parse(s, ep->method, &ps, route)) != NULL) {
			d = quote(s);
			key_error(l, "endpoint", "%s, found %s", why, d);
			free(d);
			params_free(&ps);
		} else
			params_ok = true;
		if (!method_ok) {
			free(*route);
			*route = NULL;
		}
		if (params_ok && !l->cfg->router.disable_health &&
		    strcmp(s, l->cfg->router.health_path) == 0) {
			key_error(l, "endpoint", "%s is the health endpoint "
			    "(see router.health_path and disable_health)", s);
		}
	}

	ep->timeout_ns = l->cfg->timeout_ns;
	if (get_duration(obj, "timeout", &ep->timeout_ns) &&
	    ep->timeout_ns == 0) {
		key_expected(l, "timeout", "a duration > 0",
		    json_object_get(obj, "timeout"));
		ep->timeout_ns = l->cfg->timeout_ns;
	}
	ep->input_headers_set = get(obj, "input_headers", CT_STRLIST) != NULL;
	load_strlist(l, obj, "input_headers", SL_STAR | SL_TOKEN,
	    &ep->input_headers);
	load_strlist(l, obj, "input_query_strings", SL_STAR | SL_NONEMPTY,
	    &ep->input_query_strings);
	ep->output_encoding = l->cfg->output_encoding;
	load_encoding(l, obj, "output_encoding", true, &ep->output_encoding);
	if (int_in_range(l, obj, "concurrent_calls", 1, 5, &n) && n > 1) {
		old = path_push_key(l, "concurrent_calls");
		cfg_notice(l, "key:endpoint:concurrent_calls",
		    "not implemented; ignored");
		path_pop(l, old);
	}

	if ((ec = get(obj, "extra_config", CT_OBJECT)) != NULL) {
		old = path_push_key(l, "extra_config");
		json_object_foreach(ec, key, v) {
			if (is_comment_key(key))
				continue;
			if (strcmp(key, NS_RATELIMIT) == 0) {
				old2 = path_push_key(l, key);
				if (want_object(l, v)) {
					ep->own_ratelimit =
					    load_ratelimit(l, v);
					rl = ep->own_ratelimit;
					if (params_ok && !rl_key_ok(rl, &ps))
						key_error(l, "key", "{%s} is "
						    "not a placeholder of "
						    "the endpoint", rl->key);
				}
				path_pop(l, old2);
			} else
				foreign_namespace(l, key, "endpoint");
		}
		path_pop(l, old);
	}
	ep->ratelimit = ep->own_ratelimit != NULL ? ep->own_ratelimit :
	    l->cfg->ratelimit;
	rl = ep->ratelimit;
	if (ep->own_ratelimit == NULL && rl != NULL && params_ok &&
	    !rl_key_ok(rl, &ps))
		cfg_error(l, "the top-level qos/ratelimit/router uses "
		    "placeholder {%s}, which this endpoint does not define",
		    rl->key);

	v = json_object_get(obj, "backend");
	arr = get(obj, "backend", CT_ARRAY);
	if (v == NULL)
		cfg_error(l, "missing \"backend\": an endpoint needs at least "
		    "one backend");
	else if (arr != NULL && json_array_size(arr) == 0)
		key_error(l, "backend", "expected at least one backend, found "
		    "[]");
	else if (arr != NULL) {
		ep->nbackends = json_array_size(arr);
		ep->backends = xcalloc(ep->nbackends, sizeof(*ep->backends));
		old = path_push_key(l, "backend");
		json_array_foreach(arr, i, v) {
			old2 = path_push_index(l, i);
			load_backend(l, v, &ep->backends[i],
			    params_ok ? &ps : NULL,
			    ep->endpoint != NULL ? ep->endpoint : "");
			path_pop(l, old2);
		}
		path_pop(l, old);
		if (ep->output_encoding == GW_ENC_NOOP && ep->nbackends > 1)
			key_error(l, "backend", "expected exactly one backend "
			    "with output_encoding no-op%s, found %zu",
			    json_object_get(obj, "output_encoding") == NULL ?
			    " (inherited from the top level)" : "",
			    ep->nbackends);
	}
	params_free(&ps);
}

static void
endpoint_free(struct gw_endpoint_config *ep)
{
	size_t i;

	free(ep->endpoint);
	free(ep->method);
	for (i = 0; i < ep->nbackends; i++)
		backend_free(&ep->backends[i]);
	free(ep->backends);
	strlist_free(&ep->input_headers);
	strlist_free(&ep->input_query_strings);
	ratelimit_free(ep->own_ratelimit);
}

struct route_ref {
	const char *key;
	size_t idx;
};

static int
route_cmp(const void *a, const void *b)
{
	const struct route_ref *ra = a, *rb = b;
	int c = strcmp(ra->key, rb->key);

	if (c != 0)
		return c;
	return ra->idx < rb->idx ? -1 : ra->idx > rb->idx;
}

/*
 * Reports every endpoint whose method and path (placeholder names
 * ignored) repeat an earlier one: the router could serve only one of
 * them, and which one would be an accident.
 */
static void
check_duplicates(struct loader *l, char **routes, size_t n)
{
	struct route_ref *refs;
	size_t i, m = 0, first = 0, old, old2;
	struct gw_endpoint_config *a, *b;

	refs = xcalloc(n + 1, sizeof(*refs));
	for (i = 0; i < n; i++) {
		if (routes[i] != NULL) {
			refs[m].key = routes[i];
			refs[m].idx = i;
			m++;
		}
	}
	qsort(refs, m, sizeof(*refs), route_cmp);
	old = path_push_key(l, "endpoints");
	for (i = 1; i < m; i++) {
		if (strcmp(refs[i].key, refs[i - 1].key) != 0) {
			first = i;
			continue;
		}
		a = &l->cfg->endpoints[refs[first].idx];
		b = &l->cfg->endpoints[refs[i].idx];
		old2 = path_push_index(l, refs[i].idx);
		key_error(l, "endpoint", "%s %s is already defined by "
		    "endpoints[%zu] (%s %s)", b->method, b->endpoint,
		    refs[first].idx, a->method, a->endpoint);
		path_pop(l, old2);
	}
	path_pop(l, old);
	free(refs);
}

/* --- the service ------------------------------------------------------- */

static void
load_service_extra(struct loader *l, json_t *ec)
{
	const char *key;
	json_t *v;
	size_t old, old2;

	old = path_push_key(l, "extra_config");
	json_object_foreach(ec, key, v) {
		if (is_comment_key(key))
			continue;
		if (strcmp(key, NS_ROUTER) != 0 &&
		    strcmp(key, NS_RATELIMIT) != 0 &&
		    strcmp(key, NS_CORS) != 0 &&
		    strcmp(key, NS_LOGGING) != 0) {
			foreign_namespace(l, key, "service");
			continue;
		}
		old2 = path_push_key(l, key);
		if (want_object(l, v)) {
			if (strcmp(key, NS_ROUTER) == 0)
				load_router(l, v);
			else if (strcmp(key, NS_RATELIMIT) == 0)
				l->cfg->ratelimit = load_ratelimit(l, v);
			else if (strcmp(key, NS_CORS) == 0)
				load_cors(l, v);
			else
				load_logging(l, v);
		}
		path_pop(l, old2);
	}
	path_pop(l, old);
}

static void
load_service(struct loader *l, json_t *root)
{
	struct gw_config *cfg = l->cfg;
	json_t *v, *arr, *ec;
	json_int_t n;
	const char *s;
	char **routes;
	size_t i, old, old2;
	struct in6_addr a6;
	struct in_addr a4;
	bool bad;

	check_keys(l, root, KEYS(service_keys), "service");

	v = json_object_get(root, "version");
	if (v == NULL)
		cfg_error(l, "missing \"version\": expected \"version\": 3");
	else if (json_is_integer(v) && json_integer_value(v) != 3)
		key_expected(l, "version", "3 (the syntax of KrakenD 2.x)", v);

	if ((s = get_string(root, "name")) != NULL)
		cfg->name = xstrdup(s);
	if (int_in_range(l, root, "port", 1, 65535, &n))
		cfg->port = (uint16_t)n;
	if ((v = get(root, "listen_ip", CT_STRING)) != NULL) {
		s = json_string_value(v);
		if (*s == '\0')
			;	/* KrakenD: empty means every address */
		else if (inet_pton(AF_INET, s, &a4) == 1 ||
		    inet_pton(AF_INET6, s, &a6) == 1)
			cfg->listen_ip = xstrdup(s);
		else
			key_expected(l, "listen_ip", "an IPv4 or IPv6 address",
			    v);
	}
	if (get_duration(root, "timeout", &cfg->timeout_ns) &&
	    cfg->timeout_ns == 0) {
		key_expected(l, "timeout", "a duration > 0",
		    json_object_get(root, "timeout"));
		cfg->timeout_ns = CFG_DEFAULT_TIMEOUT_NS;
	}
	load_encoding(l, root, "output_encoding", true, &cfg->output_encoding);
	cfg->echo_endpoint = get_bool(root, "echo_endpoint", false);
	cfg->debug_endpoint = get_bool(root, "debug_endpoint", false);
	get_duration(root, "read_header_timeout", &cfg->read_header_timeout_ns);
	get_duration(root, "read_timeout", &cfg->read_timeout_ns);
	get_duration(root, "write_timeout", &cfg->write_timeout_ns);
	get_duration(root, "idle_timeout", &cfg->idle_timeout_ns);
	get_duration(root, "idle_connection_timeout",
	    &cfg->idle_connection_timeout_ns);
	get_duration(root, "dialer_timeout", &cfg->dialer_timeout_ns);
	if (int_in_range(l, root, "max_idle_connections_per_host", 0,
	    UINT32_MAX, &n))
		cfg->max_idle_connections_per_host = (uint32_t)n;

	/* Before the endpoints: they inherit from these. */
	if ((ec = get(root, "extra_config", CT_OBJECT)) != NULL)
		load_service_extra(l, ec);
	if ((v = json_object_get(root, "tls")) != NULL && json_is_object(v)) {
		old = path_push_key(l, "tls");
		load_tls(l, v);
		path_pop(l, old);
	}
	l->nhosts = load_hosts(l, root, &l->hosts, &bad);
	l->hosts_bad = bad;
	load_strlist(l, root, "host", 0, &cfg->default_hosts);

	if ((arr = get(root, "endpoints", CT_ARRAY)) == NULL)
		return;
	cfg->nendpoints = json_array_size(arr);
	cfg->endpoints = xcalloc(cfg->nendpoints + 1,
	    sizeof(*cfg->endpoints));
	routes = xcalloc(cfg->nendpoints + 1, sizeof(*routes));
	old = path_push_key(l, "endpoints");
	json_array_foreach(arr, i, v) {
		old2 = path_push_index(l, i);
		load_endpoint(l, v, &cfg->endpoints[i], i, &routes[i]);
		path_pop(l, old2);
	}
	path_pop(l, old);
	check_duplicates(l, routes, cfg->nendpoints);
	for (i = 0; i < cfg->nendpoints; i++)
		free(routes[i]);
	free(routes);
}

static void
config_free(struct gw_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->name);
	free(cfg->listen_ip);
	strlist_free(&cfg->default_hosts);
	tls_free(cfg->tls);
	free(cfg->router.health_path);
	strlist_free(&cfg->router.trusted_proxies);
	strlist_free(&cfg->router.remote_ip_headers);
	ratelimit_free(cfg->ratelimit);
	cors_free(cfg->cors);
	free(cfg->logging.prefix);
	free(cfg->logging.syslog_facility);
	free(cfg->logging.format);
	for (i = 0; i < cfg->nendpoints; i++)
		endpoint_free(&cfg->endpoints[i]);
	free(cfg->endpoints);
	for (i = 0; i < cfg->nnotices; i++)
		free(cfg->notices[i]);
	free(cfg->notices);
	free(cfg);
}

static struct gw_config *
config_new(const char *path)
{
	struct gw_config *cfg;

	cfg = xcalloc(1, sizeof(*cfg));
	cfg->path = xstrdup(path);
	cfg->port = CFG_DEFAULT_PORT;
	cfg->timeout_ns = CFG_DEFAULT_TIMEOUT_NS;
	cfg->output_encoding = GW_ENC_JSON;
	cfg->router.health_path = xstrdup(CFG_DEFAULT_HEALTH_PATH);
	strlist_add(&cfg->router.remote_ip_headers, "X-Forwarded-For");
	cfg->router.max_clients = CFG_DEFAULT_MAX_CLIENTS;
	cfg->logging.level = GW_LOG_INFO;
	cfg->_refcnt = 1;
	return cfg;
}

/*
 * Builds a config from a parsed document.  `file` names it in messages,
 * `path` is stored in the config.
 */
static int
load_root(json_t *root, const char *file, const char *path,
    struct gw_config **out, struct gw_config_errors *errs)
{
	struct loader l;
	size_t i;
	char *d;

	memset(&l, 0, sizeof(l));
	l.file = file;
	l.errs = errs;
	l.cfg = config_new(path);

	if (!json_is_object(root)) {
		d = describe(root);
		cfg_error(&l, "expected an object at the top level, found %s",
		    d);
		free(d);
	} else
		load_service(&l, root);

	if (l.nerr == 0) {
		l.cfg->notices = xcalloc(l.nnotices + 1,
		    sizeof(*l.cfg->notices));
		for (i = 0; i < l.nnotices; i++) {
			if (l.notices[i].count > 1)
				xasprintf(&l.cfg->notices[i], "%s (%zu places)",
				    l.notices[i].msg, l.notices[i].count);
			else
				l.cfg->notices[i] = xstrdup(l.notices[i].msg);
		}
		l.cfg->nnotices = l.nnotices;
	}
	for (i = 0; i < l.nnotices; i++) {
		free(l.notices[i].key);
		free(l.notices[i].msg);
	}
	free(l.notices);
	for (i = 0; i < l.nhosts; i++)
		host_free(&l.hosts[i]);
	free(l.hosts);
	free(l.path);

	if (l.nerr != 0) {
		config_free(l.cfg);
		*out = NULL;
		return -1;
	}
	*out = l.cfg;
	return 0;
}

/* Parses JSON text; on a syntax error adds one message with its place. */
static json_t *
parse_json(const char *buf, size_t len, const char *file,
    struct gw_config_errors *errs)
{
	json_error_t jerr;
	json_t *root;
	char *msg;

	/* A key given twice would silently lose one of its values. */
	root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root != NULL)
		return root;
	if (jerr.line > 0)
		xasprintf(&msg, "%s: invalid JSON: %s (line %d, column %d)",
		    file, jerr.text, jerr.line, jerr.column);
	else
		xasprintf(&msg, "%s: invalid JSON: %s", file, jerr.text);
	errs_add(errs, msg);
	return NULL;
}

int
gw_config_load_string(const char *json, const char *name,
    struct gw_config **out, struct gw_config_errors *errs)
{
	json_t *root;
	int rc;

	*out = NULL;
	if (name == NULL)
		name = "<string>";
	if ((root = parse_json(json, strlen(json), name, errs)) == NULL)
		return -1;
	rc = load_root(root, name, "<string>", out, errs);
	json_decref(root);
	return rc;
}

int
gw_config_load_file(const char *path, struct gw_config **out,
    struct gw_config_errors *errs)
{
	FILE *f;
	char *buf = NULL, *msg;
	size_t len = 0, cap = 0, n;
	json_t *root;
	int rc;

	*out = NULL;
	if ((f = fopen(path, "r")) == NULL) {
		xasprintf(&msg, "%s: cannot open: %s", path, strerror(errno));
		errs_add(errs, msg);
		return -1;
	}
	for (;;) {
		if (cap - len < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			buf = xrealloc(buf, cap);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		xasprintf(&msg, "%s: cannot read: %s", path, strerror(errno));
		errs_add(errs, msg);
		fclose(f);
		free(buf);
		return -1;
	}
	fclose(f);
	root = parse_json(buf, len, path, errs);
	free(buf);
	if (root == NULL)
		return -1;
	rc = load_root(root, path, path, out, errs);
	json_decref(root);
	return rc;
}

void
gw_config_errors_clear(struct gw_config_errors *errs)
{
	size_t i;

	for (i = 0; i < errs->n; i++)
		free(errs->msgs[i]);
	free(errs->msgs);
	errs->msgs = NULL;
	errs->n = 0;
}

struct gw_config *
gw_config_ref(struct gw_config *cfg)
{
	__atomic_add_fetch(&cfg->_refcnt, 1, __ATOMIC_RELAXED);
	return cfg;
}

void
gw_config_unref(struct gw_config *cfg)
{
	if (cfg == NULL)
		return;
	/*
	 * Release so that this thread's reads of the config happen before
	 * the free; acquire in the thread that frees, for the same reason.
	 */
	if (__atomic_sub_fetch(&cfg->_refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		config_free(cfg);
}
