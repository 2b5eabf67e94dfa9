"""ModelSpec: the one description of the classifier that every backend trains."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from irisfw.errors import SpecError

Activation = Literal["relu", "tanh", "logistic"]
Optimizer = Literal["adam", "sgd"]
Loss = Literal["cross_entropy", "mse"]


class ModelSpec(BaseModel):
    """A fully connected classifier with a softmax output layer.

    Every backend either honours each field or rejects the value with a
    ``SpecError`` that names it. ``sgd`` means plain stochastic gradient
    descent without momentum, and ``adam`` uses beta1=0.9, beta2=0.999 and
    epsilon=1e-8 in every backend, so that the toolkits train the same model.
    """

    # defer_build: validators are built on first use, not at import, which
    # keeps commands that create no spec fast.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    hidden_layers: tuple[int, ...] = Field(
        default=(16,),
        min_length=1,
        description="Units in each hidden layer, input side first.",
    )
    activation: Activation = Field(
        default="relu", description="Activation of the hidden layers."
    )
    optimizer: Optimizer = Field(default="adam", description="Gradient optimizer.")
    learning_rate: float = Field(default=0.01, gt=0, description="Step size.")
    epochs: int = Field(default=100, gt=0, description="Passes over the training rows.")
    batch_size: int | None = Field(
        default=16,
        gt=0,
        description="Rows per gradient step; None trains on the full batch.",
    )
    loss: Loss = Field(
        default="cross_entropy",
        description=(
            "cross_entropy on the logits, or mse between the softmax output"
            " and the one-hot labels."
        ),
    )
    seed: int = Field(default=0, ge=0, description="Seed for weights and shuffling.")

    def model_post_init(self, context: object) -> None:
        for units in self.hidden_layers:
            if units <= 0:
                raise ValueError(
                    f"hidden_layers must contain positive unit counts, got {units}"
                )

    @property
    def label(self) -> str:
        """Short text that distinguishes specs in tables and folder names."""
        layers = "x".join(str(units) for units in self.hidden_layers)
        batch = "full" if self.batch_size is None else str(self.batch_size)
        return (
            f"{layers}-{self.activation}-{self.optimizer}-lr{self.learning_rate:g}"
            f"-e{self.epochs}-b{batch}-{self.loss}"
        )


def format_validation_error(exc: ValidationError, what: str) -> str:
    """Turn a pydantic error into one line that names each field and value."""
    problems = []
    for error in exc.errors():
        field = ".".join(str(part) for part in error["loc"]) or what
        problems.append(f"{field}={error.get('input')!r}: {error['msg']}")
    return f"invalid {what}: " + "; ".join(problems)


def build_spec(**values: object) -> ModelSpec:
    """Build a ModelSpec, raising SpecError with a one-line message if invalid."""
    try:
        return ModelSpec(**values)
    except ValidationError as exc:
        raise SpecError(format_validation_error(exc, "model spec")) from None
