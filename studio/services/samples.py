"""The landing page's sample pictures: drawn by the local provider when the site is seeded
(`manage.py seed`), stored like any result, never charged to anyone."""

import logging

from studio import imaging, storage
from studio.models import Sample
from studio.prompts import enhance_prompt
from studio.providers.base import ImageRequest, no_progress
from studio.providers.local import LocalProvider

logger = logging.getLogger(__name__)

SIZE = 768
SAMPLES = [
    ("lighthouse", "A lighthouse on a cliff at sunset, waves below", "painting", 1180591620),
    ("mountain-lake", "Misty mountain lake at dawn with pine trees", "photorealistic", 2024),
    ("neon-city", "Neon city skyline at night after the rain", "anime", 77),
    ("desert-dunes", "Desert dunes under a huge pale moon", "fantasy", 4242),
    ("forest-path", "A quiet forest path in autumn light", "sketch", 9001),
    ("ocean-rocks", "Ocean rocks and tide pools, bold colours", "abstract", 31337),
]


def samples_ensure() -> int:
    """Draw and store the samples that do not exist yet; returns how many were made."""
    made = 0
    existing = set(Sample.objects.values_list("slug", flat=True))
    provider = LocalProvider()
    for order, (slug, prompt, category, seed) in enumerate(SAMPLES):
        if slug in existing:
            continue
        request = ImageRequest(
            prompt=enhance_prompt(prompt, category, ""),
            width=SIZE,
            height=SIZE,
            seed=seed,
            category=category,
        )
        output = provider.generate_image(request, no_progress)
        thumbnail, _, _ = imaging.thumbnail_webp(output.data)
        key = f"samples/{slug}/original.png"
        thumbnail_key = f"samples/{slug}/thumbnail.webp"
        storage.put_many(
            [(key, output.data, "image/png"), (thumbnail_key, thumbnail, "image/webp")]
        )
        Sample.objects.update_or_create(
            slug=slug,
            defaults=dict(
                prompt=prompt,
                category=category,
                seed=seed,
                key=key,
                thumbnail_key=thumbnail_key,
                width=output.width,
                height=output.height,
                sort_order=order,
            ),
        )
        made += 1
    return made
