"""Every shared fixture (tests/data, SPEC section 6) through Python."""
import numpy as np
import pytest

import sbtest

CASES = sbtest.case_names()


@pytest.mark.parametrize("name", CASES)
def test_fixture_forward(sb, name):
    x, lengths, want = sbtest.load_io(name)
    with sb.Model(sbtest.model_path(name)) as m:
        info = m.info
        got = m.forward(x, lengths)
        assert got.dtype == np.float32 and got.shape == want.shape
        sbtest.assert_agree(got, want, name)
        # per-layer figures of that forward
        stats = m.layer_stats()
        assert len(stats) == info.n_layers
        for tokens, activated, ms in stats:
            assert tokens == int(lengths.sum()) and 0 <= activated <= tokens and ms >= 0
        # lengths omitted = all L: only checkable on full-length cases
        if np.all(lengths == x.shape[1]):
            assert np.array_equal(m.forward(x), got)


@pytest.mark.parametrize("name", ["ragged_batch", "lm_tokens", "bidir_softmax_batchnorm_classify"])
def test_fixture_run_file(sb, name, tmp_path):
    _, _, want = sbtest.load_io(name)
    out = tmp_path / "out.safetensors"
    with sb.Model(sbtest.model_path(name)) as m:
        m.run_file(sbtest.io_path(name), out)
    sbtest.assert_agree(sbtest.read_safetensors(str(out))["output"], want, name + " (run_file)")


def test_info(sb):
    with sb.Model(sbtest.model_path("lm_tokens")) as m:
        i = m.info
        assert i.task == "lm" and i.vocab_size > 0 and i.d_output == i.vocab_size
        assert i.n_params > 0 and i.device
    with sb.Model(sbtest.model_path("bidir_softmax_batchnorm_classify")) as m:
        i = m.info
        assert i.task == "classify" and i.bidirectional and i.batchnorm and i.softmax


def test_padding_does_not_matter(sb):
    # a padded batch gives, at valid positions, what each sequence gives alone (SPEC 5)
    x, lengths, _ = sbtest.load_io("ragged_batch")
    with sb.Model(sbtest.model_path("ragged_batch")) as m:
        full = m.forward(x, lengths)
        for b, n in enumerate(lengths):
            alone = m.forward(x[b:b + 1, :n], [n])
            assert np.array_equal(alone[0], full[b, :n]), "sequence %d" % b
            assert not np.any(full[b, n:])


def test_lists_and_other_dtypes_are_converted(sb):
    x, lengths, _ = sbtest.load_io("lm_tokens")
    with sb.Model(sbtest.model_path("lm_tokens")) as m:
        a = m.forward(x.astype(np.int64), lengths.astype(np.int64))
        b = m.forward(x.astype(np.int32).tolist(), lengths.tolist())
        c = m(np.asfortranarray(x))
        assert np.array_equal(a, b)
        if np.all(lengths == x.shape[1]):
            assert np.array_equal(a, c)
