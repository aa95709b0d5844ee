#!/usr/bin/env python3
"""Writes the small image files the ImageFrontEnd tests decode, and images.json with the pixels they must give.

    pip install pillow numpy; python Tests/Fixtures/images/make_image_fixtures.py

PNG files decode exactly (8-bit; the 16-bit file must give its values / 257, rounded). JPEG is lossy: the expected
pixels are what Pillow (also libjpeg-turbo) decodes, and the tests allow a difference of 2.
"""
import json
import os

import numpy as np
from PIL import Image

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(5)
expected = {}

grey = rng.integers(0, 256, size=(5, 7), dtype=np.uint8)
rgb = rng.integers(0, 256, size=(6, 4, 3), dtype=np.uint8)
# Smooth pictures for JPEG (noise would not survive compression within the tolerance).
yy, xx = np.mgrid[0:16, 0:16]
smooth_grey = (8 * yy + 4 * xx).astype(np.uint8)
smooth_rgb = np.stack([8 * yy, 8 * xx, 255 - 8 * yy], axis=-1).astype(np.uint8)
grey16 = (rng.integers(0, 256, size=(3, 5)) * 257).astype(np.uint16)

Image.fromarray(grey).save(os.path.join(here, "grey.png"))
Image.fromarray(rgb).save(os.path.join(here, "rgb.png"))
Image.fromarray(np.dstack([rgb, np.full((6, 4), 255, np.uint8)])).save(os.path.join(here, "rgba.png"))
Image.fromarray(rgb).convert("P", palette=Image.ADAPTIVE, colors=8).save(os.path.join(here, "palette.png"))
Image.fromarray(grey16).save(os.path.join(here, "grey16.png"))
Image.fromarray(smooth_grey).save(os.path.join(here, "grey.jpg"), quality=95)
Image.fromarray(smooth_rgb).save(os.path.join(here, "rgb.jpg"), quality=95)

expected["grey.png"] = {"shape": [5, 7, 1], "pixels": grey.reshape(-1).tolist()}
expected["rgb.png"] = {"shape": [6, 4, 3], "pixels": rgb.reshape(-1).tolist()}
expected["rgba.png"] = {"shape": [6, 4, 3], "pixels": rgb.reshape(-1).tolist()}
palette = np.asarray(Image.open(os.path.join(here, "palette.png")).convert("RGB"))
expected["palette.png"] = {"shape": [6, 4, 3], "pixels": palette.reshape(-1).tolist()}
expected["grey16.png"] = {"shape": [3, 5, 1], "pixels": (grey16 // 257).reshape(-1).tolist()}
for name, channels in [("grey.jpg", 1), ("rgb.jpg", 3)]:
    decoded = np.asarray(Image.open(os.path.join(here, name)))
    expected[name] = {"shape": [16, 16, channels], "pixels": decoded.reshape(-1).tolist()}

# Broken files: a PNG cut in half, a JPEG cut short, text with an image name, an empty file.
with open(os.path.join(here, "rgb.png"), "rb") as f:
    data = f.read()
with open(os.path.join(here, "truncated.png"), "wb") as f:
    f.write(data[: len(data) // 2])
with open(os.path.join(here, "rgb.jpg"), "rb") as f:
    data = f.read()
with open(os.path.join(here, "truncated.jpg"), "wb") as f:
    f.write(data[:40])
with open(os.path.join(here, "text.png"), "w") as f:
    f.write("this is not an image\n")
open(os.path.join(here, "empty.png"), "wb").close()

with open(os.path.join(here, "images.json"), "w") as f:
    json.dump(expected, f)
print("wrote", len(expected), "images to", here)
