"""A float RGB canvas painted back to front with soft coverage masks, plus shape masks."""

import numpy as np

F32 = np.float32


class Canvas:
    """Planar float32 RGB, shape (3, height, width), values in [0, 1]. With `alpha` it also
    keeps coverage (a layer for video); with `ink`, an outline map of every painted shape's
    edge (for the anime and sketch looks)."""

    def __init__(self, height: int, width: int, *, alpha: bool = False, ink: bool = False):
        self.height, self.width = height, width
        self.scale = min(height, width) / 1024.0  # pixels per design unit of a 1024 square
        self.rgb = np.zeros((3, height, width), F32)
        self.alpha = np.zeros((height, width), F32) if alpha else None
        self.ink = np.zeros((height, width), F32) if ink else None
        self.ink_width = max(1, round(2 * self.scale))

    def paint(self, mask: np.ndarray, colour, top: int = 0, left: int = 0, outline: bool = True):
        """Lay colour ((3,) or a (3, h, w) field matching mask) over the box at (top, left),
        weighted by the coverage mask."""
        h, w = mask.shape
        top_c, left_c = max(top, 0), max(left, 0)
        bottom, right = min(top + h, self.height), min(left + w, self.width)
        if bottom <= top_c or right <= left_c:
            return
        crop = (slice(top_c - top, bottom - top), slice(left_c - left, right - left))
        m = mask[crop]
        colour = np.asarray(colour, F32)
        if colour.ndim == 1:
            colour = colour.reshape(3, 1, 1)
        elif colour.shape[1:] == mask.shape:
            colour = colour[:, crop[0], crop[1]]
        region = self.rgb[:, top_c:bottom, left_c:right]
        region += m * (colour - region)
        if self.alpha is not None:
            a = self.alpha[top_c:bottom, left_c:right]
            a += m * (1 - a)
        if self.ink is not None:
            ink = self.ink[top_c:bottom, left_c:right]
            ink *= 1 - m
            if outline:
                ink += edges(m, self.ink_width)


def gather(image: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """image[..., ys, xs] for a 2-D or planar image, via flat indices (np.take on a flat view
    is many times faster than numpy's fancy indexing)."""
    w = image.shape[-1]
    flat = ys.astype(np.int32) * np.int32(w) + xs.astype(np.int32)
    if image.ndim == 2:
        return np.take(image.reshape(-1), flat)
    return np.take(image.reshape(image.shape[0], -1), flat, axis=1)


def edges(mask: np.ndarray, width: int = 1) -> np.ndarray:
    """Where a coverage mask changes: a thin line map in [0, 1] along its boundary."""
    e = np.zeros_like(mask)
    dy = np.abs(np.diff(mask, axis=0))
    dx = np.abs(np.diff(mask, axis=1))
    e[1:] = np.maximum(e[1:], dy)
    e[:, 1:] = np.maximum(e[:, 1:], dx)
    for _ in range(width - 1):
        e[1:] = np.maximum(e[1:], e[:-1])
        e[:, 1:] = np.maximum(e[:, 1:], e[:, :-1])
    return np.minimum(e * 1.5, 1.0)


def below(ridge: np.ndarray, top: int, bottom: int, soft: float = 1.0) -> np.ndarray:
    """Coverage of rows top..bottom lying below a ridgeline (one y per column), antialiased."""
    y = np.arange(top, bottom, dtype=F32)[:, None]
    return np.clip((y - ridge[None, :]) / soft + 0.5, 0.0, 1.0)


def grid(top: int, left: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (y column, x row) of a box, for broadcasting."""
    y = np.arange(top, top + height, dtype=F32)[:, None] + 0.5
    x = np.arange(left, left + width, dtype=F32)[None, :] + 0.5
    return y, x


def ellipse(y, x, cy: float, cx: float, ry: float, rx: float, angle: float = 0.0) -> np.ndarray:
    """Antialiased coverage of an ellipse over grid coordinates."""
    dy, dx = y - cy, x - cx
    if angle:
        c, s = np.cos(angle), np.sin(angle)
        dx, dy = dx * c + dy * s, dy * c - dx * s
    d = np.sqrt((dx / rx) ** 2 + (dy / ry) ** 2)
    # Distance in pixels is roughly (d - 1) * the smaller radius.
    return np.clip((1 - d) * min(rx, ry) + 0.5, 0.0, 1.0)


def polygon(y, x, points: list[tuple[float, float]]) -> np.ndarray:
    """Antialiased coverage of a convex polygon given as (x, y) points, either winding."""
    area = sum(
        x0 * y1 - x1 * y0
        for (x0, y0), (x1, y1) in zip(points, points[1:] + points[:1], strict=True)
    )
    if area < 0:
        points = points[::-1]
    cover = None
    n = len(points)
    for i in range(n):
        (x0, y0), (x1, y1) = points[i], points[(i + 1) % n]
        length = max(np.hypot(x1 - x0, y1 - y0), 1e-6)
        # Signed distance to the edge's line, positive inside (clockwise in image coords).
        d = ((x - x0) * (y1 - y0) - (y - y0) * (x1 - x0)) / -length
        c = np.clip(d + 0.5, 0.0, 1.0)
        cover = c if cover is None else np.minimum(cover, c)
    return cover


def box(y, x, top: float, left: float, bottom: float, right: float) -> np.ndarray:
    """Antialiased coverage of an axis-aligned rectangle."""
    cy = np.clip(np.minimum(y - top, bottom - y) + 0.5, 0, 1)
    cx = np.clip(np.minimum(x - left, right - x) + 0.5, 0, 1)
    return cy * cx
