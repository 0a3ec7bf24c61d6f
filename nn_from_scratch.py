"""A fully connected neural network classifier, derived by hand and written in NumPy.

This is the one helper module of the nn-from-scratch notebooks. Read it top to
bottom: every function states the shapes it takes and the equation it computes,
and the notebooks derive each equation before using it.

Conventions (the same as in the notebooks)
------------------------------------------
* A mini-batch is a matrix whose **columns are samples**: ``X`` has shape
  ``(n_features, n)``.
* Labels ``t`` are integers in ``[0, K)`` with shape ``(n,)``; the one-hot
  targets ``T = one_hot_convert(t, K)`` have shape ``(K, n)``.
* Layer ``l`` computes ``Z_l = W_l A_{l-1} + b_l`` and ``A_l = f_l(Z_l)``, with
  ``A_0 = X``, ReLU for the hidden layers and softmax for the last one.
* A name that starts with ``d`` is a gradient with respect to the rest of the
  name and has its shape: ``dW`` is dL/dW, L the mean loss over the mini-batch.
  The one exception is ``dZ_L = softmax(Z_L) - T``: its columns are the
  per-sample gradients dL_i/dz_L, as in the derivation (the mean loss's is dZ_L / n).
* Randomness is explicit: whatever draws numbers takes ``rng``, an int seed or
  a ``np.random.Generator``. Nothing here touches the global ``np.random``.
"""
from numbers import Integral, Real
from os import PathLike
from pathlib import Path

import numpy as np
from scipy.linalg import get_blas_funcs

__all__ = [
    "Linear", "relu", "d_relu", "one_hot_convert", "log_sum_exp", "softmax",
    "NNClassifier", "SGD", "Momentum", "Adam", "gradient_check", "train",
    "accuracy", "load_digits_split", "save_fig", "save_animation",
    "plot_decision_boundary", "FIGURES",
]

FIGURES = Path(__file__).resolve().parent / "figures"
_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


# ----------------------------------------------------------------------------
# Argument checks. Each one is O(1) or one pass over its array, so that it
# stays cheap next to the matrix products it guards.
# ----------------------------------------------------------------------------

def _as_rng(rng):
    """Return a np.random.Generator from None, an int seed or a Generator."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, Integral) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be None, an int seed >= 0 or a np.random.Generator, "
                    f"got {rng!r} ({type(rng).__name__})")


def _as_float_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype!r}") from None
    if dtype not in _FLOAT_DTYPES:
        raise TypeError(f"dtype must be np.float32 or np.float64, got {dtype}")
    return dtype


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be a positive int, got {value!r} "
                        f"({type(value).__name__})")
    if value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value}")
    return int(value)


def _positive_float(value, name):
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a positive number, got {value!r} "
                        f"({type(value).__name__})")
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return float(value)


def _fraction(value, name, low_open=False):
    """A number in [0, 1) (or (0, 1) when low_open)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    if not (0 < value < 1 if low_open else 0 <= value < 1):
        interval = "(0, 1)" if low_open else "[0, 1)"
        raise ValueError(f"{name} must lie in {interval}, got {value}")
    return float(value)


def _check_X(X, n_rows, dtype, name="X"):
    """Return X as a 2-D finite array of `dtype` with `n_rows` rows (no copy if it is one)."""
    X = np.asarray(X)
    if X.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, got an array of dtype {X.dtype}")
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (features x samples), got shape {X.shape}; "
                         f"a single sample x is X = x.reshape(-1, 1)")
    if X.shape[0] != n_rows:
        raise ValueError(f"{name} has {X.shape[0]} rows, the first layer expects {n_rows} "
                         f"({name} is features x samples; did you mean {name}.T?)")
    if X.shape[1] == 0:
        raise ValueError(f"{name} has no columns: a mini-batch needs at least one sample")
    original = X
    # One sum is cheaper than np.isfinite(X).all(): a finite sum proves every
    # entry finite. Only when it is not (NaN, inf, or a genuine overflow) do we look closer.
    with np.errstate(over="ignore", invalid="ignore"):
        X = X.astype(dtype, copy=False)
        total = X.sum()
    if not np.isfinite(total) and not np.isfinite(X).all():
        if np.isfinite(original).all():
            raise ValueError(f"{name} holds values beyond the range of {dtype} "
                             f"(largest magnitude {np.abs(original).max():.3g})")
        raise ValueError(f"{name} contains NaN or inf")
    return X


def _check_labels(t, n_classes, n=None, name="t"):
    """Return t as an int array of shape (n,) with values in [0, n_classes)."""
    t = np.asarray(t)
    if t.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold integer class labels, got an array of dtype {t.dtype}")
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D with one label per sample, got shape {t.shape}")
    if n is not None and t.shape[0] != n:
        raise ValueError(f"{name} has {t.shape[0]} labels but X has {n} samples (columns)")
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


def _reusable_out(buffer, like):
    """buffer, for out=, if it has the shape and dtype of `like`; else None (NumPy allocates)."""
    if buffer is not None and buffer.shape == like.shape and buffer.dtype == like.dtype:
        return buffer
    return None


# ----------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------

class Linear:
    """A fully connected layer: Z = W X + b.

    Parameters
    ----------
    n_inputs, n_outputs : int
        Widths of the layer's input and output.
    rng : int, np.random.Generator or None
        Source of the initial weights.
    dtype : np.float32 or np.float64

    Attributes
    ----------
    W : (n_outputs, n_inputs)  He initialisation, W_ij ~ N(0, 2 / n_inputs)
    b : (n_outputs, 1)         zeros
    dW, db : gradients of the loss, same shapes, filled by NNClassifier.backward
             (overwritten in place by the next backward: copy them to keep them)
    A_prev, Z : the input and output of the last call with cache=True
    """

    def __init__(self, n_inputs, n_outputs, rng=None, dtype=np.float64):
        n_inputs = _positive_int(n_inputs, "n_inputs")
        n_outputs = _positive_int(n_outputs, "n_outputs")
        dtype = _as_float_dtype(dtype)
        rng = _as_rng(rng)
        # Drawn in float64 and rounded, so float32 and float64 models built from
        # the same seed start from the same weights (up to rounding).
        W = rng.standard_normal((n_outputs, n_inputs)) * np.sqrt(2.0 / n_inputs)
        self.W = W.astype(dtype, copy=False)
        self.b = np.zeros((n_outputs, 1), dtype=dtype)
        self.dW = None
        self.db = None
        self.A_prev = None
        self.Z = None

    def __call__(self, X, cache=False):
        """Z = W X + b for X of shape (n_inputs, n); returns Z, shape (n_outputs, n).

        With cache=True the layer keeps X and Z for the backward pass. They are
        kept by reference, not copied: nothing here modifies them afterwards.
        """
        X = np.asarray(X, dtype=self.W.dtype)     # no copy when X already has W's dtype
        if X.ndim != 2 or X.shape[0] != self.W.shape[1]:
            raise ValueError(f"X has shape {X.shape}, this layer expects "
                             f"({self.W.shape[1]}, n) (X is features x samples; "
                             f"did you mean X.T?)")
        Z = self.W @ X
        Z += self.b                      # broadcast the bias column over the batch
        if cache:
            self.A_prev, self.Z = X, Z
        return Z


def relu(X):
    """ReLU, f(x) = max(0, x), elementwise. Keeps the shape and float dtype of X."""
    return np.maximum(X, 0)


def d_relu(X):
    """Derivative of ReLU, f'(x) = 1 if x > 0 else 0, as an array of X's dtype.

    (f is not differentiable at 0; like every framework we take f'(0) = 0.)
    NNClassifier.backward multiplies by the same mask, X > 0, without this float copy.
    """
    X = np.asarray(X)
    return (X > 0).astype(X.dtype)


def one_hot_convert(t, n_classes, dtype=np.float64):
    """One-hot targets T of shape (n_classes, n) from integer labels t of shape (n,).

    T[k, i] = 1 if t[i] == k else 0. T has the float dtype of the model, so that
    softmax(Z) - T does not promote or demote anything.
    """
    n_classes = _positive_int(n_classes, "n_classes")
    return _one_hot(_check_labels(t, n_classes), n_classes, _as_float_dtype(dtype))


def _one_hot(t, n_classes, dtype):
    """one_hot_convert for labels already checked."""
    T = np.zeros((n_classes, t.shape[0]), dtype=dtype)
    T[t, np.arange(t.shape[0])] = 1
    return T


def _as_float_array(Z):
    """Z as a float array (integers would wrap around in Z - max)."""
    Z = np.asarray(Z)
    if Z.dtype.kind not in "biuf":
        raise TypeError(f"Z must hold real numbers, got an array of dtype {Z.dtype}")
    return Z if Z.dtype.kind == "f" else Z.astype(np.float64)


def log_sum_exp(Z):
    """log sum_j exp(Z[j, i]) for every column i, computed without overflow.

    With m = max_j Z[j, i]:  log sum_j exp(z_j) = m + log sum_j exp(z_j - m).
    Every exponent is <= 0, so nothing overflows. Returns shape (1, n).
    """
    Z = _as_float_array(Z)
    m = Z.max(axis=0, keepdims=True)
    return m + np.log(np.exp(Z - m).sum(axis=0, keepdims=True))


def softmax(Z):
    """Column-wise softmax, exp(z_i) / sum_j exp(z_j), computed without overflow.

    Shifting every z_j by m = max_j z_j changes nothing in the ratio and keeps
    every exponent <= 0. (exp(z - log_sum_exp(z)) would be as safe but loses
    relative accuracy ~ eps * |m| to the rounding of log Z for large logits.)
    """
    Z = _as_float_array(Z)
    E = np.exp(Z - Z.max(axis=0, keepdims=True))
    return E / E.sum(axis=0, keepdims=True)


# ----------------------------------------------------------------------------
# The classifier
# ----------------------------------------------------------------------------

class NNClassifier:
    """A fully connected classifier: ReLU hidden layers and a softmax output.

    Parameters
    ----------
    units : sequence of int
        Widths from the input to the output, e.g. [2, 10, 2]: 2 features,
        one hidden layer of 10 units, K = 2 classes.
    rng : int, np.random.Generator or None
        Source of the initial weights (and of the dropout masks).
    dtype : np.float32 or np.float64
        Every array the model makes has this dtype.
    l2 : float >= 0
        Weight decay: the loss gains (l2 / 2) * sum_l ||W_l||^2 (not the biases).
    dropout : float in [0, 1)
        Probability of zeroing a hidden unit during training (inverted dropout).

    Usage: ``loss = model.loss(X, t); model.backward(); optimizer.step()``.
    """

    def __init__(self, units, rng=None, dtype=np.float64, l2=0.0, dropout=0.0):
        try:
            units = list(units)
        except TypeError:
            raise TypeError(f"units must be a sequence of ints such as [2, 10, 2], "
                            f"got {units!r}") from None
        if len(units) < 2:
            raise ValueError(f"units needs at least two entries (inputs and classes), "
                             f"got {units}")
        for i, u in enumerate(units):
            _positive_int(u, f"units[{i}]")
        self.units = [int(u) for u in units]
        self.n_classes = self.units[-1]
        self.dtype = _as_float_dtype(dtype)
        self.l2 = l2                    # both checked by the properties below
        self.dropout = dropout
        self.rng = _as_rng(rng)
        self.layers = [Linear(n_in, n_out, self.rng, self.dtype)
                       for n_in, n_out in zip(self.units[:-1], self.units[1:])]
        self._masks = [None] * (len(self.layers) - 1)
        self.dZ_L = None

    # l2 and dropout are properties so that changing them later, model.dropout = 0.5,
    # is checked like the constructor's arguments.
    @property
    def l2(self):
        return self._l2

    @l2.setter
    def l2(self, value):
        if isinstance(value, bool) or not isinstance(value, Real):
            raise TypeError(f"l2 must be a number, got {value!r}")
        if not (np.isfinite(value) and value >= 0):
            raise ValueError(f"l2 must be a finite number >= 0, got {value}")
        self._l2 = float(value)

    @property
    def dropout(self):
        return self._dropout

    @dropout.setter
    def dropout(self, value):
        self._dropout = _fraction(value, "dropout")

    def __repr__(self):
        extras = "".join(f", {k}={v}" for k, v in (("l2", self.l2), ("dropout", self.dropout)) if v)
        return f"NNClassifier({self.units}, dtype={self.dtype}{extras})"

    def forward(self, X, cache=False):
        """Forward pass; returns the logits Z_L, shape (K, n), for X of shape (n_features, n).

            A_0 = X,  Z_l = W_l A_{l-1} + b_l,  A_l = relu(Z_l)  (l < L),  Z_L = W_L A_{L-1} + b_L

        cache=True is the training pass: each layer keeps its input and output for
        backward(), and, when dropout > 0, hidden units are dropped. loss() uses it;
        a cached pass of your own replaces what the last loss() left for backward().
        """
        return self._forward(_check_X(X, self.units[0], self.dtype), cache)

    def _forward(self, A, cache):
        """forward() for an X already checked and converted."""
        self._check_parameters()
        if cache:
            self.dZ_L = None            # a new cached pass: the old dZ_L no longer matches
        for i, layer in enumerate(self.layers[:-1]):
            A = relu(layer(A, cache))
            if cache and self.dropout:
                # Inverted dropout: keep a unit with probability p and divide by p,
                # so that the expected activation is the same as at test time.
                p = 1.0 - self.dropout
                mask = self.rng.random(A.shape, dtype=self.dtype) < p
                self._masks[i] = mask / self.dtype.type(p)
                A *= self._masks[i]
        return self.layers[-1](A, cache)

    def _check_parameters(self):
        """W and b may be replaced by hand (layer.W = ...): they must keep shape and dtype."""
        for i, layer in enumerate(self.layers):
            n_out, n_in = self.units[i + 1], self.units[i]
            for name, shape in (("W", (n_out, n_in)), ("b", (n_out, 1))):
                P = getattr(layer, name)
                if not isinstance(P, np.ndarray) or P.shape != shape or P.dtype != self.dtype:
                    got = (f"an array of dtype {P.dtype} and shape {P.shape}"
                           if isinstance(P, np.ndarray) else f"a {type(P).__name__}")
                    raise TypeError(f"layers[{i}].{name} must be a {self.dtype} array of shape "
                                    f"{shape}, got {got}; to set values, write into it: "
                                    f"layers[{i}].{name}[...] = values")

    def loss(self, X, t):
        """Mean negative log-likelihood of labels t (n,) given inputs X (n_features, n).

        Per sample  L = -z_k + log sum_j exp(z_j)  (k = true class), averaged over
        the batch, plus (l2 / 2) sum ||W||^2. This is the training pass (it drops
        units when dropout > 0) and it caches the per-sample output gradients
        dZ_L = softmax(Z_L) - T for backward(). Returns a Python float.
        """
        X = _check_X(X, self.units[0], self.dtype)
        t = _check_labels(t, self.n_classes, n=X.shape[1])
        Z_L = self._forward(X, cache=True)
        T = _one_hot(t, self.n_classes, self.dtype)
        log_Z = log_sum_exp(Z_L)                           # (1, n)
        loss = np.mean(log_Z - np.sum(T * Z_L, axis=0))    # -z_k + log Z, averaged
        # The stable softmax: the post's exp(Z_L) / Z overflows from logits of about 710 up.
        self.dZ_L = softmax(Z_L)
        self.dZ_L -= T
        if self.l2:
            loss += 0.5 * self.l2 * sum(np.vdot(layer.W, layer.W) for layer in self.layers)
        return float(loss)

    def backward(self):
        """Backpropagate the mini-batch cached by loss() (01_derivation, section 5).

        Fills layer.dW (n_out, n_in) and layer.db (n_out, 1) for every layer l = L, ..., 1
        (layer l is self.layers[l - 1]):
            dZ_L = softmax(Z_L) - T
            dW_l = dZ_l A_{l-1}^T / n  (+ l2 W_l),   db_l = mean over the batch of dZ_l
            dA_{l-1} = W_l^T dZ_l  (times the dropout mask of A_{l-1}, if any)
            dZ_{l-1} = relu'(Z_{l-1}) * dA_{l-1}
        The code divides dZ_L by n once, at the top, instead of every dW_l and db_l.
        """
        if self.dZ_L is None:
            raise RuntimeError("backward() needs a forward pass: call model.loss(X, t) first")
        # Dividing dZ_L by n once gives every layer its 1/n (backpropagation is linear
        # in dZ_L): then dW_l = dZ_l A_{l-1}^T and db_l = sum over the batch of dZ_l.
        dZ = self.dZ_L / self.dZ_L.shape[1]
        for l in range(len(self.layers), 0, -1):       # l = L, ..., 1, as in the derivation
            layer = self.layers[l - 1]                 # W_l, b_l; cached A_{l-1} and Z_l
            # out= writes into the previous step's gradient arrays instead of new ones.
            layer.dW = np.matmul(dZ, layer.A_prev.T, out=_reusable_out(layer.dW, layer.W))
            layer.db = np.sum(dZ, axis=1, keepdims=True, out=_reusable_out(layer.db, layer.b))
            if self.l2:
                layer.dW += self.l2 * layer.W
            if l == 1:
                break                                  # nothing needs dL/dX = dL/dA_0
            below = self.layers[l - 2]                 # layer l-1, which cached Z_{l-1}
            dA = layer.W.T @ dZ                        # dA_{l-1}
            if self.dropout:
                dA *= self._masks[l - 2]               # A_{l-1} was multiplied by this mask
            # dZ_{l-1} = relu'(Z_{l-1}) * dA_{l-1}. relu' is 1 where Z > 0 and 0 elsewhere, so the
            # boolean mask Z > 0 is d_relu(Z) without a float copy; the product goes over dA.
            dZ = np.multiply(dA, below.Z > 0, out=dA)

    def forward_probs(self, X):
        """Class probabilities softmax(Z_L), shape (K, n); each column sums to one."""
        return softmax(self.forward(X))

    def predict(self, X):
        """Most probable class of each column of X, shape (n,). argmax of Z_L = argmax of softmax."""
        return np.argmax(self.forward(X), axis=0)

    # -- persistence ----------------------------------------------------------

    def save(self, path):
        """Write the architecture and parameters to an .npz file (np.savez, no pickle).

        Like np.savez, adds the suffix .npz to a path that lacks it.
        """
        arrays = {"units": np.array(self.units), "dtype": np.array(self.dtype.name),
                  "l2": np.array(self.l2), "dropout": np.array(self.dropout)}
        for i, layer in enumerate(self.layers):
            arrays[f"W{i}"], arrays[f"b{i}"] = layer.W, layer.b
        np.savez(_npz_path(path), **arrays)

    @classmethod
    def load(cls, path, rng=None):
        """Rebuild a model written by save(). rng seeds its dropout masks, if it has dropout.

        Raises FileNotFoundError for a missing file and ValueError for a file that
        is not a complete model written by save(). Weights are loaded as they were
        saved, NaN included (a diverged model loads as a diverged model).
        """
        path = _npz_path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no model file at {path}")
        try:
            with open(path, "rb") as file, np.load(file, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
        except Exception as error:          # zipfile, EOF, format errors: one clear message
            raise ValueError(f"{path} is not a readable model file written by "
                             f"NNClassifier.save ({type(error).__name__}: {error})") from None
        missing = {"units", "dtype", "l2", "dropout"} - arrays.keys()
        if missing:
            raise ValueError(f"{path} is not a model file written by NNClassifier.save: "
                             f"missing {sorted(missing)}")
        try:
            model = cls(arrays["units"].tolist(), rng=rng, dtype=str(arrays["dtype"]),
                        l2=arrays["l2"].item(), dropout=arrays["dropout"].item())
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path} does not describe a model NNClassifier can build: "
                             f"{error}") from None
        for i, layer in enumerate(model.layers):
            for name in ("W", "b"):
                key = f"{name}{i}"
                expected = getattr(layer, name).shape
                if key not in arrays:
                    raise ValueError(f"{path}: missing {key} for units {model.units}")
                if arrays[key].shape != expected:
                    raise ValueError(f"{path}: {key} has shape {arrays[key].shape}, "
                                     f"units {model.units} need {expected}")
                setattr(layer, name, arrays[key].astype(model.dtype, copy=False))
        return model


def _npz_path(path):
    """Path(path), with .npz appended if it has another suffix or none, as np.savez does."""
    if not isinstance(path, (str, PathLike)):
        raise TypeError(f"path must be a str or a path-like object, got {type(path).__name__}")
    path = Path(path)
    return path if path.suffix == ".npz" else path.with_name(path.name + ".npz")


# ----------------------------------------------------------------------------
# Optimizers: each step() reads layer.dW, layer.db and updates W, b in place.
# ----------------------------------------------------------------------------

class SGD:
    """Gradient descent on the mini-batch gradient:  W <- W - lr dW,  b <- b - lr db.

    An optimizer only needs ``model.layers``, each with arrays W, b and their
    gradients dW, db; any object shaped like that will do (07_optimizers uses
    a 2-D toy). Parameters are updated in place.
    """

    def __init__(self, model, lr):
        if not hasattr(model, "layers"):
            raise TypeError(f"model must be an NNClassifier (anything with .layers), "
                            f"got {type(model).__name__}")
        self.model = model
        self.lr = _positive_float(lr, "lr")

    def _params(self):
        for layer in self.model.layers:
            if layer.dW is None:
                raise RuntimeError("step() needs gradients: call model.loss(X, t) and "
                                   "model.backward() first")
            yield layer.W, layer.dW
            yield layer.b, layer.db

    @staticmethod
    def _check_state(params, state):
        """State arrays made at the first step() must still match the parameters."""
        if len(state) != len(params) or any(s.shape != P.shape for s, (P, _) in zip(state, params)):
            raise ValueError("the model's parameters changed since this optimizer's first "
                             "step(): create a new optimizer for the new model")

    def step(self):
        for P, dP in self._params():
            _axpy(-self.lr, dP, P)                     # P <- P - lr dP


def _axpy(a, X, Y):
    """Y <- Y + a X, in place. BLAS's axpy does it in one pass with no temporary
    array for a X (the weights of a large layer are megabytes); NumPy's Y += a * X
    takes over where BLAS cannot write into Y directly."""
    if (Y.flags.c_contiguous and X.flags.c_contiguous and Y.flags.writeable
            and Y.flags.aligned and X.flags.aligned and X.dtype == Y.dtype
            and X.shape == Y.shape and Y.dtype in _FLOAT_DTYPES):
        axpy = get_blas_funcs("axpy", (Y,))
        axpy(X.reshape(-1), Y.reshape(-1), a=a)   # reshape(-1) of a contiguous array is a view
    else:
        Y += a * X


class Momentum(SGD):
    """Gradient descent with momentum (Polyak 1964; in the form of Sutskever et al. 2013):

        v <- beta v - lr dP,   P <- P + v      (v starts at zero)

    The velocity v is an exponentially decaying sum of past steps; ``velocity``
    holds one array per parameter (W_1, b_1, W_2, ...) once step() has run.
    """

    def __init__(self, model, lr, beta=0.9):
        super().__init__(model, lr)
        self.beta = _fraction(beta, "beta")
        self.velocity = None

    def step(self):
        params = list(self._params())
        if self.velocity is None:
            self.velocity = [np.zeros_like(P) for P, _ in params]
        self._check_state(params, self.velocity)
        for (P, dP), v in zip(params, self.velocity):
            v *= self.beta
            v -= self.lr * dP
            P += v


class Adam(SGD):
    """Adam (Kingma and Ba 2015). At step s = 1, 2, ...:

        m <- beta1 m + (1 - beta1) dP          (first moment)
        v <- beta2 v + (1 - beta2) dP**2       (second moment)
        m_hat = m / (1 - beta1**s),  v_hat = v / (1 - beta2**s)     (bias correction)
        P <- P - lr m_hat / (sqrt(v_hat) + eps)

    State: ``m`` and ``v`` (one array per parameter, W_1, b_1, W_2, ...) and the step count ``s``.
    """

    def __init__(self, model, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(model, lr)
        self.beta1 = _fraction(beta1, "beta1")
        self.beta2 = _fraction(beta2, "beta2")
        self.eps = _positive_float(eps, "eps")
        self.m = self.v = None
        self.s = 0

    def step(self):
        params = list(self._params())
        if self.m is None:
            self.m = [np.zeros_like(P) for P, _ in params]
            self.v = [np.zeros_like(P) for P, _ in params]
        self._check_state(params, self.m)
        self.s += 1
        correction1 = 1 - self.beta1 ** self.s
        correction2 = 1 - self.beta2 ** self.s
        for (P, dP), m, v in zip(params, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * dP
            v *= self.beta2
            v += (1 - self.beta2) * dP**2
            P -= self.lr * (m / correction1) / (np.sqrt(v / correction2) + self.eps)


# ----------------------------------------------------------------------------
# Checking and training
# ----------------------------------------------------------------------------

def gradient_check(model, X, t, h=1e-5):
    """Compare backward() with central differences for every layer and parameter.

    For each entry p of each W_l and b_l:  dL/dp ~ (L(p + h) - L(p - h)) / (2h).
    Returns a list of rows (layer, name, rel_error), layer counted from 1, with

        rel_error = ||analytic - numeric|| / max(1e-8, ||analytic|| + ||numeric||)

    Below 1e-7 is a correct gradient in float64; a bug gives 1e-2 or more.
    Costs two loss evaluations per parameter: use small networks.
    """
    h = _positive_float(h, "h")
    if not 1e-10 <= h <= 1e-2:
        raise ValueError(f"h must lie in [1e-10, 1e-2] (rounding swamps smaller steps, "
                         f"curvature larger ones), got {h}")
    if model.dtype != np.float64:
        raise ValueError(f"gradient_check needs a float64 model (differences of size h "
                         f"drown in float32 rounding), got {model.dtype}")
    if model.dropout:
        raise ValueError("gradient_check needs dropout=0: dropout draws a new mask at every loss")
    model.loss(X, t)
    model.backward()
    rows = []
    for l, layer in enumerate(model.layers, start=1):
        for name in ("W", "b"):
            P = getattr(layer, name)
            analytic = getattr(layer, "d" + name).copy()
            numeric = np.empty_like(P)
            for i in np.ndindex(P.shape):
                saved = P[i]
                P[i] = saved + h
                plus = model.loss(X, t)
                P[i] = saved - h
                minus = model.loss(X, t)
                P[i] = saved
                numeric[i] = (plus - minus) / (2 * h)
            error = np.linalg.norm(analytic - numeric) / max(
                1e-8, np.linalg.norm(analytic) + np.linalg.norm(numeric))
            rows.append((l, name, float(error)))
    model.loss(X, t)                 # leave the cache as it was after the first loss
    return rows


def accuracy(model, X, t):
    """Fraction of the columns of X whose predicted class equals t."""
    X = _check_X(X, model.units[0], model.dtype)
    t = _check_labels(t, model.n_classes, n=X.shape[1])
    return float(np.mean(model.predict(X) == t))


def train(model, X, t, optimizer, epochs, batch_size, rng=None,
          X_val=None, t_val=None, callback=None):
    """Mini-batch training: each epoch shuffles the samples with rng and visits all of them.

    X (n_features, n) and t (n,) are the training data; each step takes batch_size
    columns (the last batch of an epoch may be smaller), computes the loss,
    backpropagates and calls optimizer.step().

    Returns a dict of arrays, one entry per epoch:
      "loss": mean training loss over the epoch's mini-batches, as loss() returns it
              (so with the L2 penalty and the dropout noise when those are on);
      "val_accuracy": accuracy on (X_val, t_val) after the epoch, when given.
    callback(epoch, model), if given, is called after each epoch (e.g. to draw a frame).
    """
    epochs = _positive_int(epochs, "epochs")
    batch_size = _positive_int(batch_size, "batch_size")
    if getattr(optimizer, "model", None) is not model:
        raise ValueError("optimizer must update the model being trained: build it with this "
                         "model, e.g. optimizer = nn.SGD(model, lr) after model = ...")
    X = _check_X(X, model.units[0], model.dtype)
    t = _check_labels(t, model.n_classes, n=X.shape[1])
    if (X_val is None) != (t_val is None):
        raise ValueError("give both X_val and t_val, or neither")
    if X_val is not None:
        X_val = _check_X(X_val, model.units[0], model.dtype, name="X_val")
        t_val = _check_labels(t_val, model.n_classes, n=X_val.shape[1], name="t_val")
    rng = _as_rng(rng)
    n = X.shape[1]
    history = {"loss": np.zeros(epochs)}
    if X_val is not None:
        history["val_accuracy"] = np.zeros(epochs)
    for epoch in range(epochs):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, batch_size):
            batch = order[start:start + batch_size]
            # The last batch may be smaller: weigh each batch's mean loss by its size.
            total += model.loss(X[:, batch], t[batch]) * len(batch)
            model.backward()
            optimizer.step()
        history["loss"][epoch] = total / n
        if X_val is not None:
            history["val_accuracy"][epoch] = np.mean(model.predict(X_val) == t_val)
        if callback is not None:
            callback(epoch, model)
    return history


def load_digits_split(val_size=0.2, test_size=0.2, random_state=0, dtype=np.float64):
    """scikit-learn's 8x8 digits, split and standardised, in the columns-are-samples layout.

    A stratified split into train / validation / test (fractions of the whole
    set), then a StandardScaler fitted on the training part only, so nothing
    about the held-out data leaks into training. Returns a dict with
    X_train (64, n_train), t_train (n_train,), X_val, t_val, X_test, t_test,
    and "images" (n_test, 8, 8), the test digits as pictures.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    val_size = _fraction(val_size, "val_size", low_open=True)
    test_size = _fraction(test_size, "test_size", low_open=True)
    if val_size + test_size >= 1:
        raise ValueError(f"val_size + test_size must be below 1, got {val_size + test_size}")
    if isinstance(random_state, bool) or not isinstance(random_state, Integral):
        raise TypeError(f"random_state must be an int (scikit-learn's seed), "
                        f"got {type(random_state).__name__}")
    digits = load_digits()
    n, n_classes = len(digits.target), len(digits.target_names)
    for part, size in (("val_size", val_size), ("test_size", test_size),
                       ("1 - val_size - test_size", 1 - val_size - test_size)):
        if size * n < n_classes:
            raise ValueError(f"{part} = {size:.4g} leaves fewer than {n_classes} of the {n} "
                             f"digits, one per class, for a stratified split")
    index = np.arange(n)
    rest, test = train_test_split(index, test_size=test_size, stratify=digits.target,
                                  random_state=random_state)
    train_, val = train_test_split(rest, test_size=val_size / (1 - test_size),
                                   stratify=digits.target[rest], random_state=random_state)
    scaler = StandardScaler().fit(digits.data[train_])
    dtype = _as_float_dtype(dtype)

    def columns(rows):
        return np.ascontiguousarray(scaler.transform(digits.data[rows]).T, dtype=dtype)

    return {"X_train": columns(train_), "t_train": digits.target[train_],
            "X_val": columns(val), "t_val": digits.target[val],
            "X_test": columns(test), "t_test": digits.target[test],
            "images": digits.images[test]}


# ----------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------

def save_fig(name, fig=None, dpi=100):
    """Save a figure (default: the current one) as figures/<name>.png in the repository.

    The path comes from this file's location, not the working directory, so a
    notebook in notebooks/ writes to the same figures/ as a script at the top.
    The PNG carries no software version or date, so re-running does not change it.
    """
    import matplotlib.pyplot as plt

    FIGURES.mkdir(exist_ok=True)
    (fig or plt.gcf()).savefig(FIGURES / f"{name}.png", dpi=dpi, bbox_inches="tight",
                               metadata={"Software": None})


def save_animation(animation, name, fps=8, dpi=80):
    """Save a matplotlib animation as figures/<name>.gif with Pillow."""
    from matplotlib.animation import PillowWriter

    FIGURES.mkdir(exist_ok=True)
    animation.save(FIGURES / f"{name}.gif", writer=PillowWriter(fps=fps), dpi=dpi)


def plot_decision_boundary(model, X, t, ax=None, resolution=200, margin=0.5):
    """Colour the plane by the class the model predicts, and scatter the data on top.

    X has shape (2, n) (two features, samples in columns) and t shape (n,).
    Returns the matplotlib Axes.
    """
    import matplotlib.pyplot as plt

    if model.units[0] != 2:
        raise ValueError(f"plot_decision_boundary draws the plane of a model with 2 inputs, "
                         f"this one has {model.units[0]}")
    X = _check_X(X, 2, np.float64)
    t = _check_labels(t, model.n_classes, n=X.shape[1])
    resolution = _positive_int(resolution, "resolution")
    if isinstance(margin, bool) or not isinstance(margin, Real) or not 0 <= margin < np.inf:
        raise ValueError(f"margin must be a finite number >= 0, got {margin!r}")
    ax = ax or plt.gca()
    (x1_min, x2_min), (x1_max, x2_max) = X.min(axis=1) - margin, X.max(axis=1) + margin
    x1, x2 = np.meshgrid(np.linspace(x1_min, x1_max, resolution),
                         np.linspace(x2_min, x2_max, resolution))
    grid = np.vstack([x1.ravel(), x2.ravel()])
    classes = model.predict(grid).reshape(x1.shape)
    levels = np.arange(model.n_classes + 1) - 0.5
    ax.contourf(x1, x2, classes, levels=levels, cmap="coolwarm", alpha=0.25)
    ax.scatter(X[0], X[1], c=t, cmap="coolwarm", s=14, edgecolors="k", linewidths=0.3,
               vmin=0, vmax=model.n_classes - 1)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    return ax
