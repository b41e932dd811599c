"""Background removal without a model: GrabCut seeded from what the picture's border looks like.

The border of an object-on-background picture is mostly background, so its colours make a
background model; pixels far from every background colour are probably the subject. Those
guesses seed OpenCV's GrabCut (colour mixtures + a graph cut that keeps edges coherent) on a
small copy, and the cut is brought back to full size along the picture's own edges with a
guided filter, which gives a soft one-or-two-pixel edge instead of a staircase.
"""

import cv2
import numpy as np

from studio.imageops.common import (
    MAX_PIXELS,
    decode,
    encode_png,
    fit_within,
    kmeans,
    nearest_centre,
    shrink,
)
from studio.providers.base import Progress, no_progress

WORK_SIDE = 320  # GrabCut's cost grows faster than the pixel count; 320 px is ~0.5 s at most
REFINE_SIDE = 2048  # the guided filter runs at most this large, then the alpha is resized
ITERATIONS = 3
BORDER_CLUSTERS = 5
# Colour distances (CIE76 delta E): below MIN_CONTRAST nothing counts as standing out, however
# the threshold is chosen; sensor noise and JPEG artefacts stay well under it.
MIN_CONTRAST = 10.0
MAX_CONTRAST = 30.0
HOLE_DELTA_E = 4.0
MIN_SUBJECT = 0.002  # of the picture: less than this standing out means there is no subject
NO_SUBJECT = "no subject found"


def remove_background(image: bytes, *, progress: Progress = no_progress) -> tuple[bytes, dict]:
    """RGBA PNG of the same size with the background transparent, and
    {"width", "height", "foreground_fraction"} (+ "note" when no subject was found)."""
    pixels = decode(image, max_pixels=MAX_PIXELS)
    height, width = pixels.shape[:2]
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    alpha_in = pixels[:, :, 3] if pixels.shape[2] == 4 else None
    progress(5)
    small = shrink(rgb, WORK_SIDE)
    lab = _lab(cv2.GaussianBlur(small, (3, 3), 0))
    distance = _background_distance(lab)
    seeds = _seeds(distance)
    progress(20)
    if seeds is None:
        return _unchanged(rgb, alpha_in, progress)
    mask = _grabcut(small, seeds)
    progress(70)
    mask = _fill_false_holes(_tidy(mask), lab)
    if mask.mean() < MIN_SUBJECT:
        return _unchanged(rgb, alpha_in, progress)
    alpha = _refine(mask, rgb)
    if alpha_in is not None:
        alpha = np.minimum(alpha, alpha_in)  # what was already transparent stays so
    progress(90)
    data = encode_png(np.dstack([rgb, alpha]))
    progress(98)
    fraction = round(float(alpha.mean()) / 255.0, 4)
    return data, {"width": width, "height": height, "foreground_fraction": fraction}


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab in real units (L 0-100), where Euclidean distance tracks perceived difference."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _border_ring(shape: tuple[int, ...]) -> tuple[int, list[tuple[slice, slice]]]:
    height, width = shape[:2]
    band = max(2, round(0.03 * min(height, width)))
    sides = [
        (slice(0, band), slice(None)),
        (slice(height - band, None), slice(None)),
        (slice(band, height - band), slice(0, band)),
        (slice(band, height - band), slice(width - band, None)),
    ]
    return band, sides


def _background_distance(lab: np.ndarray) -> np.ndarray:
    """Per pixel, the colour distance to the nearest colour of the background model.

    The model is a few colour clusters of the border band. A cluster only counts as
    background when it shows on at least two sides or fills much of the band: an object
    that touches one edge (a product standing on the bottom) leaves its colour on one side
    only, and must not teach the model that its own colour is background.
    """
    _, sides = _border_ring(lab.shape)
    samples = [lab[rows, cols].reshape(-1, 3) for rows, cols in sides]
    ring = np.concatenate(samples)
    centres = kmeans(ring, BORDER_CLUSTERS)
    labels = [nearest_centre(side, centres) for side in samples]
    everywhere = np.bincount(np.concatenate(labels), minlength=len(centres)) / len(ring)
    sides_seen = sum(
        (np.bincount(side, minlength=len(centres)) / max(1, len(side))) >= 0.08 for side in labels
    )
    keep = (sides_seen >= 2) | (everywhere >= 0.35)
    if not keep.any():
        keep = everywhere == everywhere.max()
    background = centres[keep]
    flat = lab.reshape(-1, 3)
    nearest = np.full(len(flat), np.inf, np.float32)
    for centre in background:
        np.minimum(nearest, np.linalg.norm(flat - centre, axis=1), out=nearest)
    return nearest.reshape(lab.shape[:2])


def _seeds(distance: np.ndarray) -> np.ndarray | None:
    """GrabCut's starting labels, or None when nothing stands out from the background."""
    scaled = np.clip(distance * (255.0 / 100.0), 0, 255).astype(np.uint8)
    otsu, _ = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    threshold = float(np.clip(otsu * 100.0 / 255.0, MIN_CONTRAST, MAX_CONTRAST))
    standing_out = distance >= threshold
    if standing_out.mean() < MIN_SUBJECT:
        return None
    seeds = np.where(standing_out, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    # The outer band is background for sure where it looks like background; where something
    # stands out there (an object cut by the frame) it stays only probable either way.
    _, sides = _border_ring(distance.shape)
    for rows, cols in sides:
        band = seeds[rows, cols]
        band[distance[rows, cols] < threshold / 2] = cv2.GC_BGD
    # Far from the background and well inside a standing-out region: certainly subject.
    core = cv2.erode(standing_out.astype(np.uint8), np.ones((5, 5), np.uint8))
    seeds[(core > 0) & (distance >= 2 * threshold)] = cv2.GC_FGD
    return seeds


def _grabcut(small: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The foreground as a 0/1 uint8 mask at the small size."""
    mask = seeds.copy()
    background_model = np.zeros((1, 65), np.float64)
    foreground_model = np.zeros((1, 65), np.float64)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)
    try:
        cv2.grabCut(bgr, mask, None, background_model, foreground_model, ITERATIONS,
                    cv2.GC_INIT_WITH_MASK)  # fmt: skip
    except cv2.error:
        # GrabCut refuses when a class has too few distinct colours to fit its mixture
        # (a flat synthetic picture); the seeds are then already the best answer.
        mask = seeds
    return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8)


def _tidy(mask: np.ndarray) -> np.ndarray:
    """The mask without specks and pinholes: components under 1% of the largest are dropped."""
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, kernel)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, kernel)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    if count <= 1:
        return mask
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = np.zeros(count, np.uint8)
    keep[1:] = areas >= 0.01 * areas.max()
    return keep[labels]


def _fill_false_holes(mask: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Holes in the subject that the background cannot explain, filled.

    A highlight on a glossy object is often close to a white backdrop's colour, and GrabCut
    cuts it out. A real hole (a handle's loop, the inside of a ring) shows the backdrop as
    it is at that spot. So the backdrop is modelled as a smooth surface (a quadratic in x
    and y per Lab channel, fitted to what was cut away) and a hole whose mean colour is
    more than HOLE_DELTA_E from the model there is put back into the subject.
    """
    count, labels = cv2.connectedComponents(1 - mask, connectivity=4)
    height, width = mask.shape
    touching = np.zeros(count, bool)
    for edge in (labels[0], labels[-1], labels[:, 0], labels[:, -1]):
        touching[np.unique(edge)] = True
    holes = [i for i in range(1, count) if not touching[i]]
    background = (mask == 0).reshape(-1)
    if not holes or background.sum() < 16:
        return mask
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    xx, yy = xx.reshape(-1) / width - 0.5, yy.reshape(-1) / height - 0.5
    terms = np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], axis=1)
    colours = lab.reshape(-1, 3)
    step = max(1, int(background.sum()) // 20_000)  # an even sample is plenty for 18 numbers
    fit_rows = np.flatnonzero(background)[::step]
    coefficients, *_ = np.linalg.lstsq(terms[fit_rows], colours[fit_rows], rcond=None)
    flat_labels = labels.reshape(-1)
    filled = mask.copy().reshape(-1)
    for hole in holes:
        rows = np.flatnonzero(flat_labels == hole)
        expected = (terms[rows] @ coefficients).mean(axis=0)
        if np.linalg.norm(colours[rows].mean(axis=0) - expected) > HOLE_DELTA_E:
            filled[rows] = 1
    return filled.reshape(mask.shape)


def _refine(mask: np.ndarray, rgb: np.ndarray) -> np.ndarray:
    """The small 0/1 mask as a full-size uint8 alpha whose edge follows the picture's edges."""
    height, width = rgb.shape[:2]
    size = fit_within(width, height, REFINE_SIDE)
    guide = cv2.cvtColor(cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    guide = guide.astype(np.float32) / 255.0
    coarse = cv2.resize(mask.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    # Radius about one small-mask pixel in refine pixels: enough to snap the staircase to
    # the real edge, small enough not to bleed across neighbouring edges.
    radius = max(2, round(size[0] / mask.shape[1] * 1.5))
    alpha = guided_filter(guide, coarse, radius, 1e-3)
    # A steep ramp keeps a soft edge but no veil of half-transparent background.
    alpha = np.clip((alpha - 0.5) * 2.5 + 0.5, 0.0, 1.0)
    alpha = (alpha * 255.0 + 0.5).astype(np.uint8)
    if size != (width, height):
        alpha = cv2.resize(alpha, (width, height), interpolation=cv2.INTER_LINEAR)
    return alpha


def guided_filter(guide: np.ndarray, source: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide): source smoothed except across guide's edges."""
    size = (2 * radius + 1, 2 * radius + 1)

    def box(values: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(values, cv2.CV_32F, size, borderType=cv2.BORDER_REFLECT)

    mean_i, mean_p = box(guide), box(source)
    var_i = box(guide * guide) - mean_i * mean_i
    cov_ip = box(guide * source) - mean_i * mean_p
    a = cov_ip / (var_i + eps)
    b = mean_p - a * mean_i
    return box(a) * guide + box(b)


def _unchanged(
    rgb: np.ndarray, alpha_in: np.ndarray | None, progress: Progress
) -> tuple[bytes, dict]:
    """No subject: the picture comes back fully opaque (or with its own alpha), with a note."""
    height, width = rgb.shape[:2]
    alpha = alpha_in if alpha_in is not None else np.full((height, width), 255, np.uint8)
    data = encode_png(np.dstack([rgb, alpha]))
    progress(98)
    fraction = round(float(alpha.mean()) / 255.0, 4)
    return data, {
        "width": width, "height": height, "foreground_fraction": fraction, "note": NO_SUBJECT,
    }  # fmt: skip
