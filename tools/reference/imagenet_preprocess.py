"""Fixtures for crates/excitation/src/imagenet/images.rs: what Pillow + torchvision make
of a few synthetic images under the paper's preprocessing (lib/dataset.py,
ConditionalTransform: square -> Resize(224); otherwise Resize(256) + CenterCrop(224)).

Writes into crates/excitation/src/imagenet/fixtures/:
  expected_<w>x<h>.png  the 224x224 uint8 result for the test pattern of size w x h
                        (the pattern is recomputed in Rust: keep `pattern` in sync);
  grey_40x30.png, rgba_50x50.png, and their expected_*.png;
  pattern_120x90.jpg    a JPEG of the pattern (quality 90) and
  pillow_decoded_120x90.png  Pillow's decoding of it, to measure JPEG decoder drift.

Run from the repository root:  /work/pyref/bin/python tools/reference/imagenet_preprocess.py
"""

import pathlib

import numpy as np
import torchvision
from PIL import Image
from torchvision import transforms as T

OUT = pathlib.Path("crates/excitation/src/imagenet/fixtures")


def pattern(w: int, h: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    chans = [(x * 7 + y * 13 + c * 50 + ((x * y + c) % 17) * 5) % 256 for c in range(3)]
    return np.stack(chans, axis=-1).astype(np.uint8)


def conditional_transform(img: Image.Image) -> Image.Image:
    # lib/dataset.py ConditionalTransform, stopped before ToTensor.
    w, h = img.size
    if w == h:
        return T.Resize(224)(img)
    return T.CenterCrop(224)(T.Resize(256)(img))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for w, h in [(500, 375), (180, 333), (500, 500), (100, 100), (300, 200)]:
        img = Image.fromarray(pattern(w, h), "RGB")
        out = conditional_transform(img)
        assert out.size == (224, 224)
        out.save(OUT / f"expected_{w}x{h}.png")
    grey = Image.fromarray(pattern(40, 30)[:, :, 0], "L")
    grey.save(OUT / "grey_40x30.png")
    conditional_transform(Image.open(OUT / "grey_40x30.png").convert("RGB")).save(
        OUT / "expected_grey_40x30.png"
    )
    rgba = np.concatenate([pattern(50, 50), pattern(50, 50)[:, :, :1]], axis=-1)
    Image.fromarray(rgba, "RGBA").save(OUT / "rgba_50x50.png")
    conditional_transform(Image.open(OUT / "rgba_50x50.png").convert("RGB")).save(
        OUT / "expected_rgba_50x50.png"
    )
    Image.fromarray(pattern(120, 90), "RGB").save(OUT / "pattern_120x90.jpg", quality=90)
    Image.open(OUT / "pattern_120x90.jpg").convert("RGB").save(OUT / "pillow_decoded_120x90.png")
    print("torchvision", torchvision.__version__, "Pillow", Image.__version__, "->", OUT)


if __name__ == "__main__":
    main()
