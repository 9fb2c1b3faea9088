"""Multi-layer perceptron written from scratch in NumPy: hand-written forward, backward and SGD update.

This is the network of the "neural network from scratch" exercise (a sigmoid MLP trained on
MNIST): every layer is a small class with an explicit `forward(x)` and `backward(grad_out)`,
the loss is a hand-written softmax cross-entropy, and the update is a hand-written SGD step
(with optional momentum, Nesterov momentum and weight decay, matching `torch.optim.SGD`).
No autograd is involved anywhere: this module does not import torch.

Shapes: inputs (N, C, H, W) or (N, D) are flattened to (N, D); a `Linear` layer holds
W of shape (in, out) and b of shape (out,), and computes y = x @ W + b.

The model offers the same options as the torch MLP (`worker.zoo.mlp`) except dropout.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field

from trainboard.model_budget import LAYER_WIDTHS
from trainboard.plugins import ModelOptions, register_model


class Layer:
    """A layer: `forward` caches what `backward` needs; `backward` stores parameter gradients
    (if any) and returns the gradient with respect to the layer's input."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class Linear(Layer):
    """Fully connected layer y = x @ W + b with W (in, out), b (out,)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        rng: np.random.Generator,
        weight_init: str = "xavier",
        dtype=np.float32,
    ):
        self.in_features = in_features
        self.out_features = out_features
        if weight_init == "xavier":  # Glorot uniform
            bound = math.sqrt(6.0 / (in_features + out_features))
            self.W = rng.uniform(-bound, bound, (in_features, out_features))
            self.b = np.zeros(out_features)
        elif weight_init == "normal":  # N(0, 1/fan_in)
            self.W = rng.normal(0.0, 1.0 / math.sqrt(in_features), (in_features, out_features))
            self.b = np.zeros(out_features)
        elif weight_init == "default":  # torch's kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in))
            bound = 1.0 / math.sqrt(in_features)
            self.W = rng.uniform(-bound, bound, (in_features, out_features))
            self.b = rng.uniform(-bound, bound, out_features)
        else:
            raise ValueError(f"unknown weight_init {weight_init!r}")
        self.W = self.W.astype(dtype)
        self.b = self.b.astype(dtype)
        self.dW = np.zeros_like(self.W)
        self.db = np.zeros_like(self.b)
        self.x: np.ndarray | None = None

    @property
    def params(self) -> list[np.ndarray]:
        return [self.W, self.b]

    @property
    def grads(self) -> list[np.ndarray]:
        return [self.dW, self.db]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W + self.b

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dW = x^T g, db = sum_n g, dX = g W^T
        np.matmul(self.x.T, grad_out, out=self.dW)
        np.sum(grad_out, axis=0, out=self.db)
        return grad_out @ self.W.T


class Sigmoid(Layer):
    """s(x) = 1 / (1 + exp(-x)), computed without overflow for large |x|."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        e = np.exp(-np.abs(x))  # in (0, 1]: never overflows
        self.out = np.where(x >= 0, 1.0, e) / (1.0 + e)
        return self.out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dX = g * s * (1 - s)
        return grad_out * self.out * (1.0 - self.out)


class ReLU(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dX = g * [x > 0]
        return grad_out * self.mask


class Tanh(Layer):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.out = np.tanh(x)
        return self.out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dX = g * (1 - tanh(x)^2)
        return grad_out * (1.0 - self.out * self.out)


class ELU(Layer):
    """ELU with alpha = 1: x for x > 0, exp(x) - 1 otherwise."""

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.positive = x > 0
        self.out = np.where(self.positive, x, np.expm1(np.minimum(x, 0)))
        return self.out

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        # dX = g * (1 if x > 0 else exp(x) = out + 1)
        return grad_out * np.where(self.positive, 1.0, self.out + 1.0).astype(grad_out.dtype, copy=False)


ACTIVATIONS: dict[str, type[Layer]] = {"sigmoid": Sigmoid, "relu": ReLU, "elu": ELU, "tanh": Tanh}


class SoftmaxCrossEntropy:
    """Softmax followed by the mean negative log-likelihood over the batch."""

    def forward(self, logits: np.ndarray, targets: np.ndarray) -> float:
        shifted = logits - logits.max(axis=1, keepdims=True)  # log-softmax is shift invariant; max is 0
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.probs = np.exp(log_probs)
        self.targets = np.asarray(targets, dtype=np.int64)
        rows = np.arange(len(self.targets))
        return float(-log_probs[rows, self.targets].mean())

    def backward(self) -> np.ndarray:
        # dlogits = (softmax(logits) - onehot(y)) / N
        grad = self.probs.copy()
        grad[np.arange(len(self.targets)), self.targets] -= 1.0
        grad /= len(self.targets)
        return grad


class NumpyMLP:
    """Flatten -> Linear -> activation -> ... -> Linear (logits), trained by `train_step`."""

    def __init__(
        self,
        options: MlpNumpyOptions,
        in_features: int,
        num_classes: int,
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ):
        rng = np.random.default_rng(0) if rng is None else rng
        self.in_features = in_features
        self.num_classes = num_classes
        self.dtype = np.dtype(dtype)
        self.layers: list[Layer] = []
        width = in_features
        for size in options.hidden_sizes:
            self.layers.append(Linear(width, size, rng, options.weight_init, self.dtype))
            self.layers.append(ACTIVATIONS[options.activation]())
            width = size
        self.layers.append(Linear(width, num_classes, rng, options.weight_init, self.dtype))
        self.loss_fn = SoftmaxCrossEntropy()
        self.velocity: list[np.ndarray] | None = None  # momentum buffers, created by the first sgd_step

    @property
    def linears(self) -> list[Linear]:
        return [layer for layer in self.layers if isinstance(layer, Linear)]

    def _flatten(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=self.dtype)
        x = x.reshape(len(x), -1)
        if x.shape[1] != self.in_features:
            raise ValueError(f"expected {self.in_features} input features per sample, got {x.shape[1]}")
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self._flatten(x)
        for layer in self.layers:
            out = layer.forward(out)
        return out

    __call__ = forward

    def loss_and_backward(self, x: np.ndarray, y: np.ndarray) -> float:
        """Forward pass, loss, and backward pass through every layer; gradients are stored in the layers."""
        loss = self.loss_fn.forward(self.forward(x), y)
        grad = self.loss_fn.backward()
        for layer in reversed(self.layers):
            grad = layer.backward(grad)
        return loss

    def sgd_step(self, lr: float, momentum: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False) -> None:
        """One SGD update with the stored gradients, as torch.optim.SGD (dampening 0) does it:
        g = grad + wd * p;  v = momentum * v + g;  p -= lr * (g + momentum * v if nesterov else v)."""
        if momentum and self.velocity is None:
            self.velocity = [np.zeros_like(p) for p in self.parameters()]
        for i, (p, grad) in enumerate(zip(self.parameters(), self.gradients(), strict=True)):
            g = grad + weight_decay * p if weight_decay else grad
            if momentum:
                v = self.velocity[i]
                v *= momentum
                v += g
                g = g + momentum * v if nesterov else v
            p -= lr * g

    def train_step(
        self,
        x: np.ndarray,
        y: np.ndarray,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> float:
        """Forward, backward and update on one batch; returns the batch's loss (before the update)."""
        loss = self.loss_and_backward(x, y)
        self.sgd_step(lr, momentum, weight_decay, nesterov)
        return loss

    def predict_logits(self, x: np.ndarray, batch_size: int = 1024) -> np.ndarray:
        """Logits for many samples, computed in batches to bound memory."""
        x = np.asarray(x)
        if len(x) == 0:
            return np.zeros((0, self.num_classes), dtype=self.dtype)
        return np.concatenate([self.forward(x[i : i + batch_size]) for i in range(0, len(x), batch_size)])

    def parameters(self) -> list[np.ndarray]:
        return [p for layer in self.linears for p in layer.params]

    def gradients(self) -> list[np.ndarray]:
        return [g for layer in self.linears for g in layer.grads]

    def num_parameters(self) -> int:
        return sum(p.size for p in self.parameters())

    def macs_per_sample(self) -> int:
        """Multiply-accumulates of one forward pass: in * out for every Linear layer."""
        return sum(layer.in_features * layer.out_features for layer in self.linears)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the weights: `fc{i}.weight` of shape (in, out) and `fc{i}.bias`."""
        state = {}
        for i, layer in enumerate(self.linears):
            state[f"fc{i}.weight"] = layer.W.copy()
            state[f"fc{i}.bias"] = layer.b.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        expected = self.state_dict()
        if set(state) != set(expected):
            raise KeyError(f"state keys {sorted(state)} do not match the model's {sorted(expected)}")
        for key, value in state.items():
            if np.shape(value) != expected[key].shape:
                raise ValueError(f"{key}: shape {np.shape(value)} != model's {expected[key].shape}")
        for i, layer in enumerate(self.linears):
            layer.W[...] = state[f"fc{i}.weight"]
            layer.b[...] = state[f"fc{i}.bias"]

    def optimizer_state_dict(self) -> dict[str, np.ndarray]:
        """The SGD momentum buffers (empty before the first momentum step), for exact resumes."""
        if self.velocity is None:
            return {}
        return {f"velocity.{i}": v.copy() for i, v in enumerate(self.velocity)}

    def load_optimizer_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if not state:
            self.velocity = None
            return
        params = self.parameters()
        if set(state) != {f"velocity.{i}" for i in range(len(params))}:
            raise KeyError(f"optimizer state keys {sorted(state)} do not match {len(params)} parameters")
        self.velocity = [
            np.array(state[f"velocity.{i}"], dtype=self.dtype).reshape(p.shape) for i, p in enumerate(params)
        ]


class MlpNumpyOptions(ModelOptions):
    name: Literal["mlp_numpy"] = "mlp_numpy"
    hidden_sizes: list[Annotated[int, Field(ge=1, le=65536)]] = Field(
        default=[128, 64],
        min_length=1,
        max_length=16,
        description="Width of each hidden layer",
        json_schema_extra=LAYER_WIDTHS,
    )
    activation: Literal["sigmoid", "relu", "elu", "tanh"] = Field(default="sigmoid")
    weight_init: Literal["default", "xavier", "normal"] = Field(
        default="xavier", description="default: torch's; xavier: Glorot uniform; normal: N(0, 1/fan_in)"
    )


def size_mlp_numpy(options: MlpNumpyOptions, input_shape: tuple[int, ...], num_classes: int) -> tuple[int, int]:
    """(parameters, MACs per sample), counted from the layer sizes without allocating the weights."""
    widths = [int(np.prod(input_shape)), *options.hidden_sizes, num_classes]
    pairs = list(zip(widths[:-1], widths[1:], strict=True))
    return sum(a * b + b for a, b in pairs), sum(a * b for a, b in pairs)


@register_model(
    size=size_mlp_numpy,
    options=MlpNumpyOptions,
    task="classification",
    description="3-layer MLP written from scratch in NumPy (hand-written forward, backward and SGD update)",
    framework="numpy",
)
def build_mlp_numpy(options: MlpNumpyOptions, input_shape: tuple[int, ...], num_classes: int) -> NumpyMLP:
    # The initial weights come from NumPy's global random state, which the engine seeds from the
    # run's seed (seed_everything), so the same seed gives the same network.
    rng = np.random.default_rng(np.random.randint(0, 2**31 - 1))
    return NumpyMLP(options, math.prod(input_shape), num_classes, rng=rng)
