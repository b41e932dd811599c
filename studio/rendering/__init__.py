"""Procedural pictures from a prompt: the offline renderer behind the `local` provider.

Plain numpy + Pillow, no Django. A prompt's words pick scene elements and a mood (scene.py);
painters lay them back to front on a float canvas (sky.py, land.py, things.py); a category look
restyles the result (looks.py). Every random choice comes from generators seeded by a stable
hash of the request, so the same request always gives the same pixels.
"""

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from studio.rendering import land, looks, sky, things
from studio.rendering.canvas import Canvas
from studio.rendering.scene import Plan, plan_scene

CATEGORIES = (
    "photorealistic", "anime", "painting", "sketch", "realistic", "3d-render", "abstract",
    "fantasy",
)  # fmt: skip


@dataclass(frozen=True)
class Spec:
    """What to draw; the renderer's own copy of a provider request."""

    prompt: str
    width: int
    height: int
    seed: int
    category: str = ""
    style: str = ""
    negative: str = ""
    steps: int = 30
    cfg: float = 7.5
    palette: tuple[tuple[int, int, int], ...] = ()

    @property
    def key(self) -> tuple:
        return (
            self.prompt, self.seed, self.width, self.height, self.category, self.style,
            [list(c) for c in self.palette], self.steps,
        )  # fmt: skip


def make_plan(spec: Spec, width: int | None = None, height: int | None = None) -> Plan:
    plan = plan_scene(
        prompt=f"{spec.prompt} {spec.style}",
        width=width or spec.width,
        height=height or spec.height,
        key=spec.key,
        negative=spec.negative,
        palette=spec.palette,
        steps=spec.steps,
    )
    plan.extra["look"] = spec.category.lower().strip()
    return plan


class Layers:
    """Where each group of painters draws: one canvas for a still, separate planes for video."""

    def __init__(self, canvases: dict[str, Canvas]):
        self.canvases = canvases

    def __getitem__(self, group: str) -> Canvas:
        return self.canvases.get(group) or self.canvases["sky"]

    def flat(self) -> np.ndarray:
        """Everything painted so far, composited (what water mirrors)."""
        planes = list(dict.fromkeys(self.canvases.values()))
        if len(planes) == 1:
            return planes[0].rgb
        out = planes[0].rgb.copy()
        for plane in planes[1:]:
            out *= 1 - plane.alpha
            out += plane.rgb
        return out


Progress = Callable[[int], None]


def paint_scene(plan: Plan, layers: Layers, progress: Progress, lo: int = 5, hi: int = 75):
    """Paint the plan back to front, reporting progress from lo to hi."""
    tags = plan.tags

    def report(fraction: float) -> None:
        progress(int(lo + (hi - lo) * fraction))

    back = layers["sky"]
    sky.paint_sky(back, plan)
    if plan.mood == "space":
        sky.paint_space(back, plan)
    elif "stars" in tags and plan.mood in ("night", "dusk"):
        sky.paint_stars(back, plan)
    if "aurora" in tags or (plan.extra.get("look") == "fantasy" and plan.mood == "night"):
        sky.paint_aurora(back, plan)
    if not plan.extra.get("film"):  # a film moves the disc itself, as a sprite
        if "moon" in tags and plan.mood != "space":
            sky.paint_moon(back, plan)
        elif "sun" in tags:
            sky.paint_sun(back, plan)
    report(0.15)
    if "clouds" in tags and plan.mood != "space":
        sky.paint_clouds(layers["clouds"], plan)
    report(0.3)
    if plan.mood == "space":
        if "planet" in tags:
            sky.paint_planet(layers["far"], plan)
        if plan.extra.get("look") == "3d-render":
            things.paint_solids(layers["near"], plan)
        report(1.0)
        return
    far = layers["far"]
    water = "water" in tags and "desert" not in tags
    if "mountains" in tags:
        land.paint_mountains(far, plan)
    if "desert" in tags:
        land.paint_dunes(far, plan)
    if "city" in tags:
        land.paint_city(far, plan, to_bottom=not water)
    things.paint_landmarks(far, plan)
    report(0.5)
    if water:
        land.paint_water(far, plan, layers.flat())
    report(0.65)
    near = layers["near"]
    h = near.height
    if water:
        if "forest" in tags:
            land.paint_forest(near, plan, on_water=True)
        if "hills" in tags or plan.subject or "tree" in tags or "house" in tags:
            land.paint_shore(near, plan)
    elif "desert" not in tags and "city" not in tags:
        start = plan.horizon * h
        if "forest" in tags:
            start = land.paint_forest(near, plan) + 0.04 * h
        ridge = land.paint_fields(near, plan, start, 4 if "forest" not in tags else 3)
        if "flowers" in tags:
            land.paint_flowers(near, plan, ridge)
    report(0.8)
    things.paint_props(near, plan)
    things.paint_subject(near, plan)
    if plan.extra.get("look") == "3d-render":
        things.paint_solids(near, plan)
    if "rain" in tags:
        sky.paint_rain(near, plan)
    report(1.0)


def render(spec: Spec, progress: Progress | None = None) -> tuple[Image.Image, Plan]:
    """The picture for spec (8-bit RGB, exactly spec.width x spec.height) and its plan."""
    progress = progress or (lambda percent: None)
    progress(2)
    plan = make_plan(spec)
    look = plan.extra["look"]
    canvas = Canvas(spec.height, spec.width, ink=look in ("anime", "sketch"))
    paint_scene(plan, Layers({"sky": canvas}), progress, 5, 70)
    rgb = looks.apply(look, canvas, plan)
    progress(85)
    rgb = looks.grade(rgb, plan, style=spec.style, cfg=spec.cfg, palette=spec.palette)
    progress(90)
    return looks.to_image(rgb), plan
