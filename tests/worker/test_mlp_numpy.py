"""The NumPy MLP: gradients against finite differences and torch autograd, SGD against
torch.optim.SGD, numerical stability, training, size figures and checkpoints."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from worker.datasets.synthetic import SyntheticMnistOptions, make_classification_set
from worker.zoo import MODELS, get_model
from worker.zoo.mlp import Mlp, MlpOptions
from worker.zoo.mlp_numpy import MlpNumpyOptions, NumpyMLP, SoftmaxCrossEntropy, build_mlp_numpy

ACTIVATION_NAMES = ["sigmoid", "relu", "elu", "tanh"]
TORCH_ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "elu": nn.ELU, "tanh": nn.Tanh}


def small_net(activation: str, weight_init: str = "default", seed: int = 0) -> NumpyMLP:
    options = MlpNumpyOptions(hidden_sizes=[7, 5], activation=activation, weight_init=weight_init)
    return NumpyMLP(options, in_features=12, num_classes=4, rng=np.random.default_rng(seed), dtype=np.float64)


def small_batch(seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(6, 3, 2, 2)), rng.integers(0, 4, size=6)  # (N, C, H, W) with C*H*W = 12


def torch_copy(net: NumpyMLP, activation: str) -> nn.Sequential:
    """An equivalent float64 torch network holding the same weights (torch stores W transposed)."""
    layers: list[nn.Module] = [nn.Flatten()]
    linears = net.linears
    for i, layer in enumerate(linears):
        linear = nn.Linear(layer.in_features, layer.out_features, dtype=torch.float64)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.W.T.copy()))
            linear.bias.copy_(torch.from_numpy(layer.b.copy()))
        layers.append(linear)
        if i < len(linears) - 1:
            layers.append(TORCH_ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def torch_params_as_numpy(model: nn.Sequential) -> list[np.ndarray]:
    """Torch parameters in the NumPy model's order and layout: W (in, out), b."""
    out = []
    for module in model:
        if isinstance(module, nn.Linear):
            out += [module.weight.detach().numpy().T, module.bias.detach().numpy()]
    return out


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradients_match_central_finite_differences(activation):
    net = small_net(activation)
    x, y = small_batch()
    net.loss_and_backward(x, y)
    analytic = [g.copy() for g in net.gradients()]
    eps = 1e-6
    for param, grad in zip(net.parameters(), analytic, strict=True):
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            saved = param[index]
            param[index] = saved + eps
            plus = net.loss_fn.forward(net.forward(x), y)
            param[index] = saved - eps
            minus = net.loss_fn.forward(net.forward(x), y)
            param[index] = saved
            numeric[index] = (plus - minus) / (2 * eps)
        relative = np.linalg.norm(grad - numeric) / max(np.linalg.norm(grad) + np.linalg.norm(numeric), 1e-12)
        assert relative < 1e-6, (param.shape, relative)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_forward_loss_and_gradients_match_torch_autograd(activation):
    net = small_net(activation)
    model = torch_copy(net, activation)
    x, y = small_batch()

    loss = net.loss_and_backward(x, y)
    logits = net.forward(x)
    torch_logits = model(torch.from_numpy(x))
    torch_loss = nn.functional.cross_entropy(torch_logits, torch.from_numpy(y))
    torch_loss.backward()

    np.testing.assert_allclose(logits, torch_logits.detach().numpy(), rtol=0, atol=1e-10)
    assert loss == pytest.approx(torch_loss.item(), abs=1e-10)
    torch_grads = [p.grad.numpy() for p in model.parameters()]  # weight (out, in), bias, ...
    for grad, torch_grad in zip(net.gradients(), torch_grads, strict=True):
        np.testing.assert_allclose(grad, torch_grad.T if torch_grad.ndim == 2 else torch_grad, rtol=0, atol=1e-10)


@pytest.mark.parametrize(
    "momentum, weight_decay, nesterov",
    [(0.0, 0.0, False), (0.9, 0.0, False), (0.0, 1e-2, False), (0.9, 1e-2, False), (0.9, 1e-2, True)],
)
def test_sgd_steps_match_torch_optim_sgd(momentum, weight_decay, nesterov):
    net = small_net("sigmoid", weight_init="xavier")
    model = torch_copy(net, "sigmoid")
    optimizer = torch.optim.SGD(
        model.parameters(), lr=0.3, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov
    )
    for step in range(3):  # several steps, so that the momentum buffers matter
        x, y = small_batch(seed=10 + step)
        net.train_step(x, y, lr=0.3, momentum=momentum, weight_decay=weight_decay, nesterov=nesterov)
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
        optimizer.step()
        for ours, theirs in zip(net.parameters(), torch_params_as_numpy(model), strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-10)


def test_softmax_cross_entropy_is_stable_for_huge_logits():
    loss_fn = SoftmaxCrossEntropy()
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4], [1e4, 1e4, -1e4]], dtype=np.float32)
    loss = loss_fn.forward(logits, np.array([1, 2, 0]))
    grad = loss_fn.backward()
    assert np.isfinite(loss) and np.all(np.isfinite(grad))
    assert loss == pytest.approx((2e4 + 0.0 + np.log(2)) / 3, rel=1e-5)
    np.testing.assert_allclose(grad.sum(axis=1), 0.0, atol=1e-6)  # softmax rows sum to 1, onehot rows too


def test_sigmoid_network_is_stable_for_huge_inputs():
    net = NumpyMLP(MlpNumpyOptions(), 784, 10)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # no overflow warnings either
        loss = net.loss_and_backward(np.full((4, 1, 28, 28), 1e4, dtype=np.float32), np.arange(4))
    assert np.isfinite(loss)
    assert all(np.all(np.isfinite(g)) for g in net.gradients())


def test_training_reaches_90_percent_on_synthetic_mnist():
    splits = make_classification_set((1, 28, 28), 10, SyntheticMnistOptions(), seed=0)
    x_train, y_train = splits.x_train.numpy(), splits.y_train.numpy()
    x_test, y_test = splits.x_test.numpy(), splits.y_test.numpy()
    net = NumpyMLP(MlpNumpyOptions(), 784, 10, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    for _ in range(3):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), 32):
            batch = order[start : start + 32]
            net.train_step(x_train[batch], y_train[batch], lr=0.5)
    accuracy = (net.predict_logits(x_test).argmax(axis=1) == y_test).mean()
    assert accuracy >= 0.90


def test_sizes_match_the_torch_mlp():
    for hidden, activation in [([128, 64], "sigmoid"), ([32], "relu"), ([50, 40, 30], "tanh")]:
        net = get_model("mlp_numpy", (1, 28, 28), 10, hidden_sizes=hidden, activation=activation)
        torch_mlp = Mlp(MlpOptions(hidden_sizes=hidden, activation=activation), 784, 10)
        assert net.num_parameters() == sum(p.numel() for p in torch_mlp.parameters())
        sizes = [784, *hidden, 10]
        assert net.macs_per_sample() == sum(a * b for a, b in itertools.pairwise(sizes))
    default = get_model("mlp_numpy", (1, 28, 28), 10)
    assert (default.num_parameters(), default.macs_per_sample()) == (109386, 109184)


def test_registered_as_a_numpy_classification_model():
    entry = MODELS["mlp_numpy"]
    assert (entry.framework, entry.task) == ("numpy", "classification")
    net = get_model("mlp_numpy", (1, 28, 28), 10)
    assert isinstance(net, NumpyMLP)
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.forward(np.zeros((2, 1, 28, 28), dtype=np.float32)).shape == (2, 10)
    with pytest.raises(ValueError):
        get_model("mlp_numpy", (1, 28, 28), 10, dropout=0.5)  # no dropout in the NumPy MLP


def test_initialisation_schemes_and_seeds():
    options = MlpNumpyOptions(hidden_sizes=[300], weight_init="xavier")
    a = NumpyMLP(options, 784, 10, rng=np.random.default_rng(1))
    b = NumpyMLP(options, 784, 10, rng=np.random.default_rng(1))
    c = NumpyMLP(options, 784, 10, rng=np.random.default_rng(2))
    assert np.array_equal(a.linears[0].W, b.linears[0].W) and not np.array_equal(a.linears[0].W, c.linears[0].W)
    assert np.abs(a.linears[0].W).max() <= np.sqrt(6 / (784 + 300)) and not a.linears[0].b.any()
    normal = NumpyMLP(MlpNumpyOptions(hidden_sizes=[300], weight_init="normal"), 784, 10)
    assert normal.linears[0].W.std() == pytest.approx(1 / np.sqrt(784), rel=0.02)
    default = NumpyMLP(MlpNumpyOptions(hidden_sizes=[300], weight_init="default"), 784, 10)
    assert np.abs(default.linears[0].b).max() <= 1 / np.sqrt(784) and default.linears[0].b.any()


def test_state_dict_round_trip_gives_identical_predictions():
    x = np.random.default_rng(3).normal(size=(20, 1, 28, 28)).astype(np.float32)
    trained = NumpyMLP(MlpNumpyOptions(), 784, 10, rng=np.random.default_rng(0))
    trained.train_step(x, np.arange(20) % 10, lr=0.5, momentum=0.9)
    state = trained.state_dict()
    fresh = NumpyMLP(MlpNumpyOptions(), 784, 10, rng=np.random.default_rng(99))
    assert not np.array_equal(fresh.predict_logits(x), trained.predict_logits(x))
    fresh.load_state_dict(state)
    assert np.array_equal(fresh.predict_logits(x), trained.predict_logits(x))

    # The momentum buffers travel separately, so a resumed run continues exactly.
    fresh.load_optimizer_state_dict(trained.optimizer_state_dict())
    for net in (trained, fresh):
        net.train_step(x, np.arange(20) % 10, lr=0.5, momentum=0.9)
    assert np.array_equal(fresh.predict_logits(x), trained.predict_logits(x))

    with pytest.raises(KeyError):
        fresh.load_state_dict({k: v for k, v in state.items() if k != "fc0.bias"})
    with pytest.raises(ValueError):
        fresh.load_state_dict({**state, "fc0.weight": np.zeros((3, 3))})


def test_size_is_counted_from_the_options_without_building():
    from worker.zoo.mlp_numpy import size_mlp_numpy

    options = MlpNumpyOptions(hidden_sizes=[30, 20])
    net = build_mlp_numpy(options, (3, 8, 8), 7)
    assert size_mlp_numpy(options, (3, 8, 8), 7) == (net.num_parameters(), net.macs_per_sample())
    # A network far too big to allocate is still sized at once.
    huge = MlpNumpyOptions(hidden_sizes=[60000, 60000])
    assert size_mlp_numpy(huge, (1, 28, 28), 10)[0] == 784 * 60000 + 60000 + 60000 * 60000 + 60000 + 60000 * 10 + 10
