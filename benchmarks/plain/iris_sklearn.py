"""Train the default irisfw spec on Iris with plain scikit-learn, without irisfw.

The spec: one hidden layer of 16 ReLU units, Adam with learning rate 0.01 and
epsilon 1e-8, 100 epochs, batches of 16, cross-entropy, seed 0, no L2
penalty, on the split that ``iris_split`` builds. Prints one JSON line with
the import, fit and predict times and the test accuracy. Run it as
``python benchmarks/plain/iris_sklearn.py``.
"""

import time

started = time.perf_counter()

import warnings  # noqa: E402

from iris_split import load_split, report  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    x_train, x_test, y_train, y_test = load_split()
    model = MLPClassifier(
        hidden_layer_sizes=(16,),
        activation="relu",
        solver="adam",
        learning_rate_init=0.01,
        epsilon=1e-8,
        alpha=0.0,
        max_iter=100,
        batch_size=16,
        shuffle=True,
        tol=0.0,
        n_iter_no_change=100,
        random_state=0,
    )
    start = time.perf_counter()
    with warnings.catch_warnings():
        # 100 epochs with tol=0 always end with this warning.
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    predicted = model.predict_proba(x_test).argmax(axis=1)
    predict_seconds = time.perf_counter() - start
    accuracy = float((predicted == y_test).mean())
    report(
        "scikit-learn",
        started,
        imported,
        fit_seconds,
        predict_seconds,
        accuracy,
        x_train,
        x_test,
    )


if __name__ == "__main__":
    main()
