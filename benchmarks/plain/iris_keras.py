"""Train the default irisfw spec on Iris with plain Keras 3, without irisfw.

The spec: one hidden layer of 16 ReLU units and a softmax output layer,
Adam with learning rate 0.01, betas 0.9 and 0.999 and epsilon 1e-8. It
trains 100 epochs with batches of 16 and categorical cross-entropy, seed 0,
on the split that ``iris_split`` builds. Keras runs on the engine that ``KERAS_BACKEND``
names, TensorFlow by default, as irisfw's keras backend does. Prints one JSON
line with the import, fit and predict times and the test accuracy. Run it as
``python benchmarks/plain/iris_keras.py``.
"""

import time

started = time.perf_counter()

import os  # noqa: E402

# Hide TensorFlow's C++ start-up log lines, as the irisfw backend does.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
from iris_split import load_split, report  # noqa: E402

imported = time.perf_counter()


def main() -> None:
    x_train, x_test, y_train, y_test = load_split()
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input(shape=(x_train.shape[1],)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(
            learning_rate=0.01, beta_1=0.9, beta_2=0.999, epsilon=1e-8
        ),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    y_onehot = np.eye(3, dtype=np.float32)[y_train]
    start = time.perf_counter()
    model.fit(x_train, y_onehot, epochs=100, batch_size=16, shuffle=True, verbose=0)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    predict_seconds = time.perf_counter() - start
    accuracy = float((predicted == y_test).mean())
    report(
        "keras",
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
