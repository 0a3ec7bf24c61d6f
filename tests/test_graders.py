"""The graders of the "your turn" cells pass the right answers and catch the typical wrong ones.

Every wrong answer must fail and the printed line must name what is wrong and where.
"""
import re

import numpy as np
import pytest

import nn_from_scratch as nn


def grade(grader, fn, capsys):
    passed = grader(fn)
    return passed, capsys.readouterr().out


# ---------------------------------------------------------------------------
# Reference answers, written as a learner would
# ---------------------------------------------------------------------------

def softmax(Z):
    """The softmax of each column, in NumPy (the graders refuse nn.softmax, the module's own)."""
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def output_gradient(Z, t):
    return softmax(Z) - nn.one_hot_convert(t, Z.shape[0])


def layer_backward(dZ, A_prev, W):
    return dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True), W.T @ dZ


def make_backward(mask=True, transpose=True, bias_axis=1, extra_n=False):
    def backward(model):
        dZ, grads = model.dZ_L, []
        for l in range(len(model.layers), 0, -1):
            layer = model.layers[l - 1]
            A = layer.A_prev.T if transpose else layer.A_prev
            dW = dZ @ A
            db = dZ.sum(axis=bias_axis, keepdims=True)
            if extra_n:
                dW, db = dW / dZ.shape[1], db / dZ.shape[1]
            grads.append((dW, db))
            if l > 1:
                dZ = layer.W.T @ dZ
                if mask:
                    dZ = nn.d_relu(model.layers[l - 2].Z) * dZ
        return grads[::-1]
    return backward


def make_train_loop(shuffle=True, weigh=True, reseed_every_epoch=False, drop_last=False):
    def train_loop(model, X, t, optimizer, epochs, batch_size, rng):
        n, losses, seed = X.shape[1], [], rng
        rng = np.random.default_rng(rng)
        for _ in range(epochs):
            if reseed_every_epoch:
                rng = np.random.default_rng(seed)
            order = rng.permutation(n) if shuffle else np.arange(n)
            total = count = 0
            for start in range(0, n - (n % batch_size if drop_last else 0), batch_size):
                batch = order[start:start + batch_size]
                loss = model.loss(X[:, batch], t[batch])
                model.backward()
                optimizer.step()
                total += loss * len(batch) if weigh else loss
                count += len(batch) if weigh else 1
            losses.append(total / count)
        return losses
    return train_loop


def make_adam_step(correct_bias=True, eps_inside=False):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        m *= beta1
        m += (1 - beta1) * dP
        v *= beta2
        v += (1 - beta2) * dP**2
        m_hat = m / (1 - beta1**k) if correct_bias else m
        v_hat = v / (1 - beta2**k) if correct_bias else v
        P -= lr * m_hat / (np.sqrt(v_hat + eps) if eps_inside else np.sqrt(v_hat) + eps)
    return adam_step


# ---------------------------------------------------------------------------
# Right answers pass; empty stubs are "not attempted", not errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("grader, fn, parts", [
    (nn.grade_output_gradient, output_gradient, 3),
    (nn.grade_layer_backward, layer_backward, 3),
    (nn.grade_backward, make_backward(), 6),
    (nn.grade_training_loop, make_train_loop(), 4),
    (nn.grade_adam_step, make_adam_step(), 12),
])
def test_the_reference_passes(grader, fn, parts, capsys):
    passed, out = grade(grader, fn, capsys)
    assert passed, out
    assert f"{parts} of {parts} parts correct" in out
    assert out.count(": correct (relative error") == parts


@pytest.mark.parametrize("grader", [nn.grade_output_gradient, nn.grade_layer_backward,
                                    nn.grade_backward, nn.grade_training_loop, nn.grade_adam_step])
def test_an_empty_stub_is_not_attempted(grader, capsys):
    def stub(*args):
        ...

    def not_implemented(*args):
        raise NotImplementedError

    for fn in (stub, not_implemented):
        passed, out = grade(grader, fn, capsys)
        assert not passed
        assert "not attempted yet" in out


# ---------------------------------------------------------------------------
# Typical wrong answers fail, with a message naming what and where
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("fn, message", [
    (lambda Z, t: output_gradient(Z, t) / Z.shape[1], r"it equals \(P - T\) / n, the gradient of the mean loss"),
    (lambda Z, t: output_gradient(Z, t).T, r"wrong shape \(5, 4\), expected \(4, 5\): transposed"),
    (lambda Z, t: softmax(Z), r"it equals P alone: the - T is missing"),
    (lambda Z, t: -output_gradient(Z, t), "the sign is flipped"),
])
def test_wrong_output_gradients(fn, message, capsys):
    passed, out = grade(nn.grade_output_gradient, fn, capsys)
    assert not passed
    assert len([line for line in out.splitlines() if "WRONG" in line or "wrong" in line]) >= 1
    assert re.search(message, out), out


def test_a_naive_softmax_fails_on_large_logits(capsys):
    def naive(Z, t):
        with np.errstate(over="ignore", invalid="ignore"):
            E = np.exp(Z)
            return E / E.sum(axis=0) - nn.one_hot_convert(t, Z.shape[0])

    passed, out = grade(nn.grade_output_gradient, naive, capsys)
    assert not passed
    assert "Delta, ordinary logits: correct" in out
    assert "Delta, logits from -1000 to 1000: contains NaN or inf (an exp() that overflows" in out


@pytest.mark.parametrize("fn, part, message", [
    (lambda dZ, A, W: (dZ @ A.T / dZ.shape[1],) + layer_backward(dZ, A, W)[1:],
     "dW", "dZ already carries the 1/n"),
    (lambda dZ, A, W: (dZ @ A.T, dZ.mean(axis=1, keepdims=True), W.T @ dZ),
     "db", "the mean over samples: dZ already carries the 1/n, so sum"),
    (lambda dZ, A, W: (dZ @ A.T, dZ.sum(axis=0, keepdims=True), W.T @ dZ),
     "db", r"wrong shape \(1, 5\), expected \(3, 1\): summed over the wrong axis"),
    (lambda dZ, A, W: (A @ dZ.T, dZ.sum(axis=1, keepdims=True), W.T @ dZ),
     "dW", r"wrong shape \(4, 3\), expected \(3, 4\): transposed"),
    (lambda dZ, A, W: (dZ @ A.T, dZ.sum(axis=1, keepdims=True), -(W.T @ dZ)),
     "dA_prev", "the sign is flipped"),
])
def test_wrong_layer_backwards(fn, part, message, capsys):
    passed, out = grade(nn.grade_layer_backward, fn, capsys)
    assert not passed
    line = next(line for line in out.splitlines() if line.strip().startswith(f"{part}:"))
    assert re.search(message, line), out
    # the other parts are reported correct
    others = [l for l in out.splitlines() if l.startswith("  ") and not l.strip().startswith(f"{part}:")]
    assert all(": correct" in l for l in others), out


@pytest.mark.parametrize("fn, wrong, message", [
    (make_backward(mask=False), {"layer 1 dW", "layer 1 db", "layer 2 dW", "layer 2 db"},
     "without the ReLU mask"),
    (make_backward(extra_n=True), {f"layer {l} {p}" for l in (1, 2, 3) for p in ("dW", "db")},
     "already carries the 1/n"),
    (make_backward(bias_axis=0), {"layer 1 db", "layer 2 db", "layer 3 db"},
     "summed over the wrong axis"),
])
def test_wrong_backward_passes_are_located(fn, wrong, message, capsys):
    passed, out = grade(nn.grade_backward, fn, capsys)
    assert not passed
    for line in out.splitlines():
        if line.startswith("  layer"):
            label = line.strip().split(":")[0]
            if label in wrong:
                assert "correct" not in line.split(":", 1)[1].split("(")[0], out
                assert message in line, out
            else:
                assert ": correct" in line, out


def test_a_backward_with_a_missing_transpose_is_caught(capsys):
    def backward(model):
        grads = make_backward()(model)
        dW, db = grads[1]
        grads[1] = (dW.T, db)                     # as if written A_prev dZ^T
        return grads

    passed, out = grade(nn.grade_backward, backward, capsys)
    assert not passed
    assert "layer 2 dW: wrong shape (5, 6), expected (6, 5): transposed" in out


@pytest.mark.parametrize("fn, message", [
    (make_train_loop(shuffle=False), "the losses of training without shuffling"),
    (make_train_loop(weigh=False), "the losses of training with the plain mean of the batch losses"),
    (make_train_loop(reseed_every_epoch=True), "rng = 5, batch_size = 12: epoch losses: WRONG .*: it equals the losses "
     "of training with the same order in every epoch: draw order = rng.permutation\\(N\\) inside the epoch loop"),
    (make_train_loop(drop_last=True), "the losses of training without the last, smaller batch"),
])
def test_wrong_training_loops(fn, message, capsys):
    passed, out = grade(nn.grade_training_loop, fn, capsys)
    assert not passed
    assert re.search(message, out), out


@pytest.mark.parametrize("fn, message", [
    (make_adam_step(correct_bias=False), "without the bias corrections"),
    (make_adam_step(eps_inside=True), r"step 1: P's update: WRONG \(relative error .*\): it equals the step with eps inside the square root"),
])
def test_wrong_adam_steps(fn, message, capsys):
    passed, out = grade(nn.grade_adam_step, fn, capsys)
    assert not passed
    assert re.search(message, out), out
    assert "step 1: m: correct" in out and "step 1: v: correct" in out


def test_an_adam_step_that_returns_instead_of_updating_in_place(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        m = beta1 * m + (1 - beta1) * dP
        v = beta2 * v + (1 - beta2) * dP**2
        return P - lr * m / (np.sqrt(v) + eps)

    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert "step 1 left P, m and v unchanged: update them in place" in out, out


def test_an_adam_step_that_rebinds_m_and_v(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        m = beta1 * m + (1 - beta1) * dP           # a new array: the caller's m stays 0
        v = beta2 * v + (1 - beta2) * dP**2
        P -= lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps)

    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert ("step 1: m: WRONG (relative error 1): it equals the array as it was before the step: "
            "not updated yet, or rebound (m = ...) instead of updated in place (m *= beta1; m += ...)") in out
    assert ("step 1: v: WRONG (relative error 1): it equals the array as it was before the step: "
            "not updated yet, or rebound (v = ...) instead of updated in place (v *= beta2; v += ...)") in out
    assert "step 1: P's update: correct" in out


def test_graders_need_a_function():
    with pytest.raises(TypeError, match="fn must be callable"):
        nn.grade_backward(None)


@pytest.mark.parametrize("activation", sorted(nn.ACTIVATIONS))
def test_activation_derivative_grader(activation, capsys):
    f, d_f = nn.ACTIVATIONS[activation]
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, activation), d_f, capsys)
    assert passed, out
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, activation), f, capsys)
    assert not passed
    assert "itself, not its derivative" in out or "is missing" in out, out


@pytest.mark.parametrize("fn, message", [
    (lambda Z: 1 - np.tanh(Z), r"1 - tanh\(z\): the square is missing"),
    (lambda Z: np.tanh(Z) ** 2, "WRONG"),
    (lambda Z: 1 - np.tanh(Z.reshape(-1, 1)) ** 2,
     r"wrong shape \(40, 1\), expected \(4, 10\): the right number of entries in the wrong shape"),
    (lambda Z: np.tanh(Z) * (1 - np.tanh(Z)), r"it equals tanh\(z\) \(1 - tanh\(z\)\), the sigmoid's pattern"),
    (lambda Z: list(1 - np.tanh(Z) ** 2), r"the right values, but in a list, not a NumPy array"),
])
def test_wrong_tanh_derivatives(fn, message, capsys):
    passed, out = grade(nn.grade_activation_derivative, fn, capsys)
    assert not passed
    assert re.search(message, out), out


def test_sigmoid_derivative_written_as_tanh_s_is_named(capsys):
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, "sigmoid"),
                        lambda Z: 1 - nn.sigmoid(Z) ** 2, capsys)
    assert not passed
    assert "it equals 1 - sigmoid(z)^2, tanh's pattern" in out, out


def batchnorm_backward(dY, Zhat, sigma, gamma):
    dgamma = np.sum(dY * Zhat, axis=1, keepdims=True)
    dbeta = np.sum(dY, axis=1, keepdims=True)
    dZ = gamma / sigma * (dY - dY.mean(axis=1, keepdims=True)
                          - Zhat * np.mean(dY * Zhat, axis=1, keepdims=True))
    return dZ, dgamma, dbeta


@pytest.mark.parametrize("fn, part, message", [
    (lambda dY, Zhat, sigma, gamma: (gamma / sigma * dY,) + batchnorm_backward(dY, Zhat, sigma, gamma)[1:],
     "dZ", "mu and sigma treated as constants"),
    (lambda dY, Zhat, sigma, gamma: (gamma / sigma * (dY - dY.mean(axis=1, keepdims=True)),)
     + batchnorm_backward(dY, Zhat, sigma, gamma)[1:], "dZ", "without its last term"),
    (lambda dY, Zhat, sigma, gamma: batchnorm_backward(dY, Zhat, sigma, gamma)[:1]
     + (np.sum(dY * Zhat, axis=0, keepdims=True), np.sum(dY, axis=1, keepdims=True)),
     "dgamma", "summed over the wrong axis"),
    (lambda dY, Zhat, sigma, gamma: batchnorm_backward(dY, Zhat, sigma, gamma)[:1]
     + (np.sum(dY, axis=1, keepdims=True),) * 2, "dgamma", "that is dbeta"),
])
def test_wrong_batchnorm_backwards(fn, part, message, capsys):
    passed, out = grade(nn.grade_batchnorm_backward, fn, capsys)
    assert not passed
    line = next(line for line in out.splitlines() if line.strip().startswith(f"{part}:"))
    assert message in line, out


def test_batchnorm_backward_reference_passes(capsys):
    passed, out = grade(nn.grade_batchnorm_backward, batchnorm_backward, capsys)
    assert passed and "3 of 3 parts correct" in out, out



# ---------------------------------------------------------------------------
# Mistakes that a single fixed test case would let through, and answers that
# cannot be graded (an exception, a forgotten return): reported, never raised
# ---------------------------------------------------------------------------

def test_a_softmax_shifted_by_the_global_max_is_caught(capsys):
    def global_shift(Z, t):
        with np.errstate(all="ignore"):
            E = np.exp(Z - Z.max())                 # one shift for the whole batch
            return E / E.sum(axis=0) - nn.one_hot_convert(t, Z.shape[0])

    passed, out = grade(nn.grade_output_gradient, global_shift, capsys)
    assert not passed
    assert "logits from -1000 to 1000: contains NaN or inf" in out, out
    assert "shift each column by its own max" in out, out


def test_the_number_of_classes_taken_from_the_labels_is_caught(capsys):
    def from_labels(Z, t):
        return softmax(Z) - nn.one_hot_convert(t, int(t.max()) + 1)

    passed, out = grade(nn.grade_output_gradient, from_labels, capsys)
    assert not passed
    assert ("output_gradient (a batch with only classes 0 and 1 of K = 4): your function raised "
            "ValueError at `return softmax(Z) - nn.one_hot_convert(t, int(t.max()) + 1)`") in out, out


def test_an_exception_in_the_learners_code_is_reported_with_its_line(capsys):
    def missing_transpose(dZ, A_prev, W):
        dW = dZ @ A_prev.T
        dA_prev = W @ dZ                            # W^T is meant
        return dW, dZ.sum(axis=1, keepdims=True), dA_prev

    passed, out = grade(nn.grade_layer_backward, missing_transpose, capsys)
    assert passed is False
    assert out.startswith("layer_backward: your function raised ValueError at `dA_prev = W @ dZ`"), out
    assert "a missing transpose?" in out, out


def test_backward_mistakes_that_raise_are_reported(capsys):
    def dW_without_transpose(model):
        grads = make_backward()(model)
        layer = model.layers[0]
        return [(model.dZ_L @ layer.A_prev, grads[0][1])] + grads[1:]

    def mask_of_the_wrong_layer(model):
        dZ, grads = model.dZ_L, []
        for l in range(len(model.layers), 0, -1):
            layer = model.layers[l - 1]
            grads.append((dZ @ layer.A_prev.T, dZ.sum(axis=1, keepdims=True)))
            if l > 1:
                dZ = nn.d_relu(layer.Z) * (layer.W.T @ dZ)     # Z_l, where Z_{l-1} is meant
        return grads[::-1]

    for fn, line in ((dW_without_transpose, "model.dZ_L @ layer.A_prev"),
                     (mask_of_the_wrong_layer, "dZ = nn.d_relu(layer.Z) * (layer.W.T @ dZ)")):
        passed, out = grade(nn.grade_backward, fn, capsys)
        assert passed is False
        assert "backward: your function raised ValueError at `" in out and line in out, out


def test_an_index_error_in_the_output_gradient_points_to_the_layout(capsys):
    def rows_and_columns_swapped(Z, t):
        P = softmax(Z)
        P[np.arange(Z.shape[1]), t] -= 1
        return P

    passed, out = grade(nn.grade_output_gradient, rows_and_columns_swapped, capsys)
    assert passed is False
    assert "raised IndexError" in out and "index as [k, s]" in out, out


@pytest.mark.parametrize("grader", [nn.grade_output_gradient, nn.grade_layer_backward,
                                    nn.grade_backward, nn.grade_training_loop,
                                    nn.grade_batchnorm_backward, nn.grade_activation_derivative])
def test_a_forgotten_return_is_not_called_unattempted(grader, capsys):
    def no_return(*args):
        result = args[0]                            # the work is done, the return forgotten

    passed, out = grade(grader, no_return, capsys)
    assert passed is False
    assert "your function returned None - is its return statement missing?" in out, out
    assert "not attempted" not in out, out


def test_a_documented_empty_stub_is_not_attempted(capsys):
    def stub(Z):
        """tanh'(z) for every entry of the array Z (same shape)."""
        ...   # your code here

    passed, out = grade(nn.grade_activation_derivative, stub, capsys)
    assert not passed and "d_tanh: not attempted yet" in out, out


def test_an_adam_step_that_rebinds_P_is_told_so(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        m *= beta1
        m += (1 - beta1) * dP
        v *= beta2
        v += (1 - beta2) * dP**2
        P = P - lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps)   # a new array

    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert ("step 1: P's update: WRONG (relative error 1): it equals a zero step: P did not change; "
            "either the update of P is not written yet, or P = P - ... made a new array (write P -= ...), "
            "or the step used m and v") in out, out
    assert ("step 2: P's update: WRONG (relative error 1): it equals a zero step: P did not change; "
            "the update of P is not written yet, or P = P - ... makes a new array: write P -= ...") in out, out
    assert "step 1: m: correct" in out and "not attempted" not in out, out


def test_an_adam_step_that_uses_m_and_v_before_updating_them(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        P -= lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps)
        m *= beta1
        m += (1 - beta1) * dP
        v *= beta2
        v += (1 - beta2) * dP**2

    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert ("step 1: P's update: WRONG (relative error 1): it equals a zero step: P did not change; "
            "either") in out and "when at step 1 they are still 0 (update them first)" in out, out
    assert ("step 2: P's update: WRONG (relative error 0.52): it equals the step from m and v as "
            "they were before this step: update m and v first") in out, out
    assert "step 2: m: correct" in out and "step 2: v: correct" in out, out


def test_an_adam_step_with_only_eps_fixed_is_told_which_setting(capsys):
    passed, out = grade(nn.grade_adam_step, make_adam_variant("eps"), capsys)
    assert not passed
    assert out.count("it equals the step with eps = 1e-8, not the argument eps") == 4, out
    assert "usual settings" not in out, out


def make_adam_variant(variant):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        if variant == "defaults":
            beta1, beta2, eps = 0.9, 0.999, 1e-8
        if variant == "eps":
            eps = 1e-8
        m *= beta1
        m += (1 - beta1) * dP
        v *= beta2
        v += (1 - beta2) * dP**2
        j = {"k+1": k + 1, "k-1": k - 1}.get(variant, k)
        with np.errstate(divide="ignore", invalid="ignore"):
            m_hat = m if variant == "only v" else m / (1 - beta1**j)
            v_hat = v if variant == "only m" else v / (1 - beta2**j)
        step = lr * m_hat / (np.sqrt(v_hat) + eps)
        if variant == "sign":
            P += step
        else:
            P -= step
    return adam_step


@pytest.mark.parametrize("variant, message", [
    ("defaults", "it equals Adam's usual settings 0.9, 0.999, 1e-8, not the arguments"),
    ("only m", r"only m bias-corrected \(v / \(1 - beta2\^k\) is missing\)"),
    ("only v", r"only v bias-corrected \(m / \(1 - beta1\^k\) is missing\)"),
    ("k+1", r"the step with k counted from 0"),
    ("k-1", r"contains NaN or inf \(a division by zero, or the square root of a negative number\?"),
    ("sign", r"step 1: P's update: WRONG \(relative error 1\): the sign is flipped"),
])
def test_adam_mistakes_a_fixed_default_setting_would_hide(variant, message, capsys):
    passed, out = grade(nn.grade_adam_step, make_adam_variant(variant), capsys)
    assert not passed
    assert re.search(message, out), out
    assert "exp()" not in out, out


def test_a_training_loop_that_ignores_its_optimizer_is_caught(capsys):
    def own_optimizer(model, X, t, optimizer, epochs, batch_size, rng):
        return make_train_loop()(model, X, t, nn.SGD(model, lr=0.3), epochs, batch_size, rng)

    passed, out = grade(nn.grade_training_loop, own_optimizer, capsys)
    assert not passed
    assert "epoch losses: WRONG" in out and "the largest difference is at epoch" in out, out


def test_a_training_loop_that_needs_a_generator_is_told_how_to_make_one(capsys):
    def generator_only(model, X, t, optimizer, epochs, batch_size, rng):
        order = rng.permutation(X.shape[1])         # fails for an int seed
        return make_train_loop()(model, X, t, optimizer, epochs, batch_size, rng)

    passed, out = grade(nn.grade_training_loop, generator_only, capsys)
    assert not passed
    assert "train_loop (rng = 5, batch_size = 12): your function raised AttributeError" in out, out
    assert "rng = np.random.default_rng(rng) accepts both" in out, out


def test_a_derivative_written_for_vectors_only_is_caught(capsys):
    import math

    def scalar_loop(Z):
        return np.array([1 - math.tanh(z) ** 2 for z in Z])

    passed, out = grade(nn.grade_activation_derivative, scalar_loop, capsys)
    assert not passed
    assert "d_tanh: your function raised TypeError" in out, out


def test_gradients_in_the_wrong_order_are_named(capsys):
    def swapped(dZ, A_prev, W):
        dW, db, dA_prev = layer_backward(dZ, A_prev, W)
        return dW, dA_prev, db

    passed, out = grade(nn.grade_layer_backward, swapped, capsys)
    assert not passed
    assert "layer_backward: the gradients are in the wrong order: return (dW, db, dA_prev)" in out, out

    def swapped_norm(dY, Zhat, sigma, gamma):
        dZ, dgamma, dbeta = batchnorm_backward(dY, Zhat, sigma, gamma)
        return dZ, dbeta, dgamma

    passed, out = grade(nn.grade_batchnorm_backward, swapped_norm, capsys)
    assert not passed
    assert "dgamma: WRONG" in out and "that is dbeta" in out and "that is dgamma" in out, out


def test_a_backward_pass_in_reverse_order_is_named(capsys):
    passed, out = grade(nn.grade_backward, lambda model: make_backward()(model)[::-1], capsys)
    assert not passed
    assert out == "backward: the list starts with layer 3: return layer 1 first (reverse it)\n", out


def test_a_backward_pass_with_pairs_in_the_wrong_order_is_named(capsys):
    def swapped(model):
        return [(db, dW) for dW, db in make_backward()(model)]

    passed, out = grade(nn.grade_backward, swapped, capsys)
    assert not passed
    assert out == "backward: each pair must be (dW_l, db_l); yours are (db_l, dW_l)\n", out


def test_a_training_loop_with_another_valid_shuffle_is_told_why_it_differs(capsys):
    def choice_loop(model, X, t, optimizer, epochs, batch_size, rng):
        rng, n, losses = np.random.default_rng(rng), X.shape[1], []
        for _ in range(epochs):
            order = rng.choice(n, n, replace=False)     # a valid shuffle, other batches
            total = 0.0
            for start in range(0, n, batch_size):
                batch = order[start:start + batch_size]
                total += model.loss(X[:, batch], t[batch]) * len(batch)
                model.backward()
                optimizer.step()
            losses.append(total / n)
        return losses

    passed, out = grade(nn.grade_training_loop, choice_loop, capsys)
    assert not passed
    assert ("check that it draws the batches nn.train draws: one generator, made once; "
            "order = rng.permutation(N) at the start of each epoch") in out, out


def test_the_note_on_batches_is_silent_when_the_weights_are_right(capsys):
    passed, out = grade(nn.grade_training_loop, make_train_loop(weigh=False), capsys)
    assert not passed
    assert "final weights W_1: correct" in out and "draws the batches" not in out, out


def test_an_error_in_the_standard_library_is_reported_at_the_learners_line(capsys):
    import random

    def sampled(model, X, t, optimizer, epochs, batch_size, rng):
        order = random.sample(range(X.shape[1]), X.shape[1] + 1)
        return order

    passed, out = grade(nn.grade_training_loop, sampled, capsys)
    assert not passed
    assert "raised ValueError at `order = random.sample(range(X.shape[1]), X.shape[1] + 1)`" in out, out


def test_a_float16_answer_is_told_its_precision(capsys):
    def half(dZ, A, W):
        return (dZ @ A.T).astype(np.float16), dZ.sum(axis=1, keepdims=True), W.T @ dZ

    passed, out = grade(nn.grade_layer_backward, half, capsys)
    assert not passed
    assert "your result is float16, which keeps about 3 digits" in out, out


def test_an_error_inside_numpy_random_is_reported_at_the_learners_line(capsys):
    def too_many(model, X, t, optimizer, epochs, batch_size, rng):
        order = np.random.default_rng(rng).choice(X.shape[1], 2 * X.shape[1], replace=False)
        return order

    passed, out = grade(nn.grade_training_loop, too_many, capsys)
    assert not passed
    assert ("your function raised ValueError at `order = np.random.default_rng(rng).choice("
            "X.shape[1], 2 * X.shape[1], replace=False)`") in out, out


@pytest.mark.parametrize("answer, message", [
    ({"loss": [1.0, 0.5]}, "got dict"), ("abc", "got str"), (10**400, "got int")])
def test_an_answer_that_is_no_array_is_named_by_its_type(answer, message, capsys):
    passed, out = grade(nn.grade_output_gradient, lambda Z, t: answer, capsys)
    assert not passed
    assert f"Delta, ordinary logits: expected an array of shape (4, 5), {message}\n" in out, out


def test_an_all_zero_answer_is_called_unfinished(capsys):
    passed, out = grade(nn.grade_layer_backward,
                        lambda dZ, A, W: (dZ @ A.T, np.zeros((3, 1)), W.T @ dZ), capsys)
    assert not passed
    assert "db: WRONG: all zeros - is part of the function still to be written?" in out, out


def test_a_float32_answer_is_told_about_its_dtype_and_precision(capsys):
    def single(Z, t):
        return (softmax(Z.astype(np.float32)) - nn.one_hot_convert(t, Z.shape[0], np.float32))

    passed, out = grade(nn.grade_output_gradient, single, capsys)
    assert not passed
    # The right values rounded to float32 where the logits are small; where they are near
    # 1000, float32 loses digits in z - max z, and that is named.
    assert ("Delta, ordinary logits: WRONG: the right values, but your result is float32 and "
            "the inputs are float64: return the dtype you were given (is there an astype or a "
            "dtype= in your function?)\n") in out, out
    assert re.search(r"Delta, logits from -1000 to 1000: WRONG \(relative error \S+\): close, but "
                     r"your result is float32", out), out


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "sigmoid"])
def test_an_answer_that_changes_the_dtype_fails_naming_both(activation, capsys):
    in_float64 = {"relu": lambda Z: (Z > 0).astype(np.float64),
                  "leaky_relu": lambda Z: np.where(Z > 0, 1.0, 0.01),
                  "tanh": lambda Z: 1 - np.tanh(Z.astype(np.float64)) ** 2,
                  "sigmoid": lambda Z: np.exp(-Z.astype(np.float64)) / (1 + np.exp(-Z.astype(np.float64))) ** 2}
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, activation),
                        in_float64[activation], capsys)
    assert not passed
    assert f"{activation}'(z) on a (4, 10) array: correct" in out, out
    assert (f"{activation}'(z) on the same array in float32: WRONG: the right values, but your "
            f"result is float64 and the inputs are float32: return the dtype you were given "
            f"(np.zeros(shape), np.array(a list), np.vectorize and Python floats such as 1.0 in "
            f"np.where make float64; np.zeros_like(Z) or .astype(Z.dtype) keep the input's)\n") in out, out


def test_an_integer_mask_for_relu_is_named(capsys):
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, "relu"),
                        lambda Z: (Z > 0).astype(int), capsys)
    assert not passed
    assert out.count("your result is int64") == 2, out
    assert out.count("(a mask becomes floats of the input's dtype with (Z > 0).astype(Z.dtype))") == 2, out


def test_the_float32_part_accepts_its_own_rounding(capsys):
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, "tanh"),
                        lambda Z: 1 - np.tanh(Z) * np.tanh(Z), capsys)   # another rounding than d_tanh
    assert passed, out


def test_a_backward_pass_whose_items_are_not_pairs(capsys):
    def triples(model):
        return [(dW, db, None) for dW, db in make_backward()(model)]

    passed, out = grade(nn.grade_backward, triples, capsys)
    assert not passed
    assert "every item of the list must be a pair (dW_l, db_l), got items of type tuple" in out, out


@pytest.mark.parametrize("fn, message", [
    (lambda dZ, A, W: (dZ @ A.T, dZ, W.T @ dZ),
     r"db: wrong shape \(3, 5\), expected \(3, 1\): not summed over the samples"),
    (lambda dZ, A, W: (dZ @ A.T, dZ.sum(axis=1), W.T @ dZ),
     r"db: wrong shape \(3,\), expected \(3, 1\): a column is expected: keepdims=True keeps it"),
    (lambda dZ, A, W: (dZ @ A.T, dZ.sum(axis=0), W.T @ dZ),
     r"db: wrong shape \(5,\), expected \(3, 1\): summed over the wrong axis"),
])
def test_shape_mistakes_of_the_bias_are_told_apart(fn, message, capsys):
    passed, out = grade(nn.grade_layer_backward, fn, capsys)
    assert not passed
    assert re.search(message, out), out


def test_a_non_finite_answer_outside_the_softmax_does_not_blame_the_softmax(capsys):
    passed, out = grade(nn.grade_activation_derivative, lambda Z: Z / 0 * 0, capsys)
    assert not passed
    assert "contains NaN or inf" in out and "exp()" not in out, out


@pytest.mark.parametrize("fn, message", [
    (lambda dZ, A, W: (dZ @ A.T * 1e300, dZ.sum(axis=1, keepdims=True), W.T @ dZ),
     r"dW: WRONG: values as large as \d\.\de\+30\d"),
    (lambda dZ, A, W: (dZ @ A.T + 0j, dZ.sum(axis=1, keepdims=True), W.T @ dZ),
     "dW: expected real numbers, got complex ones"),
])
def test_absurd_answers_get_a_plain_message(fn, message, capsys):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        passed, out = grade(nn.grade_layer_backward, fn, capsys)
    assert not passed
    assert re.search(message, out), out


def test_the_missing_class_hint_is_given_only_for_a_matrix(capsys):
    passed, out = grade(nn.grade_output_gradient, lambda Z, t: 3.0, capsys)
    assert not passed
    assert "wrong shape (), expected (4, 5)\n" in out and "K is Z.shape[0]" not in out, out


def test_an_answer_that_changes_its_input_in_place_is_caught(capsys):
    def shifts_in_place(Z, t):
        Z -= Z.max(axis=0, keepdims=True)          # the caller's logits change
        return softmax(Z) - nn.one_hot_convert(t, Z.shape[0])

    passed, out = grade(nn.grade_output_gradient, shifts_in_place, capsys)
    assert not passed
    assert "changed its argument number 1 in place" in out, out


@pytest.mark.parametrize("grader, fn, message", [
    (nn.grade_output_gradient, lambda Z, t: (Z, t),
     "Delta, ordinary logits: expected an array of shape (4, 5), got tuple"),
    (nn.grade_layer_backward, lambda dZ, A, W: (dZ @ A.T, [dZ.sum(axis=1), [1.0]], W.T @ dZ),
     "db: expected an array of shape (3, 1), got list"),
])
def test_ragged_answers_are_graded_not_raised(grader, fn, message, capsys):
    passed, out = grade(grader, fn, capsys)
    assert not passed
    assert message in out, out


def test_the_layout_hint_is_only_for_the_output_gradient(capsys):
    def off_by_one(model):
        return [(model.layers[l].W, model.layers[l].b) for l in range(1, len(model.layers) + 1)]

    passed, out = grade(nn.grade_backward, off_by_one, capsys)
    assert not passed
    assert "raised IndexError" in out and "[k, s]" not in out, out


@pytest.mark.parametrize("fn, message", [
    (lambda dY, Zhat, sigma, gamma: (gamma / sigma * (dY - Zhat * np.mean(dY * Zhat, axis=1, keepdims=True)),)
     + batchnorm_backward(dY, Zhat, sigma, gamma)[1:], "without its middle term, mean(dY)"),
    (lambda dY, Zhat, sigma, gamma: (batchnorm_backward(dY, Zhat, sigma, gamma)[0] / gamma,)
     + batchnorm_backward(dY, Zhat, sigma, gamma)[1:], "without the factor gamma"),
    (lambda dY, Zhat, sigma, gamma: (gamma / sigma * (dY - dY.mean(axis=0, keepdims=True)
                                                      - Zhat * np.mean(dY * Zhat, axis=0, keepdims=True)),)
     + batchnorm_backward(dY, Zhat, sigma, gamma)[1:], "means over axis=0"),
])
def test_batchnorm_culprits_are_named(fn, message, capsys):
    passed, out = grade(nn.grade_batchnorm_backward, fn, capsys)
    assert not passed
    assert message in out, out


# ---------------------------------------------------------------------------
# Mistakes found by a learner's-eye audit of the graders
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("shift", [lambda Z: Z.mean(axis=0, keepdims=True),
                                   lambda Z: Z.min(axis=0, keepdims=True), lambda Z: Z[:1]])
def test_a_softmax_shifted_by_another_per_column_value_is_caught(shift, capsys):
    def shifted(Z, t):
        with np.errstate(all="ignore"):
            E = np.exp(Z - shift(Z))
            return E / E.sum(axis=0) - nn.one_hot_convert(t, Z.shape[0])

    passed, out = grade(nn.grade_output_gradient, shifted, capsys)
    assert not passed
    assert "logits from -1000 to 1000: contains NaN or inf" in out, out


def test_a_loop_with_one_batch_too_many_is_caught(capsys):
    def one_too_many(model, X, t, optimizer, epochs, batch_size, rng):
        rng, n, losses = np.random.default_rng(rng), X.shape[1], []
        for _ in range(epochs):
            order, total = rng.permutation(n), 0.0
            for i in range(n // batch_size + 1):        # one empty batch when batch_size divides n
                batch = order[i * batch_size:(i + 1) * batch_size]
                total += model.loss(X[:, batch], t[batch]) * len(batch)
                model.backward()
                optimizer.step()
            losses.append(total / n)
        return losses

    passed, out = grade(nn.grade_training_loop, one_too_many, capsys)
    assert not passed
    assert "batch_size = 10): your function raised ValueError" in out, out
    assert "an empty last batch? range(0, N, batch_size) gives only non-empty ones" in out, out


def test_a_loop_that_never_updates_is_told_so(capsys):
    def no_step(model, X, t, optimizer, epochs, batch_size, rng):
        rng, n, losses = np.random.default_rng(rng), X.shape[1], []
        for _ in range(epochs):
            order = rng.permutation(n)
            losses.append(sum(model.loss(X[:, order[i:i + batch_size]], t[order[i:i + batch_size]])
                              * len(order[i:i + batch_size]) for i in range(0, n, batch_size)) / n)
        return losses

    passed, out = grade(nn.grade_training_loop, no_step, capsys)
    assert not passed
    assert "final weights W_1: WRONG (relative error 0.036): it equals the weights of training " \
           "without any update: call model.backward() and then optimizer.step()" in out, out
    assert "draws the batches" not in out, out


def test_a_legacy_seed_given_a_generator_is_told_how_to_accept_both(capsys):
    def legacy(model, X, t, optimizer, epochs, batch_size, rng):
        np.random.seed(rng)
        return make_train_loop()(model, X, t, optimizer, epochs, batch_size, rng)

    passed, out = grade(nn.grade_training_loop, legacy, capsys)
    assert not passed
    assert "raised TypeError at `np.random.seed(rng)`" in out, out
    assert "which np.random.seed and RandomState do not take" in out, out


def test_one_epoch_too_few_is_told_by_its_shape(capsys):
    def short(model, X, t, optimizer, epochs, batch_size, rng):
        return make_train_loop()(model, X, t, optimizer, epochs - 1, batch_size, rng)

    passed, out = grade(nn.grade_training_loop, short, capsys)
    assert not passed
    assert "epoch losses: wrong shape (2,), expected (3,): one mean loss per epoch, and epochs = 3" in out


def test_a_missing_helper_is_not_called_unattempted(capsys):
    def layer_step(*args):
        raise NotImplementedError

    def backward(model):
        return layer_step(model)

    passed, out = grade(nn.grade_backward, backward, capsys)
    assert not passed
    assert "backward: your function calls one that is not written yet: NotImplementedError at " \
           "`raise NotImplementedError`" in out, out


@pytest.mark.parametrize("call", [lambda model: model.backward(),
                                  lambda model: type(model).backward(model),
                                  lambda model: nn.NNClassifier.backward(model)])
def test_calling_the_modules_backward_is_refused(call, capsys):
    def borrowed(model):
        call(model)
        return [(layer.dW, layer.db) for layer in model.layers]

    original = nn.NNClassifier.backward
    passed, out = grade(nn.grade_backward, borrowed, capsys)
    assert not passed
    assert "your function calls model.backward(), the module's own backward pass" in out, out
    assert nn.NNClassifier.backward is original                 # put back after grading


def test_calling_the_modules_training_loop_is_refused(capsys):
    def borrowed(model, X, t, optimizer, epochs, batch_size, rng):
        return nn.train(model, X, t, optimizer, epochs, batch_size, rng=rng)["loss"]

    original = nn.train
    passed, out = grade(nn.grade_training_loop, borrowed, capsys)
    assert not passed
    assert out.startswith("train_loop: your function calls nn.train, the module's own loop"), out
    assert nn.train is original


@pytest.mark.parametrize("fn, message", [
    (lambda Z, t: output_gradient(Z, t).mean(axis=1, keepdims=True),
     "Delta, ordinary logits: wrong shape (4, 1), expected (4, 5): one column per sample"),
    (lambda Z, t: output_gradient(Z, t)[:3],
     "Delta, ordinary logits: wrong shape (3, 5), expected (4, 5): K is Z.shape[0]")])
def test_the_shape_hint_names_the_wrong_axis(fn, message, capsys):
    passed, out = grade(nn.grade_output_gradient, fn, capsys)
    assert not passed
    assert message in out, out


def test_a_relu_gate_on_dA_prev_is_named(capsys):
    def gated(dZ, A_prev, W):
        dW, db, dA_prev = layer_backward(dZ, A_prev, W)
        return dW, db, dA_prev * (A_prev > 0)

    passed, out = grade(nn.grade_layer_backward, gated, capsys)
    assert not passed
    assert "dA_prev: WRONG (relative error 0.55): it equals W^T dZ gated by A_prev > 0: the ReLU " \
           "gate f'(Z_prev) belongs to the layer below" in out, out


def test_adam_bias_correction_written_into_m_and_v_is_named(capsys):
    def in_place(P, dP, m, v, k, lr, beta1, beta2, eps):
        m *= beta1
        m += (1 - beta1) * dP
        v *= beta2
        v += (1 - beta2) * dP**2
        m /= 1 - beta1**k                          # m now holds m_hat
        v /= 1 - beta2**k
        P -= lr * m / (np.sqrt(v) + eps)

    passed, out = grade(nn.grade_adam_step, in_place, capsys)
    assert not passed
    assert "step 1: m: WRONG (relative error 0.67): it equals m / (1 - beta1^k), the bias-corrected " \
           "m_hat" in out, out
    assert "step 1: v: WRONG (relative error 0.98): it equals v / (1 - beta2^k)" in out, out


def test_batchnorm_sums_where_the_formula_has_means_are_named(capsys):
    def summed(dY, Zhat, sigma, gamma):
        dZ = gamma / sigma * (dY - dY.sum(axis=1, keepdims=True)
                              - Zhat * np.sum(dY * Zhat, axis=1, keepdims=True))
        return dZ, np.sum(dY * Zhat, axis=1, keepdims=True), dY.sum(axis=1, keepdims=True)

    passed, out = grade(nn.grade_batchnorm_backward, summed, capsys)
    assert not passed
    assert "dZ: WRONG (relative error 0.73): it equals the compact formula with sums over the " \
           "samples where it has means (the 1/n is missing)" in out, out


def test_a_backward_that_returns_a_sparse_matrix_is_named(capsys):
    from scipy import sparse
    passed, out = grade(nn.grade_backward, lambda model: sparse.csr_array(np.eye(2)), capsys)
    assert not passed
    assert "backward: return a list of 3 pairs (dW_l, db_l), one per layer l = 1..3, got csr_array\n" in out, out


def test_a_decorated_stub_is_not_attempted(capsys):
    import functools

    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args):
            return fn(*args)
        return wrapper

    @decorate
    def backward(model):
        raise NotImplementedError

    passed, out = grade(nn.grade_backward, backward, capsys)
    assert not passed
    assert "backward: not attempted yet" in out, out


@pytest.mark.parametrize("grader, answer, message", [
    (nn.grade_output_gradient, lambda Z, t: nn.softmax_cross_entropy(Z, t, mean=False)[1],
     "output_gradient: your function calls nn.softmax_cross_entropy, which returns this very gradient"),
    (lambda fn: nn.grade_activation_derivative(fn, "tanh"), lambda Z: nn.d_tanh(Z) + 0,
     "d_tanh: your function calls nn.d_tanh, the module's own derivative"),
])
def test_calling_the_modules_answer_is_refused_in_every_grader(grader, answer, message, capsys):
    passed, out = grade(grader, answer, capsys)
    assert not passed
    assert out.startswith(message), out


def test_a_reference_captured_before_grading_is_still_refused(capsys):
    from nn_from_scratch import train as captured

    def borrowed(model, X, t, optimizer, epochs, batch_size, rng):
        return captured(model, X, t, optimizer, epochs, batch_size, rng=rng)["loss"]
    passed, out = grade(nn.grade_training_loop, borrowed, capsys)
    assert not passed
    assert out.startswith("train_loop: your function calls nn.train, the module's own loop"), out
    import sys
    assert sys.getprofile() is None                             # the watch is removed


def test_the_module_function_itself_is_graded_as_the_reference(capsys):
    passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, "tanh"), nn.d_tanh, capsys)
    assert passed, out


def test_a_recognised_training_mistake_gets_no_extra_note(capsys):
    def dropped_last_batch(model, X, t, optimizer, epochs, batch_size, rng):
        rng = np.random.default_rng(rng)
        losses, N = [], X.shape[1]
        for _ in range(epochs):
            order, total = rng.permutation(N), 0.0
            for start in range(0, N - N % batch_size, batch_size):
                batch = order[start:start + batch_size]
                total += model.loss(X[:, batch], t[batch]) * len(batch)
                model.backward()
                optimizer.step()
            losses.append(total / (N - N % batch_size))
        return losses
    passed, out = grade(nn.grade_training_loop, dropped_last_batch, capsys)
    assert not passed
    assert "without the last, smaller batch" in out and "if your loop trains correctly" not in out, out


def test_grading_under_a_profiler_leaves_the_profiler_alone(capsys):
    import cProfile
    import sys
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        passed, out = grade(lambda fn: nn.grade_activation_derivative(fn, "tanh"),
                            lambda Z: 1 - np.tanh(Z) ** 2, capsys)
        still = sys.getprofile()
    finally:
        profiler.disable()
    assert passed, out
    assert still is not None                                    # not replaced, not removed


def test_adam_step_and_batch_norm_backward_refuse_the_modules_own(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        class Toy:
            def parameters(self):
                return [(1, "P", P, dP)]

            def clear_cache(self):
                pass
        optimizer = nn.Adam(Toy(), lr, beta1, beta2, eps)
        optimizer.m, optimizer.v, optimizer.k = [m], [v], k - 1
        optimizer.step()
    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert out.startswith("adam_step: your function calls nn.Adam's step, the module's own"), out

    def batchnorm_backward(dY, Zhat, sigma, gamma):
        norm = nn.BatchNorm(dY.shape[0])
        norm.Zhat, norm.sigma, norm.gamma = Zhat, sigma, gamma
        return norm.backward(dY), norm.dgamma, norm.dbeta
    passed, out = grade(nn.grade_batchnorm_backward, batchnorm_backward, capsys)
    assert not passed
    assert out.startswith("batchnorm_backward: your function calls BatchNorm.backward"), out


@pytest.mark.parametrize("ending", [lambda W: W.T.copy(), lambda W: None, lambda W: W * np.nan])
def test_a_loop_that_replaces_the_weights_is_graded_not_crashed(ending, capsys):
    correct = make_train_loop()

    def loop(model, X, t, optimizer, epochs, batch_size, rng):
        losses = correct(model, X, t, optimizer, epochs, batch_size, rng)
        model.layers[0].W = ending(model.layers[0].W)          # then spoils the weights
        return losses
    passed, out = grade(nn.grade_training_loop, loop, capsys)
    assert not passed
    assert out.splitlines()[-1].startswith("train_loop: 2 of 4 parts correct"), out


# ---------------------------------------------------------------------------
# Mistakes named since audit round 9
# ---------------------------------------------------------------------------

def make_loop_mistake(kind):
    """A training loop with one of the mistakes below (the rest as nn.train does it)."""
    def train_loop(model, X, t, optimizer, epochs, batch_size, rng):
        rng = np.random.default_rng(rng)
        n = X.shape[0] if kind == "features" else X.shape[1]
        losses, total = [], 0.0
        for _ in range(epochs):
            order = rng.permutation(n)
            if kind != "no reset":
                total = 0.0
            for start in range(0, n, batch_size):
                batch = order[start:start + batch_size]
                plain = slice(start, start + batch_size)
                images = X[:, plain] if kind == "images unshuffled" else X[:, batch]
                labels = t[plain] if kind == "labels unshuffled" else t[batch]
                total += model.loss(images, labels) * len(batch)
                model.backward()
                optimizer.step()
            losses.append(total / n)
        return losses
    return train_loop


@pytest.mark.parametrize("kind, message", [
    ("labels unshuffled", "with the images shuffled and the labels not: take both from the same indices"),
    ("images unshuffled", "with the labels shuffled and the images not: take both from the same indices"),
    ("features", r"with N = X.shape\[0\], the number of features: the samples are the columns"),
    ("no reset", "with the running total carried over from earlier epochs: set total = 0"),
])
def test_more_training_loop_mistakes_are_named(kind, message, capsys):
    passed, out = grade(nn.grade_training_loop, make_loop_mistake(kind), capsys)
    assert not passed
    assert re.search(r"epoch losses: WRONG .*" + message, out), out
    assert "if your loop trains correctly" not in out, out


def test_the_note_on_batches_needs_a_loop_that_trains(capsys):
    def misaligned_choice(model, X, t, optimizer, epochs, batch_size, rng):
        rng, n, losses = np.random.default_rng(rng), X.shape[1], []
        for _ in range(epochs):
            order, total = rng.choice(n, n, replace=False), 0.0
            for start in range(0, n, batch_size):
                batch = order[start:start + batch_size]
                total += model.loss(X[:, batch], t[start:start + batch_size]) * len(batch)
                model.backward()
                optimizer.step()
            losses.append(total / n)
        return losses
    passed, out = grade(nn.grade_training_loop, misaligned_choice, capsys)
    assert not passed and "if your loop trains correctly" not in out, out


def test_a_backward_that_calls_an_empty_helper_is_told_so(capsys):
    namespace = {}
    exec("def layer_backward(dZ, A_prev, W):\n    ...\n\n"
         "def backward(model):\n"
         "    grads, dZ = [], model.dZ_L\n"
         "    for l in range(len(model.layers), 0, -1):\n"
         "        layer = model.layers[l - 1]\n"
         "        dW, db, dA_prev = layer_backward(dZ, layer.A_prev, layer.W)\n"
         "        grads.append((dW, db))\n"
         "    return grads[::-1]\n", namespace)
    passed, out = grade(nn.grade_backward, namespace["backward"], capsys)
    assert not passed
    assert ("cannot unpack non-iterable NoneType object (it calls layer_backward, whose body is "
            "still empty: write that one first)") in out, out


@pytest.mark.parametrize("fn, message", [
    (lambda Z, t: softmax(Z.T).T - nn.one_hot_convert(t, Z.shape[0]),
     r"it equals the softmax normalised along axis=1 \(over the samples\)"),
])
def test_a_softmax_over_the_wrong_axis_is_named(fn, message, capsys):
    passed, out = grade(nn.grade_output_gradient, fn, capsys)
    assert not passed and len(re.findall(message, out)) == 3, out


def test_whole_rows_of_P_minus_one_are_named(capsys):
    def whole_rows(Z, t):
        P = softmax(Z)
        P[t, :] -= 1
        return P
    passed, out = grade(nn.grade_output_gradient, whole_rows, capsys)
    assert not passed
    assert len(re.findall(r"it equals P\[t, :\] -= 1, which subtracts 1 along whole rows", out)) == 3, out


@pytest.mark.parametrize("activation, fn, message", [
    ("tanh", lambda Z: 1 - Z**2, r"1 - z\^2: square tanh\(z\), not z"),
    ("sigmoid", lambda Z: nn.sigmoid(Z) * (1 - Z), r"sigmoid\(z\) \(1 - z\): the factor is 1 - sigmoid\(z\)"),
    ("sigmoid", lambda Z: Z * (1 - Z), r"z \(1 - z\): f' = f\(z\) \(1 - f\(z\)\) is written with f\(z\)"),
])
def test_derivatives_written_with_z_for_f_are_named(activation, fn, message, capsys):
    passed, out = grade(lambda f: nn.grade_activation_derivative(f, activation), fn, capsys)
    assert not passed and len(re.findall(message, out)) == 2, out


def make_batchnorm_mistake(kind):
    def backward(dY, Zhat, sigma, gamma):
        n = dY.shape[1]
        mean = lambda A: A.sum(axis=1, keepdims=True) / (n - 1 if kind == "n - 1" else n)
        last = (dY * Zhat).sum(axis=1, keepdims=True) / (n - 1 if kind in ("n - 1", "n - 1 last") else n)
        scale = gamma if kind == "no sigma" else gamma / sigma
        return (scale * (dY - mean(dY) - Zhat * last), np.sum(dY * Zhat, axis=1, keepdims=True),
                dY.sum(axis=1, keepdims=True))
    return backward


@pytest.mark.parametrize("kind, message", [
    ("n - 1", r"dZ: WRONG .*: it equals the compact formula with 1 / \(n - 1\) in its means"),
    ("n - 1 last", r"dZ: WRONG .*: it equals the compact formula with 1 / \(n - 1\) in its last term"),
    ("no sigma", r"dZ: WRONG .*: it equals the compact formula without the factor 1 / sigma"),
])
def test_more_batchnorm_mistakes_are_named(kind, message, capsys):
    passed, out = grade(nn.grade_batchnorm_backward, make_batchnorm_mistake(kind), capsys)
    assert not passed and re.search(message, out), out
    assert "dgamma: correct" in out and "dbeta: correct" in out, out


def make_adam_mistake(kind):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        b_m, b_v = (beta2, beta1) if kind == "swapped" else (beta1, beta2)
        m *= b_m
        m += (1 - b_m) * dP
        v *= b_v
        v += (1 - b_v) * dP**2
        power_m = power_v = k
        if kind == "k - 1":
            power_m = power_v = k - 1
        correction_v = 1 - (beta1 if kind == "beta1 for v" else b_v) ** power_v
        correction_m = 1 - b_m ** power_m
        if kind == "no power":
            correction_m, correction_v = 1 - beta1, 1 - beta2
        with np.errstate(divide="ignore", invalid="ignore"):
            P -= lr * (m / correction_m) / (np.sqrt(v / correction_v) + eps)
    return adam_step


@pytest.mark.parametrize("kind, message", [
    ("swapped", r"step 2: m: WRONG .*: it equals m with beta2: m's decay is beta1"),
    ("swapped", r"step 2: v: WRONG .*: it equals v with beta1: v's decay is beta2"),
    ("beta1 for v", r"step 1: P's update: WRONG .*: it equals the step with v corrected by 1 - beta1\^k"),
    ("no power", r"step 2: P's update: WRONG .*: it equals the step with corrections 1 - beta1 and 1 - beta2: the power k is missing"),
    ("k - 1", r"step 1: P's update: contains NaN or inf .*an exponent k - 1 makes 1 - beta\^0 = 0 at step 1"),
    ("k - 1", r"step 2: P's update: WRONG .*the power k is missing \(or the exponent is k - 1\)"),
    ("k - 1", r"step 3: P's update: WRONG .*: it equals the step with k - 1 in the corrections"),
])
def test_more_adam_mistakes_are_named(kind, message, capsys):
    passed, out = grade(nn.grade_adam_step, make_adam_mistake(kind), capsys)
    assert not passed and re.search(message, out), out


def test_an_empty_function_named_like_an_attribute_is_not_blamed(capsys):
    namespace = {}
    exec("def backward(model):\n    ...\n\n"
         "def loop(model, X, t, optimizer, epochs, batch_size, rng):\n"
         "    model.loss(X, t)\n"
         "    model.backward()\n"
         "    raise RuntimeError('a bug of its own')\n", namespace)
    passed, out = grade(nn.grade_training_loop, namespace["loop"], capsys)
    assert not passed and "a bug of its own" in out and "still empty" not in out, out


def test_an_empty_helper_is_named_when_its_none_is_returned_or_used_in_a_comprehension(capsys):
    namespace = {}
    exec("def helper(dZ, A_prev, W):\n    ...\n\n"
         "def layer_backward(dZ, A_prev, W):\n    return helper(dZ, A_prev, W)\n\n"
         "def backward(model):\n"
         "    return [helper(model.dZ_L, layer.A_prev, layer.W)[:2] for layer in model.layers]\n",
         namespace)
    passed, out = grade(nn.grade_layer_backward, namespace["layer_backward"], capsys)
    assert not passed
    assert "returned None - it calls helper, whose body is still empty: write that one first" in out, out
    passed, out = grade(nn.grade_backward, namespace["backward"], capsys)
    assert not passed and "(it calls helper, whose body is still empty" in out, out


# ---------------------------------------------------------------------------
# Audit round 11: mistakes a learner makes that were named wrongly or not at all
# ---------------------------------------------------------------------------

def adam_with(update_m=None, update_v=None, step=None, update_P=True):
    """An Adam step with one part written differently (each a function of the usual names)."""
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        if update_m:
            m[...] = update_m(m, dP, beta1)
        else:
            m *= beta1
            m += (1 - beta1) * dP
        if update_v:
            v[...] = update_v(v, dP, beta2)
        else:
            v *= beta2
            v += (1 - beta2) * dP**2
        if update_P:
            m_hat, v_hat = m / (1 - beta1**k), v / (1 - beta2**k)
            P += step(m, v, m_hat, v_hat, k, lr, beta1, beta2, eps) if step else (
                -lr * m_hat / (np.sqrt(v_hat) + eps))
    return adam_step


@pytest.mark.parametrize("fn, message", [
    (adam_with(step=lambda m, v, m_hat, v_hat, k, lr, beta1, beta2, eps:
               -lr * (m / 1 - beta1**k) / (np.sqrt(v / 1 - beta2**k) + eps)),
     r"contains NaN or inf \(a division by zero, or the square root of a negative number\?.*"
     r"brackets matter: v / \(1 - beta2\*\*k\), not v / 1 - beta2\*\*k"),
    (adam_with(update_m=lambda m, dP, beta1: (1 - beta1) * m + beta1 * dP),
     r"step 1: m: WRONG .*: it equals m with its two weights swapped"),
    (adam_with(update_v=lambda v, dP, beta2: (1 - beta2) * v + beta2 * dP**2),
     r"step 1: v: WRONG .*: it equals v with its two weights swapped"),
    (adam_with(step=lambda m, v, m_hat, v_hat, k, lr, beta1, beta2, eps: -lr * m_hat / np.sqrt(v_hat)),
     r"step 1: P's update: WRONG .*: it equals the step without eps"),
    (adam_with(step=lambda m, v, m_hat, v_hat, k, lr, beta1, beta2, eps:
               -(lr * m_hat / np.sqrt(v_hat) + eps)),
     r"step 1: P's update: WRONG .*: it equals the step with eps added after the division"),
    (adam_with(step=lambda m, v, m_hat, v_hat, k, lr, beta1, beta2, eps:
               -lr * np.sqrt(1 - beta2**k) / (1 - beta1**k) * m / (np.sqrt(v) + eps)),
     r"step 1: P's update: WRONG .*: it equals the step in the paper's 'efficient' form"),
    (adam_with(update_P=False),
     r"step 2: P's update: WRONG .*: it equals a zero step: P did not change; the update of P is not written yet"),
])
def test_adam_mistakes_of_round_11_are_named(fn, message, capsys):
    passed, out = grade(nn.grade_adam_step, fn, capsys)
    assert not passed
    assert re.search(message, out), out


def test_an_adam_step_that_counts_its_calls_instead_of_using_k_fails():
    calls = []

    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        calls.append(k)
        count = len(calls)                      # ignores k: right only for steps 1, 2, 3, ...
        m *= beta1
        m += (1 - beta1) * dP
        v *= beta2
        v += (1 - beta2) * dP**2
        P -= lr * (m / (1 - beta1**count)) / (np.sqrt(v / (1 - beta2**count)) + eps)

    assert not nn.grade_adam_step(adam_step)
    assert calls == [1, 2, 3, 10]


def test_an_adam_step_that_changes_dP_in_place_is_refused(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        dP *= 1 - beta1                         # the caller's gradient changes
        m *= beta1
        m += dP
        v *= beta2
        v += (1 - beta2) * (dP / (1 - beta1))**2
        P -= lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps)

    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert "step 1 changed dP in place: the gradient is an input" in out, out


def test_the_output_gradient_refuses_nn_softmax(capsys):
    passed, out = grade(nn.grade_output_gradient,
                        lambda Z, t: nn.softmax(Z) - nn.one_hot_convert(t, Z.shape[0]), capsys)
    assert not passed
    assert "your function calls nn.softmax, the module's own" in out, out


@pytest.mark.parametrize("grader, fn, part, message", [
    (nn.grade_layer_backward, lambda dZ, A_prev, W: (dZ @ A_prev.T, dZ.sum(axis=1, keepdims=True),
                                                     W.T @ dZ / dZ.shape[1]),
     "dA_prev", "it equals W^T dZ / n: dZ already carries the 1/n"),
    (nn.grade_batchnorm_backward, lambda dY, Zhat, sigma, gamma:
        batchnorm_backward(dY, Zhat, sigma, gamma)[:1]
        + (np.mean(dY * Zhat, axis=1, keepdims=True), np.sum(dY, axis=1, keepdims=True)),
     "dgamma", "it equals the mean of dY * zhat over the samples"),
    (nn.grade_batchnorm_backward, lambda dY, Zhat, sigma, gamma:
        batchnorm_backward(dY, Zhat, sigma, gamma)[:2] + (np.mean(dY, axis=1, keepdims=True),),
     "dbeta", "it equals the mean of dY over the samples"),
    (nn.grade_batchnorm_backward, lambda dY, Zhat, sigma, gamma:
        (batchnorm_backward(dY, Zhat, sigma, gamma)[0] / dY.shape[1],)
        + batchnorm_backward(dY, Zhat, sigma, gamma)[1:],
     "dZ", "it equals the compact formula divided by n once more"),
])
def test_a_one_over_n_too_many_is_named_in_every_part(grader, fn, part, message, capsys):
    passed, out = grade(grader, fn, capsys)
    assert not passed
    line = next(line for line in out.splitlines() if line.strip().startswith(f"{part}:"))
    assert message in line, out


def make_loop(order_once=False, double_step=False, split=False, rows=False):
    def train_loop(model, X, t, optimizer, epochs, batch_size, rng):
        rng, n, losses = np.random.default_rng(rng), X.shape[1], []
        once = rng.permutation(n) if order_once else None
        for _ in range(epochs):
            order = once if order_once else rng.permutation(n)
            batches = (np.array_split(order, -(-n // batch_size)) if split else
                       [order[i:i + batch_size] for i in range(0, n, batch_size)])
            total = 0.0
            for batch in batches:
                loss = model.loss(X[batch] if rows else X[:, batch], t[batch])
                model.backward()
                optimizer.step()
                if double_step:
                    optimizer.step()
                total += loss * len(batch)
            losses.append(total / n)
        return losses
    return train_loop


def test_a_permutation_drawn_once_before_the_epochs_gets_the_right_fix(capsys):
    passed, out = grade(nn.grade_training_loop, make_loop(order_once=True), capsys)
    assert not passed
    assert "same order in every epoch: draw order = rng.permutation(N) inside the epoch loop" in out, out


def test_the_closing_note_names_one_step_per_batch(capsys):
    passed, out = grade(nn.grade_training_loop, make_loop(double_step=True), capsys)
    assert not passed
    assert "each batch makes exactly one optimizer.step(), with the optimizer you were given" in out, out


def test_a_loop_with_other_batches_gets_the_note_even_when_one_case_is_right(capsys):
    passed, out = grade(nn.grade_training_loop, make_loop(split=True), capsys)
    assert not passed
    assert "batch_size = 10: epoch losses: correct" in out, out     # array_split agrees there
    assert "check that it draws the batches nn.train draws" in out, out


def test_samples_indexed_as_rows_get_the_column_hint(capsys):
    passed, out = grade(nn.grade_training_loop, make_loop(rows=True), capsys)
    assert not passed
    assert "IndexError" in out and "samples are the columns: X[:, batch] and t[batch]" in out, out


def backward_gated(forget=(), gate_output=False):
    """A learner's backward pass with the ReLU gate left out at the hidden layers in `forget`,
    or applied to the output layer's dZ_L too."""
    def backward(model):
        dZ = model.dZ_L * nn.d_relu(model.layers[-1].Z) if gate_output else model.dZ_L
        grads = []
        for l in range(len(model.layers), 0, -1):
            layer = model.layers[l - 1]
            grads.append((dZ @ layer.A_prev.T, dZ.sum(axis=1, keepdims=True)))
            if l > 1:
                dZ = layer.W.T @ dZ
                if l - 1 not in forget:
                    dZ = nn.d_relu(model.layers[l - 2].Z) * dZ
        return grads[::-1]
    return backward


@pytest.mark.parametrize("fn, wrong, message", [
    (backward_gated(forget={1}), ["layer 1 dW", "layer 1 db"],
     "it equals the gradient with the ReLU mask f'(Z_1) forgotten at layer 1"),
    (backward_gated(forget={2}), ["layer 1 dW", "layer 1 db"],
     "it equals the gradient with the ReLU mask f'(Z_2) forgotten at layer 2"),
    (backward_gated(gate_output=True), ["layer 3 dW", "layer 2 dW", "layer 1 dW"],
     "it equals the gradient with the ReLU gate applied to the output layer too"),
])
def test_a_relu_gate_forgotten_in_one_layer_or_added_at_the_output_is_named(fn, wrong, message, capsys):
    passed, out = grade(nn.grade_backward, fn, capsys)
    assert not passed
    lines = {line.split(":")[0].strip(): line for line in out.splitlines() if ":" in line}
    for part in wrong:
        assert message in lines[part], out
