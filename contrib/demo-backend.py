#!/usr/bin/python3
"""A tiny backend for trying hanzo-gateway without any outside service.

Serves what configs/example/gateway.json routes to:
  GET  /hello                 a JSON greeting
  GET  /items/<name>          a JSON item
  GET  /v1/models             an OpenAI-style model list
  POST /v1/chat/completions   an OpenAI-style reply; with "stream": true,
                              server-sent events, one token every 100 ms
"""
import argparse
import json
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, the
        # second waits for the client's delayed ACK (40 ms).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def send_json(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/hello":
            self.send_json(200, {"message": "hello from the demo backend"})
        elif self.path.startswith("/items/"):
            self.send_json(200, {"item": self.path[len("/items/"):]})
        elif self.path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [
                {"id": "demo-1", "object": "model", "owned_by": "demo"}]})
        else:
            self.send_json(404, {"message": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            req = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, {"message": "invalid JSON"})
        if self.path != "/v1/chat/completions":
            return self.send_json(404, {"message": "not found"})
        words = ["Hello", " from", " the", " demo", " backend", "."]
        if not req.get("stream"):
            return self.send_json(200, {"object": "chat.completion",
                "choices": [{"index": 0, "message": {
                    "role": "assistant", "content": "".join(words)}}]})
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for w in words + [None]:
            data = "[DONE]" if w is None else json.dumps(
                {"object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"content": w}}]})
            event = ("data: %s\n\n" % data).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
            self.wfile.flush()
            time.sleep(0.1)
        self.wfile.write(b"0\r\n\r\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8081)
    args = ap.parse_args()
    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
