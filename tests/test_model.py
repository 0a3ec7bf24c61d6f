"""The model is right: gradients, probabilities, numerical stability, dtype, determinism."""
import numpy as np
import pytest
from scipy.special import expit, logsumexp

import nn_from_scratch as nn


def data(n_features, n, n_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_features, n)), rng.integers(0, n_classes, size=n)


# ---------------------------------------------------------------------------
# Gradients against central differences
# ---------------------------------------------------------------------------

ARCHITECTURES = [[3, 2], [4, 6, 3], [5, 7, 6, 4], [2, 8, 8, 8, 3]]


@pytest.mark.parametrize("units", ARCHITECTURES, ids=lambda u: "-".join(map(str, u)))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backward_matches_finite_differences(units, seed):
    X, t = data(units[0], 5, units[-1], seed)
    model = nn.NNClassifier(units, rng=seed)
    # Non-zero biases: with zero biases, a sample whose previous layer is all zero
    # sits exactly on the ReLU kink (z = b = 0), where finite differences are wrong.
    for layer in model.layers:
        layer.b[...] = np.random.default_rng(seed).uniform(0.05, 0.2, layer.b.shape)
    rows = nn.gradient_check(model, X, t)
    assert len(rows) == 2 * (len(units) - 1)
    for layer, name, error, kinks in rows:
        assert error < 1e-7, f"layer {layer} d{name}: relative error {error:.2e}"
        assert kinks == 0, f"layer {layer} d{name}: {kinks} entries on a kink"


def test_backward_with_l2_matches_finite_differences():
    X, t = data(4, 6, 3, 7)
    model = nn.NNClassifier([4, 5, 3], rng=7, l2=0.3)
    assert all(row.rel_error < 1e-7 for row in nn.gradient_check(model, X, t))


def test_l2_adds_half_lambda_squared_weights_to_loss():
    X, t = data(4, 6, 3, 8)
    plain = nn.NNClassifier([4, 5, 3], rng=8)
    decayed = nn.NNClassifier([4, 5, 3], rng=8, l2=0.25)
    penalty = 0.125 * sum(np.sum(layer.W**2) for layer in plain.layers)
    assert decayed.loss(X, t) == pytest.approx(plain.loss(X, t) + penalty, rel=1e-14)


class NoReluMask(nn.NNClassifier):
    """Forgets f'(Z) when backpropagating into the hidden layers."""

    def backward(self):
        dZ = self.dZ_L
        for layer in reversed(self.layers):
            layer.dW = dZ @ layer.A_prev.T
            layer.db = dZ.sum(axis=1, keepdims=True)
            dZ = layer.W.T @ dZ


class PerSampleBias(nn.NNClassifier):
    """Sums the per-sample error signals Delta = n dZ for the bias: the 1/n forgotten."""

    def backward(self):
        super().backward()
        for layer in self.layers:
            layer.db = layer.db * self.dZ_L.shape[1]


class NoDropoutMask(nn.NNClassifier):
    """Forgets that the hidden units it dropped passed no gradient back."""

    def backward(self):
        masks, self._masks = self._masks, [1.0] * len(self._masks)
        try:
            super().backward()
        finally:
            self._masks = masks


@pytest.mark.parametrize("mutant, dropout, broken", [
    (NoReluMask, 0.0, {(1, "W"), (1, "b")}),
    (PerSampleBias, 0.0, {(1, "b"), (2, "b")}),
    (NoDropoutMask, 0.5, {(1, "W"), (1, "b")})])
def test_gradient_check_catches_a_wrong_backward(mutant, dropout, broken):
    X, t = data(4, 8, 3, 3)
    rows = nn.gradient_check(mutant([4, 6, 3], rng=3, dropout=dropout), X, t)
    errors = {(layer, name): error for layer, name, error, _ in rows}
    for key, error in errors.items():
        if key in broken:
            assert error > 1e-2, f"the bug in {key} went unnoticed ({error:.1e})"
        else:
            assert error < 1e-7, f"{key} is not broken but shows {error:.1e}"


def test_gradient_check_refuses_float32():
    X, t = data(3, 4, 2, 0)
    with pytest.raises(ValueError, match="float64"):
        nn.gradient_check(nn.NNClassifier([3, 2], rng=0, dtype=np.float32), X, t)


def test_dropout_backward_matches_finite_differences_under_a_fixed_mask():
    X, t = data(4, 6, 3, 4)
    model = nn.NNClassifier([4, 8, 8, 3], rng=4, dropout=0.5)
    model.loss(X, t)
    assert np.any(model._masks[0] == 0) and np.any(model._masks[0] == 2)   # units really dropped
    for row in nn.gradient_check(model, X, t):
        assert row.rel_error < 1e-7, row


def test_dropout_keeps_units_with_probability_one_minus_rate():
    X, t = data(4, 500, 3, 15)
    model = nn.NNClassifier([4, 200, 3], rng=15, dropout=0.2)
    model.loss(X, t)
    mask = model._masks[0]
    assert set(np.unique(mask)) == {0.0, np.float64(1 / 0.8)}
    # 100,000 draws: the dropped fraction is within 0.5% of 0.2 (about 4 standard errors).
    assert np.mean(mask == 0) == pytest.approx(0.2, abs=0.005)
    assert mask.mean() == pytest.approx(1.0, abs=0.01)     # inverted dropout: E[mask] = 1


def test_dropout_is_training_only():
    X, _ = data(4, 50, 3, 5)
    model = nn.NNClassifier([4, 8, 3], rng=5, dropout=0.5)
    reference = nn.NNClassifier([4, 8, 3], rng=5)
    np.testing.assert_array_equal(model.forward(X), reference.forward(X))


# ---------------------------------------------------------------------------
# Probabilities and the sanity checks of the post
# ---------------------------------------------------------------------------

def test_sigmoid_sanity_check():
    model = nn.NNClassifier([1, 2], rng=0)
    model.layers[0].W[...] = [[1.0], [0.0]]
    x = np.linspace(-6, 6, 101).reshape(1, -1)
    np.testing.assert_allclose(model.forward_probs(x)[0], expit(x[0]), rtol=1e-14)


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-14), (np.float32, 1e-6)])
def test_probabilities_sum_to_one(dtype, tol):
    X, _ = data(50, 40, 10, 6)
    probs = nn.NNClassifier([50, 30, 20, 10], rng=6, dtype=dtype).forward_probs(X)
    assert probs.shape == (10, 40) and probs.dtype == dtype
    assert np.all(probs >= 0)
    assert np.max(np.abs(probs.sum(axis=0) - 1)) < tol


def test_predict_is_argmax_of_probabilities():
    X, _ = data(5, 30, 4, 9)
    model = nn.NNClassifier([5, 6, 4], rng=9)
    predictions = model.predict(X)
    assert predictions.shape == (30,)
    np.testing.assert_array_equal(predictions, model.forward_probs(X).argmax(axis=0))


def test_log_sum_exp_matches_scipy():
    Z = np.random.default_rng(0).standard_normal((7, 9)) * 50
    np.testing.assert_allclose(nn.log_sum_exp(Z), logsumexp(Z, axis=0, keepdims=True),
                               rtol=1e-14)


def test_loss_is_mean_negative_log_likelihood():
    X, t = data(3, 8, 4, 10)
    model = nn.NNClassifier([3, 5, 4], rng=10)
    probs = model.forward_probs(X)
    expected = -np.mean(np.log(probs[t, np.arange(8)]))
    loss = model.loss(X, t)
    assert isinstance(loss, float)
    assert loss == pytest.approx(expected, rel=1e-13)
    np.testing.assert_allclose(model.dZ_L, (probs - nn.one_hot_convert(t, 4)) / 8, atol=1e-16)


@pytest.mark.parametrize("logit", [1e3, 1e4, -1e4])
def test_extreme_logits_give_finite_loss_and_gradients(logit):
    model = nn.NNClassifier([2, 3, 3], rng=0)
    X = np.array([[1.0, 0.5], [0.0, 1.0]])
    t = np.array([1, 2])
    # Scale the output layer until the logits reach the size we want.
    Z = model.forward(X)
    model.layers[-1].W *= abs(logit) / np.abs(Z).max()
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow, no NaN
        loss = model.loss(X, t)
        model.backward()
    assert np.isfinite(loss)
    assert np.abs(model.forward(X)).max() == pytest.approx(abs(logit), rel=1e-12)
    for layer in model.layers:
        assert np.all(np.isfinite(layer.dW)) and np.all(np.isfinite(layer.db))
    # The output gradient is a difference of probabilities: each entry lies in [-1, 1].
    assert np.abs(model.dZ_L).max() <= 1


def test_loss_of_a_confident_mistake_is_the_logit_gap():
    model = nn.NNClassifier([2, 2], rng=0)
    model.layers[0].W[...] = [[1.0, 0.0], [0.0, 0.0]]
    X = np.array([[1e4], [0.0]])              # logits (1e4, 0)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert model.loss(X, [1]) == 1e4      # -z_1 + log(e^1e4 + e^0) = 1e4 exactly in float64
        model.backward()
    np.testing.assert_array_equal(model.dZ_L, [[1.0], [-1.0]])


# ---------------------------------------------------------------------------
# dtype and determinism
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("optimizer", [lambda m: nn.SGD(m, 0.1), lambda m: nn.Momentum(m, 0.1),
                                       lambda m: nn.Adam(m)], ids=["SGD", "Momentum", "Adam"])
def test_float32_stays_float32(optimizer):
    X, t = data(4, 6, 3, 11)
    model = nn.NNClassifier([4, 5, 5, 3], rng=11, dtype=np.float32, l2=0.01, dropout=0.2)
    opt = optimizer(model)
    for _ in range(2):
        loss = model.loss(X, t)                 # float64 X, converted once at the entry
        model.backward()
        opt.step()
    assert isinstance(loss, float)
    model.loss(X, t)
    model.backward()
    assert model.forward(X).dtype == np.float32 and model.dZ_L.dtype == np.float32
    for layer in model.layers:
        for array in (layer.W, layer.b, layer.dW, layer.db, layer.Z, layer.A_prev):
            assert array.dtype == np.float32
    for state in getattr(opt, "velocity", None) or getattr(opt, "m", None) or []:
        assert state.dtype == np.float32
    assert nn.one_hot_convert(t, 3, dtype=np.float32).dtype == np.float32
    assert nn.d_relu(np.ones(3, np.float32)).dtype == np.float32
    assert nn.relu(np.ones(3, np.float32)).dtype == np.float32


def test_float32_agrees_with_float64():
    X, t = data(4, 16, 3, 12)
    models = [nn.NNClassifier([4, 8, 3], rng=12, dtype=d) for d in (np.float32, np.float64)]
    losses = [m.loss(X, t) for m in models]
    for m in models:
        m.backward()
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    np.testing.assert_allclose(models[0].layers[0].dW, models[1].layers[0].dW, rtol=1e-4, atol=1e-6)


def test_same_seed_same_weights():
    a, b = nn.NNClassifier([6, 5, 3], rng=42), nn.NNClassifier([6, 5, 3], rng=42)
    c = nn.NNClassifier([6, 5, 3], rng=np.random.default_rng(42))
    d = nn.NNClassifier([6, 5, 3], rng=43)
    for la, lb, lc, ld in zip(a.layers, b.layers, c.layers, d.layers):
        np.testing.assert_array_equal(la.W, lb.W)
        np.testing.assert_array_equal(la.W, lc.W)
        assert not np.array_equal(la.W, ld.W)


def test_module_leaves_global_random_state_alone():
    state = np.random.get_state()
    X, t = data(3, 20, 2, 13)
    model = nn.NNClassifier([3, 4, 2], rng=13, dropout=0.3)
    nn.train(model, X, t, nn.SGD(model, 0.1), epochs=2, batch_size=5, rng=1)
    after = np.random.get_state()
    np.testing.assert_array_equal(after[1], state[1])
    assert after[0] == state[0] and after[2:] == state[2:]    # position in the key, Gaussian cache


def test_training_is_reproducible():
    X, t = data(3, 40, 2, 14)
    runs = []
    for _ in range(2):
        model = nn.NNClassifier([3, 6, 2], rng=14, dropout=0.2)
        history = nn.train(model, X, t, nn.SGD(model, 0.1), epochs=3, batch_size=7, rng=5,
                           X_val=X, t_val=t)
        runs.append((history, model.layers[0].W.copy()))
    np.testing.assert_array_equal(runs[0][0]["loss"], runs[1][0]["loss"])
    np.testing.assert_array_equal(runs[0][0]["val_accuracy"], runs[1][0]["val_accuracy"])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


def test_he_initialisation():
    layer = nn.Linear(500, 400, rng=0)
    assert layer.W.shape == (400, 500) and layer.b.shape == (400, 1)
    assert np.all(layer.b == 0)
    # 200,000 draws: the sample std is within 1% of sqrt(2 / n_in) with overwhelming probability.
    assert layer.W.std() == pytest.approx(np.sqrt(2 / 500), rel=0.01)
    assert abs(layer.W.mean()) < 3 * np.sqrt(2 / 500) / np.sqrt(layer.W.size)


def test_relu_and_its_derivative():
    x = np.array([-2.0, -0.0, 0.0, 1e-300, 3.0])
    np.testing.assert_array_equal(nn.relu(x), [0, 0, 0, 1e-300, 3])
    np.testing.assert_array_equal(nn.d_relu(x), [0, 0, 0, 1, 1])
    assert nn.d_relu(x).dtype == np.float64


def test_one_hot_convert():
    T = nn.one_hot_convert(np.array([2, 0, 1, 2]), 3)
    np.testing.assert_array_equal(T, [[0, 1, 0, 0], [0, 0, 1, 0], [1, 0, 0, 1]])
    assert T.dtype == np.float64
    # whole-number floats are labels too
    np.testing.assert_array_equal(nn.one_hot_convert([1.0, 0.0], 2), [[0, 1], [1, 0]])
