#!/bin/sh
# h2c_to_h1_upgrade: HTTP/1.1 "Upgrade: h2c" (RFC 7540 3.2) to an
# HTTP/1.1 backend, with curl --http2 on an http:// URL and nghttp -u:
# the gateway answers 101, serves the upgrading request as stream 1 over
# HTTP/2 and the next one on the same connection; the Upgrade and
# HTTP2-Settings fields are not forwarded; a request with a body may be
# served without upgrading, but it must be served.
. "$(dirname "$0")/lib.sh"
gw_init h2c_to_h1_upgrade 60
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

curl_req up --http2 "$GW_URL/e"
check_eq "curl --http2 GET /e answers 200" "$CURL_STATUS" 200
check_eq "the response came over HTTP/2 (after Upgrade)" "$CURL_VERSION" 2
check "the gateway answered 101 Switching Protocols" \
    grep -q '^HTTP/1.1 101' "$T/up.hdr"
check_eq "backend got GET /echo/e" "$(json_get "$T/up.body" path)" /echo/e
check_eq "Upgrade not forwarded" "$(echo_header "$T/up.body" Upgrade)" ""
check_eq "HTTP2-Settings not forwarded" \
    "$(echo_header "$T/up.body" HTTP2-Settings)" ""
conn=$(echo_header "$T/up.body" Connection | tr '[:upper:]' '[:lower:]')
case "$conn" in
*upgrade*|*http2-settings*)
	not_ok "Connection to the backend names no upgrade" "Connection: $conn" ;;
*)	ok "Connection to the backend names no upgrade" ;;
esac

# Two requests in one curl run: the second goes on the upgraded
# connection as a new stream.
v=$(curl -sS --max-time 20 --http2 -o /dev/null -o /dev/null \
    -w '%{http_version} %{http_code} %{num_connects};' \
    "$GW_URL/e" "$GW_URL/e" 2>"$T/two.err")
check_eq "two requests: both HTTP/2 and 200, on one connection" \
    "$v" "2 200 1;2 200 0;"

# A request with a body: served (upgraded or not), body intact.
head -c 10000 /dev/urandom >"$T/post.in"
want=$(sha256sum "$T/post.in" | cut -d' ' -f1)
curl_req post --http2 --data-binary "@$T/post.in" "$GW_URL/e"
check_eq "curl --http2 POST /e answers 200" "$CURL_STATUS" 200
check_eq "POST body intact" \
    "$(json_get "$T/post.body" body_length) $(json_get "$T/post.body" body_sha256)" \
    "10000 $want"

timeout 20 nghttp -uv "$GW_URL/e" >"$T/nghttp.out" 2>&1
check_eq "nghttp -u GET /e exits 0" "$?" 0
check "nghttp: HTTP Upgrade success" grep -q 'HTTP Upgrade success' \
    "$T/nghttp.out"
check "nghttp: :status: 200 over HTTP/2" grep -q ':status: 200' \
    "$T/nghttp.out"

stop_gateway
finish
