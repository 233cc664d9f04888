"""Model-file format version 2 through the binding (docs/FAIRSEQ.md): a
token-id classify model and a pair model, against the same encoder as a
single-input model with an identity decoder."""
import json
import struct

import numpy as np
import pytest

V, D, Z, H, N, W, P, NL = 11, 8, 4, 8, 2, 4, 32, 2


def _write(path, tensors, meta):
    header, off, blobs = {"__metadata__": meta}, 0, []
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(arr, dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + arr.nbytes]}
        off += arr.nbytes
        blobs.append(arr.tobytes())
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def _model(path, pair, d_out, dec):
    rng = np.random.default_rng(7)
    t = {"embed_tokens.weight": rng.uniform(-1, 1, (V, D))}
    for i in range(NL):
        p = "seq_layers.%d." % i
        t.update({p + "gamma": rng.uniform(-.5, .5, (2, Z)), p + "beta": rng.uniform(-.1, .1, (2, Z)),
                  p + "norm.norm.scalar": np.array([0.9]),
                  p + "ssm.delta": rng.uniform(-.4, .4, (2 * D, N, 1)),
                  p + "ssm.alpha": rng.uniform(-.4, .4, (2 * D, N, 1)),
                  p + "ssm.beta": rng.uniform(.8, 1.2, (2 * D, N, 1)),
                  p + "ssm.gamma": rng.uniform(-1, 1, (2 * D, N)), p + "ssm.omega": rng.uniform(-1, 1, D),
                  p + "rel_pos_bias.rel_pos_bias": rng.uniform(-.3, .3, 6 * W - 1),
                  p + "q_router.temp": np.array([0.5]),
                  p + "mx_proj.weight": rng.uniform(-.4, .4, (Z + 2 * H, D)),
                  p + "mx_proj.bias": rng.uniform(-.1, .1, Z + 2 * H),
                  p + "hx_proj.weight": rng.uniform(-.4, .4, (2 + D, D)),
                  p + "hx_proj.bias": rng.uniform(-.1, .1, 2 + D),
                  p + "h_proj.weight": rng.uniform(-.4, .4, (D, H)), p + "h_proj.bias": rng.uniform(-.1, .1, D)})
    t["decoder.weight"] = dec
    meta = {"seqboat.format_version": "2", "task": "classify", "vocab_size": str(V),
            "d_output": str(d_out), "d_model": str(D), "n_layers": str(NL), "d_qk": str(Z),
            "d_hidden": str(H), "d_ema": str(N), "mem_size": str(W), "max_positions": str(P),
            "truncation": "0", "bidirectional": "true", "prenorm": "false", "norm_type": "scalenorm",
            "rel_pos_bias": "local", "attention_activation": "softmax", "decoder_bias": "false",
            "pair": pair}
    _write(path, t, meta)


def test_token_pair_model(sb, tmp_path):
    _model(tmp_path / "pair.safetensors", "concat", 2 * D, np.eye(2 * D))
    _model(tmp_path / "one.safetensors", "none", D, np.eye(D))
    pair = sb.Model(str(tmp_path / "pair.safetensors"))
    one = sb.Model(str(tmp_path / "one.safetensors"))
    info = pair.info
    assert info.token_ids and info.d_input == 0 and info.vocab_size == V
    assert info.norm_type == "scalenorm" and info.rel_pos_bias == "local"
    rng = np.random.default_rng(3)
    i0, i1 = rng.integers(0, V, (2, 13)), rng.integers(0, V, (2, 21))
    l0, l1 = [13, 6], [21, 2]
    got = pair.forward_pair(i0, i1, l0, l1)
    want = np.concatenate([one.forward(i1, l1), one.forward(i0, l0)], axis=1)  # [r1, r0]
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    with pytest.raises(sb.SeqboatError, match="two inputs"):
        pair.forward(i0, l0)
    with pytest.raises(sb.SeqboatError):
        one.forward_pair(i0, i1, l0, l1)
    with pytest.raises(sb.SeqboatError, match="integers"):  # floats to a token-id model
        pair.forward(rng.uniform(size=(2, 13)).astype(np.float32))
