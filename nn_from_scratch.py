"""A fully connected neural network classifier, derived by hand and written in NumPy.

The one helper module of the nn-from-scratch notebooks. It reads top to bottom
in the order of the lessons: building blocks, the classifier (forward, loss,
backward), optimizers, training, gradient checking, graders for the exercises,
data and figures. The argument checks are gathered at the end, apart from the
mathematics: every public function checks its arguments in its first lines and
then computes exactly the equations in its docstring. Settings that may change after
construction (a learning rate, eps, ...) are declared with their bounds (_setting) and
checked on every assignment by those same functions.

Notation (the notation card of 01_derivation)
---------------------------------------------
* A mini-batch is a matrix whose **columns are samples**: ``X`` has shape
  ``(d_0, n)``; sample ``s`` is column ``s``.
* Labels ``t`` are integers in ``0, ..., K-1``, shape ``(n,)``; the one-hot
  targets ``T = one_hot_convert(t, K)`` have shape ``(K, n)``.
* Layer ``l = 1, ..., L`` computes ``Z_l = W_l A_{l-1} + b_l`` and
  ``A_l = f(Z_l)``, with ``A_0 = X``, the activation ``f`` (ReLU by default) in the
  hidden layers and the softmax on the logits ``Z_L``. ``W_l`` has shape
  ``(d_l, d_{l-1})``.
* The loss ``L`` is the mean over the mini-batch of the per-sample negative
  log-likelihood ``L_s``, plus ``(l2 / 2) sum_l ||W_l||_F^2`` when ``l2 > 0``.
* A name that starts with ``d`` is a gradient of ``L`` with respect to the rest of
  the name and has its shape: ``dW`` is dL/dW_l, ``dZ_L = (softmax(Z_L) - T) / n``.
  The per-sample error signal is ``Delta_l = n dZ_l`` (column s is dL_s/dz_l).
* Randomness is explicit: whatever draws numbers takes ``rng``, an int seed or
  a ``np.random.Generator``. Nothing here touches the global ``np.random``.
"""
import contextlib
import copy
import dis
import inspect
import itertools
import os
import re
import sys
import sysconfig
import traceback
import zipfile
from collections import Counter, namedtuple
from collections.abc import Mapping, Set
from decimal import Decimal
from numbers import Integral, Real
from os import PathLike
from pathlib import Path

import numpy as np
from scipy.special import expit

__all__ = [
    "relu", "d_relu", "leaky_relu", "d_leaky_relu", "tanh", "d_tanh", "sigmoid",
    "d_sigmoid", "ACTIVATIONS", "one_hot_convert", "log_sum_exp", "softmax",
    "softmax_cross_entropy", "Linear", "BatchNorm", "NNClassifier", "SGD", "Momentum",
    "Adam", "train", "accuracy", "repeat_over_seeds", "mean_sd", "binomial_se",
    "central_difference", "relative_error", "gradient_check", "grade_output_gradient",
    "grade_layer_backward", "grade_backward", "grade_training_loop", "grade_adam_step",
    "grade_activation_derivative", "grade_batchnorm_backward",
    "load_digits_split",
    "figures_dir", "save_fig", "save_animation", "plot_decision_boundary",
]


# ============================================================================
# 1. Building blocks
# ============================================================================

# Activations, each beside its derivative. Every one keeps the shape and float
# dtype of its input (integers become float64) and is safe for any finite input
# (no overflow). _as_float_array (section 8) is that conversion.

def relu(Z):
    """ReLU, f(z) = max(0, z), elementwise."""
    Z = _as_float_array(Z, "Z")
    return np.maximum(Z, 0)


def d_relu(Z):
    """f'(z) = 1 if z > 0 else 0. (f has a kink at 0; like every framework we take f'(0) = 0.)"""
    Z = _as_float_array(Z, "Z")
    return (Z > 0).astype(Z.dtype)


LEAKY_SLOPE = 0.01


def leaky_relu(Z):
    """Leaky ReLU, f(z) = z if z > 0 else 0.01 z: a small slope keeps negative units alive."""
    Z = _as_float_array(Z, "Z")
    return np.where(Z > 0, Z, LEAKY_SLOPE * Z)


def d_leaky_relu(Z):
    """f'(z) = 1 if z > 0 else 0.01 (0.01 at the kink, as for ReLU's f'(0) = 0)."""
    Z = _as_float_array(Z, "Z")
    return np.where(Z > 0, 1, LEAKY_SLOPE).astype(Z.dtype)


def tanh(Z):
    """Hyperbolic tangent, f(z) = (e^z - e^-z) / (e^z + e^-z), in (-1, 1) and centred on 0."""
    Z = _as_float_array(Z, "Z")
    return np.tanh(Z)


def d_tanh(Z):
    """f'(z) = 1 - tanh(z)^2, at most 1 (at z = 0)."""
    Z = _as_float_array(Z, "Z")
    return 1 - np.tanh(Z) ** 2


def sigmoid(Z):
    """Logistic sigmoid, f(z) = 1 / (1 + e^-z), in (0, 1). scipy's expit never overflows."""
    Z = _as_float_array(Z, "Z")
    return expit(Z).astype(Z.dtype, copy=False)      # expit computes float16 in float32


def d_sigmoid(Z):
    """f'(z) = f(z) (1 - f(z)), at most 1/4 (at z = 0)."""
    S = sigmoid(Z)
    return S * (1 - S)


ACTIVATIONS = {"relu": (relu, d_relu), "leaky_relu": (leaky_relu, d_leaky_relu),
               "tanh": (tanh, d_tanh), "sigmoid": (sigmoid, d_sigmoid)}


def one_hot_convert(t, n_classes, dtype=np.float64):
    """One-hot targets T, shape (K, n), from integer labels t, shape (n,): T[k, s] = [t_s == k].

    T has the float dtype of the model, so that softmax(Z) - T promotes nothing.
    """
    t, n_classes, dtype = _check_one_hot(t, n_classes, dtype)
    T = np.zeros((n_classes, t.shape[0]), dtype=dtype)
    T[t, np.arange(t.shape[0])] = 1
    return T


def log_sum_exp(Z):
    """log sum_k exp(Z[k, s]) for every column s, shape (1, n), without overflow
    (for a 1-D vector of K logits, shape (1,)).

    With m_s = max_k Z[k, s]:  log sum_k exp(z_k) = m_s + log sum_k exp(z_k - m_s),
    and every exponent is <= 0.
    """
    Z = _check_logits(Z)
    m = Z.max(axis=0, keepdims=True)
    with np.errstate(over="ignore"):    # z_k - m beyond the float range is -inf: exp gives 0
        return m + np.log(np.exp(Z - m).sum(axis=0, keepdims=True))


def softmax(Z):
    """Column-wise softmax, exp(z_k) / sum_j exp(z_j), without overflow.

    Shifting every z_j by m = max_j z_j changes nothing in the ratio and keeps every
    exponent <= 0. (exp(z - log_sum_exp(z)) would be as safe, but rounding log_sum_exp
    costs a relative error of about eps |m| for large logits.)
    """
    Z = _check_logits(Z)
    with np.errstate(over="ignore"):    # z_k - m beyond the float range is -inf: exp gives 0
        E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


def softmax_cross_entropy(Z, t, mean=True):
    """Negative log-likelihood of labels t under softmax(Z), and its gradient with respect to Z.

        L_s = -z_{t_s, s} + log sum_k exp(z_{k, s})          (per sample s)
        dL_s/dz_s = softmax(z_s) - T[:, s]

    With mean=True returns (L, dZ): the mean loss L = (1/n) sum_s L_s, a float, and
    dZ = (softmax(Z) - T) / n, its gradient. With mean=False returns (losses, Delta):
    the n per-sample losses and Delta = softmax(Z) - T, whose column s is dL_s/dz_s.
    Raises FloatingPointError when the loss overflows (finite logits about 1e308 apart).
    """
    Z, t = _check_logits_and_labels(Z, t)
    mean = _check_bool(mean, "mean")
    n = Z.shape[1]
    with np.errstate(over="ignore"):    # finite logits near 1e308 can overflow: checked below
        losses = log_sum_exp(Z)[0] - Z[t, np.arange(n)]
        loss = losses.mean()
    _check_finite_losses(loss)
    Delta = softmax(Z)
    Delta[t, np.arange(n)] -= 1                       # softmax(Z) - T, T one-hot
    if mean:
        return float(loss), Delta / n
    return losses, Delta


class _Setting(property):
    """A property that knows the bounds its number was checked against."""


def _setting(name, clears_cache=False, **bounds):
    """A number attribute checked on every assignment (by _number, section 8) as the
    float its model computes with. A model's setting also makes its cached pass stale."""
    def get(self):
        return getattr(self, "_" + name)

    def set(self, value):
        setattr(self, "_" + name, _number(value, name, _dtype_of(self), **bounds))
        if clears_cache:
            self.clear_cache()
    setting = _Setting(get, set)
    setting.bounds = bounds
    return setting


class Linear:
    """A fully connected layer: Z = W X + b.

    W, shape (n_out, n_in), starts from He initialisation, W_ij ~ N(0, 2 / n_in);
    b, shape (n_out, 1), from zeros. With bias=False the layer has no b (batch
    normalisation, which follows it, subtracts any constant anyway).
    dW and db hold the gradients that NNClassifier.backward fills.
    """

    def __init__(self, n_in, n_out, rng=None, dtype=np.float64, bias=True):
        n_in, n_out, rng, dtype, bias = _check_linear(n_in, n_out, rng, dtype, bias)
        # Drawn in float64 and rounded, so float32 and float64 models built from the
        # same seed start from the same weights (up to rounding).
        self.W = (rng.standard_normal((n_out, n_in)) * np.sqrt(2.0 / n_in)).astype(dtype)
        self.b = np.zeros((n_out, 1), dtype=dtype) if bias else None
        self.dW = self.db = None
        self.A_prev = self.Z = None

    def __call__(self, X, cache=False):
        """Z = W X + b for X of shape (n_in, n): Z has shape (n_out, n).

        With cache=True the layer keeps its input X as A_prev and its output as Z (by
        reference) for the backward pass: dW = dZ A_prev^T needs A_prev, f'(Z) needs Z.
        """
        X = _check_layer_input(X, _check_linear_parameters(self))
        Z = self.W @ X if self.b is None else self.W @ X + self.b
        if _check_bool(cache, "cache"):
            self.A_prev, self.Z = X, Z
        return Z


class BatchNorm:
    """Batch normalisation of each unit over the mini-batch (Ioffe and Szegedy 2015).

    For Z of shape (d, n), per unit (row), over the n samples:
        mu = mean_s z_s,  var = mean_s (z_s - mu)^2,  sigma = sqrt(var + eps)
        zhat = (z - mu) / sigma,   y = gamma zhat + beta
    gamma and beta, shape (d, 1), are learnt (they start at 1 and 0). Training uses
    the batch's mu and var and updates the running averages
        running_mean <- (1 - momentum) running_mean + momentum mu
        running_var  <- (1 - momentum) running_var  + momentum var n / (n - 1)
    which evaluation uses in their place. Backward, in compact form (11_batch_norm),
    for dY = dL/dY:
        dgamma = sum_s dY zhat,   dbeta = sum_s dY,
        dZ = (gamma / sigma) (dY - mean_s dY - zhat mean_s(dY zhat))
    """

    def __init__(self, n_units, dtype=np.float64, eps=1e-5, momentum=0.1):
        n_units, dtype = _check_batch_norm(n_units, dtype)
        self.gamma = np.ones((n_units, 1), dtype=dtype)
        self.beta = np.zeros((n_units, 1), dtype=dtype)
        self.running_mean = np.zeros((n_units, 1), dtype=dtype)
        self.running_var = np.ones((n_units, 1), dtype=dtype)
        self.dgamma = self.dbeta = None
        self.Zhat = self.sigma = None
        self.eps, self.momentum = eps, momentum        # checked by the properties below

    eps = _setting("eps", low=0, low_open=True)
    momentum = _setting("momentum", low=0, low_open=True, high=1)

    def __call__(self, Z, training=False):
        """Y = gamma zhat + beta; training=True normalises with the batch's statistics."""
        Z = _check_norm_input(Z, self, training)
        if training:
            n = _check_batch_norm_batch(Z)
            with np.errstate(over="ignore", invalid="ignore"):     # checked on the next line
                mu = Z.mean(axis=1, keepdims=True)
                var = Z.var(axis=1, keepdims=True)
            _check_batch_statistics(mu, var)    # before they reach the running averages
            self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mu
            self.running_var = ((1 - self.momentum) * self.running_var
                                + self.momentum * var * (n / (n - 1)))
            self.sigma = np.sqrt(var + self.eps)
            self.Zhat = (Z - mu) / self.sigma
            return self.gamma * self.Zhat + self.beta
        Zhat = (Z - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return self.gamma * Zhat + self.beta

    def backward(self, dY):
        """Fill dgamma and dbeta and return dZ, for dY = dL/dY of the last training call."""
        dY = _check_norm_backward(dY, self)
        self.dgamma = np.sum(dY * self.Zhat, axis=1, keepdims=True)
        self.dbeta = np.sum(dY, axis=1, keepdims=True)
        return (self.gamma / self.sigma) * (dY - dY.mean(axis=1, keepdims=True)
                                            - self.Zhat * np.mean(dY * self.Zhat, axis=1,
                                                                  keepdims=True))


# ============================================================================
# 2. The classifier
# ============================================================================

class NNClassifier:
    """A fully connected classifier: hidden layers with an activation, a softmax output.

    Parameters
    ----------
    units : sequence of int
        Widths d_0, ..., d_L from the input to the output: [2, 10, 2] is 2 features,
        one hidden layer of 10 units and K = 2 classes.
    rng : int, np.random.Generator or None
        Source of the initial weights and of the dropout masks.
    dtype : np.float32 or np.float64
        Every array the model makes has this dtype.
    l2 : float >= 0
        L2 penalty: the loss gains (l2 / 2) sum_l ||W_l||_F^2 (weights only). With
        plain SGD this is weight decay; with Adam it is not (08_regularization).
    dropout : float in [0, 1)
        Probability of zeroing a hidden unit in the training pass (inverted dropout).
    activation : "relu", "leaky_relu", "tanh" or "sigmoid"
        The hidden layers' f.
    batch_norm : bool
        Normalise every hidden layer's Z_l over the mini-batch before f (then its
        Linear has no b: BatchNorm's beta takes its place).

    Usage: ``loss = model.loss(X, t); model.backward(); optimizer.step()``.
    """

    def __init__(self, units, rng=None, dtype=np.float64, l2=0.0, dropout=0.0,
                 activation="relu", batch_norm=False):
        self._units = _check_units(units)
        self._dtype = _as_float_dtype(dtype)
        self.rng = rng
        self.activation = activation      # the properties below check these four
        self.l2 = l2
        self.dropout = dropout
        self._batch_norm = _check_bool(batch_norm, "batch_norm")
        L = len(self.units) - 1
        self.layers = [Linear(d_in, d_out, self.rng, self.dtype,
                              bias=not (self.batch_norm and l < L))
                       for l, (d_in, d_out) in enumerate(zip(self.units[:-1], self.units[1:]),
                                                         start=1)]
        self.norms = ([BatchNorm(d, self.dtype) for d in self.units[1:-1]]
                      if self.batch_norm else [])
        self.clear_cache()

    l2 = _setting("l2", clears_cache=True, low=0)
    dropout = _setting("dropout", clears_cache=True, low=0, below=1)

    @property
    def rng(self):
        return self._rng

    @rng.setter
    def rng(self, rng):
        self._rng = _as_rng(rng)

    # units, dtype and batch_norm decide which layers and parameters exist, and their
    # shapes and dtype: they are fixed when the model is built.
    units = property(lambda self: self._units, lambda self, value: _fixed("units"))
    dtype = property(lambda self: self._dtype, lambda self, value: _fixed("dtype"))
    batch_norm = property(lambda self: self._batch_norm, lambda self, value: _fixed("batch_norm"))

    @property
    def n_classes(self):
        """K, the width of the output layer."""
        return self._units[-1]

    @property
    def activation(self):
        return self._activation

    @activation.setter
    def activation(self, name):
        self._activation = _check_activation(name)
        self.clear_cache()                # the cached pass used the old f

    def clear_cache(self):
        """Forget the last training pass: backward() then needs a new loss()."""
        self.dZ_L = None
        self._pass_arrays = {}                        # the parameters the pass used
        self._H = [None] * (len(self.units) - 2)      # hidden pre-activations
        self._masks = [None] * (len(self.units) - 2)  # dropout masks (already divided by 1 - rho)

    def __repr__(self):
        options = [f"dtype={self.dtype}"] + [
            f"{name}={value!r}" for name, value, default in (
                ("activation", self.activation, "relu"), ("batch_norm", self.batch_norm, False),
                ("l2", self.l2, 0.0), ("dropout", self.dropout, 0.0)) if value != default]
        return f"NNClassifier({self.units}, {', '.join(options)})"

    # -- the forward pass -------------------------------------------------------

    def forward(self, X, training=False):
        """Logits Z_L, shape (K, n), for X of shape (d_0, n):

            A_0 = X,  Z_l = W_l A_{l-1} + b_l,  A_l = f(Z_l)  (l < L),  Z_L = W_L A_{L-1} + b_L

        With batch normalisation, A_l = f(BN(Z_l)). training=True is the training pass
        that loss() makes: it drops hidden units when dropout > 0, normalises with the
        batch's statistics and updates the running ones, and caches the layers' inputs
        (evaluation: normalises with the running ones and changes nothing). Only loss()
        adds dZ_L, which backward() needs: a forward(X, training=True) of its own
        discards the last loss()'s pass.
        Raises FloatingPointError if a logit is not finite.
        """
        X = _check_X(X, self.units[0], self.dtype)
        return self._forward(X, _check_bool(training, "training"))

    def _forward(self, A, training):
        _check_parameters(self)
        f = ACTIVATIONS[self.activation][0]
        if training:
            self.clear_cache()
            with _restored_on_failure(self):
                return self._forward_pass(A, f, training)
        return self._forward_pass(A, f, training)

    def _forward_pass(self, A, f, training):
        with np.errstate(over="ignore", invalid="ignore"):   # reported below, not warned
            for l, layer in enumerate(self.layers[:-1], start=1):
                H = layer(A, cache=training)                        # Z_l
                if self.batch_norm:
                    H = self.norms[l - 1](H, training)              # BN(Z_l)
                A = f(H)
                if training:
                    self._H[l - 1] = H
                    if self.dropout:
                        # Inverted dropout: keep a unit with probability 1 - rho and
                        # divide by 1 - rho, so that the expected activation is the one
                        # evaluation sees (rho = self.dropout, 08_regularization).
                        kept = 1 - self.dropout
                        keep = self.rng.random(A.shape, dtype=self.dtype) < kept
                        self._masks[l - 1] = keep.astype(self.dtype) / kept
                        A = A * self._masks[l - 1]
            Z_L = self.layers[-1](A, cache=training)
        _check_finite_logits(Z_L, self, training)
        if training and self.batch_norm:
            _check_finite_statistics(self)
        return Z_L

    def loss(self, X, t):
        """Mean negative log-likelihood of labels t (n,) given X (d_0, n), plus the L2 penalty:

            L = (1/n) sum_s (-z_{t_s} + log sum_k exp(z_k)) + (l2 / 2) sum_l ||W_l||_F^2

        The training pass: it caches dZ_L = (softmax(Z_L) - T) / n for backward().
        Returns a float; raises FloatingPointError if the loss is not finite.
        """
        X, t = _check_X_and_labels(X, t, self)
        with _restored_on_failure(self):
            Z_L = self._forward(X, training=True)
            loss, self.dZ_L = softmax_cross_entropy(Z_L, t)
            if self.l2:                         # the data term is finite: checked above
                loss += self.l2 / 2 * sum(float(np.vdot(layer.W, layer.W)) for layer in self.layers)
                _check_finite_penalty(loss)
            return loss

    def backward(self):
        """Backpropagate the mini-batch of the last loss() (01_derivation, section 6).

        Fills dW_l, db_l for every layer l = L, ..., 1 (layer l is self.layers[l - 1]):
            dZ_L = (softmax(Z_L) - T) / n
            dW_l = dZ_l A_{l-1}^T  (+ l2 W_l),        db_l = sum over the batch of dZ_l
            dA_{l-1} = W_l^T dZ_l  (times the dropout mask of A_{l-1}, if any)
            dZ_{l-1} = f'(Z_{l-1}) * dA_{l-1}
        With batch normalisation f' is taken at BN(Z_{l-1}) and the result goes back
        through BatchNorm.backward, which also fills dgamma and dbeta.
        """
        _check_backward_ready(self)
        d_f = ACTIVATIONS[self.activation][1]
        dZ = self.dZ_L
        for l in range(len(self.layers), 0, -1):
            layer = self.layers[l - 1]
            layer.dW = dZ @ layer.A_prev.T
            if self.l2:
                layer.dW += self.l2 * layer.W
            if layer.b is not None:
                layer.db = dZ.sum(axis=1, keepdims=True)
            if l == 1:
                break                                   # nothing needs dL/dX
            dA = layer.W.T @ dZ                         # dA_{l-1}
            if self.dropout:
                dA *= self._masks[l - 2]
            dZ = d_f(self._H[l - 2]) * dA               # dZ_{l-1} (or dL/dBN(Z_{l-1}))
            if self.batch_norm:
                dZ = self.norms[l - 2].backward(dZ)

    def forward_probs(self, X):
        """Class probabilities softmax(Z_L), shape (K, n); every column sums to one."""
        return softmax(self.forward(X))

    def predict(self, X):
        """Most probable class of every column of X, shape (n,): argmax_k of Z_L."""
        return np.argmax(self.forward(X), axis=0)

    def nll(self, X, t, mean=True):
        """Negative log-likelihood in evaluation mode (no dropout, no penalty, running
        batch-norm statistics): the mean over the samples, or the n per-sample values."""
        X, t = _check_X_and_labels(X, t, self)
        mean = _check_bool(mean, "mean")
        return softmax_cross_entropy(self._forward(X, training=False), t, mean=mean)[0]

    def parameters(self):
        """Every parameter with its gradient: a list of (l, name, P, dP), layer l from 1.

        Names are "W" and "b", and "gamma" and "beta" for batch normalisation.
        The optimizers update exactly these arrays, in place.
        """
        params = []
        for l, layer in enumerate(self.layers, start=1):
            params.append((l, "W", layer.W, layer.dW))
            if layer.b is not None:
                params.append((l, "b", layer.b, layer.db))
            if self.batch_norm and l < len(self.layers):
                norm = self.norms[l - 1]
                params += [(l, "gamma", norm.gamma, norm.dgamma),
                           (l, "beta", norm.beta, norm.dbeta)]
        return params

    def copy(self):
        """An independent copy: parameters, settings, rng state and cache (copy.deepcopy)."""
        return copy.deepcopy(self)

    # -- persistence --------------------------------------------------------------

    def save(self, path):
        """Write the architecture, parameters and batch normalisation (statistics, eps and
        momentum) to an .npz file.

        np.savez, no pickle; like np.savez, adds the suffix .npz to a path that lacks it.
        """
        path = _npz_path(path)
        _check_parameters(self)
        arrays = {"units": np.array(self.units), "dtype": np.array(self.dtype.name),
                  "l2": np.array(self.l2), "dropout": np.array(self.dropout),
                  "activation": np.array(self.activation),
                  "batch_norm": np.array(self.batch_norm)}
        arrays.update(self._state_arrays())
        for l, norm in enumerate(self.norms, start=1):
            arrays[f"eps{l}"], arrays[f"momentum{l}"] = np.array(norm.eps), np.array(norm.momentum)
        np.savez(path, **arrays)

    def _state_arrays(self):
        """Every array save() writes besides the settings, by member name."""
        arrays = {}
        for l, name, P, _ in self.parameters():
            arrays[f"{name}{l}"] = P
        for l, norm in enumerate(self.norms, start=1):
            arrays[f"running_mean{l}"] = norm.running_mean
            arrays[f"running_var{l}"] = norm.running_var
        return arrays

    @classmethod
    def load(cls, path, rng=None):
        """Rebuild a model written by save(); rng seeds its dropout masks, if it has dropout.

        FileNotFoundError for a missing file; ValueError, naming the file and the member,
        for anything else that is not a model written by save(). Parameters load as they
        were saved, NaN included. A batch-norm file from before save() stored eps and
        momentum gets their defaults, as load() then gave it.
        """
        return _read_model_file(cls, _npz_path(path), _as_rng(rng))


# ============================================================================
# 3. Optimizers. Each step() reads every parameter's gradient and updates the
#    parameter in place. A model only needs parameters() (a list of
#    (l, name, P, dP)) and clear_cache(); 07_optimizers uses a 2-D toy.
# ============================================================================

class SGD:
    """Gradient descent on the mini-batch gradient:  P <- P - lr dP  for every parameter P.

    Giving an optimizer another model (optimizer.model = other) starts it afresh: the
    state of Momentum and Adam belongs to the old model's parameters.
    """

    def __init__(self, model, lr):
        self.model = model
        self.lr = lr

    @property
    def model(self):
        return self._model

    @model.setter
    def model(self, model):
        model = _check_new_model(self, model)
        if model is not getattr(self, "_model", model):
            self._forget_state()
        self._model = model

    def _forget_state(self):
        """Plain gradient descent keeps no state."""

    lr = _setting("lr", low=0, low_open=True)

    def step(self):
        for P, dP in _check_step(self.model):
            P -= self.lr * dP
        self.model.clear_cache()


class Momentum(SGD):
    """Gradient descent with momentum (Polyak 1964, in the form of Sutskever et al. 2013):

        v <- beta v - lr dP,    P <- P + v          (v starts at zero)

    v, an exponentially decaying sum of past steps, is kept per parameter in
    ``velocity`` (in the order of model.parameters()) once step() has run.
    """

    def __init__(self, model, lr, beta=0.9):
        super().__init__(model, lr)
        self.beta = beta
        self.velocity = None

    def _forget_state(self):
        self.velocity = None

    beta = _setting("beta", low=0, below=1)

    def step(self):
        params = _check_step(self.model)          # nothing is written unless all can be
        if self.velocity is None:
            self.velocity = [np.zeros_like(P) for P, _ in params]
        _check_state(params, self.velocity, "velocity")
        for (P, dP), v in zip(params, self.velocity):
            v *= self.beta
            v -= self.lr * dP
            P += v
        self.model.clear_cache()


class Adam(SGD):
    """Adam (Kingma and Ba 2015). At step number k = 1, 2, ...:

        m <- beta1 m + (1 - beta1) dP                  (first moment)
        v <- beta2 v + (1 - beta2) dP^2                (second moment)
        m_hat = m / (1 - beta1^k),  v_hat = v / (1 - beta2^k)       (bias correction)
        P <- P - lr m_hat / (sqrt(v_hat) + eps)

    State: m and v per parameter (in the order of model.parameters()) and k, the
    number of steps taken.
    """

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(model, lr)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.m = self.v = None
        self.k = 0

    def _forget_state(self):
        self.m = self.v = None
        self.k = 0

    @property
    def k(self):
        """The number of steps taken; step() takes step k + 1."""
        return self._k

    @k.setter
    def k(self, value):
        self._k = _check_step_count(value)

    beta1 = _setting("beta1", low=0, below=1)
    beta2 = _setting("beta2", low=0, below=1)
    eps = _setting("eps", low=0, low_open=True)

    def step(self):
        params = _check_step(self.model)          # nothing is written unless all can be
        if self.m is None:
            self.m = [np.zeros_like(P) for P, _ in params]
            self.v = [np.zeros_like(P) for P, _ in params]
        _check_state(params, self.m, "m")
        _check_state(params, self.v, "v")
        self.k += 1
        for (P, dP), m, v in zip(params, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * dP
            v *= self.beta2
            v += (1 - self.beta2) * dP**2
            m_hat = m / (1 - self.beta1**self.k)
            v_hat = v / (1 - self.beta2**self.k)
            P -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)
        self.model.clear_cache()


# ============================================================================
# 4. Training and measuring
# ============================================================================

def train(model, X, t, optimizer, epochs, batch_size, rng=None,
          X_val=None, t_val=None, callback=None):
    """Mini-batch training: every epoch shuffles the samples with rng and visits each once.

    X (d_0, N) and t (N,) are the N training samples. Each step takes the next batch_size
    columns of the shuffled order (the last batch of an epoch may be smaller), computes
    the loss, backpropagates and calls optimizer.step().

    Returns a dict of arrays with one entry per epoch:
      "loss": mean training loss over the epoch's N samples: each mini-batch's loss, as
              loss() returns it (with the L2 penalty and the dropout noise when those are
              on), weighted by the batch's size;
      "val_loss", "val_accuracy": on (X_val, t_val) after the epoch, in evaluation
              mode, when those are given.
    callback(epoch, model), if given, is called after every epoch (epoch from 1).
    An int rng starts the same shuffles at every call: to continue training over
    several calls with new orders, pass one np.random.Generator to all of them.

    Raises FloatingPointError, naming the epoch, the learning rate and the last finite
    batch loss, when a loss (training or validation) or a gradient stops being finite
    (or, if that happens before the first step of this call, saying that the input or
    the weights the model started from are the cause, not the learning rate). No step
    is taken with a non-finite gradient, so the parameters stay finite: they are those
    of the last step, whose loss overflowed or whose gradients did. (Only a learning rate so large that lr * dP itself overflows,
    near 1e300, can make them infinite; that is reported too.) Every argument is
    checked before the first update.
    """
    X, t, X_val, t_val, epochs, batch_size = _check_training(
        model, X, t, optimizer, epochs, batch_size, X_val, t_val, callback)
    rng = _as_rng(rng)
    N = X.shape[1]
    history = {"loss": []}
    if X_val is not None:
        history.update(val_loss=[], val_accuracy=[])
    last_loss = None                            # the last finite batch loss, for the error
    stepped = False                             # before the first step, lr is not to blame
    for epoch in range(1, epochs + 1):
        order = rng.permutation(N)
        total = 0.0
        for start in range(0, N, batch_size):
            batch = order[start:start + batch_size]
            with _named_divergence(epoch, optimizer, lambda: last_loss if stepped else None):
                loss = model.loss(X[:, batch], t[batch])
                last_loss = loss
                with np.errstate(over="ignore", invalid="ignore"):   # checked on the next line
                    model.backward()
                _check_finite(model, "gradients")
                with np.errstate(over="ignore", invalid="ignore"):   # checked on the next line
                    optimizer.step()
                stepped = True
                _check_finite(model, "parameters")
            total += loss * len(batch)          # the last batch may be smaller
        history["loss"].append(total / N)
        if X_val is not None:
            with _named_divergence(epoch, optimizer, lambda: last_loss, "; on the validation data"):
                history["val_loss"].append(model.nll(X_val, t_val))
                history["val_accuracy"].append(accuracy(model, X_val, t_val))
        if callback is not None:
            callback(epoch, model)
            if epoch < epochs:
                _check_still_training(model, optimizer, epoch)
    return {key: np.array(values) for key, values in history.items()}


def accuracy(model, X, t):
    """Fraction of the columns of X whose predicted class equals t."""
    X, t = _check_X_and_labels(X, t, _check_model(model))
    return float(np.mean(model.predict(X) == t))


def repeat_over_seeds(run, seeds=5):
    """[run(seed) for seed in seeds] as an array: a result over several seeds, not one.

    seeds is an int (then 0, 1, ..., seeds - 1) or a sequence of ints. run(seed) returns
    a number or an array of a fixed shape; the result has one row per seed. A NaN (say,
    for a run that diverged) is kept: mean_sd refuses it, so decide what it means first.
    """
    seeds = _check_seeds(seeds)
    _check_callable(run, "run")
    return _check_results([run(seed) for seed in seeds], seeds)


def mean_sd(values, decimals=3):
    """'mean +/- sd' of the numbers in values (sd with n - 1: the spread between seeds);
    a single value is shown as 'value (one run, no spread)'."""
    values, decimals = _check_sample(values), _check_decimals(decimals)
    if values.size == 1:
        return f"{values[0]:.{decimals}f} (one run, no spread)"
    return f"{values.mean():.{decimals}f} +/- {values.std(ddof=1):.{decimals}f}"


def binomial_se(p, n):
    """Standard error of an accuracy p measured on n independent samples: sqrt(p (1 - p) / n).

    At p = 1 (or 0) it is 0, which does not make the accuracy exact: with no error in n
    samples, the error rate is below about 3 / n with 95% confidence (the rule of three).
    """
    p, n = _check_binomial(p, n)
    return float(np.sqrt(p * (1 - p) / n))


# ============================================================================
# 5. Checking gradients
# ============================================================================

def central_difference(f, P, h=1e-5):
    """Numerical gradient of the number f() with respect to the array P, by central differences:

        df/dP[i] ~ (f(P + h e_i) - f(P - h e_i)) / (2h)

    P is changed in place, one entry at a time, and restored: f must read P. Calls f
    twice per entry, first at +h, then at -h. Returns an array of P's shape.
    """
    _check_callable(f, "f")
    P, h = _check_difference(P, h)
    grad = np.zeros(P.shape)
    for i in np.ndindex(P.shape):
        saved = P[i]
        try:
            P[i] = saved + h
            plus = _value_of(f(), i)
            P[i] = saved - h
            minus = _value_of(f(), i)
        finally:
            P[i] = saved
        grad[i] = (plus - minus) / (2 * h)
    return grad


def relative_error(a, b):
    """||a - b|| / max(1e-8, ||a|| + ||b||) (Frobenius norms): independent of scale;
    below 1e-7 is agreement in float64, a bug gives 1e-2 or more."""
    a, b = _check_same_shape(a, b)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    if scale > 1e150:                           # the norms would overflow; the ratio is the same
        a, b = a / scale, b / scale
    return float(np.linalg.norm(a - b) / max(1e-8, np.linalg.norm(a) + np.linalg.norm(b)))


GradientCheck = namedtuple("GradientCheck", "layer name rel_error kinks")


def gradient_check(model, X, t, h=1e-5):
    """Compare backward() with central differences for every parameter of every layer.

    Returns one GradientCheck(layer, name, rel_error, kinks) per parameter, layer from 1,
    with rel_error = relative_error(analytic, numeric), except that a gradient too small
    for central differences to resolve is compared on an absolute scale: the denominator
    is at least 1e7 times the differences' rounding noise, sqrt(size) eps max(1, |L|, max|z|) / h
    (the loss is computed from logits z as large as max|z|), so
    that noise alone stays below 1e-7 (a real bug is larger than it). A difference whose +h or -h
    moves a ReLU (or leaky ReLU) unit across its kink at 0 measures the slope of two
    pieces, not the derivative: such entries are left out of rel_error and counted in
    kinks (rel_error is NaN if that leaves none). Dropout masks are drawn once and
    reused by every evaluation. Works on a copy: the model is left as it was. Two loss
    evaluations per entry: use small networks.

    With batch normalisation, a unit whose batch standard deviation sigma is small makes
    the loss sharply curved (1/sigma amplifies every change of its input), and the
    difference's truncation error, of order h^2 times that curvature, can exceed 1e-7
    though backward() is right. It happens with batches of a few samples (always with 2,
    where every zhat is +-1); use a batch of 10 or more, or check that the error falls
    as h^2 when h is divided by 10.
    """
    X, t = _check_X_and_labels(X, t, _check_model(model))
    _check_gradient_check(model, h)
    model = model.copy()
    state = model.rng.bit_generator.state        # the same dropout masks every time
    patterns = []

    def loss():
        model.rng.bit_generator.state = state
        value = model.loss(X, t)
        patterns.append(_kink_pattern(model))
        return value

    L = loss()
    model.backward()
    base = patterns.pop()
    scale = max(1.0, abs(L), float(np.abs(model.forward(X)).max()))   # of the loss's rounding
    rows = []
    for l, name, P, dP in model.parameters():
        analytic = dP.copy()
        patterns.clear()
        numeric = central_difference(loss, P, h)
        crossed = np.array([not (np.array_equal(plus, base) and np.array_equal(minus, base))
                            for plus, minus in zip(patterns[::2], patterns[1::2])])
        crossed = crossed.reshape(P.shape)
        a, b = analytic[~crossed], numeric[~crossed]
        noise = np.sqrt(a.size) * np.finfo(P.dtype).eps * scale / h
        error = (float(np.linalg.norm(a - b) / max(np.linalg.norm(a) + np.linalg.norm(b),
                                                   1e7 * noise, 1e-8))
                 if a.size else float("nan"))   # no entry left to compare
        rows.append(GradientCheck(l, name, error, int(crossed.sum())))
    return rows


def _kink_pattern(model):
    """Which side of its kink every hidden unit of the last training pass is on."""
    if model.activation not in ("relu", "leaky_relu") or not model._H:
        return np.zeros(0, dtype=bool)
    return np.concatenate([(H > 0).ravel() for H in model._H])


# ============================================================================
# 6. Graders for the "your turn" cells. Each runs the learner's function on
#    small problems, compares every part with this module's reference (and a
#    gradient with central differences too), and prints one line per part: correct, or what is
#    wrong and where. Returns True when every part is right. An empty body is
#    "not attempted yet"; an exception in the learner's code is reported with
#    its line, not raised.
# ============================================================================

class _Ungradable(Exception):
    """Raised inside a grader when the learner's function gives nothing to grade."""


def _grader(grade):
    """A grader prints why it stopped, instead of raising, when the answer cannot be graded."""
    def run(fn, *args, **kwargs):
        try:
            return grade(fn, *args, **kwargs)
        except _Ungradable as reason:
            print(reason)
            return False
    run.__name__, run.__qualname__, run.__doc__ = grade.__name__, grade.__qualname__, grade.__doc__
    run.__wrapped__ = grade
    return run


@_grader
def grade_output_gradient(fn):
    """Grade fn(Z, t) -> Delta = softmax(Z) - T, shape (K, n): column s is dL_s/dz_s.

    Three batches: ordinary logits; logits of very different sizes, within a column
    as well as between columns (only a shift by each column's own max avoids
    overflow); a batch in which the last classes are absent (K comes from Z, not
    from the labels)."""
    _check_callable(fn, "fn")
    rng = np.random.default_rng(2024)
    Z = rng.standard_normal((4, 5))
    large = np.hstack([Z[:, :3] + [[0.0, 1000.0, -1000.0]], [[-500.0], [1000.0], [0.0], [300.0]],
                       Z[:, 3:4]])                # n = 5 columns, K = 4 rows: a transpose shows
    cases = [("ordinary logits", Z, rng.integers(0, 4, size=5)),
             ("logits from -1000 to 1000", large, np.array([2, 0, 3, 1, 0])),
             ("a batch with only classes 0 and 1 of K = 4", Z[:, :3] * 3, np.array([1, 0, 1]))]
    results = []
    for case, logits, t in cases:
        got = _attempt("output_gradient", fn, logits.copy(), t.copy(), case=case,
                       index_hint="rows are classes k, columns are samples s: index as [k, s]",
                       refuse={softmax_cross_entropy: "nn.softmax_cross_entropy, which returns this "
                               "very gradient: build it from the softmax P and the one-hot T",
                               softmax: "nn.softmax, the module's own: write the softmax with NumPy, "
                               "shifting each column by its own max"})
        P, T = softmax(logits), one_hot_convert(t, logits.shape[0])
        numeric = central_difference(lambda: softmax_cross_entropy(logits, t, mean=False)[0].sum(),
                                     logits)
        hints = {"(P - T) / n, the gradient of the mean loss (this asks for the per-sample columns)":
                 (P - T) / logits.shape[1], "P alone: the - T is missing": P}
        hints["the softmax normalised along axis=1 (over the samples): each column of P sums to "
              "1 over the classes, axis=0"] = softmax(logits.T).T - T
        whole_rows = np.zeros_like(T)
        whole_rows[t, :] = 1
        hints["P[t, :] -= 1, which subtracts 1 along whole rows: one entry per column, "
              "P[t, np.arange(n)] -= 1"] = P - whole_rows
        if logits is Z:                         # exp(Z) overflows for the large logits
            hints["exp(Z) - T: the softmax's normalisation is missing"] = np.exp(Z) - T
        results.append(_grade_part(f"Delta, {case}", got, P - T, numeric, hints,
                                   shape_hint=lambda shape: "K is Z.shape[0]; a batch need not "
                                   "contain every class" if shape[1:] == logits.shape[1:] else
                                   "one column per sample: no sum or mean over the samples",
                                   nonfinite="an exp() that overflows, or 0 / 0? shift each column "
                                             "by its own max, Z.max(axis=0, keepdims=True)"))
    return _summary("output_gradient", results)


@_grader
def grade_layer_backward(fn):
    """Grade fn(dZ, A_prev, W) -> (dW, db, dA_prev) for Z = W A_prev + b, dZ = dL/dZ of the mean loss."""
    _check_callable(fn, "fn")
    rng = np.random.default_rng(7)
    d_out, d_in, n = 3, 4, 5
    dZ, A_prev, W = (rng.standard_normal((d_out, n)), rng.standard_normal((d_in, n)),
                     rng.standard_normal((d_out, d_in)))
    got = _attempt("layer_backward", fn, dZ.copy(), A_prev.copy(), W.copy())
    b = np.zeros((d_out, 1))
    # L is linear in Z here (L = sum dZ * Z), so its central differences are the exact gradients.
    loss = lambda: float(np.sum(dZ * (W @ A_prev + b)))
    expected = {"dW": dZ @ A_prev.T, "db": dZ.sum(axis=1, keepdims=True), "dA_prev": W.T @ dZ}
    if not _in_order("layer_backward", got, expected):
        return False
    numeric = {"dW": central_difference(loss, W), "db": central_difference(loss, b),
               "dA_prev": central_difference(loss, A_prev)}
    hints = {"dW": {"dZ A_prev^T / n: dZ already carries the 1/n of the mean": expected["dW"] / n},
             "db": {"the mean over samples: dZ already carries the 1/n, so sum": expected["db"] / n},
             "dA_prev": {"W^T dZ gated by A_prev > 0: the ReLU gate f'(Z_prev) belongs to the "
                         "layer below, which applies it to this dA_prev": expected["dA_prev"]
                         * (A_prev > 0),
                         "W^T dZ / n: dZ already carries the 1/n of the mean": expected["dA_prev"] / n}}
    results = [_grade_part(name, part, expected[name], numeric[name], hints[name])
               for name, part in zip(expected, got)]
    return _summary("layer_backward", results)


@_grader
def grade_backward(fn):
    """Grade fn(model) -> [(dW_1, db_1), ..., (dW_L, db_L)] from the model's cached training pass."""
    _check_callable(fn, "fn")
    rng = np.random.default_rng(11)
    model = NNClassifier([4, 5, 6, 3], rng=11)
    for layer in model.layers:                  # biases away from 0: no unit sits on a kink
        layer.b[...] = rng.uniform(0.1, 0.3, layer.b.shape)
    X, t = rng.standard_normal((4, 8)), rng.integers(0, 3, size=8)
    model.loss(X, t)
    got = _attempt("backward", fn, model.copy(), refuse={
        NNClassifier.backward: "model.backward(), the module's own backward pass: write the pass "
                               "yourself, from model.dZ_L and each layer's cache"})
    L = len(model.layers)
    if not isinstance(got, (list, tuple)) or len(got) != L:
        print(f"backward: return a list of {L} pairs (dW_l, db_l), one per layer l = 1..{L}, "
              f"got {_type_name(got)}" + (f" of length {len(got)}" if isinstance(got, (list, tuple))
                                          else ""))
        return False
    if not all(isinstance(pair, (list, tuple)) and len(pair) == 2 for pair in got):
        kinds = sorted({f"{_type_name(pair)} of length {len(pair)}"
                        if isinstance(pair, (list, tuple)) else _type_name(pair) for pair in got})
        print(f"backward: every item of the list must be a pair (dW_l, db_l), "
              f"got items of type {', '.join(kinds)}")
        return False
    model.backward()
    shapes = [(layer.W.shape, layer.b.shape) for layer in model.layers]
    if [_shapes(pair) for pair in got[::-1]] == shapes != [_shapes(pair) for pair in got]:
        print(f"backward: the list starts with layer {L}: return layer 1 first (reverse it)")
        return False
    if [_shapes(pair[::-1]) for pair in got] == shapes != [_shapes(pair) for pair in got]:
        print("backward: each pair must be (dW_l, db_l); yours are (db_l, dW_l)")
        return False
    hidden = range(1, len(model.layers))
    variants = {"the gradient without the ReLU mask f'(Z)": _backward_variant(model, forget=hidden),
                "the gradient with the ReLU gate applied to the output layer too: the logits Z_L "
                "have no ReLU, dZ_L is (P - T) / n as it is": _backward_variant(model, gate_output=True)}
    if len(hidden) > 1:                         # forgotten in one hidden layer only
        variants.update({f"the gradient with the ReLU mask f'(Z_{j}) forgotten at layer {j} "
                         f"(dZ_{j} = f'(Z_{j}) * (W_{j + 1}^T dZ_{j + 1}))":
                         _backward_variant(model, forget={j}) for j in hidden})
    numeric = model.copy()

    def loss():
        return numeric.loss(X, t)
    results = []
    for l, (layer, (dW, db)) in enumerate(zip(model.layers, got), start=1):
        target = numeric.layers[l - 1]
        results.append(_grade_part(f"layer {l} dW", dW, layer.dW, central_difference(loss, target.W),
                                   {**{what: grads[l - 1][0] for what, grads in variants.items()},
                                    "dZ A^T / n: dZ_L already carries the 1/n":
                                        layer.dW / X.shape[1]}))
        results.append(_grade_part(f"layer {l} db", db, layer.db, central_difference(loss, target.b),
                                   {**{what: grads[l - 1][1] for what, grads in variants.items()},
                                    "the mean over samples: dZ already carries the 1/n, so sum":
                                        layer.db / X.shape[1]}))
    return _summary("backward", results)


@contextlib.contextmanager
def _calls_to(functions):
    """While a learner's function runs, record which of `functions` (the module's own
    answers to the exercise) it calls, however it reaches them: by their code."""
    codes, called = {f.__code__: f for f in functions}, []
    if not codes or sys.getprofile() is not None:     # a profiler is running: leave it alone
        yield called
        return

    def watch(frame, event, arg):
        if event == "call" and frame.f_code in codes:
            called.append(codes[frame.f_code])
    sys.setprofile(watch)
    try:
        yield called
    finally:
        sys.setprofile(None)


def _backward_variant(model, forget=(), gate_output=False):
    """Backpropagation with a typical mistake: the ReLU gate f'(Z_l) left out at the hidden
    layers l in `forget` (from 1), or applied to the logits' dZ_L as well."""
    dZ, grads = model.dZ_L * (model.layers[-1].Z > 0) if gate_output else model.dZ_L, []
    for l in range(len(model.layers), 0, -1):
        layer = model.layers[l - 1]
        grads.append((dZ @ layer.A_prev.T, dZ.sum(axis=1, keepdims=True)))
        if l > 1:
            dZ = layer.W.T @ dZ                         # dA_{l-1}
            if l - 1 not in forget:
                dZ = dZ * (model.layers[l - 2].Z > 0)   # dZ_{l-1}
    return grads[::-1]


@_grader
def grade_training_loop(fn):
    """Grade fn(model, X, t, optimizer, epochs, batch_size, rng) -> per-epoch mean losses,
    against nn.train from the same model, optimizer settings and seed: once with rng an
    int seed and a smaller last batch, once with rng a np.random.Generator and a batch
    size that divides the number of samples."""
    _check_callable(fn, "fn")
    data = np.random.default_rng(3)
    X = data.standard_normal((2, 50))
    t = (X[0] + X[1] > 0).astype(int)              # learnable: the loss falls epoch by epoch
    epochs, lr, seed = 3, 0.2, 5
    start = NNClassifier([2, 8, 2], rng=3)
    mistakes = [                                # (what the loop did, how to fix it, variant)
        ("without shuffling", "draw order = rng.permutation(N) in every epoch", {"order": "none"}),
        ("with the same order in every epoch", "draw order = rng.permutation(N) inside the "
         "epoch loop, from one generator made before the epochs", {"order": "once"}),
        ("with the plain mean of the batch losses", "weigh each batch's loss by its size",
         {"weigh": False}),
        ("without the last, smaller batch", "range(0, N, batch_size) keeps it", {"drop_last": True}),
        ("without any update", "call model.backward() and then optimizer.step() after each "
         "batch's loss", {"update": False}),
        ("with the images shuffled and the labels not", "take both from the same indices: "
         "X[:, batch] and t[batch]", {"misalign": "t"}),
        ("with the labels shuffled and the images not", "take both from the same indices: "
         "X[:, batch] and t[batch]", {"misalign": "X"}),
        ("with N = X.shape[0], the number of features", "the samples are the columns: "
         "N = X.shape[1]", {"n_axis": 0}),
        ("with the running total carried over from earlier epochs", "set total = 0 at the start "
         "of every epoch", {"reset": False})]
    results, moved, recognised, close = [], True, False, True
    for case, rng, batch_size in (("rng = 5, batch_size = 12", seed, 12),   # 50 = 4 x 12 + 2
                                  ("rng = np.random.default_rng(5), batch_size = 10",
                                   np.random.default_rng(seed), 10)):       # 50 = 5 x 10
        reference = start.copy()
        history = train(reference, X, t, SGD(reference, lr), epochs, batch_size, rng=seed)
        runs = [(what, fix, _training_variant(start, X, t, lr, epochs, batch_size, seed, **how))
                for what, fix, how in mistakes]
        learner = start.copy()
        got = _attempt("train_loop", fn, learner, X.copy(), t.copy(), SGD(learner, lr),
                       epochs, batch_size, rng, case=case,
                       index_hint="samples are the columns: X[:, batch] and t[batch]", refuse={
                           train: "nn.train, the module's own loop: write the loop yourself, "
                                  "with model.loss, model.backward() and optimizer.step()"})
        results.append(_grade_part(f"{case}: epoch losses", got, history["loss"], None,
                                   {f"the losses of training {what}: {fix}": losses
                                    for what, fix, (losses, _) in runs},
                                   shape_hint=lambda shape: f"one mean loss per epoch, "
                                                            f"and epochs = {epochs}",
                                   position=lambda index: f"epoch {index[0] + 1}"))
        results.append(_grade_part(f"{case}: final weights W_1", learner.layers[0].W,
                                   reference.layers[0].W, None,
                                   {f"the weights of training {what}: {fix}": model.layers[0].W
                                    for what, fix, (_, model) in runs}))
        moved = moved and not np.array_equal(learner.layers[0].W, start.layers[0].W)
        close = close and _close_losses(got, history["loss"])
        recognised = recognised or any(    # mistakes that change nothing here do not count
            _same_weights(learner.layers[0].W, model.layers[0].W)
            and not _same_weights(model.layers[0].W, reference.layers[0].W)
            for _, _, (_, model) in runs)
    if moved and close and not recognised and not all(results[1::2]):   # other batches drawn?
        print("  (if your loop trains correctly, check that it draws the batches nn.train draws: "
              "one generator, made once; order = rng.permutation(N) at the start of each epoch; "
              "then the batches order[0:batch_size], order[batch_size:2 * batch_size], ...; and "
              "that each batch makes exactly one optimizer.step(), with the optimizer you were given)")
    return _summary("train_loop", results)


def _close_losses(got, reference):
    """The learner's last epoch loss is below twice the reference's: a loop that trains.
    (Correct loops drawing other batches end at most 1.7 times above it on the grader's
    data, over 400 orders; loops that pair images with the wrong labels, 2.2 times.)"""
    try:
        got = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return (got.shape == reference.shape and np.isfinite(got).all()
            and got[-1] <= 2 * reference[-1])


def _same_weights(W, reference):
    """The learner's W equals a variant's (any W: the learner's loop may have replaced it)."""
    return (isinstance(W, np.ndarray) and W.shape == reference.shape and W.dtype.kind == "f"
            and np.isfinite(W).all() and relative_error(W, reference) < 1e-7)


def _training_variant(start, X, t, lr, epochs, batch_size, seed, order="shuffle", weigh=True,
                      drop_last=False, update=True, misalign=None, n_axis=1, reset=True):
    """A training loop with one typical mistake: its per-epoch losses and its model.
    misalign="t" takes the labels t[begin:end] unshuffled ("X": the images); reset=False
    carries the running total over from earlier epochs."""
    model, rng, n = start.copy(), np.random.default_rng(seed), X.shape[n_axis]
    optimizer, losses, first = SGD(model, lr), [], np.random.default_rng(seed).permutation(n)
    total = 0.0
    for _ in range(epochs):
        indices = {"shuffle": lambda: rng.permutation(n), "none": lambda: np.arange(n),
                   "once": lambda: first}[order]()
        total, count = (0.0 if reset else total), 0.0
        for begin in range(0, n - (n % batch_size if drop_last else 0), batch_size):
            batch = indices[begin:begin + batch_size]
            plain = np.arange(begin, begin + len(batch))
            loss = model.loss(X[:, plain if misalign == "X" else batch],
                              t[plain if misalign == "t" else batch])
            if update:
                model.backward()
                optimizer.step()
            total, count = total + loss * (len(batch) if weigh else 1), count + (
                len(batch) if weigh else 1)
        losses.append(total / count)
    return np.array(losses), model


@_grader
def grade_adam_step(fn):
    """Grade fn(P, dP, m, v, k, lr, beta1, beta2, eps), which updates P, m and v in place
    for Adam's step number k (from 1), over steps 1, 2, 3 and then a step numbered 10 (so
    that the step number must come from k, not from counting calls), with settings other
    than the usual defaults (so that each argument must be used)."""
    _check_callable(fn, "fn")
    rng = np.random.default_rng(13)
    lr, beta1, beta2, eps = 0.05, 0.8, 0.99, 1e-6
    P = rng.standard_normal((3, 4))
    m, v = np.zeros_like(P), np.zeros_like(P)
    ref_P, ref_m, ref_v = P.copy(), m.copy(), v.copy()
    results = []
    for k in (1, 2, 3, 10):
        dP = rng.standard_normal(P.shape)
        dP[-1] *= 1e-6                          # tiny gradients, where eps matters
        before, m_before, v_before = P.copy(), m.copy(), v.copy()
        given = dP.copy()
        _attempt("adam_step", fn, P, given, m, v, k, lr, beta1, beta2, eps,
                 case=f"step {k}", returns=False,
                 refuse={Adam.step: "nn.Adam's step, the module's own: write the update yourself"})
        if not np.array_equal(given, dP, equal_nan=True):
            print(f"adam_step: step {k} changed dP in place: the gradient is an input; compute "
                  f"on new arrays (dP * (1 - beta1), not dP *= ...)")
            return False
        defaults = _adam_reference(ref_P, ref_m, ref_v, dP, k, lr, 0.9, 0.999, 1e-8)
        ref_P, ref_m, ref_v = _adam_reference(ref_P, ref_m, ref_v, dP, k, lr, beta1, beta2, eps)
        m_hat, v_hat = ref_m / (1 - beta1**k), ref_v / (1 - beta2**k)
        variants = {                            # P_k - P_{k-1} of typical mistakes
            "the step without the bias corrections m / (1 - beta1^k) and v / (1 - beta2^k)":
                -lr * ref_m / (np.sqrt(ref_v) + eps),
            "the step with only m bias-corrected (v / (1 - beta2^k) is missing)":
                -lr * m_hat / (np.sqrt(ref_v) + eps),
            "the step with only v bias-corrected (m / (1 - beta1^k) is missing)":
                -lr * ref_m / (np.sqrt(v_hat) + eps),
            "the step with k counted from 0 (the corrections use beta^(k+1))":
                -lr * (ref_m / (1 - beta1**(k + 1))) / (np.sqrt(ref_v / (1 - beta2**(k + 1))) + eps),
            "the step with eps inside the square root (sqrt(v_hat) + eps is meant)":
                -lr * m_hat / np.sqrt(v_hat + eps),
            "the step with eps = 1e-8, not the argument eps":
                -lr * m_hat / (np.sqrt(v_hat) + 1e-8),
            "the step from m and v as they were before this step: update m and v first":
                -lr * (m_before / (1 - beta1**k)) / (np.sqrt(v_before / (1 - beta2**k)) + eps),
            "Adam's usual settings 0.9, 0.999, 1e-8, not the arguments beta1, beta2, eps":
                defaults[0] - before,
            "the step with v corrected by 1 - beta1^k (v's correction is 1 - beta2^k)":
                -lr * m_hat / (np.sqrt(ref_v / (1 - beta1**k)) + eps),
            "the step with corrections 1 - beta1 and 1 - beta2: the power k is missing"
            + (" (or the exponent is k - 1)" if k == 2 else ""):
                -lr * (ref_m / (1 - beta1)) / (np.sqrt(ref_v / (1 - beta2)) + eps),
            "the step without eps: m_hat / (sqrt(v_hat) + eps)": -lr * m_hat / np.sqrt(v_hat),
            "the step with eps added after the division: m_hat / (sqrt(v_hat) + eps) is meant":
                -(lr * m_hat / np.sqrt(v_hat) + eps),
            "the step in the paper's 'efficient' form, lr_k = lr sqrt(1 - beta2^k) / (1 - beta1^k) "
            "times m / (sqrt(v) + eps): it moves eps; write m_hat / (sqrt(v_hat) + eps) as nn.Adam does":
                -lr * np.sqrt(1 - beta2**k) / (1 - beta1**k) * ref_m / (np.sqrt(ref_v) + eps),
            "the step from m built with beta2 and v with beta1: beta1 is m's, beta2 is v's":
                -lr * ((beta2 * m_before + (1 - beta2) * dP) / (1 - beta2**k))
                / (np.sqrt((beta1 * v_before + (1 - beta1) * dP**2) / (1 - beta1**k)) + eps)}
        if k > 2:                               # at k = 2, k - 1 = 1: named just above
            label = "the step with k - 1 in the corrections (k counts from 1: step k uses beta^k)"
            variants[label] = (-lr * (ref_m / (1 - beta1**(k - 1)))
                               / (np.sqrt(ref_v / (1 - beta2**(k - 1))) + eps))
        untouched = all(np.array_equal(a, b) for a, b in ((P, before), (m, m_before), (v, v_before)))
        if untouched:
            print(f"adam_step: step {k} left P, m and v unchanged: update them in place "
                  f"(P -= ...; m *= beta1; m += ...); P = P - ... makes a new array, "
                  f"and a returned array is not used")
            return False
        if np.array_equal(P, before):           # m or v moved, P did not
            why = ("the update of P is not written yet, or P = P - ... makes a new array: write "
                   "P -= ..." if k > 1 else
                   "either the update of P is not written yet, or P = P - ... made a new array "
                   "(write P -= ...), or the step used m and v before this step's update, when at "
                   "step 1 they are still 0 (update them first)")
            variants = {f"a zero step: P did not change; {why}": np.zeros_like(P)}
        unchanged = ("the array as it was before the step: not updated yet, or rebound ({0} = ...) "
                     "instead of updated in place ({0} *= {1}; {0} += ...)")
        nonfinite = ("a division by zero, or the square root of a negative number? with k = 1, "
                     "2, ... the corrections 1 - beta^k are never 0 (an exponent k - 1 makes "
                     "1 - beta^0 = 0 at step 1); brackets matter: v / (1 - beta2**k), not "
                     "v / 1 - beta2**k")
        results += [_grade_part(f"step {k}: m", m, ref_m, None,
                                {unchanged.format("m", "beta1"): m_before,
                                 "m with beta1 = 0.9, not the argument beta1": defaults[1],
                                 "m with beta2: m's decay is beta1":
                                     beta2 * m_before + (1 - beta2) * dP,
                                 "m with its two weights swapped: beta1 m + (1 - beta1) dP":
                                     (1 - beta1) * m_before + beta1 * dP,
                                 "m / (1 - beta1^k), the bias-corrected m_hat: keep m_hat in a new "
                                 "array (m_hat = m / ...), m itself stays uncorrected": m_hat},
                                nonfinite=nonfinite),
                    _grade_part(f"step {k}: v", v, ref_v, None,
                                {unchanged.format("v", "beta2"): v_before,
                                 "v with beta2 = 0.999, not the argument beta2": defaults[2],
                                 "v with beta1: v's decay is beta2":
                                     beta1 * v_before + (1 - beta1) * dP**2,
                                 "v with its two weights swapped: beta2 v + (1 - beta2) dP^2":
                                     (1 - beta2) * v_before + beta2 * dP**2,
                                 "v built from dP, not from dP**2":
                                     beta2 * v_before + (1 - beta2) * dP,
                                 "v / (1 - beta2^k), the bias-corrected v_hat: keep v_hat in a new "
                                 "array (v_hat = v / ...), v itself stays uncorrected": v_hat},
                                nonfinite=nonfinite),
                    _grade_part(f"step {k}: P's update", P - before, ref_P - before, None, variants,
                                nonfinite=nonfinite)]
        P[...], m[...], v[...] = ref_P, ref_m, ref_v     # grade each step from the right state
    return _summary("adam_step", results)


def _adam_reference(P, m, v, dP, k, lr, beta1, beta2, eps):
    """Adam's step k on copies: (P, m, v) after it."""
    m = beta1 * m + (1 - beta1) * dP
    v = beta2 * v + (1 - beta2) * dP**2
    return P - lr * (m / (1 - beta1**k)) / (np.sqrt(v / (1 - beta2**k)) + eps), m, v


@_grader
def grade_activation_derivative(fn, activation="tanh"):
    """Grade fn(Z) -> f'(Z), elementwise on a (4, 10) array, for one of ACTIVATIONS
    (away from ReLU's kink at 0): once in float64, once in float32, whose dtype the
    answer must keep (02_building_blocks)."""
    _check_callable(fn, "fn")
    f, d_f = ACTIVATIONS[_check_activation(activation)]
    Z = np.concatenate([np.linspace(-5, -0.1, 20), np.linspace(0.1, 5, 20)])
    Z = np.random.default_rng(19).permutation(Z).reshape(4, 10)
    refuse = {d_f: f"nn.{d_f.__name__}, the module's own derivative: write it yourself"}
    Z32 = Z.astype(np.float32)
    got = _attempt(f"d_{activation}", fn, Z.copy(), refuse=refuse)
    single = _attempt(f"d_{activation}", fn, Z32.copy(), case="float32", refuse=refuse)
    numeric = central_difference(lambda: float(np.sum(f(Z))), Z)
    hints = {"relu": {"ReLU itself, not its derivative": relu(Z)},
             "leaky_relu": {"leaky ReLU itself, not its derivative": leaky_relu(Z),
                            "ReLU's derivative: the slope 0.01 for z < 0 is missing": d_relu(Z)},
             "tanh": {"1 - tanh(z): the square is missing": 1 - np.tanh(Z),
                      "tanh(z) (1 - tanh(z)), the sigmoid's pattern: tanh' = 1 - tanh(z)^2":
                          np.tanh(Z) * (1 - np.tanh(Z)),
                      "tanh(z) itself, not its derivative": np.tanh(Z),
                      "1 - z^2: square tanh(z), not z (f' = 1 - f(z)^2)": 1 - Z**2},
             "sigmoid": {"sigmoid(z) alone: the factor (1 - sigmoid(z)) is missing": sigmoid(Z),
                         "1 - sigmoid(z): the factor sigmoid(z) is missing": 1 - sigmoid(Z),
                         "1 - sigmoid(z)^2, tanh's pattern: sigmoid' = sigmoid(z) (1 - sigmoid(z))":
                             1 - sigmoid(Z)**2,
                         "sigmoid(z) (1 - z): the factor is 1 - sigmoid(z), not 1 - z":
                             sigmoid(Z) * (1 - Z),
                         "z (1 - z): f' = f(z) (1 - f(z)) is written with f(z), not z":
                             Z * (1 - Z)}}
    return _summary(f"d_{activation}", [
        _grade_part(f"{activation}'(z) on a {Z.shape} array", got, d_f(Z), numeric,
                    hints[activation], array_only=True),
        _grade_part(f"{activation}'(z) on the same array in float32", single, d_f(Z32), None,
                    {description: value.astype(np.float32)
                     for description, value in hints[activation].items()}, array_only=True)])


@_grader
def grade_batchnorm_backward(fn):
    """Grade fn(dY, Zhat, sigma, gamma) -> (dZ, dgamma, dbeta), batch normalisation's
    compact backward, against BatchNorm.backward and central differences of sum(G * Y)."""
    _check_callable(fn, "fn")
    rng = np.random.default_rng(17)
    d, n = 4, 6
    Z, G = rng.normal(1.0, 2.0, (d, n)), rng.standard_normal((d, n))
    norm = BatchNorm(d)
    norm.gamma[...] = rng.uniform(0.5, 2.0, (d, 1))
    norm.beta[...] = rng.standard_normal((d, 1))
    norm(Z, training=True)
    got = _attempt("batchnorm_backward", fn, G.copy(), norm.Zhat.copy(), norm.sigma.copy(),
                   norm.gamma.copy(), refuse={
                       BatchNorm.backward: "BatchNorm.backward, the module's own: write the "
                                           "compact formula yourself"})
    expected = {"dZ": norm.backward(G), "dgamma": norm.dgamma, "dbeta": norm.dbeta}
    if not _in_order("batchnorm_backward", got, expected):
        return False

    def loss():                                 # a training pass: the batch's own statistics
        return float(np.sum(G * norm(Z, training=True)))
    numeric = {"dZ": central_difference(loss, Z), "dgamma": central_difference(loss, norm.gamma),
               "dbeta": central_difference(loss, norm.beta)}
    mean_G, mean_GZ = G.mean(axis=1, keepdims=True), np.mean(G * norm.Zhat, axis=1, keepdims=True)
    hints = {"dZ": {"(gamma / sigma) dY: mu and sigma treated as constants": norm.gamma / norm.sigma * G,
                    "the compact formula without its last term, zhat mean(dY zhat)":
                        norm.gamma / norm.sigma * (G - mean_G),
                    "the compact formula without its middle term, mean(dY)":
                        norm.gamma / norm.sigma * (G - norm.Zhat * mean_GZ),
                    "the compact formula with sums over the samples where it has means (the 1/n "
                    "is missing)":
                        norm.gamma / norm.sigma * (G - G.sum(axis=1, keepdims=True) - norm.Zhat
                                                   * np.sum(G * norm.Zhat, axis=1, keepdims=True)),
                    "the compact formula without the factor gamma":
                        (G - mean_G - norm.Zhat * mean_GZ) / norm.sigma,
                    "the compact formula without the factor 1 / sigma":
                        norm.gamma * (G - mean_G - norm.Zhat * mean_GZ),
                    "the compact formula with 1 / (n - 1) in its means (the batch variance "
                    "divides by n; only the running variance uses n / (n - 1))":
                        norm.gamma / norm.sigma * (G - G.sum(axis=1, keepdims=True) / (n - 1)
                                                   - norm.Zhat * np.sum(G * norm.Zhat, axis=1,
                                                                        keepdims=True) / (n - 1)),
                    "the compact formula with 1 / (n - 1) in its last term (the batch variance "
                    "divides by n; only the running variance uses n / (n - 1))":
                        norm.gamma / norm.sigma * (G - mean_G - norm.Zhat * np.sum(
                            G * norm.Zhat, axis=1, keepdims=True) / (n - 1)),
                    "the compact formula with means over axis=0 (the units) instead of axis=1 "
                    "(the samples)":
                        norm.gamma / norm.sigma * (G - G.mean(axis=0, keepdims=True) - norm.Zhat
                                                   * np.mean(G * norm.Zhat, axis=0, keepdims=True))},
             "dgamma": {"sum of dY: that is dbeta; dgamma sums dY * zhat": expected["dbeta"],
                        "the mean of dY * zhat over the samples: dY already carries the 1/n of "
                        "the mean loss, so sum": expected["dgamma"] / n},
             "dbeta": {"sum of dY * zhat: that is dgamma; dbeta sums dY": expected["dgamma"],
                       "the mean of dY over the samples: dY already carries the 1/n of the mean "
                       "loss, so sum": expected["dbeta"] / n}}
    hints["dZ"]["the compact formula divided by n once more: its means already do the "
                "averaging"] = expected["dZ"] / n
    results = [_grade_part(name, part, expected[name], numeric[name], hints[name])
               for name, part in zip(expected, got)]
    return _summary("batchnorm_backward", results)


def _attempt(name, fn, *args, case=None, returns=True, index_hint="", refuse=None):
    """fn(*args); raises _Ungradable for an empty body, NotImplementedError, an exception
    (reported with the learner's line), a call to one of the functions in `refuse` (the
    module's own answer: {function: what to say}) or, when a result is expected, None."""
    context = f"{name} ({case})" if case else name
    if _is_empty(fn):
        raise _Ungradable(f"{name}: not attempted yet - fill in the body of your function "
                          f"and run this cell again.")
    inputs = [arg.copy() if isinstance(arg, np.ndarray) else None for arg in args]
    try:
        with np.errstate(all="ignore"), _calls_to(_refused(refuse, fn)) as called:
            result = fn(*args)                  # a NaN or inf in the answer is reported as such
    except NotImplementedError as error:
        if _raised_in(error, fn):               # raise NotImplementedError in the body itself
            raise _Ungradable(f"{name}: not attempted yet - fill in the body of your function "
                              f"and run this cell again.") from None
        raise _Ungradable(f"{context}: your function calls one that is not written yet: "
                          f"NotImplementedError{_learner_line(error)}") from None
    except Exception as error:                   # the learner's bug, reported, not raised
        message = str(error).strip()
        raise _Ungradable(f"{context}: your function raised {type(error).__name__}"
                          f"{_learner_line(error)}" + (f": {message}" if message else "")
                          + (_empty_helpers(fn) or _error_hint(error, index_hint))) from None
    if called:
        raise _Ungradable(f"{name}: your function calls {refuse[called[0]]}")
    if returns and result is None:
        raise _Ungradable(f"{context}: your function returned None - "
                          + (_empty_helpers(fn).strip(" ()") or "is its return statement missing?"))
    if returns:                                  # then its array arguments are inputs only
        changed = [position for position, (arg, before) in enumerate(zip(args, inputs), start=1)
                   if before is not None and not np.array_equal(arg, before, equal_nan=True)]
        if changed:
            raise _Ungradable(f"{context}: your function changed its argument number "
                              f"{changed[0]} in place; work on new arrays (x = x - m, not "
                              f"x -= m): the caller's arrays must not change")
    return result


def _empty_helpers(fn):
    """' (it calls name, whose body is still empty ...)' when fn uses a function of its own
    module whose body is empty (a stub of an earlier "your turn" cell, which returns None)."""
    code, names = getattr(inspect.unwrap(fn), "__code__", None), getattr(fn, "__globals__", {})
    used, codes = set(), [code] if code else []
    while codes:                                # fn's code and the comprehensions inside it
        code = codes.pop()
        used |= {i.argval for i in dis.get_instructions(code)
                 if i.opname == "LOAD_GLOBAL"}  # global names, not attributes (model.backward)
        codes += [const for const in code.co_consts if inspect.iscode(const)]
    empty = sorted(name for name in used
                   if inspect.isfunction(names.get(name)) and _is_empty(names[name]))
    return (f" (it calls {', '.join(empty)}, whose body is still empty: write "
            f"{'that one' if len(empty) == 1 else 'those'} first)" if empty else "")


def _refused(refuse, fn):
    """The module functions fn may not call: all of `refuse`, except fn itself (grading the
    module's own answer, as the tests do, shows what a pass looks like)."""
    return [f for f in (refuse or {}) if f is not inspect.unwrap(fn)]


def _raised_in(error, fn):
    """True when the exception was raised by fn's own code, not by a function it called."""
    frame = error.__traceback__
    while frame.tb_next is not None:
        frame = frame.tb_next
    return frame.tb_frame.f_code is getattr(inspect.unwrap(fn), "__code__", None)


def _is_empty(fn):
    """True for a function whose body is only a docstring, comments, `...` or `pass`."""
    code = getattr(fn, "__code__", None)
    return code is not None and _instructions(code) == _instructions(_empty_body.__code__)


def _empty_body(*args):
    ...


def _instructions(code):
    return [(i.opname, i.argval) for i in dis.get_instructions(code)
            if i.opname not in ("RESUME", "NOP", "CACHE", "COPY_FREE_VARS", "MAKE_CELL")]


def _learner_line(error):
    """' at line `source`' for the last line of the learner's own code in the traceback."""
    library = (str(Path(__file__).resolve()), str(Path(np.__file__).resolve().parent.parent),
               str(Path(sysconfig.get_paths()["stdlib"]).resolve()))
    frames = [frame for frame in traceback.extract_tb(error.__traceback__)
              if not (str(Path(frame.filename).resolve()).startswith(library)
                      or frame.filename.endswith((".pyx", ".pxd", ".pxi")))]
    if not frames:
        return ""
    line = (frames[-1].line or "").split("  #")[0].strip()      # the code, not its comment
    return f" at `{line}`" if line else f" at line {frames[-1].lineno}"


def _error_hint(error, index_hint=""):
    text = str(error)
    if isinstance(error, ValueError) and "matmul" in text:
        return " (compare the shapes of the matrices on that line: a missing transpose?)"
    if isinstance(error, ValueError) and "broadcast" in text:
        return " (compare the shapes of the arrays on that line)"
    if isinstance(error, IndexError) and index_hint:
        return f" ({index_hint})"
    if isinstance(error, AttributeError) and "'int' object" in text:
        return " (rng may be an int seed: rng = np.random.default_rng(rng) accepts both)"
    if isinstance(error, TypeError) and "dtype('O')" in text:
        return (" (rng may be a np.random.Generator, which np.random.seed and RandomState do not "
                "take: rng = np.random.default_rng(rng) accepts an int seed and a Generator)")
    if isinstance(error, ValueError) and "has no columns" in text:
        return " (an empty last batch? range(0, N, batch_size) gives only non-empty ones)"
    return ""


def _shapes(items):
    """The shape of every item (None for one that is not an array, such as a ragged list)."""
    shapes = []
    for item in items:
        try:
            shapes.append(np.shape(item))
        except ValueError:
            shapes.append(None)
    return tuple(shapes)


def _in_order(name, got, expected):
    """The learner returned len(expected) arrays, in the order of expected's names."""
    names = ", ".join(expected)
    if not (isinstance(got, (tuple, list)) and len(got) == len(expected)):
        print(f"{name}: return the {len(expected)} gradients ({names}), got {_type_name(got)}"
              + (f" of length {len(got)}" if isinstance(got, (tuple, list)) else ""))
        return False
    want = tuple(value.shape for value in expected.values())
    if _shapes(got) != want and any(_shapes(order) == want
                                    for order in itertools.permutations(got)):
        print(f"{name}: the gradients are in the wrong order: return ({names})")
        return False
    return True


def _summary(name, results):
    print(f"{name}: {sum(results)} of {len(results)} parts correct"
          + (" - well done." if all(results) else "."))
    return all(results)


def _grade_part(label, got, expected, numeric, hints, tolerance=1e-7, shape_hint=lambda shape: "",
                nonfinite="", position=None, array_only=False):
    """Print one line for one part of an answer; True when it matches `expected` (and the
    central differences `numeric`, when given) to `tolerance` in relative error.
    shape_hint(shape) explains a wrong shape with the right number of axes; with
    array_only, the right values in a list or tuple are not enough."""
    if got is None:
        print(f"  {label}: missing (None)")
        return False
    answer = got
    try:
        got = np.asarray(answer)
        if got.dtype.kind == "c":
            print(f"  {label}: expected real numbers, got complex ones")
            return False
        answer_dtype = got.dtype                # must be the inputs' dtype (02_building_blocks)
        got = got.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        got = None
    if got is None:
        print(f"  {label}: expected an array of shape {expected.shape}, got {_type_name(answer)}")
        return False
    if got.shape != expected.shape:
        why = _shape_mistake(got.shape, expected.shape) or (
            shape_hint(got.shape) if got.ndim == expected.ndim else "")
        print(f"  {label}: wrong shape {got.shape}, expected {expected.shape}"
              + (f": {why}" if why else ""))
        return False
    if not np.isfinite(got).all():
        print(f"  {label}: contains NaN or inf" + (f" ({nonfinite})" if nonfinite else ""))
        return False
    if np.abs(got).max() > 1e100:
        print(f"  {label}: WRONG: values as large as {np.abs(got).max():.1e}, expected at most "
              f"{np.abs(expected).max():.3g}")
        return False
    error = relative_error(got, expected)
    if expected.dtype == np.float32:            # the reference rounds too
        tolerance = max(tolerance, 10 * np.finfo(np.float32).eps)
    narrower = answer_dtype.kind == "f" and answer_dtype.itemsize < expected.dtype.itemsize
    if narrower and tolerance <= error < 1e-4:
        print(f"  {label}: WRONG (relative error {error:.2g}): close, but your result is "
              f"{answer_dtype}, which keeps about {np.finfo(answer_dtype).precision} digits; "
              f"compute in {expected.dtype}, the dtype of the inputs")
        return False
    if error < tolerance and answer_dtype != expected.dtype:
        print(f"  {label}: WRONG: the right values, but your result is {answer_dtype} and the "
              f"inputs are {expected.dtype}: return the dtype you were given"
              f"{_dtype_culprits(answer_dtype, expected.dtype)}")
        return False
    if error < tolerance and array_only and not isinstance(answer, np.ndarray):
        print(f"  {label}: WRONG: the right values, but in a {_type_name(answer)}, not a NumPy "
              f"array: compute on the array itself (elementwise, no loop or list)")
        return False
    if error < tolerance:
        # Bounds, not digits: the last digits of a rounding error differ between machines.
        agrees = ""
        if numeric is not None:
            difference = relative_error(got, numeric)
            agrees = ("; central differences agree to below 1e-8" if difference < 1e-8
                      else f"; central differences agree to {difference:.0e}")
        shown = "below 1e-12" if error < 1e-12 else f"{error:.0e}"
        print(f"  {label}: correct (relative error {shown}{agrees})")
        return True
    for description, candidate in hints.items():
        if np.shape(candidate) == got.shape and relative_error(got, candidate) < tolerance:
            print(f"  {label}: WRONG (relative error {error:.2g}): it equals {description}")
            return False
    if not got.any():
        print(f"  {label}: WRONG: all zeros - is part of the function still to be written?")
        return False
    scale = np.vdot(got, expected) / max(np.vdot(expected, expected), 1e-300)
    if relative_error(got, scale * expected) < tolerance:
        what = "the sign is flipped" if np.isclose(scale, -1) else f"off by a factor {scale:.4g}"
        print(f"  {label}: WRONG (relative error {error:.2g}): {what}")
        return False
    where = np.unravel_index(np.argmax(np.abs(got - expected)), got.shape)
    at = position(where) if position else f"index {tuple(int(i) for i in where)}"
    print(f"  {label}: WRONG (relative error {error:.2g}); the largest difference is at "
          f"{at}: {got[where]:.6g} instead of {expected[where]:.6g}")
    return False


def _dtype_culprits(got, expected):
    """Where an answer's dtype usually comes from, when it is not the inputs'."""
    if got.kind in "biu":
        return " (a mask becomes floats of the input's dtype with (Z > 0).astype(Z.dtype))"
    if got.itemsize > expected.itemsize:
        return (" (np.zeros(shape), np.array(a list), np.vectorize and Python floats such as "
                "1.0 in np.where make float64; np.zeros_like(Z) or .astype(Z.dtype) keep the "
                "input's)")
    return " (is there an astype or a dtype= in your function?)"


def _shape_mistake(got, expected):
    """The likely cause of a wrong shape, or ''."""
    if got == expected[::-1]:
        return "transposed (a missing or extra .T?)"
    if len(expected) == 2 and expected[1] == 1:          # a column per unit, like b_l
        if got == expected[:1]:
            return "a column is expected: keepdims=True keeps it"
        if len(got) == 2 and got[0] == expected[0]:
            return "not summed over the samples (sum over axis=1, keepdims=True)"
        if len(got) == 1 or (len(got) == 2 and got[0] == 1):
            return "summed over the wrong axis (sum over the samples, axis=1)"
    if int(np.prod(got)) == int(np.prod(expected)):
        return "the right number of entries in the wrong shape (reshaped or raveled?)"
    return ""


# ============================================================================
# 7. Data and figures
# ============================================================================

def load_digits_split(val_size=0.2, test_size=0.2, random_state=0, dtype=np.float64):
    """scikit-learn's 8x8 digits, split and standardised, in the columns-are-samples layout.

    A stratified split into train / validation / test (fractions of the whole set),
    then a StandardScaler fitted on the training part only, so nothing about the
    held-out data leaks into training. Returns a dict with X_train (64, n_train),
    t_train (n_train,), X_val, t_val, X_test, t_test, and "images" (n_test, 8, 8),
    the test digits as pictures.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    digits = load_digits()
    val_size, test_size, random_state, dtype = _check_digits_split(
        val_size, test_size, random_state, dtype, len(digits.target), len(digits.target_names))
    index = np.arange(len(digits.target))
    rest, test = train_test_split(index, test_size=test_size, stratify=digits.target,
                                  random_state=random_state)
    train_, val = train_test_split(rest, test_size=val_size / (1 - test_size),
                                   stratify=digits.target[rest], random_state=random_state)
    scaler = StandardScaler().fit(digits.data[train_])

    def columns(rows):
        return np.ascontiguousarray(scaler.transform(digits.data[rows]).T, dtype=dtype)

    return {"X_train": columns(train_), "t_train": digits.target[train_],
            "X_val": columns(val), "t_val": digits.target[val],
            "X_test": columns(test), "t_test": digits.target[test],
            "images": digits.images[test]}


FIGURES = Path(__file__).resolve().parent / "figures"


def figures_dir():
    """Where save_fig writes: the repository's figures/, or the folder named by the
    environment variable NN_FROM_SCRATCH_FIGURES (the tests set it, so that running
    them never rewrites the committed figures)."""
    return Path(os.environ.get("NN_FROM_SCRATCH_FIGURES") or FIGURES)


def save_fig(name, fig=None, dpi=100):
    """Save a figure (default: the current one) as <figures_dir()>/<name>.png.

    name is a plain file name without suffix, such as "05_loss_curve". The PNG
    carries no software version or date, so re-running does not change its bytes.
    """
    import matplotlib.pyplot as plt

    path = _figure_path(name, ".png")
    fig = plt.gcf() if fig is None else _check_figure(fig)
    dpi = _number(dpi, "dpi", low=10, high=1200)
    fig.savefig(path, dpi=dpi, bbox_inches="tight", metadata={"Software": None})


def save_animation(animation, name, fps=8, dpi=80):
    """Save a matplotlib animation as <figures_dir()>/<name>.gif with Pillow."""
    from matplotlib.animation import PillowWriter

    animation = _check_animation(animation)
    fps, dpi = _positive_int(fps, "fps"), _number(dpi, "dpi", low=10, high=1200)
    path = _figure_path(name, ".gif")
    partial = path.with_name(f".{name}.partial.gif")   # replaces the GIF only once complete
    try:
        animation.save(partial, writer=PillowWriter(fps=fps), dpi=dpi)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def plot_decision_boundary(model, X, t, ax=None, resolution=200, margin=0.5):
    """Colour the plane by the class the model predicts, and scatter the data on top,
    with a legend of the classes' colours.

    X has shape (2, n) (two features, samples in columns) and t shape (n,).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    X, t, resolution, margin = _check_plot(model, X, t, resolution, margin)
    ax = plt.gca() if ax is None else _check_axes(ax)
    (x1_min, x2_min), (x1_max, x2_max) = X.min(axis=1) - margin, X.max(axis=1) + margin
    x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, resolution),
                         np.linspace(x2_min, x2_max, resolution))
    grid = np.vstack([x1.ravel(), x2.ravel()])
    chunk = 2**16                               # columns per pass: bounded memory at any resolution
    classes = np.concatenate([model.predict(grid[:, i:i + chunk])
                              for i in range(0, grid.shape[1], chunk)]).reshape(x1.shape)
    colours = plt.get_cmap("coolwarm")(np.arange(model.n_classes) / max(model.n_classes - 1, 1))
    levels = np.arange(model.n_classes + 1) - 0.5          # class k's region: k - 1/2 to k + 1/2
    ax.contourf(x1, x2, classes, levels=levels, colors=colours, alpha=0.25)
    ax.scatter(X[0], X[1], c=t, cmap="coolwarm", s=14, edgecolors="k", linewidths=0.3,
               vmin=0, vmax=model.n_classes - 1)
    ax.legend(handles=[plt.Line2D([], [], ls="", marker="o", markersize=4, markerfacecolor=c,
                                  markeredgecolor="k", markeredgewidth=0.3, label=f"class {k}")
                       for k, c in enumerate(colours)],
              title="points: label\nshading: prediction", fontsize=7, title_fontsize=7)
    ax.set_xlabel("$x_0$")
    ax.set_ylabel("$x_1$")
    return ax


# ============================================================================
# 8. Argument checks. Every public function above calls one of these first.
#    Each converts its argument to what the mathematics will use, then checks
#    that: a number is checked as the float the model computes with.
#    Each is O(1) or one pass over its array, cheap next to a matrix product.
# ============================================================================

_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _type_name(value):
    return type(value).__name__


def _count(number, noun):
    """'1 row', '3 rows'."""
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _as_rng(rng):
    """A np.random.Generator from None, an int seed >= 0 or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, Integral) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed >= 0 or a np.random.Generator, "
                    f"got {rng!r} ({_type_name(rng)})")


def _as_float_dtype(dtype):
    try:
        converted = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if converted not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {converted}")
    return converted


def _positive_int(value, name, high=None):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r} ({_type_name(value)})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    if high is not None and value > high:
        shown = repr(value) if len(repr(value)) <= 20 else f"{repr(value)[:20]}..."
        raise ValueError(f"{name} must be at most {high}, got {shown}")
    return int(value)


_MAX_WIDTH = 10**7                      # units per layer or classes: far beyond memory already


def _fixed(name, error=AttributeError):
    call = ("NNClassifier(units, ...), starting from a plain list such as "
            "units = list(model.units)" if name == "units" else f"NNClassifier(..., {name}=...)")
    raise error(f"{name} is fixed when the model is built (it decides the layers and "
                f"their parameters): build a new {call}")


def _check_bool(value, name):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({_type_name(value)})")
    return bool(value)


def _number(value, name, dtype=np.float64, low=None, low_open=False, below=None, high=None):
    """value as the float of `dtype` the model computes with, checked after conversion:
    finite, >= low (> low if low_open), < below and <= high. Returns a Python float."""
    if high is not None:
        wanted = f"lie in {'(' if low_open else '['}{low:g}, {high:g}]"
    elif below is not None:
        wanted = f"lie in {'(' if low_open else '['}{low:g}, {below:g})"
    elif low is not None:
        wanted = "be a positive number" if low_open and low == 0 else f"be a number >= {low:g}"
    else:
        wanted = "be a finite number"
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must {wanted}, got {value!r} ({_type_name(value)})")
    dtype = np.dtype(dtype)
    try:
        as_float = float(value)
    except OverflowError:
        raise ValueError(f"{name} must {wanted}, got {repr(value)[:20]}..., too large for "
                         f"a float") from None
    if np.isfinite(as_float) and abs(as_float) > float(np.finfo(dtype).max):
        raise ValueError(f"{name} must {wanted}, got {value!r}, beyond the range of {dtype}")
    converted = float(dtype.type(as_float))
    changed = not np.isnan(as_float) and converted != value
    shown = f"{value!r}" + (f", which is {converted!r} in {dtype}" if changed else "")
    if converted == 0 and value != 0 and not (low is not None and value < low):
        none = " (use 0 for none)" if low == 0 and not low_open else ""
        raise ValueError(f"{name} must {wanted}, got {shown}: too small to have any "
                         f"effect{none}")
    if low is not None and value < low:         # before a tiny negative number rounds to -0.0
        raise ValueError(f"{name} must {wanted}, got {shown}")
    if (not np.isfinite(converted)
            or (low is not None and (converted < low or (low_open and converted == low)))
            or (below is not None and converted >= below)
            or (high is not None and converted > high)):
        raise ValueError(f"{name} must {wanted}, got {shown}")
    return converted


def _check_same_shape(a, b):
    """relative_error's a and b: finite real arrays of one shape (no broadcasting)."""
    a, b = _as_float_array(a, "a"), _as_float_array(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")
    converted = []
    for name, array in (("a", a), ("b", b)):
        if not np.isfinite(array).all():
            raise ValueError(f"{name} contains NaN or inf ({_non_finite_summary(array)})")
        with np.errstate(over="ignore"):                  # a longdouble: checked below
            as_float64 = array.astype(np.float64, copy=False)
        if not np.isfinite(as_float64).all():
            raise ValueError(f"{name} holds values beyond the range of float64 "
                             f"(largest magnitude {_magnitude(np.abs(array).max())})")
        converted.append(as_float64)
    return tuple(converted)


def _check_decimals(decimals):
    if isinstance(decimals, bool) or not isinstance(decimals, Integral):
        raise TypeError(f"decimals must be an int from 0 to 15, got {decimals!r} "
                        f"({_type_name(decimals)})")
    if not 0 <= decimals <= 15:
        raise ValueError(f"decimals must be an int from 0 to 15, got {decimals}")
    return int(decimals)


def _check_units(units):
    if (isinstance(units, (str, bytes, Set, Mapping)) or not hasattr(units, "__iter__")
            or (isinstance(units, np.ndarray) and units.ndim != 1)):
        raise TypeError(f"units must be an ordered sequence of ints such as [2, 10, 2], "
                        f"got {units!r} ({_type_name(units)})")
    units = list(units)
    if len(units) < 2:
        raise ValueError(f"units needs at least two entries (inputs and classes), got {units}")
    return _Units(_positive_int(u, f"units[{i}]", _MAX_WIDTH) for i, u in enumerate(units))


class _Units(list):
    """NNClassifier.units: a list that refuses changes, since the layers were built from it."""

    def _refuse(self, *args, **kwargs):
        _fixed("units", TypeError)
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse
    append = extend = insert = pop = remove = clear = sort = reverse = _refuse

    def __reduce__(self):                       # copy and pickle without append/extend
        return _Units, (list(self),)


def _check_activation(name):
    if not isinstance(name, str):
        raise TypeError(f"activation must be a str, one of {sorted(ACTIVATIONS)}, got {name!r}")
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return name


def _check_linear(n_in, n_out, rng, dtype, bias):
    return (_positive_int(n_in, "n_in", _MAX_WIDTH), _positive_int(n_out, "n_out", _MAX_WIDTH),
            _as_rng(rng), _as_float_dtype(dtype), _check_bool(bias, "bias"))


def _check_batch_norm(n_units, dtype):
    return _positive_int(n_units, "n_units", _MAX_WIDTH), _as_float_dtype(dtype)


def _check_norm_input(Z, norm, training):
    """Shape and type only: inside a diverging model, non-finite values must reach the
    model's own check, which reports the divergence."""
    _check_bool(training, "training")
    gamma = norm.gamma
    if type(gamma) is not np.ndarray or gamma.dtype not in _FLOAT_DTYPES or gamma.ndim != 2 \
            or gamma.shape[1] != 1:
        raise TypeError(f"gamma must be a float32 or float64 array of shape (d, 1), got "
                        f"{_type_name(gamma)}" + (f" of dtype {gamma.dtype} and shape {gamma.shape}"
                                                  if isinstance(gamma, np.ndarray) else ""))
    for name in ("beta", "running_mean", "running_var"):
        P = getattr(norm, name)
        if type(P) is not np.ndarray or P.dtype != gamma.dtype or P.shape != gamma.shape:
            got = (f"dtype {P.dtype} and shape {P.shape}" if isinstance(P, np.ndarray)
                   else _type_name(P))
            raise TypeError(f"{name} must be a {gamma.dtype} array of shape {gamma.shape} like "
                            f"gamma, got {got}; to set values, write into it: {name}[...] = values")
    Z = _check_layer_input(Z, gamma.T, "Z")
    if Z.shape[1] == 0:
        raise ValueError("Z has no columns: a mini-batch needs at least one sample")
    return Z


def _check_norm_backward(dY, norm):
    if norm.Zhat is None:
        raise RuntimeError("BatchNorm.backward needs a training pass first: "
                           "call the layer with training=True")
    dY = _check_layer_input(dY, norm.gamma.T, "dY")
    if dY.shape != norm.Zhat.shape:
        raise ValueError(f"dY must have the shape of the last training batch, {norm.Zhat.shape}, "
                         f"got {dY.shape}")
    return dY


def _check_batch_norm_batch(Z):
    n = Z.shape[1]
    if n < 2:
        raise ValueError("batch normalisation in training needs at least 2 samples in a "
                         "mini-batch (the variance of one sample is 0), got 1")
    return n


def _reject_masked(X, name):
    if isinstance(X, np.ma.MaskedArray):
        raise TypeError(f"{name} is a masked array: its mask would be ignored; "
                        f"drop the masked samples or fill them first")


def _array(X, name):
    """np.asarray(X), refusing a masked array and nested lists of different lengths."""
    _reject_masked(X, name)
    try:
        return np.asarray(X)
    except ValueError:
        raise ValueError(f"{name} must be a rectangular array, got nested sequences of "
                         f"different lengths") from None


def _as_float_array(Z, name):
    """Z as a float array (integers would wrap around in Z - max)."""
    Z = _array(Z, name)
    if Z.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {Z.dtype}")
    return Z if Z.dtype.kind == "f" else Z.astype(np.float64)


def _check_logits(Z):
    """softmax's and log_sum_exp's Z: a non-empty float array of finite logits."""
    Z = _as_float_array(Z, "Z")
    if Z.ndim not in (1, 2):
        raise ValueError(f"Z must be 1-D (one sample's logits) or 2-D (classes x samples), "
                         f"got shape {Z.shape}")
    if Z.shape[0] == 0:
        raise ValueError(f"Z must have at least one class (row), got shape {Z.shape}")
    if not np.isfinite(Z).all():
        raise FloatingPointError(f"the logits Z are not finite ({_non_finite_summary(Z)})")
    return Z


def _check_X(X, n_rows, dtype, name="X"):
    """X as a 2-D finite array of `dtype` with `n_rows` rows (no copy if it is one)."""
    X = _array(X, name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (features x samples), got shape {X.shape}; "
                         f"{_layout_hint(X, n_rows, name)}")
    if X.shape[0] != n_rows:
        raise ValueError(f"{name} has {_count(X.shape[0], 'row')}, the first layer expects {n_rows} "
                         f"({name} is features x samples; {_layout_hint(X, n_rows, name)})")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no columns: a mini-batch needs at least one sample")
    original = X
    # Converted, then checked. One sum is cheaper than np.isfinite(X).all(): a finite
    # sum proves every entry finite; only when it is not do we look closer.
    with np.errstate(over="ignore", invalid="ignore"):
        X = X.astype(dtype, copy=False)
        total = X.sum()
    if not np.isfinite(total) and not np.isfinite(X).all():
        if np.isfinite(original).all():
            raise ValueError(f"{name} holds values beyond the range of {dtype} "
                             f"(largest magnitude {_magnitude(np.abs(original).max())})")
        raise ValueError(f"{name} contains NaN or inf ({_non_finite_summary(original)})")
    return X


def _magnitude(x):
    """A number for a message, with 3 significant digits, even a longdouble beyond float64."""
    if np.isfinite(float(x)):
        return f"{float(x):.3g}"
    return np.format_float_scientific(x, precision=2, trim="-")


def _check_labels(t, n_classes, n=None, name="t", x_name="X"):
    """t as an int array of shape (n,) with values in [0, n_classes)."""
    t = _array(t, name)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integer class labels, got an array of dtype {t.dtype}")
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one label per sample, got shape {t.shape}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name} has {_count(t.shape[0], 'label')} but {x_name} has "
                         f"{_count(n, 'sample')} (columns)")
    if t.size == 0:
        raise ValueError(f"{name} is empty: there must be at least one label")
    if t.dtype.kind == "f":
        bad = ~np.isfinite(t) | (t != np.round(t))
        if bad.any():
            raise ValueError(f"{name} must hold whole numbers (class indices), "
                             f"got fractional or non-finite values such as {t[bad][:3]}")
    low, high = t.min(), t.max()
    if low < 0 or high >= n_classes:
        raise ValueError(f"{name} must hold labels in [0, {n_classes}), "
                         f"got values from {low} to {high}")
    return t.astype(np.intp, copy=False)


def _check_one_hot(t, n_classes, dtype):
    n_classes = _positive_int(n_classes, "n_classes", _MAX_WIDTH)
    return _check_labels(t, n_classes), n_classes, _as_float_dtype(dtype)


def _check_X_and_labels(X, t, model, names=("X", "t")):
    X = _check_X(X, model.units[0], model.dtype, names[0])
    return X, _check_labels(t, model.n_classes, X.shape[1], names[1], names[0])


def _check_logits_and_labels(Z, t):
    Z = _as_float_array(Z, "Z")
    if Z.ndim != 2:
        raise ValueError(f"Z must be 2-D, classes x samples, got shape {Z.shape}")
    if Z.shape[1] == 0:
        raise ValueError("Z has no columns: a mini-batch needs at least one sample")
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(Z).all()
    if not finite:
        raise FloatingPointError(f"the logits Z are not finite ({_non_finite_summary(Z)})")
    return Z, _check_labels(t, Z.shape[0], Z.shape[1], x_name="Z")


def _non_finite_summary(A):
    return f"{np.isnan(A).sum()} NaN, {np.isinf(A).sum()} inf of {A.size} entries"


def _check_finite_logits(Z_L, model, training):
    """Reported as an error: an argmax over NaN would silently predict class 0."""
    if not np.isfinite(Z_L).all():
        bad = [f"{name}{l}" for l, name, P, _ in model.parameters() if not np.isfinite(P).all()]
        if not training:                        # a training pass has not replaced them yet
            bad += [f"{name}{l}" for l, norm in enumerate(model.norms, start=1)
                    for name in ("running_mean", "running_var")
                    if not np.isfinite(getattr(norm, name)).all()]
            negative = [f"running_var{l}" for l, norm in enumerate(model.norms, start=1)
                        if (norm.running_var < 0).any()]
            if negative and not bad:
                raise FloatingPointError(f"the logits are not finite ({_non_finite_summary(Z_L)}): "
                                         f"{', '.join(negative)} has negative entries, but a "
                                         f"variance is >= 0 (was it set by hand?)")
        cause = (f"the parameters {', '.join(bad)} are not finite: training has diverged "
                 f"(or a value was set by hand)"
                 if bad else "the input or the weights are too large: the products overflow")
        raise FloatingPointError(f"the logits are not finite ({_non_finite_summary(Z_L)}): "
                                 f"{cause}")


def _check_batch_statistics(mu, var):
    """A batch whose mean or variance is not finite must not reach the running averages."""
    if not (np.isfinite(mu).all() and np.isfinite(var).all()):
        raise FloatingPointError("the batch statistics overflow (the batch mean or variance is "
                                 "not finite): the input, the activations or the weights before "
                                 "this layer are too large or not finite; the running averages "
                                 "are left as they were")


def _check_finite_statistics(model):
    """After a training pass: batch statistics that overflowed would poison evaluation."""
    bad = [f"{name}{l}" for l, norm in enumerate(model.norms, start=1)
           for name in ("running_mean", "running_var")
           if not np.isfinite(getattr(norm, name)).all()]
    if bad:
        raise FloatingPointError(f"the batch statistics overflow (the new {', '.join(bad)} "
                                 f"would not be finite): the activations have grown too large")


def _check_finite_losses(mean_loss):
    """A finite mean proves every per-sample loss finite."""
    if not np.isfinite(mean_loss):
        raise FloatingPointError(f"the loss is {float(mean_loss)} (the logits are finite but so far "
                                 f"apart that log sum exp(z) - z_t overflows: are the weights "
                                 f"far too large?)")


def _check_finite_penalty(loss):
    """softmax_cross_entropy has checked the data term: what overflows here is the penalty."""
    if not np.isfinite(loss):
        raise FloatingPointError(f"the loss is {loss} (the L2 penalty (l2 / 2) sum ||W_l||^2 "
                                 f"overflows: the weights have grown far too large)")


@contextlib.contextmanager
def _named_divergence(epoch, optimizer, last_loss, where=""):
    """Inside train(): a FloatingPointError names the epoch, the learning rate and the last
    finite batch loss (last_loss() returns it, or None before the first step)."""
    try:
        yield
    except FloatingPointError as error:
        if last_loss() is None:                 # the first loss or gradients: no step taken
            raise FloatingPointError(f"training failed before its first step: {error}. The "
                                     f"learning rate is not the cause: look at the input X "
                                     f"and at the weights the model starts from (its initial "
                                     f"ones, or those of earlier training)") from None
        raise FloatingPointError(f"training diverged in epoch {epoch} with learning rate "
                                 f"{optimizer.lr:g} (the last finite batch loss was "
                                 f"{last_loss():.4g}){where}: {error}. "
                                 f"Try a smaller learning rate.") from None


def _check_finite(model, what):
    """After backward() ("gradients") or a step ("parameters"): one sum per array, and a
    closer look only when a sum is not finite (a sum of finite entries can overflow).
    Only a step lr * dP that overflows makes a parameter non-finite."""
    gradients = what == "gradients"
    with np.errstate(over="ignore", invalid="ignore"):
        bad = [f"d{name}{l}" if gradients else f"{name}{l}"
               for l, name, P, dP in model.parameters()
               if not _all_finite(dP if gradients else P)]
    if bad and gradients:
        raise FloatingPointError(f"the gradients {', '.join(bad)} are not finite")
    if bad:
        raise FloatingPointError(f"the step lr * dP overflowed, and the parameters "
                                 f"{', '.join(bad)} are no longer finite")


def _all_finite(array):
    return np.isfinite(array.sum()) or np.isfinite(array).all()


class _restored_on_failure:
    """A training pass that raises leaves the batch-norm running statistics as they were
    (BatchNorm rebinds them, so keeping the old references is enough). One that succeeds
    records which parameter arrays it used: backward() refuses replaced ones."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        self.saved = [(norm.running_mean, norm.running_var) for norm in self.model.norms]

    def __exit__(self, kind, error, trace):
        if kind is not None:
            for norm, (mean, var) in zip(self.model.norms, self.saved):
                norm.running_mean, norm.running_var = mean, var
            self.model.clear_cache()
        else:
            self.model._pass_arrays = {(l, name): P for l, name, P, _ in self.model.parameters()}
        return False


def _check_backward_ready(model):
    if model.dZ_L is None:
        raise RuntimeError("backward() needs the training pass of a model.loss(X, t) call with "
                           "the current parameters and settings: call model.loss(X, t) first "
                           "(an optimizer step, a change of l2, dropout or activation, or a "
                           "forward(X, training=True), which caches no dZ_L, makes the last one "
                           "stale)")
    _check_parameters(model)
    now = {(l, name): P for l, name, P, _ in model.parameters()}
    for l, name in sorted(now.keys() ^ model._pass_arrays.keys()) + sorted(now.keys()):
        if now.get((l, name)) is not model._pass_arrays.get((l, name)):
            raise RuntimeError(f"{_where(l, name)} was replaced after the training pass: its "
                               f"gradient would belong to neither; call model.loss(X, t) again")


def _where(l, name):
    """Where a parameter of layer l lives in an NNClassifier."""
    return f"layers[{l - 1}].{name}" if name in ("W", "b") else f"norms[{l - 1}].{name}"


def _check_parameters(model):
    """W, b, gamma, beta and the running statistics may be replaced by hand
    (layer.W = ...): they must keep their shape and the model's dtype (a plain float
    array, not a masked one)."""
    if len(model.layers) != len(model.units) - 1:
        raise ValueError(f"model.layers has {len(model.layers)} layers, but the units "
                         f"{model.units} describe {len(model.units) - 1}: to change the "
                         f"architecture, build a new NNClassifier (and a new optimizer)")
    arrays = [(l, name, P) for l, name, P, _ in model.parameters()]
    arrays += [(l, name, getattr(norm, name)) for l, norm in enumerate(model.norms, start=1)
               for name in ("running_mean", "running_var")]
    for l, name, P in arrays:
        d_out, d_in = model.units[l], model.units[l - 1]
        shape = (d_out, d_in) if name == "W" else (d_out, 1)
        if (type(P) is not np.ndarray) or P.shape != shape or P.dtype != model.dtype:
            got = ("a masked array" if isinstance(P, np.ma.MaskedArray) else
                   f"an array of dtype {P.dtype} and shape {P.shape}"
                   if isinstance(P, np.ndarray) else f"a {_type_name(P)}")
            where = _where(l, name)
            raise TypeError(f"{where} must be a {model.dtype} array of shape {shape}, got {got}; "
                            f"to set values, write into it: {where}[...] = values")


def _check_linear_parameters(layer):
    """A Linear layer's W (and b), which may have been replaced by hand: layer.W."""
    W, b = layer.W, layer.b
    if type(W) is not np.ndarray or W.dtype not in _FLOAT_DTYPES or W.ndim != 2:
        got = f"dtype {W.dtype} and shape {W.shape}" if isinstance(W, np.ndarray) else _type_name(W)
        raise TypeError(f"W must be a float32 or float64 array of shape (n_out, n_in), got {got}")
    if b is not None and (type(b) is not np.ndarray or b.dtype != W.dtype
                          or b.shape != (W.shape[0], 1)):
        got = f"dtype {b.dtype} and shape {b.shape}" if isinstance(b, np.ndarray) else _type_name(b)
        raise TypeError(f"W and b must be arrays of one dtype, b of shape {(W.shape[0], 1)} "
                        f"(a column per row of W): W is {W.dtype} {W.shape}, b is {got}")
    return W


def _check_layer_input(X, W, name="X"):
    """X as an array of W's dtype, shape (W's columns, n). Its values are not checked
    (inside a diverging model they must reach the model's own finiteness check), except
    that a cast to a narrower dtype must not turn finite values into inf."""
    X = _array(X, name)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {X.dtype}")
    if X.dtype.kind == "f" and X.dtype.itemsize > W.dtype.itemsize:
        with np.errstate(over="ignore"):
            narrowed = X.astype(W.dtype)
        overflowed = np.isinf(narrowed) & np.isfinite(X)
        if overflowed.any():
            raise ValueError(f"{name} holds values beyond the range of {W.dtype} "
                             f"(largest magnitude {_magnitude(np.abs(X[overflowed]).max())})")
        return _check_layer_shape(narrowed, W, name)
    return _check_layer_shape(X.astype(W.dtype, copy=False), W, name)


def _check_layer_shape(X, W, name):
    if X.ndim != 2 or X.shape[0] != W.shape[1]:
        raise ValueError(f"{name} has shape {X.shape}, this layer expects ({W.shape[1]}, n) "
                         f"({name} is units x samples; {_layout_hint(X, W.shape[1], name)})")
    return X


def _layout_hint(X, n_rows, name):
    """The fix that would give X n_rows rows, one column per sample, if one does."""
    if X.ndim == 2 and X.shape[1] == n_rows:
        return f"did you mean {name}.T?"
    if X.size == n_rows:
        return f"a single sample x is {name} = x.reshape(-1, 1)"
    if X.ndim > 2 and np.prod(X.shape[1:]) == n_rows:
        return (f"samples of shape {X.shape[1:]} become columns with "
                f"{name}.reshape(len({name}), -1).T")
    return f"neither {name}.T nor a reshape of {name} gives {n_rows} rows"


def _check_model(model, name="model"):
    if not isinstance(model, NNClassifier):
        raise TypeError(f"{name} must be an NNClassifier, got {_type_name(model)}")
    return model


def _check_optimizable(model):
    if not (callable(getattr(model, "parameters", None))
            and callable(getattr(model, "clear_cache", None))):
        raise TypeError(f"model must be an NNClassifier (or have parameters() and "
                        f"clear_cache()), got {_type_name(model)}")
    _model_parameters(model)
    return model


def _model_parameters(model):
    """model.parameters() as a list of (l, name, P, dP), each P a float NumPy array."""
    params = model.parameters()
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"model.parameters() must return a list of (l, name, P, dP), "
                        f"got {_type_name(params)}") from None
    for item in params:
        if not isinstance(item, (tuple, list)) or len(item) != 4:
            got = (f"one of length {len(item)}" if isinstance(item, (tuple, list))
                   else f"an item of type {_type_name(item)}")
            raise TypeError(f"model.parameters() must return (l, name, P, dP) tuples, got {got}")
        l, name, P, _ = item
        if not isinstance(P, np.ndarray) or P.dtype not in _FLOAT_DTYPES:
            got = f"dtype {P.dtype}" if isinstance(P, np.ndarray) else _type_name(P)
            raise TypeError(f"parameter {name}{l} must be a float32 or float64 NumPy array "
                            f"(np.array([2.0, 1.0]), not [2, 1]), got {got}")
    return [tuple(item) for item in params]


def _dtype_of(owner):
    """The float dtype a model, or an optimizer's model, computes in (for a model other
    than an NNClassifier, its first parameter's)."""
    if isinstance(owner, BatchNorm):
        return owner.gamma.dtype
    model = owner.model if isinstance(owner, SGD) else owner
    if isinstance(model, NNClassifier):
        return model.dtype
    params = _model_parameters(model)
    return params[0][2].dtype if params else np.dtype(np.float64)


def _check_step(model):
    """Every (P, dP) of model.parameters(), checked before step() writes anything."""
    if isinstance(model, NNClassifier):
        _check_parameters(model)
        params = model.parameters()
    else:
        params = _model_parameters(model)
    for l, name, P, dP in params:
        if dP is None:
            raise RuntimeError("step() needs gradients: call model.loss(X, t) and "
                               "model.backward() first")
        if not isinstance(P, np.ndarray) or not P.flags.writeable:
            raise ValueError(f"parameter {name}{l} is not a writeable array: the optimizer "
                             f"updates parameters in place")
        if not isinstance(dP, np.ndarray) or dP.shape != P.shape or dP.dtype != P.dtype:
            got = (f"dtype {dP.dtype} and shape {dP.shape}" if isinstance(dP, np.ndarray)
                   else _type_name(dP))
            raise ValueError(f"the gradient d{name}{l} must be a {P.dtype} array of shape "
                             f"{P.shape}, got {got}")
    return [(P, dP) for _, _, P, dP in params]


def _check_state(params, state, name):
    """An optimizer's state arrays, made at its first step(), still match the parameters."""
    if not isinstance(state, list):
        raise TypeError(f"{name} must be the list of arrays step() made (one per parameter), "
                        f"got {_type_name(state)}")
    if len(state) != len(params) or any(type(S) is not np.ndarray or S.shape != P.shape
                                        for S, (P, _) in zip(state, params)):
        raise ValueError(f"{name} no longer matches the model's parameters (changed since this "
                         f"optimizer's first step()?): create a new optimizer for the model")
    for i, (S, (P, _)) in enumerate(zip(state, params)):
        if S.dtype != P.dtype or not S.flags.writeable:
            got = f"dtype {S.dtype}" if S.dtype != P.dtype else "a read-only array"
            raise ValueError(f"{name}[{i}] must be a writeable {P.dtype} array like its "
                             f"parameter, got {got} (for another model, create a new optimizer)")


def _check_still_training(model, optimizer, epoch):
    if optimizer.model is not model:
        raise ValueError(f"the callback gave the optimizer another model after epoch {epoch}: "
                         f"the remaining epochs would not update the model being trained")


def _check_optimizer_state(optimizer):
    """train(): momentum's or Adam's state, if a step has made it, still fits the model."""
    params = [(P, dP) for _, _, P, dP in optimizer.model.parameters()]
    for name in ("velocity", "m", "v"):
        state = getattr(optimizer, name, None)
        if state is not None:
            _check_state(params, state, name)


def _check_new_model(optimizer, model):
    """The model an optimizer is given, with every number setting the optimizer already
    has checked again as the float that model computes with."""
    model = _check_optimizable(model)
    dtype = _dtype_of(model)
    for name in dir(type(optimizer)):
        setting = getattr(type(optimizer), name)
        if isinstance(setting, _Setting) and hasattr(optimizer, "_" + name):
            _number(getattr(optimizer, name), name, dtype, **setting.bounds)
    return model


def _check_callable(f, name):
    if not callable(f):
        raise TypeError(f"{name} must be callable, got {f!r} ({_type_name(f)})")
    return f


def _check_training(model, X, t, optimizer, epochs, batch_size, X_val, t_val, callback):
    """Everything train() needs, checked before its first update."""
    _check_model(model)
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    if not isinstance(optimizer, SGD):
        raise TypeError(f"optimizer must be an nn.SGD, nn.Momentum or nn.Adam, "
                        f"got {_type_name(optimizer)}")
    if optimizer.model is not model:
        raise ValueError("optimizer must update the model being trained: build it with this "
                         "model, e.g. optimizer = nn.SGD(model, lr) after model = ...")
    _check_parameters(model)                    # a replaced W is named as such, then the state
    _check_optimizer_state(optimizer)
    X, t = _check_X_and_labels(X, t, model)
    if (X_val is None) != (t_val is None):
        raise ValueError("give both X_val and t_val, or neither")
    if X_val is not None:
        X_val, t_val = _check_X_and_labels(X_val, t_val, model, ("X_val", "t_val"))
    if callback is not None:
        _check_callable(callback, "callback")
        try:
            inspect.signature(callback).bind(1, model)
        except TypeError:
            raise TypeError("callback must accept two arguments, callback(epoch, model)") from None
        except ValueError:                      # no signature to read (some builtins)
            pass
    if model.batch_norm and 1 in (batch_size, X.shape[1], X.shape[1] % batch_size):
        raise ValueError(f"with batch_norm, every mini-batch needs at least 2 samples, but "
                         f"{X.shape[1]} samples in batches of {batch_size} leave a batch of "
                         f"one: choose another batch_size")
    return X, t, X_val, t_val, epochs, batch_size


def _check_seeds(seeds):
    if isinstance(seeds, Integral) and not isinstance(seeds, bool):
        return range(_positive_int(seeds, "seeds"))
    try:
        seeds = list(seeds)
    except TypeError:
        raise TypeError(f"seeds must be an int or a sequence of ints, got {seeds!r}") from None
    if not seeds:
        raise ValueError("seeds is empty: give at least one seed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, Integral):
            raise TypeError(f"seeds must be an int or a sequence of ints >= 0, got the seed "
                            f"{seed!r} ({_type_name(seed)})")
        if seed < 0:
            raise ValueError(f"seeds must be ints >= 0, got the seed {seed}")
    return seeds


def _check_results(results, seeds):
    """repeat_over_seeds: every run(seed) gave real numbers of one shape; one array."""
    arrays = []
    for seed, result in zip(seeds, results):
        _reject_masked(result, f"run({seed})'s result")
        try:
            array = np.asarray(result) if not isinstance(result, (str, bytes)) else None
        except ValueError:                      # a ragged list
            raise ValueError(f"run({seed}) must return a number or an array of a fixed shape, "
                             f"got a ragged {_type_name(result)}") from None
        if array is not None and _exact_numbers(array):
            array = _exact_numbers_as_floats(array, f"run({seed})'s result")   # Fraction, Decimal
        if array is None or array.dtype.kind not in "biuf":
            raise TypeError(f"run({seed}) must return a number or an array of numbers, "
                            f"got {_type_name(result)}")
        if arrays and array.shape != arrays[0].shape:
            raise ValueError(f"run({seed}) returned shape {array.shape}, run({seeds[0]}) "
                             f"returned {arrays[0].shape}: every seed must give the same shape")
        arrays.append(array)
    return np.array(arrays)


def _exact_numbers(array):
    """An object array holding only real numbers: Fractions, Decimals, ints beyond int64."""
    return array.dtype.kind == "O" and all(isinstance(value, (Real, Decimal))
                                           for value in array.ravel())


def _exact_numbers_as_floats(array, name):
    """An object array of Fractions, Decimals or ints too large for int64, as float64."""
    try:
        floats = np.array([np.nan if isinstance(value, Decimal) and value.is_snan() else float(value)
                           for value in array.ravel()]).reshape(array.shape)
    except OverflowError:
        floats = None
    finite = [not (isinstance(value, Decimal) and not value.is_finite()) for value in array.ravel()]
    if floats is None or np.any(np.isinf(floats.ravel()) & finite):
        raise ValueError(f"{name} holds a number beyond the range of float64")
    return floats


def _check_sample(values):
    if isinstance(values, (str, bytes)):
        raise TypeError(f"values must be numbers, got {_type_name(values)} {values!r}")
    raw = _array(values, "values")
    if raw.size == 0:
        raise ValueError("values is empty: mean_sd needs at least one value")
    if raw.ndim > 1 and any(size > 1 for size in raw.shape[1:]):
        raise ValueError(f"values must be 1-D (say, one number per seed), got an array of "
                         f"shape {raw.shape}: take one row or column of it "
                         f"(results[0] or results[:, 0])")
    if not (raw.dtype.kind in "biuf" or _exact_numbers(raw)):
        raise TypeError(f"values must be numbers, got {_type_name(values)} {values!r}")
    if raw.dtype.kind == "O":
        raw = _exact_numbers_as_floats(raw, "values")
    with np.errstate(over="ignore"):            # a longdouble beyond float64: reported below
        values = raw.astype(np.float64).ravel()
    if not np.isfinite(values).all():
        if raw.dtype.kind in "f" and np.isfinite(raw).all():
            raise ValueError(f"values as large as {_magnitude(np.abs(raw).max())} are beyond "
                             f"the range of float64")
        raise ValueError(f"values must be finite, got {values}")
    if np.abs(values).max() > 1e150:
        raise ValueError(f"values as large as {np.abs(values).max():.3g} overflow their mean "
                         f"and spread")
    return values


def _int_below(value, name, power):
    """An int in [0, 2^power): Adam's step count k, scikit-learn's random_state."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an int >= 0, got {value!r} ({_type_name(value)})")
    if not 0 <= value < 2**power:
        raise ValueError(f"{name} must be an int in [0, 2^{power}), got {value}")
    return int(value)


def _check_step_count(value):
    """Adam.k, below 2^62 so that beta^k stays a float operation."""
    return _int_below(value, "k, the number of steps taken,", 62)


def _check_binomial(p, n):
    n = _positive_int(n, "n", 2**53)            # a count of samples, exact as a float
    p = _number(p, "p", low=0)
    if p > 1:
        raise ValueError(f"p is an accuracy and must lie in [0, 1], got {p}")
    return p, n


def _check_difference(P, h):
    if type(P) is not np.ndarray or P.dtype.kind != "f":
        got = f"an array of dtype {P.dtype}" if type(P) is np.ndarray else _type_name(P)
        raise TypeError(f"P must be a float NumPy array (changed in place), got {got}")
    if not P.flags.writeable:
        raise ValueError("P must be writeable: central_difference changes it in place")
    h = _check_step_size(h)
    if not np.isfinite(P).all():
        raise ValueError("P contains NaN or inf: central differences need finite values")
    step = (P + P.dtype.type(h)) - (P - P.dtype.type(h))     # the step P can really take
    if P.size and np.any(np.abs(step - 2 * h) > 0.01 * 2 * h):
        raise ValueError(f"h = {h} is rounded away next to entries of P as large as "
                         f"{np.abs(P).max():.3g} in {P.dtype} (P + h - (P - h) is not 2h to 1%): "
                         f"use a larger h, or P in float64")
    return P, h


def _value_of(value, index):
    """f()'s value in central_difference: a finite real number."""
    where = f"P[{', '.join(map(str, index))}]" if index else "P"
    if isinstance(value, np.ndarray) and value.size == 1 and value.dtype.kind in "iufc":
        value = value.reshape(()).item()        # np.sum(..., keepdims=True), a (1, 1) product
    numbers = (Real, Decimal, complex, np.complexfloating)     # complex: refused below
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers):
        raise TypeError(f"f() must return a number (a float), got {_type_name(value)}")
    if np.iscomplexobj(value):
        raise ValueError(f"f() returned {value} with {where} moved by +-h: central "
                         f"differences need a real value")
    try:
        number = float(value)
    except OverflowError:
        raise ValueError(f"f() returned a number beyond the range of float64 with {where} "
                         f"moved by +-h") from None
    if not np.isfinite(number):
        raise ValueError(f"f() returned {value} with {where} moved by +-h: central "
                         f"differences need a finite real value")
    return number


def _check_step_size(h):
    h = _number(h, "h", low=0, low_open=True)
    if not 1e-10 <= h <= 1e-2:
        raise ValueError(f"h must lie in [1e-10, 1e-2] (rounding swamps smaller steps, "
                         f"curvature larger ones), got {h}")
    return h


def _check_gradient_check(model, h):
    _check_step_size(h)
    if model.dtype != np.float64:
        raise ValueError(f"gradient_check needs a float64 model (differences of size h "
                         f"drown in float32 rounding), got {model.dtype}")


def _check_digits_split(val_size, test_size, random_state, dtype, n, n_classes):
    val_size = _number(val_size, "val_size", low=0, low_open=True, below=1)
    test_size = _number(test_size, "test_size", low=0, low_open=True, below=1)
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be below 1, got {val_size + test_size}")
    random_state = _int_below(random_state, "random_state (scikit-learn's seed)", 32)
    # The counts scikit-learn's two splits make (it rounds each held-out part up).
    n_test = int(np.ceil(test_size * n))
    n_val = int(np.ceil(val_size / (1 - test_size) * (n - n_test)))
    for part, size, count in (("val_size", val_size, n_val), ("test_size", test_size, n_test),
                              ("1 - val_size - test_size", 1 - val_size - test_size,
                               n - n_test - n_val)):
        if count < n_classes:
            raise ValueError(f"{part} = {size:.4g} leaves {count} of the {n} digits, fewer "
                             f"than {n_classes} (one per class), for a stratified split")
    return val_size, test_size, random_state, _as_float_dtype(dtype)


_FIGURE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")


def _figure_path(name, suffix):
    if not isinstance(name, str):
        raise TypeError(f"name must be a str such as '05_loss_curve', got {_type_name(name)}")
    if not _FIGURE_NAME.fullmatch(name) or len(name) > 100:
        raise ValueError(f"name must be a plain file name of letters, digits, '_' and '-', "
                         f"without folder or suffix (such as '05_loss_curve'), at most 100 "
                         f"characters, got {name!r}")
    folder = figures_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"{name}{suffix}"


def _check_figure(fig):
    from matplotlib.figure import Figure
    if not isinstance(fig, Figure):
        raise TypeError(f"fig must be a matplotlib Figure, got {_type_name(fig)}")
    return fig


def _check_axes(ax):
    from matplotlib.axes import Axes
    if not isinstance(ax, Axes):
        raise TypeError(f"ax must be a matplotlib Axes, got {_type_name(ax)}")
    return ax


def _check_animation(animation):
    from matplotlib.animation import Animation
    if not isinstance(animation, Animation):
        raise TypeError(f"animation must be a matplotlib Animation, got {_type_name(animation)}")
    return animation


def _check_plot(model, X, t, resolution, margin):
    _check_model(model)
    if model.units[0] != 2:
        raise ValueError(f"plot_decision_boundary draws the plane of a model with 2 inputs, "
                         f"this one has {model.units[0]}")
    X = _check_X(X, 2, np.float64)
    t = _check_labels(t, model.n_classes, n=X.shape[1])
    resolution = _positive_int(resolution, "resolution", high=2000)
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2 (grid points per axis), got {resolution}")
    margin = _number(margin, "margin", low=0)
    low, high = float(X.min()), float(X.max())
    if not np.isfinite(high - low):
        raise ValueError(f"X spans from {low:.3g} to {high:.3g}: the plotted region overflows "
                         f"float64; rescale the data")
    limit = float(np.finfo(model.dtype).max)
    if not (np.isfinite((high + margin) - (low - margin))
            and max(abs(high + margin), abs(low - margin)) <= limit):
        raise ValueError(f"margin = {margin} makes the plotted region overflow (the model "
                         f"computes in {model.dtype}); use a margin on the scale of the data")
    return X, t, resolution, margin


# -- model files --------------------------------------------------------------

def _npz_path(path):
    """Path(path), with .npz appended if it has another suffix or none, as np.savez does."""
    if not isinstance(path, (str, PathLike)):
        raise TypeError(f"path must be a str or a path-like object, got {_type_name(path)}")
    if not Path(path).name or str(path).endswith(("/", os.sep)):
        raise ValueError(f"path must name a file, got {str(path)!r}")
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


_SETTINGS = {"units": "iu", "dtype": "U", "l2": "f", "dropout": "f", "activation": "U",
             "batch_norm": "b"}


def _read_model_file(cls, path, rng):
    """load(): read and check a file written by save(), member by member.

    Only the members save() writes are read. Each one's dtype and shape are checked
    from its .npy header, against the units, before its data is read; members must be
    stored uncompressed (as np.savez stores them), and the units are checked against the
    file's size before the model is built, so a small file cannot make a large allocation.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with zipfile.ZipFile(path) as archive:
            names = [info.filename for info in archive.infolist()]
            duplicated = sorted(name for name, count in Counter(names).items() if count > 1)
            if duplicated:
                raise ValueError(f"{path} is not a model file written by NNClassifier.save: "
                                 f"members {duplicated} appear more than once")
            members = {info.filename: info for info in archive.infolist()}
            settings = {key: _read_member(archive, members, path, key, kinds)
                        for key, kinds in _SETTINGS.items()}
            model = _model_from_settings(cls, settings, path, rng)
            expected = {f"{key}.npy": array for key, array in model._state_arrays().items()}
            norm_settings = [(norm, l, key) for l, norm in enumerate(model.norms, start=1)
                             for key in ("eps", "momentum")]
            stored = {f"{key}{l}.npy" for _, l, key in norm_settings}
            if not stored & set(members):       # written before save() stored them
                norm_settings = []              # so the defaults, as load() then gave
            unknown = set(members) - expected.keys() - {f"{k}.npy" for k in _SETTINGS} - stored
            if unknown:
                raise ValueError(f"{path} is not a model file written by NNClassifier.save: "
                                 f"unexpected members {sorted(unknown)}")
            for member, target in expected.items():
                target[...] = _read_member(archive, members, path, member[:-4],
                                           target.dtype.kind, target.shape, target.dtype)
            for norm, l, key in norm_settings:
                value = _read_member(archive, members, path, f"{key}{l}", "f").item()
                try:
                    setattr(norm, key, value)
                except ValueError as error:
                    raise ValueError(f"{path}: member '{key}{l}': {error}") from None
            for l, norm in enumerate(model.norms, start=1):
                if not (norm.running_var >= 0).all():
                    raise ValueError(f"{path}: member 'running_var{l}' has negative or NaN "
                                     f"entries: a variance is >= 0")
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as error:
        raise ValueError(f"{path} is not a readable model file written by NNClassifier.save "
                         f"({_type_name(error)}: {error})") from None
    model.clear_cache()
    return model


def _read_member(archive, members, path, key, kinds, shape=None, dtype=None):
    """One .npy member, after checking its header: dtype kind in `kinds`, shape, storage."""
    info = members.get(f"{key}.npy")
    if info is None:
        raise ValueError(f"{path} is not a model file written by NNClassifier.save: "
                         f"missing member {key!r}")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ValueError(f"{path}: member {key!r} is compressed; NNClassifier.save writes "
                         f"uncompressed members")
    with archive.open(info) as file:
        try:
            version = np.lib.format.read_magic(file)
            header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                      else np.lib.format.read_array_header_2_0)
            stored_shape, fortran, stored_dtype = header(file)
        except ValueError as error:
            raise ValueError(f"{path}: member {key!r} is not a NumPy .npy array ({error})") from None
        if (stored_dtype.kind not in kinds or stored_dtype.itemsize == 0
                or (dtype is not None and stored_dtype != dtype)):
            want = dtype if dtype is not None else f"kind {kinds!r}"
            raise ValueError(f"{path}: member {key!r} has dtype {stored_dtype}, expected {want}")
        if shape is not None and stored_shape != shape:
            raise ValueError(f"{path}: member {key!r} has shape {stored_shape}, the model's "
                             f"units need {shape}")
        if shape is None and key != "units" and stored_shape != ():
            raise ValueError(f"{path}: member {key!r} has shape {stored_shape}, "
                             f"a setting is a single value, shape ()")
        if key == "units" and (len(stored_shape) != 1 or stored_shape[0] > 64):
            raise ValueError(f"{path}: member 'units' has shape {stored_shape}, "
                             f"expected a short 1-D list of layer widths")
        count = int(np.prod(stored_shape))
        data = file.read(count * stored_dtype.itemsize)
        if len(data) != count * stored_dtype.itemsize:
            raise ValueError(f"{path}: member {key!r} is truncated")
        return np.frombuffer(data, dtype=stored_dtype).reshape(
            stored_shape, order="F" if fortran else "C")


def _model_from_settings(cls, settings, path, rng):
    units = settings["units"]
    if units.ndim != 1:
        raise ValueError(f"{path}: member 'units' must be 1-D, got shape {units.shape}")
    try:
        units = _check_units(units.tolist())
        kwargs = {key: settings[key].item() for key in ("dtype", "l2", "dropout", "activation",
                                                        "batch_norm")}
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} does not describe a model NNClassifier can build: "
                         f"{error}") from None
    # Check the size the units need against the file before allocating anything.
    itemsize = np.dtype(kwargs["dtype"]).itemsize if kwargs["dtype"] in ("float32", "float64") else 8
    needed = sum(d_in * d_out for d_in, d_out in zip(units[:-1], units[1:])) * itemsize
    if needed > path.stat().st_size:
        raise ValueError(f"{path}: units {units} need {needed} bytes of weights, more than "
                         f"the file holds ({path.stat().st_size} bytes): the units were edited "
                         f"or the file is cut short")
    try:
        return cls(units, rng=rng, **kwargs)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{path} does not describe a model NNClassifier can build: "
                         f"{error}") from None
