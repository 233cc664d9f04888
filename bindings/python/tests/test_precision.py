"""Weights stored as f16, bf16 or int8 (Model(precision=..., weights=...))."""
import numpy as np
import pytest

import sbtest


def test_precision_fixture_and_memory(sb):
    name = "causal_rotary"
    x, lengths, want = sbtest.load_io(name)
    sizes = {}
    for prec, weights, tol in (("f32", None, 1e-4), ("f16", None, 2e-3), ("bf16", None, 1e-2),
                               ("f32", "int8", 5e-2)):
        with sb.Model(sbtest.model_path(name), precision=prec, weights=weights) as m:
            got = m.forward(x, lengths)
            sizes[weights or prec] = m.weight_bytes
        rel = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert rel <= tol, (prec, weights, rel)
    assert sizes["f16"] == sizes["bf16"] < 0.7 * sizes["f32"]
    assert sizes["int8"] < sizes["f16"]


def test_precision_bad_values(sb):
    with pytest.raises(sb.SeqboatError):
        sb.Model(sbtest.DEMO_MODEL, precision="f8")
    with pytest.raises(sb.SeqboatError):
        sb.Model(sbtest.DEMO_MODEL, weights="int4")
