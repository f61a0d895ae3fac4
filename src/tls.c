/* tls.c: the front's TLS context. */
#define GW_LOG_MODULE "tls"
#include "tls.h"

#include <string.h>

#include <openssl/err.h>

#include "xmalloc.h"

static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char prefs[] = "\x02h2\x08http/1.1";
	unsigned char *sel;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, prefs, sizeof(prefs) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_NOACK;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static char *
ssl_error(const char *what, const char *file)
{
	char buf[256], *cause;

	ERR_error_string_n(ERR_get_error(), buf, sizeof(buf));
	xasprintf(&cause, "tls: %s %s: %s", what, file, buf);
	ERR_clear_error();
	return cause;
}

SSL_CTX *
gw_tls_server_ctx_create(const struct gw_tls_config *tls, char **cause)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL) {
		*cause = ssl_error("cannot create context", "");
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION |
	    SSL_OP_NO_SESSION_RESUMPTION_ON_RENEGOTIATION |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_min_proto_version(ctx, tls->min_version ?
	    tls->min_version : TLS1_2_VERSION);
	if (tls->max_version)
		SSL_CTX_set_max_proto_version(ctx, tls->max_version);
	if (SSL_CTX_use_certificate_chain_file(ctx, tls->public_key) != 1) {
		*cause = ssl_error("cannot load certificate", tls->public_key);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, tls->private_key,
	    SSL_FILETYPE_PEM) != 1) {
		*cause = ssl_error("cannot load private key", tls->private_key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*cause = ssl_error("key does not match certificate",
		    tls->public_key);
		goto fail;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}
