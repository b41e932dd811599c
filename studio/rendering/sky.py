"""Sky painters: gradient and glow, sun and moon, stars, clouds, aurora, deep space."""

import numpy as np

from studio.rendering.canvas import Canvas, ellipse, gather, grid
from studio.rendering.colour import F32, cc, mix
from studio.rendering.noise import fbm, smoothstep, upscale
from studio.rendering.scene import Plan


def sun_pixels(plan: Plan, canvas: Canvas) -> tuple[float, float, float]:
    x, y = plan.sun
    return x * canvas.width, y * canvas.height, plan.sun_radius * min(canvas.width, canvas.height)


def paint_sky(canvas: Canvas, plan: Plan) -> None:
    """Vertical gradient to the horizon, warmed and brightened around the light source."""
    p, h, w = plan.palette, canvas.height, canvas.width
    horizon = plan.horizon * h
    t = np.clip(np.arange(h, dtype=F32) / max(horizon, 1), 0, 1) ** 1.7
    column = p.sky_top[:, None] + (p.sky_horizon - p.sky_top)[:, None] * t[None, :]
    canvas.rgb[:] = column[:, :, None]
    if plan.mood == "space":
        return
    sx, sy, radius = sun_pixels(plan, canvas)
    y, x = grid(0, 0, h, w)
    # Work on a quarter-size grid: the glow is smooth, so upsampling it loses nothing.
    ys, xs = y[::4], x[:, ::4]
    d = np.sqrt((xs - sx) ** 2 + ((ys - sy) * 1.25) ** 2) / radius
    strength = 0.5 if plan.mood in ("night", "storm", "misty") else 1.0
    glow = (0.55 * np.exp(-d / 2.5) + 0.4 * np.exp(-d / 14.0)) * strength
    # Low light spreads along the horizon as a band.
    band = np.exp(-(((ys - horizon) / (0.12 * h)) ** 2)) * np.exp(-np.abs(xs - sx) / (0.6 * w))
    glow = glow + band * (0.35 if plan.mood in ("golden", "dawn", "dusk") else 0.1)
    glow = np.clip(upscale(glow.astype(F32), 4, h, w), 0, 1.5)
    colour = p.sun if plan.mood != "night" else p.haze
    glow *= 0.8
    canvas.rgb += glow * (cc(colour) - canvas.rgb)


def paint_sun(canvas: Canvas, plan: Plan, at: tuple[float, float, float] | None = None):
    """The sun's disc (its glow is in the sky) at the plan's place or `at` = (x, y, radius)."""
    p = plan.palette
    sx, sy, r = at or sun_pixels(plan, canvas)
    top, left, size = int(sy - r - 2), int(sx - r - 2), int(2 * r + 5)
    y, x = grid(top, left, size, size)
    disc = ellipse(y, x, sy, sx, r, r)
    core = mix(p.sun, np.ones(3, F32), 0.75)
    # White-hot in the middle, a little warmer toward the limb.
    d = np.clip(np.sqrt((y - sy) ** 2 + (x - sx) ** 2) / r, 0, 1)
    shade = cc(core) + cc(mix(p.sun, p.light, 0.5) - core) * (d**4 * 0.6)
    if plan.mood in ("golden", "dusk"):
        # A low sun is dimmed by the haze near the horizon: soften its lower edge.
        disc = disc * np.clip((sy + r * 0.9 - y) / r + 0.5, 0.7, 1)
    canvas.paint(disc, shade, top, left, outline=False)


def paint_moon(canvas: Canvas, plan: Plan, at: tuple[float, float, float] | None = None):
    p = plan.palette
    sx, sy, r = at or sun_pixels(plan, canvas)
    top, left, size = int(sy - r * 4), int(sx - r * 4), int(8 * r)
    y, x = grid(top, left, size, size)
    d = np.sqrt((y - sy) ** 2 + (x - sx) ** 2) / r
    halo = np.exp(-np.maximum(d - 1, 0) * 1.6) * 0.35
    canvas.paint(halo, mix(p.sun, p.haze, 0.4), top, left, outline=False)
    rng = plan.rng("moon")
    maria = fbm(rng, size, size, r * 0.9, 4)
    tone = 0.82 + 0.22 * smoothstep(0.35, 0.7, maria)
    limb = 1 - 0.35 * np.clip(d, 0, 1) ** 4
    moon = cc(p.sun) * (tone * limb)
    canvas.paint(ellipse(y, x, sy, sx, r, r), moon, top, left)


def paint_stars(canvas: Canvas, plan: Plan, amount: float = 1.0) -> np.ndarray:
    """Scatter stars over the sky (fewer near the horizon); returns their (y, x, b) table."""
    rng = plan.rng("stars")
    h, w = canvas.height, canvas.width
    sky = h if plan.mood == "space" else int(plan.horizon * h)
    n = int(w * sky / 500 * amount)
    ys = (rng.random(n) ** 1.3 * sky).astype(np.int32).clip(0, h - 1)
    xs = rng.integers(0, w, n)
    b = rng.random(n, dtype=F32) ** 2.5 * 0.85 + 0.15
    if plan.mood != "space":
        b *= 1 - ys / max(sky, 1) * 0.8
    tint = np.where(rng.random(n) < 0.2, [[1.0], [0.85], [0.7]], [[0.85], [0.92], [1.0]])
    light = (b[None, :] * tint).astype(F32)
    rgb = canvas.rgb
    rgb[:, ys, xs] = np.maximum(rgb[:, ys, xs], light)
    big = b > 0.55
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        yy, xx = (ys[big] + dy).clip(0, h - 1), (xs[big] + dx).clip(0, w - 1)
        rgb[:, yy, xx] = np.maximum(rgb[:, yy, xx], light[:, big] * 0.5)
    return np.stack([ys, xs, b])


def _shifted(field: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """field sampled (dy, dx) pixels away, edges repeated (no wrap-around)."""
    h, w = field.shape
    ys = np.clip(np.arange(h) + dy, 0, h - 1)
    xs = np.clip(np.arange(w) + dx, 0, w - 1)
    return field[ys][:, xs]


def cloud_density(plan: Plan, w: int, rows: int) -> np.ndarray:
    """Cloud density over the sky rows, seen in perspective: a flat layer of noise whose far
    part (near the horizon) is squeezed into fewer rows, so clouds flatten toward it."""
    rng = plan.rng("clouds")
    cover = {"storm": 0.36, "misty": 0.42, "day": 0.52, "dawn": 0.5, "golden": 0.5}
    anime = plan.extra.get("look") == "anime"
    deep = rows * 3
    work = 4
    field = fbm(rng, deep, w, (0.13 if anime else 0.1) * w, min(plan.detail, 6), stretch=2.2,
                work=work, small=True)  # fmt: skip
    y = np.arange(rows, dtype=F32)
    k = 0.3 * rows
    depth = 1 / (rows - y + k) - 1 / (rows + k)
    src = (depth / depth[-1] * (field.shape[0] - 1)).astype(np.int32)
    d = upscale(field[src[::work]], work, rows, w)
    v = (y / max(rows, 1))[:, None]
    # Fewer clouds straight overhead and right at the horizon.
    band = smoothstep(0.0, 0.3, v) * (1 - 0.6 * smoothstep(0.85, 1.0, v))
    return d * (0.8 + 0.3 * band) - cover.get(plan.mood, 0.56)


def paint_clouds(canvas: Canvas, plan: Plan) -> None:
    p, h, w = plan.palette, canvas.height, canvas.width
    rows = int(plan.horizon * h)
    if rows < 8:
        return
    d = cloud_density(plan, w, rows)
    crisp = plan.extra.get("look") == "anime"
    cover = smoothstep(0.0, 0.03 if crisp else 0.22, d)
    # Lit from the sun's side: compare with the density a few pixels toward the light.
    sx, sy, _ = sun_pixels(plan, canvas)
    step = max(3, int(14 * canvas.scale))
    vx, vy = sx - w / 2, sy - rows * 0.4
    norm = max(np.hypot(vx, vy), 1.0)
    toward = _shifted(d, round(vy / norm * step), round(vx / norm * step))
    lit = np.clip(0.55 + (d - toward) * 5, 0, 1)
    if crisp:
        lit = smoothstep(0.45, 0.55, lit) * 0.55 + 0.45
    shadow = mix(p.cloud, p.sky_top, 0.4) * 0.82
    highlight = mix(p.cloud, p.light, 0.4)
    colour = cc(shadow) + cc(highlight - shadow) * lit
    # Toward the horizon clouds take the haze colour.
    v = (np.arange(rows, dtype=F32) / rows)[:, None]
    colour += (cc(p.sky_horizon) - colour) * (v**3 * 0.5)
    opacity = 0.92 if plan.mood not in ("night", "dusk") else 0.55
    canvas.paint(cover * opacity, colour, outline=crisp)


def paint_rain(canvas: Canvas, plan: Plan) -> None:
    """Slanting streaks of rain over everything, fading toward the top of the frame."""
    h, w = canvas.height, canvas.width
    rng = plan.rng("rain")
    streaks = fbm(rng, h, w, 0.06 * h, 2, stretch=0.04, work=2)
    # Lean the streaks: each row reads its noise a little further along.
    lean = (np.arange(h, dtype=np.int32) * 0.18).astype(np.int32)[:, None]
    cols = (np.arange(w, dtype=np.int32)[None, :] + lean) % w
    streaks = gather(streaks, np.broadcast_to(np.arange(h)[:, None], cols.shape), cols)
    rain = smoothstep(0.7, 0.9, streaks) * 0.35
    canvas.paint(rain, mix(plan.palette.haze, np.ones(3, F32), 0.4), outline=False)


def paint_aurora(canvas: Canvas, plan: Plan) -> None:
    rng = plan.rng("aurora")
    h, w = canvas.height, canvas.width
    rows = int(plan.horizon * h)
    from studio.rendering.noise import fbm1d

    base = (0.15 + 0.25 * fbm1d(rng, w, w * 0.3, 4)) * rows
    rays = 0.5 + 0.5 * fbm1d(rng, w, 6 * canvas.scale + 2, 3)
    y = np.arange(rows, dtype=F32)[:, None]
    below_base = y - base[None, :]
    curtain = np.exp(-np.maximum(-below_base, 0) / (rows * 0.25)) * np.exp(
        -np.maximum(below_base, 0) / (rows * 0.05)
    )
    intensity = np.clip(curtain * rays[None, :] * 0.9, 0, 1)
    green, violet = np.array([0.3, 1.0, 0.6], F32), np.array([0.6, 0.3, 1.0], F32)
    height_mix = np.clip(-below_base / (rows * 0.3), 0, 1)
    colour = cc(green) + cc(violet - green) * height_mix
    canvas.rgb[:, :rows] += intensity * colour * 0.7


def paint_space(canvas: Canvas, plan: Plan) -> None:
    """Nebula clouds in two hues over black, then stars."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("nebula")
    size = max(h, w)
    envelope = fbm(rng, h, w, 0.6 * size, 3, work=8)
    n1 = fbm(rng, h, w, 0.35 * size, plan.detail, gain=0.6, work=4)
    n2 = fbm(rng, h, w, 0.25 * size, plan.detail, gain=0.6, work=4)
    # Folded noise makes filaments; the envelope gathers them into clouds.
    f1 = 1 - np.abs(2 * n1 - 1)
    f2 = 1 - np.abs(2 * n2 - 1)
    glow_a = smoothstep(0.3, 0.85, envelope)
    glow_b = smoothstep(0.3, 0.85, 1 - envelope) * 0.75
    a = glow_a * (0.3 + 0.7 * f1 * f1 * f1) * 0.8
    b = glow_b * (0.25 + 0.75 * f2 * f2 * f2) * 0.75
    canvas.rgb += a * cc(p.haze) + b * cc(p.far) + (a * b) * cc(p.accent)
    dust = smoothstep(0.6, 0.85, n2) * glow_a
    canvas.rgb *= 1 - 0.6 * dust
    paint_stars(canvas, plan, amount=3.0)
    if "galaxy" in plan.tags:
        paint_galaxy(canvas, plan)


def paint_galaxy(canvas: Canvas, plan: Plan) -> None:
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("galaxy")
    r = 0.32 * min(h, w)
    cx, cy = w * float(rng.uniform(0.35, 0.65)), h * float(rng.uniform(0.35, 0.6))
    top, left, size_y, size_x = int(cy - r), int(cx - r * 1.6), int(2 * r), int(3.2 * r)
    y, x = grid(top, left, size_y, size_x)
    tilt = float(rng.uniform(0.35, 0.55))
    dx, dy = (x - cx) / r, (y - cy) / (r * tilt)
    rad = np.sqrt(dx * dx + dy * dy) + 1e-3
    theta = np.arctan2(dy, dx)
    arms = 0.5 + 0.5 * np.cos(2 * (theta - 2.6 * np.log(rad)))
    grain = fbm(rng, size_y, size_x, r * 0.15, 4, work=2)
    disc = np.exp(-rad * 2.2) * (0.35 + 0.9 * arms**3 * grain)
    core = np.exp(-((rad / 0.16) ** 2))
    light = np.clip(disc + core, 0, 1.4)
    colour = cc(mix(p.accent, p.far, 0.4)) * light + core * cc([1.0, 0.9, 0.75])
    region = canvas.rgb[:, max(top, 0) : top + size_y, max(left, 0) : left + size_x]
    region += colour[:, max(-top, 0) : max(-top, 0) + region.shape[1],
                     max(-left, 0) : max(-left, 0) + region.shape[2]]  # fmt: skip


def paint_planet(canvas: Canvas, plan: Plan) -> None:
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("planet")
    r = float(rng.uniform(0.16, 0.3)) * min(h, w)
    cx = w * float(rng.choice([rng.uniform(0.15, 0.35), rng.uniform(0.65, 0.85)]))
    cy = h * float(rng.uniform(0.55, 0.8))
    top, left, size = int(cy - r * 1.3), int(cx - r * 1.3), int(r * 2.6)
    y, x = grid(top, left, size, size)
    nx, ny = (x - cx) / r, (y - cy) / r
    z = np.sqrt(np.clip(1 - nx * nx - ny * ny, 0, 1))
    lx, ly, lz = -0.6 * plan.light_side, -0.45, 0.65
    diffuse = np.clip(nx * lx + ny * ly + z * lz, 0, 1)
    bands = fbm(rng, size, size, r * 0.5, 4, stretch=6.0, work=2)
    surface = mix(cc(p.accent) * (0.6 + 0.6 * bands), cc(p.far), 0.35)
    lit = surface * (0.06 + 0.94 * diffuse)
    rim = np.clip(1 - z, 0, 1) ** 3 * diffuse
    lit = lit + rim * cc(p.far * 0.8)
    body = ellipse(y, x, cy, cx, r, r)
    d = np.sqrt(nx * nx + ny * ny)
    atmosphere = np.exp(-np.maximum(d - 1, 0) * 14) * (d > 1) * 0.6
    canvas.paint(atmosphere * np.clip(diffuse + 0.3, 0, 1), p.far, top, left, outline=False)
    canvas.paint(body, lit, top, left)
