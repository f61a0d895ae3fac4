#!/bin/sh
# h1_h2_health: what the gateway answers itself, over HTTP/1.1 and
# HTTP/2 (prior knowledge): GET /__health is 200 {"status":"ok"} as JSON
# (HEAD too, without a body), an unknown path is 404 with a JSON
# "message", a known path with a method it does not serve is 405 with
# Allow.  None of these reaches the backend.
. "$(dirname "$0")/lib.sh"
gw_init h1_h2_health 60
need curl
start_backend

cat >"$T/gw.tmpl" <<EOF
{
  "version": 3,
  "port": @GW_PORT@,
  "listen_ip": "127.0.0.1",
  "timeout": "10s",
  "endpoints": [
    { "endpoint": "/thing", "method": "GET", "output_encoding": "no-op",
      "backend": [{ "url_pattern": "/echo/thing", "host": ["$BACKEND_URL"],
                    "encoding": "no-op" }] },
    { "endpoint": "/thing", "method": "PUT", "output_encoding": "no-op",
      "backend": [{ "url_pattern": "/echo/thing", "host": ["$BACKEND_URL"],
                    "encoding": "no-op" }] }
  ]
}
EOF
start_gateway "$T/gw.tmpl"

compact() { tr -d ' \t\r\n' <"$T/$1.body"; }

for proto in http1.1 http2-prior-knowledge; do
	case $proto in http1.1) v=1.1 ;; *) v=2 ;; esac

	curl_req "health$v" "--$proto" "$GW_URL/__health"
	check_eq "h$v GET /__health: 200 over HTTP/$v" \
	    "$CURL_STATUS $CURL_VERSION" "200 $v"
	check_eq "h$v GET /__health: body {\"status\":\"ok\"}" \
	    "$(compact "health$v")" '{"status":"ok"}'
	check_match "h$v GET /__health: JSON Content-Type" \
	    "$(hdr "health$v" content-type)" '^application/json'

	curl_req "healthq$v" "--$proto" "$GW_URL/__health?probe=1"
	check_eq "h$v GET /__health?probe=1: 200" "$CURL_STATUS" 200

	# HEAD, then GET on the same connection: a body sent after the
	# HEAD response would break the second exchange.  Over HTTP/2 this
	# uses nghttp: curl 7.88 reports a framing error on the GET that
	# follows a HEAD on one h2 connection against any server (nghttpd
	# too), so it cannot judge ours.
	if [ "$v" = 1.1 ]; then
		w='%{method} %{http_code} %{num_connects};'
		out=$(curl -sS --max-time 20 "--$proto" -o /dev/null -w "$w" \
		    -I "$GW_URL/__health" --next "--$proto" -o /dev/null \
		    -w "$w" "$GW_URL/__health" 2>"$T/head$v.err")
		check_eq "h$v HEAD /__health then GET: 200 and 200 on one connection" \
		    "$out" "HEAD 200 1;GET 200 0;"
		check_eq "h$v HEAD /__health: no complaint from curl" \
		    "$(cat "$T/head$v.err")" ""
	elif command -v nghttp >/dev/null 2>&1; then
		# Two HEADs then a GET, multiplexed on one connection.
		timeout 20 nghttp -n -s -H ':method: HEAD' "$GW_URL/__health" \
		    "$GW_URL/__health?x=1" >"$T/head$v.out" 2>&1
		rc=$?
		check_eq "h$v HEAD /__health twice on one connection: exit 0" \
		    "$rc" 0
		check_eq "h$v HEAD /__health: both answered 200" \
		    "$(grep -c ' 200 ' "$T/head$v.out")" 2
	fi

	curl_req "nf$v" "--$proto" "$GW_URL/no/such/path"
	check_eq "h$v GET /no/such/path: 404" "$CURL_STATUS" 404
	check_match "h$v 404: JSON Content-Type" "$(hdr "nf$v" content-type)" \
	    '^application/json'
	check "h$v 404: JSON body with \"message\"" \
	    is_json_with "$T/nf$v.body" message

	curl_req "na$v" "--$proto" -X DELETE "$GW_URL/thing"
	check_eq "h$v DELETE /thing: 405" "$CURL_STATUS" 405
	allow=$(hdr "na$v" allow)
	case ",$(echo "$allow" | tr -d ' ')," in
	*,GET,*PUT,*|*,PUT,*GET,*) ok "h$v 405: Allow lists GET and PUT ($allow)" ;;
	*) not_ok "h$v 405: Allow lists GET and PUT" "Allow: '$allow'" ;;
	esac
	check "h$v 405: JSON body with \"message\"" \
	    is_json_with "$T/na$v.body" message
done

stats=$(curl -s --max-time 5 "$BACKEND_URL/__backend_stats")
printf '%s\n' "$stats" >"$T/stats.json"
check_eq "nothing reached the backend" "$(json_get "$T/stats.json" requests)" 0

stop_gateway
finish
