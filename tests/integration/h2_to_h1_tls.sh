#!/bin/sh
# h2_to_h1_tls: the gateway's "tls" section with a self-signed
# certificate made here by openssl.  ALPN picks HTTP/2 for curl --http2,
# HTTP/1.1 for curl --http1.1 and for a client offering no ALPN at all;
# the certificate served is the configured one (verified with --cacert);
# the backend sees X-Forwarded-Proto: https.
. "$(dirname "$0")/lib.sh"
gw_init h2_to_h1_tls 60
need curl nghttp openssl
start_backend

if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -days 2 -subj /CN=127.0.0.1 \
    -addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' \
    -keyout "$T/key.pem" -out "$T/cert.pem" >"$T/openssl.log" 2>&1; then
	echo "ERROR: openssl could not make a certificate:"
	cat "$T/openssl.log"
	exit 99
fi

cat >"$T/gw.tmpl" <<EOF
{
  "version": 3,
  "port": @GW_PORT@,
  "listen_ip": "127.0.0.1",
  "timeout": "10s",
  "tls": {
    "public_key": "$T/cert.pem",
    "private_key": "$T/key.pem"
  },
  "endpoints": [
    { "endpoint": "/e", "method": "GET", "output_encoding": "no-op",
      "input_headers": ["*"],
      "backend": [{ "url_pattern": "/echo/e", "host": ["$BACKEND_URL"],
                    "encoding": "no-op" }] }
  ]
}
EOF
start_gateway "$T/gw.tmpl" https

curl_req h2 -k --http2 "$GW_URL/e"
check_eq "curl -k --http2 https GET /e answers 200" "$CURL_STATUS" 200
check_eq "ALPN chose HTTP/2" "$CURL_VERSION" 2
check_eq "backend got GET /echo/e" "$(json_get "$T/h2.body" path)" /echo/e
check_eq "X-Forwarded-Proto: https" \
    "$(echo_header "$T/h2.body" X-Forwarded-Proto)" https

curl_req h1 -k --http1.1 "$GW_URL/e"
check_eq "curl -k --http1.1 https GET /e answers 200" "$CURL_STATUS" 200
check_eq "ALPN chose HTTP/1.1" "$CURL_VERSION" 1.1

curl_req ca --cacert "$T/cert.pem" --http2 "$GW_URL/__health"
check_eq "the configured certificate verifies (--cacert)" \
    "$CURL_RC $CURL_STATUS" "0 200"

# openssl s_client: what ALPN the server selects.
alpn() {
	timeout 10 openssl s_client -connect "127.0.0.1:$GW_PORT" \
	    -alpn "$1" </dev/null 2>/dev/null | grep '^ALPN protocol'
}
check_eq "s_client offering h2,http/1.1 gets h2" \
    "$(alpn h2,http/1.1)" "ALPN protocol: h2"
check_eq "s_client offering http/1.1 gets http/1.1" \
    "$(alpn http/1.1)" "ALPN protocol: http/1.1"

# No ALPN at all: HTTP/1.1.
printf 'GET /__health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    timeout 10 openssl s_client -quiet -connect "127.0.0.1:$GW_PORT" \
    >"$T/noalpn.out" 2>/dev/null
check_match "a client without ALPN is served HTTP/1.1" \
    "$(head -n 1 "$T/noalpn.out" | tr -d '\r')" '^HTTP/1.1 200'

timeout 20 nghttp -v "$GW_URL/e" >"$T/nghttp.out" 2>&1
check_eq "nghttp over TLS exits 0" "$?" 0
check "nghttp negotiated h2" grep -qi 'negotiated protocol: h2' "$T/nghttp.out"
check "nghttp got :status: 200" grep -q ':status: 200' "$T/nghttp.out"

# Plain HTTP to the TLS port must not be served (and must not hang).
curl_req plain --http1.1 "http://127.0.0.1:$GW_PORT/__health"
if [ "$CURL_STATUS" = 200 ]; then
	not_ok "plain HTTP on the TLS port is not served" "got 200"
else
	ok "plain HTTP on the TLS port is not served (curl rc $CURL_RC, status $CURL_STATUS)"
fi
check "the gateway still answers over TLS" health_ok "$GW_PORT" https

stop_gateway
finish
