#!/usr/bin/env python3
"""Regenerate the PyTorch parity fixtures of `crates/excitation/tests/fixtures/`.

    python tools/reference/make_fixtures.py            # from the repository root

Builds torchvision's resnet50, vgg11_bn and densenet121 (and tiny variants in the same
layout), fills every parameter and BatchNorm buffer with the synthetic formula of
`synthetic.py` (reproduced bit for bit by `crates/excitation/src/synthetic.rs`), wraps them
as the paper's code does (images in [-1, 1] -> ImageNet normalisation inside, eval mode),
applies the paper's Listings 1-2, and saves for a fixed input batch: logits, vanilla input
gradients, excitation pullbacks at two temperatures, and the iterates of 3 steps of the
paper's projected gradient ascent (vanilla and excitation). The full models' weights are
NOT saved (Rust rebuilds them from the formula); the tiny models' weights are also saved as
`.pth` files to test the PyTorch checkpoint loader. See docs/reference-fixtures.md.

Reference values are computed in float64 (weights and inputs are float32 values, so they
are exact in float64) and rounded to float32; the relative error of PyTorch's own float32
computation against them is stored in each file's metadata as the noise floor.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from safetensors.numpy import save_file
from torch import nn
from torchvision.models import densenet121, resnet50, vgg11_bn
from torchvision.models.densenet import DenseNet
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.models.vgg import make_layers

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import synthetic as syn  # noqa: E402
from decisions import Probed, ambiguous  # noqa: E402
from paper_layers import ascent_step, excitation_model, input_gradient, wrap  # noqa: E402

REPO = os.path.dirname(os.path.dirname(HERE))
DEFAULT_OUT = os.path.join(REPO, "crates", "excitation", "tests", "fixtures")

SPEC = "curtain-synthetic-v1"
TEMPERATURES = [0.3, 1.0]
ASCENT = {"alpha": 20.0, "eps": 100.0, "steps": 3, "temperature": 0.3, "clip": [-1.0, 1.0],
          "eps_for_division": 1e-20}
# The paper's eps = 100 is never reached in 3 steps of alpha = 20; the tiny models also get an
# ascent with a small eps so that the projection onto the eps-ball is exercised (every step).
ASCENT_SMALL_EPS = dict(ASCENT, eps=15.0)
# An alternative vanilla output (one hard decision within float32 rounding flipped) is stored
# when it moves the output by more than this (relative, as the Rust tests measure): a tenth of
# their 1e-3 tolerance, so a flip left out cannot make a correct implementation fail.
ALT_MIN_EFFECT = 1e-4


# --------------------------------------------------------------------------------------
# Tiny variants in torchvision's layout (same module names, smaller widths)
# --------------------------------------------------------------------------------------


class NarrowResNet(ResNet):
    """torchvision's ResNet with stage widths `widths` instead of (64, 128, 256, 512)."""

    def __init__(self, block, layers, widths, num_classes):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)


class SmallVGG(nn.Module):
    """torchvision's VGG with a configurable pooled size and classifier width."""

    def __init__(self, cfg, batch_norm, pooled, hidden, num_classes):
        super().__init__()
        self.features = make_layers(cfg, batch_norm=batch_norm)
        self.avgpool = nn.AdaptiveAvgPool2d((pooled, pooled))
        last = [c for c in cfg if c != "M"][-1]
        self.classifier = nn.Sequential(
            nn.Linear(last * pooled * pooled, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


# Each entry: constructor, torchvision-style config (recorded in the fixture), image shape
# of the fixed batch, target classes, and the .pth format for tiny models.
MODELS = {
    "resnet50": dict(
        build=lambda: resnet50(weights=None),
        config={"arch": "resnet", "block": "bottleneck", "layers": [3, 4, 6, 3],
                "widths": [64, 128, 256, 512], "num_classes": 1000},
        image=[2, 3, 64, 64], targets=[17, 682], logits_224=True),
    "vgg11_bn": dict(
        build=lambda: vgg11_bn(weights=None),
        config={"arch": "vgg", "cfg": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
                "batch_norm": True, "pooled": 7, "hidden": 4096, "num_classes": 1000},
        image=[2, 3, 64, 64], targets=[17, 682], logits_224=True),
    "densenet121": dict(
        build=lambda: densenet121(weights=None),
        config={"arch": "densenet", "growth_rate": 32, "block_config": [6, 12, 24, 16],
                "num_init_features": 64, "bn_size": 4, "num_classes": 1000},
        image=[2, 3, 64, 64], targets=[17, 682], logits_224=True, soft_final_relu=True),
    "tiny_resnet": dict(
        build=lambda: NarrowResNet(Bottleneck, [1, 1, 1, 1], [8, 16, 32, 64], 10),
        config={"arch": "resnet", "block": "bottleneck", "layers": [1, 1, 1, 1],
                "widths": [8, 16, 32, 64], "num_classes": 10},
        image=[2, 3, 32, 32], targets=[3, 7], pth="zip"),
    "tiny_resnet_basic": dict(
        build=lambda: NarrowResNet(BasicBlock, [2, 1, 1, 1], [8, 16, 32, 64], 10),
        config={"arch": "resnet", "block": "basic", "layers": [2, 1, 1, 1],
                "widths": [8, 16, 32, 64], "num_classes": 10},
        image=[2, 3, 32, 32], targets=[3, 7], pth="zip"),
    "tiny_vgg": dict(
        build=lambda: SmallVGG([8, "M", 16, "M", 32, 32, "M"], True, 2, 32, 10),
        config={"arch": "vgg", "cfg": [8, "M", 16, "M", 32, 32, "M"], "batch_norm": True,
                "pooled": 2, "hidden": 32, "num_classes": 10},
        image=[2, 3, 32, 32], targets=[3, 7], pth="zip"),
    "tiny_densenet": dict(
        build=lambda: DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8,
                               bn_size=2, num_classes=10),
        config={"arch": "densenet", "growth_rate": 4, "block_config": [2, 2],
                "num_init_features": 8, "bn_size": 2, "num_classes": 10},
        image=[2, 3, 32, 32], targets=[3, 7], pth="legacy", soft_final_relu=True),
}


# --------------------------------------------------------------------------------------
# Reference computations (the paper's semantics)
# --------------------------------------------------------------------------------------


def ascent(model, x0, targets, dtype, a=ASCENT):
    """Iterates x_1..x_steps; each iterate is rounded to float32 before the next step, so a
    float32 implementation can start every step from exactly the saved iterate."""
    out, x = [], x0
    for _ in range(a["steps"]):
        x = ascent_step(model, x, x0, targets, a).float().to(dtype)
        out.append(x)
    return out


def outputs(name, spec, backbone, dtype):
    """All reference outputs of one model at one precision, as a dict of torch tensors."""
    backbone = backbone.to(dtype)
    vanilla = wrap(backbone)
    x = torch.from_numpy(syn.synthetic_images(spec["image"])).to(dtype)
    t = torch.tensor(spec["targets"], dtype=torch.long)
    res = {}
    g, logits = input_gradient(vanilla, x, t)
    res["logits"], res["vanilla_grad"] = logits, g
    variants = [("", False)] + ([("all_soft/", True)] if spec.get("soft_final_relu") else [])
    for prefix, soft in variants:
        for i, temp in enumerate(TEMPERATURES):
            exc = excitation_model(vanilla, temp, soft_final_relu=soft)
            pb, exc_logits = input_gradient(exc, x, t)
            if not torch.equal(exc_logits, logits):
                raise RuntimeError(f"{name}: the surrogate layers changed the forward pass")
            res[f"{prefix}pullback/{i}"] = pb
        exc = excitation_model(vanilla, ASCENT["temperature"], soft_final_relu=soft)
        for k, xk in enumerate(ascent(exc, x, t, dtype), start=1):
            res[f"{prefix}ascent/excitation/{k}"] = xk
    for k, xk in enumerate(ascent(vanilla, x, t, dtype), start=1):
        res[f"ascent/vanilla/{k}"] = xk
    if "pth" in spec:
        exc = excitation_model(vanilla, ASCENT["temperature"])
        for mode, m in (("excitation", exc), ("vanilla", vanilla)):
            for k, xk in enumerate(ascent(m, x, t, dtype, ASCENT_SMALL_EPS), start=1):
                res[f"ascent_small_eps/{mode}/{k}"] = xk
    if spec.get("logits_224"):
        x224 = torch.from_numpy(syn.synthetic_images([1, 3, 224, 224])).to(dtype)
        with torch.no_grad():
            res["logits_224"] = vanilla(x224)
    return res


def rel_err(a, b):
    return float(torch.linalg.vector_norm(a.double() - b.double()) / torch.linalg.vector_norm(b.double()))


def vanilla_points(spec, ref, x0):
    """The vanilla outputs the Rust tests check, each as (key, start, ascent parameters or
    None): `vanilla_grad` at the input, and each ascent step from the saved previous iterate."""
    points = [("vanilla_grad", x0, None)]
    sets = [("ascent", ASCENT)] + ([("ascent_small_eps", ASCENT_SMALL_EPS)] if "pth" in spec else [])
    for which, a in sets:
        prev = x0
        for k in range(1, a["steps"] + 1):
            key = f"{which}/vanilla/{k}"
            points.append((key, prev, a))
            prev = ref[key]
    return points


def vanilla_output(model, start, x0, t, a):
    """The vanilla gradient at `start` (a is None) or one ascent step from `start` (float32-rounded,
    as the saved iterates), in float64."""
    if a is None:
        return input_gradient(model, start, t)[0]
    return ascent_step(model, start, x0, t, a).float().double()


def best_rel_err(out, ref, alts, start=None):
    """Relative error of `out` against the reference in which each image may be replaced by one of
    its alternatives (the closest); measured on steps `out - start` when `start` is given.
    Mirrors `parity.rs`."""
    base = torch.zeros_like(ref, dtype=torch.float64) if start is None else start.double()
    out, ref = out.double() - base, ref.double() - base
    num = 0.0
    for b in range(ref.shape[0]):
        options = [ref[b]] + [alt.double()[0] - base[b] for d, alt in alts if d["image"] == b]
        num += min(float(torch.sum((out[b] - o) ** 2)) for o in options)
    return (num / float(torch.sum(ref ** 2))) ** 0.5


def vanilla_alternatives(name, spec, ref, x0, t):
    """For each vanilla output, the hard decisions within float32 rounding of their threshold
    (`decisions.ambiguous`) and, for each that moves the output by more than ALT_MIN_EFFECT,
    the float64 output of the affected image with that decision flipped.

    Returns {key: [(description, tensor [1, C, H, W]), ...]}."""
    p64 = Probed(wrap(build_filled(spec).double()))
    p32 = Probed(wrap(build_filled(spec)))
    found, seen = {}, {}
    for key, start, a in vanilla_points(spec, ref, x0):
        same = vanilla_output(p64, start, x0, t, a)
        if rel_err(same, ref[key]) > 1e-12:
            raise RuntimeError(f"{name}: {key}: the probed model differs from the plain one")
        sid = id(start)
        if sid not in seen:
            seen[sid] = ambiguous(p64, p32, start)
        denom = torch.linalg.vector_norm(ref[key] - (0 if a is None else start))
        alts = []
        for d in seen[sid]:
            p64.record(start)
            with p64.flipping(d):
                alt = vanilla_output(p64, start, x0, t, a)
            effect = float(torch.linalg.vector_norm(alt - ref[key]) / denom)
            if effect > ALT_MIN_EFFECT:
                alts.append((dict(d.describe(), image=d.image, effect=effect), alt[d.image:d.image + 1]))
        print(f"  {name} {key}: {len(seen[sid])} decisions within float32 rounding, "
              f"{len(alts)} move it by > {ALT_MIN_EFFECT:.0e}"
              + "".join(f"\n    {x['module']} {x['kind']} {x['index']}: margin {x['margin']:.1e}, "
                        f"f32 noise {x['noise']:.1e}, effect {x['effect']:.1e}" for x, _ in alts), flush=True)
        if alts:
            found[key] = alts
    return found


# --------------------------------------------------------------------------------------
# Files
# --------------------------------------------------------------------------------------

LEGACY_DENSE = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))((?:[12])\.(?:weight|bias|running_mean|running_var))$")


def legacy_densenet_state_dict(sd):
    """torchvision's current DenseNet keys -> the legacy keys of its downloadable checkpoints
    (`denselayer1.norm.1.weight`), without `num_batches_tracked` (absent from those files)."""
    out = {}
    for k, v in sd.items():
        if k.endswith("num_batches_tracked"):
            continue
        m = LEGACY_DENSE.match(k)
        out[f"{m.group(1)}.{m.group(2)}" if m else k] = v
    return out


def build_filled(spec):
    backbone = spec["build"]()
    syn.fill_module_(backbone)
    return backbone.eval()


CROSS_CHECK = [
    ("conv1.weight", [64, 3, 7, 7]),
    ("classifier.0.weight", [40, 25]),
    ("bn1.weight", [64]),
    ("layer1.0.bn1.running_var", [64]),
    ("features.denseblock1.denselayer1.norm1.running_mean", [64]),
    ("fc.bias", [1000]),
    ("layer2.0.bn1.num_batches_tracked", []),
    ("\u03bc-non-ascii.bias", [7]),
]


def write_cross_check(path):
    """Small JSON of synthetic values for the Rust unit tests of `synthetic.rs`."""
    entries = []
    for key, shape in CROSS_CHECK:
        v = syn.synthetic_tensor(key, tuple(shape))
        flat = v.reshape(-1)
        bits = flat.view(np.uint32) if flat.dtype == np.float32 else flat.view(np.uint64)
        entries.append({"key": key, "shape": shape, "dtype": str(flat.dtype),
                        "first_bits": [int(b) for b in bits[:8]],
                        "checksum": f"{syn.checksum(v):016x}"})
    img_shape = [2, 3, 5, 5]
    img = syn.synthetic_images(img_shape)
    doc = {"spec": SPEC, "tensors": entries,
           "images": {"shape": img_shape, "first_bits": [int(b) for b in img.reshape(-1).view(np.uint32)[:8]],
                      "checksum": f"{syn.checksum(img):016x}"},
           # f64 bit patterns (hex): JSON floats do not round-trip exactly through every parser
           "unit": {"key": "input", "first_f64_bits": [f"{int(b):016x}" for b in syn.unit("input", 4).view(np.uint64)]}}
    with open(path, "w") as f:
        json.dump(doc, f, ensure_ascii=False)
        f.write("\n")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=DEFAULT_OUT, help="output folder (default: the Rust fixtures folder)")
    ap.add_argument("--only", nargs="*", help="model names to regenerate (default: all)")
    ap.add_argument("--no-f32", action="store_true", help="skip the float32 noise-floor run")
    args = ap.parse_args(argv)
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    write_cross_check(os.path.join(args.out, "synthetic_values.json"))
    for name, spec in MODELS.items():
        if args.only and name not in args.only:
            continue
        t0 = time.time()
        backbone = build_filled(spec)
        sd = backbone.state_dict()
        entries = [[k, list(v.shape), f"{syn.checksum(v.numpy()):016x}"] for k, v in sd.items()]
        ref = outputs(name, spec, build_filled(spec), torch.float64)
        x0 = torch.from_numpy(syn.synthetic_images(spec["image"])).double()
        t = torch.tensor(spec["targets"], dtype=torch.long)
        alternatives = vanilla_alternatives(name, spec, ref, x0, t)
        floor = {}
        if not args.no_f32:
            f32 = outputs(name, spec, build_filled(spec), torch.float32)
            floor = {k: rel_err(f32[k], ref[k]) for k in ref if "ascent" not in k}
            # single-step noise floor of the ascent: float32 step from the saved iterate
            exc = excitation_model(wrap(build_filled(spec)), ASCENT["temperature"])
            x0 = torch.from_numpy(syn.synthetic_images(spec["image"]))
            t = torch.tensor(spec["targets"], dtype=torch.long)
            prev = x0
            for k in range(1, ASCENT["steps"] + 1):
                step = ascent_step(exc, prev.float(), x0, t, ASCENT)
                floor[f"ascent/excitation/{k} (step)"] = rel_err(step - prev.float(), ref[f"ascent/excitation/{k}"].float() - prev.float())
                prev = ref[f"ascent/excitation/{k}"].float()
            # vanilla: float32 from the same starts, against the reference and its alternatives
            vanilla32 = wrap(build_filled(spec))
            for key, start, a in vanilla_points(spec, ref, x0):
                out = vanilla_output(vanilla32, start.float(), x0.float(), t, a)
                s0 = None if a is None else start
                what = key if a is None else f"{key} (step)"
                floor[what] = best_rel_err(out, ref[key], [], s0)
                if key in alternatives:
                    floor[f"{what}, best alternative"] = best_rel_err(out, ref[key], alternatives[key], s0)
        tensors = {k: v.float().numpy() for k, v in ref.items()}
        tensors["input"] = syn.synthetic_images(spec["image"])
        tensors["targets"] = np.array(spec["targets"], dtype=np.int64)
        meta = {
            "spec": SPEC,
            "model": name,
            "config": json.dumps(spec["config"]),
            "state_dict": json.dumps(entries),
            "temperatures": json.dumps(TEMPERATURES),
            "ascent": json.dumps(ASCENT),
            "ascent_small_eps": json.dumps(ASCENT_SMALL_EPS),
            "paper_final_relu": "hard" if spec.get("soft_final_relu") else "n/a",
            "noise_floor_torch_f32": json.dumps(floor),
            "generator": f"tools/reference/make_fixtures.py; torch {torch.__version__}, torchvision {torchvision.__version__}",
        }
        path = os.path.join(args.out, f"{name}.safetensors")
        save_file(tensors, path, metadata=meta)
        line = f"{name}: {os.path.getsize(path) / 1e6:.2f} MB"
        # Alternatives in a file of their own (the main file stays under 2 MB).
        alt_path = os.path.join(args.out, f"{name}.alternatives.safetensors")
        alt_tensors = {f"{key}/{j}": alt.float().numpy()
                       for key, alts in alternatives.items() for j, (_, alt) in enumerate(alts)}
        alt_meta = {"spec": SPEC, "model": name, "min_effect": json.dumps(ALT_MIN_EFFECT),
                    "alternatives": json.dumps({k: [d for d, _ in v] for k, v in alternatives.items()}),
                    "generator": meta["generator"]}
        save_file(alt_tensors, alt_path, metadata=alt_meta)
        line += f" + {os.path.getsize(alt_path) / 1e6:.2f} MB alternatives ({len(alt_tensors)})"
        if "pth" in spec:
            pth = os.path.join(args.out, f"{name}.pth")
            if spec["pth"] == "legacy":
                torch.save(legacy_densenet_state_dict(sd), pth, _use_new_zipfile_serialization=False)
            else:
                torch.save(sd, pth)
            line += f" + {os.path.getsize(pth) / 1e6:.2f} MB .pth ({spec['pth']})"
        lg = ref["logits"]
        line += (f"; logits range [{lg.min():.2f}, {lg.max():.2f}], std {lg.std():.2f}; "
                 f"max f32 noise {max(floor.values()) if floor else float('nan'):.1e}; {time.time() - t0:.0f} s")
        print(line, flush=True)


if __name__ == "__main__":
    main()
