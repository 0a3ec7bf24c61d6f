"""Training, optimizers, persistence, data and figures."""
import matplotlib
import numpy as np
import pytest
from sklearn.datasets import load_digits, make_moons
from sklearn.neural_network import MLPClassifier

import nn_from_scratch as nn

matplotlib.use("Agg")


def test_one_sgd_step_equals_scikit_learn():
    """Our step against a production implementation, from the same weights, on the same batch."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 5))                 # scikit-learn's layout: rows are samples
    y = np.arange(16) % 4                            # 4 classes: a softmax output in both
    lr = 0.3
    mlp = MLPClassifier(hidden_layer_sizes=(7, 6), activation="relu", solver="sgd",
                        learning_rate="constant", learning_rate_init=lr, momentum=0.0,
                        nesterovs_momentum=False, alpha=0.0, batch_size=16, shuffle=False,
                        random_state=0)
    mlp.partial_fit(X, y, classes=np.arange(4))      # sets up the network (and takes a step)
    model = nn.NNClassifier([5, 7, 6, 4], rng=1)
    for layer, W, b in zip(model.layers, mlp.coefs_, mlp.intercepts_):
        W[...] = layer.W.T                           # scikit-learn stores W^T and b as a row
        b[...] = layer.b[:, 0]

    mlp.partial_fit(X, y)
    model.loss(X.T, y)
    model.backward()
    nn.SGD(model, lr).step()

    for layer, W, b in zip(model.layers, mlp.coefs_, mlp.intercepts_):
        assert not np.allclose(W, 0)
        np.testing.assert_allclose(layer.W, W.T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.b[:, 0], b, rtol=0, atol=1e-12)


def test_moons_fit():
    X, t = make_moons(n_samples=200, noise=0.1, random_state=0)
    model = nn.NNClassifier([2, 16, 2], rng=0)
    history = nn.train(model, X.T, t, nn.SGD(model, 0.3), epochs=150, batch_size=20, rng=0)
    assert history["loss"][-1] < history["loss"][0] / 5
    assert nn.accuracy(model, X.T, t) >= 0.97


def test_train_reports_epoch_losses_and_validation_accuracy():
    X, t = make_moons(n_samples=50, noise=0.1, random_state=1)
    X_val, t_val = make_moons(n_samples=30, noise=0.3, random_state=2)   # other data
    model = nn.NNClassifier([2, 8, 2], rng=1)
    seen = []
    history = nn.train(model, X.T, t, nn.SGD(model, 0.1), epochs=4, batch_size=16, rng=1,
                       X_val=X_val.T, t_val=t_val,
                       callback=lambda epoch, m: seen.append((epoch, nn.accuracy(m, X_val.T, t_val))))
    assert [epoch for epoch, _ in seen] == [1, 2, 3, 4]
    assert set(history) == {"loss", "val_loss", "val_accuracy"}
    assert all(history[key].shape == (4,) for key in history)
    # after every epoch, the validation accuracy and loss of the model as it was then
    np.testing.assert_array_equal(history["val_accuracy"], [acc for _, acc in seen])
    assert history["val_accuracy"][-1] != nn.accuracy(model, X.T, t)   # not the training data
    assert history["val_loss"][-1] == pytest.approx(model.nll(X_val.T, t_val), rel=1e-15)
    # The epoch loss is the size-weighted mean of its mini-batch losses (16, 16, 16, 2).
    probe = nn.NNClassifier([2, 8, 2], rng=1)
    order = np.random.default_rng(1).permutation(50)
    losses, sizes = [], []
    optimizer = nn.SGD(probe, 0.1)
    for start in range(0, 50, 16):
        batch = order[start:start + 16]
        losses.append(probe.loss(X.T[:, batch], t[batch]))
        probe.backward()
        optimizer.step()
        sizes.append(len(batch))
    assert history["loss"][0] == pytest.approx(np.dot(losses, sizes) / 50, rel=1e-14)


# ---------------------------------------------------------------------------
# Optimizers against their published update rules, computed here independently
# ---------------------------------------------------------------------------

def gradients_after(model, X, t):
    model.loss(X, t)
    model.backward()
    return [(layer.dW.copy(), layer.db.copy()) for layer in model.layers]


def test_train_reshuffles_every_epoch_and_handles_a_batch_larger_than_the_data():
    X, t = make_moons(n_samples=30, noise=0.1, random_state=2)
    for batch_size in (7, 100):
        model = nn.NNClassifier([2, 5, 2], rng=2)
        nn.train(model, X.T, t, nn.SGD(model, 0.2), epochs=3, batch_size=batch_size, rng=4)
        twin = nn.NNClassifier([2, 5, 2], rng=2)
        optimizer, rng = nn.SGD(twin, 0.2), np.random.default_rng(4)
        for _ in range(3):
            order = rng.permutation(30)                   # a new order every epoch
            for start in range(0, 30, batch_size):
                batch = order[start:start + batch_size]
                twin.loss(X.T[:, batch], t[batch])
                twin.backward()
                optimizer.step()
        for a, b in zip(model.layers, twin.layers):
            np.testing.assert_array_equal(a.W, b.W)


def test_momentum_first_steps():
    rng = np.random.default_rng(2)
    X, t = rng.standard_normal((3, 10)), rng.integers(0, 2, 10)
    model = nn.NNClassifier([3, 4, 2], rng=2)
    params = [[layer.W.copy(), layer.b.copy()] for layer in model.layers]
    velocity = [[np.zeros_like(p) for p in pair] for pair in params]
    optimizer = nn.Momentum(model, lr=0.05, beta=0.8)
    for _ in range(3):
        grads = gradients_after(model, X, t)
        optimizer.step()
        for i, layer in enumerate(model.layers):
            for j, actual in enumerate((layer.W, layer.b)):
                velocity[i][j] = 0.8 * velocity[i][j] - 0.05 * grads[i][j]
                params[i][j] = params[i][j] + velocity[i][j]
                np.testing.assert_allclose(actual, params[i][j], rtol=1e-14, atol=1e-15)


def test_adam_first_steps():
    rng = np.random.default_rng(3)
    X, t = rng.standard_normal((3, 10)), rng.integers(0, 3, 10)
    model = nn.NNClassifier([3, 5, 3], rng=3)
    params = [[layer.W.copy(), layer.b.copy()] for layer in model.layers]
    m = [[np.zeros_like(p) for p in pair] for pair in params]
    v = [[np.zeros_like(p) for p in pair] for pair in params]
    lr, beta1, beta2, eps = 0.01, 0.9, 0.999, 1e-8
    optimizer = nn.Adam(model, lr=lr)
    for step in range(1, 4):
        grads = gradients_after(model, X, t)
        optimizer.step()
        for i, layer in enumerate(model.layers):
            for j, actual in enumerate((layer.W, layer.b)):
                g = grads[i][j]
                m[i][j] = beta1 * m[i][j] + (1 - beta1) * g
                v[i][j] = beta2 * v[i][j] + (1 - beta2) * g**2
                m_hat, v_hat = m[i][j] / (1 - beta1**step), v[i][j] / (1 - beta2**step)
                params[i][j] = params[i][j] - lr * m_hat / (np.sqrt(v_hat) + eps)
                np.testing.assert_allclose(actual, params[i][j], rtol=1e-13, atol=1e-15)
        if step == 1:
            # With bias correction the first step moves each parameter by about lr.
            moved = np.abs(model.layers[0].b)
            np.testing.assert_allclose(moved[moved > 0], lr, rtol=1e-3)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-15), (np.float32, 1e-7)])
@pytest.mark.parametrize("layout", ["C", "F"])
def test_sgd_step(dtype, rtol, layout):
    rng = np.random.default_rng(4)
    X, t = rng.standard_normal((3, 10)), rng.integers(0, 2, 10)
    model = nn.NNClassifier([3, 4, 2], rng=4, dtype=dtype)
    for layer in model.layers:
        layer.W = np.asarray(layer.W, order=layout)
    grads = gradients_after(model, X, t)
    before = [(layer.W.copy(), layer.b.copy()) for layer in model.layers]
    originals = [layer.W for layer in model.layers]
    nn.SGD(model, 0.5).step()
    for layer, original, (W, b), (dW, db) in zip(model.layers, originals, before, grads):
        assert layer.W is original                    # updated in place
        np.testing.assert_allclose(layer.W, W - dtype(0.5) * dW, rtol=rtol)
        np.testing.assert_allclose(layer.b, b - dtype(0.5) * db, rtol=rtol)
        assert layer.W.dtype == dtype


# ---------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path):
    model = nn.NNClassifier([5, 6, 4, 3], rng=5, dtype=np.float32, l2=0.01, dropout=0.25)
    X = np.random.default_rng(5).standard_normal((5, 20))
    model.save(str(tmp_path / "model"))               # np.savez's rule: .npz is added
    assert (tmp_path / "model.npz").is_file()
    loaded = nn.NNClassifier.load(tmp_path / "model", rng=3)
    assert loaded.units == [5, 6, 4, 3] and loaded.dtype == np.float32
    assert loaded.l2 == model.l2 == float(np.float32(0.01)) and loaded.dropout == 0.25
    np.testing.assert_array_equal(loaded.forward_probs(X), model.forward_probs(X))
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))


def test_loaded_dropout_masks_follow_the_rng(tmp_path):
    nn.NNClassifier([3, 50, 2], rng=0, dropout=0.5).save(tmp_path / "m.npz")
    X, t = np.ones((3, 4)), [0, 1, 0, 1]
    masks = []
    for seed in (1, 1, 2):
        model = nn.NNClassifier.load(tmp_path / "m.npz", rng=seed)
        model.loss(X, t)
        masks.append(model._masks[0])
    np.testing.assert_array_equal(masks[0], masks[1])
    assert not np.array_equal(masks[0], masks[2])


def test_load_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        nn.NNClassifier.load(tmp_path / "absent.npz")


def test_load_truncated_file(tmp_path):
    path = tmp_path / "model.npz"
    nn.NNClassifier([3, 2], rng=0).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="model.npz"):
        nn.NNClassifier.load(path)


def test_load_other_npz(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match=r"other.npz is not a model file .* missing member 'units'"):
        nn.NNClassifier.load(tmp_path / "other.npz")


def test_load_corrupt_settings(tmp_path):
    path = tmp_path / "model.npz"
    nn.NNClassifier([3, 2], rng=0).save(path)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["dtype"] = np.array("int64")
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="does not describe a model NNClassifier can build: dtype"):
        nn.NNClassifier.load(path)


def test_load_mismatched_shapes(tmp_path):
    path = tmp_path / "model.npz"
    nn.NNClassifier([3, 4, 2], rng=0).save(path)
    with np.load(path) as data:
        arrays = dict(data)
    arrays["W2"] = np.zeros((2, 5))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=r"member 'W2' has shape \(2, 5\), the model's units need \(2, 4\)"):
        nn.NNClassifier.load(path)


# ---------------------------------------------------------------------------
# Data and figures
# ---------------------------------------------------------------------------

def test_digits_split():
    data = nn.load_digits_split(val_size=0.2, test_size=0.2, random_state=0)
    n = {part: data[f"X_{part}"].shape[1] for part in ("train", "val", "test")}
    assert sum(n.values()) == 1797
    share = np.bincount(load_digits().target) / 1797
    assert (n["train"], n["val"], n["test"]) == (1077, 360, 360)
    for part in n:
        assert data[f"X_{part}"].shape == (64, n[part])
        assert data[f"t_{part}"].shape == (n[part],)
        # stratified: every class within one sample of its share of the whole set
        counts = np.bincount(data[f"t_{part}"], minlength=10)
        assert np.all(np.abs(counts - n[part] * share) <= 1)
    assert data["images"].shape == (360, 8, 8)
    # scaled with training statistics only: exact zero mean on train, not on test
    np.testing.assert_allclose(data["X_train"].mean(axis=1), 0, atol=1e-12)
    assert np.abs(data["X_test"].mean(axis=1)).max() > 1e-3


def test_save_fig_writes_into_figures_dir_whatever_the_working_directory(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NN_FROM_SCRATCH_FIGURES", str(tmp_path / "out"))
    target = tmp_path / "out" / "test_save_fig.png"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    try:
        nn.save_fig("test_save_fig", fig)
        assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert sorted(p.name for p in tmp_path.rglob("*")) == ["out", "test_save_fig.png"]
        first = target.read_bytes()
        nn.save_fig("test_save_fig", fig)
        assert target.read_bytes() == first          # no date or version inside
    finally:
        plt.close(fig)


def test_figures_go_to_the_repository_without_the_variable(monkeypatch):
    monkeypatch.delenv("NN_FROM_SCRATCH_FIGURES", raising=False)
    assert nn.figures_dir() == nn.FIGURES
    assert nn.FIGURES.parent == __import__("pathlib").Path(nn.__file__).resolve().parent


def test_plot_decision_boundary_colours_by_prediction():
    import matplotlib.pyplot as plt

    X, t = make_moons(n_samples=40, noise=0.1, random_state=0)
    model = nn.NNClassifier([2, 2], rng=0)
    model.layers[0].W[...] = [[1.0, 1.0], [-1.0, 0.5]]     # a slanted boundary x_2 = -4 x_1 / 1.5
    model.layers[0].b[...] = [[0.2], [0.0]]
    fig, ax = plt.subplots()
    try:
        assert nn.plot_decision_boundary(model, X.T, t, ax=ax, resolution=30) is ax
        contour = next(c for c in ax.collections if hasattr(c, "get_paths") and len(c.get_paths()) == 2)
        # Each filled region's path contains exactly the grid points predicted as its class.
        (x1_min, x2_min), (x1_max, x2_max) = X.T.min(axis=1) - 0.5, X.T.max(axis=1) + 0.5
        g1, g2 = np.meshgrid(np.linspace(x1_min, x1_max, 30), np.linspace(x2_min, x2_max, 30))
        # points strictly inside the grid cells, away from the region boundaries
        inner = np.vstack([(g1[:-1, :-1] + g1[1:, 1:]).ravel() / 2,
                           (g2[:-1, :-1] + g2[1:, 1:]).ravel() / 2])
        predicted = model.predict(inner)
        for k, path in enumerate(contour.get_paths()):
            inside = path.contains_points(inner.T)
            corners = [model.predict(np.vstack([g1[i:i + 2, j:j + 2].ravel(),
                                                g2[i:i + 2, j:j + 2].ravel()]))
                       for i in range(29) for j in range(29)]
            pure = np.array([np.all(c == c[0]) for c in corners])    # cells not cut by the boundary
            assert np.all(inside[pure] == (predicted[pure] == k)), f"class {k}"
            assert inside[pure].any(), f"class {k} is never coloured"
            # ... in the colour of class k's points (the shading is only more transparent)
            shade = contour.get_facecolor()[k]
            np.testing.assert_allclose(shade[:3], ax.collections[-1].to_rgba(k)[:3], atol=1e-12,
                                       err_msg=f"class {k}'s region has another colour than its points")
        scatter = ax.collections[-1]
        np.testing.assert_array_equal(scatter.get_array(), t)          # the points keep their labels
        legend = ax.get_legend()                                          # and a key says which is which
        assert [text.get_text() for text in legend.get_texts()] == ["class 0", "class 1"]
        colours = [handle.get_markerfacecolor() for handle in legend.legend_handles]
        np.testing.assert_allclose(colours, scatter.to_rgba(np.array([0, 1]))[:, :], atol=1e-12)
        with pytest.raises(ValueError, match="X has 3 rows"):
            nn.plot_decision_boundary(model, np.ones((3, 4)), [0, 1, 0, 1], ax=ax)
    finally:
        plt.close(fig)
