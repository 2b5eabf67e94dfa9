"""torch.nn model construction and the training loop for a ModelSpec.

This module imports torch, so only ``TorchBackend.fit`` and
``TorchBackend.check_spec`` import it. How the spec maps onto torch:

- Each hidden layer is ``nn.Linear`` followed by ``nn.ReLU``, ``nn.Tanh`` or
  ``nn.Sigmoid`` (``logistic``). The output ``nn.Linear`` produces logits, and
  ``predict_proba`` applies the softmax.
- ``cross_entropy`` is ``nn.CrossEntropyLoss`` on the logits with integer
  class targets. ``mse`` is ``nn.MSELoss`` between the softmax output and the
  one-hot targets, averaged over rows and classes.
- ``adam`` is ``torch.optim.Adam`` with betas (0.9, 0.999) and eps 1e-8, and
  ``sgd`` is ``torch.optim.SGD`` without momentum, both without weight decay.
- The training rows are shuffled at the start of every epoch by a
  ``torch.Generator`` seeded with ``spec.seed``. Full-batch training takes one
  step per epoch on all rows, so it skips the shuffle.
- Weights are initialised on the CPU from ``torch.manual_seed(spec.seed)``
  inside ``torch.random.fork_rng``, so the global CPU random state is left as
  it was, and a CUDA run starts from the same weights as a CPU run.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from irisfw.backends import EpochRecord, FittedModel, report_epoch, verbose
from irisfw.errors import SpecError
from irisfw.prepare import PreparedData
from irisfw.spec import ModelSpec

logger = logging.getLogger(__name__)

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
}
ADAM_BETAS = (0.9, 0.999)
ADAM_EPSILON = 1e-8
# cuBLAS needs a fixed workspace configuration for deterministic results, and
# torch.use_deterministic_algorithms(True) raises on CUDA matmuls without it.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"

LossFunction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class TorchModel(FittedModel):
    """A trained ``nn.Module`` on its device, with the optimizer that trained it."""

    def __init__(
        self,
        module: nn.Module,
        optimizer: torch.optim.Optimizer,
        device: torch.device,
        threads: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.module = module
        self.optimizer = optimizer
        self.device = device
        self.threads = threads

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        inputs = to_tensor(features, np.float32, self.device)
        with torch_settings(self.threads), torch.inference_mode():
            self.module.eval()
            probabilities = torch.softmax(self.module(inputs), dim=1)
        return probabilities.cpu().numpy()

    def save(self, directory: Path) -> None:
        """Write the module's state_dict: tensors only, read back with weights_only."""
        state = {
            key: value.detach().cpu() for key, value in self.module.state_dict().items()
        }
        torch.save(state, directory / MODEL_FILE)


MODEL_FILE = "state_dict.pt"


def load(
    directory: Path,
    spec: ModelSpec,
    *,
    n_features: int,
    n_classes: int,
    device: str,
    threads: int | None,
) -> TorchModel:
    """Rebuild the module for ``spec`` and load its saved state_dict safely."""
    resolved = resolve_device(device)
    module = build_module(spec, n_features, n_classes)
    state = torch.load(directory / MODEL_FILE, map_location="cpu", weights_only=True)
    module.load_state_dict(state)
    module.to(resolved)
    used_threads = torch.get_num_threads() if threads is None else threads
    # No optimizer state is saved: a loaded model predicts, it does not train on.
    return TorchModel(module, None, resolved, used_threads)  # type: ignore[arg-type]


def fit(
    data: PreparedData, spec: ModelSpec, *, device: str, threads: int | None
) -> TorchModel:
    """Build the module for ``spec``, train it on the training rows, and return it."""
    resolved = resolve_device(device)
    used_threads = torch.get_num_threads() if threads is None else threads
    with torch_settings(used_threads), torch.random.fork_rng(devices=[]):
        torch.manual_seed(spec.seed)
        module = build_module(spec, data.n_features, data.n_classes).to(resolved)
        optimizer = build_optimizer(spec, module)
        history, steps = train(module, optimizer, data, spec, resolved)

    rows = len(data.y_train)
    details: dict[str, Any] = {
        "device": str(resolved),
        "threads": used_threads,
        "torch_version": torch.__version__,
        "deterministic_algorithms": True,
        "batch_size": rows if spec.batch_size is None else min(spec.batch_size, rows),
        "optimizer_steps": steps,
        "parameters": sum(parameter.numel() for parameter in module.parameters()),
    }
    if resolved.type == "cuda":
        details["cuda_device_name"] = torch.cuda.get_device_name(resolved)
        details["cuda_version"] = torch.version.cuda
    return TorchModel(
        module, optimizer, resolved, used_threads, history=history, details=details
    )


def resolve_device(requested: str) -> torch.device:
    """Turn a device option into a torch.device, raising SpecError if it is absent."""
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type != "cuda":
        return device

    if not torch.cuda.is_available():
        reason = (
            "this torch build has no CUDA support"
            if torch.version.cuda is None
            else "no CUDA device is visible"
        )
        raise SpecError(
            f"torch option device={requested!r} is not available: {reason}"
            f" (torch {torch.__version__}); use -o torch.device=cpu, or"
            " -o torch.device=auto to use CUDA only when it is available"
        )
    count = torch.cuda.device_count()
    if device.index is not None and device.index >= count:
        raise SpecError(
            f"torch option device={requested!r} is not available: {count} CUDA"
            f" device(s) are visible, numbered 0 to {count - 1}; pick one of those"
        )
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


@contextmanager
def torch_settings(threads: int) -> Iterator[None]:
    """Set the thread count and deterministic algorithms, restoring both afterwards.

    Both settings are process-wide in torch, so restoring them keeps this
    backend from changing how other code in the same process runs.
    """
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    previous_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.use_deterministic_algorithms(
            previous_deterministic, warn_only=previous_warn_only
        )


def build_module(spec: ModelSpec, n_features: int, n_classes: int) -> nn.Sequential:
    """Build the hidden Linear and activation layers and a Linear logits layer."""
    layers: list[nn.Module] = []
    inputs = n_features
    for units in spec.hidden_layers:
        layers.append(nn.Linear(inputs, units))
        layers.append(ACTIVATIONS[spec.activation]())
        inputs = units
    layers.append(nn.Linear(inputs, n_classes))
    return nn.Sequential(*layers)


def build_optimizer(spec: ModelSpec, module: nn.Module) -> torch.optim.Optimizer:
    if spec.optimizer == "adam":
        return torch.optim.Adam(
            module.parameters(),
            lr=spec.learning_rate,
            betas=ADAM_BETAS,
            eps=ADAM_EPSILON,
            weight_decay=0.0,
        )
    return torch.optim.SGD(
        module.parameters(), lr=spec.learning_rate, momentum=0.0, weight_decay=0.0
    )


def build_loss(spec: ModelSpec) -> LossFunction:
    if spec.loss == "cross_entropy":
        return nn.CrossEntropyLoss()
    mse = nn.MSELoss()

    def softmax_mse(logits: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
        return mse(torch.softmax(logits, dim=1), onehot)

    return softmax_mse


def to_tensor(array: np.ndarray, dtype: type, device: torch.device) -> torch.Tensor:
    """Copy ``array`` into a tensor on ``device``.

    PreparedData arrays are read-only, and torch.from_numpy warns on those, so
    the array is copied into a writable one first.
    """
    return torch.from_numpy(np.array(array, dtype=dtype)).to(device)


def train(
    module: nn.Module,
    optimizer: torch.optim.Optimizer,
    data: PreparedData,
    spec: ModelSpec,
    device: torch.device,
) -> tuple[list[EpochRecord], int]:
    """Run the training loop and return the per-epoch history and the step count.

    The training set is converted to tensors once. Each epoch permutes it with
    one index operation and splits it into batch views, and the batch losses
    and logits are kept as tensors and reduced once at the end of the epoch,
    so a batch costs no Python-side conversion.
    """
    rows = len(data.y_train)
    batch_size = rows if spec.batch_size is None else min(spec.batch_size, rows)
    features = to_tensor(data.x_train, np.float32, device)
    labels = to_tensor(data.y_train, np.int64, device)
    targets = (
        labels
        if spec.loss == "cross_entropy"
        else to_tensor(data.y_train_onehot, np.float32, device)
    )
    batch_rows = torch.tensor(
        [min(batch_size, rows - start) for start in range(0, rows, batch_size)],
        dtype=torch.float32,
        device=device,
    )
    loss_function = build_loss(spec)
    generator = torch.Generator().manual_seed(spec.seed)
    log_epochs = verbose()

    module.train()
    history: list[EpochRecord] = []
    steps = 0
    for epoch in range(1, spec.epochs + 1):
        if batch_size == rows:
            epoch_features, epoch_targets, epoch_labels = features, targets, labels
        else:
            order = torch.randperm(rows, generator=generator).to(device)
            epoch_features = features[order]
            epoch_labels = labels[order]
            epoch_targets = epoch_labels if targets is labels else targets[order]

        losses: list[torch.Tensor] = []
        logits_per_batch: list[torch.Tensor] = []
        for batch_features, batch_targets in zip(
            epoch_features.split(batch_size),
            epoch_targets.split(batch_size),
            strict=True,
        ):
            logits = module(batch_features)
            loss = loss_function(logits, batch_targets)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.detach())
            logits_per_batch.append(logits.detach())
        steps += len(losses)

        with torch.no_grad():
            # Each batch loss is a mean over its rows, so weighting by the
            # batch's row count gives the mean over every row of the epoch.
            epoch_loss = float((torch.stack(losses) * batch_rows).sum() / rows)
            predicted = torch.cat(logits_per_batch).argmax(dim=1)
            correct = int(predicted.eq(epoch_labels).sum())
        record = EpochRecord(epoch=epoch, loss=epoch_loss, accuracy=correct / rows)
        history.append(record)
        report_epoch(epoch, spec.epochs)
        if log_epochs:
            logger.debug(
                "torch epoch %d/%d: loss %.4f, training accuracy %.3f",
                epoch,
                spec.epochs,
                record.loss,
                record.accuracy,
            )
    return history, steps
