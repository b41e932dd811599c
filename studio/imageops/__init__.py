"""Image operations on uploaded pictures: vectorize, remove the background, upscale, extract a
style. Plain numpy/OpenCV/Pillow/vtracer, no Django: bytes in, bytes (or a dict) and facts out.

Bad input raises studio.providers.base.ProviderError with a message fit for the user; a
Cancelled raised by the progress callable passes straight through.
"""

from studio.imageops.background import remove_background
from studio.imageops.style import palette_swatch, style_extract
from studio.imageops.upscale import upscale
from studio.imageops.vectorize import vectorize

__all__ = ["palette_swatch", "remove_background", "style_extract", "upscale", "vectorize"]
