import os
import sys

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
# the package from the source tree unless one is already importable
sys.path.insert(1, os.path.dirname(HERE))

import sbtest  # noqa: E402


@pytest.fixture(scope="session")
def sb():
    import seqboat
    try:
        seqboat.library_path()
    except OSError as exc:
        pytest.fail("libseqboat cannot be loaded: %s" % exc)
    if not seqboat.devices():
        pytest.fail("no OpenCL device visible (install pocl-opencl-icd)")
    return seqboat


@pytest.fixture(scope="session")
def helpers():
    return sbtest
