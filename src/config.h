/*
 * config.h: the gateway's configuration, loaded from KrakenD-style
 * "version": 3 JSON into an immutable model.
 *
 * Ownership: a struct gw_config owns every string and array below it.  It
 * is refcounted because a reload publishes a new config while in-flight
 * requests still hold routes of the old one; the last gw_config_unref()
 * frees it.  Nothing in it changes after gw_config_load_*() returns.
 *
 * Durations are int64 nanoseconds (Go-style strings in the file).
 */
#ifndef GW_CONFIG_H
#define GW_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A list of strings; `all` is true when the list is exactly ["*"]. */
struct gw_strlist {
	char **v;
	size_t n;
	bool all;
};

/* Encodings KrakenD knows.  We proxy no-op and json; the rest are accepted
 * by the loader with a notice and served as json. */
enum gw_encoding {
	GW_ENC_JSON = 0,
	GW_ENC_NOOP,
	GW_ENC_STRING,
	GW_ENC_XML,
	GW_ENC_RSS,
	GW_ENC_YAML,
	GW_ENC_SAFEJSON,
	GW_ENC_FAST_JSON,
	GW_ENC_JSON_COLLECTION,
	GW_ENC_NEGOTIATE,
};

enum gw_rl_strategy {
	GW_RL_STRATEGY_IP = 0,   /* client = its address */
	GW_RL_STRATEGY_HEADER,   /* client = value of header `key` */
	GW_RL_STRATEGY_PARAM,    /* client = value of placeholder `key` */
};

/* qos/ratelimit/router, at service or endpoint level. */
struct gw_ratelimit_config {
	double max_rate;         /* requests per `every`, all clients; 0: none */
	double client_max_rate;  /* requests per `every`, each client; 0: none */
	uint64_t capacity;       /* burst of max_rate; 0: ceil(max_rate) */
	uint64_t client_capacity;/* burst of client_max_rate; 0: ceil(rate) */
	enum gw_rl_strategy strategy;
	char *key;               /* header or placeholder name; NULL for ip */
	int64_t every_ns;        /* window of the rates; default 1s */
};

/* qos/circuit-breaker, at backend level. */
struct gw_breaker_config {
	int64_t interval_ns;     /* window in which errors are counted */
	int64_t timeout_ns;      /* how long the circuit stays open */
	uint32_t max_errors;     /* open after more than this many errors;
				    0 (key absent): on the first error */
	char *name;              /* for logs; NULL: the backend's host */
	bool log_status_change;
};

/* security/cors, at service level. */
struct gw_cors_config {
	struct gw_strlist allow_origins;  /* empty: all ("*") */
	struct gw_strlist allow_methods;  /* default GET, HEAD, POST */
	struct gw_strlist allow_headers;  /* empty: Accept, Content-Type,
					     X-Requested-With (rs/cors) */
	struct gw_strlist expose_headers; /* default Content-Length,
					     Content-Type */
	int64_t max_age_ns;               /* 0: no Access-Control-Max-Age */
	bool allow_credentials;
	bool allow_private_network;
	int options_success_status;       /* default 204 */
	bool debug;
};

/* telemetry/logging. */
struct gw_logging_config {
	int level;               /* enum gw_log_level; default INFO */
	char *prefix;            /* NULL: none */
	bool use_stdout;
	bool use_syslog;
	char *syslog_facility;   /* NULL: local3 (KrakenD's default) */
	char *format;            /* "default", "logstash" or "custom"; NULL */
};

/* The "router" namespace (service level). */
struct gw_router_config {
	bool return_error_msg;   /* put the error detail in 502/504 bodies */
	char *health_path;       /* default "/__health" */
	bool disable_health;
	bool disable_access_log;
	bool auto_options;       /* answer OPTIONS for known paths */
	struct gw_strlist trusted_proxies; /* CIDRs whose X-Forwarded-For
					      is believed for the client ip */
	struct gw_strlist remote_ip_headers; /* default X-Forwarded-For */
	uint64_t max_clients;    /* per-client rate table cap, default 100000 */
};

/* The service's tls section. */
struct gw_tls_config {
	char *public_key;        /* PEM certificate chain file */
	char *private_key;       /* PEM key file */
	int min_version;         /* TLS1_2_VERSION etc.; default TLS 1.2 */
	int max_version;         /* 0: OpenSSL's highest */
	bool disabled;           /* always false once loaded: a section with
				    "disabled": true loads as tls == NULL */
};

/* A backend host: http(s)://name[:port] or h2c://name[:port], parsed. */
struct gw_host {
	char *url;               /* as written */
	char *name;              /* host name or address, no brackets */
	uint16_t port;           /* 80 / 443 when absent */
	bool tls;                /* https */
	bool h2;                 /* h2c: HTTP/2 with prior knowledge,
				    plaintext (RFC 9113 3.3) */
};

struct gw_backend_config {
	char *url_pattern;       /* path with {placeholders}; default "/" */
	struct gw_host *hosts;   /* >= 1 (or the service's "host" list) */
	size_t nhosts;
	enum gw_encoding encoding;
	char *method;            /* NULL: the endpoint's */
	struct gw_breaker_config *breaker; /* NULL: none */
	bool disable_host_sanitize;
};

struct gw_endpoint_config {
	char *endpoint;          /* path pattern: /a/{b}/c, or /a/ then "*" */
	char *method;            /* upper case; default GET */
	struct gw_backend_config *backends;
	size_t nbackends;
	int64_t timeout_ns;      /* the endpoint's or the service's */
	bool input_headers_set;  /* false: KrakenD's default set */
	struct gw_strlist input_headers;
	struct gw_strlist input_query_strings; /* absent: none */
	enum gw_encoding output_encoding; /* the endpoint's or the service's */
	/* Effective rate limit: the endpoint's, else the service's, else
	 * NULL.  Points into this config (may alias the service's). */
	const struct gw_ratelimit_config *ratelimit;
	struct gw_ratelimit_config *own_ratelimit; /* owned; NULL if none */
	size_t index;            /* position in "endpoints" */
};

struct gw_config {
	char *path;              /* the file it came from, or "<string>" */
	char *name;
	uint16_t port;           /* default 8080 */
	char *listen_ip;         /* NULL: all addresses */
	int64_t timeout_ns;      /* default 2s */
	enum gw_encoding output_encoding; /* default json */
	bool echo_endpoint;
	bool debug_endpoint;
	struct gw_strlist default_hosts; /* service "host", for backends
					    that list none */
	struct gw_tls_config *tls;      /* NULL: plaintext */
	struct gw_router_config router;
	struct gw_ratelimit_config *ratelimit; /* NULL: no service limit */
	struct gw_cors_config *cors;           /* NULL: no CORS handling */
	struct gw_logging_config logging;
	/* Front and upstream timeouts and limits (0: the built-in default). */
	int64_t read_header_timeout_ns;
	int64_t read_timeout_ns;
	int64_t write_timeout_ns;
	int64_t idle_timeout_ns;
	int64_t idle_connection_timeout_ns;
	int64_t dialer_timeout_ns;
	uint32_t max_idle_connections_per_host;
	struct gw_endpoint_config *endpoints;
	size_t nendpoints;
	/* Namespaces and keys accepted but not implemented, one message each,
	 * for the caller to log ("telemetry/opentelemetry is not implemented
	 * and is ignored"). */
	char **notices;
	size_t nnotices;
	int _refcnt;             /* atomic */
};

/* Every error found in one load, each a full message:
 * "FILE: endpoints[12].backend[0].host[0]: expected http(s)://name[:port],
 * found \"ftp://x\"" (line and column appended when jansson gives them). */
struct gw_config_errors {
	char **msgs;
	size_t n;
};

/*
 * Loads and validates a config file.  On success returns 0 and sets *out
 * to a config with refcount 1.  On failure returns -1, leaves *out NULL
 * and appends every error found to errs (caller frees with
 * gw_config_errors_clear()).  A file that cannot be read is one error.
 */
int gw_config_load_file(const char *path, struct gw_config **out,
    struct gw_config_errors *errs);

/* As gw_config_load_file(), from a string; `name` stands for the file in
 * messages. */
int gw_config_load_string(const char *json, const char *name,
    struct gw_config **out, struct gw_config_errors *errs);

void gw_config_errors_clear(struct gw_config_errors *errs);

/* Refcounting; both are thread-safe.  unref(NULL) is a no-op. */
struct gw_config *gw_config_ref(struct gw_config *cfg);
void gw_config_unref(struct gw_config *cfg);

/* Name of an encoding as the config spells it. */
const char *gw_encoding_name(enum gw_encoding enc);

/*
 * Parses a Go-style duration ("300ms", "1.5h", "2h45m", "0s", "-1s" is
 * rejected).  Units: ns, us, µs, ms, s, m, h.  Returns 0 and sets *ns, or
 * -1 when malformed, negative or out of range.
 */
int gw_duration_parse(const char *s, int64_t *ns);

/* Formats a duration as Go does ("1m30s", "500ms", "0s") into buf. */
void gw_duration_format(int64_t ns, char *buf, size_t size);

#endif
