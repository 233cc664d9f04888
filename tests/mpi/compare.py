#!/usr/bin/env python3
"""compare.py MODEL ONE MANY: the `output` of ONE (one process) against MANY
(mpirun) for scripts/ci_mpi.sh. relu2 attention: the files must be equal byte
for byte. softmax: the same header and shape, and SPEC section 6 agreement
(relative L2 error <= 1e-4, max abs error <= 2e-3); one process's softmax
sums may differ in the last bits with the other sequences of a forward.
Prints what held; exit status 1 when it did not."""
import json, math, struct, sys


def read(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        return header, f.read()


def main():
    model, one, many = sys.argv[1:4]
    meta = read(model)[0].get("__metadata__", {})
    softmax = meta.get("attention_activation") == "softmax"
    a, b = open(one, "rb").read(), open(many, "rb").read()
    if a == b:
        print("identical")
        return 0
    if not softmax:
        print("differs (relu2 must be bit for bit)")
        return 1
    (ha, da), (hb, db) = read(one), read(many)
    if ha != hb or len(da) != len(db):
        print("differs: header or size")
        return 1
    x = struct.unpack("<%df" % (len(da) // 4), da)
    y = struct.unpack("<%df" % (len(db) // 4), db)
    num = sum((p - q) ** 2 for p, q in zip(x, y))
    den = sum(p * p for p in x) or 1.0
    rel, mx = math.sqrt(num / den), max(abs(p - q) for p, q in zip(x, y))
    ok = rel <= 1e-4 and mx <= 2e-3
    print("%s (softmax: relative L2 %.2e, max abs %.2e)" % ("within SPEC tolerance" if ok else "beyond SPEC tolerance", rel, mx))
    return 0 if ok else 1


sys.exit(main())
