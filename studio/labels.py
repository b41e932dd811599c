"""What people call the studio's operations, and what can be done next with a picture: one
list for every page (the studio's canvas, the gallery, assets, the dashboard's chart), with
prices from the catalog. The API's paths and names are the keys; the words are for people."""

from dataclasses import dataclass

from tokens import catalog

TIMES = "\N{MULTIPLICATION SIGN}"

# A job's `operation` (and the ledger's hold operations) in words.
OPERATION_NAMES = {
    catalog.IMAGE_GENERATION: "Image generation",
    catalog.VIDEO_GENERATION: "Video generation",
    "raster_generation": "Image generation",
    "vectorization": "Vectorize",
    "background_removal": "Remove background",
    "clarity_upscale": "Upscale",
    "generative_upscale": "Generative upscale",
    "style_creation": "Style",
    "vector_generation": "Vector generation",
    "vector_illustration": "Vector illustration",
}


def operation_name(operation: str) -> str:
    return OPERATION_NAMES.get(operation) or operation.replace("_", " ").capitalize() or "Other"


@dataclass(frozen=True)
class NextStep:
    """An operation offered on a finished raster picture: POST /studio/<path> with `body`."""

    path: str
    operation: str
    label: str
    icon: str
    body: dict

    def as_dict(self) -> dict:
        return {
            "path": self.path,
            "operation": self.operation,
            "label": self.label,
            "icon": self.icon,
            "body": self.body,
            "cost": catalog.cost_of(self.operation),
        }


NEXT_STEPS = (
    NextStep("vectorize", "vectorization", "Vectorize", "pen-tool", {}),
    NextStep("remove-background", "background_removal", "Remove background", "scissors", {}),
    NextStep("upscale", "clarity_upscale", f"Upscale 2{TIMES}", "maximize-2", {"scale": 2}),
    NextStep("upscale", "clarity_upscale", f"Upscale 4{TIMES}", "maximize-2", {"scale": 4}),
    NextStep(
        "generative-upscale", "generative_upscale", f"AI upscale 2{TIMES}", "zap", {"scale": 2}
    ),
)


def next_steps() -> list[dict]:
    """The operations a raster picture offers, each with its price."""
    return [step.as_dict() for step in NEXT_STEPS]
