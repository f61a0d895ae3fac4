#!/bin/sh
# h2c_to_h2c_basic: an h2c:// backend (nghttpd, HTTP/2 with prior
# knowledge) behind the gateway: a GET over HTTP/1.1 and one over h2c
# return the file intact, 200 requests from h2load (2 connections, 50
# streams each) all succeed, and the gateway multiplexes them over a few
# backend connections instead of one per request.
. "$(dirname "$0")/lib.sh"
gw_init h2c_to_h2c_basic 90
need curl nghttpd h2load ss

# The backend: nghttpd over cleartext, serving DOCROOT.
mkdir -p "$T/docroot"
head -c 300000 /dev/urandom >"$T/docroot/big.bin"
echo "hello from nghttpd" >"$T/docroot/small.txt"
want=$(sha256sum "$T/docroot/big.bin" | cut -d' ' -f1)
attempt=0
while :; do
	BPORT=$(free_port)
	nghttpd --no-tls -d "$T/docroot" "$BPORT" </dev/null \
	    >"$T/nghttpd.out" 2>"$T/nghttpd.err" &
	BPID=$!
	gw_pids="$gw_pids $BPID"
	i=0
	while alive "$BPID" && [ "$i" -lt 50 ] &&
	    ! ss -Htln "sport = :$BPORT" | grep -q .; do
		sleep 0.1
		i=$((i + 1))
	done
	alive "$BPID" && break
	attempt=$((attempt + 1))
	if [ "$attempt" -ge 3 ]; then
		echo "ERROR: nghttpd did not start: $(cat "$T/nghttpd.err")"
		exit 99
	fi
done

cat >"$T/gw.tmpl" <<EOF2
{
  "version": 3,
  "port": @GW_PORT@,
  "listen_ip": "127.0.0.1",
  "timeout": "10s",
  "endpoints": [
    { "endpoint": "/f/{name}", "method": "GET", "output_encoding": "no-op",
      "backend": [{ "url_pattern": "/{name}",
                    "host": ["h2c://127.0.0.1:$BPORT"],
                    "encoding": "no-op" }] }
  ]
}
EOF2
start_gateway "$T/gw.tmpl"

curl_req h1 --http1.1 "$GW_URL/f/big.bin"
check_eq "GET over HTTP/1.1 answers 200" "$CURL_STATUS" 200
check_eq "the HTTP/1.1 body is the file" \
    "$(sha256sum "$T/h1.body" | cut -d' ' -f1)" "$want"

curl_req h2 --http2-prior-knowledge "$GW_URL/f/big.bin"
check_eq "GET over h2c answers 200" "$CURL_STATUS" 200
check_eq "curl used HTTP/2" "$CURL_VERSION" 2
check_eq "the h2c body is the file" \
    "$(sha256sum "$T/h2.body" | cut -d' ' -f1)" "$want"

curl_req missing --http1.1 "$GW_URL/f/nothing-here"
check_eq "a 404 from the backend is passed on" "$CURL_STATUS" 404

timeout 60 h2load -n 200 -c 2 -m 50 "$GW_URL/f/small.txt" \
    >"$T/h2load.out" 2>&1
check_eq "h2load exits 0" "$?" 0
check_match "h2load: 200 requests succeeded" \
    "$(grep 'requests:' "$T/h2load.out")" '200 succeeded, 0 failed'
check_match "h2load: all 200 answered 2xx" \
    "$(grep 'status codes:' "$T/h2load.out")" '^status codes: 200 2xx'

# Connections the gateway holds to the backend, while they idle.
nconn=$(ss -Htn state established "dport = :$BPORT" | wc -l)
check "few backend connections for 200 requests ($nconn)" \
    test "$nconn" -ge 1 -a "$nconn" -le 8

stop_gateway
finish
