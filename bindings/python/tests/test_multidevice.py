"""A batch split across two devices equals one device, bit for bit.

PoCL is asked for two CPU devices (POCL_DEVICES="pthread pthread"); the
variable must be set before OpenCL starts, so each check runs in a fresh
Python process."""
import os
import subprocess
import sys
import textwrap

import sbtest

SCRIPT = textwrap.dedent("""
    import sys, numpy as np, seqboat, sbtest
    devs = seqboat.devices()
    pocl = [d.index for d in devs if "portable computing language" in d.platform.lower()]
    if len(pocl) < 2:
        print("ONLY %d PoCL devices: %s" % (len(pocl), [d.name for d in devs]))
        sys.exit(3)
    pair = "%d,%d" % (pocl[0], pocl[1])
    for name in ("ragged_batch", "lm_tokens", "bidir_softmax_batchnorm_classify"):
        x, lengths, want = sbtest.load_io(name)
        with seqboat.Model(sbtest.model_path(name), device=str(pocl[0])) as one, \\
             seqboat.Model(sbtest.model_path(name), device=pair) as two:
            assert two.info.device.startswith("2 devices:"), two.info.device
            a = one.forward(x, lengths)
            b = two.forward(x, lengths)
            assert np.array_equal(a, b), name + ": two devices differ from one"
            sbtest.assert_agree(b, want, name + " on " + pair)
            assert one.layer_stats()[0][:2] == two.layer_stats()[0][:2]
            if two.info.task == "lm":
                with two.stream() as s:  # streams run on the first device
                    s.feed(x[0, :5])
        print("OK", name, pair)
""")


def test_two_devices_equal_one(sb):
    env = dict(os.environ, POCL_DEVICES="pthread pthread",
               PYTHONPATH=os.pathsep.join([sbtest.HERE, os.path.dirname(sbtest.HERE)]))
    env.pop("SEQBOAT_DEVICE", None)
    r = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, "stdout: %s\nstderr: %s" % (r.stdout, r.stderr)
    assert r.stdout.count("OK ") == 3
