"""Deterministic synthetic parameters and inputs, reproducible bit for bit in Rust.

The same formula is implemented in `crates/excitation/src/synthetic.rs`; the specification is
in `docs/reference-fixtures.md`. For a tensor with state-dict key `k` and flat row-major
index `i` (all arithmetic on unsigned 64-bit integers, wrapping):

    h = fnv1a64(utf8(k))
    s = splitmix64(h ^ splitmix64(i))
    u = (s >> 11) * 2**-53          # f64 in [0, 1)
    c = 2 * u - 1                   # f64 in [-1, 1)

and the value, computed in f64 and rounded to f32 once, depends on the key's suffix and rank:

    rank >= 2 and `.weight`   c * (2 / sqrt(fan_in))   fan_in = prod(shape[1:])  (conv, linear)
    rank 1 and `.weight`      1 + 0.25 * c             (BatchNorm gamma)
    `.bias`                   0.1 * c                  (BatchNorm beta, conv and linear biases)
    `.running_mean`           0.2 * c
    `.running_var`            1 + 0.5 * c              (in [0.5, 1.5))
    `.num_batches_tracked`    0 (int64 scalar, not hashed)

Input images use the key "input" and the value c itself (in [-1, 1)).
"""

from __future__ import annotations

import math

import numpy as np

FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
MASK64 = (1 << 64) - 1
INPUT_KEY = "input"


def fnv1a64(key: str) -> int:
    """FNV-1a 64-bit hash of the UTF-8 bytes of `key`."""
    h = FNV_OFFSET
    for b in key.encode("utf-8"):
        h ^= b
        h = (h * FNV_PRIME) & MASK64
    return h


def splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (Steele, Lea, Flood 2014) on an array of uint64, wrapping."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):
        z = x + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def unit(key: str, count: int) -> np.ndarray:
    """The values c in [-1, 1) (float64) for flat indices 0..count of tensor `key`."""
    h = np.uint64(fnv1a64(key))
    out = np.empty(count, dtype=np.float64)
    chunk = 1 << 22  # bounds the temporaries for the 100M-entry VGG classifier weight
    for start in range(0, count, chunk):
        i = np.arange(start, min(start + chunk, count), dtype=np.uint64)
        s = splitmix64(h ^ splitmix64(i))
        u = (s >> np.uint64(11)).astype(np.float64) * (2.0**-53)
        out[start : start + i.size] = 2.0 * u - 1.0
    return out


def param_kind(key: str, shape: tuple[int, ...]) -> str:
    """Which rule of the formula applies to `key` with `shape` (raises on unknown keys)."""
    if key.endswith(".num_batches_tracked"):
        return "num_batches_tracked"
    if key.endswith(".weight"):
        if len(shape) >= 2:
            return "weight"
        if len(shape) == 1:
            return "norm_weight"
    if key.endswith(".bias") and len(shape) == 1:
        return "bias"
    if key.endswith(".running_mean") and len(shape) == 1:
        return "running_mean"
    if key.endswith(".running_var") and len(shape) == 1:
        return "running_var"
    raise ValueError(f"no synthetic rule for key `{key}` with shape {list(shape)}")


def synthetic_tensor(key: str, shape: tuple[int, ...]) -> np.ndarray:
    """The synthetic value of state-dict entry `key` (float32, or int64 for counters)."""
    shape = tuple(int(d) for d in shape)
    kind = param_kind(key, shape)
    if kind == "num_batches_tracked":
        return np.zeros(shape, dtype=np.int64)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    c = unit(key, n)
    if kind == "weight":
        fan_in = int(np.prod(shape[1:], dtype=np.int64))
        v = c * (2.0 / math.sqrt(fan_in))
    elif kind == "norm_weight":
        v = 1.0 + 0.25 * c
    elif kind == "bias":
        v = 0.1 * c
    elif kind == "running_mean":
        v = 0.2 * c
    else:  # running_var
        v = 1.0 + 0.5 * c
    return v.astype(np.float32).reshape(shape)


def synthetic_images(shape: tuple[int, ...]) -> np.ndarray:
    """Input images in [-1, 1) (float32), shape [N, C, H, W], from key "input"."""
    n = int(np.prod(shape, dtype=np.int64))
    return unit(INPUT_KEY, n).astype(np.float32).reshape(shape)


def fill_module_(module) -> None:
    """Overwrite every parameter and buffer of a torch module with the synthetic values."""
    import torch

    with torch.no_grad():
        for key, tensor in module.state_dict(keep_vars=True).items():
            value = synthetic_tensor(key, tuple(tensor.shape))
            tensor.copy_(torch.from_numpy(value))


def checksum(a: np.ndarray) -> int:
    """Order-free checksum of a float32 or int64 array's bit patterns, for bit-exactness checks.

    sum over flat index i of splitmix64(bits_i ^ (i << 32)) (wrapping u64), where bits_i is
    the element's raw bit pattern zero-extended to u64 (u32 for float32, u64 for int64).
    """
    flat = np.ascontiguousarray(a).reshape(-1)
    if flat.dtype == np.float32:
        bits = flat.view(np.uint32).astype(np.uint64)
    elif flat.dtype == np.int64:
        bits = flat.view(np.uint64)
    else:
        raise ValueError(f"checksum: unsupported dtype {flat.dtype}")
    i = np.arange(flat.size, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return int(np.sum(splitmix64(bits ^ (i << np.uint64(32))), dtype=np.uint64))
