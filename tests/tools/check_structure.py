#!/usr/bin/env python3
"""check_structure.py ROOT BUILD - checks the rules of lib/README.md on the
built objects and the sources:

- the tiers: every lib/*.c is in exactly one tier of lib/README.md's table
  (lines "tier N  NAME: file file ..."), and no file calls a function of a
  file in a higher tier;
- no loops: no two files of lib/, and no two of fs/, depend on each other,
  directly or through others (a file depends on another when it uses a
  symbol the other defines; nm of the objects tells);
- fs/ and tools/ include only headers of lib/include/ (fs/: ckpt.h and
  what it includes; tools/ may add the documented internal one), and fs/
  uses only functions ckpt.h declares (with the headers it includes);
- no dead public functions: each function ckpt.h declares is used by fs/,
  tools/ or a test;
- sizes: no lib/ file over 800 lines, and no function of lib/ or fs/ over
  120 lines unless the comment above it says why (a line with "long:").

Prints each violation and exits 1 if there is any.
"""
import os
import re
import subprocess
import sys

MAX_FILE_LINES = 800
MAX_FUNC_LINES = 120


def nm(objs):
    """{obj: (defined, undefined)} of global symbols."""
    out = {}
    for o in objs:
        text = subprocess.run(["nm", "--defined-only", "-g", o], capture_output=True, text=True,
                              check=True).stdout
        defined = {l.split()[-1] for l in text.splitlines() if l.strip()}
        text = subprocess.run(["nm", "-u", o], capture_output=True, text=True, check=True).stdout
        undef = {l.split()[-1] for l in text.splitlines() if l.strip()}
        out[os.path.basename(o)[:-len(".c.o")]] = (defined, undef)
    return out


def objects(d):
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".c.o"))


def graph(syms):
    """{file: {files it uses}} within one set of objects."""
    owner = {}
    for f, (d, _) in syms.items():
        for s in d:
            owner[s] = f
    return {f: {owner[s] for s in u if s in owner and owner[s] != f} for f, (_, u) in syms.items()}


def cycles(g):
    """The strongly connected components with more than one file (iterative Tarjan)."""
    index, low, on, stack, comps, n = {}, {}, set(), [], [], [0]
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = n[0]
        n[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = n[0]
                    n[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g[w]))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    comps.append(sorted(comp))
    return comps


def path_in(g, a, b):
    """A shortest chain of uses from a to b (for the message)."""
    prev, todo = {a: None}, [a]
    for v in todo:
        for w in sorted(g[v]):
            if w not in prev:
                prev[w] = v
                todo.append(w)
    if b not in prev:
        return []
    chain = [b]
    while prev[chain[-1]] is not None:
        chain.append(prev[chain[-1]])
    return chain[::-1]


def tiers(readme):
    t = {}
    for line in open(readme, encoding="utf-8"):
        m = re.match(r"^tier (\d+)\b[^:]*:\s*(.*)$", line.strip())
        if m:
            for f in m.group(2).split():
                t.setdefault(f, []).append(int(m.group(1)))
    return t


def functions(path):
    """(name, first line, lines) of each function defined at the top level:
    a body from a '{' alone at column 0 to the next '}' at column 0."""
    lines = open(path, encoding="utf-8").read().split("\n")
    out = []
    i = 0
    while i < len(lines):
        if lines[i] == "{":
            s = i - 1
            while s > 0 and lines[s - 1] and lines[s - 1][0] not in " \t/*#}" and \
                    not lines[s - 1].rstrip().endswith((";", "*/")):
                s -= 1
            sig = " ".join(lines[s:i])
            m = re.search(r"(\w+)\s*\(", sig)
            e = i + 1
            while e < len(lines) and not lines[e].startswith("}"):
                e += 1
            if m:
                above = "\n".join(lines[max(0, s - 12):s])
                out.append((m.group(1), s + 1, e - s + 1, "long:" in above))
            i = e
        i += 1
    return out


def main():
    root, build = sys.argv[1], sys.argv[2]
    bad = []
    lib = nm(objects(os.path.join(build, "lib", "libckpt.a.p")))
    fs = nm(objects(os.path.join(build, "fs", "ckptfs.p")))
    tools = nm(objects(os.path.join(build, "tools", "ckpt.p")))
    tests = {}
    tdir = os.path.join(build, "tests")
    for d in sorted(os.listdir(tdir)) if os.path.isdir(tdir) else []:
        if d.endswith(".p"):
            tests.update(nm(objects(os.path.join(tdir, d))))

    for name, g in (("lib", graph(lib)), ("fs", graph(fs))):
        for comp in cycles(g):
            a, b = comp[0], comp[1]
            bad.append("%s: a loop among %s (%s, and back: %s)" % (
                name, " ".join(comp), " -> ".join(path_in(g, a, b)), " -> ".join(path_in(g, b, a))))

    t = tiers(os.path.join(root, "lib", "README.md"))
    lg = graph(lib)
    for f in sorted(lg):
        if f not in t:
            bad.append("lib/%s.c is in no tier of lib/README.md" % f)
        elif len(t[f]) > 1:
            bad.append("lib/%s.c is in more than one tier of lib/README.md" % f)
    for f in sorted(t):
        if f not in lg:
            bad.append("lib/README.md's tiers name %s, which is not a file of lib/" % f)
    for f in sorted(lg):
        for g2 in sorted(lg[f]):
            if f in t and g2 in t and t[g2][0] > t[f][0]:
                bad.append("lib/%s.c (tier %d) calls lib/%s.c (tier %d), a higher tier" % (
                    f, t[f][0], g2, t[g2][0]))

    public, todo, seen = set(), ["ckpt.h"], set()
    while todo:  # ckpt.h and the public headers it includes
        h = todo.pop()
        seen.add(h)
        text = open(os.path.join(root, "lib", "include", h), encoding="utf-8").read()
        todo += [i for i in re.findall(r'^#include "([^"/]+)"', text, re.M) if i not in seen]
        public |= set(re.findall(r"\b(ckpt_\w+)\s*\(", re.sub(r"/\*.*?\*/", "", text, flags=re.S)))
    lib_defined = set().union(*(d for d, _ in lib.values()))
    fs_used = set().union(*(u for _, u in fs.values()))
    for s in sorted(fs_used & lib_defined - public):
        bad.append("fs/ uses %s, which lib/include/ckpt.h does not declare" % s)
    users = fs_used | set().union(*(u for _, u in tools.values())) | \
        set().union(set(), *(u for _, u in tests.values()))
    for s in sorted(public & lib_defined - users):
        bad.append("ckpt.h declares %s, which neither fs/, tools/ nor a test uses" % s)

    for d in ("fs", "tools"):
        own = set(os.listdir(os.path.join(root, d)))
        pub = set(os.listdir(os.path.join(root, "lib", "include")))
        for f in sorted(os.listdir(os.path.join(root, d))):
            if not f.endswith((".c", ".h")):
                continue
            for inc in re.findall(r'^#include "([^"]+)"', open(os.path.join(root, d, f)).read(), re.M):
                if inc not in own and inc not in pub:
                    bad.append("%s/%s includes \"%s\", which is neither its own nor public" % (d, f, inc))

    for f in sorted(os.listdir(os.path.join(root, "lib"))):
        if f.endswith((".c", ".h")):
            n = open(os.path.join(root, "lib", f), encoding="utf-8").read().count("\n")
            if n > MAX_FILE_LINES:
                bad.append("lib/%s has %d lines (at most %d)" % (f, n, MAX_FILE_LINES))
    for d in ("lib", "fs"):
        for f in sorted(os.listdir(os.path.join(root, d))):
            if f.endswith(".c"):
                for name, first, n, why in functions(os.path.join(root, d, f)):
                    if n > MAX_FUNC_LINES and not why:
                        bad.append("%s/%s:%d: %s() has %d lines (at most %d without a 'long:' comment "
                                   "saying why)" % (d, f, first, name, n, MAX_FUNC_LINES))
    for b in bad:
        print(b)
    print("check_structure: %d lib files, %d fs files, %d problems" % (len(lib), len(fs), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
