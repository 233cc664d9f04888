"""Streaming through Python: prefill + steps equal the batch forward."""
import os
import subprocess

import numpy as np
import pytest

import sbtest


def _stream_vs_forward(sb, name, prefill):
    x, lengths, _ = sbtest.load_io(name)
    with sb.Model(sbtest.model_path(name)) as m:
        full = m.forward(x, lengths)
        with m.stream() as s:
            for b in range(x.shape[0]):
                n = int(lengths[b])
                pre = min(prefill, n)
                s.reset()
                assert s.position == 0
                rows = []
                if pre:
                    rows.append(s.feed(x[b, :pre], return_all=True))
                    # the prefill is the parallel forward of that prefix
                    alone = m.forward(x[b:b + 1, :pre], [pre])[0]
                    assert np.array_equal(rows[0], alone)
                for t in range(pre, n):
                    rows.append(s.step(x[b, t])[None, :])
                got = np.concatenate(rows)
                assert s.position == n
                want = full[b, :n]
                scale = max(1.0, float(np.max(np.abs(want))))
                np.testing.assert_allclose(got, want, rtol=1e-4, atol=2e-5 * scale,
                                           err_msg="%s b=%d prefill=%d" % (name, b, pre))


@pytest.mark.parametrize("name", ["lm_tokens", "causal_relu2_layernorm", "causal_rotary",
                                  "sparse_router"])
@pytest.mark.parametrize("prefill", [0, 1, 7])
def test_stream_equals_forward(sb, name, prefill):
    with sb.Model(sbtest.model_path(name)) as m:
        if m.info.bidirectional or m.info.task == "classify":
            pytest.skip("not a causal model")
    _stream_vs_forward(sb, name, prefill)


def test_feed_last_and_activity(sb):
    x, lengths, _ = sbtest.load_io("lm_tokens")
    with sb.Model(sbtest.model_path("lm_tokens")) as m:
        s = m.stream()
        n = int(lengths[0])
        all_rows = s.feed(x[0, :n], return_all=True)
        s.reset()
        last = s.feed(x[0, :n])
        assert np.array_equal(last, all_rows[-1])
        for layer in range(m.info.n_layers):
            assert s.layer_activity(layer) == (0, 0)  # prefill is not counted
        s.step(int(x[0, 0]))
        steps, act = s.layer_activity(0)
        assert steps == 1 and act in (0, 1)
        m.close()  # closes the stream too
        with pytest.raises(sb.SeqboatError):
            s.step(1)


@pytest.mark.skipif(not os.path.exists(sbtest.DEMO_MODEL), reason="demo model not present")
def test_generate_matches_cli(sb):
    prompt = b"import os\ndef main("
    with sb.Model(sbtest.DEMO_MODEL) as m:
        greedy = m.generate(prompt, max_tokens=24, temperature=0)
        sampled = m.generate(prompt, max_tokens=24, temperature=0.8, top_p=0.95, seed=7)
        again = m.generate(prompt, max_tokens=24, temperature=0.8, top_p=0.95, seed=7)
        assert len(greedy) == 24 and sampled == again
        assert m.generate(prompt, max_tokens=0) == b""
        # greedy = argmax of the batch forward at every step
        ids = np.frombuffer(prompt + greedy, np.uint8).astype(np.int32)[None, :]
        logits = m.forward(ids)[0]
        assert bytes(np.argmax(logits[len(prompt) - 1:-1], axis=1).astype(np.uint8)) == greedy
    cli = os.environ.get("SEQBOAT_CLI", os.path.join(sbtest.ROOT, "build", "seqboat"))
    if not os.path.exists(cli):
        pytest.skip("seqboat program not found (set SEQBOAT_CLI)")
    r = subprocess.run([cli, "generate", "--model", sbtest.DEMO_MODEL, "--prompt", prompt.decode(),
                        "--max-tokens", "24", "--temperature", "0.8", "--top-p", "0.95",
                        "--seed", "7"], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout == prompt + sampled + b"\n"
