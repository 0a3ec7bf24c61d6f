"""Activations and batch normalisation: derivatives, gradients, modes, persistence, dtype."""
import numpy as np
import pytest

import nn_from_scratch as nn


def data(n_features, n, n_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_features, n)), rng.integers(0, n_classes, size=n)


ACTIVATIONS = sorted(nn.ACTIVATIONS)


# ---------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_matches_central_differences(name):
    f, d_f = nn.ACTIVATIONS[name]
    # away from the kink at 0, where a difference of ReLU measures two slopes
    z = np.concatenate([np.linspace(-6, -0.01, 40), np.linspace(0.01, 6, 40)])
    # f acts entry by entry, so the gradient of sum(f(z) - f(z_0)) is f'(z). Subtracting
    # f(z_0) makes every term but the perturbed one exactly 0: no rounding from the sum.
    f_0 = f(z.copy())
    numeric = nn.central_difference(lambda: float((f(z) - f_0).sum()), z)
    np.testing.assert_allclose(d_f(z), numeric, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("name, z, value, slope", [
    ("relu", [-1.0, 0.0, 2.0], [0, 0, 2], [0, 0, 1]),
    ("leaky_relu", [-1.0, 0.0, 2.0], [-0.01, 0, 2], [0.01, 0.01, 1]),
    ("tanh", [0.0], [0.0], [1.0]),
    ("sigmoid", [0.0], [0.5], [0.25]),
])
def test_activation_values(name, z, value, slope):
    f, d_f = nn.ACTIVATIONS[name]
    np.testing.assert_allclose(f(np.array(z)), value, rtol=1e-15)
    np.testing.assert_allclose(d_f(np.array(z)), slope, rtol=1e-15)


@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_are_safe_for_large_inputs_and_keep_the_dtype(name, dtype):
    f, d_f = nn.ACTIVATIONS[name]
    z = np.array([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=dtype)
    with np.errstate(all="raise"):             # an overflow would raise here
        value, slope = f(z), d_f(z)
    assert value.dtype == dtype and slope.dtype == dtype
    assert np.isfinite(value).all() and np.isfinite(slope).all()
    assert np.all(slope >= 0)


def test_sigmoid_derivative_is_at_most_a_quarter():
    z = np.linspace(-10, 10, 2001)
    assert nn.d_sigmoid(z).max() == pytest.approx(0.25, abs=1e-12)
    assert nn.d_tanh(z).max() == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "batch_norm"])
@pytest.mark.parametrize("dropout, l2", [(0.0, 0.0), (0.4, 0.2)], ids=["bare", "dropout+l2"])
def test_network_gradients(activation, batch_norm, dropout, l2):
    X, t = data(4, 7, 3, 21)
    model = nn.NNClassifier([4, 6, 5, 3], rng=21, activation=activation, batch_norm=batch_norm,
                            dropout=dropout, l2=l2)
    for layer in model.layers:
        if layer.b is not None:
            # Biases away from 0: a sample whose units below were all dropped (or are all 0)
            # would otherwise sit exactly on a ReLU kink, z = b = 0.
            layer.b[...] = np.random.default_rng(1).uniform(0.05, 0.2, layer.b.shape)
    rows = nn.gradient_check(model, X, t)
    expected = {"W", "gamma", "beta", "b"} if batch_norm else {"W", "b"}
    assert {row.name for row in rows} == expected
    for row in rows:
        assert row.rel_error < 1e-7, row


# ---------------------------------------------------------------------------
# Batch normalisation
# ---------------------------------------------------------------------------

def test_batch_norm_layer_backward_matches_central_differences():
    rng = np.random.default_rng(3)
    norm = nn.BatchNorm(4)
    norm.gamma[...] = rng.uniform(0.5, 2, (4, 1))
    norm.beta[...] = rng.standard_normal((4, 1))
    Z, G = rng.standard_normal((4, 6)) * 3 + 1, rng.standard_normal((4, 6))

    def loss():                                 # any scalar of Y: here sum(G * Y)
        return float(np.sum(G * norm(Z, training=True)))

    loss()
    dZ = norm.backward(G)
    for name, analytic, P in (("Z", dZ, Z), ("gamma", norm.dgamma, norm.gamma),
                              ("beta", norm.dbeta, norm.beta)):
        assert nn.relative_error(analytic, nn.central_difference(loss, P)) < 1e-8, name


def test_batch_norm_training_normalises_each_unit_over_the_batch():
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((5, 50)) * rng.uniform(1, 10, (5, 1)) + rng.uniform(-5, 5, (5, 1))
    Y = nn.BatchNorm(5)(Z, training=True)
    np.testing.assert_allclose(Y.mean(axis=1), 0, atol=1e-14)
    var = Z.var(axis=1)                                          # over the batch, 1/n
    np.testing.assert_allclose(Y.var(axis=1), var / (var + 1e-5), rtol=1e-12)


def test_batch_norm_running_statistics_and_evaluation_mode():
    rng = np.random.default_rng(5)
    norm = nn.BatchNorm(3)
    batches = [rng.standard_normal((3, 8)) * 2 + 1 for _ in range(3)]
    mean, var = np.zeros((3, 1)), np.ones((3, 1))
    for Z in batches:
        norm(Z, training=True)
        mean = 0.9 * mean + 0.1 * Z.mean(axis=1, keepdims=True)
        var = 0.9 * var + 0.1 * Z.var(axis=1, keepdims=True, ddof=1)
    np.testing.assert_allclose(norm.running_mean, mean, rtol=1e-14)
    np.testing.assert_allclose(norm.running_var, var, rtol=1e-14)
    Z = rng.standard_normal((3, 5))
    np.testing.assert_allclose(norm(Z), (Z - mean) / np.sqrt(var + 1e-5), rtol=1e-13)


def test_the_model_evaluates_with_running_statistics():
    X, t = data(4, 12, 3, 6)
    model = nn.NNClassifier([4, 5, 3], rng=6, batch_norm=True)
    nn.train(model, X, t, nn.SGD(model, 0.1), epochs=3, batch_size=4, rng=0)
    norm, layer = model.norms[0], model.layers[0]
    A = nn.relu(norm.gamma * (layer.W @ X - norm.running_mean)
                / np.sqrt(norm.running_var + norm.eps) + norm.beta)
    expected = model.layers[1].W @ A + model.layers[1].b
    np.testing.assert_allclose(model.forward(X), expected, rtol=1e-12)
    np.testing.assert_array_equal(model.predict(X), expected.argmax(axis=0))
    # one sample at a time gives the same logits: no batch statistics in evaluation
    np.testing.assert_allclose(model.forward(X[:, :1]), expected[:, :1], rtol=1e-12)
    assert not np.allclose(model.forward(X, training=True), model.forward(X))


def test_batch_norm_layers_have_no_bias_and_l2_spares_gamma_and_beta():
    X, t = data(4, 8, 3, 7)
    plain = nn.NNClassifier([4, 5, 5, 3], rng=7, batch_norm=True)
    decayed = nn.NNClassifier([4, 5, 5, 3], rng=7, batch_norm=True, l2=0.5)
    assert [layer.b is None for layer in plain.layers] == [True, True, False]
    for norm in decayed.norms:
        norm.gamma[...] = 3.0                    # l2 would pull these towards 0 if it applied
    for norm in plain.norms:
        norm.gamma[...] = 3.0
    penalty = 0.25 * sum(np.sum(layer.W**2) for layer in plain.layers)
    assert decayed.loss(X, t) == pytest.approx(plain.loss(X, t) + penalty, rel=1e-13)
    plain.backward()
    decayed.backward()
    for a, b in zip(plain.norms, decayed.norms):
        np.testing.assert_allclose(a.dgamma, b.dgamma, rtol=1e-12)
        np.testing.assert_allclose(a.dbeta, b.dbeta, rtol=1e-12)


@pytest.mark.parametrize("make", [lambda m: nn.SGD(m, 0.1), lambda m: nn.Momentum(m, 0.1),
                                  lambda m: nn.Adam(m, 0.01)], ids=["SGD", "Momentum", "Adam"])
def test_every_optimizer_updates_gamma_and_beta(make):
    X, t = data(4, 8, 3, 8)
    model = nn.NNClassifier([4, 5, 3], rng=8, batch_norm=True)
    optimizer = make(model)
    for _ in range(2):
        model.loss(X, t)
        model.backward()
        optimizer.step()
    assert not np.allclose(model.norms[0].gamma, 1) and not np.allclose(model.norms[0].beta, 0)
    state = getattr(optimizer, "velocity", None) or getattr(optimizer, "m", None)
    if state is not None:
        assert [s.shape for s in state] == [P.shape for _, _, P, _ in model.parameters()]


def test_batch_of_one_is_refused_in_training():
    model = nn.NNClassifier([3, 4, 2], rng=0, batch_norm=True)
    with pytest.raises(ValueError, match="batch normalisation in training needs at least 2 samples"):
        model.loss(np.ones((3, 1)), [0])
    assert model.predict(np.ones((3, 1))).shape == (1,)      # evaluation is fine
    for n, batch_size in ((9, 4), (9, 1), (1, 5)):
        with pytest.raises(ValueError, match="leave a batch of one: choose another batch_size"):
            nn.train(model, np.ones((3, n)), [0] * n, nn.SGD(model, 0.1), epochs=1,
                     batch_size=batch_size)


def test_batch_norm_save_load_round_trip(tmp_path):
    X, t = data(4, 12, 3, 9)
    model = nn.NNClassifier([4, 6, 5, 3], rng=9, batch_norm=True, activation="tanh", dtype=np.float32)
    model.norms[0].eps, model.norms[1].momentum = 1e-3, 0.01     # settings other than the defaults
    nn.train(model, X, t, nn.Adam(model, 0.01), epochs=2, batch_size=4, rng=0)
    model.save(tmp_path / "bn")
    loaded = nn.NNClassifier.load(tmp_path / "bn")
    assert loaded.batch_norm and loaded.activation == "tanh" and loaded.dtype == np.float32
    for (l, name, P, _), (l2_, name2, Q, _) in zip(model.parameters(), loaded.parameters()):
        assert (l, name) == (l2_, name2)
        np.testing.assert_array_equal(P, Q)
    for a, b in zip(model.norms, loaded.norms):
        np.testing.assert_array_equal(a.running_mean, b.running_mean)
        np.testing.assert_array_equal(a.running_var, b.running_var)
        assert (b.eps, b.momentum) == (a.eps, a.momentum)
    np.testing.assert_array_equal(loaded.forward(X), model.forward(X))


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_float32_stays_float32_with_batch_norm(activation):
    X, t = data(4, 8, 3, 10)
    model = nn.NNClassifier([4, 5, 3], rng=10, dtype=np.float32, batch_norm=True,
                            activation=activation)
    optimizer = nn.Adam(model)
    model.loss(X, t)
    model.backward()
    optimizer.step()
    model.loss(X, t)
    model.backward()
    norm = model.norms[0]
    for array in (norm.gamma, norm.beta, norm.running_mean, norm.running_var, norm.dgamma,
                  norm.dbeta, norm.Zhat, norm.sigma, model.dZ_L, model.forward(X)):
        assert array.dtype == np.float32
