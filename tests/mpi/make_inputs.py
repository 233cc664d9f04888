#!/usr/bin/env python3
"""Input files for scripts/ci_mpi.sh (SPEC section 5), written with the
standard library only: make_inputs.py MODEL_DIR OUT_DIR.
  ragged.io.safetensors     F32 [9, 50, 3], lengths 1..50 (causal_relu2_layernorm)
  lm_ragged.io.safetensors  I32 [7, 64] token ids, ragged lengths (lm_tokens)
  long.io.safetensors       F32 [1, 70000, 3]: one causal sequence longer than a
                            block (65536 tokens), run block-wise on one rank
  bad_ids.io.safetensors    I64 [4, 64]: sequence 3 holds a token id = vocab_size
make_inputs.py --random B L F OUT: F32 [B, L, F] uniform in [-1, 1), lengths
uniform in L/2..L (seed 15), for throughput runs (README).
"""
import json, random, struct, sys


def meta(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n)).get("__metadata__", {})


def write(path, tensors):
    """tensors: list of (name, dtype, shape, packed bytes)."""
    header, off = {}, 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": shape, "data_offsets": [off, off + len(data)]}
        off += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for t in tensors:
            f.write(t[3])


def floats(n, rng):
    return struct.pack("<%df" % n, *[rng.uniform(-1, 1) for _ in range(n)])


def main():
    rng = random.Random(15)
    if sys.argv[1] == "--random":
        B, L, F = (int(v) for v in sys.argv[2:5])
        lens = [rng.randint(L // 2 if L > 1 else 1, L) for _ in range(B)]
        write(sys.argv[5], [("input", "F32", [B, L, F], floats(B * L * F, rng)),
                            ("lengths", "I64", [B], struct.pack("<%dq" % B, *lens))])
        return
    models, out = sys.argv[1], sys.argv[2]
    F = int(meta(models + "/causal_relu2_layernorm.model.safetensors")["d_input"])
    B, L = 9, 50
    lens = [rng.randint(1, L) for _ in range(B)]
    lens[2] = L
    write(out + "/ragged.io.safetensors",
          [("input", "F32", [B, L, F], floats(B * L * F, rng)),
           ("lengths", "I64", [B], struct.pack("<%dq" % B, *lens))])
    V = int(meta(models + "/lm_tokens.model.safetensors")["vocab_size"])
    B, L = 7, 64
    lens = [rng.randint(1, L) for _ in range(B)]
    ids = [rng.randrange(V) for _ in range(B * L)]
    write(out + "/lm_ragged.io.safetensors",
          [("input", "I32", [B, L], struct.pack("<%di" % (B * L), *ids)),
           ("lengths", "I32", [B], struct.pack("<%di" % B, *lens))])
    L = 70000
    write(out + "/long.io.safetensors", [("input", "F32", [1, L, F], floats(L * F, rng))])
    B, L = 4, 64
    ids = [rng.randrange(V) for _ in range(B * L)]
    ids[3 * L + 10] = V
    write(out + "/bad_ids.io.safetensors",
          [("input", "I64", [B, L], struct.pack("<%dq" % (B * L), *ids))])


main()
