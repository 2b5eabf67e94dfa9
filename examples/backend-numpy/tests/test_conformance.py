"""The irisfw conformance suite, run against the NumPy example backend.

The backend must be installed (``pip install -e .``), because two checks
load it through its entry point.
"""

from __future__ import annotations

import pytest

from irisfw.testing import backend_checks
from irisfw_numpy_example.backend import NumpyBackend


@pytest.mark.parametrize("check", backend_checks(NumpyBackend))
def test_conformance(check):
    check()
