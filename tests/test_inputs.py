"""Bad input gets a clear error that names the argument, never a NaN or a wrong shape."""
import numpy as np
import pytest

import nn_from_scratch as nn


@pytest.fixture
def model():
    return nn.NNClassifier([3, 4, 3], rng=0)


X_GOOD = np.arange(12.0).reshape(3, 4) / 10


@pytest.mark.parametrize("t, error, message", [
    ([0, 1, 2, 3], ValueError, r"t must hold labels in \[0, 3\), got values from 0 to 3"),
    ([0, -1, 2, 1], ValueError, r"t must hold labels in \[0, 3\), got values from -1"),
    ([0, 1.5, 2, 1], ValueError, r"t must hold whole numbers"),
    ([0, np.nan, 2, 1], ValueError, r"t must hold whole numbers"),
    (["a", "b", "c", "a"], TypeError, r"t must hold integer class labels, got .*dtype <U1"),
    ([0, 1, 2], ValueError, r"t has 3 labels but X has 4 samples"),
    ([[0, 1, 2, 1]], ValueError, r"t must be 1-D .* got shape \(1, 4\)"),
])
def test_bad_labels(model, t, error, message):
    with pytest.raises(error, match=message):
        model.loss(X_GOOD, t)


@pytest.mark.parametrize("X, error, message", [
    (np.ones((4, 4)), ValueError, r"X has 4 rows, the first layer expects 3"),
    (np.ones(3), ValueError, r"X must be 2-D .* got shape \(3,\)"),
    (np.array([[0, 1, 2, 3], [0, np.nan, 0, 0], [0, 0, 0, 0.0]]), ValueError, "X contains NaN or inf"),
    (np.array([[0, 1, 2, 3], [0, np.inf, 0, 0], [0, 0, 0, 0.0]]), ValueError, "X contains NaN or inf"),
    (np.ones((3, 0)), ValueError, "X has no columns"),
    (np.full((3, 4), "x"), TypeError, "X must hold real numbers"),
])
def test_bad_X(model, X, error, message):
    for call in (model.forward, model.forward_probs, model.predict):
        with pytest.raises(error, match=message):
            call(X)
    with pytest.raises(error, match=message):
        model.loss(X, np.zeros(X.shape[-1] if X.ndim == 2 else 3, dtype=int))


@pytest.mark.parametrize("X, hint", [
    (np.ones((4, 3)), r"did you mean X\.T\?"),                              # transposed
    (np.ones((2, 5)), r"neither X\.T nor a reshape of X gives 3 rows"),      # wrong width
    (np.ones(3), r"a single sample x is X = x\.reshape\(-1, 1\)"),         # one sample, 1-D
    (np.ones((5, 1, 3)), r"samples of shape \(1, 3\) become columns with X\.reshape\(len\(X\), -1\)\.T"),
    (np.ones(5), r"neither X\.T nor a reshape of X gives 3 rows"),
])
def test_shape_errors_suggest_only_a_fix_that_works(model, X, hint):
    with pytest.raises(ValueError, match=hint):
        model.predict(X)


def test_a_layer_given_one_sample_as_a_vector_suggests_a_column():
    for layer, name in ((nn.Linear(3, 2, rng=0), "X"), (nn.BatchNorm(3), "Z")):
        with pytest.raises(ValueError, match=rf"a single sample x is {name} = x\.reshape\(-1, 1\)"):
            layer(np.ones(3))


def test_label_count_errors_name_the_array_of_the_call(model):
    with pytest.raises(ValueError, match=r"t_val has 2 labels but X_val has 4 samples"):
        nn.train(model, X_GOOD, [0, 1, 2, 0], nn.SGD(model, 0.1), 1, 2, X_val=X_GOOD, t_val=[0, 1])
    with pytest.raises(ValueError, match=r"t has 3 labels but Z has 2 samples"):
        nn.softmax_cross_entropy(np.zeros((3, 2)), [0, 1, 2])
    with pytest.raises(ValueError, match=r"Z has no columns"):
        nn.softmax_cross_entropy(np.zeros((3, 0)), [])


def test_huge_but_finite_X_is_accepted(model):
    """The fast finite check (a sum) overflows here; the slow path must not reject X."""
    X = np.full((3, 4), 1e308)
    for layer in model.layers:
        layer.W *= 1e-300                     # so that the products stay finite
    assert np.isfinite(model.forward(X)).all()


@pytest.mark.parametrize("units, error, message", [
    ([3], ValueError, "units needs at least two entries"),
    ([], ValueError, "units needs at least two entries"),
    ([3, 0, 2], ValueError, r"units\[1\] must be a positive int, got 0"),
    ([3, -4, 2], ValueError, r"units\[1\] must be a positive int, got -4"),
    ([3, 2.5, 2], TypeError, r"units\[1\] must be a positive int, got 2.5"),
    ([3, 4.0, 2], TypeError, r"units\[1\] must be a positive int, got 4.0"),
    ([3, "4", 2], TypeError, r"units\[1\] must be a positive int"),
    (5, TypeError, "units must be an ordered sequence of ints"),
])
def test_bad_units(units, error, message):
    with pytest.raises(error, match=message):
        nn.NNClassifier(units)


def test_numpy_integers_are_fine_as_units():
    assert nn.NNClassifier(np.array([3, 4, 2]), rng=0).units == [3, 4, 2]


@pytest.mark.parametrize("optimizer", [nn.SGD, nn.Momentum, nn.Adam])
@pytest.mark.parametrize("lr, error", [(0, ValueError), (-0.1, ValueError),
                                       (float("nan"), ValueError), (float("inf"), ValueError),
                                       ("0.1", TypeError)])
def test_bad_learning_rate(model, optimizer, lr, error):
    with pytest.raises(error, match="lr must be a positive"):
        optimizer(model, lr)


@pytest.mark.parametrize("kwargs, message", [({"beta": 1.0}, r"beta must lie in \[0, 1\)"),
                                             ({"beta": -0.1}, r"beta must lie in \[0, 1\)")])
def test_bad_momentum(model, kwargs, message):
    with pytest.raises(ValueError, match=message):
        nn.Momentum(model, 0.1, **kwargs)


def test_backward_before_loss(model):
    with pytest.raises(RuntimeError, match=r"call model.loss\(X, t\) first"):
        model.backward()


def test_step_before_backward(model):
    with pytest.raises(RuntimeError, match="step.. needs gradients"):
        nn.SGD(model, 0.1).step()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"dtype": np.int64}, TypeError, "dtype must be np.float32 or np.float64"),
    ({"dtype": "float16"}, TypeError, "dtype must be np.float32 or np.float64"),
    ({"rng": 1.5}, TypeError, "rng must be None, an int seed >= 0 or a np.random.Generator"),
    ({"l2": -1.0}, ValueError, "l2 must be a number >= 0"),
    ({"activation": "softplus"}, ValueError, "activation must be one of"),
    ({"activation": None}, TypeError, "activation must be a str"),
    ({"batch_norm": "yes"}, TypeError, "batch_norm must be True or False"),
    ({"dropout": 1.0}, ValueError, r"dropout must lie in \[0, 1\)"),
])
def test_bad_model_options(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.NNClassifier([3, 2], **kwargs)


@pytest.mark.parametrize("kwargs, error, message", [
    ({"epochs": 0}, ValueError, "epochs must be a positive int"),
    ({"batch_size": 2.0}, TypeError, "batch_size must be a positive int"),
    ({"X_val": X_GOOD}, ValueError, "give both X_val and t_val"),
    ({"X_val": X_GOOD[:2], "t_val": [0, 1, 2, 0]}, ValueError, "X_val has 2 rows"),
])
def test_bad_training_arguments(model, kwargs, error, message):
    arguments = {"epochs": 1, "batch_size": 2, **kwargs}
    with pytest.raises(error, match=message):
        nn.train(model, X_GOOD, [0, 1, 2, 0], nn.SGD(model, 0.1), **arguments)


def test_one_hot_convert_checks_n_classes():
    with pytest.raises(ValueError, match="n_classes must be a positive int, got 0"):
        nn.one_hot_convert([0], 0)


@pytest.mark.parametrize("name, value, message", [
    ("W", np.array([[1], [0]]), r"layers\[0\].W must be a float64 array of shape \(2, 1\), got an array of dtype int64 and shape \(2, 1\)"),
    ("W", np.zeros((2, 3)), r"layers\[0\].W must be a float64 array of shape \(2, 1\), got an array of dtype float64 and shape \(2, 3\)"),
    ("b", [0.0, 0.0], r"layers\[0\].b must be a float64 array of shape \(2, 1\), got a list"),
])
def test_replaced_parameters_are_checked(name, value, message):
    model = nn.NNClassifier([1, 2], rng=0)
    setattr(model.layers[0], name, value)
    with pytest.raises(TypeError, match=message):
        model.forward(np.ones((1, 3)))


def test_X_with_both_infinities_is_an_error_not_a_warning(model):
    X = X_GOOD.copy()
    X[0, 0], X[1, 1] = np.inf, -np.inf
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        model.forward(X)


def test_X_beyond_float32_range():
    model = nn.NNClassifier([3, 2], rng=0, dtype=np.float32)
    with pytest.raises(ValueError, match="X holds values beyond the range of float32"):
        model.forward(np.full((3, 2), 1e39))


def test_infinite_label_is_named():
    with pytest.raises(ValueError, match=r"whole numbers .* such as \[inf\]"):
        nn.one_hot_convert([0.0, np.inf], 2)


def test_negative_seed():
    with pytest.raises(TypeError, match="rng must be None, an int seed >= 0"):
        nn.NNClassifier([3, 2], rng=-1)


def test_a_cached_forward_pass_invalidates_the_gradient(model):
    model.loss(X_GOOD, [0, 1, 2, 0])
    model.forward(X_GOOD[:, ::-1], training=True)    # new cache, same batch size
    with pytest.raises(RuntimeError, match=r"call model.loss\(X, t\) first"):
        model.backward()


def test_training_with_another_models_optimizer(model):
    other = nn.NNClassifier([3, 4, 3], rng=1)
    with pytest.raises(ValueError, match="optimizer must update the model being trained"):
        nn.train(model, X_GOOD, [0, 1, 2, 0], nn.SGD(other, 0.1), epochs=1, batch_size=2)


@pytest.mark.parametrize("h, error", [(0, ValueError), (-1e-5, ValueError), (1e-20, ValueError),
                                      ("a", TypeError)])
def test_gradient_check_step(model, h, error):
    with pytest.raises(error, match="h must"):
        nn.gradient_check(model, X_GOOD, [0, 1, 2, 0], h=h)


def test_optimizer_needs_a_model():
    with pytest.raises(TypeError, match="model must be an NNClassifier"):
        nn.SGD(None, 0.1)


@pytest.mark.parametrize("optimizer", [nn.Momentum, nn.Adam])
def test_optimizer_state_must_match_the_model(model, optimizer):
    opt = optimizer(model, 0.1)
    model.loss(X_GOOD, [0, 1, 2, 0])
    model.backward()
    opt.step()
    model.layers.append(nn.Linear(3, 3, rng=0))      # the model changed under the optimizer
    model.layers[-1].dW, model.layers[-1].db = np.zeros((3, 3)), np.zeros((3, 1))
    with pytest.raises(ValueError, match="model.layers has 3 layers, but the units .* describe 2"):
        opt.step()


def test_read_only_parameters_fail_loudly(model):
    model.loss(X_GOOD, [0, 1, 2, 0])
    model.backward()
    model.layers[0].W.flags.writeable = False
    with pytest.raises(ValueError, match="parameter W1 is not a writeable array"):
        nn.SGD(model, 0.1).step()


def test_softmax_and_log_sum_exp_take_lists_and_integers():
    np.testing.assert_allclose(nn.softmax([[0], [120]]), [[np.exp(-120)], [1.0]], rtol=1e-12)
    np.testing.assert_allclose(nn.softmax(np.array([[0], [255]], dtype=np.uint8)),
                               [[np.exp(-255)], [1.0]], rtol=1e-12)
    np.testing.assert_allclose(nn.log_sum_exp([[0.0], [0.0]]), [[np.log(2)]], rtol=1e-15)
    with pytest.raises(TypeError, match="Z must hold real numbers"):
        nn.softmax([["a"]])


@pytest.mark.parametrize("kwargs, error, message", [
    ({"random_state": np.random.default_rng(0)}, TypeError, r"random_state \(scikit-learn's seed\) must be an int >= 0"),
    ({"val_size": 0.001}, ValueError, "val_size = 0.001 leaves 2 of the 1797 digits, fewer than 10"),
    ({"val_size": 0.5 - 10 / 1797, "test_size": 0.5}, ValueError,
     r"1 - val_size - test_size = 0.005565 leaves 9 of the 1797 digits, fewer than 10 \(one per class\)"),
    ({"val_size": 0.5, "test_size": 0.5}, ValueError, "val_size \\+ test_size must be below 1"),
])
def test_bad_digits_split(kwargs, error, message):
    with pytest.raises(error, match=message):
        nn.load_digits_split(**kwargs)


def test_plot_decision_boundary_needs_a_2d_model():
    with pytest.raises(ValueError, match="a model with 2 inputs, this one has 3"):
        nn.plot_decision_boundary(nn.NNClassifier([3, 2], rng=0), np.ones((2, 4)), [0, 1, 0, 1])


@pytest.mark.parametrize("name, value, error", [("dropout", 1.0, ValueError), ("l2", -5, ValueError),
                                                ("l2", "big", TypeError)])
def test_settings_changed_later_are_checked(model, name, value, error):
    with pytest.raises(error, match=f"{name} must"):
        setattr(model, name, value)
