/*
 * tls.h: the server-side TLS context (certificates, versions, ALPN).
 */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <openssl/ssl.h>

#include "config.h"

/*
 * Builds the SSL_CTX for the front from the service's tls section: the
 * certificate chain and key, the minimum and maximum versions, and ALPN
 * selecting "h2" over "http/1.1".  Returns NULL and sets *cause (malloc'd)
 * on failure (unreadable files, key mismatch).
 */
SSL_CTX *gw_tls_server_ctx_create(const struct gw_tls_config *tls,
    char **cause);

#endif
