"""Raster to SVG with vtracer, in colour or as a one-colour silhouette.

Large pictures are traced on a smaller copy (at most `trace_side` pixels on the long side per
detail level): tracing time and SVG size grow with the pixel count, and beyond that size the
extra paths are mostly noise. The SVG still speaks in the source's coordinates: its width,
height and viewBox are the source size, and the traced paths sit in a group scaled back up.
"""

import re
from dataclasses import dataclass
from xml.etree import ElementTree

import cv2
import numpy as np
import vtracer

from studio.imageops.common import MAX_PIXELS, decode, encode_png, shrink
from studio.providers.base import Progress, ProviderError, no_progress

MODES = ("color", "binary")


@dataclass(frozen=True)
class Detail:
    trace_side: int  # the longest side traced; larger inputs are shrunk first
    smooth: int  # edge-preserving pre-filter strength (0 = none): flattens noise into areas
    filter_speckle: int  # patches smaller than this many pixels (squared) are dropped
    color_precision: int  # significant bits per channel when clustering colours
    layer_difference: int  # colour distance between stacked layers
    corner_threshold: int  # degrees; sharper turns stay corners, the rest become curves
    length_threshold: float  # shortest segment kept when simplifying
    path_precision: int  # decimals in the path data


DETAILS = {
    "low": Detail(768, 40, 16, 5, 40, 90, 6.0, 1),
    "medium": Detail(1024, 30, 6, 6, 24, 60, 4.0, 2),
    "high": Detail(1536, 15, 2, 7, 12, 45, 3.5, 2),
}
_PATH = re.compile(r"<path\b[^>]*/>")
_FILL = re.compile(r'fill="(#[0-9A-Fa-f]{6})"')


def vectorize(
    image: bytes, *, mode: str = "color", detail: str = "medium", progress: Progress = no_progress
) -> tuple[bytes, dict]:
    """UTF-8 SVG bytes of the picture, and {"width", "height", "paths"}."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if detail not in DETAILS:
        raise ValueError(f"detail must be one of {', '.join(DETAILS)}")
    settings = DETAILS[detail]
    pixels = decode(image, max_pixels=MAX_PIXELS)
    height, width = pixels.shape[:2]
    progress(5)
    small = shrink(pixels, settings.trace_side)
    prepared = _silhouette(small, settings) if mode == "binary" else _smoothed(small, settings)
    progress(15)
    traced = vtracer.convert_raw_image_to_svg(
        encode_png(prepared, compress_level=0),
        img_format="png",
        colormode=mode,
        hierarchical="stacked",
        mode="spline",
        filter_speckle=settings.filter_speckle,
        color_precision=settings.color_precision,
        layer_difference=settings.layer_difference,
        corner_threshold=settings.corner_threshold,
        length_threshold=settings.length_threshold,
        path_precision=settings.path_precision,
    )
    progress(85)
    paths = _PATH.findall(traced)
    svg = _document(paths, width, height, small.shape[1], small.shape[0])
    progress(95)
    try:
        ElementTree.fromstring(svg)
    except ElementTree.ParseError as exc:  # vtracer's output changed shape: refuse, do not ship
        raise ProviderError(f"the tracer produced an unreadable SVG ({exc})") from None
    return svg, {"width": width, "height": height, "paths": len(paths)}


def svg_fill_colours(svg: bytes) -> set[str]:
    """The distinct fill colours of an SVG made here (for checks and metadata)."""
    return {colour.lower() for colour in _FILL.findall(svg.decode())}


def _smoothed(pixels: np.ndarray, settings: Detail) -> np.ndarray:
    """The picture with sensor noise and fine grain flattened, edges kept.

    vtracer clusters colours pixel by pixel, so noise turns into thousands of speckle paths:
    on a noisy 1024-pixel photo a bilateral pass makes tracing several times faster and the
    SVG a third of the size, with the shapes a person would trace unchanged.
    """
    if not settings.smooth:
        return pixels
    rgb = np.ascontiguousarray(pixels[:, :, :3])
    rgb = cv2.bilateralFilter(rgb, 5, settings.smooth, 5)
    if pixels.shape[2] == 4:  # transparent pixels are left out of the trace by vtracer
        return np.dstack([rgb, pixels[:, :, 3]])
    return rgb


def _silhouette(pixels: np.ndarray, settings: Detail) -> np.ndarray:
    """Black ink on white: Otsu's threshold on luminance splits the picture in two classes.

    The ink is the class that holds less of the picture's border (the background usually
    surrounds the subject), so a light logo on a dark ground traces as the logo, not as a
    frame with a hole in it. Transparent pixels are background: they are laid on a ground
    that contrasts with what is visible (white under a dark logo, black under a light one),
    so a cut-out in one flat colour still splits into shape and ground, and never become ink.
    """
    grey = cv2.cvtColor(np.ascontiguousarray(pixels[:, :, :3]), cv2.COLOR_RGB2GRAY)
    visible = np.ones(grey.shape, bool)
    if pixels.shape[2] == 4:
        alpha = pixels[:, :, 3].astype(np.float32) / 255.0
        visible = alpha >= 0.5
        if not visible.any():
            return np.full(grey.shape, 255, np.uint8)
        ground = 255.0 if grey[visible].mean() < 128 else 0.0
        grey = (grey * alpha + ground * (1.0 - alpha) + 0.5).astype(np.uint8)
    grey = cv2.medianBlur(grey, 3)
    if grey.min() == grey.max():
        return np.full(grey.shape, 255, np.uint8)  # one grey level: nothing stands out as ink
    threshold, _ = cv2.threshold(grey, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    dark = grey <= threshold
    border = np.concatenate([dark[0], dark[-1], dark[:, 0], dark[:, -1]])
    ink = (~dark if border.mean() > 0.5 else dark) & visible
    return np.where(ink, 0, 255).astype(np.uint8)


def _document(paths: list[str], width: int, height: int, traced_w: int, traced_h: int) -> bytes:
    body = "\n".join(paths)
    if (traced_w, traced_h) != (width, height):
        sx, sy = width / traced_w, height / traced_h
        body = f'<g transform="scale({sx:.6g} {sy:.6g})">\n{body}\n</g>'
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}">\n{body}\n</svg>\n'
    ).encode()
