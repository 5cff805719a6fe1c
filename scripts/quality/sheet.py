"""A contact sheet of scripts/quality/eval.sh's pictures: one row per photo (the photo
first), one column per painting, each picture scaled to a common height, as one JPEG.

Usage: python scripts/quality/sheet.py OUT.jpg LABEL PHOTO... (the project's virtualenv
has Pillow). Environment: OUT_DIR (the evaluation's pictures, default var/quality-eval),
PAINTINGS (default the six presets), HEIGHT (each cell's height, default 160).
"""

import os
import sys
from pathlib import Path

from PIL import Image


def main():
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    out, label, photos = sys.argv[1], sys.argv[2], sys.argv[3:]
    pictures = Path(os.environ.get("OUT_DIR", "var/quality-eval"))
    paintings = os.environ.get("PAINTINGS", "").split() or sorted(
        path.stem for path in Path("assets/styles").glob("*.jpg")
    )
    height = int(os.environ.get("HEIGHT", "160"))
    gap = 4

    def cell(path):
        image = Image.open(path).convert("RGB")
        return image.resize((round(image.width * height / image.height), height), Image.LANCZOS)

    rows = []
    for photo in photos:
        name = Path(photo).stem
        row = [cell(Path("assets") / photo)]
        for painting in paintings:
            path = pictures / name / f"{label}-{painting}.png"
            row.append(cell(path) if path.exists() else Image.new("RGB", (height, height), "white"))
        rows.append(row)
    width = max(sum(image.width for image in row) + gap * (len(row) - 1) for row in rows)
    sheet = Image.new("RGB", (width, len(rows) * (height + gap) - gap), "white")
    for index, row in enumerate(rows):
        x = 0
        for image in row:
            sheet.paste(image, (x, index * (height + gap)))
            x += image.width + gap
    sheet.save(out, quality=85)


if __name__ == "__main__":
    main()
