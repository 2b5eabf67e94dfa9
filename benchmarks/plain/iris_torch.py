"""Train the default irisfw spec on Iris with a plain PyTorch loop, without irisfw.

The spec: one hidden layer of 16 ReLU units, Adam with learning rate 0.01,
betas 0.9 and 0.999 and epsilon 1e-8, 100 epochs, batches of 16,
cross-entropy, seed 0, on the split that ``iris_split`` builds. Prints one
JSON line with the import, fit and predict times and the test accuracy. Run
it as ``python benchmarks/plain/iris_torch.py``. ``benchmarks/torch_backend.py``
times ``train`` against the torch backend's fit.
"""

import time

started = time.perf_counter()

import torch  # noqa: E402
from iris_split import load_split, report  # noqa: E402
from torch import nn  # noqa: E402

imported = time.perf_counter()


def train(
    x_train,
    y_train,
    n_classes: int,
    *,
    hidden_layers: tuple[int, ...] = (16,),
    learning_rate: float = 0.01,
    epochs: int = 100,
    batch_size: int | None = 16,
    seed: int = 0,
    threads: int | None = None,
) -> tuple[nn.Module, list[tuple[float, float]]]:
    """Train a ReLU network with Adam and return the module and its epoch history.

    This is the loop a PyTorch user writes by hand: a seeded permutation per
    epoch, batches indexed from it, and the epoch loss and training accuracy
    accumulated with ``.item()``.
    """
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    inputs = x_train.shape[1]
    for units in hidden_layers:
        layers += [nn.Linear(inputs, units), nn.ReLU()]
        inputs = units
    model = nn.Sequential(*layers, nn.Linear(inputs, n_classes))
    optimizer = torch.optim.Adam(
        model.parameters(), lr=learning_rate, betas=(0.9, 0.999), eps=1e-8
    )
    loss_function = nn.CrossEntropyLoss()

    x = torch.tensor(x_train)
    y = torch.tensor(y_train)
    rows = len(y)
    size = rows if batch_size is None else min(batch_size, rows)
    generator = torch.Generator().manual_seed(seed)
    history = []
    model.train()
    for _ in range(epochs):
        permutation = torch.randperm(rows, generator=generator)
        total_loss = 0.0
        correct = 0
        for start in range(0, rows, size):
            index = permutation[start : start + size]
            features, labels = x[index], y[index]
            logits = model(features)
            loss = loss_function(logits, labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total_loss += loss.item() * len(index)
            correct += int((logits.argmax(dim=1) == labels).sum().item())
        history.append((total_loss / rows, correct / rows))
    return model, history


def main() -> None:
    x_train, x_test, y_train, y_test = load_split()
    start = time.perf_counter()
    model, _ = train(x_train, y_train, n_classes=3)
    fit_seconds = time.perf_counter() - start

    start = time.perf_counter()
    model.eval()
    with torch.no_grad():
        predicted = model(torch.tensor(x_test)).softmax(dim=1).argmax(dim=1).numpy()
    predict_seconds = time.perf_counter() - start
    accuracy = float((predicted == y_test).mean())
    report(
        "torch",
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
