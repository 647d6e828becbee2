#!/usr/bin/python3
"""ckptfs benchmarks (scripts/bench runs this after a build).

Generates its checkpoints with `ckpt make` into WORK (kept between runs),
runs every case RUNS times on fresh mounts, prints one table of medians and
of ratios measured in the same run, and writes it to bench/RESULTS.md with
the machine's description.  A benchmark, not a test: nothing here fails on
a slow machine.

  bench.py BUILD WORK [--quick] [--runs N] [--only 7|8|9] [--no-s3]
--quick: 256 MiB instead of 1 GiB, 20,000 leaves instead of 100,000, no 10 GiB case,
500 and 50 leaves instead of 2000 and 200 in case 7, 50 leaves instead of 200 in case 9.
--only 7: only case 7 (a whole step of small leaves), printed, RESULTS.md left alone;
--only 8 the same for case 8 (random reads after a full pass, spill on and off);
--only 9 (or s3) for case 9 (checkpoints on S3).
--no-s3: no case 9.  Case 9 needs s3rver in build-node/ (scripts/test installs it)
and node; it starts tests/s3/server, uploads, and emulates round trips of 0, 20
and 50 ms in the fault proxy (GET /latency: per request, not bandwidth-delay).
"""
import json, os, platform, random, resource, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MiB = 1 << 20
GiB = 1 << 30


def sh(*a, **kw):
    return subprocess.run(a, check=True, **kw)


class Mount:
    def __init__(self, build, src, *opts):
        self.mnt = tempfile.mkdtemp(prefix="ckptfs-bench.")
        t0 = time.monotonic()
        sh(os.path.join(build, "fs", "ckptfs"), src, self.mnt, "-o", ",".join(("ro",) + opts))
        self.ready_s = time.monotonic() - t0
        self.pid = int(subprocess.run(["pgrep", "-n", "-x", "ckptfs"], capture_output=True,
                                      text=True).stdout.split()[0])

    def hwm_kib(self):
        for line in open("/proc/%d/status" % self.pid):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        return 0

    def stats(self):
        return json.load(open(os.path.join(self.mnt, ".ckptfs-stats")))

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt])
        for _ in range(100):
            if not os.path.exists("/proc/%d" % self.pid):
                break
            time.sleep(0.05)
        os.rmdir(self.mnt)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def timed(fn):
    t0 = time.monotonic()
    fn()
    return time.monotonic() - t0


def cat(path):
    sh("cat", path, stdout=subprocess.DEVNULL)


def leaf(mnt, name):
    """the first leaf file under the mounted checkpoint"""
    for d, dirs, files in os.walk(os.path.join(mnt, name)):
        dirs.sort()
        for f in sorted(files):
            if not f.endswith(".json"):
                return os.path.join(d, f)
    raise SystemExit("no leaf in " + name)


def make(build, work, name, *args):
    path = os.path.join(work, name)
    if not os.path.exists(path):
        print("  generating", name, " ".join(args), flush=True)
        sh(os.path.join(build, "tools", "ckpt"), "make", path, "--no-fsync", *args,
           stdout=subprocess.DEVNULL)
    return path


def med(xs):
    return statistics.median(xs)


def children_cpu_s():
    """user + system CPU seconds of this script's waited-for children: the
    readers (the daemon detaches, so it is not among them)"""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def daemon_cpu_s(pid):
    """user + system CPU seconds of the daemon so far"""
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


# case 7's readers of a whole step, each run in the mounted step: every
# leaf's bytes read once (cp -r and tar c read each leaf twice, NAME and
# NAME.npy, and the JSON files: what they do on a real mount; the second
# tar reads the leaves alone).  numpy's fromfile without a count reads a
# file's last bytes first.
NP_LOOP = ("import os, sys, time, numpy as np\n"
           "t = time.monotonic()\n"
           "for d, ds, fs in os.walk('.'):\n"
           "    ds.sort()\n"
           "    for f in sorted(fs):\n"
           "        if not f.endswith(('.json', '.npy')):\n"
           "            np.fromfile(os.path.join(d, f), dtype=np.uint8)\n"
           "print(time.monotonic() - t)\n")
LEAVES = "find . -type f ! -name '*.json' ! -name '*.npy' -print0"
WALKERS = (
    ("find | xargs cat", LEAVES + " | xargs -0 cat > /dev/null"),
    ("8 readers (xargs -P8 cat)", LEAVES + " | xargs -0 -P8 -n 4 cat > /dev/null"),
    ("tar c | cat (leaves twice)", "tar cf - . | cat > /dev/null"),
    ("tar c | cat, leaves only", "tar cf - --exclude='*.npy' --exclude='*.json' . | cat > /dev/null"),
    ("cp -r to tmpfs (leaves twice)", "cp -r . /dev/shm/ckptfs-bench-cp; rm -rf /dev/shm/ckptfs-bench-cp"),
    ("numpy loop (np.fromfile)", None),
)
# the same walks through the mount with one thing changed, to measure what
# limits them: cat's per-file buffer (128 KiB + a page: mapped and unmapped
# for every file, its pages zeroed) taken from the heap instead, and the
# kernel's read-ahead for the mount raised from 128 KiB (a 256 KiB
# np.fromfile is then one request, not two): (label, walk, mount options)
HEAP = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=67108864"
VARIANTS = (
    ("find | xargs cat, cat's buffer from the heap", LEAVES + " | xargs -0 env GLIBC_TUNABLES=%s cat > /dev/null" % HEAP, ()),
    ("numpy loop, -o kernel_readahead=1M", None, ("kernel_readahead=1M",)),
)


def walk_time(walk, d):
    """seconds one of WALKERS takes in directory d (None: the numpy loop)"""
    if walk:
        return timed(lambda: sh("sh", "-c", walk, cwd=d))
    return float(subprocess.run(["/usr/bin/python3", "-c", NP_LOOP], cwd=d, check=True,
                                capture_output=True, text=True).stdout)


def whole_step(build, work, quick, runs, row, tag, args, walkers=WALKERS):
    """case 7: every leaf of a step read on a fresh mount by each of the
    walkers, against `zstd -dc` of the same frames (the same generator and
    seed written as zarr directories) after each mount, in the same run"""
    src = make(build, work, "step_" + tag, *args)
    plain = make(build, work, "plainstep_" + tag, *args, "--no-ocdbt")
    frames = "find %s -type f -name '[0-9]*' -print0 | xargs -0 zstd -dcq > /dev/null" % plain
    with Mount(build, src) as m:
        leaves = [os.path.join(d, f) for d, _, fs in os.walk(m.mnt) for f in fs
                  if not f.endswith((".json", ".npy")) and not f.startswith(".")]
        mib = sum(os.path.getsize(p) for p in leaves) / MiB
    print("7. a whole step, %s: %d leaves, %.0f MiB, fresh mount per walk" % (tag, len(leaves), mib))
    # the walkers' own limit: the same walk over the decoded tree (the
    # mount's files, .npy and .json included) copied to tmpfs, no FUSE and
    # nothing to decode; a walker slower there than `zstd -dc` cannot
    # reach 1.0x through any file system
    tree = "/dev/shm/ckptfs-bench-tree"
    shutil.rmtree(tree, ignore_errors=True)
    with Mount(build, src) as m:
        sh("cp", "-r", m.mnt, tree)
    try:
        for label, walk in walkers:
            ts, zs = [], []
            for _ in range(runs):
                ts.append(walk_time(walk, tree))
                zs.append(timed(lambda: sh("sh", "-c", frames)))
            row("7", "%s, %s, over a tmpfs copy of the decoded tree: ratio to zstd -dc"
                % (tag, label), med([z / t for z, t in zip(zs, ts)]), "x")
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    for label, walk, opts in [w + ((),) for w in walkers] + list(VARIANTS):
        ts, zs, cpu, rcpu, hwm, jobs = [], [], [], [], [], []
        for _ in range(runs):
            with Mount(build, src, *opts) as m:
                c0 = children_cpu_s()
                ts.append(walk_time(walk, m.mnt))
                rcpu.append(children_cpu_s() - c0)
                cpu.append(daemon_cpu_s(m.pid))
                hwm.append(m.hwm_kib())
                jobs.append(m.stats()["readahead_jobs"])
            zs.append(timed(lambda: sh("sh", "-c", frames)))
        row("7", "%s, %s: leaf MiB/s (daemon peak RSS %.0f MiB)" % (tag, label, med(hwm) / 1024),
            mib / med(ts), "MiB/s")
        row("7", "%s, %s: ratio to zstd -dc (1 core; median of per-run ratios)" % (tag, label),
            med([z / t for z, t in zip(zs, ts)]), "x")
        row("7", "%s, %s: daemon CPU seconds per GiB of leaves" % (tag, label),
            med(cpu) * 1024 / mib, "s")
        row("7", "%s, %s: readers' CPU seconds per GiB of leaves" % (tag, label),
            med(rcpu) * 1024 / mib, "s")
        # 1.0: the walk took as long as its CPU seconds spread over every core
        row("7", "%s, %s: wall / ((daemon + readers' CPU) / %d cores)" % (tag, label, os.cpu_count()),
            med([t * os.cpu_count() / (c + r) for t, c, r in zip(ts, cpu, rcpu)]), "x")
        if label == WALKERS[0][0]:
            row("7", "%s: per leaf" % tag, 1000 * med(ts) / len(leaves), "ms")
            row("7", "%s: read-ahead jobs per walk" % tag, med(jobs), "")
            row("7", "%s: zstd -dc of the same frames (1 core)" % tag, mib / med(zs), "MiB/s")


def whole_steps(build, work, quick, runs, row):
    """case 7 for (a) many 256 KiB leaves, (b) fewer 4 MiB ones, (c) GPT-2
    small's shapes (a few large arrays, many small ones)"""
    n = 500 if quick else 2000
    whole_step(build, work, quick, runs, row, "%dx256K" % n,
               ("--leaves", str(n), "--leaf-bytes", "256K"))
    n = 50 if quick else 200
    whole_step(build, work, quick, runs, row, "%dx4096K" % n,
               ("--leaves", str(n), "--leaf-bytes", "4096K"))
    n = 4 if quick else 12
    whole_step(build, work, quick, runs, row, "gpt2-%d" % n,
               ("--model", "gpt2", "--leaves", str(n)))


def pctl(xs, q):
    xs = sorted(xs)
    return xs[int(q * (len(xs) - 1))]


def after_pass(build, work, quick, runs, row):
    """case 8: random 4 KiB preads into a one-chunk leaf after a full pass
    (cat), with the spill on (the defaults) and off (-o spill_size=0), in
    the same run.  The kernel's page cache for the file is dropped after the
    pass (posix_fadvise DONTNEED), so that the reads reach the daemon: what
    a reader meets once memory pressure or another open has evicted it.
    The pass itself spills nothing: the first read going back starts the
    stream over, and that second decoding is spilled (the slowest read)."""
    big = "256M" if quick else "1G"
    nbig = (256 if quick else 1024) * MiB
    one = make(build, work, "one_" + big, "--leaves", "1", "--leaf-bytes", big)
    print("8. random 4 KiB preads into the one-chunk %s leaf after a full pass" % big)
    for label, opts, n in (("spill on (defaults)", (), 300), ("spill off (-o spill_size=0)",
                                                              ("spill_size=0",), 15)):
        lat, cpu, dec, passes, hits = [], [], [], [], []
        for r in range(runs):
            with Mount(build, one, *opts) as m:
                p = leaf(m.mnt, os.path.basename(one))
                passes.append(timed(lambda: cat(p)))
                fd = os.open(p, os.O_RDONLY)
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                d0, c0, h0 = m.stats()["decoded_bytes"], daemon_cpu_s(m.pid), m.stats()["spill_hits"]
                rnd = random.Random(8 + r)
                for _ in range(n):
                    off = rnd.randrange(0, nbig - 4096) & ~4095
                    t0 = time.monotonic()
                    os.pread(fd, 4096, off)
                    lat.append(time.monotonic() - t0)
                os.close(fd)
                cpu.append(daemon_cpu_s(m.pid) - c0)
                st = m.stats()
                dec.append((st["decoded_bytes"] - d0) / n)
                hits.append(st["spill_hits"] - h0)
        row("8", "%s: first pass (cat)" % label, nbig / MiB / med(passes), "MiB/s")
        row("8", "%s: p50 latency (%d reads x %d runs)" % (label, n, runs), 1000 * med(lat), "ms")
        row("8", "%s: p90 latency" % label, 1000 * pctl(lat, 0.9), "ms")
        row("8", "%s: slowest read" % label, 1000 * max(lat), "ms")
        row("8", "%s: daemon CPU seconds for the %d reads" % (label, n), med(cpu), "s")
        row("8", "%s: decoded bytes per read" % label, med(dec) / MiB, "MiB")
        row("8", "%s: reads served by the spill" % label, med(hits), "")


# ---------------------------------------------------------------- 8. S3
S3_KEYS = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER",
           "AWS_REGION": "us-east-1"}
S3_PARALLEL = 8  # connections: ckptfs's default -o parallel, and the curl baseline's
S3_PART = 8 * MiB  # ckptfs's largest range GET (lib/rpages.c PART), and the baseline's


class S3Server:
    """tests/s3/server (s3rver behind tests/s3/faultproxy.py) in DIR"""

    def __init__(self, d):
        self.dir = d
        out = subprocess.run([os.path.join(ROOT, "tests", "s3", "server"), "start", d],
                             check=True, capture_output=True, text=True).stdout
        env = dict(line.split("=", 1) for line in out.split())
        self.endpoint, self.control = env["S3_ENDPOINT"], env["S3_PROXY_CONTROL"]
        os.environ.update(S3_KEYS, S3_ENDPOINT=self.endpoint)
        sh(os.path.join(ROOT, "tests", "s3", "mb"), "s3://bench")

    def ctl(self, path):
        return subprocess.run(["curl", "-sf", self.control + path], check=True,
                              capture_output=True, text=True).stdout

    def requests(self):
        return int(self.ctl("/count"))

    def upload(self, src, prefix):
        sh(os.path.join(ROOT, "tests", "s3", "upload"), src, "s3://bench/" + prefix,
           stdout=subprocess.DEVNULL)

    def url(self, key):
        return "%s/bench/%s" % (self.endpoint, key)

    def stop(self):
        sh(os.path.join(ROOT, "tests", "s3", "server"), "stop", self.dir)


class S3Mount(Mount):
    """ckptfs s3://bench/PREFIX, daemonized; its pid found by its mountpoint
    (other ckptfs daemons may run on this machine)"""

    def __init__(self, build, srv, prefix, *opts):
        self.mnt = tempfile.mkdtemp(prefix="ckptfs-bench.")
        self.t0 = time.monotonic()
        sh(os.path.join(build, "fs", "ckptfs"), "s3://bench/" + prefix, self.mnt, "-o",
           ",".join(("ro", "endpoint=" + srv.endpoint) + opts))
        self.ready_s = time.monotonic() - self.t0
        self.pid = None
        for p in os.listdir("/proc"):
            try:
                if p.isdigit() and self.mnt.encode() in open("/proc/%s/cmdline" % p, "rb").read():
                    self.pid = int(p)
            except OSError:
                pass


def curl_parallel(srv, transfers):
    """transfers: (KEY, OFFSET, LENGTH or None, OUTPUT); one curl, S3_PARALLEL at once"""
    cfg = tempfile.NamedTemporaryFile("w", suffix=".curlrc", delete=False)
    for i, (key, off, n, out) in enumerate(transfers):
        if i:
            cfg.write("next\n")
        cfg.write('aws-sigv4 = "aws:amz:us-east-1:s3"\nuser = "S3RVER:S3RVER"\n'
                  'header = "x-amz-content-sha256: UNSIGNED-PAYLOAD"\nfail\n')
        if n is not None:
            cfg.write("range = %d-%d\n" % (off, off + n - 1))
        cfg.write('url = "%s"\noutput = "%s"\n' % (srv.url(key), out))
    cfg.close()
    try:
        sh("curl", "-sS", "--no-progress-meter", "--parallel", "--parallel-max", str(S3_PARALLEL),
           "-K", cfg.name)
    finally:
        os.unlink(cfg.name)


def data_objects(src):
    """the OCDBT data files of a generated checkpoint that ckptfs fetches by
    range (over 64 KiB: smaller ones come whole with the listing), with sizes"""
    out = []
    for dp, _, fs in os.walk(src):
        for f in sorted(fs):
            p = os.path.join(dp, f)
            if "/d/" in p + "/" and os.path.basename(dp) == "d" and os.path.getsize(p) > 65536:
                out.append((os.path.relpath(p, src), os.path.getsize(p)))
    return sorted(out)


def download_decode(srv, prefix, objs, tmp, ranged):
    """the baseline: the data objects downloaded with S3_PARALLEL curl
    connections (ranged: in S3_PART range GETs, as ckptfs asks), then
    `zstd -dc` of the same frames (one core); seconds (download, decode)"""
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    tr, files = [], []
    for i, (rel, size) in enumerate(objs):
        if ranged:
            parts = []
            for j, off in enumerate(range(0, size, S3_PART)):
                parts.append(os.path.join(tmp, "%d.%06d" % (i, j)))
                tr.append((prefix + "/" + rel, off, min(S3_PART, size - off), parts[-1]))
            files.append(parts)
        else:
            files.append([os.path.join(tmp, "%d" % i)])
            tr.append((prefix + "/" + rel, 0, None, files[-1][0]))
    t0 = time.monotonic()
    curl_parallel(srv, tr)
    t1 = time.monotonic()
    if ranged:  # each object's parts in order into one zstd (frames cross the parts)
        for parts in files:
            subprocess.run("cat %s | zstd -dcq > /dev/null 2>&1" % " ".join(parts), shell=True)
    else:
        subprocess.run(["zstd", "-dcq"] + [f[0] for f in files], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    # (rc not checked: these data files end with bytes after the frames, which
    # zstd reports as "unsupported format" once it has decoded the frames)
    t2 = time.monotonic()
    shutil.rmtree(tmp)
    return t1 - t0, t2 - t1


def s3_cases(build, work, quick, runs, row, latencies=(0, 20, 50)):
    """case 9: checkpoints on S3 (the local s3rver behind the fault proxy,
    with an emulated round trip per request: see tests/s3/faultproxy.py
    GET /latency), against parallel curl then zstd -dc"""
    big = "256M" if quick else "1G"
    nbig = (256 if quick else 1024) * MiB
    nstep = 50 if quick else 200
    gen = {
        "root100": make(build, work, "s3_root100", "--steps", "100", "--leaves", "8",
                        "--leaf-bytes", "4K"),
        "item10k": make(build, work, "leaves_10000", "--leaves", "10000", "--leaf-bytes", "64",
                        "--depth", "3"),
        "big": make(build, work, "c16_" + big, "--leaves", "1", "--leaf-bytes", big,
                    "--chunk-bytes", "16M"),
        "step": make(build, work, "step_%dx4096K" % nstep, "--leaves", str(nstep),
                     "--leaf-bytes", "4096K"),
    }
    if not os.path.exists(os.path.join(ROOT, "build-node", "node_modules", "s3rver", "package.json")):
        print("9. skipped: s3rver is not installed (scripts/test tests/bats/s3infra.bats installs it)")
        return
    sdir = tempfile.mkdtemp(prefix="s3.", dir=work)
    tmp = os.path.join(work, "s3-download")
    print("9. on S3: starting the local server, uploading", flush=True)
    srv = S3Server(sdir)
    try:
        for k, v in gen.items():
            srv.upload(v, k)
        big_objs, step_objs = data_objects(gen["big"]), data_objects(gen["step"])
        step_mib = nstep * 4
        walk = "find . -type f ! -name '*.json' ! -name '*.npy' -print0 | xargs -0 cat > /dev/null"
        for lat in latencies:
            srv.ctl("/latency?ms=%d" % lat)
            rtt = "%d ms" % lat
            print("9. round trip %s" % rtt, flush=True)
            r = {k: [] for k in ("ls", "ls_req", "ready", "item_mount", "item_find",
                                 "item_req", "ttfb", "cat", "cat_hwm", "cat_cpu", "cat_req",
                                 "b_dl", "b_dec", "step", "step_hwm", "step_cpu", "step_req",
                                 "s_dl", "s_dec")}
            for _ in range(runs):
                # mount to the first ls of a root of 100 steps
                srv.ctl("/zero")
                with S3Mount(build, srv, "root100") as m:
                    n = len(os.listdir(m.mnt))
                    r["ls"].append(time.monotonic() - m.t0)
                    r["ready"].append(m.ready_s)
                    r["ls_req"].append(srv.requests())
                assert n >= 100, n
                # an item of 10,000 leaves: mount, then find
                with S3Mount(build, srv, "item10k") as m:
                    r["item_mount"].append(m.ready_s)
                    srv.ctl("/zero")
                    t0 = time.monotonic()
                    nitem = len(subprocess.run(["find", m.mnt], check=True, capture_output=True)
                                .stdout.splitlines())
                    r["item_find"].append(time.monotonic() - t0)
                    r["item_req"].append(srv.requests())
                # first byte of the big leaf after mount
                with S3Mount(build, srv, "big") as m:
                    p = leaf(m.mnt, "")
                    r["ttfb"].append(timed(lambda: sh("dd", "if=" + p, "of=/dev/null", "bs=4k",
                                                      "count=1", stderr=subprocess.DEVNULL)))
                # cat of the big leaf
                srv.ctl("/zero")
                with S3Mount(build, srv, "big") as m:
                    p = leaf(m.mnt, "")
                    r["cat"].append(timed(lambda: cat(p)))
                    r["cat_hwm"].append(m.hwm_kib())
                    r["cat_cpu"].append(daemon_cpu_s(m.pid))
                    r["cat_req"].append(srv.requests())
                dl, dec = download_decode(srv, "big", big_objs, tmp, True)
                r["b_dl"].append(dl)
                r["b_dec"].append(dec)
                # a whole step
                srv.ctl("/zero")
                with S3Mount(build, srv, "step") as m:
                    r["step"].append(timed(lambda: sh("sh", "-c", walk, cwd=m.mnt)))
                    r["step_hwm"].append(m.hwm_kib())
                    r["step_cpu"].append(daemon_cpu_s(m.pid))
                    r["step_req"].append(srv.requests())
                dl, dec = download_decode(srv, "step", step_objs, tmp, False)
                r["s_dl"].append(dl)
                r["s_dec"].append(dec)
            c = "9/%d" % lat

            def ms(k):
                return 1000 * med(r[k])
            row(c, "RTT %s: mount to first ls of a root of 100 steps" % rtt, ms("ls"), "ms")
            row(c, "RTT %s: of which until ckptfs returns (listing, small objects)" % rtt,
                ms("ready"), "ms")
            row(c, "RTT %s: requests until the first ls" % rtt, med(r["ls_req"]), "")
            row(c, "RTT %s: item of 10,000 leaves: mount" % rtt, ms("item_mount"), "ms")
            row(c, "RTT %s: item: find after mount (%d entries)" % (rtt, nitem), ms("item_find"), "ms")
            row(c, "RTT %s: item: requests during find" % rtt, med(r["item_req"]), "")
            row(c, "RTT %s: first 4 KiB of the %s leaf after mount (dd)" % (rtt, big), ms("ttfb"), "ms")
            if lat:
                row(c, "RTT %s: the same, in round trips" % rtt, ms("ttfb") / lat, "RTT")
            row(c, "RTT %s: cat %s leaf, 16 MiB chunks (peak RSS %.0f MiB, CPU %.1f s, %d requests)"
                % (rtt, big, med(r["cat_hwm"]) / 1024, med(r["cat_cpu"]), med(r["cat_req"])),
                nbig / MiB / med(r["cat"]), "MiB/s")
            row(c, "RTT %s: baseline: %d curl, %d MiB ranges (s download + s zstd -dc)"
                % (rtt, S3_PARALLEL, S3_PART // MiB), nbig / MiB / (med(r["b_dl"]) + med(r["b_dec"])),
                "MiB/s (%.2f + %.2f s)" % (med(r["b_dl"]), med(r["b_dec"])))
            row(c, "RTT %s: ratio cat / baseline (median of per-run ratios)" % rtt,
                med([(a + b) / t for a, b, t in zip(r["b_dl"], r["b_dec"], r["cat"])]), "x")
            row(c, "RTT %s: whole step %dx4 MiB, find|xargs cat (peak RSS %.0f MiB, CPU %.1f s, %d requests)"
                % (rtt, nstep, med(r["step_hwm"]) / 1024, med(r["step_cpu"]), med(r["step_req"])),
                step_mib / med(r["step"]), "MiB/s")
            row(c, "RTT %s: baseline: %d curl of the %d objects (s download + s zstd -dc)"
                % (rtt, S3_PARALLEL, len(step_objs)),
                step_mib / (med(r["s_dl"]) + med(r["s_dec"])),
                "MiB/s (%.2f + %.2f s)" % (med(r["s_dl"]), med(r["s_dec"])))
            row(c, "RTT %s: ratio step / baseline (median of per-run ratios)" % rtt,
                med([(a + b) / t for a, b, t in zip(r["s_dl"], r["s_dec"], r["step"])]), "x")
        srv.ctl("/latency?ms=0")
    finally:
        srv.stop()
        shutil.rmtree(sdir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)


def machine():
    cpu = "?"
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = int(open("/proc/meminfo").readline().split()[1]) // 1024
    return "%d CPUs (%s), %d MiB RAM, Linux %s" % (os.cpu_count(), cpu, mem, platform.release())


def main():
    build, work = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv
    runs = int(sys.argv[sys.argv.index("--runs") + 1]) if "--runs" in sys.argv else 3
    os.makedirs(work, exist_ok=True)
    big = "256M" if quick else "1G"
    nbig = (256 if quick else 1024) * MiB
    nleaves = 20000 if quick else 100000
    rows = []  # (case, what, value, unit)
    notes = []

    def row(case, what, value, unit):
        rows.append((case, what, value, unit))
        print("  %-4s %-58s %12.3f %s" % (case, what, value, unit), flush=True)

    if "--only" in sys.argv:
        only = sys.argv[sys.argv.index("--only") + 1]
        if only == "7":
            whole_steps(build, work, quick, runs, row)
        elif only == "8":
            after_pass(build, work, quick, runs, row)
        elif only in ("9", "s3"):
            s3_cases(build, work, quick, runs, row)
        else:
            raise SystemExit("--only: only case 7, 8 or 9 (s3) runs alone")
        return
    print("generating (kept in %s between runs)" % work)
    one = make(build, work, "one_" + big, "--leaves", "1", "--leaf-bytes", big)
    c16 = make(build, work, "c16_" + big, "--leaves", "1", "--leaf-bytes", big, "--chunk-bytes", "16M")
    plain = make(build, work, "plain_" + big, "--leaves", "1", "--leaf-bytes", big, "--no-ocdbt")
    plain16 = make(build, work, "plain16_" + big, "--leaves", "1", "--leaf-bytes", big, "--no-ocdbt",
                   "--chunk-bytes", "16M")
    many = make(build, work, "leaves_%d" % nleaves, "--leaves", str(nleaves), "--leaf-bytes", "64",
                "--depth", "3")
    eight = make(build, work, "eight", "--leaves", "8", "--leaf-bytes", "128M", "--chunk-bytes", "16M")
    ten = None if quick else make(build, work, "ten_gib", "--leaves", "10", "--leaf-bytes", "1G",
                                  "--values", "pattern", "--chunk-bytes", "64M")

    # ------------------------------------------------------------ 1. sequential cat
    print("1. sequential read of a %s float32 leaf" % big)
    decoded = os.path.join(work, "decoded.bin")
    with Mount(build, one) as m:
        shutil.copyfile(leaf(m.mnt, os.path.basename(one)), decoded)
    results = {}
    for label, src in (("one chunk", one), ("16 MiB chunks", c16)):
        ts, hwm, cpu, rcpu = [], [], [], []
        for _ in range(runs):
            with Mount(build, src) as m:
                c0 = children_cpu_s()
                ts.append(timed(lambda: cat(leaf(m.mnt, os.path.basename(src)))))
                rcpu.append(children_cpu_s() - c0)
                cpu.append(daemon_cpu_s(m.pid))
                hwm.append(m.hwm_kib())
        results[label] = med(ts)
        row("1", "ckptfs cat, %s (defaults: daemon peak RSS %.0f MiB)" % (label, med(hwm) / 1024),
            nbig / MiB / med(ts), "MiB/s")
        row("1", "%s: daemon CPU seconds per GiB" % label, med(cpu) * GiB / nbig, "s")
        row("1", "%s: cat's CPU seconds per GiB" % label, med(rcpu) * GiB / nbig, "s")
        ts = []
        for _ in range(runs):
            with Mount(build, src, "readahead=0") as m:
                ts.append(timed(lambda: cat(leaf(m.mnt, os.path.basename(src)))))
        results[label + " no readahead"] = med(ts)
        row("1", "ckptfs cat, %s, -o readahead=0" % label, nbig / MiB / med(ts), "MiB/s")
        ts, hwm = [], []
        for _ in range(runs):
            with Mount(build, src, "cache_size=256M", "readahead=64M") as m:
                ts.append(timed(lambda: cat(leaf(m.mnt, os.path.basename(src)))))
                hwm.append(m.hwm_kib())
        row("1", "ckptfs cat, %s, -o cache_size=256M,readahead=64M (daemon peak RSS %.0f MiB)" % (label, med(hwm) / 1024),
            nbig / MiB / med(ts), "MiB/s")
    chunks1 = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(plain) for f in fs
                     if not f.startswith(".") and "w_00" in dp)
    chunks16 = sorted((os.path.join(dp, f) for dp, _, fs in os.walk(plain16) for f in fs
                       if not f.startswith(".") and "w_00" in dp),
                      key=lambda p: int(os.path.basename(p).split(".")[0]))
    for label, files in (("one chunk", chunks1), ("16 MiB chunks", chunks16)):
        ts = [timed(lambda: sh("zstd", "-dcq", *files, stdout=subprocess.DEVNULL)) for _ in range(runs)]
        results["zstd " + label] = med(ts)
        row("1", "zstd -dc of the same compressed bytes, %s (1 core)" % label, nbig / MiB / med(ts), "MiB/s")
    # the machine's limit on using both CPUs: one decoder slows the other
    # (shared caches and memory, or the host's cores): a 2-CPU floor that
    # assumes two independent cores is optimistic by this much
    busy = subprocess.Popen(["sh", "-c", "while :; do zstd -dcq \"$@\" > /dev/null; done", "sh"]
                            + chunks1)
    try:
        time.sleep(0.2)
        ts = [timed(lambda: sh("zstd", "-dcq", *chunks1, stdout=subprocess.DEVNULL))
              for _ in range(runs)]
    finally:
        busy.kill()
        busy.wait()
    row("1", "zstd -dc, one chunk, beside another zstd -dc on the other CPU: time / alone",
        med(ts) / results["zstd one chunk"], "x")
    code = ("import sys, time, zarr\nt = time.monotonic()\na = zarr.open(sys.argv[1], mode='r')[...]\n"
            "print(time.monotonic() - t)")
    for label, p in (("one chunk", plain), ("16 MiB chunks", plain16)):
        arr = [os.path.join(p, d) for d in os.listdir(p) if d.endswith("w_00")][0]
        ts = [float(subprocess.run(["/usr/bin/python3", "-c", code, arr], capture_output=True,
                                   text=True, check=True).stdout) for _ in range(runs)]
        results["zarr " + label] = med(ts)
        row("1", "python3-zarr reads the array, %s" % label, nbig / MiB / med(ts), "MiB/s")
    cat(decoded)
    ts = [timed(lambda: cat(decoded)) for _ in range(runs)]
    results["page cache"] = med(ts)
    row("1", "cat of the decoded bytes from the page cache (the limit)", nbig / MiB / med(ts), "MiB/s")
    for label in ("one chunk", "16 MiB chunks"):
        row("1", "ratio ckptfs / zstd -dc, %s" % label, results["zstd " + label] / results[label], "x")
        row("1", "ratio ckptfs / python3-zarr, %s" % label, results["zarr " + label] / results[label], "x")
        row("1", "ratio read-ahead on / off, %s" % label,
            results[label + " no readahead"] / results[label], "x")

    # ------------------------------------------------------------ 2. random preads
    print("2. random 4 KiB preads in the %s leaf" % big)
    for label, src, n in (("16 MiB chunks", c16, 300), ("one chunk", one, 10)):
        lat = []
        dec = []
        for _ in range(runs):
            with Mount(build, src) as m:
                p = leaf(m.mnt, os.path.basename(src))
                fd = os.open(p, os.O_RDONLY)
                rnd = random.Random(1)
                for _ in range(n):
                    off = rnd.randrange(0, nbig - 4096) & ~4095
                    t0 = time.monotonic()
                    os.pread(fd, 4096, off)
                    lat.append(time.monotonic() - t0)
                os.close(fd)
                dec.append(m.stats()["decoded_bytes"] / n)
        lat.sort()
        row("2", "%s: median latency (%d reads)" % (label, n), 1000 * med(lat), "ms")
        row("2", "%s: 99th percentile latency" % label, 1000 * lat[int(0.99 * (len(lat) - 1))], "ms")
        row("2", "%s: decoded bytes per 4 KiB read" % label, med(dec) / MiB, "MiB")

    # ------------------------------------------------------------ 3. metadata walks
    print("3. find, ls -lR, du -s on %d leaves" % nleaves)
    with Mount(build, many) as m:
        entries = int(subprocess.run("find %s | wc -l" % m.mnt, shell=True, capture_output=True,
                                     text=True).stdout)
    for tool in (["find"], ["ls", "-lR"], ["du", "-s"]):
        cold, warm = [], []
        for _ in range(runs):
            with Mount(build, many) as m:
                cold.append(timed(lambda: sh(*tool, m.mnt, stdout=subprocess.DEVNULL)))
                warm.append(timed(lambda: sh(*tool, m.mnt, stdout=subprocess.DEVNULL)))
        row("3", "%s: entries/s cold (first walk after mount)" % " ".join(tool), entries / med(cold), "1/s")
        row("3", "%s: entries/s warm" % " ".join(tool), entries / med(warm), "1/s")

    # ------------------------------------------------------------ 4. mount and memory
    print("4. mount-to-ready and daemon peak RSS")
    cases = (("%d leaves" % nleaves, many, ()),)
    if ten:
        cases += (("10 GiB", ten, ()), ("10 GiB, -o cache_size=256M,readahead=64M", ten,
                                          ("cache_size=256M", "readahead=64M")))
    for label, src, opts in cases:
        ready, first, hwm = [], [], []
        for _ in range(runs):
            with Mount(build, src, *opts) as m:
                ready.append(m.ready_s)
                first.append(timed(lambda: os.listdir(os.path.dirname(leaf(m.mnt, os.path.basename(src))))))
                sh("ls", "-lR", m.mnt, stdout=subprocess.DEVNULL)
                if src == ten:
                    sh("sh", "-c", "cat $(find %s -type f ! -name '*.json') > /dev/null" % m.mnt)
                hwm.append(m.hwm_kib())
        row("4", "%s: mount until ckptfs returns (serving)" % label, 1000 * med(ready), "ms")
        row("4", "%s: first listing of a leaf's directory" % label, 1000 * med(first), "ms")
        row("4", "%s: daemon peak RSS after ls -lR%s" % (label, " and reading it all" if src == ten else ""),
            med(hwm) / 1024, "MiB")

    # ------------------------------------------------------------ 5. parallel readers
    print("5. 8 processes reading 8 different 128 MiB leaves")
    one_t, eight_t, one_cpu, eight_cpu, eight_hwm = [], [], [], [], []
    for _ in range(runs):
        with Mount(build, eight) as m:
            files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(m.mnt) for f in fs
                           if not f.endswith((".json", ".npy")))
            one_t.append(timed(lambda: cat(files[0])))
            one_cpu.append(daemon_cpu_s(m.pid))
        with Mount(build, eight) as m:
            files = sorted(os.path.join(dp, f) for dp, _, fs in os.walk(m.mnt) for f in fs
                           if not f.endswith((".json", ".npy")))
            t0 = time.monotonic()
            ps = [subprocess.Popen(["cat", f], stdout=subprocess.DEVNULL) for f in files]
            for p in ps:
                p.wait()
            eight_t.append(time.monotonic() - t0)
            eight_cpu.append(daemon_cpu_s(m.pid))
            eight_hwm.append(m.hwm_kib())
    row("5", "1 process: throughput", 128 / med(one_t), "MiB/s")
    row("5", "1 process: daemon CPU seconds per GiB", med(one_cpu) * 8, "s")
    row("5", "8 processes: aggregate throughput (daemon peak RSS %.0f MiB)" % (med(eight_hwm) / 1024),
        8 * 128 / med(eight_t), "MiB/s")
    row("5", "8 processes: daemon CPU seconds per GiB", med(eight_cpu), "s")
    row("5", "ratio 8 processes / 1", (8 * 128 / med(eight_t)) / (128 / med(one_t)), "x")

    # ------------------------------------------------------------ 6. repeated read
    print("6. the same leaf read twice (kernel page cache, keep_cache)")
    first, second = [], []
    for _ in range(runs):
        with Mount(build, c16) as m:
            p = leaf(m.mnt, os.path.basename(c16))
            first.append(timed(lambda: cat(p)))
            second.append(timed(lambda: cat(p)))
    row("6", "first read", nbig / MiB / med(first), "MiB/s")
    row("6", "second read", nbig / MiB / med(second), "MiB/s")
    row("6", "ratio second / first", med(first) / med(second), "x")

    # ------------------------------------------------------------ 7. a whole step
    whole_steps(build, work, quick, runs, row)

    # ------------------------------------------------------------ 8. after a full pass
    after_pass(build, work, quick, runs, row)

    # ------------------------------------------------------------ 9. on S3
    if "--no-s3" not in sys.argv:
        s3_cases(build, work, quick, runs, row)

    os.unlink(decoded)
    # the table goes where the last run's went: the sections written by hand
    # after it (each headed "## ") stay
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    try:
        old = open(path).read()
    except OSError:
        old = ""
    kept = old[old.index("\n## ") + 1:] if "\n## " in old else ""
    with open(path, "w") as f:
        f.write("# ckptfs benchmark results\n\n")
        f.write("%s, %s; medians of %d runs%s; `scripts/bench`.\n\n" % (
            time.strftime("%Y-%m-%d"), machine(), runs, " (--quick)" if quick else ""))
        f.write("| case | what | value | unit |\n|---|---|---:|---|\n")
        for c, w, v, u in rows:
            f.write("| %s | %s | %.3f | %s |\n" % (c, w, v, u))
        f.write("\nCases: 1 sequential `cat` of a %s float32 leaf (random normal values, zstd level 1) "
                "against `zstd -dc`, python3-zarr and the page cache; 2 random 4 KiB preads; "
                "3 metadata walks of %d leaves; 4 mount and memory; 5 parallel readers; "
                "6 a repeated read; 7 a whole step (many 256 KiB leaves, fewer 4 MiB ones, GPT-2's "
                "shapes) read by six readers (readers' CPU is this script's children's); 8 random reads "
                "into the one-chunk leaf after a full pass, spill on and off; 9 on S3 (local s3rver "
                "behind tests/s3/faultproxy.py, round trips emulated per request by the proxy, "
                "not bandwidth-delay). All mounts `-o ro`.\n" % (big, nleaves))
        if kept:
            f.write("\n" + kept)
    print("written bench/RESULTS.md")


if __name__ == "__main__":
    main()
