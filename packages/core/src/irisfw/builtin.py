"""Datasets that ship with irisfw, registered as an ordinary plugin."""

from __future__ import annotations

from collections.abc import Callable
from importlib.resources import files
from typing import TYPE_CHECKING

from irisfw.datasets import Dataset
from irisfw.hookspecs import hookimpl

if TYPE_CHECKING:
    import pandas as pd


def load_iris() -> pd.DataFrame:
    import pandas as pd

    with files("irisfw").joinpath("resources/iris.csv").open("rb") as handle:
        return pd.read_csv(handle)


def _sklearn_loader(function_name: str) -> Callable[[], pd.DataFrame]:
    """Return a loader for one of scikit-learn's bundled datasets.

    The label column is named ``class`` and holds the class names that
    scikit-learn ships, so tables and confusion matrices show names.
    """

    def load() -> pd.DataFrame:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, function_name)(as_frame=True)
        frame = bunch.frame.drop(columns=["target"])
        frame["class"] = [str(bunch.target_names[index]) for index in bunch.target]
        return frame

    return load


@hookimpl
def irisfw_register_datasets(register: Callable[[Dataset], None]) -> None:
    register(
        Dataset(
            name="iris",
            description="Fisher's Iris: 150 rows, 4 features, 3 species",
            target="species",
            load=load_iris,
        )
    )
    register(
        Dataset(
            name="wine",
            description="UCI wine from scikit-learn: 178 rows, 13 features, 3 classes",
            target="class",
            load=_sklearn_loader("load_wine"),
        )
    )
    register(
        Dataset(
            name="breast_cancer",
            description=(
                "Wisconsin breast cancer from scikit-learn: 569 rows, 30 features,"
                " 2 classes"
            ),
            target="class",
            load=_sklearn_loader("load_breast_cancer"),
        )
    )
    register(
        Dataset(
            name="digits",
            description="8x8 digit images from scikit-learn: 1797 rows, 64 features",
            target="class",
            load=_sklearn_loader("load_digits"),
        )
    )
