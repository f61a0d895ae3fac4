#!/bin/sh
# h2c_to_h1_prior_knowledge: HTTP/2 over cleartext TCP with prior
# knowledge (the client opens with the connection preface) to an
# HTTP/1.1 backend, with curl --http2-prior-knowledge and nghttp: the
# response arrives over HTTP/2, the backend gets a plain HTTP/1.1
# request, a body larger than the initial flow-control window arrives
# intact, and several streams on one connection all answer.
. "$(dirname "$0")/lib.sh"
gw_init h2c_to_h1_prior_knowledge 60
need curl nghttp
start_backend

cat >"$T/gw.tmpl" <<EOF
{
  "version": 3,
  "port": @GW_PORT@,
  "listen_ip": "127.0.0.1",
  "timeout": "10s",
  "endpoints": [
    { "endpoint": "/e", "method": "GET", "output_encoding": "no-op",
      "input_headers": ["*"],
      "backend": [{ "url_pattern": "/echo/e", "host": ["$BACKEND_URL"],
                    "encoding": "no-op" }] },
    { "endpoint": "/e", "method": "POST", "output_encoding": "no-op",
      "input_headers": ["*"],
      "backend": [{ "url_pattern": "/echo/e", "host": ["$BACKEND_URL"],
                    "encoding": "no-op" }] }
  ]
}
EOF
start_gateway "$T/gw.tmpl"

curl_req get --http2-prior-knowledge -H 'X-Test: h2' "$GW_URL/e?x=1"
check_eq "curl --http2-prior-knowledge GET /e answers 200" "$CURL_STATUS" 200
check_eq "curl used HTTP/2" "$CURL_VERSION" 2
check_eq "backend got GET /echo/e" \
    "$(json_get "$T/get.body" method) $(json_get "$T/get.body" path)" \
    "GET /echo/e"
check_eq "backend got HTTP/1.1" "$(json_get "$T/get.body" version)" HTTP/1.1
check_eq "X-Test forwarded from the h2 request" \
    "$(echo_header "$T/get.body" X-Test)" h2
check_eq "backend Host is its own" "$(echo_header "$T/get.body" Host)" \
    "127.0.0.1:$BACKEND_PORT"
check_eq "X-Forwarded-Host is the :authority" \
    "$(echo_header "$T/get.body" X-Forwarded-Host)" "127.0.0.1:$GW_PORT"
check_match "the h2 response has an X-Request-ID" "$(hdr get x-request-id)" '.'

# A 200 KiB body: more than the 65535-byte initial window.
head -c 204800 /dev/urandom >"$T/post.in"
want=$(sha256sum "$T/post.in" | cut -d' ' -f1)
curl_req post --http2-prior-knowledge --data-binary "@$T/post.in" \
    -H 'Content-Type: application/octet-stream' "$GW_URL/e"
check_eq "h2 POST /e with a 200 KiB body answers 200" "$CURL_STATUS" 200
check_eq "backend got the body intact" \
    "$(json_get "$T/post.body" body_length) $(json_get "$T/post.body" body_sha256)" \
    "204800 $want"

# nghttp: prior knowledge is its default for http:// URIs.
timeout 20 nghttp -v "$GW_URL/e" >"$T/nghttp.out" 2>&1
check_eq "nghttp -v GET /e exits 0" "$?" 0
check "nghttp saw the gateway's SETTINGS" \
    grep -q 'recv SETTINGS frame' "$T/nghttp.out"
check "nghttp got :status: 200" grep -q ':status: 200' "$T/nghttp.out"
check "nghttp got the echo body" grep -q '"path": "/echo/e"' "$T/nghttp.out"

# Twenty streams on one connection.
timeout 20 nghttp -nv -m 20 "$GW_URL/e" >"$T/nghttp20.out" 2>&1
check_eq "nghttp -m 20: twenty :status: 200 on one connection" \
    "$(grep -c ':status: 200' "$T/nghttp20.out")" 20

stop_gateway
finish
