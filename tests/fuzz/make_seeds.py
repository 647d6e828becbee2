#!/usr/bin/python3
"""make_seeds.py OUT FIXTURES...: seed corpora for the fuzz targets, built
from checkpoint directories (the shared fixtures, tests/fixtures/real, and
ones `ckpt make` writes): OUT/<target>/<n>.  Standard library (numpy for .npy
seeds when it is there)."""
import hashlib, io, os, sys

def save(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

def read(path, limit=1 << 16):
    with open(path, "rb") as f:
        return f.read(limit)

def main():
    out, roots = sys.argv[1], sys.argv[2:]
    items = 0
    for root in roots:
        for d, dirs, files in os.walk(root):
            dirs.sort()
            for f in sorted(files):
                p = os.path.join(d, f)
                if f == "checkpoint" or (f.startswith("checkpoint_") and not f.endswith("tmp")
                                         and os.path.isfile(p) and os.path.getsize(p) < (1 << 16)):
                    data = read(p)
                    if data[:1] and (data[0] & 0xf0 == 0x80 or data[0] in (0xde, 0xdf)):
                        save(out, "msgpack", data)
                        save(out, "mpack", data)
                if f == "manifest.ocdbt" or f.startswith("manifest."):
                    save(out, "ocdbt", b"\x00" + read(p))
                elif os.path.basename(d) == "d" and len(f) == 32:
                    data = read(p)
                    for sel in (b"\x01", b"\x02"):
                        save(out, "ocdbt", sel + data)
                elif f in (".zarray", "zarr.json"):
                    chunk = b""
                    for g in sorted(files):
                        if g not in (".zarray", "zarr.json", ".zattrs") and not g.startswith("."):
                            chunk = read(os.path.join(d, g))
                            break
                    save(out, "zarr", read(p) + b"\x00" + chunk)
            if "_METADATA" in files and items < 200:
                parts = []
                for name in ("_METADATA", "_CHECKPOINT_METADATA", "_sharding",
                             "array_metadatas/process_0", "_strings.json"):
                    q = os.path.join(d, name)
                    parts.append(read(q, 1 << 20) if os.path.exists(q) else b"")
                parts.append(b'{"zarr_format": 2, "shape": [4], "chunks": [4], "dtype": "<i4", '
                             b'"compressor": null, "fill_value": 0, "order": "C", "filters": null}')
                if "checkpoint" in files:  # Orbax's aggregate file: the rest
                    parts.append(read(os.path.join(d, "checkpoint")))
                save(out, "item", b"\x00".join(parts))
                items += 1
    try:
        import msgpack
        nd = lambda shape, name, raw: msgpack.ExtType(1, msgpack.packb((shape, name, raw), use_bin_type=True))
        save(out, "msgpack", msgpack.packb({
            "chunked": {"__msgpack_chunked_array__": True, "shape": {"0": 2, "1": 3},
                        "chunks": {"0": nd([4], "int16", bytes(8)), "1": nd([2], "int16", b"\x01\x00\x02\x00")}},
            "tuple": msgpack.ExtType(4, msgpack.packb([1, -2.5, None])),
            "s": msgpack.ExtType(3, msgpack.packb(((), "float32", b"\x00\x00\x80?"), use_bin_type=True)),
            "c": msgpack.ExtType(2, msgpack.packb((1.0, -1.0))), "x": msgpack.ExtType(9, b"abc"),
            "n": -70000, "u": 2 ** 64 - 1, "b": b"\x00\xff", "e": {}, "l": [], "none": None}, use_bin_type=True))
    except ImportError:
        pass
    try:
        import numpy as np
        for a in (np.arange(12, dtype="<f4").reshape(3, 4), np.zeros((2, 0), ">i8"),
                  np.array(True), np.ones(5, np.complex64), np.arange(6, dtype=">u2")):
            b = io.BytesIO()
            np.save(b, a)
            save(out, "npy", b.getvalue())
    except ImportError:
        save(out, "npy", b"\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }" + b" " * 10 + b"\n" + bytes(12))
    # S3's answers, as ListObjectsV2 and errors give them
    for body in (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            b'<Name>b</Name><Prefix>ck/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>'
            b'<Contents><Key>ck/a&amp;b &lt;1&gt;&#252;&#x1F600;</Key><LastModified>2009-10-12T17:50:30.000Z</LastModified>'
            b'<ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag><Size>434234</Size>'
            b'<StorageClass>STANDARD</StorageClass><Owner><ID>x</ID></Owner></Contents>'
            b'<CommonPrefixes><Prefix>ck/d/</Prefix></CommonPrefixes><CommonPrefixes><Prefix><![CDATA[ck/<e>/]]></Prefix>'
            b'</CommonPrefixes><!-- c --><NextContinuationToken>1ueGc/X+=</NextContinuationToken></ListBucketResult>',
            b'<ListBucketResult><IsTruncated>false</IsTruncated><Contents><Key>z</Key><Size>0</Size>'
            b'<LastModified>1970-01-01T00:00:01.5+01:00</LastModified><ETag/></Contents></ListBucketResult>',
            b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SignatureDoesNotMatch</Code><Message>The request '
            b'signature we calculated does not match.</Message><Region>eu-west-1</Region><RequestId>1</RequestId></Error>'):
        save(out, "s3xml", body)

if __name__ == "__main__":
    main()
