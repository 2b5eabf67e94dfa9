"""Several train/test splits for one comparison: repeated seeds and k-fold CV.

Every backend trains on exactly the same splits: each split is prepared once
and its fingerprint is recorded with every run on it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import StratifiedKFold

from irisfw.errors import DataError
from irisfw.loading import Table
from irisfw.prepare import DEFAULT_TEST_SIZE, PreparedData, prepare_table
from irisfw.results import SplitInfo


@dataclass(frozen=True)
class SplitPlan:
    """How to split: ``repeats`` seeds from ``seed`` on, each a holdout split
    of ``test_size`` or, with ``cv``, a stratified ``cv``-fold split."""

    seed: int = 0
    repeats: int = 1
    cv: int | None = None
    test_size: float = DEFAULT_TEST_SIZE

    def seeds(self) -> list[int]:
        """Return the split seeds: ``seed``, ``seed + 1``, ... ``repeats`` of them."""
        return [self.seed + offset for offset in range(self.repeats)]


def _fold_splitter(folds: int, seed: int, fold: int):
    def split(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        counts = np.bincount(y)
        smallest = int(counts.min())
        if smallest < folds:
            raise DataError(
                f"--cv {folds} needs at least {folds} rows in every class, but the"
                f" smallest class has {smallest}; pass a smaller --cv"
            )
        kfold = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        train_index, test_index = list(kfold.split(np.zeros(len(y)), y))[fold]
        return train_index, test_index

    return split


def make_splits(
    table: Table, *, plan: SplitPlan, categorical: str = "error"
) -> tuple[list[PreparedData], list[SplitInfo]]:
    """Prepare every split of ``plan``.

    The scaler, and the encoder of text columns with ``categorical="encode"``,
    are fit on each split's training part.
    """
    if plan.repeats < 1:
        raise DataError(f"invalid --repeats {plan.repeats}; pass 1 or more")
    if plan.cv is not None and plan.cv < 2:
        raise DataError(f"invalid --cv {plan.cv}; pass 2 or more folds")
    prepared: list[PreparedData] = []
    infos: list[SplitInfo] = []
    for seed in plan.seeds():
        folds = range(plan.cv) if plan.cv else [None]
        for fold in folds:
            splitter = None if fold is None else _fold_splitter(plan.cv, seed, fold)
            data = prepare_table(
                table,
                test_size=plan.test_size,
                seed=seed,
                categorical=categorical,
                splitter=splitter,
            )
            infos.append(
                SplitInfo(
                    index=len(prepared),
                    seed=seed,
                    fold=fold,
                    folds=plan.cv,
                    train_rows=len(data.y_train),
                    test_rows=len(data.y_test),
                    fingerprint=data.fingerprint,
                )
            )
            prepared.append(data)
    return prepared, infos
