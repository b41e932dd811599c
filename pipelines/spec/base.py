"""What every part of the template rules shares: limits, the error collector, and text
that can be stored."""

import math
import re

from rest_framework import serializers

MAX_INPUTS = 20
MAX_STEPS = 10
MAX_PARAMS = 30
MAX_TEXT = 2000
MAX_OPTIONS = 30
MAX_TAGS = 10
MAX_LIST = 10

INPUT_TYPES = ("text", "long_text", "number", "choice", "boolean", "image", "seed")
TEXT_LIMIT = {"text": 500, "long_text": 2000}
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_TAG = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_REF = re.compile(r"\{\{\s*(.*?)\s*\}\}")
_INPUT_REF = re.compile(r"^inputs\.([a-z][a-z0-9_]{0,39})$")
_STEP_REF = re.compile(r"^steps\.(\d{1,3})\.output$")
# What fills a reference to an image while a template is checked (nothing runs).
PLACEHOLDER_IMAGE = "ast_placeholder"
PLACEHOLDER_STYLE = "sty_placeholder"
# Parameters a template may not set: a run files its results in the runner's project and
# workspace.
RUN_TIME_PARAMS = ("project", "organization")


class DocumentInvalid(serializers.ValidationError):
    """400 INVALID_REQUEST with every problem, keyed by where it is."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


class Problems:
    def __init__(self):
        self.errors: dict[str, list[str]] = {}

    def add(self, where: str, message: str) -> None:
        messages = self.errors.setdefault(where, [])
        if message not in messages and len(messages) < 5:
            messages.append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise DocumentInvalid(self.errors)


MAX_DEPTH = 8


def text_problem(value: str) -> str:
    """Why a string cannot be kept ("" when it can): a NUL byte or a lone surrogate, which
    PostgreSQL and UTF-8 refuse."""
    if "\x00" in value:
        return "Must not contain NUL bytes."
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "Must be valid Unicode text."
    return ""


def _where(path: tuple) -> str:
    # `steps.2.params.prompt` is reported as `steps.2.prompt`, like every step error.
    parts = [str(p + 1) if isinstance(p, int) else str(p)[:40] for p in path]
    if len(parts) >= 3 and parts[0] == "steps" and parts[2] == "params":
        del parts[2]
    return ".".join(parts[:4]) or "non_field_errors"


def strings_check(raw, problems: Problems) -> None:
    """Every string of a document storable, and no deeper nesting than a template has."""
    stack = [((), raw)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_DEPTH:
            problems.add(_where(path[:3]), "Nested too deeply.")
            continue
        if isinstance(value, str):
            message = text_problem(value)
            if message:
                problems.add(_where(path), message)
        elif isinstance(value, dict):
            for key, item in list(value.items())[:200]:
                if isinstance(key, str) and text_problem(key):
                    problems.add(_where(path), "Field names must be valid text.")
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, index), item) for index, item in enumerate(value[:200]))


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _text(value, limit: int) -> bool:
    return isinstance(value, str) and len(value) <= limit


def tags_check(raw, problems: Problems) -> list[str]:
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_TAGS:
        problems.add("tags", f"At most {MAX_TAGS} tags, as a list.")
        return []
    tags = []
    for tag in raw:
        if not isinstance(tag, str) or not _TAG.match(tag.strip().lower()):
            problems.add("tags", "Tags are 1-32 lowercase letters, digits or dashes.")
            return []
        tags.append(tag.strip().lower())
    return list(dict.fromkeys(tags))


def text_check(raw, where: str, limit: int, problems: Problems, *, required: bool) -> str:
    if not isinstance(raw, str) or (required and not raw.strip()) or len(raw) > limit:
        required_text = "Required: " if required else ""
        problems.add(where, f"{required_text}text of at most {limit} characters.")
        return ""
    return raw.strip()
