"""The paper's surrogate layers (Listings 1 and 2 of "Pulling Back the Curtain on ReLU
Networks") and the module replacement its authors apply to torchvision models.

Behaviour matched on purpose (verified against the authors' repository, lib/modules.py and
app.py): every `nn.ReLU` *module* becomes a TwoWayReLU and every `nn.MaxPool2d` a
SurrogateSoftMaxPool2d with the same temperature; functional ReLUs (DenseNet's
`F.relu` after `features.norm5`) stay hard; the soft pool takes its windows with
`F.unfold`, i.e. with zero padding, so padded zeros enter the softmax.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class TwoWayReLUFunction(torch.autograd.Function):
    """Listing 1: forward ReLU, backward multiplied by sigmoid(z / T)."""

    @staticmethod
    def forward(ctx, z, temperature):
        ctx.save_for_backward(z)
        ctx.temperature = temperature
        return F.relu(z)

    @staticmethod
    def backward(ctx, grad_output):
        (z,) = ctx.saved_tensors
        return grad_output * torch.sigmoid(z / ctx.temperature), None


class TwoWayReLU(nn.Module):
    def __init__(self, temperature: float):
        super().__init__()
        self.temperature = temperature

    def forward(self, x):
        return TwoWayReLUFunction.apply(x, self.temperature)


class SurrogateSoftMaxPool2d(nn.MaxPool2d):
    """Listing 2: forward hard max-pool, backward of softmax pooling with temperature T."""

    def __init__(self, *args, temperature: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.temperature = temperature

    def soft(self, x):
        b, c, h, w = x.shape
        k = self.kernel_size
        x_unf = F.unfold(x, kernel_size=k, stride=self.stride, padding=self.padding)
        x_unf = x_unf.view(b, c, k * k, -1)
        weights = F.softmax(x_unf / self.temperature, dim=2)
        pooled = (x_unf * weights).sum(dim=2)
        out_h = (h + 2 * self.padding - k) // self.stride + 1
        out_w = (w + 2 * self.padding - k) // self.stride + 1
        return pooled.view(b, c, out_h, out_w)

    def forward(self, x):
        soft = self.soft(x)
        hard = F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
        )
        return hard.detach() + (soft - soft.detach())


def _replace_(module: nn.Module, temperature: float) -> None:
    for name, child in module.named_children():
        if isinstance(child, nn.ReLU):
            setattr(module, name, TwoWayReLU(temperature))
        elif isinstance(child, nn.MaxPool2d):
            setattr(
                module,
                name,
                SurrogateSoftMaxPool2d(
                    kernel_size=child.kernel_size, stride=child.stride, padding=child.padding,
                    dilation=child.dilation, return_indices=child.return_indices,
                    ceil_mode=child.ceil_mode, temperature=temperature,
                ),
            )
        else:
            _replace_(child, temperature)


class FromMinusOneOneToImageNet(nn.Module):
    """Images in [-1, 1] -> [0, 1] -> ImageNet mean/std normalisation (the authors' wrapper)."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x):
        x = (x + 1) / 2
        return (x - self.mean) / self.std


def wrap(backbone: nn.Module) -> nn.Module:
    """The authors' model: normalisation then the backbone, in eval mode."""
    return nn.Sequential(FromMinusOneOneToImageNet(), backbone).eval()


def excitation_model(model: nn.Module, temperature: float, soft_final_relu: bool = False) -> nn.Module:
    """A deep copy of `model` with the paper's module replacement applied.

    `soft_final_relu` additionally gates DenseNet's functional ReLU after `features.norm5`
    (the all-soft variant; the paper's code leaves it hard).
    """
    m = copy.deepcopy(model)
    _replace_(m, temperature)
    if soft_final_relu:
        backbone = m[1]
        if not hasattr(backbone, "features") or not hasattr(backbone.features, "norm5"):
            raise ValueError("soft_final_relu applies to DenseNet only")

        def forward(x, _b=backbone, _t=temperature):
            out = TwoWayReLUFunction.apply(_b.features(x), _t)
            out = F.adaptive_avg_pool2d(out, (1, 1))
            return _b.classifier(torch.flatten(out, 1))

        backbone.forward = forward
    return m.eval()


def input_gradient(model, x, targets):
    """d(sum_b logits[b, targets[b]]) / dx and the logits."""
    x = x.detach().clone().requires_grad_(True)
    logits = model(x)
    cost = logits[torch.arange(len(targets)), targets].sum()
    (g,) = torch.autograd.grad(cost, x)
    return g.detach(), logits.detach()


def ascent_step(model, x, x0, targets, a):
    """One step of the paper's targeted projected gradient ascent (lib/pga.py semantics).

    `a`: dict with alpha, eps, clip (min, max) and eps_for_division; `x0` is the original
    image (centre of the eps-ball), `x` the current iterate.
    """
    g, _ = input_gradient(model, x, targets)
    gn = torch.norm(g.flatten(1), p=2, dim=1).clamp_min(a["eps_for_division"]).view(-1, 1, 1, 1)
    x_new = x.detach() + (g / gn) * a["alpha"]
    delta = x_new - x0
    dn = torch.norm(delta.flatten(1), p=2, dim=1).clamp_min(a["eps_for_division"])
    factor = torch.min(a["eps"] / dn, torch.ones_like(dn))
    x_new = x0 + delta * factor.view(-1, 1, 1, 1)
    return torch.clamp(x_new, a["clip"][0], a["clip"][1]).detach()
