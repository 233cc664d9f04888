"""Failures come back as SeqboatError with the library's status and message."""
import numpy as np
import pytest

import sbtest


def test_bad_path(sb, tmp_path):
    missing = tmp_path / "no_such_model.safetensors"
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(missing)
    e = ei.value
    assert e.status_name == "SB_ERR_IO" and e.status == 200
    assert "no_such_model.safetensors" in e.message and e.message in str(e)


def test_not_a_model(sb, tmp_path):
    p = tmp_path / "junk.safetensors"
    p.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(p)
    assert ei.value.status_name in ("SB_ERR_FORMAT", "SB_ERR_META")
    # an io file is a valid safetensors file but not a model
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(sbtest.io_path("ragged_batch"))
    assert ei.value.status_name in ("SB_ERR_META", "SB_ERR_TENSOR")


def test_bad_device(sb):
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(sbtest.model_path("ragged_batch"), device="no-such-device-xyz")
    assert ei.value.status_name == "SB_ERR_NO_DEVICE" and "no-such-device-xyz" in ei.value.message
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(sbtest.model_path("ragged_batch"), device="999")
    assert ei.value.status_name == "SB_ERR_NO_DEVICE"
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(sbtest.model_path("ragged_batch"), device="0,0")
    assert ei.value.status_name == "SB_ERR_ARG" and "twice" in ei.value.message
    with pytest.raises(sb.SeqboatError) as ei:
        sb.Model(sbtest.model_path("ragged_batch"), device="0,")
    assert ei.value.status_name == "SB_ERR_ARG" and "empty" in ei.value.message


def test_bad_lengths(sb):
    x, lengths, _ = sbtest.load_io("ragged_batch")
    with sb.Model(sbtest.model_path("ragged_batch")) as m:
        L = x.shape[1]
        for bad, where in ((0, 1), (L + 1, 2), (-3, 0)):
            ln = lengths.copy()
            ln[where] = bad
            with pytest.raises(sb.SeqboatError) as ei:
                m.forward(x, ln)
            assert ei.value.status_name == "SB_ERR_ARG"
            assert "lengths[%d] = %d" % (where, bad) in ei.value.message
        with pytest.raises(sb.SeqboatError) as ei:
            m.forward(x, lengths[:-1])
        assert ei.value.status_name == "SB_ERR_ARG" and "lengths" in ei.value.message
        with pytest.raises(sb.SeqboatError):
            m.forward(x, lengths.astype(np.float32))
        # the model is still usable after errors
        m.forward(x, lengths)


def test_bad_inputs(sb):
    x, lengths, _ = sbtest.load_io("ragged_batch")
    with sb.Model(sbtest.model_path("ragged_batch")) as m:
        with pytest.raises(sb.SeqboatError) as ei:
            m.forward(x[:, :, :-1], lengths)  # wrong feature count
        assert ei.value.status_name == "SB_ERR_ARG"
        with pytest.raises(sb.SeqboatError):
            m.forward(x[0], lengths)  # wrong rank
        with pytest.raises(sb.SeqboatError) as ei:
            m.forward(np.zeros((0, 4, x.shape[2]), np.float32))  # empty batch: library refuses
        assert ei.value.status_name == "SB_ERR_ARG" and "batch" in ei.value.message
    ids, lengths, _ = sbtest.load_io("lm_tokens")
    with sb.Model(sbtest.model_path("lm_tokens")) as m:
        bad = ids.copy()
        bad[0, 3] = m.info.vocab_size
        with pytest.raises(sb.SeqboatError) as ei:
            m.forward(bad, lengths)
        assert ei.value.status_name == "SB_ERR_ARG" and "[0, 3]" in ei.value.message
        with pytest.raises(sb.SeqboatError):
            m.forward(ids.astype(np.float32))  # floats are not token ids
        with pytest.raises(sb.SeqboatError):
            m.forward(ids.astype(np.int64) + 2 ** 40)  # beyond int32
        with m.stream() as s:
            with pytest.raises(sb.SeqboatError) as ei:
                s.step(-1)
            assert "vocabulary" in ei.value.message


def test_stream_on_non_causal(sb):
    with sb.Model(sbtest.model_path("bidir_softmax_batchnorm_classify")) as m:
        with pytest.raises(sb.SeqboatError) as ei:
            m.stream()
        assert ei.value.status_name == "SB_ERR_STATE"
        with pytest.raises(sb.SeqboatError) as ei:
            m.generate(b"x", 3)
        assert ei.value.status_name == "SB_ERR_UNSUPPORTED"


def test_closed_model(sb):
    m = sb.Model(sbtest.model_path("ragged_batch"))
    m.close()
    m.close()
    with pytest.raises(sb.SeqboatError) as ei:
        m.layer_stats()
    assert ei.value.status_name == "SB_ERR_STATE"
