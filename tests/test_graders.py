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

def output_gradient(Z, t):
    return nn.softmax(Z) - nn.one_hot_convert(t, Z.shape[0])


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


def make_train_loop(shuffle=True, weigh=True):
    def train_loop(model, X, t, optimizer, epochs, batch_size, rng):
        n, losses = X.shape[1], []
        for _ in range(epochs):
            order = rng.permutation(n) if shuffle else np.arange(n)
            total = count = 0
            for start in range(0, n, batch_size):
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
    (nn.grade_output_gradient, output_gradient, 2),
    (nn.grade_layer_backward, layer_backward, 3),
    (nn.grade_backward, make_backward(), 6),
    (nn.grade_training_loop, make_train_loop(), 2),
    (nn.grade_adam_step, make_adam_step(), 9),
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
    (lambda Z, t: nn.softmax(Z), r"it equals P alone: the - T is missing"),
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
    assert "Delta, logits near 1000: contains NaN or inf" in out


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
    (make_train_loop(shuffle=False), "without shuffling"),
    (make_train_loop(weigh=False), "weigh each by its batch size"),
])
def test_wrong_training_loops(fn, message, capsys):
    passed, out = grade(nn.grade_training_loop, fn, capsys)
    assert not passed
    assert message in out, out


@pytest.mark.parametrize("fn, message", [
    (make_adam_step(correct_bias=False), "without the bias corrections"),
    (make_adam_step(eps_inside=True), r"step 1: P: WRONG \(relative error .*\): it equals the step with eps inside the square root"),
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
    assert "left P unchanged: update P, m and v in place" in out


def test_an_adam_step_that_rebinds_m_and_v(capsys):
    def adam_step(P, dP, m, v, k, lr, beta1, beta2, eps):
        m = beta1 * m + (1 - beta1) * dP           # a new array: the caller's m stays 0
        v = beta2 * v + (1 - beta2) * dP**2
        P -= lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps)

    passed, out = grade(nn.grade_adam_step, adam_step, capsys)
    assert not passed
    assert "step 1: m: WRONG (relative error 1): it equals the array as it was before the step: update it in place (m *= beta1; m += ...)" in out
    assert "step 1: v: WRONG (relative error 1): it equals the array as it was before the step: update it in place (v *= beta2; v += ...)" in out
    assert "step 1: P: correct" in out


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
    (lambda Z: 1 - np.tanh(Z.reshape(-1, 1)) ** 2, r"wrong shape \(40, 1\), expected \(40,\)"),
])
def test_wrong_tanh_derivatives(fn, message, capsys):
    passed, out = grade(nn.grade_activation_derivative, fn, capsys)
    assert not passed
    assert re.search(message, out), out


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
