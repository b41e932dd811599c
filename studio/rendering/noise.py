"""Deterministic randomness and smooth noise fields, all vectorised (numpy + Pillow resampling)."""

import hashlib
import json

import numpy as np
from PIL import Image

F32 = np.float32


def seeded_rng(*parts: object) -> np.random.Generator:
    """A Generator seeded from a stable hash of parts (never Python's per-process hash())."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:16], "big"))


def resize(field: np.ndarray, height: int, width: int) -> np.ndarray:
    """A small 2-D float field resampled to height x width (bicubic, in C via Pillow)."""
    if field.shape == (height, width):
        return field
    image = Image.fromarray(np.ascontiguousarray(field, dtype=F32), mode="F")
    return np.asarray(image.resize((width, height), Image.Resampling.BICUBIC))


def upscale(field: np.ndarray, factor: int, height: int, width: int) -> np.ndarray:
    """A low-resolution field stretched `factor` times (bilinear) and cut to height x width.

    Written as strided numpy writes: several times faster than a Pillow resize once the
    conversions to and from Pillow's memory are counted, and upscaling smooth fields is most
    of what the renderer does.
    """
    if factor == 1:
        return field[:height, :width]
    h, w = field.shape
    steps = np.arange(factor, dtype=F32) / factor
    dy = np.zeros_like(field)
    dy[:-1] = field[1:] - field[:-1]
    rows = np.empty((h, factor, w), F32)
    for i, t in enumerate(steps):
        np.multiply(dy, t, out=rows[:, i])
        rows[:, i] += field
    rows = rows.reshape(h * factor, w)[:height]
    dx = np.zeros_like(rows)
    dx[:, :-1] = rows[:, 1:] - rows[:, :-1]
    out = np.empty((rows.shape[0], w, factor), F32)
    for i, t in enumerate(steps):
        np.multiply(dx, t, out=out[:, :, i])
        out[:, :, i] += rows
    out = out.reshape(rows.shape[0], w * factor)
    return out if out.shape[1] == width else out[:, :width]


def fbm(
    rng: np.random.Generator,
    height: int,
    width: int,
    scale: float,
    octaves: int = 5,
    gain: float = 0.5,
    stretch: float = 1.0,
    work: int = 4,
    small: bool = False,
) -> np.ndarray:
    """Fractal value noise in about [0, 1]: features `scale` px wide, `stretch` times wider
    than tall. Octaves are summed at 1/`work` resolution and upscaled once (or returned at that
    size with `small`): the fine detail a full-resolution sum would add costs ten times more and
    is invisible under the shading."""
    work = max(1, work)
    lh, lw = max(2, -(-height // work)), max(2, -(-width // work))
    total = np.zeros((lh, lw), F32)
    amplitude, weight = 1.0, 0.0
    cells = max(scale / work, 1.0)
    for _ in range(octaves):
        gy = max(2, int(lh / cells) + 2)
        gx = max(2, int(lw / (cells * stretch)) + 2)
        grid = rng.random((gy, gx), dtype=F32)
        total += amplitude * resize(grid, lh, lw)
        weight += amplitude
        amplitude *= gain
        cells /= 2.0
        if cells < 1.0:
            break
    total /= weight
    # Sums of octaves bunch around 0.5; stretch them back to use the whole range.
    total -= 0.5
    total *= 2.2
    total += 0.5
    return total if small else upscale(total, work, height, width)


def fbm1d(rng: np.random.Generator, n: int, scale: float, octaves: int = 6, gain: float = 0.5):
    """1-D fractal noise of length n in about [0, 1], for ridgelines and skylines."""
    x = np.arange(n, dtype=F32)
    total = np.zeros(n, F32)
    amplitude, weight, size = 1.0, 0.0, max(scale, 2.0)
    for _ in range(octaves):
        knots = rng.random(int(n / size) + 3, dtype=F32)
        pos = x / size
        i = pos.astype(np.int32)
        t = pos - i
        t = t * t * (3 - 2 * t)
        total += amplitude * (knots[i] * (1 - t) + knots[i + 1] * t)
        weight += amplitude
        amplitude *= gain
        size /= 2.0
        if size < 1.0:
            break
    total /= weight
    # Like fbm: spread the sum of octaves back over the range.
    return np.clip((total - 0.5) * 1.8 + 0.5, 0.0, 1.0)


def tile(rng: np.random.Generator, height: int, width: int, size: int = 241) -> np.ndarray:
    """Fine uniform grain in [-1, 1] by tiling one small random block (prime-sized so the
    repeat does not line up with anything); cheap at any resolution."""
    block = rng.random((size, size + 12), dtype=F32) * 2 - 1
    reps = (-(-height // size), -(-width // (size + 12)))
    return np.tile(block, reps)[:height, :width]


def shrink(field: np.ndarray, k: int) -> np.ndarray:
    """Block averages k x k over the last two axes (edges repeated up to a multiple of k)."""
    h, w = field.shape[-2:]
    ph, pw = -(-h // k) * k, -(-w // k) * k
    if (ph, pw) != (h, w):
        pad = [(0, 0)] * (field.ndim - 2) + [(0, ph - h), (0, pw - w)]
        field = np.pad(field, pad, mode="edge")
    # A sum of k*k strided views: each touches 1/k^2 of the data, so this costs about one
    # pass, where a reshape + mean over two axes costs several.
    total = np.zeros((*field.shape[:-2], ph // k, pw // k), F32)
    for i in range(k):
        for j in range(k):
            total += field[..., i::k, j::k]
    total *= 1.0 / (k * k)
    return total


def blur(field: np.ndarray, radius: float) -> np.ndarray:
    """A soft blur of a 2-D field: block averages `radius` pixels wide, upsampled again."""
    k = int(radius)
    if k < 2:
        return field
    h, w = field.shape
    return upscale(shrink(field, k), k, h, w)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3 - 2 * t)
