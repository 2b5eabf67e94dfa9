"""Named datasets, registered through the ``irisfw_register_datasets`` hook."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class Dataset:
    """A table with features and one label column, loaded on demand.

    ``load`` returns a pandas DataFrame that contains the ``target`` column.
    It must not reach the network: the data ships with a package.
    """

    name: str
    description: str
    target: str
    load: Callable[[], pd.DataFrame]
