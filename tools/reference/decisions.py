"""Hard decisions of a vanilla ReLU network that lie within float32 rounding of their threshold.

The vanilla input gradient of a ReLU network is piecewise constant in its *hard decisions*: the
sign of every ReLU pre-activation z (derivative 1[z > 0]) and the position of the maximum of
every max-pool window (the whole gradient goes to it). Where a decision's margin (|z| for a
ReLU, the gap between the two largest values of a window for a max-pool) is smaller than the
rounding error of float32, two correct float32 implementations may take different branches,
and their gradients then differ by the whole contribution of that unit (1e-3 to 1e-2 of the
gradient's norm in ResNet50 and VGG11_BN), although every other number agrees to 1e-6.

This module finds such decisions for a fixed input and computes, in float64, the gradient with
one of them flipped, so that a parity test can accept either branch of a decision that float32
cannot resolve, and nothing else:

- `probed(model)` is a copy of a vanilla model whose every `nn.ReLU` / `nn.MaxPool2d` module
  (and DenseNet's functional ReLU after `features.norm5`) records its input on each call and
  can take the other branch of chosen decisions in the backward pass (the forward pass is
  unchanged);
- `ambiguous(...)` runs the probed model in float64 and float32 and lists the decisions whose
  margin (float64) is below `noise`, the largest difference between the float32 and the
  float64 inputs of the same layer call: PyTorch's own float32 rounding at that depth;
- `Probed.flipping(decision)` makes the probed model take the other branch of one decision
  (a ReLU unit's derivative 1[z > 0] becomes 1[z <= 0]; a max-pool window's gradient goes to
  the runner-up instead of the maximum).

On exact ties the max-pool's gradient goes to the first maximum in row-major window order, as
in PyTorch's `max_pool2d`.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Decision:
    """One hard decision: the `index`-th unit of the `call`-th probe call of a forward pass."""

    call: int  # order of the probe call in the forward pass (a module called twice counts twice)
    module: str  # qualified module name (`layer2.0.relu`; `features.norm5 (F.relu)` for DenseNet)
    kind: str  # "relu" or "max_pool"
    index: tuple  # relu: (image, channel, row, col) of z; max_pool: (image, channel, row, col) of the output
    margin: float  # relu: |z|; max_pool: largest minus second largest value of the window (float64)
    noise: float  # max |z_f32 - z_f64| over the same call's input

    @property
    def image(self) -> int:
        return self.index[0]

    def describe(self) -> dict:
        return {"module": self.module, "call": self.call, "kind": self.kind, "index": list(self.index),
                "margin": self.margin, "noise": self.noise}


class _ReluBranch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z, flip):
        mask = z > 0
        if flip is not None:
            mask = mask ^ flip
        ctx.save_for_backward(mask)
        return F.relu(z)

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


def _windows(x, k, s, p):
    """Max-pool windows of `x` with -inf padding: values [B, C, k*k, L] and the flat input index
    of each entry (-1 for padding), in row-major window order (PyTorch's scan order)."""
    b, c, h, w = x.shape
    xp = F.pad(x, (p, p, p, p), value=float("-inf")).reshape(b * c, 1, h + 2 * p, w + 2 * p)
    idx = torch.arange(h * w, dtype=x.dtype).view(1, 1, h, w).expand(b, c, h, w)
    ip = F.pad(idx, (p, p, p, p), value=-1.0).reshape(b * c, 1, h + 2 * p, w + 2 * p)
    values = F.unfold(xp, k, stride=s).view(b, c, k * k, -1)
    index = F.unfold(ip, k, stride=s).view(b, c, k * k, -1).long()
    return values, index


def _pool_ranking(x, k, s, p):
    """Window entries sorted by value, descending, ties in window order: [B, C, k*k, L]."""
    values, index = _windows(x, k, s, p)
    order = torch.sort(values, dim=2, descending=True, stable=True).indices
    return torch.gather(values, 2, order), torch.gather(index, 2, order)


class _PoolBranch(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, k, s, p, flip):
        _, ranked_index = _pool_ranking(x, k, s, p)
        chosen = ranked_index[:, :, 0]
        if flip is not None:
            chosen = torch.where(flip.flatten(2), ranked_index[:, :, 1], chosen)
        ctx.save_for_backward(chosen)
        ctx.shape = x.shape
        return F.max_pool2d(x, k, s, p)

    @staticmethod
    def backward(ctx, g):
        (chosen,) = ctx.saved_tensors
        b, c, h, w = ctx.shape
        gx = torch.zeros(b, c, h * w, dtype=g.dtype)
        gx.scatter_add_(2, chosen, g.reshape(b, c, -1))
        return gx.view(b, c, h, w), None, None, None, None


class _Recorder:
    def __init__(self):
        self.calls = []  # (module name, kind, pool params or None, input)
        self.flips = {}  # call -> bool mask (relu: shape of z; max_pool: shape of the output)

    def next_call(self, name, kind, pool, z):
        i = len(self.calls)
        self.calls.append((name, kind, pool, z.detach().clone()))
        return self.flips.get(i)


class _Probe(nn.Module):
    def __init__(self, recorder, name, pool=None):
        super().__init__()
        self.recorder, self.name, self.pool = recorder, name, pool

    def forward(self, z):
        kind = "relu" if self.pool is None else "max_pool"
        flip = self.recorder.next_call(self.name, kind, self.pool, z)
        if self.pool is None:
            return _ReluBranch.apply(z, flip)
        return _PoolBranch.apply(z, *self.pool, flip)


def _int(a):
    return a if isinstance(a, int) else a[0]


class Probed:
    """A vanilla model (`paper_layers.wrap(backbone)`) with every hard decision probed."""

    def __init__(self, model: nn.Module):
        self.model = copy.deepcopy(model).eval()
        self.recorder = _Recorder()
        names = {id(m): n for n, m in self.model.named_modules()}
        self._swap(self.model, names)
        backbone = self.model[1]
        if hasattr(backbone, "features") and hasattr(backbone.features, "norm5"):
            # DenseNet applies its last ReLU as a function: probe it too (it is hard in
            # vanilla mode; its name in the paper's code has no module).
            final = _Probe(self.recorder, "features.norm5 (F.relu)")

            def forward(x, _b=backbone, _relu=final):
                out = _relu(_b.features(x))
                out = F.adaptive_avg_pool2d(out, (1, 1))
                return _b.classifier(torch.flatten(out, 1))

            backbone.forward = forward

    def _swap(self, module, names):
        for child_name, child in module.named_children():
            full = names[id(child)].split(".", 1)[-1]  # drop the wrapper's "1." prefix
            if isinstance(child, nn.ReLU):
                setattr(module, child_name, _Probe(self.recorder, full))
            elif isinstance(child, nn.MaxPool2d):
                if _int(child.dilation) != 1 or child.ceil_mode:
                    raise ValueError(f"{full}: only dilation 1 and ceil_mode=False are probed")
                pool = (_int(child.kernel_size), _int(child.stride), _int(child.padding))
                setattr(module, child_name, _Probe(self.recorder, full, pool))
            else:
                self._swap(child, names)

    def __call__(self, x):
        self.recorder.calls = []
        return self.model(x)

    @contextlib.contextmanager
    def flipping(self, decision: Decision | None):
        """Within the block, the backward pass takes the other branch of `decision`."""
        old = self.recorder.flips
        if decision is not None:
            _, kind, pool, z = self.calls_template[decision.call]
            shape = z.shape if kind == "relu" else F.max_pool2d(z, *pool).shape
            mask = torch.zeros(shape, dtype=torch.bool)
            mask[decision.index] = True
            self.recorder.flips = {decision.call: mask}
        try:
            yield self
        finally:
            self.recorder.flips = old

    def record(self, x):
        """Runs a forward pass on `x` and keeps the inputs of every probe call."""
        with torch.no_grad():
            self(x)
        self.calls_template = list(self.recorder.calls)
        return self.calls_template


def ambiguous(model64: Probed, model32: Probed, x: torch.Tensor) -> list[Decision]:
    """Decisions at input `x` (float64) whose float64 margin is below the float32 noise of
    their layer call (largest |input_f32 - input_f64| over that call)."""
    calls64 = model64.record(x.double())
    calls32 = model32.record(x.float())
    if len(calls64) != len(calls32):
        raise RuntimeError("float32 and float64 runs made different probe calls")
    found = []
    for call, ((name, kind, pool, z64), (_, _, _, z32)) in enumerate(zip(calls64, calls32)):
        noise = float((z32.double() - z64).abs().max())
        if kind == "relu":
            margin = z64.abs()
        else:
            ranked, _ = _pool_ranking(z64, *pool)
            margin = ranked[:, :, 0] - ranked[:, :, 1]
            # Two exact zeros on top are ReLU outputs of negative pre-activations: either branch
            # sends the gradient to a unit whose ReLU derivative is 0 (and a pre-activation near
            # 0 is a ReLU decision of its own). Every max-pool here follows a ReLU.
            margin[(ranked[:, :, 0] == 0) & (ranked[:, :, 1] == 0)] = float("inf")
            margin = margin.view(F.max_pool2d(z64, *pool).shape)
        for ix in (margin < noise).nonzero():
            ix = tuple(int(i) for i in ix)
            found.append(Decision(call, name, kind, ix, float(margin[ix]), noise))
    return found
