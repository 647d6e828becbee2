#!/usr/bin/python3
"""Compares 'ckpt ocdbt ls --sha256 DIR' with the keys TensorStore recorded.

  check_ocdbt.py CKPT_BIN EXTRA.json CASE DIR
Every key of the case must be listed with the same SHA-256 and no other key.
"""
import json, subprocess, sys, urllib.parse

ckpt, extra, case, db = sys.argv[1:5]
want = json.load(open(extra))["cases"][case]["data"]["keys"]
out = subprocess.run([ckpt, "ocdbt", "ls", "--sha256", db], check=True,
                     capture_output=True).stdout.decode()
got = {}
for line in out.splitlines():
    key, _, digest, _ = line.split(" ")
    got[urllib.parse.unquote(key, encoding="latin1")] = digest
bad = [k for k in want if got.get(k) != want[k]] + [k for k in got if k not in want]
for k in bad[:10]:
    print("key %r: got %s, expected %s" % (k, got.get(k), want.get(k)))
print("%s: %d keys, %d problems" % (case, len(want), len(bad)))
sys.exit(1 if bad else 0)
