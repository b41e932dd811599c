"""The starter templates CraftFrame ships with (public, owned by nobody), as documents.
Written by a data migration (pipelines/migrations/0002) and kept in step by `manage.py seed`."""

STARTERS: dict[str, dict] = {
    "logo-kit": {
        "name": "Logo kit",
        "description": "A logo mark for your brand, cut out and traced as a scalable SVG.",
        "tags": ["logo", "brand", "vector"],
        "visibility": "public",
        "inputs": [
            {
                "name": "brand",
                "label": "Brand name",
                "type": "text",
                "required": True,
                "default": "Northwind",
                "help": "The name the mark is for.",
            },
            {
                "name": "look",
                "label": "Look",
                "type": "choice",
                "options": ["flat", "geometric", "mascot", "minimal"],
                "default": "flat",
            },
            {
                "name": "colours",
                "label": "Colours",
                "type": "text",
                "default": "teal and orange",
                "help": "A word or two: 'navy and gold'.",
            },
        ],
        "steps": [
            {
                "operation": "generate-image",
                "name": "Draw the mark",
                "params": {
                    "prompt": "{{inputs.brand}} logo, {{inputs.look}} mark in {{inputs.colours}}, "
                    "centred on a plain background",
                    "model": "flux-pro",
                    "category": "abstract",
                },
            },
            {
                "operation": "remove-background",
                "name": "Cut it out",
                "params": {"source": "{{steps.1.output}}"},
            },
            {
                "operation": "vectorize",
                "name": "Trace as SVG",
                "params": {"source": "{{steps.2.output}}", "mode": "color", "detail": "medium"},
            },
        ],
    },
    "poster": {
        "name": "Poster",
        "description": "A poster picture from one line, upscaled 2x for print.",
        "tags": ["poster", "print"],
        "visibility": "public",
        "inputs": [
            {
                "name": "subject",
                "label": "What is on it",
                "type": "long_text",
                "required": True,
                "default": "a lighthouse on a cliff at dusk",
            },
            {
                "name": "look",
                "label": "Look",
                "type": "choice",
                "options": ["photorealistic", "painting", "fantasy", "3d-render"],
                "default": "painting",
            },
        ],
        "steps": [
            {
                "operation": "generate-image",
                "name": "Paint it",
                "params": {
                    "prompt": "{{inputs.subject}}, poster art, strong composition",
                    "category": "{{inputs.look}}",
                },
            },
            {
                "operation": "upscale",
                "name": "Upscale 2x",
                "params": {"source": "{{steps.1.output}}", "scale": 2},
            },
        ],
    },
    "sticker": {
        "name": "Sticker",
        "description": "An anime-style sticker of anything, on a transparent background.",
        "tags": ["sticker", "anime"],
        "visibility": "public",
        "inputs": [
            {
                "name": "subject",
                "label": "Subject",
                "type": "text",
                "required": True,
                "default": "a cheerful red panda",
            },
        ],
        "steps": [
            {
                "operation": "generate-image",
                "name": "Draw it",
                "params": {
                    "prompt": "{{inputs.subject}}, sticker, bold outline, plain background",
                    "category": "anime",
                },
            },
            {
                "operation": "remove-background",
                "name": "Cut it out",
                "params": {"source": "{{steps.1.output}}"},
            },
        ],
    },
    "brand-moodboard": {
        "name": "Brand moodboard",
        "description": "Read the style of one of your images, then make four pictures in it.",
        "tags": ["brand", "moodboard", "style"],
        "visibility": "public",
        "inputs": [
            {
                "name": "reference",
                "label": "Reference image",
                "type": "image",
                "required": True,
                "help": "One of your images: its palette and feel set the style.",
            },
            {"name": "brand", "label": "Brand name", "type": "text", "default": "Northwind"},
            {
                "name": "subject",
                "label": "What to show",
                "type": "text",
                "default": "a product on a table, lifestyle shot",
            },
        ],
        "steps": [
            {
                "operation": "style",
                "name": "Read the style",
                "params": {
                    "name": "{{inputs.brand}} moodboard",
                    "references": ["{{inputs.reference}}"],
                },
            },
            {
                "operation": "generate-image",
                "name": "Four pictures in it",
                "params": {
                    "prompt": "{{inputs.subject}}",
                    "style_id": "{{steps.1.output}}",
                    "num_images": 4,
                },
            },
        ],
    },
}


def starters_ensure(models=None) -> int:
    """Write the starter templates that are missing (by key); returns how many were made.
    `models` maps Template/GlobalInput/Pipeline/Step to a migration's historical models."""
    import secrets

    from pipelines import spec

    if models is None:
        from pipelines.models import GlobalInput, Pipeline, Step, Template

        models = {
            "Template": Template,
            "GlobalInput": GlobalInput,
            "Pipeline": Pipeline,
            "Step": Step,
        }
    made = 0
    for key, document in STARTERS.items():
        if models["Template"].objects.filter(starter=key).exists():
            continue
        checked = spec.document_check(document)  # a starter that breaks its own rules: stop
        template = models["Template"].objects.create(
            id=f"tpl_{secrets.token_hex(12)}",
            owner=None,
            name=checked["name"],
            description=checked["description"],
            tags=checked["tags"],
            tag_index=f",{','.join(checked['tags'])},",
            visibility="public",
            starter=key,
        )
        for position, definition in enumerate(checked["inputs"]):
            models["GlobalInput"].objects.create(template=template, position=position, **definition)
        pipeline = models["Pipeline"].objects.create(
            id=f"pip_{secrets.token_hex(12)}", template=template, name="Main"
        )
        for position, step in enumerate(checked["steps"]):
            models["Step"].objects.create(pipeline=pipeline, position=position, **step)
        made += 1
    return made
