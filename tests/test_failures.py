"""Failures are loud and leave nothing half-done (one section per kind of failure).

Each test reproduces a way the module once failed silently or misleadingly and
checks the documented error, or the correct behaviour, instead.
"""
import copy
import re
import zipfile
from decimal import Decimal
from fractions import Fraction

import matplotlib
import numpy as np
import pytest

import nn_from_scratch as nn

matplotlib.use("Agg")


def data(n_features, n, n_classes, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n_features, n)), rng.integers(0, n_classes, size=n)


def parameters(model):
    return [P.copy() for _, _, P, _ in model.parameters()]


def assert_same(before, model):
    for old, (_, _, P, _) in zip(before, model.parameters()):
        np.testing.assert_array_equal(old, P)


# ---------------------------------------------------------------------------
# 1. Divergence stops training with a FloatingPointError, not NaN weights
# ---------------------------------------------------------------------------

def test_a_too_large_learning_rate_stops_training_loudly():
    digits = nn.load_digits_split()
    model = nn.NNClassifier([64, 32, 10], rng=0)
    optimizer = nn.SGD(model, 1e3)
    with pytest.raises(FloatingPointError,
                       match=r"training diverged in epoch \d+ with learning rate 1000 \(the last "
                             r"finite batch loss was \S+\): .*not finite"):
        nn.train(model, digits["X_train"], digits["t_train"], optimizer, epochs=5, batch_size=32,
                 rng=0)


def test_a_loss_that_overflows_stops_training_with_finite_parameters():
    X, t = data(4, 40, 3, 1)
    model = nn.NNClassifier([4, 8, 3], rng=1)
    with pytest.raises(FloatingPointError, match="training diverged in epoch 1"):
        nn.train(model, X * 1e30, t, nn.SGD(model, 1e30), epochs=3, batch_size=8, rng=0)
    assert all(np.isfinite(P).all() for _, _, P, _ in model.parameters())
    with pytest.raises(RuntimeError):             # the failed pass left nothing to backpropagate
        model.backward()


def test_divergence_warns_nothing_and_stops_before_a_non_finite_step():
    """A learning rate of 1e150: after the first step the logits overflow; every step
    taken started from finite parameters, and none was taken after the overflow."""
    X, t = data(4, 40, 3, 11)
    model = nn.NNClassifier([4, 16, 16, 3], rng=11)
    steps = []

    class Recording(nn.SGD):
        def step(self):
            steps.append([np.isfinite(P).all() for _, _, P, _ in self.model.parameters()])
            super().step()

    with pytest.raises(FloatingPointError, match="training diverged"):
        nn.train(model, X, t, Recording(model, 1e150), epochs=20, batch_size=8, rng=0)
    # pytest turns warnings into errors here: none was emitted on the way
    assert steps and all(all(finite) for finite in steps)
    assert all(np.isfinite(P).all() for _, _, P, _ in model.parameters())


def test_gradients_that_overflow_stop_training_before_the_step():
    """tanh saturates, so the loss stays finite while dW_1 = dZ_1 X^T overflows."""
    model = nn.NNClassifier([1, 1, 2], activation="tanh", rng=0)
    model.layers[0].W[...] = 1e-300
    model.layers[1].W[...] = [[1e300], [-1e300]]
    X, t = np.full((1, 4), 1e300), np.array([0, 1, 0, 1])
    before = [P.copy() for _, _, P, _ in model.parameters()]
    with pytest.raises(FloatingPointError, match=r"training failed before its first step: the "
                       r"gradients dW1 are not finite. The learning rate is not the cause"):
        nn.train(model, X, t, nn.SGD(model, 1e-3), epochs=1, batch_size=4, rng=0)
    for old, (_, _, P, _) in zip(before, model.parameters()):
        np.testing.assert_array_equal(old, P)          # no step was taken


def test_divergence_in_the_validation_pass_names_the_epoch():
    from sklearn.datasets import make_moons
    X, t = make_moons(200, noise=0.2, random_state=0)
    X = X.T
    model = nn.NNClassifier([2, 16, 16, 2], rng=0)
    with pytest.raises(FloatingPointError, match=r"training diverged in epoch \d+ with learning rate "
                       r"1e\+30 \(the last finite batch loss was \S+\); on the validation data: "
                       r"the logits are not finite"):
        nn.train(model, X, t, nn.SGD(model, 1e30), epochs=5, batch_size=200, X_val=X, t_val=t)


def test_finite_parameters_near_the_limit_are_not_called_diverged():
    """A sum of finite entries can overflow: train() looks closer before it complains."""
    model = nn.NNClassifier([1, 2], rng=0)
    model.layers[0].b[...] = 1e308
    history = nn.train(model, np.ones((1, 4)), [0, 1, 0, 1], nn.SGD(model, 0.1), 1, 4, rng=0)
    assert np.isfinite(history["loss"]).all() and np.all(model.layers[0].b == 1e308)


def test_loss_and_predict_on_overflowing_inputs_raise():
    model = nn.NNClassifier([3, 4, 2], rng=0)
    X = np.full((3, 2), 1e308)
    with pytest.raises(FloatingPointError, match="the logits are not finite"):
        model.loss(X, [0, 1])
    with pytest.raises(FloatingPointError, match="the logits are not finite"):
        model.predict(X)                           # argmax over NaN would say class 0


def test_a_diverged_model_is_named_as_such():
    model = nn.NNClassifier([3, 4, 2], rng=0)
    model.layers[1].W[0, 0] = np.nan
    with pytest.raises(FloatingPointError, match="the parameters W2 are not finite"):
        model.forward(np.ones((3, 2)))


def test_softmax_cross_entropy_rejects_non_finite_logits():
    with pytest.raises(FloatingPointError, match="the logits Z are not finite"):
        nn.softmax_cross_entropy(np.array([[0.0], [np.inf]]), [0])


# ---------------------------------------------------------------------------
# 2. A stale training pass cannot be backpropagated
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("change", [
    lambda model, opt: opt.step(),
    lambda model, opt: setattr(model, "dropout", 0.5),
    lambda model, opt: setattr(model, "l2", 0.1),
    lambda model, opt: setattr(model, "activation", "tanh"),
    lambda model, opt: model.forward(np.ones((3, 2)), training=True),
], ids=["step", "dropout", "l2", "activation", "forward-training"])
def test_backward_after_a_change_raises(change):
    X, t = data(3, 5, 2, 2)
    model = nn.NNClassifier([3, 4, 2], rng=2)
    optimizer = nn.SGD(model, 0.1)
    model.loss(X, t)
    model.backward()
    change(model, optimizer)
    with pytest.raises(RuntimeError, match=r"call model.loss\(X, t\) first"):
        model.backward()


def test_backward_after_a_training_forward_says_only_loss_caches_dZ_L():
    model = nn.NNClassifier([3, 4, 2], rng=2)
    model.forward(np.ones((3, 2)), training=True)
    with pytest.raises(RuntimeError, match=r"forward\(X, training=True\), which caches no dZ_L"):
        model.backward()


def test_backward_after_train_raises():
    X, t = data(3, 10, 2, 3)
    model = nn.NNClassifier([3, 4, 2], rng=3)
    nn.train(model, X, t, nn.SGD(model, 0.1), epochs=1, batch_size=5, rng=0)
    with pytest.raises(RuntimeError, match="backward"):
        model.backward()


def test_dropout_changed_before_backward_cannot_mix_masks():
    X, t = data(3, 6, 2, 4)
    model = nn.NNClassifier([3, 5, 2], rng=4, dropout=0.0)
    model.loss(X, t)
    model.dropout = 0.5
    with pytest.raises(RuntimeError):
        model.backward()
    assert model.layers[0].dW is None              # nothing was half-written


# ---------------------------------------------------------------------------
# 3. A call that raises leaves the model and the optimizer as they were
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda m: nn.SGD(m, 0.1), lambda m: nn.Momentum(m, 0.1),
                                  lambda m: nn.Adam(m)], ids=["SGD", "Momentum", "Adam"])
def test_a_read_only_parameter_stops_the_step_before_any_write(make):
    X, t = data(3, 6, 2, 5)
    model = nn.NNClassifier([3, 4, 4, 2], rng=5)
    optimizer = make(model)
    model.loss(X, t)
    model.backward()
    before = parameters(model)
    model.layers[2].b.flags.writeable = False      # the last parameter of all
    with pytest.raises(ValueError, match="parameter b3 is not a writeable array"):
        optimizer.step()
    assert_same(before, model)
    assert getattr(optimizer, "k", 0) == 0         # Adam did not count the step
    assert getattr(optimizer, "m", None) is None and getattr(optimizer, "velocity", None) is None


def test_a_bad_callback_is_refused_before_training():
    X, t = data(3, 10, 2, 6)
    model = nn.NNClassifier([3, 4, 2], rng=6)
    before = parameters(model)
    with pytest.raises(TypeError, match="callback must be callable, got 5"):
        nn.train(model, X, t, nn.SGD(model, 0.1), epochs=2, batch_size=5, callback=5)
    assert_same(before, model)


@pytest.mark.parametrize("make, name, value, error", [
    (lambda m: nn.SGD(m, 0.1), "lr", -1, ValueError),
    (lambda m: nn.SGD(m, 0.1), "lr", "fast", TypeError),
    (lambda m: nn.Momentum(m, 0.1), "beta", 1.0, ValueError),
    (lambda m: nn.Adam(m), "beta1", -0.5, ValueError),
    (lambda m: nn.Adam(m), "beta2", 1.5, ValueError),
    (lambda m: nn.Adam(m), "eps", 0.0, ValueError),
])
def test_optimizer_settings_are_checked_on_assignment(make, name, value, error):
    optimizer = make(nn.NNClassifier([3, 2], rng=0))
    old = getattr(optimizer, name)
    with pytest.raises(error, match=f"{name} must"):
        setattr(optimizer, name, value)
    assert getattr(optimizer, name) == old


# ---------------------------------------------------------------------------
# 4. gradient_check never reports a bug that is not there
# ---------------------------------------------------------------------------

def test_gradient_check_sets_kinks_apart():
    """The case that reported layer 2's b at relative error 0.43 although backward is right."""
    model = nn.NNClassifier([3, 3, 4, 3], rng=1)
    X, t = np.random.default_rng(1).standard_normal((3, 3)), np.array([0, 1, 2])
    rows = nn.gradient_check(model, X, t)
    assert sum(row.kinks for row in rows) > 0      # some differences crossed a kink here
    for row in rows:
        assert np.isnan(row.rel_error) or row.rel_error < 1e-7, row


def test_gradient_check_still_catches_a_bug_next_to_kinks():
    class Doubled(nn.NNClassifier):
        def backward(self):
            super().backward()
            self.layers[0].dW *= 2

    model = Doubled([3, 3, 4, 3], rng=1)
    X, t = np.random.default_rng(1).standard_normal((3, 3)), np.array([0, 1, 2])
    rows = {(row.layer, row.name): row for row in nn.gradient_check(model, X, t)}
    assert rows[1, "W"].rel_error > 0.1


def test_gradient_check_leaves_the_model_alone():
    X, t = data(3, 6, 2, 7)
    model = nn.NNClassifier([3, 4, 2], rng=7, dropout=0.3)
    before, state = parameters(model), copy.deepcopy(model.rng.bit_generator.state)
    nn.gradient_check(model, X, t)
    assert_same(before, model)
    assert model.rng.bit_generator.state == state
    assert model.dZ_L is None


@pytest.mark.parametrize("model, X, error, message", [
    (None, np.ones((3, 2)), TypeError, "model must be an NNClassifier, got NoneType"),
    (nn.NNClassifier([3, 2], rng=0), np.full((3, 2), np.nan), ValueError, "X contains NaN"),
])
def test_gradient_check_rejects_bad_input(model, X, error, message):
    with pytest.raises(error, match=message):
        nn.gradient_check(model, X, [0, 1])


# ---------------------------------------------------------------------------
# 5. Numbers are converted to the model's float, then checked
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, message", [
    ({"lr": np.longdouble("1e-400")}, r"lr must be a positive number, got .*which is 0.0 in float64"),
    ({"lr": 10**400}, "lr must be a positive number, got 1000.*too large for a float"),
])
def test_learning_rates_are_checked_as_float64(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.SGD(nn.NNClassifier([3, 2], rng=0), **kwargs)


def test_a_fraction_is_a_learning_rate():
    assert nn.SGD(nn.NNClassifier([3, 2], rng=0), Fraction(1, 10)).lr == 0.1


@pytest.mark.parametrize("dtype, kwargs, message", [
    (np.float64, {"beta1": np.longdouble(1) - np.longdouble(2) ** -60}, r"beta1 must lie in \[0, 1\), got .*which is 1.0"),
    (np.float32, {"beta2": 1 - 2**-30}, r"beta2 must lie in \[0, 1\), got .*which is 1.0 in float32"),
    (np.float32, {"eps": 1e-300}, "eps must be a positive number, got 1e-300, which is 0.0 in float32"),
    (np.float32, {"lr": 1e39}, "lr must be a positive number, got 1e.39, beyond the range of float32"),
])
def test_adam_settings_are_checked_in_the_models_dtype(dtype, kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Adam(nn.NNClassifier([3, 2], rng=0, dtype=dtype), **kwargs)


def test_dropout_next_to_one_is_refused():
    with pytest.raises(ValueError, match=r"dropout must lie in \[0, 1\)"):
        nn.NNClassifier([3, 2], dropout=np.longdouble(1) - np.longdouble(2) ** -60)


@pytest.mark.parametrize("eps", [1e-8, 1e-45])    # 1e-45: the smallest eps float32 can hold
def test_adam_on_float32_with_constant_features_stays_finite(eps):
    """The digits have pixels that are 0 in every image: their gradient is exactly 0,
    and Adam's step there is 0 / (0 + eps), finite only while eps is not 0 in float32."""
    digits = nn.load_digits_split(dtype=np.float32)
    model = nn.NNClassifier([64, 16, 10], rng=0, dtype=np.float32)
    optimizer = nn.Adam(model, eps=eps)
    assert optimizer.eps > 0
    nn.train(model, digits["X_train"], digits["t_train"], optimizer, epochs=1,
             batch_size=64, rng=0)
    assert all(np.isfinite(P).all() and P.dtype == np.float32 for _, _, P, _ in model.parameters())


# ---------------------------------------------------------------------------
# 6. load() reads only what save() writes, checked before it is allocated
# ---------------------------------------------------------------------------

@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    nn.NNClassifier([3, 4, 2], rng=0).save(path)
    with np.load(path) as stored:
        arrays = dict(stored)
    return path, arrays


def rewrite(path, arrays):
    np.savez(path, **arrays)


def test_load_a_zip_of_other_files(tmp_path):
    path = tmp_path / "notes.npz"
    with zipfile.ZipFile(path, "w") as archive:
        for name in ("units", "dtype", "l2", "dropout", "activation", "batch_norm"):
            archive.writestr(f"{name}.npy", "not an array")
    with pytest.raises(ValueError, match=r"notes.npz: member 'units' is not a NumPy .npy array"):
        nn.NNClassifier.load(path)


@pytest.mark.parametrize("units", [[10**7, 10**7], [20000, 20000]])
def test_load_huge_units_fails_before_allocating(saved, units):
    path, arrays = saved
    arrays["units"] = np.array(units)
    rewrite(path, arrays)
    with pytest.raises(ValueError, match=r"need \d+ bytes of weights, more than the file holds"):
        nn.NNClassifier.load(path)


def test_load_refuses_unknown_members(saved):
    path, arrays = saved
    arrays["extra"] = np.zeros(10)
    rewrite(path, arrays)
    with pytest.raises(ValueError, match=r"unexpected members \['extra.npy'\]"):
        nn.NNClassifier.load(path)


def test_load_refuses_compressed_members(saved):
    path, arrays = saved
    np.savez_compressed(path, **arrays)
    with pytest.raises(ValueError, match="member 'units' is compressed"):
        nn.NNClassifier.load(path)


@pytest.mark.parametrize("value", [np.full((2, 4), "x"), np.zeros((2, 4), dtype="datetime64[s]"),
                                   np.zeros((2, 4), dtype=complex), np.zeros((2, 4), np.float32)])
def test_load_refuses_weights_of_another_dtype(saved, value):
    path, arrays = saved
    arrays["W2"] = value
    rewrite(path, arrays)
    with pytest.raises(ValueError, match=re.escape(f"member 'W2' has dtype {value.dtype}, expected float64")):
        nn.NNClassifier.load(path)


def test_load_refuses_edited_units(saved):
    path, arrays = saved
    arrays["units"] = np.array([3, 2, 4])          # same count of weights, another model
    rewrite(path, arrays)
    with pytest.raises(ValueError, match=r"member 'W1' has shape \(4, 3\), the model's units need \(2, 3\)"):
        nn.NNClassifier.load(path)


def test_load_refuses_a_missing_member(saved):
    path, arrays = saved
    del arrays["b2"]
    rewrite(path, arrays)
    with pytest.raises(ValueError, match="missing member 'b2'"):
        nn.NNClassifier.load(path)


@pytest.mark.parametrize("member, value, message", [
    ("eps1", np.array(-1.0), r"member 'eps1': eps must be a positive number, got -1.0"),
    ("momentum1", np.array(2.0), r"member 'momentum1': momentum must lie in \(0, 1\], got 2.0"),
    ("momentum1", None, r"missing member 'momentum1'")])
def test_load_checks_batch_norm_settings(tmp_path, member, value, message):
    path = tmp_path / "bn.npz"
    nn.NNClassifier([3, 4, 2], rng=0, batch_norm=True).save(path)
    with np.load(path) as stored:
        arrays = dict(stored)
    if value is None:
        del arrays[member]
    else:
        arrays[member] = value
    rewrite(path, arrays)
    with pytest.raises(ValueError, match=message):
        nn.NNClassifier.load(path)


def test_load_gives_an_older_batch_norm_file_the_defaults(tmp_path):
    path = tmp_path / "bn.npz"
    model = nn.NNClassifier([3, 4, 4, 2], rng=0, batch_norm=True)
    model.save(path)
    with np.load(path) as stored:
        arrays = {key: value for key, value in stored.items()
                  if not key.startswith(("eps", "momentum"))}      # as save() wrote them before
    rewrite(path, arrays)
    loaded = nn.NNClassifier.load(path)
    assert [(norm.eps, norm.momentum) for norm in loaded.norms] == [(1e-5, 0.1)] * 2


def test_save_refuses_a_replaced_parameter(tmp_path):
    model = nn.NNClassifier([3, 2], rng=0)
    model.layers[0].W = np.zeros((2, 3), dtype=object)
    with pytest.raises(TypeError, match=r"layers\[0\].W must be a float64 array"):
        model.save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


# ---------------------------------------------------------------------------
# 7. Wrong object types are named
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda: nn.accuracy(None, np.ones((2, 2)), [0, 1]), "model must be an NNClassifier, got NoneType"),
    (lambda: nn.plot_decision_boundary("model", np.ones((2, 2)), [0, 1]), "model must be an NNClassifier, got str"),
    (lambda: nn.plot_decision_boundary(nn.NNClassifier([2, 2], rng=0), np.ones((2, 2)), [0, 1], ax="x"),
     "ax must be a matplotlib Axes, got str"),
    (lambda: nn.save_animation(None, "x"), "animation must be a matplotlib Animation, got NoneType"),
    (lambda: nn.save_fig(5), "name must be a str"),
    (lambda: nn.train(nn.NNClassifier([2, 2], rng=0), np.ones((2, 2)), [0, 1], "sgd", 1, 1),
     "optimizer must be an nn.SGD, nn.Momentum or nn.Adam, got str"),
    (lambda: nn.repeat_over_seeds(5, seeds=3), "run must be callable"),
    (lambda: nn.central_difference(lambda: 0.0, [1.0, 2.0]), "P must be a float NumPy array"),
])
def test_wrong_types_raise_type_errors_naming_the_argument(call, message):
    with pytest.raises(TypeError, match=message):
        call()


@pytest.mark.parametrize("name", ["../x", "/tmp/x", "", ".hidden", "a/b", "loss.png"])
def test_save_fig_takes_a_plain_name(name, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.setenv("NN_FROM_SCRATCH_FIGURES", str(tmp_path / "figures"))
    fig = plt.figure()
    try:
        with pytest.raises(ValueError, match="name must be a plain file name"):
            nn.save_fig(name, fig)
    finally:
        plt.close(fig)
    assert not any(tmp_path.rglob("*.png"))


@pytest.mark.parametrize("call", [
    lambda X, t: nn.NNClassifier([2, 2], rng=0).loss(X, t),
    lambda X, t: nn.NNClassifier([2, 2], rng=0).predict(X),
    lambda X, t: nn.softmax(X),
])
def test_masked_arrays_are_refused(call):
    X = np.ma.masked_array(np.ones((2, 3)), mask=[[0, 1, 0], [0, 0, 0]])
    with pytest.raises(TypeError, match="masked array: its mask would be ignored"):
        call(X, [0, 1, 0])


def test_masked_labels_are_refused():
    t = np.ma.masked_array([0, 1, 0], mask=[0, 1, 0])
    with pytest.raises(TypeError, match="t is a masked array"):
        nn.NNClassifier([2, 2], rng=0).loss(np.ones((2, 3)), t)


# ---------------------------------------------------------------------------
# What the notebooks kept rewriting
# ---------------------------------------------------------------------------

def test_copy_is_independent():
    X, t = data(3, 6, 2, 8)
    model = nn.NNClassifier([3, 4, 2], rng=8, dropout=0.2, batch_norm=True)
    twin = model.copy()
    assert copy.deepcopy(model).units == model.units
    nn.train(model, X, t, nn.SGD(model, 0.5), epochs=2, batch_size=3, rng=0)
    nn.train(twin, X, t, nn.SGD(twin, 0.5), epochs=2, batch_size=3, rng=0)
    for (_, _, P, _), (_, _, Q, _) in zip(model.parameters(), twin.parameters()):
        np.testing.assert_array_equal(P, Q)        # the same rng state, the same training
        assert P is not Q


def test_softmax_cross_entropy_mean_and_per_sample():
    Z, t = data(4, 6, 4, 9)
    losses, Delta = nn.softmax_cross_entropy(Z, t, mean=False)
    P = nn.softmax(Z)
    np.testing.assert_allclose(losses, -np.log(P[t, np.arange(6)]), rtol=1e-13)
    np.testing.assert_allclose(Delta, P - nn.one_hot_convert(t, 4), atol=1e-16)
    mean, dZ = nn.softmax_cross_entropy(Z, t)
    assert mean == pytest.approx(losses.mean(), rel=1e-15)
    np.testing.assert_allclose(dZ, Delta / 6, atol=1e-17)
    # dZ is the gradient of the mean loss, by central differences
    numeric = nn.central_difference(lambda: nn.softmax_cross_entropy(Z, t)[0], Z)
    assert nn.relative_error(dZ, numeric) < 1e-8


def test_central_difference_restores_and_is_exact_for_a_quadratic():
    P = np.array([[1.0, -2.0], [0.5, 3.0]])
    before = P.copy()
    grad = nn.central_difference(lambda: float(np.sum(P**2)), P, h=1e-3)
    np.testing.assert_array_equal(P, before)
    np.testing.assert_allclose(grad, 2 * before, rtol=1e-10)


def test_repeat_over_seeds_and_mean_sd():
    values = nn.repeat_over_seeds(lambda seed: seed * 2.0, seeds=4)
    np.testing.assert_array_equal(values, [0, 2, 4, 6])
    assert nn.repeat_over_seeds(lambda seed: [seed, -seed], seeds=[3, 5]).shape == (2, 2)
    assert nn.mean_sd([1.0, 2.0, 3.0]) == "2.000 +/- 1.000"
    assert nn.mean_sd([0.95]) == "0.950 (one run, no spread)"
    with pytest.raises(ValueError, match="values is empty"):
        nn.mean_sd([])
    assert nn.binomial_se(0.9, 100) == pytest.approx(0.03, rel=1e-12)
    with pytest.raises(ValueError, match="p is an accuracy"):
        nn.binomial_se(1.5, 10)


# ---------------------------------------------------------------------------
# Second audit: what the first round of fixes left
# ---------------------------------------------------------------------------

def test_an_overflowing_loss_without_l2_does_not_blame_the_penalty():
    model = nn.NNClassifier([1, 2], rng=0)
    model.layers[0].W[...] = [[1e308], [-1e308]]
    model.layers[0].b[...] = 0
    with pytest.raises(FloatingPointError, match="the logits are finite but so far apart") as error:
        model.loss(np.ones((1, 1)), [1])
    assert "L2" not in str(error.value)


def test_an_overflowing_penalty_is_named():
    model = nn.NNClassifier([1, 2], rng=0, l2=1.0)
    model.layers[0].W[...] = [[1e200], [1e-3]]
    with pytest.raises(FloatingPointError, match=r"the loss is inf \(the L2 penalty \(l2 / 2\) "
                                                 r"sum \|\|W_l\|\|\^2 overflows"):
        model.loss(np.zeros((1, 1)), [1])


def test_a_failed_training_pass_leaves_the_running_statistics_alone():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 4, 2], rng=0, batch_norm=True)
    model.loss(X, t)
    before = [(norm.running_mean.copy(), norm.running_var.copy()) for norm in model.norms]
    model.layers[2].W[0, 0] = np.inf
    with pytest.raises(FloatingPointError, match="the parameters W3 are not finite"):
        model.loss(X, t)
    for norm, (mean, var) in zip(model.norms, before):
        np.testing.assert_array_equal(norm.running_mean, mean)
        np.testing.assert_array_equal(norm.running_var, var)


@pytest.mark.parametrize("where", ["b", "gamma", "running_var"])
def test_non_finite_logits_name_any_non_finite_array(where):
    model = nn.NNClassifier([3, 4, 2], rng=0, batch_norm=True)
    target = model.layers[1].b if where == "b" else getattr(model.norms[0], where)
    target[0, 0] = np.nan
    name = {"b": "b2", "gamma": "gamma1", "running_var": "running_var1"}[where]
    with pytest.raises(FloatingPointError, match=f"the parameters {name} are not finite"):
        model.predict(np.ones((3, 2)))


def test_a_step_that_overflows_is_reported_without_warnings():
    X, t = data(4, 40, 3, 1)
    model = nn.NNClassifier([4, 8, 3], rng=1)
    with _no_warnings():
        with pytest.raises(FloatingPointError, match=r"training diverged in epoch \d with learning rate "
                           r"1.7e\+308 \(the last finite batch loss was \S+\): the step lr \* dP overflowed"):
            nn.train(model, X * 1e3, t, nn.SGD(model, 1.7e308), epochs=2, batch_size=8, rng=0)


class _no_warnings:
    def __enter__(self):
        import warnings
        self.catcher = warnings.catch_warnings()
        self.catcher.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *args):
        return self.catcher.__exit__(*args)


def test_derivatives_of_integer_input_are_floats():
    Z = np.arange(-2, 3)
    np.testing.assert_array_equal(nn.d_leaky_relu(Z), [0.01, 0.01, 0.01, 1, 1])
    assert nn.d_relu(Z).dtype == np.float64 and nn.d_leaky_relu(Z).dtype == np.float64


@pytest.mark.parametrize("a, b, error, message", [
    (np.ones(3), np.ones((3, 1)), ValueError, r"same shape, got \(3,\) and \(3, 1\)"),
    (np.ones(2), np.array([np.inf, 1.0]), ValueError, "b contains NaN or inf"),
    (np.ones(2), np.array(["a", "b"]), TypeError, "b must hold real numbers"),
])
def test_relative_error_does_not_broadcast(a, b, error, message):
    with pytest.raises(error, match=message):
        nn.relative_error(a, b)


def test_central_difference_restores_P_when_f_raises():
    P = np.array([1.0, 2.0])

    def f():
        if P[0] != 1.0:
            raise RuntimeError("f fails away from the start")
        return 0.0
    with pytest.raises(RuntimeError):
        nn.central_difference(f, P)
    np.testing.assert_array_equal(P, [1.0, 2.0])


def test_load_checks_rng_before_the_file(saved):
    path, _ = saved
    with pytest.raises(TypeError, match="rng must be None"):
        nn.NNClassifier.load(path, rng="x")


def test_load_refuses_settings_of_the_wrong_shape_and_empty_strings(saved):
    path, arrays = saved
    rewrite(path, dict(arrays, l2=np.zeros(2)))
    with pytest.raises(ValueError, match=r"member 'l2' has shape \(2,\), a setting is a single value"):
        nn.NNClassifier.load(path)
    rewrite(path, dict(arrays, dtype=np.array("", dtype="<U0")))
    with pytest.raises(ValueError, match=r"model.npz"):
        nn.NNClassifier.load(path)


def test_load_refuses_duplicate_and_encrypted_members(saved):
    path, arrays = saved
    with zipfile.ZipFile(path, "a") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        archive.writestr("W1.npy", archive.read("W1.npy"))
    with pytest.raises(ValueError, match=r"members \['W1.npy'\] appear more than once"):
        nn.NNClassifier.load(path)
    rewrite(path, arrays)
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")          # the first member's central directory entry
    raw[central + 8] |= 1                         # its "encrypted" flag
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="is not a readable model file"):
        nn.NNClassifier.load(path)


@pytest.mark.parametrize("value", [np.full((4, 1), "x"), np.float64(2.0),
                                   np.ma.array(np.ones((4, 1)))])
def test_save_checks_the_running_statistics(value, tmp_path):
    model = nn.NNClassifier([3, 4, 2], rng=0, batch_norm=True)
    model.norms[0].running_mean = value
    with pytest.raises(TypeError, match=r"norms\[0\].running_mean must be a float64 array"):
        model.save(tmp_path / "m.npz")


def test_settings_that_decide_the_layers_cannot_be_reassigned():
    model = nn.NNClassifier([3, 4, 2], rng=0)
    with pytest.raises(AttributeError, match="batch_norm is fixed when the model is built"):
        model.batch_norm = True
    with pytest.raises(TypeError, match="rng must be None"):
        model.rng = 5.5
    optimizer = nn.Adam(model)
    with pytest.raises(TypeError, match="model must be an NNClassifier"):
        optimizer.model = None
    with pytest.raises(ValueError, match=r"k, the number of steps taken, must be an int in \[0, 2\^62\), got -1"):
        optimizer.k = -1


def test_adam_with_broken_state_changes_nothing():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = nn.Adam(model)
    model.loss(X, t)
    model.backward()
    optimizer.step()
    model.loss(X, t)
    model.backward()
    optimizer.v = None
    before = parameters(model)
    with pytest.raises(TypeError, match="v must be the list of arrays step.. made"):
        optimizer.step()
    assert optimizer.k == 1
    assert_same(before, model)


def test_a_gradient_of_another_dtype_stops_the_step_before_any_write():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    model.loss(X, t)
    model.backward()
    model.layers[1].dW = model.layers[1].dW.astype(complex)
    before = parameters(model)
    with pytest.raises(ValueError, match="the gradient dW2 must be a float64 array"):
        nn.SGD(model, 0.1).step()
    assert_same(before, model)


def test_batch_norm_checks_its_settings_and_input():
    with pytest.raises(ValueError, match="eps must be a positive number"):
        nn.BatchNorm(3, eps=-1)
    with pytest.raises(ValueError, match=r"momentum must lie in \(0, 1\]"):
        nn.BatchNorm(3, momentum=2)
    norm = nn.BatchNorm(3)
    with pytest.raises(RuntimeError, match="needs a training pass first"):
        norm.backward(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"Z has shape \(2, 4\), this layer expects \(3, n\)"):
        norm(np.ones((2, 4)), training=True)
    with pytest.raises(TypeError, match="Z must hold real numbers"):
        norm(np.ones((3, 4), dtype=complex))


def test_optimizers_explain_integer_parameters_of_a_toy_model():
    class Toy:
        P, dP = np.array([2, 1]), np.array([1, 1])

        def parameters(self):
            return [(1, "W", self.P, self.dP)]

        def clear_cache(self):
            pass
    with pytest.raises(TypeError, match=r"parameter W1 must be a float32 or float64 NumPy array "
                                        r"\(np.array\(\[2.0, 1.0\]\), not \[2, 1\]\), got dtype int64"):
        nn.SGD(Toy(), 0.1)


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.mean_sd([1.0, 2.0], decimals=-1), ValueError, "decimals must be an int"),
    (lambda: nn.mean_sd(np.ma.array([1.0, 2.0, 9.0], mask=[0, 0, 1])), TypeError, "masked array"),
    (lambda: nn.repeat_over_seeds(lambda s: s, [None]), TypeError, "seeds must be an int"),
    (lambda: nn.repeat_over_seeds(lambda s: s, "ab"), TypeError, "seeds must be an int"),
    (lambda: nn.softmax(np.array([[np.nan], [1.0]])), FloatingPointError, "the logits Z are not finite"),
    (lambda: nn.softmax(np.zeros((0, 3))), ValueError, "Z must have at least one class"),
    (lambda: nn.NNClassifier([3, 2]).forward(np.ones((3, 1)), training="no"), TypeError,
     "training must be True or False"),
])
def test_small_helpers_refuse_bad_input(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_a_callback_of_the_wrong_arity_is_refused_before_training():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    before = parameters(model)
    with pytest.raises(TypeError, match=r"callback must accept two arguments"):
        nn.train(model, X, t, nn.SGD(model, 0.1), 1, 2, callback=lambda epoch: None)
    assert_same(before, model)


def test_float32_dropout_stays_float32():
    model = nn.NNClassifier([3, 4, 2], rng=0, dtype=np.float32, dropout=0.5)
    model.loss(np.ones((3, 5)), [0, 1, 0, 1, 1])
    assert model._masks[0].dtype == np.float32


@pytest.mark.parametrize("call, message", [
    (lambda ax: nn.plot_decision_boundary(nn.NNClassifier([2, 2]), np.zeros((2, 3)), [0, 1, 0],
                                          ax=ax, resolution=1), "resolution must be at least 2"),
    (lambda ax: nn.save_fig("x" * 200), "at most 100 characters"),
    (lambda ax: nn.save_fig("x", dpi=0), r"dpi must lie in \[10, 1200\], got 0"),
    (lambda ax: nn.save_fig("x", dpi=1e5), r"dpi must lie in \[10, 1200\], got 100000"),
    (lambda ax: nn.plot_decision_boundary(nn.NNClassifier([2, 2]), np.zeros((2, 3)), [0, 1, 0],
                                          ax=ax, resolution=2001), "resolution must be at most 2000"),
])
def test_figure_helpers_refuse_bad_sizes(call, message, tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    monkeypatch.setenv("NN_FROM_SCRATCH_FIGURES", str(tmp_path))
    fig, ax = plt.subplots()
    try:
        with pytest.raises(ValueError, match=message):
            call(ax)
    finally:
        plt.close(fig)


def test_batch_statistics_that_overflow_in_a_passing_step_are_refused():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0, batch_norm=True)
    model.loss(X, t)
    before = (model.norms[0].running_mean.copy(), model.norms[0].running_var.copy())
    X_huge = X.copy()
    X_huge[0, 0] = 1e300                          # its variance overflows; the logits stay finite
    with pytest.raises(FloatingPointError, match="the batch statistics overflow"):
        model.loss(X_huge, t)
    np.testing.assert_array_equal(model.norms[0].running_mean, before[0])
    np.testing.assert_array_equal(model.norms[0].running_var, before[1])


def test_a_divergence_message_does_not_name_statistics_it_restored():
    X, t = data(3, 12, 3, 0)
    model = nn.NNClassifier([3, 8, 8, 3], rng=0, batch_norm=True)
    with pytest.raises(FloatingPointError) as error:
        nn.train(model, X, t, nn.SGD(model, 1e200), epochs=3, batch_size=6, rng=0)
    assert "running_" not in str(error.value) or "batch statistics overflow" in str(error.value)
    assert all(np.isfinite(getattr(norm, name)).all() for norm in model.norms
               for name in ("running_mean", "running_var"))


# ---------------------------------------------------------------------------
# Found in the third review: state set by hand, swapped models, tiny gradients
# ---------------------------------------------------------------------------

def stepped(optimizer_class, **settings):
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = optimizer_class(model, 0.01, **settings)
    model.loss(X, t)
    model.backward()
    optimizer.step()
    model.loss(X, t)
    model.backward()
    return model, optimizer


@pytest.mark.parametrize("optimizer_class, name, breaks, error, message", [
    (nn.Momentum, "velocity", lambda S: S.__setitem__(-1, S[-1].astype(int)), ValueError,
     r"velocity\[3\] must be a writeable float64 array like its parameter, got dtype int64"),
    (nn.Momentum, "velocity", lambda S: setattr(S[-1].flags, "writeable", False), ValueError,
     r"velocity\[3\] must be a writeable float64 array like its parameter, got a read-only array"),
    (nn.Adam, "m", lambda S: S.__setitem__(0, S[0].astype(np.float32)), ValueError,
     r"m\[0\] must be a writeable float64 array"),
])
def test_optimizer_state_broken_by_hand_changes_nothing(optimizer_class, name, breaks, error,
                                                        message):
    model, optimizer = stepped(optimizer_class)
    breaks(getattr(optimizer, name))
    before, k = parameters(model), getattr(optimizer, "k", None)
    with pytest.raises(error, match=message):
        optimizer.step()
    assert_same(before, model)
    assert getattr(optimizer, "k", None) == k


def test_optimizer_state_of_another_type_is_named():
    model, optimizer = stepped(nn.Adam)
    optimizer.m = tuple(optimizer.m)
    with pytest.raises(TypeError, match="m must be the list of arrays step.. made .*, got tuple"):
        optimizer.step()


def test_adam_step_count_is_bounded():
    model, optimizer = stepped(nn.Adam)
    with pytest.raises(ValueError, match=r"must be an int in \[0, 2\^62\)"):
        optimizer.k = 10**400
    assert optimizer.k == 1


@pytest.mark.parametrize("optimizer, message", [
    (lambda model: nn.Adam(model, eps=1e-300), "eps must be a positive number, got 1e-300, which is 0.0 in float32"),
    (lambda model: nn.SGD(model, 1e-50), "lr must be a positive number, got 1e-50, which is 0.0 in float32"),
])
def test_an_optimizer_given_a_float32_model_checks_its_settings_again(optimizer, message):
    double = nn.NNClassifier([3, 4, 2], rng=0)
    single = nn.NNClassifier([3, 4, 2], rng=0, dtype=np.float32)
    opt = optimizer(double)
    with pytest.raises(ValueError, match=message):
        opt.model = single
    assert opt.model is double


def test_backward_refuses_a_parameter_replaced_after_the_pass():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    model.loss(X, t)
    model.layers[1].W = model.layers[1].W * 2
    with pytest.raises(RuntimeError, match=r"layers\[1\].W was replaced after the training pass"):
        model.backward()
    model.loss(X, t)                          # a new pass with the new W is fine
    model.backward()


def test_a_step_names_a_replaced_parameter_of_the_wrong_dtype():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    model.loss(X, t)
    model.backward()
    model.layers[0].W = model.layers[0].W.astype(np.float32)
    with pytest.raises(TypeError, match=r"layers\[0\].W must be a float64 array of shape \(4, 3\), "
                                        r"got an array of dtype float32"):
        nn.SGD(model, 0.1).step()


def test_central_difference_refuses_a_step_lost_in_the_dtype_and_bad_values():
    P16 = np.ones(3, np.float16)
    with pytest.raises(ValueError, match=r"h = 1e-05 is rounded away next to entries of P as large as 1 in float16"):
        nn.central_difference(lambda: float((P16**2).sum()), P16)
    P32 = np.full(3, 100, np.float32)            # a step of h is half lost there, not all
    with pytest.raises(ValueError, match=r"is rounded away next to entries of P as large as 100 in float32"):
        nn.central_difference(lambda: float((P32**2).sum()), P32)
    P_big = np.full(2, 1e11)
    with pytest.raises(ValueError, match=r"is rounded away next to entries of P as large as 1e\+11 in float64"):
        nn.central_difference(lambda: float((P_big**2).sum()), P_big)
    with pytest.raises(ValueError, match="P contains NaN or inf"):
        nn.central_difference(lambda: 0.0, np.array([np.inf, 1.0]))
    P = np.ones(3)
    with pytest.raises(ValueError, match=r"f\(\) returned nan with P\[0\] moved by \+-h"):
        nn.central_difference(lambda: np.nan, P)
    with pytest.raises(TypeError, match=r"f\(\) must return a number \(a float\), got NoneType"):
        nn.central_difference(lambda: None, P)
    np.testing.assert_array_equal(P, np.ones(3))


def test_gradient_check_does_not_call_rounding_noise_a_bug():
    """Found by a reviewer: one sample's hidden units all 0, the others predicted with
    confidence: gradients of about 1e-7, whose differences are mostly rounding."""
    rng = np.random.default_rng(291)
    model = nn.NNClassifier([3, 3, 4, 3], rng=291, dropout=0.3)
    X, t = rng.standard_normal((3, 3)), rng.integers(0, 3, 3)
    for shift in (0.0, 30.0):                 # logits moved by 30 change no probability and no gradient
        shifted = model.copy()
        shifted.layers[-1].b += shift
        for h in (1e-5, 1e-7):
            for row in nn.gradient_check(shifted, X, t, h=h):
                assert np.isnan(row.rel_error) or row.rel_error < 1e-7, (shift, h, row)


def test_gradient_check_still_finds_a_bug_in_tiny_gradients(monkeypatch):
    rng = np.random.default_rng(291)
    model = nn.NNClassifier([3, 3, 4, 3], rng=291, dropout=0.3)
    X, t = rng.standard_normal((3, 3)), rng.integers(0, 3, 3)
    backward = nn.NNClassifier.backward

    def half_of_dW(self):
        backward(self)
        self.layers[-1].dW *= 0.5             # a bug on a gradient of about 1e-7
    monkeypatch.setattr(nn.NNClassifier, "backward", half_of_dW)
    last = [row for row in nn.gradient_check(model, X, t) if (row.layer, row.name) == (3, "W")]
    assert last[0].rel_error > 1e-6, last      # ten times the 1e-7 that passes


@pytest.mark.parametrize("call, error, message", [
    (lambda: nn.relative_error(np.array([1e200]), np.array([-1e200])), None, 1.0),
    (lambda: nn.mean_sd([1e308, 1e308]), ValueError, "overflow their mean and spread"),
    (lambda: nn.mean_sd("123"), TypeError, "values must be numbers, got str"),
    (lambda: nn.repeat_over_seeds(lambda seed: None, 3), TypeError,
     r"run\(0\) must return a number or an array of numbers, got NoneType"),
    (lambda: nn.repeat_over_seeds(lambda seed: np.zeros(seed), 3), ValueError,
     r"run\(1\) returned shape \(1,\), run\(0\) returned \(0,\)"),
])
def test_summaries_of_odd_values(call, error, message):
    if error is None:
        assert call() == message
    else:
        with pytest.raises(error, match=message):
            call()


@pytest.mark.parametrize("f", [nn.relu, nn.d_relu, nn.leaky_relu, nn.d_leaky_relu, nn.tanh,
                               nn.d_tanh, nn.sigmoid, nn.d_sigmoid])
def test_activations_take_one_kind_of_input(f):
    assert f(np.array([1, -2], np.int8)).dtype == np.float64
    assert f(np.array([1.0, -2.0], np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="Z must hold real numbers, got an array of dtype"):
        f(np.array([1 + 1j]))
    with pytest.raises(TypeError, match="Z must hold real numbers"):
        f("a")
    with pytest.raises(TypeError, match="Z is a masked array"):
        f(np.ma.array([1.0], mask=[True]))


def test_standalone_layers_name_a_replaced_array():
    norm = nn.BatchNorm(2)
    norm.gamma = [1.0, 2.0]
    with pytest.raises(TypeError, match=r"gamma must be a float32 or float64 array of shape \(d, 1\), got list"):
        norm(np.ones((2, 3)), training=True)
    norm = nn.BatchNorm(2)
    norm.running_var = np.ones((3, 1))
    with pytest.raises(TypeError, match=r"running_var must be a float64 array of shape \(2, 1\) like gamma"):
        norm(np.ones((2, 3)))
    layer = nn.Linear(2, 3, rng=0)
    layer.W = None
    with pytest.raises(TypeError, match=r"W must be a float32 or float64 array of shape \(n_out, n_in\), got NoneType"):
        layer(np.ones((2, 4)))
    layer = nn.Linear(2, 3, rng=0)
    layer.b = np.zeros(3)
    with pytest.raises(TypeError, match=r"W and b must be arrays of one dtype, b of shape \(3, 1\)"):
        layer(np.ones((2, 4)))


def test_a_negative_running_variance_is_refused_and_named(tmp_path):
    model = nn.NNClassifier([2, 3, 2], rng=0, batch_norm=True)
    model.norms[0].running_var[...] = -1.0
    with pytest.raises(FloatingPointError, match="running_var1 has negative entries"):
        model.predict(np.ones((2, 3)))
    model.save(tmp_path / "m.npz")
    with pytest.raises(ValueError, match="member 'running_var1' has negative or NaN entries"):
        nn.NNClassifier.load(tmp_path / "m.npz")


@pytest.mark.parametrize("call, message", [
    (lambda tmp: nn.NNClassifier([2, 2]).save(""), "path must name a file, got ''"),
    (lambda tmp: nn.NNClassifier([2, 2**64 - 1, 2]), r"units\[1\] must be at most 10000000"),
    (lambda tmp: nn.one_hot_convert([0], 10**400), "n_classes must be at most 10000000"),
    (lambda tmp: nn.plot_decision_boundary(nn.NNClassifier([2, 3, 2], rng=0), np.ones((2, 3)),
                                           [0, 1, 0], margin=1e308),
     r"margin = 1e\+308 makes the plotted region overflow"),
    (lambda tmp: nn.plot_decision_boundary(nn.NNClassifier([2, 3, 2], rng=0, dtype=np.float32),
                                           np.ones((2, 3)), [0, 1, 0], margin=1e39),
     r"margin = 1e\+39 makes the plotted region overflow \(the model computes in float32\)"),
    (lambda tmp: nn.plot_decision_boundary(nn.NNClassifier([2, 3, 2], rng=0),
                                           np.array([[-1e308, 1e308, 0.0], [0.0, 1.0, 2.0]]),
                                           [0, 1, 0], margin=0),
     r"X spans from -1e\+308 to 1e\+308: the plotted region overflows float64"),
])
def test_sizes_beyond_reason_are_refused(call, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        call(tmp_path)


@pytest.mark.parametrize("Z", [np.array([[np.nan, 1.0, 2.0], [0.5, 0.2, 0.1]]),
                               np.array([[1e20, -1e20, 0.0], [0.5, 0.2, 0.1]], dtype=np.float32)])
def test_a_standalone_batch_norm_keeps_its_running_averages_on_a_bad_batch(Z):
    norm = nn.BatchNorm(2, dtype=Z.dtype)
    norm(np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 0.0]], dtype=Z.dtype), training=True)
    mean, var = norm.running_mean.copy(), norm.running_var.copy()
    with np.errstate(all="ignore"), pytest.raises(FloatingPointError, match="the batch statistics overflow"):
        norm(Z, training=True)
    np.testing.assert_array_equal(norm.running_mean, mean)
    np.testing.assert_array_equal(norm.running_var, var)


def test_backward_names_a_bias_removed_after_the_pass():
    X, t = data(3, 6, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    model.loss(X, t)
    model.layers[0].b = None
    with pytest.raises(RuntimeError, match=r"layers\[0\].b was replaced after the training pass"):
        model.backward()


def test_repeat_over_seeds_names_a_ragged_result():
    with pytest.raises(ValueError, match=r"run\(0\) must return a number or an array of a fixed shape, got a ragged tuple"):
        nn.repeat_over_seeds(lambda seed: (0.9, [1.0, 0.5]), 2)


# ---------------------------------------------------------------------------
# Round 5: checks added after a review of the module's changes
# ---------------------------------------------------------------------------

def test_a_first_loss_that_fails_does_not_blame_the_learning_rate():
    model = nn.NNClassifier([3, 4, 2], rng=0)
    with pytest.raises(FloatingPointError, match=r"training failed before its first step: the logits "
                       r"are not finite .*The learning rate is not the cause: look at the input X"):
        nn.train(model, np.full((3, 4), 1e308), [0, 1, 0, 1], nn.SGD(model, 0.1), 1, 2, rng=0)


@pytest.mark.parametrize("layer", [lambda: nn.Linear(2, 3, rng=0, dtype=np.float32),
                                   lambda: nn.BatchNorm(2, np.float32)])
def test_a_layer_refuses_finite_inputs_its_dtype_cannot_hold(layer, capsys):
    with pytest.raises(ValueError, match=r"holds values beyond the range of float32 "
                                         r"\(largest magnitude 1e\+300\)"):
        layer()(np.array([[1e300], [1.0]]))
    layer()(np.array([[3.40282356e38], [1.0]]))       # rounds to float32's largest finite value
    with _no_warnings():                               # NaN passes on to the model's own checks
        assert np.isnan(layer()(np.array([[np.nan], [np.nan]]))).all()


def test_sigmoid_keeps_float16():
    Z = np.array([-1.0, 0.0, 2.0], dtype=np.float16)
    assert nn.sigmoid(Z).dtype == np.float16 and nn.d_sigmoid(Z).dtype == np.float16


@pytest.mark.parametrize("call, message", [
    (lambda: nn.Linear(2, 3, rng=0, bias="no"), "bias must be True or False, got 'no'"),
    (lambda: nn.Linear(2, 3, rng=0)(np.ones((2, 1)), cache="no"), "cache must be True or False, got 'no'"),
    (lambda: nn.mean_sd(None), "values must be numbers, got NoneType None"),
    (lambda: nn.mean_sd(["0.9", "0.8"]), r"values must be numbers, got list \['0.9', '0.8'\]"),
    (lambda: nn.mean_sd([None, 1]), r"values must be numbers, got list \[None, 1\]"),
    (lambda: nn.repeat_over_seeds(lambda seed: np.ma.array([1.0, 2.0], mask=[0, 1]), 2),
     r"run\(0\)'s result is a masked array"),
])
def test_round_5_argument_checks(call, message):
    with pytest.raises(TypeError, match=message):
        call()


def test_mean_sd_takes_any_real_numbers():
    from decimal import Decimal
    from fractions import Fraction
    assert nn.mean_sd([Decimal("0.5"), Decimal("0.25")]) == "0.375 +/- 0.177"
    assert nn.mean_sd([Fraction(1, 2), 1]) == "0.750 +/- 0.354"
    with pytest.raises(ValueError, match="values is empty"):
        nn.mean_sd(np.array([], dtype=object))


def test_save_animation_caps_its_dpi(tmp_path, monkeypatch):
    from matplotlib.animation import Animation

    class Unrendered(Animation):
        def __init__(self):                     # never drawn: only the arguments are checked
            pass

    monkeypatch.setenv("NN_FROM_SCRATCH_FIGURES", str(tmp_path))
    with pytest.raises(ValueError, match=r"dpi must lie in \[10, 1200\], got 100000"):
        nn.save_animation(Unrendered(), "x", dpi=1e5)
    assert not list(tmp_path.iterdir())


def test_an_optimizer_given_another_model_starts_afresh():
    X, t = data(3, 8, 2, 0)
    first, second = nn.NNClassifier([3, 4, 2], rng=0), nn.NNClassifier([3, 4, 2], rng=1)
    for make in (lambda model: nn.Momentum(model, 0.1), lambda model: nn.Adam(model, 0.01)):
        moved = make(first)
        first.loss(X, t)
        first.backward()
        moved.step()
        moved.model = second
        assert getattr(moved, "velocity", None) is None and getattr(moved, "m", None) is None
        assert getattr(moved, "k", 0) == 0
        fresh_model = second.copy()
        fresh = make(fresh_model)
        for model, optimizer in ((second, moved), (fresh_model, fresh)):
            model.loss(X, t)
            model.backward()
            optimizer.step()
        np.testing.assert_array_equal(second.layers[0].W, fresh_model.layers[0].W)


def test_train_checks_the_optimizer_state_before_the_first_pass():
    X, t = data(3, 8, 2, 0)
    small = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = nn.Momentum(small, 0.1)
    small.loss(X, t)
    small.backward()
    optimizer.step()
    model = nn.NNClassifier([3, 5, 5, 2], rng=0, batch_norm=True, dropout=0.2)
    optimizer._model = model                    # the setter would have started afresh
    running, state = model.norms[0].running_mean.copy(), model.rng.bit_generator.state
    with pytest.raises(ValueError, match="velocity no longer matches the model's parameters"):
        nn.train(model, X, t, optimizer, epochs=1, batch_size=4, rng=0)
    np.testing.assert_array_equal(model.norms[0].running_mean, running)
    assert model.rng.bit_generator.state == state


@pytest.mark.parametrize("name, value", [("units", [3, 5, 2]), ("dtype", np.float32)])
def test_units_and_dtype_are_fixed_when_the_model_is_built(name, value):
    model = nn.NNClassifier([3, 4, 2], rng=0)
    with pytest.raises(AttributeError, match=f"{name} is fixed when the model is built"):
        setattr(model, name, value)
    assert model.units == [3, 4, 2] and model.dtype == np.float64 and model.n_classes == 2


def test_softmax_of_finite_logits_beyond_the_float_range_apart_warns_nothing():
    Z = np.array([[1e308], [-1e308]])
    with _no_warnings():
        np.testing.assert_array_equal(nn.softmax(Z), [[1.0], [0.0]])
        np.testing.assert_array_equal(nn.log_sum_exp(Z), [[1e308]])
        model = nn.NNClassifier([1, 2], dtype=np.float32, rng=0)
        model.layers[0].W[...] = [[2e38], [-2e38]]
        assert model.loss(np.ones((1, 1)), [0]) == 0.0


@pytest.mark.parametrize("call, message", [
    (lambda: nn.binomial_se(0.5, 10**400), r"n must be at most 9007199254740992, got 10000000000000000000\.\.\."),
    (lambda: nn.mean_sd(np.ones((3, 2))), r"values must be 1-D \(say, one number per seed\), got an array of shape \(3, 2\)"),
    (lambda: nn.mean_sd([np.longdouble("1e400"), 1.0]), r"values as large as 1e\+400 are beyond the range of float64"),
    (lambda: nn.NNClassifier([3, 2]).forward(np.full((3, 2), np.longdouble("1e400"))),
     r"X holds values beyond the range of float64 \(largest magnitude 1e\+400\)"),
    (lambda: nn.load_digits_split(random_state=-1), r"random_state \(scikit-learn's seed\) must be an int in \[0, 2\^32\)"),
    (lambda: nn.load_digits_split(random_state=2**40), r"random_state \(scikit-learn's seed\) must be an int in \[0, 2\^32\)"),
])
def test_numbers_out_of_range_are_named_without_warnings(call, message):
    with _no_warnings():
        with pytest.raises(ValueError, match=message):
            call()


def test_results_over_seeds_take_any_real_number_type():
    from decimal import Decimal
    np.testing.assert_array_equal(nn.repeat_over_seeds(lambda seed: Fraction(seed, 4), 3), [0, 0.25, 0.5])
    np.testing.assert_array_equal(nn.repeat_over_seeds(lambda seed: Decimal(seed) / 4, 3), [0, 0.25, 0.5])
    assert nn.mean_sd(np.array([[0.9], [0.91], [0.89]])) == "0.900 +/- 0.010"


@pytest.mark.parametrize("replacement, message", [
    (lambda W: W.tolist(), r"layers\[0\]\.W must be a float64 array of shape \(4, 3\), got a list"),
    (lambda W: W.T.copy(), r"layers\[0\]\.W must be a float64 array of shape \(4, 3\), got an array of dtype float64 and shape \(3, 4\)"),
])
def test_a_replaced_weight_is_named_before_the_optimizer_state(replacement, message):
    X, t = data(3, 8, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = nn.Adam(model, 0.01)
    nn.train(model, X, t, optimizer, epochs=1, batch_size=4, rng=0)
    model.layers[0].W = replacement(model.layers[0].W)
    with pytest.raises(TypeError, match=message):
        nn.train(model, X, t, optimizer, epochs=1, batch_size=4, rng=0)


def test_a_failure_at_the_start_of_a_later_call_does_not_blame_the_initial_weights_alone():
    X, t = data(3, 8, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = nn.SGD(model, 0.1)
    nn.train(model, X, t, optimizer, epochs=1, batch_size=4, rng=0)
    model.layers[1].W[...] = 1e300                  # as if earlier training had blown up
    with pytest.raises(FloatingPointError, match=r"training failed before its first step: .* look "
                       r"at the input X and at the weights the model starts from \(its initial "
                       r"ones, or those of earlier training\)"):
        nn.train(model, X * 1e10, t, optimizer, epochs=1, batch_size=4, rng=0)


def test_a_callback_that_swaps_the_optimizers_model_is_refused():
    X, t = data(3, 8, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = nn.SGD(model, 0.1)

    def swap(epoch, trained):
        optimizer.model = trained.copy()
    with pytest.raises(ValueError, match="the callback gave the optimizer another model after epoch 1"):
        nn.train(model, X, t, optimizer, epochs=3, batch_size=4, rng=0, callback=swap)


@pytest.mark.parametrize("change", [lambda units: units.__setitem__(1, 7), lambda units: units.append(3),
                                    lambda units: units.pop(), lambda units: units.sort(reverse=True)])
def test_units_cannot_change_in_place(change):
    model = nn.NNClassifier([3, 4, 2], rng=0)
    with pytest.raises(TypeError, match="units is fixed when the model is built"):
        change(model.units)
    assert model.units == [3, 4, 2] and repr(model.units) == "[3, 4, 2]"
    copied = copy.deepcopy(model)
    assert copied.units == [3, 4, 2]
    import pickle
    assert pickle.loads(pickle.dumps(model)).units == [3, 4, 2]


def test_a_failed_animation_leaves_the_previous_gif(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation
    monkeypatch.setenv("NN_FROM_SCRATCH_FIGURES", str(tmp_path))
    fig, ax = plt.subplots()
    (line,) = ax.plot([0, 1], [0, 1])
    nn.save_animation(FuncAnimation(fig, lambda i: (line,), frames=4), "movie")
    before = (tmp_path / "movie.gif").read_bytes()

    def broken(i):
        if i == 2:
            raise ValueError("frame 2 failed")
        return (line,)
    with pytest.raises(ValueError, match="frame 2 failed"):
        nn.save_animation(FuncAnimation(fig, broken, frames=4), "movie")
    plt.close(fig)
    assert (tmp_path / "movie.gif").read_bytes() == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["movie.gif"]


@pytest.mark.parametrize("call", [lambda Z: nn.BatchNorm(3)(Z * 1e200, training=True),
                                  lambda Z: nn.BatchNorm(3, dtype=np.float32)(Z * 1e20, training=True)])
def test_batch_norm_alone_reports_overflowing_statistics_without_warnings(call):
    Z = np.random.default_rng(0).standard_normal((3, 5))
    with _no_warnings():
        with pytest.raises(FloatingPointError, match="the batch statistics overflow"):
            call(Z)


@pytest.mark.parametrize("call, message", [
    (lambda: nn.Linear(3, 2, rng=0)(np.full((3, 5), np.longdouble("1e400"))),
     r"X holds values beyond the range of float64 \(largest magnitude 1e\+400\)"),
    (lambda: nn.repeat_over_seeds(lambda seed: Decimal("1e400"), 2), r"run\(0\)'s result holds a number beyond the range of float64"),
    (lambda: nn.repeat_over_seeds(lambda seed: Fraction(10**400), 2), r"run\(0\)'s result holds a number beyond the range of float64"),
    (lambda: nn.repeat_over_seeds(lambda seed: 10**400, 2), r"run\(0\)'s result holds a number beyond the range of float64"),
    (lambda: nn.mean_sd([10**400, 1]), r"values holds a number beyond the range of float64"),
    (lambda: nn.mean_sd(np.array([[1.0, 2.0, 3.0]])), r"values must be 1-D \(say, one number per seed\), got an array of shape \(1, 3\)"),
])
def test_more_numbers_out_of_range_are_named(call, message):
    with _no_warnings():
        with pytest.raises(ValueError, match=message):
            call()


def test_a_callback_that_swaps_the_model_after_the_last_epoch_loses_nothing():
    X, t = data(3, 8, 2, 0)
    model = nn.NNClassifier([3, 4, 2], rng=0)
    optimizer = nn.SGD(model, 0.1)

    def swap_at_the_end(epoch, trained):
        if epoch == 3:
            optimizer.model = trained.copy()
    history = nn.train(model, X, t, optimizer, epochs=3, batch_size=4, rng=0, callback=swap_at_the_end)
    assert len(history["loss"]) == 3


def test_a_signalling_nan_is_named_as_not_finite():
    with pytest.raises(ValueError, match="values must be finite"):
        nn.mean_sd([Decimal("sNaN"), Decimal(1)])
    results = nn.repeat_over_seeds(lambda seed: Decimal("sNaN"), 2)
    assert np.isnan(results).all()                              # kept, as a NaN result is


# ---------------------------------------------------------------------------
# Round 9 of the audit: ragged lists, numbers that round to zero, odd containers
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("call, name", [
    (lambda: nn.NNClassifier([2, 3, 2], rng=0).predict([[1.0, 2.0], [3.0]]), "X"),
    (lambda: nn.NNClassifier([2, 3, 2], rng=0).loss(np.ones((2, 2)), [[0], [1, 0]]), "t"),
    (lambda: nn.relu([[1.0], [2.0, 3.0]]), "Z"),
    (lambda: nn.relative_error([[1.0], [2.0, 3.0]], [1.0, 2.0]), "a"),
    (lambda: nn.Linear(2, 3, rng=0)([[1.0], [2.0, 3.0]]), "X"),
    (lambda: nn.mean_sd([[1.0], [2.0, 3.0]]), "values"),
])
def test_ragged_lists_are_named(call, name):
    with _no_warnings():
        with pytest.raises(ValueError, match=f"^{name} must be a rectangular array, got nested "
                                             f"sequences of different lengths$"):
            call()


@pytest.mark.parametrize("kwargs, message", [
    ({"l2": 1e-50, "dtype": np.float32}, r"l2 must be a number >= 0, got 1e-50, which is 0.0 in float32: too small"),
    ({"l2": np.longdouble("1e-400")}, r"l2 must be a number >= 0, got .*which is 0.0 in float64: too small"),
    ({"dropout": 1e-50, "dtype": np.float32}, r"dropout must lie in \[0, 1\), got 1e-50, which is 0.0 in float32"),
    ({"l2": -1e-50, "dtype": np.float32}, r"l2 must be a number >= 0, got -1e-50, which is -0.0 in float32$"),
])
def test_a_positive_setting_that_rounds_to_zero_is_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.NNClassifier([2, 3, 2], rng=0, **kwargs)
    assert nn.NNClassifier([2, 3, 2], rng=0, l2=0.0, dropout=0).l2 == 0.0     # 0 itself is fine


def test_no_advice_to_use_0_where_0_is_refused():
    model = nn.NNClassifier([2, 3, 2], rng=0, dtype=np.float32)
    with pytest.raises(ValueError, match=r"lr must be a positive number, got 1e-46, which is 0.0 in "
                                         r"float32: too small to have any effect$"):
        nn.SGD(model, 1e-46)


@pytest.mark.parametrize("units", [np.array(5), {2, 10, 3}, {2: 1, 3: 1}, np.array([[2, 3]])])
def test_units_must_be_an_ordered_sequence(units):
    with pytest.raises(TypeError, match="units must be an ordered sequence of ints"):
        nn.NNClassifier(units)


def test_relative_error_of_a_longdouble_beyond_float64_is_named():
    a = np.array([np.longdouble("1e400"), 1])
    with _no_warnings():
        with pytest.raises(ValueError, match=r"a holds values beyond the range of float64 "
                                             r"\(largest magnitude 1e\+400\)"):
            nn.relative_error(a, [1.0, 1.0])


def test_non_finite_inputs_are_counted():
    X = np.ones((2, 5))
    X[0, 1], X[1, 3] = np.nan, np.inf
    with pytest.raises(ValueError, match=r"X contains NaN or inf \(1 NaN, 1 inf of 10 entries\)"):
        nn.NNClassifier([2, 3, 2], rng=0).predict(X)


def test_a_parameters_item_that_is_not_a_tuple_is_named():
    class Toy:
        def parameters(self):
            return [5]

        def clear_cache(self):
            pass
    with pytest.raises(TypeError, match=r"must return \(l, name, P, dP\) tuples, got an item of type int"):
        nn.SGD(Toy(), 0.1)


def test_save_refuses_a_folder_path(tmp_path):
    with pytest.raises(ValueError, match="path must name a file"):
        nn.NNClassifier([2, 2], rng=0).save(str(tmp_path) + "/models/")


@pytest.mark.parametrize("value, error, message", [
    (np.complex128(1.0), ValueError, "f\\(\\) returned .* central differences need a real value"),
    (np.complex64(1.0), ValueError, "f\\(\\) returned .* central differences need a real value"),
    (np.array(True), TypeError, "f\\(\\) must return a number \\(a float\\), got ndarray"),
    (np.array("1.5"), TypeError, "f\\(\\) must return a number \\(a float\\), got ndarray"),
    ("1.0", TypeError, "f\\(\\) must return a number \\(a float\\), got str"),
    (10**400, ValueError, "f\\(\\) returned a number beyond the range of float64 with P\\[0\\] moved by \\+-h"),
])
def test_central_difference_checks_what_f_returns(value, error, message):
    with _no_warnings():
        with pytest.raises(error, match=message):
            nn.central_difference(lambda: value, np.zeros(2))


@pytest.mark.parametrize("wrap", [lambda x: np.array([x]), lambda x: np.array([[x]]),
                                  lambda x: Decimal(repr(x)), lambda x: np.longdouble(x)])
def test_central_difference_takes_any_single_real_number(wrap):
    P = np.array([1.0, 2.0])
    grad = nn.central_difference(lambda: wrap(float(P @ P)), P)
    np.testing.assert_allclose(grad, 2 * P, rtol=1e-4)


def test_central_difference_names_the_dtype_of_an_integer_P():
    with pytest.raises(TypeError, match="P must be a float NumPy array \\(changed in place\\), "
                                        "got an array of dtype int64"):
        nn.central_difference(lambda: 1.0, np.zeros(2, dtype=np.int64))


@pytest.mark.parametrize("function", [nn.softmax, nn.log_sum_exp])
@pytest.mark.parametrize("Z", [np.float64(1.0), np.zeros((2, 3, 4))])
def test_logits_must_be_a_vector_or_a_matrix(function, Z):
    with pytest.raises(ValueError, match=r"Z must be 1-D \(one sample's logits\) or 2-D "
                                         r"\(classes x samples\), got shape"):
        function(Z)
