"""The quality figure in docs/benchmarks/quality.md and the README: per painting, the
reference's published picture beside stylize's, in one JPEG.

Usage: python scripts/quality/figure.py OUT.jpg REFERENCE.png OURS.png [REFERENCE.png OURS.png ...]
(the project's virtualenv has Pillow). Each pair becomes a row: reference left, ours right.
"""

import sys

from PIL import Image


def main():
    out, pictures = sys.argv[1], sys.argv[2:]
    if not pictures or len(pictures) % 2:
        sys.exit(__doc__)
    rows = [
        [Image.open(path).convert("RGB") for path in pictures[i : i + 2]]
        for i in range(0, len(pictures), 2)
    ]
    width = max(a.width + b.width for a, b in rows) + 8
    height = sum(max(a.height, b.height) for a, b in rows) + 4 * (len(rows) - 1)
    figure = Image.new("RGB", (width, height), "white")
    y = 0
    for reference, ours in rows:
        figure.paste(reference, (0, y))
        figure.paste(ours, (reference.width + 8, y))
        y += max(reference.height, ours.height) + 4
    figure.save(out, quality=88)


if __name__ == "__main__":
    main()
