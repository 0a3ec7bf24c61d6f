"""How close is one training step to the cost of its matrix products?

Times, in one process and taking turns, for a 784-256-128-10 network on
mini-batches of 256 samples:

  gemm floor   the matrix products any implementation of the step must do, and
               nothing else: per layer Z = W A, dW = dZ A^T, and dA = W^T dZ
               (not for the first layer: nobody needs dL/dX). float64.
  ours f64     nn_from_scratch: model.loss(X, t); model.backward(); SGD.step()
  ours f32     the same in float32
  sklearn      MLPClassifier.partial_fit on the same batch (SGD, momentum 0, alpha 0)

and prints the median time per step over several rounds, and the three ratios
the project aims for. Usage:

    python benchmarks/bench_training.py [--threads 1] [--rounds 15] [--steps 20]

One BLAS thread (the default) gives the steadiest figures.
"""
import argparse
import os
import platform
import time
import warnings

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

import nn_from_scratch as nn

UNITS = [784, 256, 128, 10]
BATCH = 256


def gemm_floor(dtype, rng):
    """A step that does only the step's matrix products, into preallocated arrays."""
    W = [rng.standard_normal((n_out, n_in)).astype(dtype)
         for n_in, n_out in zip(UNITS[:-1], UNITS[1:])]
    A = [rng.standard_normal((n, BATCH)).astype(dtype) for n in UNITS]   # A_0 = X, then Z_l
    dZ = [rng.standard_normal((n, BATCH)).astype(dtype) for n in UNITS[1:]]
    dW = [np.empty_like(w) for w in W]

    def step():
        for l, w in enumerate(W):
            np.matmul(w, A[l], out=A[l + 1])
        for l in range(len(W) - 1, -1, -1):
            np.matmul(dZ[l], A[l].T, out=dW[l])
            if l:
                np.matmul(W[l].T, dZ[l], out=dZ[l - 1])
    return step


def ours(dtype, X, t):
    model = nn.NNClassifier(UNITS, rng=0, dtype=dtype)
    optimizer = nn.SGD(model, lr=0.01)
    X = X.astype(dtype)

    def step():
        model.loss(X, t)
        model.backward()
        optimizer.step()
    return step


def sklearn_step(X, t):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    mlp = MLPClassifier(hidden_layer_sizes=tuple(UNITS[1:-1]), solver="sgd",
                        learning_rate_init=0.01, momentum=0.0, alpha=0.0,
                        batch_size=BATCH, shuffle=False, random_state=0)
    rows = np.ascontiguousarray(X.T)                    # scikit-learn: rows are samples
    mlp.partial_fit(rows, t, classes=np.arange(UNITS[-1]))
    warnings.simplefilter("ignore", ConvergenceWarning)

    def step():
        mlp.partial_fit(rows, t)
    return step


def cpu_name():
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (default 1)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of turns (default 15)")
    parser.add_argument("--steps", type=int, default=20, help="steps per turn (default 20)")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    X = rng.standard_normal((UNITS[0], BATCH))
    t = rng.integers(0, UNITS[-1], BATCH)
    contenders = {"gemm floor f64": gemm_floor(np.float64, rng),
                  "ours f64": ours(np.float64, X, t),
                  "ours f32": ours(np.float32, X, t),
                  "sklearn f64": sklearn_step(X, t)}

    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [f"{p['internal_api']} {p['version']} ({p.get('architecture', '?')}), "
                f"{p['num_threads']} thread(s)" for p in threadpool_info() if p["user_api"] == "blas"]
        times = {name: [] for name in contenders}
        for step in contenders.values():                 # warm up caches and allocators
            for _ in range(3):
                step()
        names = list(contenders)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[:r % len(names)]:   # take turns
                step = contenders[name]
                start = time.perf_counter()
                for _ in range(args.steps):
                    step()
                times[name].append((time.perf_counter() - start) / args.steps)

    median = {name: np.median(ts) for name, ts in times.items()}
    floor = median["gemm floor f64"]
    print(f"Network {'-'.join(map(str, UNITS))}, mini-batch {BATCH}, "
          f"median of {args.rounds} rounds x {args.steps} steps")
    print(f"Machine: {platform.machine()}, {cpu_name()}, {os.cpu_count()} cores; "
          f"Python {platform.python_version()}, NumPy {np.__version__}")
    for line in blas:
        print(f"BLAS: {line}")
    print()
    print(f"{'step':<16}{'ms/step':>10}{'x floor':>10}")
    for name, seconds in median.items():
        print(f"{name:<16}{seconds * 1e3:>10.3f}{seconds / floor:>10.3f}")
    print()
    checks = [("ours f64 / gemm floor f64", median["ours f64"] / floor, 1.35),
              ("ours f64 / sklearn f64", median["ours f64"] / median["sklearn f64"], 0.7),
              ("ours f32 / ours f64", median["ours f32"] / median["ours f64"], 0.6)]
    for label, ratio, target in checks:
        verdict = "meets" if ratio <= target else "MISSES"
        print(f"{label:<28}{ratio:>7.3f}   target <= {target:<5} {verdict}")


if __name__ == "__main__":
    main()
