"""Moving pictures: a scene painted once as a wide panorama in depth planes, then filmed.

Each frame crops the planes at offsets that grow with their nearness (parallax while the
camera pans), lets the clouds drift on their own, moves the sun or moon, and ripples the water.
Frames are opaque RGB, and each plane is laid on with Pillow's masked paste (its own alpha as
the mask), which is several times cheaper than alpha_composite; a frame costs a few ms.
"""

from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from studio.rendering import Layers, Spec, make_plan, paint_scene, sky
from studio.rendering.canvas import Canvas
from studio.rendering.looks import grade, to_image

# How far each plane travels, relative to the nearest, as the camera pans.
PARALLAX = {"sky": 0.12, "clouds": 0.3, "far": 0.55, "near": 1.0}


def _straight(canvas: Canvas) -> np.ndarray:
    """A plane's colour without its coverage folded in (canvases paint premultiplied)."""
    return canvas.rgb / np.maximum(canvas.alpha, 1e-4)


def _rgba(alpha: np.ndarray, rgb: np.ndarray) -> Image.Image:
    """Straight float colour and coverage as an 8-bit RGBA image."""
    planes = np.concatenate([rgb, alpha[None]])
    out = np.multiply(planes, 255.0)
    out += 0.5
    np.clip(out, 0, 255, out=out)
    out = out.astype(np.uint8)
    return Image.merge("RGBA", [Image.fromarray(out[c]) for c in range(4)])


def _rows(alpha: np.ndarray) -> tuple[int, int, int]:
    """Rows where a plane has anything on it (first, last + 1) and the first row from which
    it is solid down to that last row (those are pasted, not blended)."""
    used = np.flatnonzero(alpha.max(axis=1) > 0.002)
    if not used.size:
        return 0, 0, 0
    top, bottom = int(used[0]), int(used[-1]) + 1
    solid = alpha[top:bottom].min(axis=1) > 0.998
    holes = np.flatnonzero(~solid)
    start = top + (int(holes[-1]) + 1 if holes.size else 0)
    return top, bottom, start


class Film:
    """A spec filmed as `frames` frames of width x height."""

    def __init__(
        self,
        spec: Spec,
        width: int,
        height: int,
        frames: int,
        progress: Callable[[int], None] = lambda percent: None,
    ):
        self.width, self.height, self.frames = width, height, max(frames, 1)
        self.pan = int(width * 0.14)  # the nearest plane's travel over the whole clip
        self.drift = int(width * 0.08)  # the clouds' own travel
        pano = width + self.pan + self.drift
        plan = make_plan(spec, pano, height)
        plan.extra["film"] = True
        if "animated" in spec.style.lower():
            plan.extra["look"] = "anime"  # crisp clouds and flat shading, no per-frame filter
        self.plan = plan
        rng = plan.rng("camera")
        self.direction = 1 if rng.random() < 0.5 else -1
        canvases = {
            "sky": Canvas(height, pano),
            "clouds": Canvas(height, pano, alpha=True),
            "far": Canvas(height, pano, alpha=True),
            "near": Canvas(height, pano, alpha=True),
        }
        paint_scene(plan, Layers(canvases), progress, 2, 20)
        self.planes: dict[str, Image.Image] = {}
        self.rows: dict[str, tuple[int, int, int]] = {}
        for name, canvas in canvases.items():
            if canvas.alpha is None:  # the sky: opaque, the base of every frame
                rgb = grade(canvas.rgb, plan, style=spec.style, cfg=spec.cfg, palette=spec.palette)
                self.planes[name] = to_image(rgb)
                self.rows[name] = (0, height, 0)
                continue
            rgb = grade(_straight(canvas), plan, style=spec.style, cfg=spec.cfg,
                        palette=spec.palette)  # fmt: skip
            self.planes[name] = _rgba(canvas.alpha, rgb)
            self.rows[name] = _rows(canvas.alpha)
        self.sun = self._sun_sprite(spec)
        self.horizon = int(plan.horizon * height)
        self.water = "water" in plan.tags and "desert" not in plan.tags and plan.mood != "space"
        progress(22)

    def _sun_sprite(self, spec: Spec) -> tuple[Image.Image, float, float] | None:
        """The sun or moon disc as a small sprite (x, y of its centre) so it can move."""
        plan = self.plan
        if plan.mood == "space" or not ({"sun", "moon"} & plan.tags):
            return None
        r = plan.sun_radius * min(self.width, self.height)
        size = int(r * 8) + 4
        canvas = Canvas(size, size, alpha=True)
        centre = (size / 2, size / 2, r)
        if "moon" in plan.tags:
            sky.paint_moon(canvas, plan, at=centre)
        else:
            sky.paint_sun(canvas, plan, at=centre)
        rgb = grade(_straight(canvas), plan, style=spec.style, cfg=spec.cfg, palette=spec.palette)
        x, y = plan.sun
        return _rgba(canvas.alpha, rgb), x * plan.width, y * self.height

    def _offset(self, plane: str, t: float) -> int:
        travel = PARALLAX[plane] * self.pan * t
        if plane == "clouds":
            travel += self.drift * t
        start = 0 if self.direction > 0 else self.pan + self.drift
        return round(start + self.direction * travel)

    def frame(self, index: int) -> Image.Image:
        """Frame `index` as an RGB image."""
        t = index / max(self.frames - 1, 1)
        w, h = self.width, self.height
        x0 = self._offset("sky", t)
        out = self.planes["sky"].crop((x0, 0, x0 + w, h))
        if self.sun is not None:
            sprite, sx, sy = self.sun
            # Low suns set (or rise, at dawn) a little; a moon or high sun just hangs.
            sink = {"golden": 0.05, "dusk": 0.05, "dawn": -0.05}.get(self.plan.mood, 0.01)
            px = int(sx - x0 - sprite.width / 2)
            py = int(sy + sink * h * t - sprite.height / 2)
            _overlay(out, sprite, px, py)
        for name in ("clouds", "far"):
            self._layer(out, name, t)
        if self.water:
            self._shimmer(out, index)
        self._layer(out, "near", t)
        return out

    def _layer(self, out: Image.Image, name: str, t: float) -> None:
        top, bottom, solid = self.rows[name]
        if bottom <= top:
            return
        x = self._offset(name, t)
        plane, w = self.planes[name], self.width
        if solid > top:
            part = plane.crop((x, top, x + w, solid))
            out.paste(part, (0, top), part)
        if bottom > solid:
            out.paste(plane.crop((x, solid, x + w, bottom)).convert("RGB"), (0, solid))

    def _shimmer(self, out: Image.Image, index: int) -> None:
        """Slide each row of the water sideways by a wave that travels toward the viewer."""
        top, w = self.horizon + 1, self.width
        rows = self.height - top
        if rows < 4:
            return
        region = np.asarray(out.crop((0, top, w, self.height)))
        moved = region.copy()
        y = np.arange(rows, dtype=np.float32)
        amplitude = (0.6 + 3.5 * y / rows) * (self.height / 720)
        dx = np.rint(np.sin(y * 0.12 - index * 0.35) * amplitude).astype(np.int32)
        # Rows sharing a shift move together: a handful of slice copies per frame.
        for shift in np.unique(dx):
            if shift:
                r = np.flatnonzero(dx == shift)
                if shift > 0:
                    moved[r, shift:] = region[r, :-shift]
                else:
                    moved[r, :shift] = region[r, -shift:]
        out.paste(Image.fromarray(moved, "RGB"), (0, top))

    def __iter__(self) -> Iterator[Image.Image]:
        for index in range(self.frames):
            yield self.frame(index)


def _overlay(out: Image.Image, sprite: Image.Image, x: int, y: int) -> None:
    """Lay an RGBA sprite on the frame at (x, y) through its own alpha."""
    out.paste(sprite, (x, y), sprite)
