"""Measures hanzo-gateway and nghttpx side by side on this machine.

Started by bench/run.sh, which installs the tools, builds the gateway
and raises the open-file limit; bench/README.md says what is measured.
Settings come from the environment:

  REPS=3          repetitions of every measurement (systems interleaved)
  DURATION=10s    length of each load run (whole seconds)
  QUICK=1         smoke test: 2 s runs, 1 repetition, 40 SSE samples
  WORKERS=N       N >= 2 adds rows with N workers on both CPUs
  SELFTEST=1      a second nghttpx stands in for the gateway
  GW_BIN=PATH     the gateway binary (default: ./hanzo-gateway)
  ROWS=a,b        only these rows (ids: see ROWS below)
  IDLE_CONNS=N    idle connections held open (default 5000)

The report goes to stdout and to bench/results/YYYY-MM-DD-HHMM.md;
progress goes to stderr.  Every process started here runs in its own
process group and is stopped, by that id, with TERM and then KILL.
"""

import datetime
import http.client
import json
import math
import os
import platform
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRCDIR = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import sse  # noqa: E402

PYTHON = "/usr/bin/python3"
SMALL_BODY_LEN = 99
BIG_BODY_LEN = 64 * 1024
SSE_SKIP = 5                    # first events, not counted
SSE_INTERVAL_MS = 50
WARMUP_S = 1
READY_TIMEOUT = 15.0
CLIENT_SLACK = 20               # seconds a client may overrun its duration


def log(msg):
    sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Failure(Exception):
    """One measurement (or one system on one row) could not be made."""


class Row:
    """One path of the table.  kind: load (wrk or h2load), idle, sse."""

    def __init__(self, rid, title, kind, client=None, path="/", body=0,
                 needs=(), workers=1):
        self.id = rid
        self.title = title
        self.kind = kind
        self.client = client
        self.path = path
        self.body = body            # bytes per response, for MiB/s
        self.needs = needs          # preflight probes this row relies on
        self.workers = workers

    def metrics(self):
        if self.kind == "idle":
            return ["KiB per idle connection"]
        if self.kind == "sse":
            return ["added latency, ms (median)"]
        m = ["req/s"]
        if self.body >= BIG_BODY_LEN:
            m.append("MiB/s")
        return m + ["p50 latency, ms", "p99 latency, ms",
                    "proxy CPU, µs/req"]


ROWS = [
    Row("h1", "HTTP/1.1 keep-alive → HTTP/1.1 `/`", "load", "wrk", "/",
        SMALL_BODY_LEN, ("h1 /",)),
    Row("h2c_h1", "h2c → HTTP/1.1 `/`", "load", "h2load", "/",
        SMALL_BODY_LEN, ("h2c /",)),
    Row("h2c_h2c", "h2c → h2c `/h2/small`", "load", "h2load", "/h2/small",
        SMALL_BODY_LEN, ("h1 /h2/small", "h2c /h2/small")),
    Row("h1_big", "HTTP/1.1 → HTTP/1.1 64 KiB `/big`", "load", "wrk",
        "/big", BIG_BODY_LEN, ("h1 /big",)),
    Row("h2c_big", "h2c → HTTP/1.1 64 KiB `/big`", "load", "h2load",
        "/big", BIG_BODY_LEN, ("h2c /big",)),
    Row("idle_h1", "5000 idle HTTP/1.1 connections", "idle", "h1",
        needs=("h1 /",)),
    Row("idle_h2c", "5000 idle h2c connections", "idle", "h2c",
        needs=("h2c /",)),
    Row("sse", "SSE, one chunk every 50 ms (HTTP/1.1)", "sse", path="/sse",
        needs=("h1 /sse",)),
]

# (row, metric, how, bound, text): "max"/"min" bound the gateway's own
# median, "ratio" bounds gateway/nghttpx.
TARGETS = [
    ("h1", "proxy CPU, µs/req", "max", 6.1,
     "proxy CPU per request ≤ 6.1 µs, HTTP/1.1"),
    ("h2c_h1", "proxy CPU, µs/req", "max", 5.1,
     "proxy CPU per request ≤ 5.1 µs, h2c → HTTP/1.1"),
    ("h2c_h2c", "proxy CPU, µs/req", "max", 2.6,
     "proxy CPU per request ≤ 2.6 µs, h2c → h2c"),
    ("h1_big", "MiB/s", "ratio", 1.2,
     "≥ 1.2× nghttpx, 64 KiB over HTTP/1.1"),
    ("h2c_big", "MiB/s", "ratio", 1.2, "≥ 1.2× nghttpx, 64 KiB over h2c"),
    ("idle_h2c", "KiB per idle connection", "max", 14.0,
     "≤ 14 KiB per idle h2c connection"),
    ("idle_h1", "KiB per idle connection", "max", 1.0,
     "≤ 1 KiB per idle HTTP/1.1 connection"),
    ("sse", "added latency, ms (median)", "max", 0.2,
     "one SSE chunk adds < 0.2 ms"),
]


# --- settings ----------------------------------------------------------------

class Settings:
    def __init__(self, env):
        self.quick = env.get("QUICK", "0") not in ("", "0")
        self.reps = int(env.get("REPS", "1" if self.quick else "3"))
        self.duration = parse_seconds(env.get("DURATION",
                                              "2s" if self.quick else "10s"))
        self.sse_samples = 40 if self.quick else 100
        self.idle_conns = int(env.get("IDLE_CONNS", "5000"))
        self.workers = int(env.get("WORKERS", "1") or "1")
        self.selftest = env.get("SELFTEST", "0") not in ("", "0")
        self.gw_bin = env.get("GW_BIN", os.path.join(SRCDIR, "hanzo-gateway"))
        only = [r for r in env.get("ROWS", "").split(",") if r]
        known = [r.id for r in ROWS] + ["scale_h1"]
        for r in only:
            if r not in known:
                raise SystemExit("bench: ROWS: unknown row %r (known: %s)"
                                 % (r, ", ".join(known)))
        self.only = only
        if self.reps < 1 or self.duration < 1 or self.idle_conns < 1:
            raise SystemExit("bench: REPS, DURATION and IDLE_CONNS must be "
                             "positive")


def parse_seconds(text):
    m = re.fullmatch(r"\s*(\d+)\s*(s?)\s*", text)
    if not m:
        raise SystemExit("bench: DURATION takes whole seconds, like 10s, "
                         "not %r" % text)
    return int(m.group(1))


# --- processes ---------------------------------------------------------------

def group_pids(pgid):
    """PIDs of the live (not zombie) processes in process group pgid."""
    pids = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(rest[2]) == pgid and rest[0] != "Z":
            pids.append(int(name))
    return pids


def group_cpu_ticks(pgid):
    """utime + stime of every process in the group, in clock ticks."""
    total = 0
    for pid in group_pids(pgid):
        try:
            with open("/proc/%d/stat" % pid) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(rest[11]) + int(rest[12])
    return total


def group_rss_kib(pgid):
    total = 0
    for pid in group_pids(pgid):
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            continue
    return total


def group_fds(pgid):
    total = 0
    for pid in group_pids(pgid):
        try:
            total += len(os.listdir("/proc/%d/fd" % pid))
        except OSError:
            continue
    return total


class Procs:
    """The long-running processes this run started, by PID.  Each leads
    its own process group (a proxy's worker processes join it), so that
    stop() reaches the workers too."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.live = {}

    def start(self, name, argv, cpus=None, stdin=subprocess.DEVNULL,
              stdout=None):
        if cpus is not None:
            argv = ["taskset", "-c", cpus] + argv
        logf = open(os.path.join(self.tmp, name + ".log"), "ab")
        try:
            p = subprocess.Popen(argv, stdin=stdin,
                                 stdout=stdout if stdout else logf,
                                 stderr=logf, cwd=self.tmp,
                                 start_new_session=True)
        finally:
            logf.close()
        self.live[p.pid] = (name, p)
        return p

    def log_tail(self, name, lines=5):
        try:
            with open(os.path.join(self.tmp, name + ".log"), "rb") as f:
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        return " | ".join(text.strip().splitlines()[-lines:])

    def stop(self, p):
        """TERM to p's group, up to 3 s for it to empty, then KILL."""
        if p.pid not in self.live:
            return
        del self.live[p.pid]
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            if p.poll() is not None and not group_pids(p.pid):
                break
            time.sleep(0.02)
        if group_pids(p.pid) or p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            p.wait(timeout=3.0)
        except subprocess.TimeoutExpired:
            pass
        for f in (p.stdin, p.stdout):
            if f:
                try:
                    f.close()
                except OSError:
                    pass        # a helper that died with input pending

    def stop_all(self):
        for _, p in list(self.live.values()):
            self.stop(p)


def run_client(argv, timeout):
    """Runs a client to completion on the caller's CPU; returns stdout.
    Raises Failure if it fails or outlives timeout seconds."""
    try:
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise Failure("%s did not finish in %d s" % (argv[0], timeout))
    out = r.stdout.decode("utf-8", "replace")
    if r.returncode != 0:
        err = r.stderr.decode("utf-8", "replace").strip().splitlines()
        raise Failure("%s exited %d: %s" % (argv[0], r.returncode,
                                             err[-1] if err else out[-200:]))
    return out


def free_port():
    """A loopback port nobody listens on (the kernel's pick for port 0)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_port(port, proc, procs, name, timeout=READY_TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise Failure("%s exited (%s): %s" % (name, proc.returncode,
                                                   procs.log_tail(name)))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise Failure("%s not listening on port %d after %d s"
                  % (name, port, timeout))


def http_get(port, path, timeout=5.0):
    """(status, body) of one HTTP/1.1 GET, or raises OSError."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    except http.client.HTTPException as e:
        raise OSError(str(e) or type(e).__name__)
    finally:
        c.close()


def readline_timeout(f, timeout):
    """One line from an unbuffered pipe, or None at EOF or timeout."""
    deadline = time.monotonic() + timeout
    buf = b""
    fd = f.fileno()
    while not buf.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return None
        data = os.read(fd, 1)
        if not data:
            return None
        buf += data
    return buf.decode().strip()


# --- backends ----------------------------------------------------------------

def small_body():
    """The 99-byte JSON answer for `/`."""
    head = '{"id":"bench-1","object":"chat.completion","choices":[],"pad":"'
    body = head + "x" * (SMALL_BODY_LEN - len(head) - 2) + '"}'
    assert len(body) == SMALL_BODY_LEN
    return body


class Backends:
    """nginx (HTTP/1.1), nghttpd (h2c) and the SSE backend, on the load
    generator's CPU."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.nginx = free_port()
        self.nghttpd = free_port()
        self.sse = free_port()

    def start(self):
        ctx = self.ctx
        tmp = ctx.tmp
        body = small_body()
        big = bytes((i * 7 + 13) & 0xFF for i in range(BIG_BODY_LEN))
        www = os.path.join(tmp, "www")
        os.makedirs(os.path.join(www, "h2"))
        with open(os.path.join(www, "big"), "wb") as f:
            f.write(big)
        # nghttpd serves the same bytes under /h2/ so that nghttpx can
        # route that prefix to it.
        with open(os.path.join(www, "h2", "small"), "w") as f:
            f.write(body)
        with open(os.path.join(www, "h2", "big"), "wb") as f:
            f.write(big)
        ngx = os.path.join(tmp, "nginx")
        os.makedirs(os.path.join(ngx, "tmp"))
        conf = os.path.join(ngx, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF % {
                "user": "user root;" if os.geteuid() == 0 else "",
                "prefix": ngx, "port": self.nginx, "www": www,
                "body": body})
        p = ctx.procs.start("nginx", [
            "nginx", "-p", ngx + "/", "-e", os.path.join(ngx, "error.log"),
            "-c", conf, "-g", "daemon off;"], cpus=ctx.load_cpu)
        wait_port(self.nginx, p, ctx.procs, "nginx")
        p = ctx.procs.start("nghttpd", [
            "nghttpd", "--no-tls", "-a", "127.0.0.1", "-d", www,
            str(self.nghttpd)], cpus=ctx.load_cpu)
        wait_port(self.nghttpd, p, ctx.procs, "nghttpd")
        p = ctx.procs.start("sse-backend", [
            PYTHON, "-B", os.path.join(HERE, "sse.py"), "serve",
            str(self.sse), str(SSE_SKIP + ctx.settings.sse_samples),
            str(SSE_INTERVAL_MS)], cpus=ctx.load_cpu)
        wait_port(self.sse, p, ctx.procs, "sse-backend")
        status, got = http_get(self.nginx, "/")
        if status != 200 or got != body.encode():
            raise Failure("nginx answered %d with %d bytes"
                          % (status, len(got)))


NGINX_CONF = """%(user)s
worker_processes 1;
worker_rlimit_nofile 40000;
pid %(prefix)s/nginx.pid;
error_log %(prefix)s/error.log error;
events { worker_connections 16384; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000000;
    keepalive_timeout 3600s;
    client_body_temp_path %(prefix)s/tmp;
    proxy_temp_path %(prefix)s/tmp;
    fastcgi_temp_path %(prefix)s/tmp;
    uwsgi_temp_path %(prefix)s/tmp;
    scgi_temp_path %(prefix)s/tmp;
    server {
        listen 127.0.0.1:%(port)d;
        location = / {
            default_type application/json;
            return 200 '%(body)s';
        }
        location = /big {
            root %(www)s;
            default_type application/octet-stream;
        }
    }
}
"""


# --- the systems under test --------------------------------------------------

class Nghttpx:
    def __init__(self, label):
        self.label = label
        self.name = "nghttpx"
        self.h2_backend = True

    def argv(self, ctx, port, workers):
        b = ctx.backends
        return ["nghttpx", "--conf=/dev/null", "--workers=%d" % workers,
                "--frontend=127.0.0.1,%d;no-tls" % port,
                "--backend=127.0.0.1,%d" % b.nginx,
                "--backend=127.0.0.1,%d;/h2/;proto=h2" % b.nghttpd,
                "--backend=127.0.0.1,%d;/sse" % b.sse,
                "--log-level=WARN"]

    def version(self):
        try:
            return run_client(["nghttpx", "--version"], 10).strip()
        except Failure as e:
            return str(e)


class Gateway:
    def __init__(self, label, binary):
        self.label = label
        self.name = "gateway"
        self.bin = binary
        self.h2_backend = False         # set once `check` accepts it
        self.h2_reason = "no h2c backend setting"

    def config(self, ctx, port, h2):
        b = ctx.backends

        def endpoint(path, backend_port, scheme="http"):
            be = {"host": ["%s://127.0.0.1:%d" % (scheme, backend_port)],
                  "url_pattern": path, "encoding": "no-op"}
            return {"endpoint": path, "method": "GET",
                    "output_encoding": "no-op", "backend": [be]}

        eps = [endpoint("/", b.nginx), endpoint("/big", b.nginx),
               endpoint("/sse", b.sse)]
        if h2:
            # An h2c:// host speaks HTTP/2 with prior knowledge.  Rows
            # through it count only if `check` accepts it and a request
            # through it reaches nghttpd, which answers nothing but
            # HTTP/2.
            eps.append(endpoint("/h2/small", b.nghttpd, "h2c"))
        return {"version": 3, "port": port, "listen_ip": "127.0.0.1",
                "timeout": "10s", "output_encoding": "no-op",
                "extra_config": {
                    "telemetry/logging": {"level": "ERROR", "stdout": True},
                    "router": {"disable_access_log": True}},
                "endpoints": eps}

    def write_config(self, ctx, port, h2):
        path = os.path.join(ctx.tmp, "gateway-%d.json" % port)
        with open(path, "w") as f:
            json.dump(self.config(ctx, port, h2), f, indent=2)
        return path

    def check(self, path):
        """(accepted, output) of `hanzo-gateway check -c path`."""
        r = subprocess.run([self.bin, "check", "-c", path],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=20)
        out = (r.stdout + r.stderr).decode("utf-8", "replace").strip()
        return r.returncode == 0, out

    def argv(self, ctx, port, workers):
        path = self.write_config(ctx, port, self.h2_backend)
        return [self.bin, "run", "-c", path, "--workers", str(workers)]

    def version(self):
        try:
            v = run_client([self.bin, "version"], 10).strip()
        except Failure as e:
            return str(e)
        try:
            head = run_client(["git", "-C", SRCDIR, "describe", "--always",
                               "--dirty"], 10).strip()
            return "%s (source tree at %s)" % (v, head)
        except (Failure, OSError):
            return v


class Running:
    """One started proxy: its process (group leader) and port."""

    def __init__(self, system, proc, port, name):
        self.system = system
        self.proc = proc
        self.port = port
        self.name = name

    @property
    def pgid(self):
        return self.proc.pid


def start_system(ctx, system, workers=1, cpus=None):
    """Starts system on a fresh port and waits until `/` answers
    through it.  Raises Failure (with the process stopped)."""
    port = free_port()
    name = "%s-%d" % (system.name, port)
    p = ctx.procs.start(name, system.argv(ctx, port, workers),
                        cpus=cpus if cpus is not None else ctx.proxy_cpu)
    deadline = time.monotonic() + READY_TIMEOUT
    why = "no answer"
    while time.monotonic() < deadline:
        if p.poll() is not None:
            ctx.procs.stop(p)
            raise Failure("%s exited (%s): %s" % (
                system.label, p.returncode, ctx.procs.log_tail(name)))
        try:
            status, body = http_get(port, "/", timeout=2.0)
            if status == 200 and len(body) == SMALL_BODY_LEN:
                return Running(system, p, port, name)
            why = "GET / answered %d with %d bytes" % (status, len(body))
        except OSError as e:
            why = str(e)
        time.sleep(0.1)
    ctx.procs.stop(p)
    raise Failure("%s not ready after %d s: %s" % (system.label,
                                                    READY_TIMEOUT, why))


# --- load clients ------------------------------------------------------------

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def wrk_ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise Failure("wrk: latency %r" % text)
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def run_wrk(port, path, secs):
    url = "http://127.0.0.1:%d%s" % (port, path)
    out = run_client(["wrk", "-t1", "-c64", "-d%ds" % secs, "--latency",
                      "--timeout", "5s", url], secs + CLIENT_SLACK)
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m),", out)
    if not m:
        raise Failure("wrk: no request count in: %s" % out[-300:])
    total = int(m.group(1))
    elapsed_s = float(m.group(2)) * UNITS_MS[m.group(3)] / 1000.0
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", out, re.M))
    if "50" not in pct or "99" not in pct:
        raise Failure("wrk: no latency distribution in: %s" % out[-300:])
    bad = 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        bad += int(m.group(1))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", out)
    if m:
        bad += sum(int(x) for x in m.groups())
    good = max(total - bad, 0)
    return {"done": total, "good": good, "errors": bad,
            "rps": good / elapsed_s if elapsed_s > 0 else 0.0,
            "p50": wrk_ms(pct["50"]), "p99": wrk_ms(pct["99"])}


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return float("nan")
    k = max(0, math.ceil(p / 100.0 * len(sorted_values)) - 1)
    return sorted_values[k]


def run_h2load(ctx, port, path, secs, want_log=True):
    logpath = os.path.join(ctx.tmp, "h2load.log")
    argv = ["h2load", "-t1", "-c64", "-m10", "-D", "%ds" % secs, "-N", "5s"]
    if want_log:
        argv.append("--log-file=" + logpath)
    argv.append("http://127.0.0.1:%d%s" % (port, path))
    try:
        out = run_client(argv, secs + CLIENT_SLACK)
        m = re.search(r"finished in ([\d.]+)(us|ms|s|m),", out)
        n = re.search(r"requests: \d+ total, \d+ started, (\d+) done, "
                      r"(\d+) succeeded, (\d+) failed", out)
        if not (m and n):
            raise Failure("h2load: cannot read: %s" % out[-300:])
        elapsed_s = float(m.group(1)) * UNITS_MS[m.group(2)] / 1000.0
        # done = succeeded (2xx, 3xx) + failed (other statuses, resets,
        # timeouts).
        done, good, bad = (int(x) for x in n.groups())
        res = {"done": done, "good": good, "errors": bad,
               "rps": good / elapsed_s if elapsed_s > 0 else 0.0}
        if want_log:
            lat = []
            with open(logpath) as f:
                for line in f:
                    parts = line.split("\t")
                    if len(parts) >= 3 and parts[1].startswith("2"):
                        lat.append(int(parts[2]) / 1000.0)
            lat.sort()
            res["p50"] = percentile(lat, 50)
            res["p99"] = percentile(lat, 99)
        return res
    finally:
        if os.path.exists(logpath):
            os.unlink(logpath)


def measure_load(ctx, run, row):
    """Warm-up, then one measured run; proxy CPU from /proc around it."""
    secs = ctx.settings.duration
    if row.client == "wrk":
        run_wrk(run.port, row.path, WARMUP_S)
    else:
        run_h2load(ctx, run.port, row.path, WARMUP_S, want_log=False)
    before = group_cpu_ticks(run.pgid)
    if row.client == "wrk":
        r = run_wrk(run.port, row.path, secs)
    else:
        r = run_h2load(ctx, run.port, row.path, secs)
    after = group_cpu_ticks(run.pgid)
    if run.proc.poll() is not None:
        raise Failure("%s exited during the run" % run.system.label)
    if r["good"] == 0:
        raise Failure("no successful responses (%d errors)" % r["errors"])
    cpu_us = (after - before) * 1e6 / ctx.clk_tck
    vals = {"req/s": r["rps"], "p50 latency, ms": r["p50"],
            "p99 latency, ms": r["p99"],
            "proxy CPU, µs/req": cpu_us / r["done"]}
    if row.body >= BIG_BODY_LEN:
        vals["MiB/s"] = r["rps"] * row.body / (1 << 20)
    note = None
    if r["errors"]:
        note = "%d of %d requests failed" % (r["errors"], r["done"])
    return vals, note


def measure_idle(ctx, run, proto):
    """KiB of proxy RSS per idle connection, over IDLE_CONNS of them."""
    n = ctx.settings.idle_conns
    base_rss = group_rss_kib(run.pgid)
    helper = ctx.procs.start("idle-%s" % proto, [
        PYTHON, "-B", os.path.join(HERE, "idle.py"), proto, "127.0.0.1",
        str(run.port), str(n)], cpus=ctx.load_cpu, stdin=subprocess.PIPE,
        stdout=subprocess.PIPE)
    try:
        line = readline_timeout(helper.stdout, 90)
        if not line or not line.startswith("READY"):
            raise Failure("idle helper: %s" % (line or "no answer"))
        # The helper saw every connection accepted; let the proxy
        # settle (its descriptor count steady for a second).
        deadline = time.monotonic() + 20
        last, steady = -1, 0
        while steady < 4 and time.monotonic() < deadline:
            fds = group_fds(run.pgid)
            steady = steady + 1 if fds == last else 0
            last = fds
            time.sleep(0.25)
        rss = group_rss_kib(run.pgid)
        helper.stdin.write(b"CHECK\n")
        helper.stdin.flush()
        line = readline_timeout(helper.stdout, 30)
        if not line or not line.startswith("OPEN "):
            raise Failure("idle helper: %s" % (line or "no answer"))
        still = int(line.split()[1])
        helper.stdin.write(b"QUIT\n")
        helper.stdin.flush()
        helper.wait(timeout=30)
    finally:
        ctx.procs.stop(helper)
    if still == 0:
        raise Failure("the proxy closed all %d idle connections" % n)
    note = None
    if still < n:
        note = "only %d of %d idle connections stayed open" % (still, n)
    elif last < n:
        note = "the proxy held %d descriptors for %d connections" % (last, n)
    return {"KiB per idle connection": (rss - base_rss) / still}, note


def measure_sse_ms(ctx, port):
    """Median write-to-read delay of one SSE chunk via port, in ms."""
    n = SSE_SKIP + ctx.settings.sse_samples
    try:
        lat = sse.measure("127.0.0.1", port, "/sse", n,
                          timeout=n * SSE_INTERVAL_MS / 1000.0 + 10)
    except (OSError, ValueError) as e:
        raise Failure("SSE: %s" % e)
    lat = lat[SSE_SKIP:]
    if len(lat) < ctx.settings.sse_samples:
        raise Failure("SSE: %d of %d events arrived"
                      % (len(lat), ctx.settings.sse_samples))
    return statistics.median(lat) / 1000.0


# --- preflight ---------------------------------------------------------------

def probe_all(ctx, run):
    """Checks each path through a running proxy; returns {probe: reason}
    for the probes that failed."""
    failed = {}
    wants = {"/": SMALL_BODY_LEN, "/big": BIG_BODY_LEN,
             "/h2/small": SMALL_BODY_LEN}
    for path, size in wants.items():
        try:
            status, body = http_get(run.port, path)
            if status != 200 or len(body) != size:
                failed["h1 " + path] = "GET %s answered %d with %d bytes" % (
                    path, status, len(body))
        except OSError as e:
            failed["h1 " + path] = "GET %s: %s" % (path, e)
        try:
            out = subprocess.run(
                ["nghttp", "--no-dep",
                 "http://127.0.0.1:%d%s" % (run.port, path)],
                stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
            if out.returncode != 0 or len(out.stdout) != size:
                failed["h2c " + path] = "h2c GET %s: exit %d, %d bytes" % (
                    path, out.returncode, len(out.stdout))
        except subprocess.TimeoutExpired:
            failed["h2c " + path] = "h2c GET %s: no answer in 10 s" % path
    try:
        got = sse.measure("127.0.0.1", run.port, "/sse", 1, timeout=10)
        if len(got) != 1:
            failed["h1 /sse"] = "GET /sse: the stream ended without an event"
    except (OSError, ValueError) as e:
        failed["h1 /sse"] = "GET /sse: %s" % e
    return failed


# --- the run -----------------------------------------------------------------

class Context:
    pass


def fmt(metric, v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "?"
    if metric == "req/s":
        return "{:,.0f}".format(v)
    if metric == "MiB/s":
        return "{:,.0f}".format(v)
    if "ms" in metric:
        return "%.3f" % v if abs(v) < 10 else "%.1f" % v
    return "%.2f" % v


def cell(metric, values):
    if not values:
        return None, "n/a"
    med = statistics.median(values)
    if len(values) == 1:
        return med, fmt(metric, med)
    return med, "%s [%s–%s]" % (fmt(metric, med), fmt(metric, min(values)),
                                fmt(metric, max(values)))


def main():
    settings = Settings(os.environ)
    ctx = Context()
    ctx.settings = settings
    ctx.clk_tck = os.sysconf("SC_CLK_TCK")
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        ctx.load_cpu, ctx.proxy_cpu = str(cpus[0]), str(cpus[1])
        both = "%d,%d" % (cpus[0], cpus[1])
        # This process and the clients it runs belong with the load.
        os.sched_setaffinity(0, {cpus[0]})
    else:
        ctx.load_cpu = ctx.proxy_cpu = both = None
    ctx.tmp = tempfile.mkdtemp(prefix="gw-bench-")
    ctx.procs = Procs(ctx.tmp)

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    try:
        return run(ctx, both)
    finally:
        ctx.procs.stop_all()
        shutil.rmtree(ctx.tmp, ignore_errors=True)


def raise_nofile(want=65536):
    """Raises the open-file limit (inherited by the proxies and the idle
    helper, each holding IDLE_CONNS connections) as far as allowed, up
    to want; returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
            return want
        except (ValueError, OSError):
            pass        # no CAP_SYS_RESOURCE: the hard limit stays
    target = want if hard == resource.RLIM_INFINITY else min(want, hard)
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


def run(ctx, both):
    s = ctx.settings
    nofile = raise_nofile()
    ours = Nghttpx("nghttpx as ours (self-test)") if s.selftest else \
        Gateway("hanzo-gateway", s.gw_bin)
    theirs = Nghttpx("nghttpx")
    systems = [ours, theirs]
    notes = []
    if ctx.load_cpu is None:
        notes.append("Only one CPU: nothing is pinned.")

    ctx.backends = Backends(ctx)
    log("backends: nginx :%d, nghttpd :%d, SSE :%d" % (
        ctx.backends.nginx, ctx.backends.nghttpd, ctx.backends.sse))
    ctx.backends.start()

    # The gateway's config must pass `check`; the h2c-backend variant
    # is used only if it passes too (and then works, see preflight).
    if isinstance(ours, Gateway):
        if not os.access(ours.bin, os.X_OK):
            raise SystemExit("bench: no gateway binary at %s (build it, or "
                             "SELFTEST=1)" % ours.bin)
        ok, out = ours.check(ours.write_config(ctx, free_port(), False))
        if not ok:
            raise SystemExit("bench: hanzo-gateway check rejects the "
                             "benchmark config:\n" + out)
        ok, out = ours.check(ours.write_config(ctx, free_port(), True))
        if ok:
            ours.h2_backend = True
        else:
            ours.h2_reason = "`check` rejects the h2c backend config"

    rows = [r for r in ROWS if not s.only or r.id in s.only]
    idle_n = s.idle_conns
    for r in rows:
        if r.kind == "idle":
            r.title = r.title.replace("5000", str(idle_n))
    if s.workers >= 2 and (not s.only or "scale_h1" in s.only):
        rows.append(Row("scale_h1", "HTTP/1.1 → HTTP/1.1 `/`, %d workers "
                        "on CPUs %s" % (s.workers, both or "all"), "load",
                        "wrk", "/", SMALL_BODY_LEN, ("h1 /",),
                        workers=s.workers))
    if any(r.kind == "idle" for r in rows) and nofile < idle_n + 1000:
        notes.append("Open-file limit %d is too low for %d idle connections "
                     "(the hard limit could not be raised); idle rows "
                     "skipped." % (nofile, idle_n))
        rows = [r for r in rows if r.kind != "idle"]

    # Preflight: each system once, every path probed; a row a system
    # cannot serve is n/a for it, with the reason in the notes.
    unsupported = {}        # (row id, system label) -> reason
    for sysm in systems:
        try:
            run_ = start_system(ctx, sysm)
        except Failure as e:
            raise SystemExit("bench: %s" % e)
        try:
            failed = probe_all(ctx, run_)
        finally:
            ctx.procs.stop(run_.proc)
        for r in rows:
            if r.id == "h2c_h2c" and not sysm.h2_backend:
                unsupported[(r.id, sysm.label)] = sysm.h2_reason
                continue
            for need in r.needs:
                if need in failed:
                    unsupported[(r.id, sysm.label)] = failed[need]
                    break
        log("%s: version %s; probes failed: %s" % (
            sysm.label, sysm.version(), ", ".join(sorted(failed)) or "none"))

    results = {}            # (row id, label, metric) -> [values]
    errors = {}             # (row id, label) -> [notes]
    sse_direct = []
    ctx.loadavg = [loadavg()]
    t0 = time.monotonic()
    for rep in range(s.reps):
        for r in rows:
            direct = None
            if r.kind == "sse":
                try:
                    direct = measure_sse_ms(ctx, ctx.backends.sse)
                    sse_direct.append(direct)
                except Failure as e:
                    notes.append("SSE direct run failed: %s" % e)
                    continue
            for sysm in systems:
                if (r.id, sysm.label) in unsupported:
                    continue
                log("rep %d/%d  %-9s %s" % (rep + 1, s.reps, r.id, sysm.label))
                try:
                    cpus = both if r.workers > 1 else ctx.proxy_cpu
                    run_ = start_system(ctx, sysm, r.workers, cpus)
                    try:
                        if r.kind == "load":
                            vals, note = measure_load(ctx, run_, r)
                        elif r.kind == "idle":
                            vals, note = measure_idle(ctx, run_, r.client)
                        else:
                            ms = measure_sse_ms(ctx, run_.port)
                            vals, note = {r.metrics()[0]: ms - direct}, None
                    finally:
                        ctx.procs.stop(run_.proc)
                except Failure as e:
                    errors.setdefault((r.id, sysm.label), []).append(
                        "rep %d: %s" % (rep + 1, e))
                    log("  failed: %s" % e)
                    continue
                if note:
                    errors.setdefault((r.id, sysm.label), []).append(
                        "rep %d: %s" % (rep + 1, note))
                for k, v in vals.items():
                    results.setdefault((r.id, sysm.label, k), []).append(v)
    log("measured in %.0f s" % (time.monotonic() - t0))
    ctx.loadavg.append(loadavg())

    report = build_report(ctx, rows, systems, results, errors, unsupported,
                          notes, sse_direct, both)
    sys.stdout.write(report["table"] + "\n" + report["after"])
    path = write_results(ctx, systems, report)
    log("written to %s" % path)
    return 0


def build_report(ctx, rows, systems, results, errors, unsupported, notes,
                 sse_direct, both):
    ours, theirs = systems
    lines = ["| path | metric | %s (median [min–max]) | %s (median "
             "[min–max]) | ratio ours/nghttpx |"
             % (ours.label, theirs.label),
             "|---|---|---|---|---|"]
    medians = {}
    marks = {}
    footnotes = []
    for r in rows:
        for key in ((r.id, ours.label), (r.id, theirs.label)):
            if key in errors:
                footnotes.append("%s, %s: %s" % (r.title, key[1],
                                                 "; ".join(errors[key])))
                marks[key] = " [%d]" % len(footnotes)
            elif key in unsupported:
                footnotes.append("%s, %s: n/a: %s" % (r.title, key[1],
                                                      unsupported[key]))
                marks[key] = " [%d]" % len(footnotes)
        for metric in r.metrics():
            cols = []
            for sysm in systems:
                med, text = cell(metric, results.get((r.id, sysm.label,
                                                      metric), []))
                medians[(r.id, sysm.label, metric)] = med
                cols.append(text + marks.get((r.id, sysm.label), ""))
            a = medians[(r.id, ours.label, metric)]
            b = medians[(r.id, theirs.label, metric)]
            ratio = "%.2f" % (a / b) if a is not None and b else "n/a"
            lines.append("| %s | %s | %s | %s | %s |" % (
                r.title, metric, cols[0], cols[1], ratio))
    after = []
    if footnotes:
        after.append("")
        after += ["[%d] %s" % (i + 1, f) for i, f in enumerate(footnotes)]
    after += ["", "Targets for %s (median):" % ours.label]
    for rid, metric, how, bound, text in TARGETS:
        a = medians.get((rid, ours.label, metric))
        b = medians.get((rid, theirs.label, metric))
        if a is None or (how == "ratio" and not b):
            verdict = "n/a"
        elif how == "ratio":
            verdict = "%.2f× — %s" % (a / b, "met" if a / b >= bound
                                      else "not met")
        else:
            verdict = "%s — %s" % (fmt(metric, a), "met" if a <= bound
                                   else "not met")
        after.append("- %s: %s" % (text, verdict))
    s = ctx.settings
    after += ["", "Setup: one worker per proxy on CPU %s; load generator and "
              "backends on CPU %s; %d repetition%s of %d s (plus %d s "
              "warm-up), systems interleaved, each run on a freshly started "
              "proxy.  wrk -t1 -c64; h2load -t1 -c64 -m10; backends: nginx "
              "(1 worker, HTTP/1.1) and nghttpd (h2c).  MiB/s counts response "
              "bodies.  Idle memory: proxy RSS growth with %d connections "
              "held open.  SSE: median over %d chunks of backend-write to "
              "client-read, minus the same read directly from the backend." % (
                  ctx.proxy_cpu or "any", ctx.load_cpu or "any", s.reps,
                  "" if s.reps == 1 else "s", s.duration, WARMUP_S,
                  s.idle_conns, s.sse_samples)]
    if sse_direct:
        after.append("SSE directly from the backend: median %.3f ms." %
                     statistics.median(sse_direct))
    if any(r.workers > 1 for r in rows):
        after.append("Multi-worker rows: the proxy runs on CPUs %s, which it "
                     "shares with the load generator and the backend."
                     % (both or "all"))
    after += notes
    return {"table": "\n".join(lines), "after": "\n".join(after) + "\n"}


def loadavg():
    """The 1-minute load average: anything else loading the machine
    shows here."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def write_results(ctx, systems, report):
    now = datetime.datetime.now()
    outdir = os.path.join(HERE, "results")
    os.makedirs(outdir, exist_ok=True)
    name = now.strftime("%Y-%m-%d-%H%M")
    if ctx.settings.selftest:
        name += "-selftest"
    path = os.path.join(outdir, name + ".md")
    model = "unknown"
    count = 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                count += 1
    ours, theirs = systems
    s = ctx.settings
    head = ["# hanzo-gateway and nghttpx, %s" % now.strftime("%Y-%m-%d %H:%M"),
            "",
            "- %s: %s" % (ours.label, ours.version()),
            "- nghttpx: %s" % theirs.version(),
            "- kernel: %s" % " ".join(platform.uname()[i]
                                      for i in (0, 2, 3, 4)),
            "- CPU: %s × %d" % (model, count),
            "- settings: REPS=%d DURATION=%ds%s%s" % (
                s.reps, s.duration, " QUICK=1" if s.quick else "",
                " WORKERS=%d" % s.workers if s.workers > 1 else ""),
            "- load average (1 min) before and after the measurements: "
            "%s, %s" % tuple(ctx.loadavg),
            ""]
    with open(path, "w") as f:
        f.write("\n".join(head) + "\n" + report["table"] + "\n" +
                report["after"])
    return path


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
