"""MLPClassifier trained from a ModelSpec.

How the spec maps onto MLPClassifier:

- ``epochs`` is ``max_iter``, with ``early_stopping=False`` and
  ``n_iter_no_change`` equal to ``max_iter``, so training runs every epoch.
  scikit-learn then emits a ConvergenceWarning, which the result records.
- ``batch_size=None`` (full batch) passes the number of training rows.
- ``sgd`` has ``momentum=0``, and ``alpha=0`` turns off the L2 penalty that
  MLPClassifier adds by default, matching the other backends.
- MLPClassifier has only the log-loss, so ``loss='mse'`` is rejected.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from irisfw.backends import Backend, EpochRecord, FittedModel
from irisfw.errors import SpecError

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec


MODEL_FILE = "model.skops"

# Types that a saved MLPClassifier contains beyond what skops trusts by
# default. Loading rejects a file that needs any other type.
TRUSTED_TYPES = frozenset(
    {
        "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
        "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    }
)


class SklearnModel(FittedModel):
    def __init__(self, estimator: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.estimator = estimator

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.estimator.predict_proba(features)

    def save(self, directory: Path) -> None:
        """Write the estimator with skops, which stores no pickled code."""
        import skops.io

        skops.io.dump(self.estimator, directory / MODEL_FILE)


class SklearnBackend(Backend):
    name = "sklearn"
    toolkit = "scikit-learn"
    toolkit_module = "sklearn.neural_network"
    description = "scikit-learn MLPClassifier"

    def check_spec(self, spec: ModelSpec) -> None:
        if spec.loss != "cross_entropy":
            raise SpecError(
                f"backend 'sklearn' does not support loss {spec.loss!r}: MLPClassifier"
                " only minimises cross-entropy; use --loss cross_entropy or leave"
                " sklearn out with --backend"
            )

    def load(
        self, directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
    ) -> FittedModel:
        import skops.io

        path = directory / MODEL_FILE
        untrusted = set(skops.io.get_untrusted_types(file=path))
        unexpected = sorted(untrusted - TRUSTED_TYPES)
        if unexpected:
            raise ValueError(
                f"{path} contains types that are not trusted: {', '.join(unexpected)}"
            )
        estimator = skops.io.load(path, trusted=sorted(untrusted))
        if (
            estimator.n_features_in_ != n_features
            or len(estimator.classes_) != n_classes
        ):
            raise ValueError(
                f"{path} contains a model for {estimator.n_features_in_} features and"
                f" {len(estimator.classes_)} classes, the manifest says {n_features}"
                f" and {n_classes}"
            )
        return SklearnModel(estimator)

    def fit(self, data: PreparedData, spec: ModelSpec) -> FittedModel:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        self.check_spec(spec)
        rows = len(data.y_train)
        estimator = MLPClassifier(
            hidden_layer_sizes=spec.hidden_layers,
            activation=spec.activation,
            solver=spec.optimizer,
            learning_rate_init=spec.learning_rate,
            max_iter=spec.epochs,
            batch_size=rows if spec.batch_size is None else min(spec.batch_size, rows),
            alpha=0.0,
            momentum=0.0,
            nesterovs_momentum=False,
            beta_1=0.9,
            beta_2=0.999,
            epsilon=1e-8,
            shuffle=True,
            early_stopping=False,
            n_iter_no_change=spec.epochs,
            tol=0.0,
            random_state=spec.seed,
        )
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            estimator.fit(data.x_train, data.y_train)
        recorded = []
        for warning in caught:
            if issubclass(warning.category, ConvergenceWarning):
                recorded.append(f"ConvergenceWarning: {warning.message}")
            else:
                warnings.warn_explicit(
                    warning.message, warning.category, warning.filename, warning.lineno
                )
        history = [
            EpochRecord(epoch=index + 1, loss=float(loss))
            for index, loss in enumerate(estimator.loss_curve_)
        ]
        return SklearnModel(
            estimator,
            history=history,
            warnings=recorded,
            details={
                "n_iter": int(estimator.n_iter_),
                "batch_size": estimator.batch_size,
            },
        )
