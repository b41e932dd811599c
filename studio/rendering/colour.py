"""Scene palettes: a mood's colours, varied per seed, or built from a saved style's palette."""

import colorsys
from dataclasses import dataclass, fields, replace

import numpy as np

F32 = np.float32


def rgb(hex_or_tuple: str | tuple[int, int, int]) -> np.ndarray:
    """A colour as float32 RGB in [0, 1], from "#rrggbb" or an (r, g, b) tuple of 0-255."""
    if isinstance(hex_or_tuple, str):
        value = hex_or_tuple.lstrip("#")
        hex_or_tuple = tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))
    return np.array(hex_or_tuple, F32) / 255.0


def mix(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (a + (b - a) * t).astype(F32)


def cc(colour) -> np.ndarray:
    """A colour shaped (3, 1, 1) to broadcast over planar (3, h, w) images. Images are kept
    channel-first because numpy broadcasts a trailing axis of 3 several times slower."""
    return np.asarray(colour, F32).reshape(3, 1, 1)


def luma(colour: np.ndarray) -> float:
    return float(colour[0] * 0.299 + colour[1] * 0.587 + colour[2] * 0.114)


def shift(colour: np.ndarray, hue: float = 0.0, sat: float = 1.0, val: float = 1.0):
    """The colour with its hue turned by `hue` (0-1 = a full turn) and s, v scaled."""
    h, s, v = colorsys.rgb_to_hsv(*np.clip(colour, 0, 1).tolist())
    r, g, b = colorsys.hsv_to_rgb((h + hue) % 1.0, min(1.0, s * sat), min(1.0, v * val))
    return np.array((r, g, b), F32)


@dataclass(frozen=True)
class Palette:
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    sun: np.ndarray  # the light source's disc and glow
    light: np.ndarray  # what sunlit surfaces are tinted by
    haze: np.ndarray  # distance fog
    far: np.ndarray  # the farthest ridge
    near: np.ndarray  # the nearest ridge / foreground
    ground: np.ndarray
    foliage: np.ndarray
    water: np.ndarray
    accent: np.ndarray  # subjects, lit windows, flowers
    cloud: np.ndarray


def _palette(**hexes: str) -> Palette:
    return Palette(**{name: rgb(value) for name, value in hexes.items()})


MOODS: dict[str, Palette] = {
    "day": _palette(
        sky_top="#2f6fc0", sky_horizon="#bcd9ee", sun="#fffbe8", light="#fff4dc",
        haze="#b7cfe2", far="#7f9fbe", near="#2f5a3a", ground="#4f7a34", foliage="#2d5a2b",
        water="#2c6d8e", accent="#d9482b", cloud="#ffffff",
    ),
    "golden": _palette(
        sky_top="#2b3a78", sky_horizon="#ffb36b", sun="#fff0c0", light="#ffc27a",
        haze="#f0a07a", far="#9a6a8f", near="#2e2238", ground="#3c2c2c", foliage="#2a2a22",
        water="#3a3d6b", accent="#ffcf5a", cloud="#ffc9a0",
    ),
    "dawn": _palette(
        sky_top="#5b78b8", sky_horizon="#ffc7b0", sun="#fff4de", light="#ffe0c8",
        haze="#e9c2c8", far="#9b93b9", near="#3d4468", ground="#4a5a4a", foliage="#2f4a3e",
        water="#5a74a0", accent="#ff8a7a", cloud="#ffe6e0",
    ),
    "dusk": _palette(
        sky_top="#1a1e52", sky_horizon="#e0708a", sun="#ffd2b0", light="#f09a9a",
        haze="#9a6a9a", far="#5a4a7e", near="#1a1630", ground="#221a30", foliage="#18162a",
        water="#2a2a5a", accent="#ffb070", cloud="#c07aa0",
    ),
    "night": _palette(
        sky_top="#03061a", sky_horizon="#1d2f5e", sun="#f2f0e0", light="#9fb4e0",
        haze="#2a3a6a", far="#26305a", near="#0a0d1e", ground="#0c1222", foliage="#08101a",
        water="#0e1a3a", accent="#ffcf6a", cloud="#3a4670",
    ),
    "misty": _palette(
        sky_top="#9fb0b8", sky_horizon="#e2e4de", sun="#fffdf2", light="#f2efe4",
        haze="#d6dad6", far="#a8b4b4", near="#4a5a56", ground="#66735c", foliage="#3e5046",
        water="#8fa2a6", accent="#c0503a", cloud="#f4f4f0",
    ),
    "desert": _palette(
        sky_top="#3d7fc4", sky_horizon="#f2dcc0", sun="#fffbe6", light="#ffe6b8",
        haze="#efd2b0", far="#d8a070", near="#b8703c", ground="#e0a868", foliage="#7a6a3a",
        water="#3a8aa0", accent="#7a3a20", cloud="#fff8f0",
    ),
    "snow": _palette(
        sky_top="#4f80bf", sky_horizon="#dfeaf4", sun="#ffffff", light="#fffaf0",
        haze="#d4e2ee", far="#9fb6cf", near="#5a6f88", ground="#eef3f8", foliage="#2c4a44",
        water="#5f8fb0", accent="#c03a3a", cloud="#ffffff",
    ),
    "space": _palette(
        sky_top="#020210", sky_horizon="#0a0a28", sun="#fff6e0", light="#ffe8c8",
        haze="#6a2a8a", far="#2a8aa8", near="#12122a", ground="#3a3050", foliage="#1a1a3a",
        water="#203060", accent="#ff7ab0", cloud="#8a4ac0",
    ),
    "storm": _palette(
        sky_top="#2a3038", sky_horizon="#7a8288", sun="#e8ecf0", light="#c0c8d0",
        haze="#6a7278", far="#4a5258", near="#1e2428", ground="#2e3a2e", foliage="#1e2a22",
        water="#3a4a52", accent="#e0c060", cloud="#5a6068",
    ),
}  # fmt: skip


def varied(palette: Palette, rng: np.random.Generator, amount: float = 1.0) -> Palette:
    """The mood's palette nudged per seed: one shared hue turn and small value changes."""
    turn = float(rng.normal(0, 0.025 * amount))
    values = {}
    for f in fields(palette):
        jitter = 1 + float(rng.normal(0, 0.04 * amount))
        values[f.name] = shift(getattr(palette, f.name), turn, 1.0, jitter)
    return Palette(**values)


# Where each slot sits on the dark-to-light ramp of a user's palette.
_RAMP = {
    "sky_top": 0.62, "sky_horizon": 0.92, "sun": 1.0, "light": 0.96, "haze": 0.8, "far": 0.55,
    "near": 0.12, "ground": 0.3, "foliage": 0.2, "water": 0.45, "accent": 0.7, "cloud": 0.88,
}  # fmt: skip


def ramp(colours: tuple[tuple[int, int, int], ...]) -> np.ndarray:
    """The palette sorted dark to light as an (n, 3) float array, stretched to span shades."""
    stops = sorted((rgb(tuple(c)) for c in colours), key=luma)
    if len(stops) == 1:
        # One colour: build a ramp through it, from its shadow to its highlight.
        stops = [shift(stops[0], val=0.25), stops[0], mix(stops[0], np.ones(3, F32), 0.75)]
    return np.stack(stops).astype(F32)


def ramp_at(stops: np.ndarray, t: float) -> np.ndarray:
    """The colour at position t in [0, 1] along a dark-to-light ramp."""
    at = np.linspace(0, 1, len(stops))
    return np.array([np.interp(t, at, stops[:, c]) for c in range(3)], F32)


def ramp_map(stops: np.ndarray, field: np.ndarray) -> np.ndarray:
    """A planar (3, h, w) image: each value of field in [0, 1] replaced by its ramp colour."""
    at = np.linspace(0, 1, len(stops))
    levels = np.linspace(0, 1, 256)
    lut = np.stack([np.interp(levels, at, stops[:, c]) for c in range(3)]).astype(F32)
    index = np.clip(field * 255 + 0.5, 0, 255).astype(np.uint8)
    return np.take(lut, index, axis=1)


def from_user(colours: tuple[tuple[int, int, int], ...], base: Palette) -> Palette:
    """A scene palette drawn from a saved style's colours, keeping the mood's light logic."""
    stops = ramp(colours)
    values = {f.name: ramp_at(stops, _RAMP[f.name]) for f in fields(base)}
    # Keep a hint of the mood's own sky and light so a sunset still reads as a sunset.
    for name in ("sky_horizon", "sun", "light"):
        values[name] = mix(values[name], getattr(base, name), 0.25)
    return replace(base, **values)
