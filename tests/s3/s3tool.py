#!/usr/bin/env python3
"""s3tool.py - an S3 client for the tests, independent of ckptfs: every
request is made by curl (--aws-sigv4); Python only lists files, encodes keys
and reads the XML listings.  Called through tests/s3/upload, put, rm, ls.

  upload DIR s3://BUCKET[/PREFIX]   creates BUCKET (PUT; an existing one of
                                    ours is fine) and uploads every file under
                                    DIR as PREFIX/RELATIVE-PATH, many files per
                                    curl (--parallel)
  mb s3://BUCKET                    creates BUCKET (an existing one of ours is fine)
  put FILE s3://BUCKET/KEY          uploads (or replaces) one object
  rm s3://BUCKET/KEY...             deletes objects (absent ones are fine)
  rm -r s3://BUCKET/PREFIX          deletes every object under PREFIX
  ls [-d DELIM] [-m MAXKEYS] [-a START-AFTER] [-p] s3://BUCKET[/PREFIX]
                                    ListObjectsV2, all pages: prints
                                    "SIZE KEY" per object and "PRE PREFIX" per
                                    common prefix (-p: one line per page read
                                    too: "PAGE n KeyCount=.. IsTruncated=..")

Environment: S3_ENDPOINT (http://host:port, path-style URLs),
AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (default us-east-1).
Keys are encoded the RFC 3986 way (all but A-Z a-z 0-9 - _ . ~ and the /
between segments), which is what SigV4 signs; query parameters are sent
sorted and encoded, so curl 7.88 (which signs the query as it is written)
and the server agree.  curl 7.88 does not send x-amz-content-sha256; we send
UNSIGNED-PAYLOAD (signed, and used as the payload hash).
"""

import os
import subprocess
import sys
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET

PARALLEL = 16


def die(msg):
    sys.stderr.write("s3tool: %s\n" % msg)
    sys.exit(1)


def env():
    ep = os.environ.get("S3_ENDPOINT")
    key = os.environ.get("AWS_ACCESS_KEY_ID")
    secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
    if not (ep and key and secret):
        die("S3_ENDPOINT, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set")
    return ep.rstrip("/"), key, secret, os.environ.get("AWS_REGION") or "us-east-1"


def curl_base():
    ep, key, secret, region = env()
    return ["curl", "-s", "-S", "-g", "--aws-sigv4", "aws:amz:%s:s3" % region,
            "--user", "%s:%s" % (key, secret), "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def enc(key):
    return urllib.parse.quote(key, safe="/-_.~")


def split_url(url):
    if not url.startswith("s3://"):
        die("not an s3:// URL: %s" % url)
    bucket, _, key = url[5:].partition("/")
    if not bucket:
        die("no bucket in %s" % url)
    return bucket, key


def object_url(bucket, key):
    return "%s/%s/%s" % (env()[0], enc(bucket), enc(key))


def cfg_quote(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") \
        .replace("\t", "\\t").replace("\r", "\\r")


def run_many(transfers, what, method=None):
    """transfers: list of (FILE or None, URL).  Runs them all in one curl
    (--parallel, options read from a config file: no limit on their number);
    fails unless each answers 2xx."""
    if not transfers:
        return
    base = curl_base()[1:]
    with tempfile.NamedTemporaryFile("w", suffix=".curlrc", delete=False) as cfg:
        i = 0
        while i < len(base):  # the options every transfer shares
            if i + 1 < len(base) and not base[i + 1].startswith("-"):
                cfg.write("%s %s\n" % (base[i], cfg_quote(base[i + 1])))
                i += 2
            else:
                cfg.write("%s\n" % base[i])
                i += 1
        if method:
            cfg.write("request = %s\n" % method)
        # curl pairs the n-th upload-file and output with the n-th url
        for path, url in transfers:
            if path is not None:
                cfg.write("upload-file = %s\n" % cfg_quote(path))
            cfg.write("url = %s\noutput = \"/dev/null\"\n" % cfg_quote(url))
    try:
        p = subprocess.run(["curl", "-s", "-S", "--no-progress-meter", "--parallel", "--parallel-max", str(PARALLEL),
                            "-K", cfg.name, "-w", "%{http_code} %{url_effective}\\n"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        os.unlink(cfg.name)
    lines = p.stdout.splitlines()
    bad = [ln for ln in lines if not ln.startswith("2")]
    if bad or len(lines) != len(transfers):
        die("%s: %d of %d transfers failed (curl exit %d): %s %s"
            % (what, len(bad) + len(transfers) - len(lines), len(transfers), p.returncode,
               "; ".join(bad[:5]), p.stderr.strip()[:500]))


def curl_one(args, what, ok=("200",)):
    p = subprocess.run(curl_base() + ["-o", "/dev/stdout", "-w", "\n%{http_code}"] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    body, _, code = p.stdout.rpartition(b"\n")
    code = code.decode()
    if code not in ok:
        die("%s: HTTP %s %s %s" % (what, code, body.decode(errors="replace")[:300],
                                   p.stderr.decode(errors="replace").strip()))
    return code, body


def ensure_bucket(bucket):
    url = "%s/%s" % (env()[0], enc(bucket))
    code, body = curl_one(["-X", "PUT", url], "create bucket %s" % bucket,
                          ok=("200", "409", "403"))
    if code != "200":
        curl_one(["-I", url], "bucket %s (create answered %s: %s)" % (bucket, code, body[:200]))


def cmd_upload(args):
    if len(args) != 2:
        die("usage: upload DIR s3://BUCKET[/PREFIX]")
    top, (bucket, prefix) = args[0], split_url(args[1])
    prefix = prefix.strip("/")
    ensure_bucket(bucket)
    transfers = []
    for d, dirs, files in os.walk(top):
        dirs.sort()
        for f in sorted(files):
            path = os.path.join(d, f)
            if not os.path.isfile(path):
                continue
            rel = os.path.relpath(path, top)
            key = prefix + "/" + rel if prefix else rel
            transfers.append((path, object_url(bucket, key)))
    run_many(transfers, "upload")
    print("%d files" % len(transfers))


def cmd_mb(args):
    if len(args) != 1:
        die("usage: mb s3://BUCKET")
    ensure_bucket(split_url(args[0])[0])


def cmd_put(args):
    if len(args) != 2:
        die("usage: put FILE s3://BUCKET/KEY")
    bucket, key = split_url(args[1])
    curl_one(["-T", args[0], object_url(bucket, key)], "put %s" % args[1])


def list_objects(bucket, prefix, delim=None, maxkeys=None, start_after=None, pages=False):
    token = None
    out = []
    page = 0
    while True:
        q = {"list-type": "2", "prefix": prefix}
        if delim:
            q["delimiter"] = delim
        if maxkeys:
            q["max-keys"] = str(maxkeys)
        if start_after and token is None:
            q["start-after"] = start_after
        if token is not None:
            q["continuation-token"] = token
        query = "&".join("%s=%s" % (urllib.parse.quote(k, safe="-_.~"),
                                    urllib.parse.quote(v, safe="-_.~"))
                         for k, v in sorted(q.items()))
        url = "%s/%s?%s" % (env()[0], enc(bucket), query)
        _, body = curl_one([url], "list s3://%s/%s" % (bucket, prefix))
        root = ET.fromstring(body)
        for el in root.iter():  # s3rver's namespace is not AWS's: ignore them
            el.tag = el.tag.rpartition("}")[2]

        def text(el, name):
            e = el.find(name)
            return e.text if e is not None else None
        page += 1
        if pages:
            out.append("PAGE %d KeyCount=%s IsTruncated=%s" % (page, text(root, "KeyCount"),
                                                               text(root, "IsTruncated")))
        for c in root.iter("Contents"):
            out.append("%s %s" % (text(c, "Size"), text(c, "Key")))
        for c in root.iter("CommonPrefixes"):
            out.append("PRE %s" % text(c, "Prefix"))
        if text(root, "IsTruncated") != "true":
            return out
        token = text(root, "NextContinuationToken")
        if not token:
            die("a truncated listing without NextContinuationToken")


def cmd_ls(args):
    delim = maxkeys = start = None
    pages = False
    while args and args[0].startswith("-"):
        o = args.pop(0)
        if o == "-d":
            delim = args.pop(0)
        elif o == "-m":
            maxkeys = args.pop(0)
        elif o == "-a":
            start = args.pop(0)
        elif o == "-p":
            pages = True
        else:
            die("ls: unknown option %s" % o)
    if len(args) != 1:
        die("usage: ls [-d DELIM] [-m MAXKEYS] [-a START-AFTER] [-p] s3://BUCKET[/PREFIX]")
    bucket, prefix = split_url(args[0])
    for line in list_objects(bucket, prefix, delim, maxkeys, start, pages):
        print(line)


def cmd_rm(args):
    recursive = bool(args) and args[0] == "-r"
    if recursive:
        args = args[1:]
    if not args:
        die("usage: rm [-r] s3://BUCKET/KEY...")
    transfers = []
    for a in args:
        bucket, key = split_url(a)
        keys = [key]
        if recursive:
            keys = [ln.split(" ", 1)[1] for ln in list_objects(bucket, key)]
        transfers += [(None, object_url(bucket, k)) for k in keys]
    run_many(transfers, "rm", method="DELETE")


def main():
    if len(sys.argv) < 2:
        die("usage: s3tool.py upload|mb|put|rm|ls ...")
    cmd = {"upload": cmd_upload, "mb": cmd_mb, "put": cmd_put, "rm": cmd_rm, "ls": cmd_ls}.get(sys.argv[1])
    if cmd is None:
        die("unknown command %s" % sys.argv[1])
    cmd(sys.argv[2:])


if __name__ == "__main__":
    main()
