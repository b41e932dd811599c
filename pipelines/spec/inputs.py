"""A template's inputs: their definitions, and the values a run is given."""

from pipelines.spec.base import (
    _NAME,
    INPUT_TYPES,
    MAX_INPUTS,
    MAX_OPTIONS,
    TEXT_LIMIT,
    DocumentInvalid,
    Problems,
    _number,
    _text,
    text_problem,
)
from studio.services.generations import SEED_MAX


def inputs_check(raw, problems: Problems) -> list[dict]:
    """The inputs' definitions, normalised (every key present)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        problems.add("inputs", "Must be a list of input definitions.")
        return []
    if len(raw) > MAX_INPUTS:
        problems.add("inputs", f"At most {MAX_INPUTS} inputs.")
        return []
    found, names = [], set()
    for number, item in enumerate(raw, start=1):
        where = f"inputs.{number}"
        if not isinstance(item, dict):
            problems.add(where, "Must be an object with name and type.")
            continue
        unknown = set(item) - {
            "name",
            "label",
            "type",
            "required",
            "default",
            "help",
            "options",
            "min",
            "max",
            "step",
        }
        for key in sorted(unknown, key=str)[:5]:
            problems.add(f"{where}.{str(key)[:40]}", "Unknown field.")
        name, kind = item.get("name"), item.get("type")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.add(
                f"{where}.name",
                "Use 1-40 lowercase letters, digits or _, starting with a letter.",
            )
        elif name in names:
            problems.add(f"{where}.name", f"Another input is already called {name!r}.")
        else:
            names.add(name)
        if kind not in INPUT_TYPES:
            problems.add(f"{where}.type", f"Must be one of: {', '.join(INPUT_TYPES)}.")
            continue
        definition = {
            "name": name,
            "label": item.get("label") or "",
            "type": kind,
            "required": item.get("required", False),
            "default": item.get("default"),
            "help": item.get("help") or "",
            "options": item.get("options") or [],
            "min": item.get("min"),
            "max": item.get("max"),
            "step": item.get("step"),
        }
        if not _text(definition["label"], 80):
            problems.add(f"{where}.label", "At most 80 characters of text.")
        if not _text(definition["help"], 300):
            problems.add(f"{where}.help", "At most 300 characters of text.")
        if not isinstance(definition["required"], bool):
            problems.add(f"{where}.required", "Must be true or false.")
        _definition_check(definition, where, problems)
        found.append(definition)
    return found


def _definition_check(definition: dict, where: str, problems: Problems) -> None:
    kind, default = definition["type"], definition["default"]
    if kind != "number":
        for key in ("min", "max", "step"):
            if definition[key] is not None:
                problems.add(f"{where}.{key}", "Only number inputs have limits.")
    if kind != "choice" and definition["options"]:
        problems.add(f"{where}.options", "Only choice inputs have options.")
    if kind == "number":
        low, high, step = definition["min"], definition["max"], definition["step"]
        for key, value in (("min", low), ("max", high), ("step", step)):
            if value is not None and not _number(value):
                problems.add(f"{where}.{key}", "Must be a number.")
        if _number(low) and _number(high) and low > high:
            problems.add(f"{where}.max", "Must be at least min.")
        if _number(step) and step <= 0:
            problems.add(f"{where}.step", "Must be more than 0.")
    elif kind == "choice":
        options = definition["options"]
        if (
            not isinstance(options, list)
            or not 1 <= len(options) <= MAX_OPTIONS
            or not all(isinstance(o, str) and 0 < len(o) <= 100 for o in options)
            or len(set(options)) != len(options)
        ):
            problems.add(
                f"{where}.options", f"1-{MAX_OPTIONS} different texts of at most 100 characters."
            )
            return
    if default is None:
        return
    message = value_problem(definition, default)
    if kind == "image":
        message = "An image input has no default (each person picks their own)."
    if message:
        problems.add(f"{where}.default", message)


def value_problem(definition: dict, value) -> str:
    """Why `value` is not acceptable for this input ("" when it is)."""
    kind = definition["type"]
    if kind in TEXT_LIMIT:
        if not isinstance(value, str):
            return "Must be text."
        if len(value) > TEXT_LIMIT[kind]:
            return f"At most {TEXT_LIMIT[kind]} characters."
        return text_problem(value)
    elif kind == "number":
        if not _number(value):
            return "Must be a number."
        low, high, step = definition["min"], definition["max"], definition["step"]
        if _number(low) and value < low:
            return f"Must be at least {low:g}."
        if _number(high) and value > high:
            return f"Must be at most {high:g}."
        if _number(step) and step > 0:
            base = low if _number(low) else 0
            ratio = (value - base) / step
            if abs(ratio - round(ratio)) > 1e-9:
                return f"Must be a multiple of {step:g} from {base:g}."
    elif kind == "seed":
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= SEED_MAX:
            return f"Must be a whole number from 0 to {SEED_MAX}."
    elif kind == "choice":
        if value not in definition["options"]:
            return f"Must be one of: {', '.join(definition['options'][:10])}."
    elif kind == "boolean":
        if not isinstance(value, bool):
            return "Must be true or false."
    elif kind == "image" and (
        not isinstance(value, str) or not 0 < len(value) <= 64 or text_problem(value)
    ):
        return "Must be the id of one of your images (ast_… or a generation id)."
    return ""


def inputs_resolve(definitions: list[dict], values, *, partial: bool = False) -> dict:
    """The values a run uses: what was given, checked by type, defaults for the rest.
    `partial` (the cost preview) lets required inputs be missing."""
    problems = Problems()
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise DocumentInvalid({"inputs": ["Must be an object of input values."]})
    known = {d["name"]: d for d in definitions}
    for key in list(values)[: MAX_INPUTS + 5]:
        if not isinstance(key, str) or text_problem(key):
            problems.add("inputs", "Input names must be valid text.")
        elif key not in known:
            problems.add(f"inputs.{str(key)[:40]}", "This template has no such input.")
    resolved = {}
    for name, definition in known.items():
        value = values.get(name, definition["default"])
        if value is None or (isinstance(value, str) and not value.strip()):
            if definition["required"] and not partial:
                problems.add(f"inputs.{name}", "This input is required.")
            continue
        message = value_problem(definition, value)
        if message:
            problems.add(f"inputs.{name}", message)
            continue
        resolved[name] = value
    problems.raise_if_any()
    return resolved
