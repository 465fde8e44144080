"""Write the 1000 ImageNet class names, one per line in class-index order, to
crates/excitation/src/imagenet/classes.txt.

The names are torchvision's (`torchvision.models._meta._IMAGENET_CATEGORIES`, the list
behind `weights.meta["categories"]` of every ImageNet classifier), so indices match
torchvision's checkpoints. Run from the repository root:

    /work/pyref/bin/python tools/reference/imagenet_classes.py
"""

import pathlib

from torchvision.models._meta import _IMAGENET_CATEGORIES

OUT = pathlib.Path("crates/excitation/src/imagenet/classes.txt")


def main() -> None:
    names = list(_IMAGENET_CATEGORIES)
    assert len(names) == 1000, len(names)
    for i, n in enumerate(names):
        assert n and "\n" not in n and n == n.strip(), (i, n)
    OUT.write_text("".join(n + "\n" for n in names), encoding="utf-8")
    print(f"wrote {len(names)} names to {OUT}")


if __name__ == "__main__":
    main()
