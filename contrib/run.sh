#!/bin/sh
# Installs what is missing, builds, and runs hanzo-gateway on the example
# config (port 8080) with the demo backend it routes to (127.0.0.1:8081).
# Try: curl http://127.0.0.1:8080/__health
#      curl http://127.0.0.1:8080/demo/hello
#      curl -N http://127.0.0.1:8080/v1/chat/completions -d '{"stream":true}'
# Stop with Ctrl-C.
set -eu
cd "$(dirname "$0")/.."
contrib/deps.sh build
contrib/build.sh
/usr/bin/python3 contrib/demo-backend.py --port 8081 &
backend=$!
trap 'kill "$backend" 2>/dev/null || true' EXIT INT TERM
./hanzo-gateway run -c configs/example/gateway.json "$@"
