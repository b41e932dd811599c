"""Land painters: layered ridges (mountains, hills, dunes, forest), water, skyline, ground."""

import numpy as np

from studio.rendering.canvas import Canvas, below, gather
from studio.rendering.colour import F32, cc, mix
from studio.rendering.noise import fbm, fbm1d, smoothstep
from studio.rendering.scene import Plan


def _ridged(rng, n: int, scale: float, octaves: int) -> np.ndarray:
    """Sharp-peaked 1-D profile in [0, 1] (1 = high): folded noise, like eroded crests."""
    a = fbm1d(rng, n, scale, octaves)
    b = fbm1d(rng, n, scale * 0.45, octaves)
    folded = 1 - np.abs(2 * a - 1)
    return np.clip(0.65 * folded**1.6 + 0.35 * b, 0, 1)


def _face_light(ridge: np.ndarray, side: float, scale: float) -> np.ndarray:
    """Per column, how much the slope under the ridge faces the light (0 shade .. 1 lit)."""
    slope = np.gradient(ridge)
    kernel = np.ones(max(3, int(34 * scale)), F32)
    slope = np.convolve(slope, kernel / kernel.size, mode="same")
    return (0.5 + 0.5 * np.tanh(slope * side * 2.2)).astype(F32)


def paint_ridge(
    canvas: Canvas,
    plan: Plan,
    ridge: np.ndarray,
    base: int,
    colour: np.ndarray,
    *,
    texture: float = 0.08,
    grain: tuple[float, float] = (0.012, 1.0),
    faces: float = 0.0,
    crest: float = 0.25,
    snow: float = 0.0,
    fog: float = 0.6,
    shade: float = 0.0,
    patches: np.ndarray | None = None,
    name: str = "ridge",
) -> None:
    """One silhouette layer: body below `ridge` down to row `base`. Optional lit and shaded
    faces running down from the crests, fine texture (`grain` = feature size as a fraction of
    width, horizontal stretch), light catching the crest, snow on top, fog gathering toward
    the base and `shade` darkening toward the bottom of the frame."""
    p, h, w = plan.palette, canvas.height, canvas.width
    top = max(0, int(ridge.min()) - 1)
    base = min(base, h)
    if base <= top:
        return
    rows = base - top
    rng = plan.rng(name)
    look = plan.extra.get("look", "")
    # Flat-shaded looks want clean surfaces; the rock grain would only turn into speckle.
    texture *= {"anime": 0.15, "3d-render": 0.15}.get(look, 1.0)
    mask = below(ridge, top, base)
    y = np.arange(top, base, dtype=F32)[:, None]
    under = y - ridge[None, :]  # pixels below the crest
    span = np.maximum(base - ridge, 8.0)[None, :]
    t = np.clip(under / span, 0, 1)  # 0 at the crest .. 1 at the base
    light = np.ones((rows, w), F32)
    if faces:
        # Faces of light and shade run down from the crests, bent by noise.
        warp = fbm(rng, rows, w, 0.12 * w, 3, work=8)
        lean = under * (0.6 * -plan.light_side) + (warp - 0.5) * 0.035 * w
        col = (np.arange(w, dtype=F32)[None, :] + lean).astype(np.int32).clip(0, w - 1)
        face = _face_light(ridge, plan.light_side, canvas.scale)[col]
        if look == "anime":
            face = smoothstep(0.45, 0.55, face)
        light = (1 - faces) + faces * (0.3 + 1.0 * face)
    if texture:
        detail = fbm(rng, rows, w, grain[0] * w, 3, stretch=grain[1], work=2)
        light = light * (1 - texture + 2 * texture * detail)
    if crest:
        light = light + crest * np.exp(-under / (0.012 * h + 1))
    if shade:
        light = light * (1 - shade * ((y - top) / max(h - top, 1)))
    if patches is not None:
        # Large patches of a second colour: meadows, crops, bare earth.
        patch = smoothstep(0.4, 0.7, fbm(rng, rows, w, 0.15 * w, 3, stretch=2.5, work=8))
        body = (cc(colour) + cc(patches - colour) * patch) * light
    else:
        body = cc(colour) * light
    # Sunlit parts take the light's colour, not just more of their own.
    sunlit = np.clip(light - 1, 0, 1)
    if sunlit.any():
        body += (cc(p.light) - body) * (sunlit * 0.6)
    if snow:
        line = ridge[None, :] + snow * (0.45 + 0.55 * fbm(rng, rows, w, 0.03 * w, 3, work=4))
        cover = np.clip((line - y) / 2 + 0.5, 0, 1) * smoothstep(0.2, 0.4, 1 - t)
        snow_col = mix(p.light, np.ones(3, F32), 0.5)
        snow_shade = mix(snow_col, p.sky_top, 0.5) * 0.8
        snow_field = cc(snow_shade) + cc(snow_col - snow_shade) * np.clip(light - 0.3, 0, 1)
        body += (snow_field - body) * cover
    if fog:
        body += (cc(p.haze) - body) * (t * np.sqrt(t) * fog)
    canvas.paint(mask, body, top)


def paint_mountains(canvas: Canvas, plan: Plan, layers: int | None = None) -> None:
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("mountains")
    horizon = int(plan.horizon * h)
    n = layers or int(rng.integers(2, 4))
    snowy = "snow" in plan.tags or rng.random() < 0.25
    for i in range(n):
        depth = i / max(n - 1, 1)  # 0 farthest .. 1 nearest
        height = h * (0.55 - 0.25 * depth) * float(rng.uniform(0.75, 1.1)) * plan.horizon
        profile = _ridged(rng, w, w * float(rng.uniform(0.35, 0.6)), plan.detail + 2)
        ridge = horizon - height * (0.25 + 0.75 * profile)
        body = mix(mix(p.far, p.haze, 0.35), mix(p.far, p.near, 0.55), depth)
        paint_ridge(
            canvas, plan, ridge, horizon + 2, body, texture=0.1, grain=(0.02, 0.6),
            faces=0.6 - 0.2 * depth, crest=0.15,
            snow=(0.06 * h * (1 - 0.5 * depth)) if snowy and depth < 0.7 else 0.0,
            fog=0.8 - 0.3 * depth, name=f"mountain{i}",
        )  # fmt: skip


def paint_fields(canvas: Canvas, plan: Plan, start: float, layers: int = 4) -> np.ndarray:
    """Rolling land from row `start` to the bottom edge as receding layers, each lit along its
    crest and fading into haze at its foot; returns the nearest layer's ridgeline."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng(f"fields{start:.0f}")
    snow = "snow" in plan.tags
    ridges = []
    for i in range(layers):
        f = i / max(layers - 1, 1)  # 0 farthest .. 1 nearest
        baseline = start - 0.03 * h + (h * 0.98 - start) * (i / layers) ** 1.2
        amplitude = h * (0.03 + 0.06 * f) * float(rng.uniform(0.6, 1.3))
        profile = fbm1d(rng, w, w * float(rng.uniform(0.2, 0.45)), 4)
        ridges.append(baseline - amplitude * (1.6 * profile - 0.3))
    for i, ridge in enumerate(ridges):
        f = i / max(layers - 1, 1)
        body = mix(mix(p.ground, p.haze, 0.55), mix(p.ground, p.near, 0.35), f)
        if snow:
            body = mix(p.ground, p.haze, 0.5 * (1 - f))
        # Everything below the next layer's lowest point is covered anyway.
        base = int(ridges[i + 1].max()) + 2 if i + 1 < layers else h
        other = mix(body, mix(p.foliage, p.accent, 0.15), 0.5)
        if snow:
            other = mix(body, p.sky_top, 0.15)  # drifts in blue shadow, not bare earth
        paint_ridge(canvas, plan, ridge, base, body, texture=0.06, grain=(0.01, 3.0),
                    faces=0.15 if snow else 0.3, crest=0.2, fog=0.45 - 0.35 * f, shade=0.25 * f,
                    patches=other, name=f"field{i}")  # fmt: skip
    return ridges[-1]


def _tree_tops(rng, w: int, spacing: float, height: float, kind: str = "pine") -> np.ndarray:
    """Per column, how far above the ground the canopy reaches (0 between trees)."""
    n = int(w / spacing) + 2
    centres = (np.arange(n) + rng.uniform(-0.4, 0.4, n)) * spacing
    heights = height * rng.uniform(0.55, 1.2, n)
    x = np.arange(w, dtype=F32)[None, :]
    dx = np.abs(x - centres[:, None])
    if kind == "pine":
        # Cones with a saw edge for the branch tiers.
        half = heights[:, None] * 0.28
        tiers = (dx / half * 4) % 1.0
        tops = heights[:, None] * (1 - dx / half) - tiers * heights[:, None] * 0.08
    else:
        radius = heights[:, None] * 0.45
        tops = heights[:, None] * 0.55 + np.sqrt(np.clip(radius**2 - dx**2, 0, None))
        tops = np.where(dx < radius, tops, 0)
    return np.clip(tops.max(axis=0), 0, None).astype(F32)


def paint_forest(canvas: Canvas, plan: Plan, on_water: bool = False) -> float:
    """Two rows of tree line at the horizon; returns the row where the nearer one stands."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("forest")
    horizon = int(plan.horizon * h)
    kind = "round" if "blossom" in plan.tags or "autumn" in plan.tags else "pine"
    lines = []
    for i in range(2):
        ground = horizon - h * 0.01 + (h * (0.0 if on_water else 0.07) * i)
        lines.append(ground - h * 0.03 * fbm1d(rng, w, w * 0.4, 3))
    for i, ground_line in enumerate(lines):
        tree_h = h * (0.07 + 0.07 * i)
        tops = _tree_tops(rng, w, tree_h * 0.3, tree_h, kind)
        ridge = ground_line - tops
        body = mix(mix(p.foliage, p.haze, 0.45), mix(p.foliage, p.near, 0.4), i)
        bottom = int(ground_line.max()) + 2 if on_water or i == 0 else h
        if i == 0 and not on_water:
            bottom = int(lines[1].max() - h * 0.02)
        paint_ridge(canvas, plan, ridge, bottom, body, texture=0.12, grain=(0.006, 0.3),
                    crest=0.1, fog=0.55 - 0.25 * i, name=f"forest{i}")  # fmt: skip
    return float(lines[1].mean())


def paint_dunes(canvas: Canvas, plan: Plan) -> None:
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("dunes")
    horizon = int(plan.horizon * h)
    for i in range(4):
        depth = i / 3
        crest = fbm1d(rng, w, w * float(rng.uniform(0.3, 0.6)), 3)
        crest = 1 - np.abs(2 * crest - 1) ** 0.8  # sharp dune crests
        ridge = horizon + h * (0.02 + 0.1 * i) * depth - h * (0.06 + 0.05 * i) * crest
        body = mix(mix(p.far, p.haze, 0.3), p.ground, depth)
        paint_ridge(canvas, plan, ridge, h, body, texture=0.05, grain=(0.008, 4.0), faces=0.8,
                    crest=0.1, fog=0.3, name=f"dune{i}")  # fmt: skip


def paint_shore(canvas: Canvas, plan: Plan) -> None:
    """A near shore rising from one side, leaving the middle open to the water."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("ground")
    profile = fbm1d(rng, w, w * 0.6, 4)
    side = np.linspace(0, 1, w, dtype=F32)
    if rng.random() < 0.5:
        side = side[::-1]
    ridge = h * (1.02 - 0.16 * side**2.2 - 0.05 * profile)
    body = mix(p.ground, p.near, 0.55) if "snow" not in plan.tags else p.ground * 0.92
    paint_ridge(canvas, plan, ridge, h, body, texture=0.07, grain=(0.008, 3.0), crest=0.25,
                fog=0.0, shade=0.35, name="ground")  # fmt: skip


def paint_flowers(canvas: Canvas, plan: Plan, ridge: np.ndarray) -> None:
    """Small blooms scattered over the nearest field, larger and denser toward the viewer."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("flowers")
    top = int(ridge.min())
    rows = h - top
    if rows < 8:
        return
    n = int(w * rows / (60 * canvas.scale**2 + 1) * canvas.scale**2)
    near = rng.random(n) ** 0.6  # more flowers near the bottom edge
    ys = (top + near * (rows - 1)).astype(np.int32)
    xs = rng.integers(0, w, n)
    keep = ys > ridge[xs] + 3
    ys, xs, near = ys[keep], xs[keep], near[keep]
    petals = np.stack([p.accent, mix(p.accent, p.sun, 0.6), np.array([0.97, 0.95, 0.9], F32),
                       mix(p.accent, np.array([0.9, 0.4, 0.7], F32), 0.6)])  # fmt: skip
    kind = rng.integers(0, len(petals), ys.size)
    mask = np.zeros((rows, w), F32)
    which = np.zeros((rows, w), np.int32)
    for radius in (1, 2, 3):
        pick = (near * 3.2 * canvas.scale + 0.8).astype(np.int32).clip(1, 3) == radius
        for dy in range(-radius, radius + 1):
            for dx in range(-radius, radius + 1):
                if dy * dy + dx * dx <= radius * radius + 1:
                    yy = (ys[pick] - top + dy).clip(0, rows - 1)
                    xx = (xs[pick] + dx).clip(0, w - 1)
                    mask[yy, xx] = 1.0
                    which[yy, xx] = kind[pick]
    colour = np.take(petals.T, which, axis=1)
    canvas.paint(mask, colour, top, outline=False)


def paint_water(canvas: Canvas, plan: Plan, source: np.ndarray) -> None:
    """Everything below the horizon becomes water mirroring `source` (the scene so far)."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("water")
    horizon = int(plan.horizon * h)
    rows = h - horizon
    if rows <= 0:
        return
    y = np.arange(horizon, h, dtype=F32)[:, None]
    dist = (y - horizon) / rows  # 0 at the horizon .. 1 at the bottom edge
    ripple = fbm(rng, rows, w, 0.05 * w, 4, stretch=9.0, work=2)
    wobble = (ripple - 0.5) * (2 + 12 * dist) * canvas.scale
    src_y = (2 * horizon - y - 1 + wobble * 0.5).astype(np.int32).clip(0, horizon - 1)
    src_x = (np.arange(w, dtype=F32)[None, :] + wobble).astype(np.int32).clip(0, w - 1)
    mirror = gather(source, src_y, src_x)
    fresnel = 0.85 - 0.55 * np.sqrt(dist)
    tint = cc(p.water) * (0.8 + 0.4 * ripple)
    colour = tint + (mirror * 0.92 - tint) * fresnel
    # Bright streaks where ripples catch the sky, densest near the horizon.
    streak = smoothstep(0.76, 0.86, ripple) * (1 - dist * 0.6)
    colour += (streak * 0.2) * (cc(p.sky_horizon) - colour)
    if plan.mood == "storm":
        # Rough water: dark troughs and breaking crests, larger toward the viewer.
        waves = fbm(rng, rows, w, 0.03 * w, 4, stretch=4.0, work=2)
        colour *= 0.75 + 0.4 * waves
        foam = smoothstep(0.84 - 0.08 * dist, 0.9 - 0.08 * dist, waves)
        colour += (foam * 0.6) * (cc(mix(p.cloud, np.ones(3, F32), 0.5)) - colour)
    if "sun" in plan.tags or "moon" in plan.tags:
        # A path of small glints under the light, widening toward the viewer.
        sx = plan.sun[0] * w
        half = int(0.3 * w)
        left, right = max(0, int(sx) - half), min(w, int(sx) + half)
        if right > left:
            cols = np.arange(left, right, dtype=F32)[None, :]
            spread = (0.025 + 0.12 * dist) * w
            path = np.exp(-(((cols - sx) / spread) ** 2))
            fine = fbm(rng, rows, right - left, 0.012 * w, 3, stretch=5.0, work=2)
            glint = smoothstep(0.62 - 0.12 * path, 0.75 - 0.1 * path, fine) * path
            glint = glint + 0.35 * path * (1 - dist) ** 2  # the sheen straight below it
            part = colour[:, :, left:right]
            part += (np.clip(glint, 0, 1) * 0.85) * (cc(p.sun) - part)
    canvas.paint(np.ones((rows, w), F32), colour, horizon, outline=False)
    if canvas.ink is not None:
        canvas.ink[horizon : horizon + 2] = 1.0


def paint_city(canvas: Canvas, plan: Plan, to_bottom: bool = False) -> None:
    """Three rows of buildings at the horizon; with `to_bottom` the nearest row stands in the
    foreground and fills the frame below."""
    p, h, w = plan.palette, canvas.height, canvas.width
    rng = plan.rng("city")
    horizon = int(plan.horizon * h)
    night = plan.mood in ("night", "dusk", "storm")
    for i in range(3):
        depth = i / 2
        ridge = np.full(w, float(horizon), F32)
        x = 0
        window = max(3, int((5 + 3 * depth + (5 if to_bottom and i == 2 else 0)) * canvas.scale))
        lit = np.zeros(w, np.int64)
        tone = np.ones(w, F32)
        while x < w:
            bw = int(w * float(rng.uniform(0.025, 0.07)) * (0.7 + 0.6 * depth))
            bh = h * float(rng.uniform(0.08, 0.34)) * (1.15 - 0.4 * depth)
            ridge[x : x + bw] = horizon - bh
            if rng.random() < 0.25:  # a spire or antenna
                c = x + bw // 2
                ridge[c - max(1, bw // 14) : c + max(1, bw // 14) + 1] -= bh * 0.25
            lit[x : x + bw] = rng.integers(0, 1 << 30)
            tone[x : x + bw] = rng.uniform(0.85, 1.1)
            # The side away from the light is darker.
            half = slice(x + bw // 2, x + bw) if plan.light_side < 0 else slice(x, x + bw // 2)
            tone[half] *= 0.8
            x += bw + int(rng.integers(0, max(2, bw // 3)))
        top = int(ridge.min()) - 1
        rows = horizon - top
        if rows <= 0:
            continue
        body = mix(mix(p.far, p.haze, 0.3), mix(p.near, p.far, 0.3), depth)
        if night:
            body = body * 0.6
        bottom = h if to_bottom and i == 2 else horizon + 1
        if to_bottom and i == 2:
            ridge += (h - horizon) * 0.6
        top = int(ridge.min()) - 1
        mask = below(ridge, top, bottom)
        yy = np.arange(top, bottom)[:, None]
        xx = np.arange(w)[None, :]
        cells = ((yy // (window * 2)) * 7919 + (xx // (window * 2)) * 104729 + lit[None, :]) % 97
        in_window = ((yy % (window * 2)) < window) & ((xx % (window * 2)) < window)
        on = in_window & (cells < (45 if night else 30)) & (yy > ridge[None, :] + window)
        colour = cc(body) * tone[None, :]
        glow = mix(p.accent, np.ones(3, F32), 0.3) if night else mix(p.sky_horizon, p.light, 0.5)
        colour = np.where(on, cc(glow * (1 - 0.3 * depth if not night else 1)), colour)
        fog = np.clip((yy - ridge[None, :]) / (h * 0.3), 0, 1) * (0.5 - 0.4 * depth)
        colour = colour + (cc(p.haze) - colour) * fog
        canvas.paint(mask, colour.astype(F32), top)
