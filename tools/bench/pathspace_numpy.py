"""numpy side of the pathspace benchmark (`cargo run --release -p pathspace --example bench`).

Runs the same formulas as the Rust crate, in float64:

- excitation pullbacks v_Γ for a batch (class 0, Γ = sigmoid(z / 0.3)): forward pass
  Z_ℓ = A_{ℓ-1} W_ℓᵀ + b_ℓ, then the backward chain U_L = ỹ_c ⊙ Γ_L,
  c += U_ℓ b_ℓ, V = U_ℓ W_ℓ, U_{ℓ-1} = V ⊙ Γ_{ℓ-1}, as matrix products;
- the Gram matrix of the product kernel K_Γ (Eq. 23):
  K = (X Xᵀ + 1) ⊙ Π_ℓ (Γ_ℓ Γ_ℓᵀ + 1).

Usage: python pathspace_numpy.py --weights W.safetensors --inputs X.safetensors
       [--batch 1024] [--gram 4096] [--reps 5]
Prints one JSON object: best times, rates and checksums (for comparison with Rust).
"""

import argparse
import json
import time

import numpy as np
from safetensors.numpy import load_file


def load_mlp(path):
    sd = load_file(path)
    idx = sorted({int(k.split(".")[0]) for k in sd})
    layers = [(sd[f"{k}.weight"].astype(np.float64), sd[f"{k}.bias"].astype(np.float64)) for k in idx]
    return layers[:-1], layers[-1]


def gates(hidden, x, temperature):
    a = x
    out = []
    for w, b in hidden:
        z = a @ w.T + b
        out.append(0.5 * (1.0 + np.tanh(0.5 * z / temperature)))  # sigmoid(z / T), overflow-free
        a = np.maximum(z, 0.0)
    return out


def pullbacks(hidden, head, x, cls, temperature):
    g = gates(hidden, x, temperature)
    y, yb = head[0][cls], head[1][cls]
    u = y[None, :] * g[-1]
    c = np.full(x.shape[0], yb)
    for l in range(len(hidden) - 1, -1, -1):
        w, b = hidden[l]
        c = c + u @ b
        v = u @ w
        if l > 0:
            u = v * g[l - 1]
    return np.concatenate([v, c[:, None]], axis=1)


def gram(hidden, x, temperature):
    g = gates(hidden, x, temperature)
    k = x @ x.T + 1.0
    for gl in g:
        k *= gl @ gl.T + 1.0
    return k


def best_of(reps, f):
    best, out = float("inf"), None
    for _ in range(reps):
        t0 = time.perf_counter()
        out = f()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--weights", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--gram", type=int, default=4096)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--temperature", type=float, default=0.3)
    a = p.parse_args()
    hidden, head = load_mlp(a.weights)
    x = load_file(a.inputs)["x"].astype(np.float64)
    xb, xg = x[: a.batch], x[: a.gram]
    t_pb, v = best_of(a.reps, lambda: pullbacks(hidden, head, xb, 0, a.temperature))
    t_gram, k = best_of(max(1, a.reps // 2), lambda: gram(hidden, xg, a.temperature))
    print(json.dumps({
        "numpy": np.__version__,
        "pullback_batch": a.batch,
        "pullback_seconds": t_pb,
        "pullbacks_per_second": a.batch / t_pb,
        "pullback_checksum": float(v.sum()),
        "gram_n": a.gram,
        "gram_seconds": t_gram,
        "gram_checksum": float(k.sum()),
    }))


if __name__ == "__main__":
    main()
