#!/bin/sh
# check_qos_config.sh: "hanzo-gateway check" on the QoS namespaces
# (qos/ratelimit/router at service and endpoint level, qos/circuit-breaker
# at backend level, security/cors at service level).  A config using all
# three with good values must load; each broken variant (one change from
# it) must be rejected, exit 1, with the JSON path of the bad value in a
# message naming the file; a file with several bad values gets every one
# reported.  Starts no server and opens no socket.
#
# Environment: GW_BIN, the built binary; GW_SRCDIR, the source tree (both
# set by "make check"; defaults: the tree this script is in).
# Prints one "ok - ..." or "not ok - ..." line per assertion, then
# "check_qos_config: N passed, M failed".  Exits 0 if none failed, 1 if any
# did, 99 (automake's hard error) if it cannot run at all.

set -u

name=check_qos_config
# shellcheck source=tests/integration/check_lib.sh
. "$(dirname "$0")/check_lib.sh"

# mk NAME SERVICE ENDPOINT BACKEND: writes $tmp/NAME.json, the base config
# with the given contents of the service's, the first endpoint's and its
# backend's extra_config (JSON object members, without braces).
mk() {
	cat >"$tmp/$1.json" <<EOF
{
  "version": 3,
  "extra_config": {$2},
  "endpoints": [
    {
      "endpoint": "/a/{id}",
      "extra_config": {$3},
      "backend": [{
        "host": ["http://127.0.0.1:9"],
        "url_pattern": "/b/{id}",
        "extra_config": {$4}
      }]
    },
    {
      "endpoint": "/c/{id}",
      "backend": [{"host": ["http://127.0.0.1:9"], "url_pattern": "/d"}]
    }
  ]
}
EOF
}

# Good values, also used as the parts the broken variants keep.
RL='"qos/ratelimit/router": {"max_rate": 100, "client_max_rate": 5, "every": "1m", "capacity": 10, "client_capacity": 2, "strategy": "header", "key": "X-Api-Key"}'
CORS='"security/cors": {"allow_origins": ["https://liquidity.io", "https://*.liquidity.io"], "allow_methods": ["GET", "POST"], "allow_headers": ["Authorization"], "expose_headers": ["X-Request-ID"], "max_age": "12h", "allow_credentials": true, "options_success_status": 200}'
EPRL='"qos/ratelimit/router": {"client_max_rate": 3, "strategy": "param", "key": "id"}'
CB='"qos/circuit-breaker": {"interval": 10, "timeout": 2, "max_errors": 2, "name": "b", "log_status_change": true}'

# ere STRING: STRING with the ERE special characters escaped.
ere() {
	printf '%s\n' "$1" | sed 's/[]\[\\.*^$+?(){}|]/\\&/g'
}

# has_path PATH WORD: one line of the output names the file and the JSON
# path PATH as a whole (followed by ':' or a space, so ".every" does not
# match ".every_x"), and contains WORD (when not empty).
has_path() {
	pat="(^|[ :])$(ere "$1")([:[ ]|\$)"
	cat "$tmp/out" "$tmp/err" | grep -F "$file" | grep -E "$pat" |
	    grep -qiF -e "$2"
}

# expect_invalid NAME PATH WORD DESCRIPTION
expect_invalid() {
	file=$tmp/$1.json
	gw check -c "$file"
	if [ "$rc" -eq 1 ] && ! grep -q 'Syntax OK' "$tmp/out" &&
	    has_path "$2" "$3"; then
		ok "$4: exit 1 naming $2"
	else
		not_ok "$4: exit 1 naming $2"
	fi
}

RLP='extra_config["qos/ratelimit/router"]'
EPRLP='endpoints[0].extra_config["qos/ratelimit/router"]'
CBP='endpoints[0].backend[0].extra_config["qos/circuit-breaker"]'
CORSP='extra_config["security/cors"]'

# --- the valid base ----------------------------------------------------

mk base "$RL, $CORS" "$EPRL" "$CB"
file=$tmp/base.json
gw check -c "$file"
if [ "$rc" -eq 0 ] && grep -qx 'Syntax OK' "$tmp/out"; then
	ok "the base config with every QoS namespace loads"
else
	not_ok "the base config with every QoS namespace loads"
fi

# --- qos/ratelimit/router ----------------------------------------------

mk rl_neg '"qos/ratelimit/router": {"max_rate": -1}, '"$CORS" "$EPRL" "$CB"
expect_invalid rl_neg "$RLP.max_rate" '-1' 'max_rate -1'

mk rl_cneg '"qos/ratelimit/router": {"client_max_rate": -5}' "" ""
expect_invalid rl_cneg "$RLP.client_max_rate" '-5' 'client_max_rate -5'

mk rl_str '"qos/ratelimit/router": {"client_max_rate": "5"}' "" ""
expect_invalid rl_str "$RLP.client_max_rate" 'string' \
    'client_max_rate given as a string'

mk rl_none '"qos/ratelimit/router": {"every": "1s"}' "" ""
expect_invalid rl_none "$RLP" 'max_rate' 'neither max_rate nor client_max_rate'

mk rl_cookie '"qos/ratelimit/router": {"client_max_rate": 1, "strategy": "cookie"}' "" ""
expect_invalid rl_cookie "$RLP.strategy" 'cookie' 'strategy "cookie"'

mk rl_nokey '"qos/ratelimit/router": {"client_max_rate": 1, "strategy": "header"}' "" ""
expect_invalid rl_nokey "$RLP" 'key' 'strategy header without key'

mk rl_every '"qos/ratelimit/router": {"client_max_rate": 1, "every": "1x"}' "" ""
expect_invalid rl_every "$RLP.every" '1x' 'every "1x"'

mk rl_every0 '"qos/ratelimit/router": {"client_max_rate": 1, "every": "0s"}' "" ""
expect_invalid rl_every0 "$RLP.every" '' 'every "0s"'

mk rl_ccap '"qos/ratelimit/router": {"client_max_rate": 1, "client_capacity": 0}' "" ""
expect_invalid rl_ccap "$RLP.client_capacity" '' 'client_capacity 0'

mk rl_ep_every "" '"qos/ratelimit/router": {"client_max_rate": 1, "every": "1x"}' ""
expect_invalid rl_ep_every "$EPRLP.every" '1x' 'endpoint-level every "1x"'

mk rl_ep_param "" '"qos/ratelimit/router": {"client_max_rate": 1, "strategy": "param", "key": "nope"}' ""
expect_invalid rl_ep_param "$EPRLP.key" 'nope' \
    'param strategy naming no placeholder of the endpoint'

# The service's block applies to every endpoint without its own: a
# placeholder that they do not define is an error.
mk rl_svc_param '"qos/ratelimit/router": {"client_max_rate": 1, "strategy": "param", "key": "x"}' "" ""
expect_invalid rl_svc_param 'endpoints[0]' 'x' \
    'service param strategy naming a placeholder endpoints lack'

mk rl_arr '"qos/ratelimit/router": [1]' "" ""
expect_invalid rl_arr "$RLP" 'object' 'qos/ratelimit/router not an object'

# --- qos/circuit-breaker -----------------------------------------------

mk cb_maxerr "$RL" "" '"qos/circuit-breaker": {"interval": 10, "timeout": 2, "max_errors": -1}'
expect_invalid cb_maxerr "$CBP.max_errors" '-1' 'breaker max_errors -1'

mk cb_intstr "$RL" "" '"qos/circuit-breaker": {"interval": "10s", "timeout": 2}'
expect_invalid cb_intstr "$CBP.interval" 'integer' \
    'breaker interval "10s" (seconds are an integer)'

mk cb_float "" "" '"qos/circuit-breaker": {"interval": 1.5, "timeout": 2}'
expect_invalid cb_float "$CBP.interval" 'integer' 'breaker interval 1.5'

mk cb_tmostr "" "" '"qos/circuit-breaker": {"interval": 10, "timeout": "2s"}'
expect_invalid cb_tmostr "$CBP.timeout" 'integer' 'breaker timeout "2s"'

mk cb_tmo0 "" "" '"qos/circuit-breaker": {"interval": 10, "timeout": 0}'
expect_invalid cb_tmo0 "$CBP.timeout" '' 'breaker timeout 0'

mk cb_notmo "" "" '"qos/circuit-breaker": {"interval": 10, "max_errors": 1}'
expect_invalid cb_notmo "$CBP" 'timeout' 'breaker without timeout'

mk cb_noint "" "" '"qos/circuit-breaker": {"timeout": 2, "max_errors": 1}'
expect_invalid cb_noint "$CBP" 'interval' 'breaker without interval'

mk cb_log "" "" '"qos/circuit-breaker": {"interval": 10, "timeout": 2, "log_status_change": "yes"}'
expect_invalid cb_log "$CBP.log_status_change" 'boolean' \
    'breaker log_status_change "yes"'

# --- security/cors -----------------------------------------------------

mk cors_maxage '"security/cors": {"max_age": "12"}' "" ""
expect_invalid cors_maxage "$CORSP.max_age" '12' 'CORS max_age "12"'

mk cors_origins '"security/cors": {"allow_origins": "*"}' "" ""
expect_invalid cors_origins "$CORSP.allow_origins" 'array' \
    'CORS allow_origins "*" (a string, not a list)'

mk cors_status '"security/cors": {"options_success_status": 99}' "" ""
expect_invalid cors_status "$CORSP.options_success_status" '99' \
    'CORS options_success_status 99'

mk cors_status3 '"security/cors": {"options_success_status": 300}' "" ""
expect_invalid cors_status3 "$CORSP.options_success_status" '300' \
    'CORS options_success_status 300'

mk cors_method '"security/cors": {"allow_methods": ["GET", "FROB"]}' "" ""
expect_invalid cors_method "$CORSP.allow_methods[1]" 'FROB' \
    'CORS allow_methods with FROB'

mk cors_creds '"security/cors": {"allow_credentials": "yes"}' "" ""
expect_invalid cors_creds "$CORSP.allow_credentials" 'boolean' \
    'CORS allow_credentials "yes"'

# --- every error of a file is reported ---------------------------------

mk multi '"qos/ratelimit/router": {"max_rate": -1}, "security/cors": {"max_age": "12"}' "" \
    '"qos/circuit-breaker": {"interval": "10s", "timeout": 2}'
file=$tmp/multi.json
gw check -c "$file"
if [ "$rc" -eq 1 ] && has_path "$RLP.max_rate" '' &&
    has_path "$CORSP.max_age" '' && has_path "$CBP.interval" ''; then
	ok "three bad values in three namespaces: all three reported"
else
	not_ok "three bad values in three namespaces: all three reported"
fi

echo "check_qos_config: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
