/*
 * cors.c: security/cors (see cors.h for the behaviour and its sources).
 *
 * gw_cors_create() compiles the config once: origins parsed into scheme,
 * host and port, header names lowercased, the constant header values
 * joined.  Requests are then answered without allocating, except for an
 * Access-Control-Allow-Headers echo longer than a stack buffer.
 */
#define GW_LOG_MODULE "cors"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cors.h"
#include "gw.h"
#include "log.h"
#include "xmalloc.h"

#define CORS_DEFAULT_STATUS 204
#define CORS_NO_PORT (-1)

/* One parsed origin, or one allow_origins entry. */
struct cors_origin {
	const char *scheme;      /* not NUL-terminated */
	size_t scheme_len;
	const char *host;        /* for a wildcard: the domain after "*." */
	size_t host_len;
	int port;                /* CORS_NO_PORT: none or the default */
	bool wildcard;           /* host is "*." + this->host */
	bool null;               /* the opaque origin "null" */
};

struct gw_cors {
	const struct gw_cors_config *cfg;
	bool all_origins;
	struct cors_origin *origins; /* the valid allow_origins entries */
	size_t norigins;
	bool all_headers;
	char **headers;          /* allowed request header names, lowercase */
	size_t nheaders;
	const char *const *methods; /* allowed methods (cfg's or defaults) */
	size_t nmethods;
	char *expose;            /* joined expose_headers; NULL: none */
	char max_age[24];        /* seconds; "" for none */
	const char *vary;        /* the preflight's Vary value */
	int status;              /* options_success_status */
};

static const char *const cors_default_methods[] = { "GET", "HEAD", "POST" };
static const char *const cors_default_headers[] = {
	"accept", "content-type", "x-requested-with",
};

static const char cors_vary_preflight[] =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";
static const char cors_vary_preflight_pna[] =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, "
    "Access-Control-Request-Private-Network";

/* --- small lexical helpers ----------------------------------------------- */

static inline char
cors_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool
cors_ieq(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t i;

	if (alen != blen)
		return false;
	for (i = 0; i < alen; i++)
		if (cors_lower(a[i]) != cors_lower(b[i]))
			return false;
	return true;
}

static inline bool
cors_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool
cors_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 9110 5.6.2 tchar: what a header or method name is made of. */
static bool
cors_tchar(char c)
{
	return cors_alpha(c) || cors_digit(c) ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* A host name label character (letters, digits, '-', and '_' which
 * real-world host names do carry). */
static inline bool
cors_label_char(char c)
{
	return cors_alpha(c) || cors_digit(c) || c == '-' || c == '_';
}

/* Whether s is one or more non-empty labels joined by dots. */
static bool
cors_valid_domain(const char *s, size_t len)
{
	size_t i, label = 0;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (cors_label_char(s[i]))
			label++;
		else
			return false;
	}
	return label > 0;
}

/* An IPv6 literal in brackets, loosely: hex digits, ':' and '.'. */
static bool
cors_valid_ip6(const char *s, size_t len)
{
	size_t i;

	if (len < 4 || s[0] != '[' || s[len - 1] != ']')
		return false;
	for (i = 1; i < len - 1; i++)
		if (!cors_digit(s[i]) && !strchr("abcdefABCDEF:.", s[i]))
			return false;
	return true;
}

static int
cors_default_port(const char *scheme, size_t len)
{
	if (cors_ieq(scheme, len, "http", 4) || cors_ieq(scheme, len, "ws", 2))
		return 80;
	if (cors_ieq(scheme, len, "https", 5) ||
	    cors_ieq(scheme, len, "wss", 3))
		return 443;
	return CORS_NO_PORT;
}

/*
 * Parses scheme "://" host [":" port] (RFC 6454 serialization), and with
 * `pattern` also a host of "*." + domain.  Anything else (a path, a
 * query, user info, an empty or malformed host or port) fails: such a
 * string is no origin a browser sends, so it must not match anything.
 */
static bool
cors_parse_origin(const char *s, size_t len, bool pattern,
    struct cors_origin *o)
{
	size_t i = 0, hstart, hend, p;
	long port;

	memset(o, 0, sizeof(*o));
	o->port = CORS_NO_PORT;
	if (len == 4 && memcmp(s, "null", 4) == 0) {
		o->null = true;
		return true;
	}

	if (len == 0 || !cors_alpha(s[0]))
		return false;
	while (i < len && (cors_alpha(s[i]) || cors_digit(s[i]) ||
	    s[i] == '+' || s[i] == '-' || s[i] == '.'))
		i++;
	if (len - i < 3 || memcmp(s + i, "://", 3) != 0)
		return false;
	o->scheme = s;
	o->scheme_len = i;
	i += 3;

	hstart = i;
	if (i < len && s[i] == '[') {
		while (i < len && s[i] != ']')
			i++;
		if (i == len)
			return false;
		i++;
	} else
		while (i < len && s[i] != ':')
			i++;
	hend = i;

	if (i < len) {
		if (s[i] != ':' || i + 1 == len || len - (i + 1) > 5)
			return false;
		port = 0;
		for (p = i + 1; p < len; p++) {
			if (!cors_digit(s[p]))
				return false;
			port = port * 10 + (s[p] - '0');
		}
		if (port > 65535)
			return false;
		o->port = (int)port;
		if (o->port == cors_default_port(o->scheme, o->scheme_len))
			o->port = CORS_NO_PORT;
	}

	o->host = s + hstart;
	o->host_len = hend - hstart;
	if (pattern && o->host_len > 2 && o->host[0] == '*' &&
	    o->host[1] == '.') {
		o->wildcard = true;
		o->host += 2;
		o->host_len -= 2;
		return cors_valid_domain(o->host, o->host_len);
	}
	return cors_valid_domain(o->host, o->host_len) ||
	    cors_valid_ip6(o->host, o->host_len);
}

/* Whether origin o (from a request) matches allowed entry a. */
static bool
cors_origin_match(const struct cors_origin *a, const struct cors_origin *o)
{
	size_t dot;

	if (a->null || o->null)
		return a->null && o->null;
	if (!cors_ieq(a->scheme, a->scheme_len, o->scheme, o->scheme_len) ||
	    a->port != o->port)
		return false;
	if (!a->wildcard)
		return cors_ieq(a->host, a->host_len, o->host, o->host_len);

	/*
	 * "*." + domain: the origin's host must be at least one label, a
	 * dot, then the domain.  The parse already refused empty labels,
	 * so any non-empty prefix before that dot is whole labels.
	 */
	if (o->host_len < a->host_len + 2 || o->host[0] == '[')
		return false;
	dot = o->host_len - a->host_len - 1;
	return o->host[dot] == '.' &&
	    cors_ieq(o->host + dot + 1, a->host_len, a->host, a->host_len);
}

/* --- compile ------------------------------------------------------------- */

bool
gw_cors_origin_pattern_valid(const char *pattern)
{
	struct cors_origin o;

	if (strcmp(pattern, "*") == 0)
		return true;
	return cors_parse_origin(pattern, strlen(pattern), true, &o);
}

static bool
cors_list_has_star(const struct gw_strlist *l)
{
	size_t i;

	if (l->all)
		return true;
	for (i = 0; i < l->n; i++)
		if (strcmp(l->v[i], "*") == 0)
			return true;
	return false;
}

static char *
cors_lower_dup(const char *s)
{
	char *d = xstrdup(s);
	char *p;

	for (p = d; *p != '\0'; p++)
		*p = cors_lower(*p);
	return d;
}

struct gw_cors *
gw_cors_create(const struct gw_cors_config *cfg)
{
	struct gw_cors *c = xcalloc(1, sizeof(*c));
	const struct gw_strlist *l;
	size_t i, len;
	int64_t secs;

	c->cfg = cfg;
	c->status = cfg->options_success_status > 0 ?
	    cfg->options_success_status : CORS_DEFAULT_STATUS;
	c->vary = cfg->allow_private_network ? cors_vary_preflight_pna :
	    cors_vary_preflight;

	/* Origins: the entries are pointed at, not copied (cfg outlives
	 * us). */
	l = &cfg->allow_origins;
	c->all_origins = l->n == 0 || cors_list_has_star(l);
	if (!c->all_origins) {
		c->origins = xcalloc(l->n, sizeof(*c->origins));
		for (i = 0; i < l->n; i++) {
			if (cors_parse_origin(l->v[i], strlen(l->v[i]), true,
			    &c->origins[c->norigins]))
				c->norigins++;
			else
				log_warn("allow_origins: \"%s\" is not an "
				    "origin (scheme://host[:port], "
				    "a *.domain host, or null) and can "
				    "never match; ignored", l->v[i]);
		}
	}
	if (c->all_origins && cfg->allow_credentials)
		log_warn("all origins are allowed with credentials: any site "
		    "can make credentialed requests");

	/* Methods: compared as written. */
	l = &cfg->allow_methods;
	if (l->n == 0) {
		c->methods = cors_default_methods;
		c->nmethods = GW_ARRAY_SIZE(cors_default_methods);
	} else {
		c->methods = (const char *const *)l->v;
		c->nmethods = l->n;
	}

	/* Headers: lowercase copies, plus "origin". */
	l = &cfg->allow_headers;
	c->all_headers = cors_list_has_star(l);
	if (!c->all_headers) {
		if (l->n == 0) {
			c->headers = xcalloc(GW_ARRAY_SIZE(
			    cors_default_headers) + 1, sizeof(*c->headers));
			for (i = 0; i < GW_ARRAY_SIZE(cors_default_headers);
			    i++)
				c->headers[c->nheaders++] =
				    xstrdup(cors_default_headers[i]);
		} else {
			c->headers = xcalloc(l->n + 1, sizeof(*c->headers));
			for (i = 0; i < l->n; i++)
				c->headers[c->nheaders++] =
				    cors_lower_dup(l->v[i]);
		}
		c->headers[c->nheaders++] = xstrdup("origin");
	}

	l = &cfg->expose_headers;
	if (l->n > 0) {
		for (len = 0, i = 0; i < l->n; i++)
			len += strlen(l->v[i]) + 2;
		c->expose = xmalloc(len + 1);
		c->expose[0] = '\0';
		for (i = 0; i < l->n; i++) {
			if (i > 0)
				strcat(c->expose, ", ");
			strcat(c->expose, l->v[i]);
		}
	}

	secs = cfg->max_age_ns / GW_NS_PER_S;
	if (secs > 0)
		snprintf(c->max_age, sizeof(c->max_age), "%lld",
		    (long long)secs);
	return c;
}

void
gw_cors_destroy(struct gw_cors *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nheaders; i++)
		free(c->headers[i]);
	free(c->headers);
	free(c->origins);
	free(c->expose);
	free(c);
}

/* --- requests ------------------------------------------------------------ */

static inline void
cors_emit(gw_header_cb cb, void *arg, const char *name, const char *value)
{
	cb(arg, name, value, strlen(value));
}

/* Visible ASCII only: what may be echoed into a response header. */
static bool
cors_visible(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

bool
gw_cors_origin_allowed(const struct gw_cors *c, const char *origin,
    size_t len)
{
	struct cors_origin o;
	size_t i;

	if (origin == NULL || len == 0 || !cors_visible(origin, len))
		return false;
	if (c->all_origins)
		return true;
	if (!cors_parse_origin(origin, len, false, &o))
		return false;
	for (i = 0; i < c->norigins; i++)
		if (cors_origin_match(&c->origins[i], &o))
			return true;
	return false;
}

bool
gw_cors_is_preflight(const char *method, size_t method_len,
    const char *origin, const char *acr_method)
{
	return method != NULL && method_len == 7 &&
	    memcmp(method, "OPTIONS", 7) == 0 && origin != NULL &&
	    acr_method != NULL;
}

static bool
cors_method_allowed(const struct gw_cors *c, const char *m, size_t len)
{
	size_t i;

	if (len == 7 && memcmp(m, "OPTIONS", 7) == 0)
		return true;
	for (i = 0; i < c->nmethods; i++)
		if (strlen(c->methods[i]) == len &&
		    memcmp(c->methods[i], m, len) == 0)
			return true;
	return false;
}

static bool
cors_header_allowed(const struct gw_cors *c, const char *h, size_t len)
{
	size_t i;

	if (c->all_headers)
		return true;
	for (i = 0; i < c->nheaders; i++)
		if (cors_ieq(c->headers[i], strlen(c->headers[i]), h, len))
			return true;
	return false;
}

/*
 * Checks an Access-Control-Request-Headers value (a comma-separated list
 * with optional whitespace and empty elements, RFC 9110 5.6.1) and, when
 * every name is a token and allowed, writes them to out joined by ", "
 * (out holds at least 2 * len + 1 bytes).  Returns false if any is not.
 */
static bool
cors_request_headers(const struct gw_cors *c, const char *s, size_t len,
    char *out, size_t *out_len)
{
	size_t i = 0, start, end, n = 0, k;

	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && s[i] != ',')
			i++;
		end = i;
		while (end > start && (s[end - 1] == ' ' ||
		    s[end - 1] == '\t'))
			end--;
		for (k = start; k < end; k++)
			if (!cors_tchar(s[k]))
				return false;
		if (!cors_header_allowed(c, s + start, end - start))
			return false;
		if (n > 0) {
			out[n++] = ',';
			out[n++] = ' ';
		}
		memcpy(out + n, s + start, end - start);
		n += end - start;
	}
	out[n] = '\0';
	*out_len = n;
	return true;
}

int
gw_cors_preflight_pna(const struct gw_cors *c, const char *origin,
    size_t origin_len, const char *acr_method, size_t acr_method_len,
    const char *acr_headers, size_t acr_headers_len, bool private_network,
    gw_header_cb cb, void *arg)
{
	char stackbuf[512], *echo = stackbuf;
	size_t echo_len = 0, k;

	cors_emit(cb, arg, "Vary", c->vary);
	if (!gw_cors_origin_allowed(c, origin, origin_len)) {
		if (c->cfg->debug)
			log_debug("preflight: origin \"%.*s\" not allowed",
			    (int)GW_MIN(origin_len, 256), origin != NULL ?
			    origin : "");
		return c->status;
	}
	if (acr_method == NULL)
		acr_method_len = 0;
	for (k = 0; k < acr_method_len; k++)
		if (!cors_tchar(acr_method[k]))
			break;
	if (acr_method_len == 0 || k < acr_method_len ||
	    !cors_method_allowed(c, acr_method, acr_method_len)) {
		if (c->cfg->debug)
			log_debug("preflight: method \"%.*s\" not allowed",
			    (int)GW_MIN(acr_method_len, 64),
			    acr_method != NULL ? acr_method : "");
		return c->status;
	}

	if (acr_headers == NULL) {
		acr_headers = "";
		acr_headers_len = 0;
	}
	if (acr_headers_len > (sizeof(stackbuf) - 1) / 2)
		echo = xreallocarray(NULL, 2, acr_headers_len + 1);
	if (!cors_request_headers(c, acr_headers, acr_headers_len, echo,
	    &echo_len)) {
		if (c->cfg->debug)
			log_debug("preflight: headers \"%.*s\" not allowed",
			    (int)GW_MIN(acr_headers_len, 256), acr_headers);
		goto out;
	}

	if (c->all_origins && !c->cfg->allow_credentials)
		cors_emit(cb, arg, "Access-Control-Allow-Origin", "*");
	else
		cb(arg, "Access-Control-Allow-Origin", origin, origin_len);
	cb(arg, "Access-Control-Allow-Methods", acr_method, acr_method_len);
	if (echo_len > 0)
		cb(arg, "Access-Control-Allow-Headers", echo, echo_len);
	if (c->cfg->allow_credentials)
		cors_emit(cb, arg, "Access-Control-Allow-Credentials", "true");
	if (c->cfg->allow_private_network && private_network)
		cors_emit(cb, arg, "Access-Control-Allow-Private-Network",
		    "true");
	if (c->max_age[0] != '\0')
		cors_emit(cb, arg, "Access-Control-Max-Age", c->max_age);
out:
	if (echo != stackbuf)
		free(echo);
	return c->status;
}

int
gw_cors_preflight(const struct gw_cors *c, const char *origin,
    size_t origin_len, const char *acr_method, size_t acr_method_len,
    const char *acr_headers, size_t acr_headers_len, gw_header_cb cb,
    void *arg)
{
	return gw_cors_preflight_pna(c, origin, origin_len, acr_method,
	    acr_method_len, acr_headers, acr_headers_len, false, cb, arg);
}

void
gw_cors_actual_headers(const struct gw_cors *c, const char *method,
    size_t method_len, const char *origin, size_t origin_len,
    gw_header_cb cb, void *arg)
{
	cors_emit(cb, arg, "Vary", "Origin");
	if (!gw_cors_origin_allowed(c, origin, origin_len))
		return;
	if (method != NULL && !cors_method_allowed(c, method, method_len))
		return;
	if (c->all_origins && !c->cfg->allow_credentials)
		cors_emit(cb, arg, "Access-Control-Allow-Origin", "*");
	else
		cb(arg, "Access-Control-Allow-Origin", origin, origin_len);
	if (c->expose != NULL)
		cors_emit(cb, arg, "Access-Control-Expose-Headers", c->expose);
	if (c->cfg->allow_credentials)
		cors_emit(cb, arg, "Access-Control-Allow-Credentials", "true");
}

void
gw_cors_response_headers(const struct gw_cors *c, const char *origin,
    size_t origin_len, gw_header_cb cb, void *arg)
{
	gw_cors_actual_headers(c, NULL, 0, origin, origin_len, cb, arg);
}
