"""A style from reference pictures: dominant palette, tone and texture words, a prompt suffix.

Deterministic: the palette starts from Pillow's median cut (no random seeds) and is refined
by k-means in Lab, where distances match how different colours look.
"""

import cv2
import numpy as np
from PIL import Image

from studio.imageops.common import decode, encode_png, nearest_centre, shrink
from studio.providers.base import Progress, no_progress

MAX_REFERENCES = 10
SAMPLE_SIDE = 256  # each reference is judged on a copy this large: enough for colour statistics
MAX_SAMPLES = 60_000  # pooled pixels clustered, taken with an even stride
PALETTE_SIZE = (5, 8)  # min, max colours (fewer only when the references have fewer)
MERGE_DELTA_E = 8.0  # clusters closer than this are one colour
MIN_SHARE = 0.005  # clusters smaller than this are dropped while the minimum is still met

# (word, upper bound of its band); the last band is open.
TONE = (("dark", 35.0), ("mid", 65.0), ("light", None))  # mean L*
CONTRAST = (("low", 12.0), ("medium", 24.0), ("high", None))  # std of L*
SATURATION = (("muted", 15.0), ("moderate", 35.0), ("vivid", None))  # mean chroma
WARMTH = (("cool", -0.04), ("neutral", 0.04), ("warm", None))  # mean (R - B) / 255
TEXTURE = (("smooth", 0.03), ("moderate", 0.12), ("detailed", None))  # edge density

COLOUR_NAMES = {
    "black": (10, 10, 10), "charcoal": (54, 54, 58), "grey": (128, 128, 128),
    "silver": (192, 192, 192), "white": (250, 250, 250), "cream": (250, 243, 214),
    "beige": (222, 203, 164), "tan": (196, 160, 116), "brown": (120, 72, 36),
    "maroon": (110, 20, 30), "red": (210, 35, 35), "coral": (250, 120, 90),
    "orange": (245, 140, 20), "peach": (250, 200, 160), "gold": (220, 175, 40),
    "yellow": (245, 225, 50), "olive": (120, 120, 30), "lime": (160, 215, 50),
    "green": (50, 150, 60), "forest green": (30, 80, 40), "mint": (170, 230, 195),
    "teal": (0, 125, 125), "turquoise": (60, 210, 200), "sky blue": (130, 195, 235),
    "blue": (35, 85, 210), "navy": (20, 30, 85), "slate": (95, 110, 130),
    "indigo": (70, 20, 130), "purple": (125, 60, 165), "lavender": (195, 175, 235),
    "magenta": (210, 40, 170), "pink": (245, 160, 195), "rose": (215, 80, 120),
}  # fmt: skip


def style_extract(images: list[bytes], *, progress: Progress = no_progress) -> dict:
    """{"palette": [[r, g, b], …] dominant first, "weights", "colour_names", "descriptors"
    (words and their "values"), "prompt_suffix"} from 1-10 reference pictures."""
    if not 1 <= len(images) <= MAX_REFERENCES:
        raise ValueError(f"a style needs 1 to {MAX_REFERENCES} reference images")
    pooled, edges = [], []
    for index, data in enumerate(images):
        pixels = shrink(decode(data), SAMPLE_SIDE)
        rgb = np.ascontiguousarray(pixels[:, :, :3])
        edges.append(_edge_density(rgb))
        opaque = pixels[:, :, 3] >= 128 if pixels.shape[2] == 4 else np.ones(rgb.shape[:2], bool)
        pooled.append(rgb[opaque])
        progress(5 + round(45 * (index + 1) / len(images)))
    rgb = np.concatenate(pooled)
    if len(rgb) == 0:
        rgb = np.zeros((1, 3), np.uint8)  # every reference fully transparent: nothing to see
    rgb = rgb[:: max(1, len(rgb) // MAX_SAMPLES)]
    lab = _lab(rgb)
    palette, weights = _palette(rgb, lab)
    progress(80)
    values = {
        "luminance": round(float(lab[:, 0].mean()) / 100.0, 4),
        "contrast": round(float(lab[:, 0].std()) / 100.0, 4),
        "chroma": round(float(np.hypot(lab[:, 1], lab[:, 2]).mean()), 2),
        "warmth": round(float((rgb[:, 0].astype(np.float32) - rgb[:, 2]).mean()) / 255.0, 4),
        "edge_density": round(float(np.mean(edges)), 4),
    }
    descriptors = {
        "tone": _word(TONE, values["luminance"] * 100.0),
        "contrast": _word(CONTRAST, values["contrast"] * 100.0),
        "saturation": _word(SATURATION, values["chroma"]),
        "warmth": _word(WARMTH, values["warmth"]),
        "texture": _word(TEXTURE, values["edge_density"]),
        "values": values,
    }
    names = _names(palette)
    progress(95)
    return {
        "palette": palette,
        "weights": weights,
        "colour_names": names,
        "descriptors": descriptors,
        "prompt_suffix": _suffix(descriptors, names),
    }


def palette_swatch(palette: list, *, width: int = 512, height: int = 128) -> bytes:
    """A PNG strip of the palette's colours side by side, in order (the job's visible result)."""
    colours = _colours(palette)
    if colours is None or len(colours) > width:
        raise ValueError(f"a palette is a list of 1 to {width} [r, g, b] triples of 0-255")
    # Stripe i covers columns [edges[i], edges[i + 1]): equal widths, rounding spread evenly.
    edges = np.linspace(0, width, len(colours) + 1).round().astype(int)
    columns = np.searchsorted(edges, np.arange(width), side="right") - 1
    row = colours[columns].astype(np.uint8)
    return encode_png(np.repeat(row[None, :, :], height, axis=0), compress_level=6)


def _colours(palette) -> np.ndarray | None:
    """The palette as an (n, 3) int array, or None unless it is whole numbers 0-255 in triples
    (a flat list of six numbers is not two colours)."""
    try:
        colours = np.asarray(palette)
    except ValueError:  # ragged
        return None
    if colours.ndim != 2 or colours.shape[0] == 0 or colours.shape[1] != 3:
        return None
    if colours.dtype.kind not in "iuf" or not np.isfinite(colours).all():
        return None
    if (colours != np.round(colours)).any() or colours.min() < 0 or colours.max() > 255:
        return None
    return colours.astype(np.int64)


def _lab(rgb: np.ndarray) -> np.ndarray:
    """(n, 3) uint8 RGB as (n, 3) float Lab."""
    pixels = rgb.reshape(1, -1, 3).astype(np.float32) / 255.0
    return cv2.cvtColor(pixels, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def _palette(rgb: np.ndarray, lab: np.ndarray) -> tuple[list[list[int]], list[float]]:
    """Dominant colours, most common first, and the share of pixels each stands for."""
    # Median cut picks starting colours robustly (one stray pixel never becomes a centre).
    strip = Image.fromarray(np.ascontiguousarray(rgb.reshape(1, -1, 3)), mode="RGB")
    quantized = strip.quantize(colors=12, method=Image.Quantize.MEDIANCUT, dither=0)
    used = np.unique(np.asarray(quantized).reshape(-1))
    starts = np.asarray(quantized.getpalette()[: 3 * 256], np.uint8).reshape(-1, 3)[used]
    centres = _lab(starts)
    for _ in range(10):  # Lloyd steps in Lab
        labels = nearest_centre(lab, centres)
        counts = np.bincount(labels, minlength=len(centres))
        alive = counts > 0
        sums = np.zeros_like(centres)
        np.add.at(sums, labels, lab)
        moved = centres.copy()
        moved[alive] = sums[alive] / counts[alive, None]
        if np.allclose(moved, centres, atol=0.05):
            break
        centres = moved
    labels = nearest_centre(lab, centres)
    groups = _merge(centres, np.bincount(labels, minlength=len(centres)))
    clusters = []
    for members in groups:
        chosen = np.isin(labels, members)
        clusters.append((int(chosen.sum()), rgb[chosen].astype(np.float64).mean(axis=0)))
    clusters.sort(key=lambda item: (-item[0], tuple(item[1])))
    total = sum(count for count, _ in clusters)
    lo, hi = PALETTE_SIZE
    kept = [c for i, c in enumerate(clusters[:hi]) if i < lo or c[0] / total >= MIN_SHARE]
    palette = [[round(float(v)) for v in colour] for _, colour in kept]
    # The pixels of dropped clusters count for the nearest kept colour, so the weights say
    # what share of the picture each colour stands for and add up to 1.
    nearest = nearest_centre(lab, _lab(np.array(palette, np.uint8)))
    counts = np.bincount(nearest, minlength=len(palette))
    order = sorted(range(len(palette)), key=lambda i: (-counts[i], i))
    return [palette[i] for i in order], [round(int(counts[i]) / len(lab), 4) for i in order]


def _merge(centres: np.ndarray, counts: np.ndarray) -> list[list[int]]:
    """Cluster indices grouped so that near-identical colours count as one (greedy, biggest
    first: a small cluster joins the first bigger one within MERGE_DELTA_E)."""
    order = [int(i) for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
    groups: list[list[int]] = []
    for index in order:
        for group in groups:
            if np.linalg.norm(centres[group[0]] - centres[index]) < MERGE_DELTA_E:
                group.append(index)
                break
        else:
            groups.append([index])
    return groups


def _edge_density(rgb: np.ndarray) -> float:
    """Share of pixels on a visible edge: a texture measure independent of picture size,
    since every reference is measured at the same SAMPLE_SIDE scale."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1, ksize=3)
    # Sobel's 3x3 kernel weighs 4 per unit step, so a full black-to-white edge reads 4.
    magnitude = np.hypot(gx, gy) / 4.0
    return float((magnitude > 0.08).mean())


def _word(bands: tuple, value: float) -> str:
    for word, upper in bands:
        if upper is None or value < upper:
            return word
    raise AssertionError("the last band is open")


def _names(palette: list[list[int]]) -> list[str]:
    """Distinct colour names of the palette, dominant first."""
    table = list(COLOUR_NAMES)
    references = _lab(np.array(list(COLOUR_NAMES.values()), np.uint8))
    found = nearest_centre(_lab(np.array(palette, np.uint8)), references)
    names: list[str] = []
    for index in found:
        if table[index] not in names:
            names.append(table[index])
    return names


def _suffix(descriptors: dict, names: list[str]) -> str:
    top = names[:3]
    colours = top[0] if len(top) == 1 else f"{', '.join(top[:-1])} and {top[-1]}"
    return (
        f"{descriptors['warmth']} {descriptors['saturation']} palette of {colours}, "
        f"{descriptors['tone']} tones, {descriptors['contrast']} contrast, "
        f"{descriptors['texture']} texture"
    )
