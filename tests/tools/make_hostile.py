#!/usr/bin/python3
"""Builds pytree items whose metadata points outside SOURCE, with the
independent reference encoder:
  escape/   the chunk of 'x' is an out-of-line value in file '../outside.bin'
  symlink/  the chunk of 'x' is in d/<hex>, a symlink to ../outside.bin
  make_hostile.py OCDBT_REF_DIR OUTDIR        (OUTDIR/outside.bin is the bait)
"""
import json, os, sys

sys.path.insert(0, sys.argv[1])
import ocdbt_ref as R  # noqa: E402

out = sys.argv[2]
os.makedirs(out, exist_ok=True)
bait = bytes(range(16)) * 4
open(os.path.join(out, "outside.bin"), "wb").write(bait)
zarray = json.dumps({"chunks": [16], "compressor": None, "dimension_separator": ".",
                     "dtype": "<i4", "fill_value": None, "filters": None, "order": "C",
                     "shape": [16], "zarr_format": 2}).encode()
meta = {"tree_metadata": {"('x',)": {"key_metadata": [{"key": "x", "key_type": 2}],
                                     "value_metadata": {"value_type": "jax.Array",
                                                        "skip_deserialize": False}}},
        "use_ocdbt": True, "use_zarr3": False, "store_array_data_equal_to_fill_value": True}
cfg = dict(uuid=b"0123456789abcdef", manifest_kind=0, max_inline_value_bytes=32,
           max_decoded_node_bytes=100000000, version_tree_arity_log2=4, compression=1,
           zstd_level=0)

def item(name, value_file):
    d = os.path.join(out, name)
    os.makedirs(d + "/d", exist_ok=True)
    json.dump(meta, open(d + "/_METADATA", "w"))
    entries = [dict(key=b"x/.zarray", value=zarray),
               dict(key=b"x/0", file=value_file, offset=0, length=len(bait))]
    node = R.wrap(R.BTREE_NODE_MAGIC, R.encode_leaf_body(entries))
    nf = (b"", b"d/" + b"1" * 32)
    open(os.path.join(d, nf[1].decode()), "wb").write(node)
    ver = dict(generation=1, root_height=0, file=nf, offset=0, length=len(node), num_keys=2,
               num_tree_bytes=len(node), num_indirect_value_bytes=len(bait), commit_time_ns=1)
    open(d + "/manifest.ocdbt", "wb").write(R.wrap(R.MANIFEST_MAGIC, R.encode_manifest_body(cfg, [ver])))
    return d

item("escape", (b"", b"../outside.bin"))
d = item("symlink", (b"", b"d/" + b"2" * 32))
os.symlink("../../outside.bin", os.path.join(d, "d", "2" * 32))
