"""Harness for the Python integration tests of hanzo-gateway.

A test is a function taking a Suite; gwtest.main(name, fn) runs it:

    def test(t):
        b = t.start_backend()
        gw = t.start_gateway(t.config([t.endpoint("/e", "/echo", b)]))
        r = t.request(gw.port, "GET", "/e")
        t.eq(r.status, 200, "GET /e answers 200")

    if __name__ == "__main__":
        gwtest.main("h1_to_h1_example", test, timeout=60)

What the Suite does for every test:
  - a temp dir (mktemp) for configs, logs and port files, removed at the
    end (kept, and named, when GW_TEST_KEEP=1);
  - processes it starts (backends, the gateway) are stopped at the end by
    PID: SIGTERM, then SIGKILL after a grace period.  Nothing else is
    signalled;
  - an overall time limit (SIGALRM): a test that runs too long reports
    "not ok - ... timed out" and cleans up like any other;
  - prints "ok - ..." / "not ok - ..." lines, on failure the tails of the
    daemons' logs, and last the line "NAME: N passed, M failed".
Exit status (automake's test driver): 0 all passed, 1 a check failed,
77 skipped (an outside tool is missing: "SKIP: <tool> missing"),
99 the harness itself could not run (backend did not start, no binary).

Run one test: make check TESTS=tests/integration/h1_to_h1_basic.py, or
GW_BIN=./hanzo-gateway tests/integration/h1_to_h1_basic.py

Environment:
  GW_BIN           the daemon to test (make check sets it)
  GW_SRCDIR        the source tree (make check sets it; unused here)
  GW_TEST_KEEP=1   keep the temp dir
  GW_TEST_WORKERS  --workers for the daemon (default 2)
  GW_TEST_DAEMON=host:port
                   do not start the daemon: write the config, print how
                   to start it (e.g. under gdb) on that port, and wait
                   for its /__health (GW_TEST_DAEMON_WAIT s, default 120)
  GW_TEST_RSS_LIMIT_MIB  the RSS bound of the memory checks (default 64)
"""
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = "/usr/bin/python3"
sys.path.insert(0, HERE)
import backend as _backend  # noqa: E402  (same directory)

pattern_chunks = _backend.pattern_chunks
pattern_sha256 = _backend.pattern_sha256


class Skip(Exception):
    """An outside tool is missing: the test is skipped (77)."""


class HarnessError(Exception):
    """The harness could not set the test up (99)."""


class Abort(Exception):
    """A failure already reported makes going on pointless."""


class Timeout(Exception):
    """The test's overall time limit passed."""


class Interrupted(Timeout):
    """SIGTERM, SIGINT: end the test as a failure, cleaning up."""


def need_module(name):
    try:
        __import__(name)
    except ImportError:
        raise Skip("%s missing (python module %s for %s)" %
                   (name, name, PYTHON))


def need_tool(name):
    path = shutil.which(name)
    if path is None:
        raise Skip("%s missing" % name)
    return path


def free_port(host="127.0.0.1"):
    """A port that was free a moment ago (bind to port 0, then close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def tail(path, lines=30):
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return ""
    text = data.decode("utf-8", "replace").rstrip("\n").split("\n")
    return "\n".join(text[-lines:])


# --- processes -------------------------------------------------------------

class Proc:
    """A child process this test started; stopped only by its PID."""

    def __init__(self, name, argv, cwd, out, err, env=None):
        self.name = name
        self.argv = argv
        self.out = out
        self.err = err
        with open(out, "ab") as fo, open(err, "ab") as fe:
            # setsid(): a ^C in the terminal reaches the test only,
            # which stops its children itself.
            self.popen = subprocess.Popen(
                argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=fo,
                stderr=fe, env=env, start_new_session=True)
        self.pid = self.popen.pid
        self.exit_status = None

    def alive(self):
        return self.popen.poll() is None

    def stop(self, grace=5.0):
        """SIGTERM, then SIGKILL after `grace` s.  Returns the exit status
        (negative: killed by that signal) and whether TERM sufficed."""
        if self.popen.poll() is None:
            try:
                self.popen.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                try:
                    self.popen.kill()
                except ProcessLookupError:
                    pass
                self.popen.wait(5)
                self.exit_status = self.popen.returncode
                return self.exit_status, False
        self.exit_status = self.popen.returncode
        return self.exit_status, True


class Backend:
    def __init__(self, suite, name, host):
        self.suite = suite
        self.name = name
        self.host = host
        d = suite.tmp
        self.port_file = os.path.join(d, name + ".port")
        self.log = os.path.join(d, name + ".log")
        self.proc = Proc("backend " + name,
                         [PYTHON, os.path.join(HERE, "backend.py"),
                          "--host", host, "--port-file", self.port_file,
                          "--log", self.log, "--name", name],
                         d, os.path.join(d, name + ".out"),
                         os.path.join(d, name + ".err"))
        deadline = time.monotonic() + 10
        while not os.path.exists(self.port_file):
            if not self.proc.alive():
                raise HarnessError("backend %s exited at start:\n%s" %
                                   (name, tail(self.proc.err)))
            if time.monotonic() > deadline:
                raise HarnessError("backend %s wrote no port file in 10 s"
                                   % name)
            time.sleep(0.02)
        with open(self.port_file) as f:
            self.port = int(f.read())
        self.url = "http://%s:%d" % (host, self.port)

    def stats(self):
        r = request(self.port, "GET", "/__backend_stats", host=self.host,
                    timeout=5)
        if r.status != 200:
            raise HarnessError("backend %s stats: %d" % (self.name,
                                                         r.status))
        return r.json()


class Gateway:
    def __init__(self, port, proc, config_path, host="127.0.0.1"):
        self.port = port
        self.proc = proc
        self.host = host
        self.config_path = config_path
        self.pid = proc.pid if proc is not None else None

    def fds(self):
        """Descriptors the daemon holds, or -1 if unknown."""
        try:
            return len(os.listdir("/proc/%d/fd" % self.pid))
        except (OSError, TypeError):
            return -1

    def rss_kib(self):
        """VmRSS of the daemon in KiB, or None if unknown."""
        if self.pid is None:
            return None
        try:
            with open("/proc/%d/status" % self.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (OSError, ValueError):
            return None
        return None


class RssSampler:
    """Samples a daemon's VmRSS every `interval` s in a thread:
        with RssSampler(gw) as s: ...transfer...
        s.max_kib"""

    def __init__(self, gw, interval=0.02):
        self.gw = gw
        self.interval = interval
        self.samples = []
        self._stop = threading.Event()
        self._thr = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            v = self.gw.rss_kib()
            if v is not None:
                self.samples.append(v)
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thr.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thr.join(2)

    @property
    def max_kib(self):
        return max(self.samples) if self.samples else None


def binary_is_sanitized(path):
    """True if the binary was built with AddressSanitizer (its RSS is
    then no measure of the gateway's own memory use)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


# --- HTTP/1.1 over raw sockets -------------------------------------------

class Response:
    def __init__(self, status=0, reason="", version="", headers=None,
                 body=b""):
        self.status = status
        self.reason = reason
        self.version = version
        self.headers = headers or []     # [(name, value)] as received
        self.body = body

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<%s %d, %d body bytes>" % (self.version, self.status,
                                          len(self.body))


class ProtocolError(Exception):
    pass


def connect(port, host="127.0.0.1", src=None, timeout=10.0, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    if src is not None:
        s.bind((src, 0))
    s.settimeout(timeout)
    s.connect((host, port))
    return s


class H1Conn:
    """One client connection; requests are raw bytes, responses parsed.
    Every read has a deadline (socket timeout)."""

    def __init__(self, port, host="127.0.0.1", src=None, timeout=10.0,
                 rcvbuf=None, sock=None):
        self.sock = sock or connect(port, host, src, timeout, rcvbuf)
        self.sock.settimeout(timeout)
        self.buf = bytearray()
        self.eof = False
        self.host = "%s:%d" % (host, port)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_request(self, method, path, headers=(), body=b"",
                     close=False):
        lines = ["%s %s HTTP/1.1" % (method, path)]
        names = {k.lower() for k, _ in headers}
        if "host" not in names:
            lines.append("Host: " + self.host)
        lines += ["%s: %s" % (k, v) for k, v in headers]
        if body and "content-length" not in names and \
                "transfer-encoding" not in names:
            lines.append("Content-Length: %d" % len(body))
        if close:
            lines.append("Connection: close")
        self.send(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") +
                  body)

    def _fill(self):
        """Reads more bytes into buf; False at EOF."""
        if self.eof:
            return False
        try:
            data = self.sock.recv(256 * 1024)
        except ConnectionResetError:
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _line(self, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line = bytes(self.buf[:i + 1])
                del self.buf[:i + 1]
                return line
            if len(self.buf) > limit:
                raise ProtocolError("line longer than %d bytes" % limit)
            if not self._fill():
                raise ProtocolError("connection closed in a line (%d "
                                    "bytes buffered)" % len(self.buf))

    def _take(self, n):
        while len(self.buf) < n:
            if not self._fill():
                raise ProtocolError("connection closed %d bytes before "
                                    "the end of the body" %
                                    (n - len(self.buf)))
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def read_head(self):
        """Reads a response head, skipping 1xx.  Returns a Response
        without body.  Raises ProtocolError if the connection closes."""
        while True:
            line = self._line()
            if not line.strip():
                continue      # tolerate stray CRLF between messages
            parts = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
            if len(parts) < 2 or not parts[0].startswith("HTTP/"):
                raise ProtocolError("bad status line %r" % line)
            r = Response(int(parts[1]), parts[2] if len(parts) > 2 else "",
                         parts[0])
            while True:
                h = self._line()
                if h in (b"\r\n", b"\n"):
                    break
                k, _, v = h.decode("latin-1").partition(":")
                r.headers.append((k, v.strip()))
            if 100 <= r.status < 200 and r.status != 101:
                continue
            return r

    def body_iter(self, r, head_request=False):
        """Yields (time.monotonic(), bytes) as body bytes arrive."""
        if head_request or r.status in (204, 304) or 100 <= r.status < 200:
            return
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if "chunked" in te:
            while True:
                line = self._line(4096)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise ProtocolError("bad chunk size line %r" % line)
                if size == 0:
                    while self._line(8192) not in (b"\r\n", b"\n"):
                        pass
                    return
                left = size
                while left > 0:
                    if not self.buf and not self._fill():
                        raise ProtocolError("connection closed in a chunk")
                    n = min(left, len(self.buf))
                    data = bytes(self.buf[:n])
                    del self.buf[:n]
                    left -= n
                    yield time.monotonic(), data
                if self._line(16) not in (b"\r\n", b"\n"):
                    raise ProtocolError("no CRLF after a chunk")
        elif cl is not None:
            left = int(cl)
            while left > 0:
                if not self.buf and not self._fill():
                    raise ProtocolError("connection closed %d bytes before "
                                        "the end of the body" % left)
                n = min(left, len(self.buf))
                data = bytes(self.buf[:n])
                del self.buf[:n]
                left -= n
                yield time.monotonic(), data
        else:
            while True:
                if self.buf:
                    data = bytes(self.buf)
                    self.buf.clear()
                    yield time.monotonic(), data
                if not self._fill():
                    return

    def read_response(self, head_request=False):
        r = self.read_head()
        r.body = b"".join(d for _, d in self.body_iter(r, head_request))
        return r

    def closed_by_peer(self, timeout=2.0):
        """Waits up to `timeout` s for the peer to close (EOF or reset).
        Bytes that arrive meanwhile are kept in buf."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                self._fill()
        return True


def request(port, method, path, headers=(), body=b"", host="127.0.0.1",
            src=None, timeout=10.0):
    """One request on a new connection (Connection: close)."""
    with H1Conn(port, host, src, timeout) as c:
        c.send_request(method, path, headers, body, close=True)
        return c.read_response(head_request=(method == "HEAD"))


def health_ok(port, host="127.0.0.1", timeout=1.0):
    try:
        r = request(port, "GET", "/__health", host=host, timeout=timeout)
        return r.status == 200
    except (OSError, ProtocolError, ValueError):
        return False


# --- curl ----------------------------------------------------------------

class CurlResult(Response):
    def __init__(self):
        super().__init__()
        self.rc = None
        self.http_version = ""
        self.stderr = ""


def curl(suite, args, timeout=30, stdin=None):
    """Runs curl; returns a CurlResult with the last response's status,
    headers, body and %{http_version}.  rc != 0 is a transport error."""
    exe = need_tool("curl")
    n = suite.next_id()
    hdr = os.path.join(suite.tmp, "curl%d.hdr" % n)
    out = os.path.join(suite.tmp, "curl%d.body" % n)
    argv = [exe, "-sS", "--max-time", str(timeout), "-D", hdr, "-o", out,
            "-w", "%{http_code} %{http_version}"] + list(args)
    res = CurlResult()
    try:
        p = subprocess.run(argv, stdin=stdin if stdin is not None else
                           subprocess.DEVNULL, capture_output=True,
                           timeout=timeout + 10)
    except subprocess.TimeoutExpired:
        res.rc = -1
        res.stderr = "curl did not end in %d s" % (timeout + 10)
        return res
    res.rc = p.returncode
    res.stderr = p.stderr.decode("utf-8", "replace")
    w = p.stdout.decode().split()
    if len(w) == 2:
        res.status = int(w[0])
        res.http_version = w[1]
    try:
        with open(hdr, "rb") as f:
            blocks = f.read().decode("latin-1").replace("\r\n", "\n")
        # The last head (after 1xx and redirects).
        heads = [b for b in blocks.split("\n\n") if b.startswith("HTTP/")]
        if heads:
            lines = heads[-1].split("\n")
            res.version = lines[0].split(" ")[0]
            for ln in lines[1:]:
                k, _, v = ln.partition(":")
                if k:
                    res.headers.append((k, v.strip()))
        with open(out, "rb") as f:
            res.body = f.read()
    except OSError:
        pass
    return res


# --- HTTP/2 client (python3-h2) --------------------------------------------

class H2Stream:
    def __init__(self, sid):
        self.id = sid
        self.status = None
        self.headers = []
        self.chunks = []          # (time.monotonic(), bytes)
        self.ended = False
        self.reset = None         # error code if reset
        self.started = time.monotonic()
        self.to_send = b""
        self.send_end = False

    @property
    def body(self):
        return b"".join(d for _, d in self.chunks)

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    @property
    def done(self):
        return self.ended or self.reset is not None


class H2Client:
    """A small HTTP/2 client over one socket (prior knowledge, h2c).
    Received data is acknowledged at once, so flow control never stalls
    the server; every wait has a deadline."""

    def __init__(self, port, host="127.0.0.1", timeout=10.0, window=1 << 24):
        need_module("h2")
        import h2.config
        import h2.connection
        import h2.events
        import h2.settings
        self.ev = h2.events
        self.sock = connect(port, host, timeout=timeout)
        self.sock.setblocking(False)
        self.authority = "%s:%d" % (host, port)
        cfg = h2.config.H2Configuration(client_side=True,
                                        header_encoding="utf-8")
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        self.conn.update_settings({
            h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window,
            h2.settings.SettingCodes.ENABLE_PUSH: 0})
        self.conn.increment_flow_control_window(window)
        self.streams = {}
        self.settings_received = False
        self.goaway = None
        self.closed = False
        self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def flush(self, deadline=None):
        data = self.conn.data_to_send()
        view = memoryview(data)
        deadline = deadline or time.monotonic() + 10
        while view and not self.closed:
            try:
                n = self.sock.send(view)
                view = view[n:]
            except (BrokenPipeError, ConnectionResetError):
                self.closed = True
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise Timeout("h2: could not send for 10 s")
                select.select([], [self.sock], [], 0.1)
                # reading meanwhile keeps a server that waits for us going
                self._read_once(0)

    @property
    def max_concurrent(self):
        return self.conn.remote_settings.max_concurrent_streams

    def open_streams(self):
        return self.conn.open_outbound_streams

    def start(self, method, path, headers=(), body=b""):
        sid = self.conn.get_next_available_stream_id()
        hdrs = [(":method", method), (":scheme", "http"),
                (":authority", self.authority), (":path", path)]
        hdrs += [(k.lower(), v) for k, v in headers]
        if body:
            hdrs.append(("content-length", str(len(body))))
        st = H2Stream(sid)
        self.streams[sid] = st
        self.conn.send_headers(sid, hdrs, end_stream=not body)
        st.to_send = bytes(body)
        st.send_end = bool(body)
        self._send_bodies()
        self.flush()
        return st

    def _send_bodies(self):
        for st in self.streams.values():
            while st.send_end and not st.done:
                win = min(self.conn.local_flow_control_window(st.id),
                          self.conn.max_outbound_frame_size)
                if win <= 0 and st.to_send:
                    break
                part, st.to_send = st.to_send[:win], st.to_send[win:]
                self.conn.send_data(st.id, part,
                                    end_stream=not st.to_send)
                if not st.to_send:
                    st.send_end = False

    def _read_once(self, timeout):
        try:
            r, _, _ = select.select([self.sock], [], [], timeout)
        except ValueError:
            return False
        if not r:
            return False
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return False
        except OSError:
            data = b""
        if not data:
            self.closed = True
            return True
        now = time.monotonic()
        for e in self.conn.receive_data(data):
            self._event(e, now)
        self._send_bodies()
        return True

    def _event(self, e, now):
        ev = self.ev
        st = self.streams.get(getattr(e, "stream_id", None))
        if isinstance(e, ev.ResponseReceived) and st:
            st.headers = [(k, v) for k, v in e.headers]
            st.status = int(dict(st.headers).get(":status", 0))
        elif isinstance(e, ev.TrailersReceived) and st:
            st.headers += list(e.headers)
        elif isinstance(e, ev.DataReceived):
            if st:
                st.chunks.append((now, e.data))
            self.conn.acknowledge_received_data(e.flow_controlled_length,
                                                e.stream_id)
        elif isinstance(e, ev.StreamEnded) and st:
            st.ended = True
        elif isinstance(e, ev.StreamReset) and st:
            st.reset = e.error_code
        elif isinstance(e, ev.RemoteSettingsChanged):
            self.settings_received = True
        elif isinstance(e, ev.ConnectionTerminated):
            self.goaway = e.error_code
            self.closed = True

    def pump(self, timeout):
        """Processes what arrives within `timeout` s (returns early after
        the first read)."""
        got = self._read_once(timeout)
        self.flush()
        return got

    def wait(self, pred, timeout):
        deadline = time.monotonic() + timeout
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return pred()
            self.pump(min(left, 0.5))
        return True

    def request(self, method, path, headers=(), body=b"", timeout=10):
        st = self.start(method, path, headers, body)
        self.wait(lambda: st.done, timeout)
        return st


# --- the suite -----------------------------------------------------------

class Suite:
    def __init__(self, name, timeout):
        self.name = name
        self.timeout = timeout
        self.passed = 0
        self.failed = 0
        self.procs = []
        self.backends = []
        self.gateways = []
        self._id = 0
        self.tmp = tempfile.mkdtemp(prefix="gwtest-%s." % name)
        self.bin = os.environ.get("GW_BIN") or os.path.join(
            HERE, "..", "..", "hanzo-gateway")
        self.daemon = os.environ.get("GW_TEST_DAEMON")
        self.workers = os.environ.get("GW_TEST_WORKERS", "2")
        self.rss_limit_kib = int(os.environ.get("GW_TEST_RSS_LIMIT_MIB",
                                                "64")) * 1024

    def next_id(self):
        self._id += 1
        return self._id

    # --- reporting ---------------------------------------------------
    def ok(self, cond, desc, detail=None):
        if cond:
            self.passed += 1
            print("ok - %s" % desc, flush=True)
        else:
            self.failed += 1
            print("not ok - %s" % desc, flush=True)
            if detail:
                for line in str(detail).split("\n"):
                    print("#   %s" % line)
                sys.stdout.flush()
        return bool(cond)

    def eq(self, got, want, desc):
        return self.ok(got == want, desc, "got %r, want %r" % (got, want))

    def note(self, msg):
        for line in str(msg).split("\n"):
            print("# %s" % line)
        sys.stdout.flush()

    def must(self, cond, desc, detail=None):
        """As ok(); a failure ends the test (later checks depend on it)."""
        if not self.ok(cond, desc, detail):
            raise Abort(desc)

    # --- processes ---------------------------------------------------
    def start_backend(self, name=None, host="127.0.0.1"):
        name = name or "b%d" % (len(self.backends) + 1)
        b = Backend(self, name, host)
        self.procs.append(b.proc)
        self.backends.append(b)
        return b

    def start_gateway(self, cfg, workers=None, start_timeout=10.0):
        """Writes cfg (a dict; its port and listen_ip are set here) and
        starts the daemon on a free port; waits (bounded) until GET
        /__health answers 200.  If the daemon exits or never answers, the
        failure is reported with its stderr and the test ends."""
        if self.daemon:
            return self._external_gateway(cfg)
        if not (os.path.isfile(self.bin) and os.access(self.bin, os.X_OK)):
            raise HarnessError("no gateway binary at %s (set GW_BIN)" %
                               self.bin)
        n = len(self.gateways) + 1
        for attempt in range(3):
            port = free_port()
            cfg = dict(cfg, port=port, listen_ip="127.0.0.1")
            path = os.path.join(self.tmp, "gw%d.json" % n)
            with open(path, "w") as f:
                json.dump(cfg, f, indent=2)
            out = os.path.join(self.tmp, "gw%d.out" % n)
            err = os.path.join(self.tmp, "gw%d.err" % n)
            argv = [self.bin, "run", "-c", path,
                    "--workers", str(workers or self.workers)]
            p = Proc("gateway", argv, self.tmp, out, err)
            self.procs.append(p)
            gw = Gateway(port, p, path)
            self.gateways.append(gw)
            deadline = time.monotonic() + start_timeout
            while p.alive() and time.monotonic() < deadline:
                if health_ok(port):
                    self.ok(True, "gateway %d starts and answers GET "
                            "/__health (port %d)" % (n, port))
                    return gw
                time.sleep(0.05)
            if p.alive():
                p.stop()
                why = "no 200 from GET /__health within %.0f s" % \
                    start_timeout
            else:
                why = "exited with status %s" % p.popen.returncode
                errtext = tail(err, 60) + tail(out, 60)
                if "in use" in errtext.lower() and attempt < 2:
                    self.note("port %d was taken meanwhile; retrying" %
                              port)
                    continue
            self.ok(False, "gateway %d starts and answers GET /__health" %
                    n, "%s\ncommand: %s\nstderr:\n%s\nstdout:\n%s" %
                    (why, " ".join(argv), tail(err, 40), tail(out, 20)))
            raise Abort("gateway did not start")
        raise Abort("gateway did not start")

    def _external_gateway(self, cfg):
        host, _, port = self.daemon.rpartition(":")
        host = host or "127.0.0.1"
        port = int(port)
        cfg = dict(cfg, port=port, listen_ip=host)
        path = os.path.join(self.tmp, "gw%d.json" % (len(self.gateways) + 1))
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
        wait = float(os.environ.get("GW_TEST_DAEMON_WAIT", "120"))
        signal.alarm(int(self.timeout + wait))
        self.note("GW_TEST_DAEMON: start the daemon yourself, e.g.\n"
                  "  gdb --args %s run -c %s --workers 1\n"
                  "waiting up to %.0f s for http://%s:%d/__health" %
                  (self.bin, path, wait, host, port))
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if health_ok(port, host):
                gw = Gateway(port, None, path, host)
                self.gateways.append(gw)
                self.ok(True, "external gateway answers GET /__health")
                return gw
            time.sleep(0.2)
        self.ok(False, "external gateway answers GET /__health",
                "nothing on %s:%d" % (host, port))
        raise Abort("no gateway")

    def stop_gateway(self, gw, check_exit=True, grace=12.0):
        """Stops a gateway (TERM, KILL after `grace` s, which exceeds
        the daemon's own 10 s shutdown grace) and checks it exited 0."""
        if gw.proc is None:
            return
        t0 = time.monotonic()
        status, graceful = gw.proc.stop(grace)
        if check_exit:
            self.ok(graceful and status == 0,
                    "gateway exits 0 on SIGTERM (%.1f s)" %
                    (time.monotonic() - t0),
                    "exit status %s%s\nstderr:\n%s" %
                    (status, "" if graceful else " after SIGKILL",
                     tail(gw.proc.err, 20)))

    def stop_all(self):
        for p in reversed(self.procs):
            try:
                p.stop(5.0)
            except Exception as e:  # cleanup must go on
                print("# stopping %s (pid %d): %s" % (p.name, p.pid, e))

    def held_then_freed(self, gw, base, conns, what, timeout=5.0):
        """Checks that the client connections `conns` (with close()) hold
        a descriptor each in the daemon, which had `base` before them,
        and that once closed they are noticed and freed."""
        self.ok(gw.fds() >= base + len(conns), "%d %s held open" %
                (len(conns), what), "%d descriptors, %d before" %
                (gw.fds(), base))
        for c in conns:
            c.close()
        deadline = time.monotonic() + timeout
        while gw.fds() > base and time.monotonic() < deadline:
            time.sleep(0.05)
        self.ok(gw.fds() <= base, "closed %s are freed" % what,
                "%d descriptors, %d before" % (gw.fds(), base))

    def kib_per_conn(self, gw, open_one, n, settle):
        """KiB of daemon RSS per connection over n made by open_one()
        and left alone `settle` s; returns (KiB, connections), or
        (None, []) for a sanitized binary, whose allocator pads all."""
        if binary_is_sanitized(os.environ.get("GW_BIN", "")):
            self.note("sanitized binary: memory per connection not "
                      "measured")
            return None, []
        rss0 = gw.rss_kib()
        conns = [open_one(i) for i in range(n)]
        time.sleep(settle)
        return (gw.rss_kib() - rss0) / float(n), conns

    # --- config ------------------------------------------------------
    @staticmethod
    def endpoint(path, url_pattern, backend, method="GET", **kw):
        """One endpoint with one backend.  backend: a Backend or a URL."""
        host = backend.url if isinstance(backend, Backend) else backend
        be = {"url_pattern": url_pattern, "host": [host],
              "encoding": "no-op"}
        be.update(kw.pop("backend_extra", {}))
        ep = {"endpoint": path, "method": method, "output_encoding": "no-op",
              "backend": [be]}
        ep.update(kw)
        return ep

    @staticmethod
    def config(endpoints, **top):
        cfg = {
            "version": 3,
            "name": "integration test",
            "timeout": "10s",
            "output_encoding": "no-op",
            "extra_config": {
                "router": {"return_error_msg": True},
                "telemetry/logging": {"level": "INFO", "stdout": True},
            },
            "endpoints": endpoints,
        }
        cfg.update(top)
        return cfg

    # --- HTTP helpers bound to the suite -----------------------------
    def request(self, port, method, path, headers=(), body=b"", **kw):
        return request(port, method, path, headers, body, **kw)

    def curl(self, args, timeout=30, stdin=None):
        return curl(self, args, timeout, stdin)

    # --- end ---------------------------------------------------------
    def dump_logs(self):
        for gw in self.gateways:
            if gw.proc is not None:
                self.note("--- gateway (pid %s) stderr, last lines:\n%s" %
                          (gw.pid, tail(gw.proc.err, 30)))
                self.note("--- gateway stdout, last lines:\n%s" %
                          tail(gw.proc.out, 30))
        for b in self.backends:
            self.note("--- backend %s log, last lines:\n%s" %
                      (b.name, tail(b.log, 15)))
        if os.environ.get("GW_TEST_KEEP"):
            self.note("files kept in %s" % self.tmp)


def _last_resort(suite, name):
    for p in (suite.procs if suite else []):
        try:
            os.kill(p.pid, signal.SIGKILL)
        except OSError:
            pass
    print("not ok - %s cleaned up within 30 s" % name)
    print("%s: %d passed, %d failed" % (name, suite.passed if suite else 0,
                                        (suite.failed if suite else 0) + 1))
    sys.stdout.flush()
    os._exit(1)


def _on_alarm(signum, frame):
    raise Timeout()


def _on_term(signum, frame):
    raise Interrupted("signal %d" % signum)


def main(name, fn, timeout=120):
    """Runs fn(suite) with the harness around it and exits."""
    suite = None
    code = 0
    try:
        signal.signal(signal.SIGALRM, _on_alarm)
        signal.signal(signal.SIGTERM, _on_term)
        signal.signal(signal.SIGINT, _on_term)
        signal.alarm(timeout)
        suite = Suite(name, timeout)
        try:
            fn(suite)
        except Abort:
            pass
        except Interrupted as e:
            suite.ok(False, "%s ran to its end (interrupted by %s)" %
                     (name, e))
        except Timeout as e:
            suite.ok(False, "%s finished within its %d s limit" %
                     (name, timeout), str(e) or None)
        except (Skip, HarnessError):
            raise
        except Exception:
            suite.ok(False, "%s ran without an exception" % name,
                     traceback.format_exc())
        signal.alarm(0)
    except Skip as e:
        print("SKIP: %s" % e, flush=True)
        code = 77
    except HarnessError as e:
        print("ERROR: %s" % e, flush=True)
        code = 99
    except Timeout:
        print("not ok - %s set up within its %d s limit" % (name, timeout))
        code = 1
    finally:
        signal.alarm(0)
        # Cleanup is not interrupted, but gets its own bounded time: a
        # last alarm kills what is left (by PID) and exits.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGALRM,
                      lambda s, f: _last_resort(suite, name))
        signal.alarm(30)
        if suite is not None:
            suite.stop_all()
            if suite.failed:
                suite.dump_logs()
            if not os.environ.get("GW_TEST_KEEP"):
                shutil.rmtree(suite.tmp, ignore_errors=True)
        signal.alarm(0)
    if suite is not None and code != 77:
        print("%s: %d passed, %d failed" % (name, suite.passed,
                                            suite.failed), flush=True)
        if code == 0 and suite.failed:
            code = 1
    sys.stdout.flush()
    sys.exit(code)


# --- server-sent events --------------------------------------------------

def sse_events(chunks):
    """[(arrival monotonic time, bytes)] -> [(arrival time, event JSON)]:
    an event counts as arrived with the chunk that completes it."""
    buf = b""
    out = []
    for t, data in chunks:
        buf += data
        while b"\n\n" in buf:
            ev, buf = buf.split(b"\n\n", 1)
            for line in ev.split(b"\n"):
                if line.startswith(b"data:"):
                    try:
                        out.append((t, json.loads(line[5:])))
                    except ValueError:
                        out.append((t, {"raw": line.decode("latin-1")}))
    return out


def check_sse_timing(t, events, n, interval, t_request, label):
    """Checks that n events sent `interval` s apart arrived one by one as
    they were sent, not buffered: in order, the first soon after the
    request, the median gap between arrivals near `interval`, the span
    from first to last most of (n-1)*interval, and each event delivered
    soon after the backend stamped it."""
    wall = time.time() - time.monotonic()
    t.eq([e.get("i") for _, e in events], list(range(n)),
         "%s: %d events, in order" % (label, n))
    if len(events) < 3:
        return
    arr = [a for a, _ in events]
    gaps = sorted(b - a for a, b in zip(arr, arr[1:]))
    median = gaps[len(gaps) // 2]
    span = arr[-1] - arr[0]
    lat = [a + wall - e.get("t", 0) for a, e in events]
    detail = "arrival gaps (ms): %s" % ", ".join(
        "%.0f" % (1000 * (b - a)) for a, b in zip(arr, arr[1:]))
    t.ok(arr[0] - t_request < 0.5,
         "%s: first event within 0.5 s of the request (%.0f ms)" %
         (label, 1000 * (arr[0] - t_request)))
    t.ok(0.6 * interval <= median <= 1.6 * interval,
         "%s: median gap %.0f ms is %.0f-%.0f ms" %
         (label, 1000 * median, 600 * interval, 1600 * interval), detail)
    t.ok(span >= 0.65 * (n - 1) * interval,
         "%s: first and last event %.0f ms apart (not buffered)" %
         (label, 1000 * span), detail)
    t.ok(max(lat) < 0.5,
         "%s: each event delivered within 0.5 s of being sent (max %.0f "
         "ms)" % (label, 1000 * max(lat)),
         "latencies (ms): %s" % ", ".join("%.0f" % (1000 * x) for x in lat))
