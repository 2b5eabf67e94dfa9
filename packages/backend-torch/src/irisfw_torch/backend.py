"""The torch backend class and its options. This module does not import torch.

torch is imported by ``irisfw_torch.training``, which ``TorchBackend.fit``
imports, and which ``check_spec`` imports only for a CUDA device request.
How the spec maps onto torch is described in that module.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, field_validator

from irisfw.backends import Backend, FittedModel, thread_budget

if TYPE_CHECKING:
    from pathlib import Path

    from irisfw.prepare import PreparedData
    from irisfw.spec import ModelSpec

DEVICE_PATTERN = re.compile(r"cpu|auto|cuda(:\d+)?")


class TorchOptions(BaseModel):
    """Options of the torch backend, passed as ``-o torch.KEY=VALUE``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    device: str = Field(
        default="cpu",
        description=(
            "cpu, cuda, cuda:N (device index N), or auto: cuda when a CUDA device"
            " is available, otherwise cpu."
        ),
    )
    threads: int | None = Field(
        default=None,
        ge=1,
        description=(
            "CPU threads for torch operations (torch.set_num_threads) during fit and"
            " predict. None uses the runner's share of the CPUs, or torch's current"
            " count when the run is not limited."
        ),
    )

    @field_validator("device")
    @classmethod
    def _check_device(cls, value: str) -> str:
        device = value.strip().lower()
        if DEVICE_PATTERN.fullmatch(device) is None:
            raise ValueError("expected cpu, cuda, cuda:N (e.g. cuda:0) or auto")
        return device


class TorchBackend(Backend):
    name = "torch"
    toolkit = "torch"
    toolkit_module = "torch"
    description = "PyTorch torch.nn classifier with an explicit training loop"
    Options = TorchOptions

    options: TorchOptions

    @property
    def label(self) -> str:
        extras = []
        if self.options.device != "cpu":
            extras.append(self.options.device)
        if self.options.threads is not None:
            unit = "thread" if self.options.threads == 1 else "threads"
            extras.append(f"{self.options.threads} {unit}")
        return f"torch ({', '.join(extras)})" if extras else "torch"

    def check_spec(self, spec: ModelSpec) -> None:
        """Raise SpecError when the requested CUDA device is not available.

        Every ModelSpec value is supported, so only the device option is checked.
        """
        if self.options.device.startswith("cuda"):
            from irisfw_torch.training import resolve_device

            resolve_device(self.options.device)

    def load(
        self, directory: Path, spec: ModelSpec, *, n_features: int, n_classes: int
    ) -> FittedModel:
        from irisfw_torch.training import load

        return load(
            directory,
            spec,
            n_features=n_features,
            n_classes=n_classes,
            device=self.options.device,
            threads=self.options.threads or thread_budget(),
        )

    def fit(self, data: PreparedData, spec: ModelSpec) -> FittedModel:
        from irisfw_torch.training import fit

        # Without an explicit option, use the runner's share of the CPUs.
        threads = self.options.threads or thread_budget()
        return fit(data, spec, device=self.options.device, threads=threads)
