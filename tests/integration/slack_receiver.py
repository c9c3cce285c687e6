#!/usr/bin/env python3
"""A stand-in for a Slack incoming webhook, for tests.

Binds 127.0.0.1 on a free port and writes the port to --port-file. Every
POST is appended to --log as one JSON line: {"n", "t" (epoch seconds),
"path", "status" (what it answered), "body" (the parsed JSON, or the raw
text if it is not JSON)}. --script lists the answers to the first requests,
e.g. "429:3,500,500": a 429 with "Retry-After: 3", then two 500s; every
request after those gets 200 "ok". The body is Slack's word for the status:
"invalid_blocks" with a 400, "rate_limited" with a 429, "server_error" with
any other error. Runs until killed.
"""
import argparse
import http.server
import json
import os
import threading
import time


def parse_script(text):
    answers = []
    for item in filter(None, (text or "").split(",")):
        status, _, retry_after = item.partition(":")
        answers.append((int(status), retry_after or None))
    return answers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--script", default="")
    args = ap.parse_args()
    answers = parse_script(args.script)
    lock = threading.Lock()
    count = [0]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            with lock:
                n = count[0]
                count[0] += 1
                status, retry_after = answers[n] if n < len(answers) else (200, None)
                with open(args.log, "a", encoding="utf-8") as log:
                    log.write(json.dumps({"n": n, "t": time.time(), "path": self.path,
                                          "status": status, "body": body}) + "\n")
            reply = {200: b"ok", 400: b"invalid_blocks", 429: b"rate_limited"}.get(status, b"server_error")
            self.send_response(status)
            if retry_after is not None:
                self.send_header("Retry-After", retry_after)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *a):  # quiet: the test reads the JSON log
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
