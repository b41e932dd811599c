"""How long the local image operations (studio.imageops) take on a 1024x1024 picture.

    .venv/bin/python bench/operations_bench.py [--runs 5] [--threads N]

Times each operation end to end, bytes in to bytes out (decode, work, encode), as the
`local` provider runs it: vectorize (colour at medium detail, and binary), remove the
background (a product shot, and a landscape with no clear subject), 2x and 4x upscale, and a
style from 3 pictures. Sources are made here, not read from disk: landscapes from the offline
renderer (studio.rendering) with sensor-like noise added, and a shaded object on a graded,
noisy backdrop. Prints the median, min and max wall time of --runs runs after one warm-up, the
median CPU time of this process (above wall when OpenCV runs threads), and what came out.
No Django, no database: the operations are plain numpy/OpenCV/Pillow/vtracer.
"""

import argparse
import io
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np
from PIL import Image

from studio import imageops
from studio.rendering import Spec, render

SIDE = 1024
SCENES = (
    "a sunset over the mountains with a lake reflection",
    "a red house in flower fields under clouds",
    "a city at night with rain",
)


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def with_grain(array: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, array.shape)
    return np.clip(array.astype(np.float32) + noise, 0, 255).astype(np.uint8)


def landscape(index: int) -> bytes:
    spec = Spec(prompt=SCENES[index], width=SIDE, height=SIDE, seed=index, category="painting")
    image, _ = render(spec)
    return png(with_grain(np.asarray(image), 3.0, index))


def product_shot() -> bytes:
    """A glossy ball and a box on a backdrop that darkens downwards, with grain."""
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32)
    picture = np.full((SIDE, SIDE, 3), (236, 234, 230), np.float32)
    picture -= (yy / SIDE * 30)[:, :, None]
    ball = np.hypot(xx - 430, yy - 560) < 260
    light = np.clip(1.25 - np.hypot(xx - 340, yy - 450) / 420, 0.3, 1.0)[:, :, None]
    picture[ball] = (np.array([200, 45, 40], np.float32) * light)[ball]
    box = (np.abs(xx - 780) < 140) & (yy > 520) & (yy < 900)
    picture[box] = (
        np.array([60, 100, 170], np.float32) * (0.7 + 0.3 * (xx - 640) / 280)[:, :, None]
    )[box]
    return png(with_grain(picture, 3.0, 99))


def timed(call, runs: int) -> tuple[list[float], float, object]:
    call()  # warm-up: imports, OpenCV's thread pool, page faults
    walls, cpus = [], []
    result = None
    for _ in range(runs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = call()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return walls, statistics.median(cpus), result


def described(result) -> str:
    if isinstance(result, dict):  # a style
        return f"{len(result['palette'])} colours: {result['prompt_suffix'][:48]}…"
    data, facts = result
    size = f"{len(data) / 1e6:.2f} MB"
    if "paths" in facts:
        return f"{size} SVG, {facts['paths']} paths"
    shape = f"{facts['width']}x{facts['height']}"
    if "foreground_fraction" in facts:
        note = f", {facts['note']}" if facts.get("note") else ""
        return f"{size} PNG {shape}, {facts['foreground_fraction']:.0%} kept{note}"
    return f"{size} PNG {shape}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="OpenCV threads (0: its default)")
    args = parser.parse_args()
    if args.threads:
        cv2.setNumThreads(args.threads)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = cv2.getNumThreads()
    print(f"image operations bench: {SIDE}x{SIDE} sources, median of {args.runs} runs; "
          f"{cores} core(s), OpenCV {cv2.__version__} with {threads} thread(s)")  # fmt: skip

    scenes = [landscape(index) for index in range(len(SCENES))]
    product = product_shot()
    print(f"sources: landscape PNG {len(scenes[0]) / 1e6:.2f} MB, "
          f"product shot PNG {len(product) / 1e6:.2f} MB")  # fmt: skip
    operations = [
        ("vectorize color medium", lambda: imageops.vectorize(scenes[0])),
        ("vectorize binary medium", lambda: imageops.vectorize(scenes[0], mode="binary")),
        ("remove background (product)", lambda: imageops.remove_background(product)),
        ("remove background (landscape)", lambda: imageops.remove_background(scenes[0])),
        ("upscale 2x", lambda: imageops.upscale(scenes[0], scale=2)),
        ("upscale 4x", lambda: imageops.upscale(scenes[0], scale=4)),
        ("style from 3 pictures", lambda: imageops.style_extract(scenes)),
    ]
    print(f"\n{'operation':<32}{'median s':>9}{'min s':>8}{'max s':>8}{'cpu s':>8}   output")
    for name, call in operations:
        walls, cpu, result = timed(call, args.runs)
        print(f"  {name:<30}{statistics.median(walls):9.3f}{min(walls):8.3f}{max(walls):8.3f}"
              f"{cpu:8.3f}   {described(result)}")  # fmt: skip


if __name__ == "__main__":
    main()
