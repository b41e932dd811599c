"""Prompt enhancement by category (seed: "Enhance prompt with category-specific suffixes")."""

CATEGORY_SUFFIXES = {
    "photorealistic": "photorealistic, professional photography, high detail, ultra realistic, "
    "8K quality",
    "realistic": "realistic, natural lighting, detailed textures, true-to-life colors",
    "anime": "anime style, cel shading, vibrant colors, clean line art, studio quality",
    "painting": "oil painting, visible brush strokes, rich textures, fine art, masterpiece",
    "sketch": "pencil sketch, detailed line work, cross-hatching, graphite on paper",
    "3d-render": "3D render, octane render, volumetric lighting, physically based materials, "
    "high detail",
    "abstract": "abstract art, bold shapes, expressive colors, modern composition",
    "fantasy": "fantasy art, magical atmosphere, ethereal lighting, epic, highly detailed",
}


def enhance_prompt(prompt: str, category: str = "", style: str = "") -> str:
    """`prompt, <category suffix>, <style>`: the seed's enhancedPrompt."""
    parts = [prompt.strip()]
    if category in CATEGORY_SUFFIXES:
        parts.append(CATEGORY_SUFFIXES[category])
    if style.strip():
        parts.append(style.strip())
    return ", ".join(parts)
