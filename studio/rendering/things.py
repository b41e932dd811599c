"""Subjects and props: stylised silhouettes (cat, dog, figure, portrait), birds, boats,
buildings, a lone tree, and the shaded solids of the 3d-render look."""

import numpy as np

from studio.rendering.canvas import Canvas, box, ellipse, grid, polygon
from studio.rendering.colour import F32, cc, mix, shift
from studio.rendering.noise import smoothstep
from studio.rendering.scene import Plan


def _rim(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """The part of a shape's edge facing (dx, dy): shape minus itself shifted that way."""
    moved = np.zeros_like(mask)
    h, w = mask.shape
    ys, yd = (slice(dy, h), slice(0, h - dy)) if dy >= 0 else (slice(0, h + dy), slice(-dy, h))
    xs, xd = (slice(dx, w), slice(0, w - dx)) if dx >= 0 else (slice(0, w + dx), slice(-dx, w))
    moved[yd, xd] = mask[ys, xs]
    return np.clip(mask - moved, 0, 1)


def _shade_shape(canvas: Canvas, plan: Plan, mask, top: int, left: int, base: np.ndarray):
    """Paint a shape lit from the plan's light: a silhouette with a rim when backlit,
    softly modelled colour otherwise."""
    p = plan.palette
    size = max(mask.shape)
    toward = (int(plan.light_side * size * 0.05) or 1, -max(1, int(size * 0.03)))
    broad = _rim(mask, toward[0] * 3, toward[1] * 3)
    rim = _rim(mask, max(-2, min(2, toward[0])) * max(1, int(canvas.scale * 2)), -1)
    lit = cc(base) * (0.7 + 0.45 * broad)
    dark = cc(mix(p.near, np.zeros(3, F32), 0.35))
    colour = lit + (dark - lit) * plan.backlit
    colour += (cc(p.sun) - colour) * (rim * (0.4 + 0.5 * plan.backlit))
    canvas.paint(mask, colour, top, left)


def paint_subject(canvas: Canvas, plan: Plan) -> None:
    if not plan.subject:
        return
    rng = plan.rng("subject")
    h, w = canvas.height, canvas.width
    if plan.subject == "portrait":
        _portrait(canvas, plan, rng)
        return
    size = h * float(rng.uniform(0.26, 0.34)) * (1.25 if plan.subject == "dog" else 1.0)
    cx = w * float(rng.uniform(0.3, 0.7))
    ground = h * float(rng.uniform(0.95, 0.99))
    top, left = int(ground - size * 1.05), int(cx - size * 0.7)
    y, x = grid(top, left, int(size * 1.1), int(size * 1.4))
    shapes = {"cat": _cat, "dog": _dog, "person": _person}[plan.subject]
    mask, base = shapes(y, x, cx, ground, size, rng)
    _shade_shape(canvas, plan, mask, top, left, base)


def _cat(y, x, cx, ground, u, rng):
    """A cat seen from behind, sitting, tail curled around."""
    m = ellipse(y, x, ground - 0.3 * u, cx, 0.3 * u, 0.25 * u)
    m = np.maximum(m, ellipse(y, x, ground - 0.13 * u, cx, 0.13 * u, 0.3 * u))
    m = np.maximum(m, ellipse(y, x, ground - 0.68 * u, cx, 0.16 * u, 0.19 * u))
    for side in (-1, 1):
        ear = [(cx + side * 0.18 * u, ground - 0.7 * u), (cx + side * 0.13 * u, ground - 0.95 * u),
               (cx + side * 0.03 * u, ground - 0.8 * u)]  # fmt: skip
        m = np.maximum(m, polygon(y, x, ear))
    for t in np.linspace(0, 1, 18):
        tx = cx + 0.22 * u + 0.2 * u * np.sin(t * 2.2)
        ty = ground - 0.03 * u - 0.32 * u * t**1.8
        m = np.maximum(m, ellipse(y, x, ty, tx, 0.045 * u, 0.045 * u))
    coats = ([0.85, 0.5, 0.22], [0.45, 0.45, 0.5], [0.12, 0.11, 0.13], [0.9, 0.85, 0.78])
    return m, np.array(coats[int(rng.integers(0, len(coats)))], F32)


def _dog(y, x, cx, ground, u, rng):
    """A dog standing side-on, head up, tail raised."""
    f = 1 if rng.random() < 0.5 else -1  # which way it faces

    def at(dx: float) -> float:
        return cx + f * dx * u

    m = ellipse(y, x, ground - 0.36 * u, cx, 0.12 * u, 0.27 * u)
    m = np.maximum(m, ellipse(y, x, ground - 0.39 * u, at(0.19), 0.14 * u, 0.12 * u))
    for dx, lean in ((-0.21, -0.02), (-0.13, 0.01), (0.13, 0.0), (0.22, 0.02)):
        leg = [(at(dx - 0.04), ground - 0.36 * u), (at(dx + 0.04), ground - 0.36 * u),
               (at(dx + lean + 0.03), ground), (at(dx + lean - 0.03), ground)]  # fmt: skip
        m = np.maximum(m, polygon(y, x, leg))
    neck = [(at(0.14), ground - 0.44 * u), (at(0.29), ground - 0.46 * u),
            (at(0.35), ground - 0.63 * u), (at(0.23), ground - 0.66 * u)]  # fmt: skip
    m = np.maximum(m, polygon(y, x, neck))
    m = np.maximum(m, ellipse(y, x, ground - 0.67 * u, at(0.31), 0.085 * u, 0.095 * u))
    m = np.maximum(m, ellipse(y, x, ground - 0.635 * u, at(0.41), 0.05 * u, 0.07 * u))
    m = np.maximum(m, ellipse(y, x, ground - 0.655 * u, at(0.475), 0.02 * u, 0.02 * u))  # nose
    ear = ellipse(y, x, ground - 0.63 * u, at(0.26), 0.075 * u, 0.032 * u, angle=-0.25 * f)
    m = np.maximum(m, ear)
    for t in np.linspace(0, 1, 14):
        m = np.maximum(m, ellipse(y, x, ground - (0.42 + 0.18 * t) * u, at(-0.26 - 0.1 * t),
                                  0.026 * u, 0.026 * u))  # fmt: skip
    coats = ([0.55, 0.35, 0.18], [0.85, 0.7, 0.45], [0.15, 0.13, 0.12], [0.92, 0.9, 0.85])
    return m, np.array(coats[int(rng.integers(0, len(coats)))], F32)


def _person(y, x, cx, ground, u, rng):
    """A standing figure seen from behind, looking into the scene."""
    u = u * 1.1
    m = ellipse(y, x, ground - 0.86 * u, cx, 0.07 * u, 0.06 * u)
    m = np.maximum(m, polygon(y, x, [(cx - 0.12 * u, ground - 0.76 * u),
                                      (cx + 0.12 * u, ground - 0.76 * u),
                                      (cx + 0.09 * u, ground - 0.42 * u),
                                      (cx - 0.09 * u, ground - 0.42 * u)]))  # fmt: skip
    m = np.maximum(m, ellipse(y, x, ground - 0.74 * u, cx, 0.04 * u, 0.12 * u))
    for side in (-1, 1):
        m = np.maximum(m, box(y, x, ground - 0.45 * u, cx + side * 0.055 * u - 0.035 * u,
                              ground, cx + side * 0.055 * u + 0.035 * u))  # fmt: skip
        m = np.maximum(m, ellipse(y, x, ground - 0.58 * u, cx + side * 0.13 * u, 0.17 * u,
                                  0.03 * u, -side * 0.12))  # fmt: skip
    return m, shift(np.array([0.3, 0.35, 0.55], F32), float(rng.uniform(0, 1)))


def _portrait(canvas: Canvas, plan: Plan, rng) -> None:
    """Head and shoulders in profile, filling the lower frame against the scene."""
    h, w = canvas.height, canvas.width
    u = h * 0.78
    f = 1 if rng.random() < 0.5 else -1  # which way the face looks
    cx = w * float(rng.uniform(0.4, 0.6))
    b = h  # the bottom edge

    def at(dx: float) -> float:
        return cx + f * dx * u

    top, left = int(b - u * 0.9), int(cx - u * 0.5)
    y, x = grid(top, left, b - top, int(u))
    m = ellipse(y, x, b + 0.08 * u, at(-0.02), 0.3 * u, 0.42 * u)  # shoulders
    neck = [(at(-0.06), b - 0.2 * u), (at(0.09), b - 0.2 * u),
            (at(0.08), b - 0.45 * u), (at(-0.07), b - 0.5 * u)]  # fmt: skip
    m = np.maximum(m, polygon(y, x, neck))
    m = np.maximum(m, ellipse(y, x, b - 0.6 * u, at(0.0), 0.19 * u, 0.16 * u, angle=0.15 * f))
    m = np.maximum(m, ellipse(y, x, b - 0.48 * u, at(0.1), 0.07 * u, 0.065 * u))  # jaw, chin
    nose = [(at(0.13), b - 0.64 * u), (at(0.2), b - 0.54 * u), (at(0.13), b - 0.52 * u)]
    m = np.maximum(m, polygon(y, x, nose))
    m = np.maximum(m, ellipse(y, x, b - 0.49 * u, at(0.14), 0.018 * u, 0.03 * u))  # lips
    if rng.random() < 0.6:  # long hair down the back
        m = np.maximum(m, ellipse(y, x, b - 0.47 * u, at(-0.1), 0.25 * u, 0.12 * u))
    else:  # a bun
        m = np.maximum(m, ellipse(y, x, b - 0.72 * u, at(-0.15), 0.07 * u, 0.07 * u))
    base = shift(np.array([0.55, 0.32, 0.3], F32), float(rng.uniform(0, 1)), 0.8)
    _shade_shape(canvas, plan, m, top, left, base)


def paint_landmarks(canvas: Canvas, plan: Plan) -> None:
    """Things standing on the horizon, painted before the water so that it mirrors them."""
    if "castle" in plan.tags:
        _castle(canvas, plan)


def paint_props(canvas: Canvas, plan: Plan) -> None:
    """Things in the foreground and the sky."""
    tags = plan.tags
    if "house" in tags:
        _houses(canvas, plan)
    if "tree" in tags and "forest" not in tags:
        _lone_tree(canvas, plan)
    if "boat" in tags and "water" in tags:
        _boat(canvas, plan)
    if "birds" in tags:
        _birds(canvas, plan)


def _birds(canvas: Canvas, plan: Plan) -> None:
    rng = plan.rng("birds")
    h, w = canvas.height, canvas.width
    colour = mix(plan.palette.near, np.zeros(3, F32), 0.3)
    for _ in range(int(rng.integers(3, 8))):
        span = h * float(rng.uniform(0.012, 0.03))
        cx, cy = w * float(rng.uniform(0.15, 0.85)), h * plan.horizon * float(rng.uniform(0.2, 0.7))
        top, left = int(cy - span), int(cx - span * 1.2)
        y, x = grid(top, left, int(span * 2), int(span * 2.4))
        dx = np.abs(x - cx) / span
        wing = cy - span * 0.5 * (np.sin(np.clip(dx, 0, 1) * np.pi) * 0.9 - dx * 0.4)
        thick = np.maximum(span * 0.12 * (1 - dx), 0.6)
        m = np.clip(thick - np.abs(y - wing), 0, 1) * (dx < 1)
        canvas.paint(m.astype(F32), colour, top, left)


def _boat(canvas: Canvas, plan: Plan) -> None:
    rng = plan.rng("boat")
    h, w = canvas.height, canvas.width
    horizon = plan.horizon * h
    waterline = horizon + (h - horizon) * float(rng.uniform(0.15, 0.4))
    u = h * 0.12 * (0.5 + (waterline - horizon) / (h - horizon))
    cx = w * float(rng.uniform(0.25, 0.75))
    top, left = int(waterline - u * 1.1), int(cx - u * 0.7)
    y, x = grid(top, left, int(u * 1.6), int(u * 1.4))
    hull = [(cx - 0.55 * u, waterline - 0.12 * u), (cx + 0.55 * u, waterline - 0.12 * u),
            (cx + 0.4 * u, waterline), (cx - 0.4 * u, waterline)]  # fmt: skip
    m = polygon(y, x, hull)
    m = np.maximum(m, box(y, x, waterline - u, cx - 0.012 * u - 0.5, waterline, cx + 0.012 * u))
    sail = [(cx + 0.03 * u, waterline - 0.95 * u), (cx + 0.42 * u, waterline - 0.18 * u),
            (cx + 0.03 * u, waterline - 0.18 * u)]  # fmt: skip
    s = polygon(y, x, sail)
    jib = polygon(y, x, [(cx - 0.03 * u, waterline - 0.85 * u),
                         (cx - 0.03 * u, waterline - 0.18 * u),
                         (cx - 0.35 * u, waterline - 0.18 * u)])  # fmt: skip
    sails = np.maximum(s, jib)
    # Mirror the boat about the waterline, faint and dark, onto the water below it.
    shape = np.maximum(m, sails)
    split = int(waterline) - top
    above = shape[:split][::-1]
    mirror = np.zeros_like(shape)
    n = min(len(above), len(mirror) - split)
    mirror[split : split + n] = above[:n]
    p = plan.palette
    canvas.paint(mirror * 0.35, p.near * 0.6, top, left, outline=False)
    _shade_shape(canvas, plan, m, top, left, mix(p.accent, p.near, 0.4))
    sail_col = mix(np.array([0.97, 0.95, 0.9], F32), p.light, 0.3)
    _shade_shape(canvas, plan, sails, top, left, sail_col)


def _houses(canvas: Canvas, plan: Plan) -> None:
    rng = plan.rng("houses")
    h, w = canvas.height, canvas.width
    p = plan.palette
    ground = h * float(rng.uniform(0.88, 0.93))
    for i in range(int(rng.integers(1, 4))):
        u = h * float(rng.uniform(0.09, 0.14)) * (1 - 0.2 * i)
        cx = w * float(rng.uniform(0.12, 0.88))
        gy = ground - i * h * 0.015
        top, left = int(gy - u * 1.3), int(cx - u * 0.8)
        y, x = grid(top, left, int(u * 1.35), int(u * 1.6))
        walls = box(y, x, gy - 0.6 * u, cx - 0.5 * u, gy, cx + 0.5 * u)
        roof = polygon(y, x, [(cx - 0.62 * u, gy - 0.58 * u), (cx, gy - 1.15 * u),
                              (cx + 0.62 * u, gy - 0.58 * u)])  # fmt: skip
        chimney = box(y, x, gy - 1.1 * u, cx + 0.25 * u, gy - 0.7 * u, cx + 0.37 * u)
        wall_col = mix(np.array([0.85, 0.78, 0.65], F32), p.light, 0.3)
        _shade_shape(canvas, plan, np.maximum(walls, chimney), top, left, wall_col)
        _shade_shape(canvas, plan, roof, top, left, np.array([0.55, 0.2, 0.15], F32))
        window = box(y, x, gy - 0.42 * u, cx - 0.3 * u, gy - 0.2 * u, cx - 0.1 * u)
        door = box(y, x, gy - 0.4 * u, cx + 0.08 * u, gy, cx + 0.28 * u)
        glow = mix(p.accent, np.array([1.0, 0.85, 0.45], F32), 0.6)
        lit = glow if plan.backlit > 0.5 else mix(p.sky_horizon, p.near, 0.5)
        canvas.paint(window, lit, top, left)
        canvas.paint(door, mix(p.near, np.array([0.35, 0.2, 0.1], F32), 0.5), top, left)


def _castle(canvas: Canvas, plan: Plan) -> None:
    rng = plan.rng("castle")
    h, w = canvas.height, canvas.width
    p = plan.palette
    u = h * float(rng.uniform(0.2, 0.28))
    cx = w * float(rng.uniform(0.3, 0.7))
    gy = h * plan.horizon - h * 0.02
    top, left = int(gy - u * 1.25), int(cx - u * 0.8)
    y, x = grid(top, left, int(u * 1.3), int(u * 1.6))
    m = box(y, x, gy - 0.35 * u, cx - 0.55 * u, gy, cx + 0.55 * u)
    for k in range(-5, 6):  # crenellations on the wall
        bx = cx + k * 0.1 * u
        m = np.maximum(m, box(y, x, gy - 0.4 * u, bx - 0.03 * u, gy, bx + 0.03 * u))
    for tx, th, tw in ((-0.5, 0.7, 0.09), (0.5, 0.7, 0.09), (-0.2, 0.85, 0.08), (0.15, 1.0, 0.1)):
        bx = cx + tx * u
        m = np.maximum(m, box(y, x, gy - th * u, bx - tw * u, gy, bx + tw * u))
        m = np.maximum(m, polygon(y, x, [(bx - tw * 1.3 * u, gy - th * u),
                                         (bx, gy - (th + 0.22) * u),
                                         (bx + tw * 1.3 * u, gy - th * u)]))  # fmt: skip
    stone = mix(p.far, p.haze, 0.3)
    _shade_shape(canvas, plan, m, top, left, stone)
    if plan.backlit > 0.5:
        windows = np.zeros_like(m)
        for wx, wy in rng.uniform((-0.5, 0.1), (0.5, 0.8), (9, 2)):
            windows = np.maximum(windows, box(y, x, gy - wy * u - 0.03 * u, cx + wx * u - 0.012 * u,
                                              gy - wy * u, cx + wx * u + 0.012 * u))  # fmt: skip
        canvas.paint(windows * m, mix(p.accent, np.ones(3, F32), 0.3), top, left, outline=False)


def _lone_tree(canvas: Canvas, plan: Plan) -> None:
    rng = plan.rng("tree")
    h, w = canvas.height, canvas.width
    u = h * float(rng.uniform(0.35, 0.5))
    cx = w * float(rng.choice([rng.uniform(0.15, 0.35), rng.uniform(0.65, 0.85)]))
    gy = h * 0.92
    top, left = int(gy - u), int(cx - u * 0.6)
    y, x = grid(top, left, int(u) + 2, int(u * 1.2))
    m = polygon(y, x, [(cx - 0.04 * u, gy - 0.6 * u), (cx + 0.04 * u, gy - 0.6 * u),
                       (cx + 0.06 * u, gy), (cx - 0.06 * u, gy)])  # fmt: skip
    canopy = np.zeros_like(m)
    for _ in range(9):
        ox, oy = rng.uniform(-0.35, 0.35), rng.uniform(0.45, 0.85)
        r = float(rng.uniform(0.13, 0.22))
        canopy = np.maximum(canopy, ellipse(y, x, gy - oy * u, cx + ox * u, r * u, r * u * 1.2))
    _shade_shape(canvas, plan, m, top, left, np.array([0.3, 0.2, 0.12], F32))
    _shade_shape(canvas, plan, canopy, top, left, plan.palette.foliage * 1.3)


def paint_solids(canvas: Canvas, plan: Plan) -> None:
    """Glossy spheres resting on the ground: lambert + specular + sky fresnel, soft shadows."""
    rng = plan.rng("solids")
    h, w = canvas.height, canvas.width
    p = plan.palette
    lx, ly, lz = 0.55 * plan.light_side, -0.6, 0.58
    hx, hy, hz = lx, ly, lz + 1.0
    norm = np.sqrt(hx * hx + hy * hy + hz * hz)
    hx, hy, hz = hx / norm, hy / norm, hz / norm
    colours = [p.accent, shift(p.accent, 0.5, 1.0), p.sun, shift(p.far, 0.0, 1.6, 1.2), p.haze]
    spheres = []
    for i in range(int(rng.integers(3, 6))):
        r = min(h, w) * float(rng.uniform(0.05, 0.12))
        gy = h * float(rng.uniform(0.8, 0.97))
        cx = w * (0.1 + 0.8 * (i + float(rng.uniform(0.2, 0.8))) / 5)
        spheres.append((gy, cx, r * (0.7 + 0.5 * (gy / h - 0.8) / 0.17), colours[i % 5]))
    space = plan.mood == "space"
    for gy, cx, r, base in sorted(spheres, key=lambda s: s[0]):
        cy = gy - r if not space else gy - r * 3
        if not space:  # contact shadow, stretched away from the light
            sx = cx - plan.light_side * r * 0.6
            top, left = int(gy - r * 0.5), int(sx - r * 2)
            y, x = grid(top, left, int(r), int(r * 4))
            d = np.sqrt(((x - sx) / (r * 1.5)) ** 2 + ((y - gy) / (r * 0.28)) ** 2)
            canvas.paint((1 - smoothstep(0.2, 1.0, d)) * 0.6, p.near * 0.3, top, left, False)
        top, left = int(cy - r - 1), int(cx - r - 1)
        y, x = grid(top, left, int(2 * r + 3), int(2 * r + 3))
        nx, ny = (x - cx) / r, (y - cy) / r
        nz = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
        diffuse = np.clip(nx * lx + ny * ly + nz * lz, 0, 1)
        spec = np.clip(nx * hx + ny * hy + nz * hz, 0, 1) ** 60
        fresnel = (1 - nz) ** 3
        # Light bouncing up from the ground brightens the underside.
        bounce = np.clip(ny, 0, 1) * 0.25
        colour = cc(base) * (0.12 + 0.85 * diffuse + bounce)
        colour += (cc(p.sky_horizon) - colour) * (fresnel * 0.5)
        colour += spec * cc(p.light)
        canvas.paint(ellipse(y, x, cy, cx, r, r), colour, top, left)
