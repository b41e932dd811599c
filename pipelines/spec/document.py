"""A whole template document: its metadata, inputs and steps checked together."""

from typing import Any

from pipelines.spec.base import (
    MAX_TEXT,
    DocumentInvalid,
    Problems,
    strings_check,
    tags_check,
    text_check,
)
from pipelines.spec.inputs import inputs_check
from pipelines.spec.steps import steps_check

DOCUMENT_FIELDS = ("name", "description", "tags", "visibility", "cover", "inputs", "steps")
EXPORT_FORMAT = "craftframe.template"
EXPORT_VERSION = 1


def document_shape_check(raw, *, partial: bool = False, metadata: bool = False) -> None:
    """What can be refused before anything is looked up: not an object, text that cannot be
    stored, nesting deeper than a template has, a change that names no field; with
    `metadata`, also a bad name, description, tags, visibility or cover."""
    if not isinstance(raw, dict):
        raise DocumentInvalid({"non_field_errors": ["Must be a JSON object."]})
    problems = Problems()
    strings_check(raw, problems)
    problems.raise_if_any()
    if partial and not set(raw) & set(DOCUMENT_FIELDS):
        raise DocumentInvalid({"non_field_errors": ["Send at least one field to change."]})
    if metadata:
        _metadata_check(raw, partial, problems)
        problems.raise_if_any()


def _metadata_check(raw: dict, partial: bool, problems: Problems) -> dict:
    """Name, description, tags, visibility and cover: what needs no inputs or steps."""
    checked: dict[str, Any] = {}
    if "name" in raw or not partial:
        checked["name"] = text_check(raw.get("name"), "name", 120, problems, required=True)
    if "description" in raw or not partial:
        checked["description"] = text_check(
            raw.get("description", ""), "description", MAX_TEXT, problems, required=False
        )
    if "tags" in raw or not partial:
        checked["tags"] = tags_check(raw.get("tags"), problems)
    if "visibility" in raw or not partial:
        visibility = raw.get("visibility", "private")
        if visibility not in ("private", "public"):
            problems.add("visibility", "Must be private or public.")
        checked["visibility"] = visibility
    if "cover" in raw:
        cover = raw["cover"]
        if cover is not None and (not isinstance(cover, str) or not 0 < len(cover) <= 64):
            problems.add("cover", "An asset id of yours, or null.")
        checked["cover"] = cover
    return checked


def document_check(raw, *, partial: bool = False, current: dict | None = None) -> dict:
    """A template document, checked whole; DocumentInvalid lists every problem.

    `partial` (a PATCH): only the fields present change, `current` gives the rest (its
    inputs, to check steps against, and its steps, to check new inputs against).
    """
    document_shape_check(raw, partial=partial)
    problems = Problems()
    for key in sorted(set(raw) - set(DOCUMENT_FIELDS) - {"format", "version"}, key=str)[:5]:
        problems.add(str(key)[:40], "Unknown field.")
    current = current or {}
    checked = _metadata_check(raw, partial, problems)
    inputs = (
        inputs_check(raw.get("inputs"), problems)
        if "inputs" in raw or not partial
        else current.get("inputs", [])
    )
    if "inputs" in raw or not partial:
        checked["inputs"] = inputs
    if "steps" in raw or not partial or "inputs" in raw:
        steps_raw = raw["steps"] if "steps" in raw else current.get("steps")
        steps = steps_check(steps_raw, inputs, problems)
        if "steps" in raw or not partial:
            checked["steps"] = steps
    problems.raise_if_any()
    return checked
