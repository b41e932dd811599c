"""Category looks (what 'anime' or 'sketch' does to a painted scene), style grades, palette
pull and the final conversion to 8-bit."""

import numpy as np
from PIL import Image

from studio.rendering.canvas import Canvas, gather
from studio.rendering.colour import F32, cc, mix, ramp, ramp_map
from studio.rendering.noise import blur, fbm, shrink, smoothstep, tile, upscale
from studio.rendering.scene import Plan


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb[0] * 0.299 + rgb[1] * 0.587 + rgb[2] * 0.114


def saturate(rgb: np.ndarray, amount: float) -> np.ndarray:
    grey = luminance(rgb)
    return grey + (rgb - grey) * amount


def planes_upscale(rgb: np.ndarray, factor: int, h: int, w: int) -> np.ndarray:
    return np.stack([upscale(rgb[c], factor, h, w) for c in range(3)])


def _vignette(h: int, w: int, strength: float) -> np.ndarray:
    """Falloff toward the corners, as an (h, w) multiplier."""
    vy = np.linspace(-1, 1, h, dtype=F32) ** 2
    vx = np.linspace(-1, 1, w, dtype=F32) ** 2
    return 1 - strength * 0.6 * (vy[:, None] * 0.8 + vx[None, :])


def photographic(canvas: Canvas, plan: Plan, strong: bool) -> np.ndarray:
    """Film-like response: soft highlight roll-off, bloom, vignette, fine grain."""
    rgb = canvas.rgb
    h, w = canvas.height, canvas.width
    if strong:
        bright = np.clip(luminance(rgb) - 0.6, 0, 1)
        glow = blur(bright, max(8.0, 24 * canvas.scale))
        rgb += glow * cc(plan.palette.light * 0.6)
    # A film-like S-curve: deeper shadows, brighter mids, and values pushed past white by the
    # bloom roll back toward it instead of clipping flat.
    rgb = rgb + (rgb - 0.5) * rgb * (1 - rgb) * (1.0 if strong else 0.7)
    rgb *= _vignette(h, w, 0.55 if strong else 0.3)
    grain = tile(plan.rng("grain"), h, w)
    rgb += grain * (0.022 if strong else 0.014)
    if not strong:
        rgb = saturate(rgb, 0.92)
    return rgb


def anime(canvas: Canvas, plan: Plan) -> np.ndarray:
    """Cel look: a few flat colour bands and dark ink outlines around every shape."""
    rgb = saturate(canvas.rgb, 1.25)
    image = to_image(rgb)
    # Choose the few flat colours on a thumbnail (median cut is slow on a full frame), with a
    # strip of the scene's key colours under it so a small sun or moon keeps its own colour.
    p = plan.palette
    keys = [p.sun, p.light, p.accent, p.sky_horizon, p.cloud, p.sky_top, p.far, p.near]
    strip = np.repeat(np.stack(keys).T[:, None, :], 32, axis=2)  # (3, 1, 8 * 32)
    thumb = Image.new("RGB", (256, 320))
    thumb.paste(image.resize((256, 256), Image.Resampling.BOX), (0, 0))
    thumb.paste(to_image(np.repeat(strip, 64, axis=1)), (0, 256))
    palette = thumb.quantize(colors=20, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    flat = image.quantize(palette=palette, dither=Image.Dither.NONE)
    rgb = from_image(flat.convert("RGB"))
    line = canvas.ink > 0.35
    ink = cc(mix(plan.palette.near, np.zeros(3, F32), 0.6) * 0.5)
    return np.where(line, rgb * 0.25 + ink, rgb)


def painting(canvas: Canvas, plan: Plan) -> np.ndarray:
    """Oil-paint look: colour smeared along short strokes that follow the picture's edges
    (loose, patchy directions where there are none), bristle streaks with a little impasto
    light, and canvas weave."""
    h, w = canvas.height, canvas.width
    rng = plan.rng("brush")
    # Strokes are large, so they are laid at half resolution.
    small = shrink(canvas.rgb, 2)
    sh, sw = small.shape[1:]
    # Stroke direction from the structure tensor (as a doubled angle, so that opposite
    # directions agree), mixed with a slowly turning direction field where edges are weak.
    gy, gx = np.gradient(luminance(small))
    radius = 4 * canvas.scale + 2
    jxx, jyy, jxy = blur(gx * gx, radius), blur(gy * gy, radius), blur(gx * gy, radius)
    cos2, sin2 = jyy - jxx, -2 * jxy  # along the edge: perpendicular to the gradient
    strength = np.sqrt(cos2 * cos2 + sin2 * sin2)
    edge = np.clip(strength * 400, 0, 1)
    cos2, sin2 = cos2 / (strength + 1e-9), sin2 / (strength + 1e-9)
    drift = fbm(rng, sh, sw, 0.3 * sw, 3, work=8) * np.pi * 2.0
    cos2 = cos2 * edge + np.cos(drift) * (1 - edge)
    sin2 = sin2 * edge + np.sin(drift) * (1 - edge)
    angle = 0.5 * np.arctan2(sin2, cos2)
    dy, dx = np.sin(angle), np.cos(angle)
    length = 3.5 * canvas.scale + 1
    # Dabs: each stroke starts from a jittered position, so neighbours differ in colour.
    jitter = (fbm(rng, sh, sw, 6 * canvas.scale + 2, 2, work=1) - 0.5) * length * 1.5
    y0 = np.arange(sh, dtype=F32)[:, None] + dy * jitter
    x0 = np.arange(sw, dtype=F32)[None, :] + dx * jitter
    bristles = tile(rng, sh, sw, 127)
    acc = np.zeros_like(small)
    streak = np.zeros((sh, sw), F32)
    taps = (-1.0, -0.5, 0.0, 0.5, 1.0)
    for k in taps:
        yi = (y0 + dy * k * length).astype(np.int32).clip(0, sh - 1)
        xi = (x0 + dx * k * length).astype(np.int32).clip(0, sw - 1)
        acc += gather(small, yi, xi)
        streak += gather(bristles, yi, xi)
    acc /= len(taps)
    streak /= len(taps)
    acc = saturate(acc, 1.15)
    rgb = planes_upscale(acc, 2, h, w)
    texture = upscale(streak, 2, h, w)
    relief = np.zeros_like(texture)
    relief[1:] = texture[1:] - texture[:-1]  # lit from above: ridges of paint catch light
    # Canvas tooth: a fine repeating weave (coarser than a pixel, so PNG still compresses).
    weave = upscale(tile(plan.rng("canvas"), sh, sw, 5), 2, h, w)
    rgb *= 1 + texture * 0.09 + relief * 0.25 + weave * 0.025
    return rgb


def sketch(canvas: Canvas, plan: Plan) -> np.ndarray:
    """Graphite on paper: outlines, edges and cross-hatching that thickens with darkness."""
    h, w = canvas.height, canvas.width
    lum = luminance(canvas.rgb)
    lo, hi = np.percentile(lum[::8, ::8], (3, 97))
    tone = np.clip((lum - lo) / max(hi - lo, 1e-3), 0, 1)
    # Draughtsmen leave most of the page white: lift the mid-tones before shading.
    dark = 1 - np.sqrt(tone)
    soft = blur(tone, 3 * canvas.scale + 1.5)
    gy, gx = np.gradient(soft)
    edge = smoothstep(0.01, 0.05, np.sqrt(gx * gx + gy * gy) / max(canvas.scale, 0.25))
    rng = plan.rng("pencil")
    period = int(7 * canvas.scale + 3)
    by = np.arange(period, dtype=F32)[:, None]
    bx = np.arange(period, dtype=F32)[None, :]
    reps = (-(-h // period), -(-w // period))

    def hatch(a: int, b: int, threshold: float) -> np.ndarray:
        """Strokes along a*x + b*y = const, wider where the picture is darker than threshold.
        The stroke pattern repeats every `period` pixels both ways: one block, tiled."""
        v = ((a * bx + b * by) % period) / period
        phase = np.tile(np.abs(v - 0.5) * 2, reps)[:h, :w]  # 0 on a stroke .. 1 between
        width = np.clip((dark - threshold) * 1.8, 0, 0.6)
        width -= phase
        width *= 4
        return np.clip(width, 0, 1, out=width)

    strokes = np.maximum(hatch(1, 1, 0.4), hatch(1, -1, 0.62))
    strokes = np.maximum(strokes, hatch(0, 1, 0.82) * 0.9)
    # Hands are not rulers: let the strokes fade in and out along the page.
    strokes *= 0.6 + 0.4 * fbm(rng, h, w, 0.1 * w, 3, work=8)
    lines = np.maximum(edge * 0.8, canvas.ink * 0.95)
    graphite = np.maximum(strokes * 0.6, lines)
    graphite *= 0.85 + 0.3 * tile(rng, h, w, 61)  # pencil grain catching paper tooth
    paper = np.array([0.95, 0.93, 0.88], F32)
    shade = (1 - 0.15 * blur(dark, 6 * canvas.scale + 2)) * (1 - graphite * 0.85)
    return cc(paper) * shade


def abstract(canvas: Canvas, plan: Plan) -> np.ndarray:
    """The scene broken into Voronoi shards in its own colours, crossed by flow lines."""
    h, w = canvas.height, canvas.width
    rng = plan.rng("abstract")
    sh, sw = -(-h // 2), -(-w // 2)
    cell = max(sw, sh) / float(rng.uniform(7, 12))
    # One jittered seed per grid cell, with a ring of cells around the frame so that every
    # pixel's 3x3 neighbourhood exists (clamping would count a cell twice and draw false edges).
    gy, gx = int(sh / cell) + 3, int(sw / cell) + 3
    py = rng.random((gy, gx), dtype=F32) + np.arange(-1, gy - 1, dtype=F32)[:, None]
    px = rng.random((gy, gx), dtype=F32) + np.arange(-1, gx - 1, dtype=F32)[None, :]
    y = np.arange(sh, dtype=F32)[:, None] / cell
    x = np.arange(sw, dtype=F32)[None, :] / cell
    iy, ix = y.astype(np.int32) + 1, x.astype(np.int32) + 1
    f1 = np.full((sh, sw), 9.0, F32)
    f2 = np.full((sh, sw), 9.0, F32)
    owner = np.zeros((sh, sw), np.int32)
    for oy in (-1, 0, 1):
        for ox in (-1, 0, 1):
            idx = (iy + oy) * gx + (ix + ox)
            d = np.sqrt((np.take(py, idx) - y) ** 2 + (np.take(px, idx) - x) ** 2)
            closer = d < f1
            f2 = np.where(closer, f1, np.minimum(f2, d))
            owner = np.where(closer, idx, owner)
            f1 = np.where(closer, d, f1)
    # Each shard takes the scene's colour under its seed point, made bolder.
    seeds_y = (py * cell * 2).clip(0, h - 1).astype(np.int32)
    seeds_x = (px * cell * 2).clip(0, w - 1).astype(np.int32)
    colours = saturate(gather(canvas.rgb, seeds_y, seeds_x).reshape(3, -1), 1.4)
    colours = np.clip(colours, 0, 1)
    small = np.take(colours, owner, axis=1) * (1.08 - 0.35 * f1)
    rgb = planes_upscale(small, 2, h, w)
    gap = upscale(f2 - f1, 2, h, w)
    border = 1 - smoothstep(0.02, 0.06, gap)
    flow = fbm(rng, h, w, 0.45 * w, 3, work=8)
    bands = np.abs(((flow * 14) % 1.0) - 0.5) * 2
    lines = smoothstep(0.9, 0.97, bands)
    accent = mix(plan.palette.accent, plan.palette.sun, 0.3)
    rgb += (lines * 0.7) * (cc(accent) - rgb)
    rgb *= 1 - border * 0.85
    return rgb


def fantasy(canvas: Canvas, plan: Plan) -> np.ndarray:
    """Storybook magic: colours pulled onto a violet-teal-rose ramp, a soft glow around the
    light, and scattered sparkles."""
    h, w = canvas.height, canvas.width
    rgb = canvas.rgb
    lum = luminance(rgb)
    ramp_stops = np.array([[0.08, 0.02, 0.2], [0.38, 0.12, 0.6], [0.1, 0.6, 0.68],
                           [0.98, 0.72, 0.9]], F32)  # fmt: skip
    toned = ramp_map(ramp_stops, lum)
    rgb = saturate(rgb, 1.5) * 0.5 + toned * 0.5
    bright = np.clip(lum - 0.5, 0, 1)
    glow = blur(bright, 24 * canvas.scale + 4) * 1.4 + blur(bright, 6 * canvas.scale + 2) * 0.6
    tint = cc([1.0, 0.6, 0.95])
    rgb = 1 - (1 - rgb) * (1 - np.clip(glow, 0, 1) * tint)  # screen: glows without clipping
    teal, gold = np.array([0.4, 1.0, 0.95], F32), np.array([1.0, 0.85, 0.6], F32)
    rng = plan.rng("sparkles")
    for _ in range(int(45 * w * h / 1024**2) + 8):
        size = float(rng.uniform(3, 12)) * canvas.scale + 2
        cy, cx = float(rng.uniform(0, h)), float(rng.uniform(0, w))
        top, left, n = int(cy - size * 2), int(cx - size * 2), int(size * 4)
        yy = np.arange(top, top + n, dtype=F32)[:, None] - cy
        xx = np.arange(left, left + n, dtype=F32)[None, :] - cx
        star = np.exp(-np.abs(xx) / size * 4) * np.exp(-np.abs(yy) / size * 0.5)
        star = star + np.exp(-np.abs(yy) / size * 4) * np.exp(-np.abs(xx) / size * 0.5)
        star = star + np.exp(-(xx * xx + yy * yy) / (size * size * 0.15))
        region = rgb[:, max(top, 0) : top + n, max(left, 0) : left + n]
        patch = star[max(-top, 0) : max(-top, 0) + region.shape[1],
                     max(-left, 0) : max(-left, 0) + region.shape[2]]  # fmt: skip
        region += patch * cc(mix(gold, teal, float(rng.random())) * 0.8)
    return rgb


def render_look(canvas: Canvas, plan: Plan) -> np.ndarray:
    """3d-render: clean CG light, a touch of ambient occlusion darkening toward the ground."""
    rgb = canvas.rgb
    h = canvas.height
    ground = np.linspace(0, 1, h, dtype=F32) ** 4
    rgb *= (1 - 0.12 * ground)[:, None]
    return saturate(rgb, 1.1) * 1.03


def apply(look: str, canvas: Canvas, plan: Plan) -> np.ndarray:
    if look == "photorealistic":
        return photographic(canvas, plan, strong=True)
    if look == "realistic":
        return photographic(canvas, plan, strong=False)
    handlers = {
        "anime": anime, "painting": painting, "sketch": sketch, "abstract": abstract,
        "fantasy": fantasy, "3d-render": render_look,
    }  # fmt: skip
    handler = handlers.get(look)
    return handler(canvas, plan) if handler else canvas.rgb


STYLE_WORDS = {
    "cinematic": "cinematic film movie epic dramatic",
    "vintage": "vintage retro sepia faded nostalgic polaroid",
    "mono": "noir monochrome black-and-white greyscale grayscale",
    "pastel": "pastel soft dreamy",
    "vivid": "vibrant vivid colorful colourful saturated artistic",
    "moody": "moody dark gloomy",
    "neon": "neon cyberpunk synthwave",
}


def grade(rgb, plan: Plan, *, style: str, cfg: float, palette) -> np.ndarray:
    """Style words, guidance strength and a saved palette, applied as a final colour grade."""
    words = set(style.lower().replace(",", " ").split())
    picked = {name for name, vocab in STYLE_WORDS.items() if words & set(vocab.split())}
    if "black" in words and "white" in words:
        picked.add("mono")
    if "cinematic" in picked:
        lum = luminance(rgb)
        teal, orange = np.array([0.0, 0.5, 0.6], F32), np.array([1.0, 0.6, 0.3], F32)
        rgb = rgb + cc((teal - 0.4) * 0.18) * (1 - lum) + cc((orange - 0.6) * 0.22) * lum
        rgb = (rgb - 0.5) * 1.12 + 0.5
    if "vintage" in picked:
        rgb = mix(saturate(rgb, 0.55), cc([0.9, 0.75, 0.55]), 0.18) * 0.95 + 0.04
    if "pastel" in picked:
        rgb = saturate(rgb, 0.6) * 0.75 + 0.25
    if "vivid" in picked:
        rgb = saturate(rgb, 1.35)
    if "moody" in picked:
        rgb = saturate(rgb, 0.8) * 0.8
    if "neon" in picked:
        rgb = saturate(rgb, 1.4) + cc([0.06, -0.03, 0.08])
    if "mono" in picked:
        rgb = saturate(rgb, 0.0)
    strength = float(np.clip(1 + (cfg - 7.5) * 0.04, 0.75, 1.35))
    if abs(strength - 1) > 1e-3:
        rgb = saturate((rgb - 0.5) * strength + 0.5, strength)
    if palette:
        # Pull every pixel toward the palette colour at its brightness: a gradient map.
        stops = ramp(palette)
        lum = np.clip(luminance(rgb), 0, 1)
        rgb = rgb + (ramp_map(stops, lum) - rgb) * 0.4
    return rgb


def _bytes(rgb: np.ndarray) -> np.ndarray:
    out = np.multiply(rgb, 255.0, dtype=F32)
    out += 0.5
    np.clip(out, 0, 255, out=out)
    return out.astype(np.uint8)


def to_image(rgb: np.ndarray) -> Image.Image:
    """A planar float (3, h, w) image as an 8-bit RGB Pillow image."""
    planes = _bytes(rgb)
    return Image.merge("RGB", [Image.fromarray(planes[c]) for c in range(3)])


def from_image(image: Image.Image) -> np.ndarray:
    return np.stack([np.asarray(band, F32) for band in image.split()]) / 255
