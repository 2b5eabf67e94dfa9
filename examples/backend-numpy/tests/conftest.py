"""Prepared Iris data, as irisfw hands it to a backend."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def iris_data():
    from irisfw.builtin import load_iris
    from irisfw.prepare import prepare

    return prepare(load_iris(), "species", source="iris", seed=0)
