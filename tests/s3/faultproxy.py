#!/usr/bin/env python3
"""faultproxy.py - a fault-injecting HTTP/1.1 proxy in front of an S3 server.

    faultproxy.py --upstream HOST:PORT --state DIR [--listen HOST] [--verify KEY:SECRET]
                  [--region REGION]

Listens on --listen (default 127.0.0.1) on two free ports and writes them to
DIR/proxy.port (the S3 endpoint: give this one to clients) and
DIR/control.port (the control port).  Python 3 standard library only.

Data port: every request is forwarded to --upstream as it came (method,
request target byte for byte, every header including Host, so SigV4
signatures computed by the client still hold), over one keep-alive
connection per client connection; bodies stream both ways (Content-Length or
chunked).  Requests are counted, and faults are applied, before forwarding.

What the proxy adds to s3rver 3.7.1 (see the findings in tests/s3/server),
each answered the way AWS S3 answers:
  * SigV4 verification (--verify KEY:SECRET): s3rver checks only that the
    access key exists.  The proxy recomputes the Authorization header's
    signature (canonical URI and query re-encoded the RFC 3986 way, signed
    headers, the x-amz-content-sha256 value as payload hash) and answers 403
    SignatureDoesNotMatch (or InvalidAccessKeyId, AuthorizationHeaderMalformed
    for another region, AccessDenied when unsigned).  Not checked: the body
    against x-amz-content-sha256, the clock skew, presigned (query) signatures
    (passed through).
  * If-Match on GET/HEAD: s3rver ignores it.  The proxy compares it with the
    ETag of s3rver's own answer for that request and, when none matches,
    drops the body and answers 412 PreconditionFailed.
  * "Range: bytes=A-B" is honoured exactly: s3rver answers bytes=0-0 with the
    whole object (it reads end 0 as "no end"); the proxy trims such a body to
    the bytes asked for and corrects Content-Range and Content-Length.
Turn these off with GET /set?verify=0, ?ifmatch=0, ?rangefix=0 (default on).
  * Temporary keys: after GET /token?value=T, a request without the header
    "x-amz-security-token: T" is answered 400 ExpiredToken, as S3 answers
    one whose session token has expired (GET /token with no value: off).

Control port (plain HTTP, answers text/plain; use curl):
  GET /fault?kind=KIND&n=N[&match=SUBSTR][&seconds=S][&after=K]
        arm a fault for the next N data requests whose request target
        (path?query, as sent, still %-encoded) contains SUBSTR (default: all).
        KIND is one of
          500    answer 500 InternalError (S3 XML error body), not forwarded
          503    answer 503 SlowDown (S3 XML error body), not forwarded
          429    answer 429 TooManyRequests (S3 XML error body), not forwarded
          stall  wait S seconds (default 5), then forward as usual
          reset  forward, send the status line, headers and K bytes of the body
                 (default 0), then close the connection; after=-1 closes
                 without any answer (not forwarded)
        Faults armed earlier fire first; each fault counts down its own N.
  GET /clear        disarm every fault
  GET /down         stop listening (new connections are refused) and close
                    every open client connection, as a stopped server would
  GET /up           listen again on the same port
  GET /count[?method=M][&match=SUBSTR]
                    the number of data requests seen (faulted ones included)
                    whose method is M and whose request target contains SUBSTR
  GET /log          every data request seen, one a line: METHOD TARGET OUTCOME
                    (OUTCOME: the status answered, or fault:KIND)
  GET /trace        the same requests with their timing, one a line:
                    START END METHOD TARGET RANGE OUTCOME, START and END in
                    ms since the proxy started (the request's headers read;
                    the answer's last byte sent), RANGE the Range header or -
  GET /zero         forget the requests seen (counts start again at 0)
  GET /set?verify=0|1&ifmatch=0|1&rangefix=0|1
  GET /latency?ms=M  emulate a network round trip of M milliseconds (default
                    0: none) between the clients and the store, for every
                    data request from then on:
                      * each request's answer (status line, headers, body) is
                        held back M ms after the request line and headers have
                        been read, before it is forwarded upstream (or faulted): the request's
                        way there and the answer's first byte's way back, one
                        round trip on top of what the server takes;
                      * the first request of each new client connection waits
                        M ms more (2 M in all): the TCP handshake's round trip
                        before the client could send it.  (Plain HTTP: no TLS
                        handshake, which would add 1-2 more on a real store.)
                    What it does not emulate: bandwidth and TCP's
                    bandwidth-delay behaviour (slow start, window limits per
                    connection): once the answer starts, its body streams at
                    the local speed.  So it measures how many round trips a
                    client waits for, one after another, not how fast one
                    connection can go over a long link.
  GET /status       up/down, armed faults, settings, latency
"""

import argparse
import datetime
import hashlib
import hmac
import http.client
import http.server
import os
import re
import select
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
       "proxy-authorization", "te", "trailer", "trailers", "transfer-encoding",
       "upgrade"}
ERRORS = {
    "500": (500, "Internal Server Error", "InternalError",
            "We encountered an internal error. Please try again."),
    "503": (503, "Slow Down", "SlowDown", "Please reduce your request rate."),
    "429": (429, "Too Many Requests", "TooManyRequests",
            "Please reduce your request rate."),
}
PIECE = 65536


class State:
    def __init__(self, upstream, verify, region):
        self.lock = threading.Lock()
        self.upstream = upstream
        self.faults = []  # dicts: kind, n, match, seconds, after
        self.log = []  # (method, target, outcome)
        self.times = []  # (start, end, range) of each logged request
        self.t0 = time.monotonic()
        self.key, self.secret = (verify.split(":", 1) if verify else (None, None))
        self.region = region
        self.settings = {"verify": bool(verify), "ifmatch": True, "rangefix": True}
        self.down = False
        self.clients = set()  # open client sockets
        self.latency = 0.0  # emulated round trip, seconds (GET /latency)
        self.token = None  # the session token requests must carry (GET /token)

    def take_fault(self, target):
        with self.lock:
            for f in self.faults:
                if f["n"] > 0 and f["match"] in target:
                    f["n"] -= 1
                    return dict(f)
            return None

    def record(self, method, target, rng=None):
        with self.lock:
            self.log.append([method, target, "-"])
            self.times.append([time.monotonic(), None, rng or "-"])
            return len(self.log) - 1

    def done(self, i):
        with self.lock:
            if i < len(self.times):
                self.times[i][1] = time.monotonic()

    def outcome(self, i, what):
        with self.lock:
            if i < len(self.log):
                self.log[i][2] = str(what)


def s3_error_body(code, message, resource=""):
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code>"
            "<Message>%s</Message><Resource>%s</Resource><RequestId>faultproxy"
            "</RequestId></Error>" % (code, message, resource)).encode()


# ---- SigV4 ------------------------------------------------------------------

def rfc3986(s):
    return urllib.parse.quote(s, safe="-_.~")


def canonical_query(raw):
    pairs = []
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        pairs.append((rfc3986(urllib.parse.unquote(name)),
                      rfc3986(urllib.parse.unquote(value))))
    pairs.sort()
    return "&".join("%s=%s" % p for p in pairs)


def check_sigv4(state, method, target, headers):
    """None when the request's signature holds, else (status, code, message)."""
    auth = headers.get("Authorization")
    if auth is None:
        path, _, query = target.partition("?")
        if "X-Amz-Signature=" in query or "Signature=" in query:
            return None  # presigned: not verified here
        return (403, "AccessDenied", "Access Denied")
    m = re.match(r"AWS4-HMAC-SHA256\s+Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,\s*"
                 r"SignedHeaders=([^,]+),\s*Signature=([0-9a-f]{64})\s*$", auth)
    if not m:
        return (400, "AuthorizationHeaderMalformed", "The authorization header is malformed")
    key, day, region, service, signed, sig = m.groups()
    if key != state.key:
        return (403, "InvalidAccessKeyId",
                "The AWS Access Key Id you provided does not exist in our records.")
    if region != state.region or service != "s3":
        return (400, "AuthorizationHeaderMalformed",
                "The authorization header is malformed; the region '%s' is wrong; expecting '%s'"
                % (region, state.region))
    amzdate = headers.get("x-amz-date", "")
    payload = headers.get("x-amz-content-sha256")
    if payload is None:
        return (400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
    path, _, query = target.partition("?")
    curi = "/".join(rfc3986(urllib.parse.unquote(seg)) for seg in path.split("/"))
    names = signed.split(";")
    if "host" not in names:
        return (403, "SignatureDoesNotMatch", "host is not a signed header")
    lines = []
    for n in names:
        vals = headers.get_all(n)
        if vals is None:
            return (403, "SignatureDoesNotMatch", "signed header %s is missing" % n)
        lines.append("%s:%s\n" % (n, ",".join(re.sub(r"\s+", " ", v.strip()) for v in vals)))
    creq = "\n".join([method, curi, canonical_query(query), "".join(lines), signed, payload])
    scope = "%s/%s/%s/aws4_request" % (day, region, service)
    sts = "\n".join(["AWS4-HMAC-SHA256", amzdate, scope,
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + state.secret).encode()
    for part in (day, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, sig):
        return (403, "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.")
    return None


def etag_matches(cond, etag):
    if etag is None:
        return False
    e = etag.strip().strip('"')
    for c in cond.split(","):
        c = c.strip()
        if c == "*" or c.strip('"') == e:
            return True
    return False


# ---- data port ----------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "faultproxy"
    up = None

    def log_message(self, fmt, *args):
        pass

    def setup(self):
        super().setup()
        self.fresh = True  # no request answered yet on this client connection
        with STATE.lock:
            STATE.clients.add(self.connection)

    def finish(self):
        with STATE.lock:
            STATE.clients.discard(self.connection)
        if self.up is not None:
            self.up.close()
        try:
            super().finish()
        except OSError:
            pass

    def do_any(self):
        state = STATE
        target = self.path
        i = state.record(self.command, target, self.headers.get("Range"))
        try:
            self.answer(state, target, i)
        finally:
            state.done(i)

    def answer(self, state, target, i):
        rtt = state.latency
        if rtt > 0:
            # the request's round trip, and the handshake's on a new connection
            time.sleep(2 * rtt if self.fresh else rtt)
        self.fresh = False
        fault = state.take_fault(target)
        kind = fault["kind"] if fault else None
        if kind in ERRORS:
            state.outcome(i, "fault:" + kind)
            self.drain_request()
            status, reason, code, msg = ERRORS[kind]
            self.answer_error(status, code, msg, reason)
            return
        if kind == "reset" and fault["after"] < 0:
            state.outcome(i, "fault:reset")
            self.hard_close()
            return
        if kind == "stall":
            state.outcome(i, "fault:stall")
            time.sleep(fault["seconds"])
        token = state.token
        if token is not None and self.headers.get("x-amz-security-token") != token:
            # what S3 answers a request whose temporary keys have expired
            state.outcome(i, 400)
            self.drain_request()
            self.answer_error(400, "ExpiredToken", "The provided token has expired.")
            return
        if state.settings["verify"]:
            bad = check_sigv4(state, self.command, target, self.headers)
            if bad:
                state.outcome(i, bad[0])
                self.drain_request()
                self.answer_error(bad[0], bad[1], bad[2])
                return
        try:
            resp = self.forward(target)
        except (OSError, http.client.HTTPException) as e:
            state.outcome(i, 502)
            sys.stderr.write("faultproxy: %s %s: upstream: %r\n" % (self.command, target, e))
            self.close_connection = True
            self.answer_error(502, "BadGateway", "upstream: %s" % e)
            return
        if kind != "stall":
            state.outcome(i, "fault:reset" if kind == "reset" else resp.status)
        self.relay(resp, cut=fault["after"] if kind == "reset" else None)

    do_GET = do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_PATCH = do_any

    def hard_close(self):
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def request_body(self):
        """Yields the request body in pieces as they arrive (chunked: re-chunked)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    yield b"0\r\n\r\n"
                    return
                data = self.rfile.read(size)
                self.rfile.readline(3)
                yield b"%x\r\n" % size + data + b"\r\n"
        n = int(self.headers.get("Content-Length") or 0)
        while n > 0:
            data = self.rfile.read(min(n, PIECE))
            if not data:
                raise ConnectionError("client closed mid-body")
            n -= len(data)
            yield data

    def drain_request(self):
        for _ in self.request_body():
            pass

    def answer_error(self, status, code, msg, reason=None):
        body = s3_error_body(code, msg, urllib.parse.unquote(self.path.split("?")[0]))
        try:
            self.send_response(status, reason)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def upstream(self, fresh=False):
        if self.up is not None and not fresh:
            # an idle keep-alive connection the upstream has closed reads as EOF
            sock = self.up.sock
            if sock is None or select.select([sock], [], [], 0)[0]:
                self.up.close()
                self.up = None
        if self.up is None or fresh:
            host, port = STATE.upstream
            self.up = http.client.HTTPConnection(host, port, timeout=120)
        return self.up

    def forward(self, target):
        has_body = ("Content-Length" in self.headers or
                    "chunked" in self.headers.get("Transfer-Encoding", "").lower())
        for attempt in (0, 1):
            up = self.upstream(fresh=attempt > 0)
            try:
                up.putrequest(self.command, target, skip_host=True, skip_accept_encoding=True)
                for name, value in self.headers.items():
                    if name.lower() not in HOP:
                        up.putheader(name, value)
                if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                    up.putheader("Transfer-Encoding", "chunked")
                up.endheaders()
                if has_body:
                    for piece in self.request_body():
                        up.send(piece)
                return up.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                up.close()
                self.up = None
                if has_body or attempt:
                    raise

    def relay(self, resp, cut=None):
        headers = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP]
        status, reason = resp.status, resp.reason
        length = resp.getheader("Content-Length")
        trim = None  # (skip, keep)
        if (self.command in ("GET", "HEAD") and STATE.settings["ifmatch"]
                and "If-Match" in self.headers and status in (200, 206)
                and not etag_matches(self.headers["If-Match"], resp.getheader("ETag"))):
            resp.read()  # drop s3rver's body, keep the connection
            self.answer_error(412, "PreconditionFailed",
                              "At least one of the pre-conditions you specified did not hold")
            return
        if STATE.settings["rangefix"] and status == 206 and self.headers.get("Range"):
            want = re.match(r"bytes=(\d+)-(\d+)$", self.headers["Range"].strip())
            got = re.match(r"bytes (\d+)-(\d+)/(\d+)$", resp.getheader("Content-Range") or "")
            if want and got:
                ws, we = int(want.group(1)), int(want.group(2))
                gs, ge, total = (int(x) for x in got.groups())
                if gs == ws and ge > we >= ws:
                    trim = we - ws + 1
                    headers = [(k, v) for k, v in headers
                               if k.lower() not in ("content-range", "content-length")]
                    headers += [("Content-Range", "bytes %d-%d/%d" % (ws, we, total)),
                                ("Content-Length", str(trim))]
                    length = str(trim)
        no_body = self.command == "HEAD" or status in (204, 304) or 100 <= status < 200
        chunked = not no_body and length is None
        try:
            self.send_response_only(status, reason)
            for k, v in headers:
                self.send_header(k, v)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            if resp.will_close or cut is not None:
                self.close_connection = True
            self.end_headers()
            if no_body:
                resp.read()
                self.wfile.flush()
                if cut is not None:
                    self.hard_close()
                return
            sent = 0
            while True:
                want = PIECE
                if trim is not None:
                    want = min(want, trim - sent)
                if cut is not None:
                    want = min(want, cut - sent)
                data = resp.read1(want) if want > 0 else b""
                if not data:
                    break
                sent += len(data)
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if chunked else data)
            if cut is not None:
                self.wfile.flush()
                resp.close()
                self.up = None
                self.hard_close()
                return
            # the rest (beyond a trimmed range), and marks the response done so
            # that the upstream connection can carry the next request
            resp.read()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:
            self.close_connection = True
            resp.close()
            if self.up is not None:
                self.up.close()
                self.up = None


class DataServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


# ---- control port ---------------------------------------------------------------

class Control(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def reply(self, text, status=200):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query, keep_blank_values=True).items()}
        st = STATE
        try:
            if url.path == "/fault":
                kind = q["kind"]
                if kind not in ERRORS and kind not in ("stall", "reset"):
                    return self.reply("unknown fault kind %s\n" % kind, 400)
                f = {"kind": kind, "n": int(q.get("n", 1)), "match": q.get("match", ""),
                     "seconds": float(q.get("seconds", 5)), "after": int(q.get("after", 0))}
                with st.lock:
                    st.faults.append(f)
                return self.reply("ok\n")
            if url.path == "/clear":
                with st.lock:
                    st.faults.clear()
                return self.reply("ok\n")
            if url.path == "/down":
                set_down(True)
                return self.reply("ok\n")
            if url.path == "/up":
                set_down(False)
                return self.reply("ok\n")
            if url.path == "/count":
                m, s = q.get("method", ""), q.get("match", "")
                with st.lock:
                    n = sum(1 for meth, t, _ in st.log if (not m or meth == m) and s in t)
                return self.reply("%d\n" % n)
            if url.path == "/log":
                with st.lock:
                    text = "".join("%s %s %s\n" % tuple(e) for e in st.log)
                return self.reply(text)
            if url.path == "/trace":
                with st.lock:
                    text = "".join(
                        "%.1f %s %s %s %s %s\n" % (
                            1000 * (t[0] - st.t0),
                            "-" if t[1] is None else "%.1f" % (1000 * (t[1] - st.t0)),
                            e[0], e[1], t[2].replace(" ", ""), e[2])
                        for e, t in zip(st.log, st.times))
                return self.reply(text)
            if url.path == "/zero":
                with st.lock:
                    st.log.clear()
                    st.times.clear()
                return self.reply("ok\n")
            if url.path == "/set":
                for k, v in q.items():
                    if k not in st.settings:
                        return self.reply("unknown setting %s\n" % k, 400)
                    if k == "verify" and v == "1" and st.key is None:
                        return self.reply("no --verify KEY:SECRET given\n", 400)
                    st.settings[k] = v == "1"
                return self.reply("ok\n")
            if url.path == "/token":
                with st.lock:
                    st.token = q.get("value") or None
                return self.reply("ok\n")
            if url.path == "/latency":
                ms = float(q.get("ms", 0))
                if ms < 0:
                    return self.reply("ms must be >= 0\n", 400)
                with st.lock:
                    st.latency = ms / 1000.0
                return self.reply("ok\n")
            if url.path == "/status":
                with st.lock:
                    text = "%s\nfaults %s\nsettings %s\nlatency_ms %g\n" % (
                        "down" if st.down else "up",
                        [f for f in st.faults if f["n"] > 0], st.settings,
                        st.latency * 1000)
                return self.reply(text)
            return self.reply("unknown command\n", 404)
        except (KeyError, ValueError) as e:
            return self.reply("bad request: %s\n" % e, 400)


DATA = {"server": None, "thread": None, "addr": None}
DOWN_LOCK = threading.Lock()


def start_data(addr):
    srv = DataServer(addr, Handler)
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    DATA.update(server=srv, thread=t, addr=srv.server_address)


def set_down(down):
    with DOWN_LOCK:
        if down and not STATE.down:
            srv = DATA["server"]
            srv.shutdown()
            srv.server_close()
            with STATE.lock:
                STATE.down = True
                socks = list(STATE.clients)
            for s in socks:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        elif not down and STATE.down:
            for _ in range(100):
                try:
                    start_data(DATA["addr"])
                    break
                except OSError:
                    time.sleep(0.05)
            else:
                raise OSError("cannot listen on %s:%d again" % DATA["addr"])
            with STATE.lock:
                STATE.down = False


def main():
    global STATE
    ap = argparse.ArgumentParser()
    ap.add_argument("--upstream", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--verify", default=None)
    ap.add_argument("--region", default="us-east-1")
    a = ap.parse_args()
    host, _, port = a.upstream.rpartition(":")
    STATE = State((host, int(port)), a.verify, a.region)
    start_data((a.listen, 0))
    ctl = socketserver.ThreadingTCPServer((a.listen, 0), Control)
    ctl.daemon_threads = True
    for name, p in (("proxy.port", DATA["addr"][1]), ("control.port", ctl.server_address[1])):
        tmp = os.path.join(a.state, name + ".tmp")
        with open(tmp, "w") as f:
            f.write("%d\n" % p)
        os.rename(tmp, os.path.join(a.state, name))
    try:
        ctl.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
