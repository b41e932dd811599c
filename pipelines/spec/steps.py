"""A pipeline's steps: references between inputs and steps, each step's parameters checked
by its job's own serializer, and filled in when the step runs."""

from dataclasses import dataclass

from rest_framework import serializers

from pipelines.spec.base import (
    _INPUT_REF,
    _REF,
    _STEP_REF,
    MAX_LIST,
    MAX_PARAMS,
    MAX_STEPS,
    MAX_TEXT,
    PLACEHOLDER_IMAGE,
    PLACEHOLDER_STYLE,
    RUN_TIME_PARAMS,
    DocumentInvalid,
    Problems,
    _number,
    _text,
)
from studio.apis.job_types import JOB_TYPES, JobType
from studio.services.generations import SEED_MAX


@dataclass(frozen=True)
class Ref:
    source: str  # "inputs" or "steps"
    name: str  # input name, or the step number as text
    produces: str  # text, number, choice, boolean, image, vector, video, style

    @property
    def token(self) -> str:
        return (
            f"{{{{inputs.{self.name}}}}}"
            if self.source == "inputs"
            else (f"{{{{steps.{self.name}.output}}}}")
        )


INPUT_PRODUCES = {
    "text": "text",
    "long_text": "text",
    "number": "number",
    "seed": "number",
    "choice": "choice",
    "boolean": "boolean",
    "image": "image",
}
# What each kind of parameter accepts from a whole-value reference.
ACCEPTS = {
    "text": {"text", "number", "choice"},
    "number": {"number"},
    "choice": {"choice", "number"},
    "boolean": {"boolean"},
    "image": {"image"},
    "style": {"style"},
}


def field_kind(name: str, field: serializers.Field) -> str:
    if name in ("source", "references"):
        return "image"
    if name == "style_id":
        return "style"
    if isinstance(field, serializers.BooleanField):
        return "boolean"
    if isinstance(field, serializers.ChoiceField):
        return "choice"
    if isinstance(field, serializers.IntegerField | serializers.FloatField):
        return "number"
    return "text"


def described(produces: str) -> str:
    return {
        "text": "text",
        "number": "a number",
        "choice": "a choice",
        "boolean": "true/false",
        "image": "an image",
        "vector": "an SVG",
        "video": "a video",
        "style": "a style",
    }[produces]


class Scope:
    """What a step may refer to: the template's inputs, and the steps before it."""

    def __init__(self, inputs: list[dict], job_types: list[JobType | None]):
        self.inputs = {i["name"]: i for i in inputs if isinstance(i.get("name"), str)}
        self.job_types = job_types

    def parse(self, text: str, step_number: int) -> tuple[list[Ref], list[str]]:
        """The references in `text`, and what is wrong with them."""
        refs, problems = [], []
        for match in _REF.finditer(text):
            inner = match.group(1)
            by_input, by_step = _INPUT_REF.match(inner), _STEP_REF.match(inner)
            if by_input:
                name = by_input.group(1)
                if name not in self.inputs:
                    problems.append(f"{{{{inputs.{name}}}}}: there is no input called {name!r}.")
                    continue
                kind = self.inputs[name]["type"]
                refs.append(Ref("inputs", name, INPUT_PRODUCES.get(kind, "text")))
            elif by_step:
                number = int(by_step.group(1))
                if not 1 <= number < step_number:
                    problems.append(
                        f"{{{{steps.{number}.output}}}}: a step can only use the result of an "
                        f"earlier step (1 to {step_number - 1})."
                        if step_number > 1
                        else f"{{{{steps.{number}.output}}}}: the first step has no earlier "
                        "step to use."
                    )
                    continue
                job = self.job_types[number - 1] if number - 1 < len(self.job_types) else None
                refs.append(Ref("steps", str(number), job.produces if job else "image"))
            else:
                problems.append(
                    f"{{{{{inner[:60]}}}}} is not a reference: use {{{{inputs.<name>}}}} or "
                    "{{steps.<n>.output}}."
                )
        return refs, problems

    def samples(self, ref: Ref) -> list:
        """Values a reference may take, to check a step against without running it."""
        if ref.source == "steps":
            return [PLACEHOLDER_STYLE if ref.produces == "style" else PLACEHOLDER_IMAGE]
        definition = self.inputs[ref.name]
        kind, default = definition["type"], definition["default"]
        if kind == "image":
            return [PLACEHOLDER_IMAGE]
        if kind == "boolean":
            return [True, False]
        if kind == "choice":
            return list(definition["options"]) or [""]
        if kind == "seed":
            return [0, SEED_MAX]
        if kind == "number":
            values = [v for v in (definition["min"], definition["max"], default) if _number(v)]
            return values or [1]
        return [default if isinstance(default, str) and default else "sample text"]


def _whole(value: str) -> bool:
    match = _REF.fullmatch(value.strip())
    return match is not None


def steps_check(raw, inputs: list[dict], problems: Problems) -> list[dict]:
    """The steps, normalised, with every parameter checked against its job's rules."""
    if not isinstance(raw, list) or not raw:
        problems.add("steps", "A pipeline needs at least one step.")
        return []
    if len(raw) > MAX_STEPS:
        problems.add("steps", f"At most {MAX_STEPS} steps.")
        return []
    job_types: list[JobType | None] = []
    steps = []
    for number, item in enumerate(raw, start=1):
        where = f"steps.{number}"
        if not isinstance(item, dict):
            problems.add(where, "Must be an object with operation and params.")
            job_types.append(None)
            continue
        for key in sorted(set(item) - {"operation", "name", "params"}, key=str)[:5]:
            problems.add(f"{where}.{str(key)[:40]}", "Unknown field.")
        operation = item.get("operation")
        job = JOB_TYPES.get(operation) if isinstance(operation, str) else None
        job_types.append(job)
        if job is None:
            problems.add(f"{where}.operation", f"Must be one of: {', '.join(JOB_TYPES)}.")
        name = item.get("name") or ""
        if not _text(name, 80):
            problems.add(f"{where}.name", "At most 80 characters of text.")
        params = item.get("params", {})
        if not isinstance(params, dict):
            problems.add(f"{where}.params", "Must be an object of parameters.")
            params = {}
        steps.append({"operation": operation, "name": name, "params": params})
    scope = Scope(inputs, job_types)
    for number, (step, job) in enumerate(zip(steps, job_types, strict=True), start=1):
        if job is not None:
            _step_check(step["params"], job, scope, number, problems)
    return steps


def _step_check(params: dict, job: JobType, scope: Scope, number: int, problems: Problems):
    where = f"steps.{number}"
    if len(params) > MAX_PARAMS:
        problems.add(f"{where}.params", f"At most {MAX_PARAMS} parameters.")
        return
    fields = {name: field for name, field in job.serializer().fields.items() if not field.read_only}
    sample, varying, ok = {}, {}, True
    for key, value in params.items():
        key_text = str(key)[:40]
        if key in RUN_TIME_PARAMS:
            problems.add(f"{where}.{key_text}", "Set when the template runs, not in the template.")
            ok = False
            continue
        if key not in fields:
            problems.add(
                f"{where}.{key_text}",
                f"{job.name} has no parameter {key_text!r} (it has: "
                f"{', '.join(n for n in fields if n not in RUN_TIME_PARAMS)}).",
            )
            ok = False
            continue
        kind = field_kind(key, fields[key])
        checked = _value_check(value, kind, scope, number, f"{where}.{key}", problems)
        if checked is None:
            ok = False
            continue
        sample[key] = checked[0]
        if len(checked) > 1:
            varying[key] = checked
    if not ok:
        return
    # The job's own rules (ranges, required fields, choices), as its endpoint applies them:
    # once with the first sample of everything, then with every other value each reference
    # to an input may take (a number input's min and max, each option of a choice).
    trials = [sample] + [
        {**sample, key: value} for key, values in varying.items() for value in values[1:]
    ]
    for trial in trials:
        data = job.serializer(data=trial)
        if not data.is_valid():
            for field, messages in _flat(data.errors).items():
                for message in messages:
                    problems.add(f"{where}.{field}", message)
            return


def _value_check(value, kind: str, scope: Scope, number: int, where: str, problems: Problems):
    """The sample values of one parameter, or None when it is wrong (reported)."""
    if isinstance(value, list):
        if kind != "image" or not where.endswith(".references"):
            problems.add(where, "A list is only accepted for references.")
            return None
        if len(value) > MAX_LIST:
            problems.add(where, f"At most {MAX_LIST} items.")
            return None
        items = []
        for item in value:
            checked = _value_check(item, kind, scope, number, where, problems)
            if checked is None:
                return None
            items.append(checked[0])
        return [items]
    if isinstance(value, dict):
        problems.add(where, "Must be a value or a {{reference}}, not an object.")
        return None
    if isinstance(value, str) and len(value) > MAX_TEXT:
        problems.add(where, f"At most {MAX_TEXT} characters.")
        return None
    if not isinstance(value, str) or "{{" not in value:
        return [value]
    refs, wrong = scope.parse(value, number)
    for message in wrong:
        problems.add(where, message)
    if wrong:
        return None
    if _whole(value) and len(refs) == 1:
        ref = refs[0]
        if ref.produces not in ACCEPTS[kind]:
            problems.add(
                where,
                f"Needs {described({'style': 'style', 'image': 'image'}.get(kind, kind))}; "
                f"{ref.token} is {described(ref.produces)}.",
            )
            return None
        return scope.samples(ref)
    # Text with references in it: only where text goes, and only text-like values.
    if kind != "text":
        problems.add(where, f"Needs {described(kind)}: use one {{{{reference}}}} on its own.")
        return None
    for ref in refs:
        if ref.produces not in ACCEPTS["text"]:
            problems.add(where, f"{ref.token} is {described(ref.produces)}: it cannot go in text.")
            return None
    text = value
    for ref in refs:
        text = _REF.sub(lambda m, r=ref: str(scope.samples(r)[0]), text, count=1)
    return [text]


def _flat(errors) -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for field, messages in errors.items():
        if isinstance(messages, dict):  # a list field's per-item errors
            flat[field] = [str(m) for value in messages.values() for m in value]
        elif field == "non_field_errors":
            flat.setdefault("params", []).extend(str(m) for m in messages)
        else:
            flat[field] = [str(m) for m in messages]
    return flat


def resolve_value(value, inputs: dict, outputs: dict[int, str], scope: Scope | None = None):
    """A parameter with its references replaced: a whole reference keeps its value's type."""
    if isinstance(value, list):
        return [resolve_value(v, inputs, outputs, scope) for v in value]
    if not isinstance(value, str) or "{{" not in value:
        return value

    def lookup(inner: str):
        by_input, by_step = _INPUT_REF.match(inner), _STEP_REF.match(inner)
        if by_input:
            return inputs.get(by_input.group(1))
        if by_step:
            return outputs.get(int(by_step.group(1)))
        return None

    if _whole(value):
        return lookup(_REF.fullmatch(value.strip()).group(1))
    return _REF.sub(lambda m: "" if lookup(m.group(1)) is None else str(lookup(m.group(1))), value)


def params_resolve(params: dict, inputs: dict, outputs: dict[int, str]) -> dict:
    """A step's parameters for a run; missing values (an optional input left empty) are left
    out, so the job's default applies."""
    resolved = {}
    for key, value in params.items():
        filled = resolve_value(value, inputs, outputs)
        if filled is None or (isinstance(value, str) and "{{" in value and filled == ""):
            continue
        resolved[key] = filled
    return resolved


def placeholder_outputs(steps: list[dict]) -> dict[int, str]:
    """Stand-ins for the results of steps that have not run (to price a run ahead)."""
    return {
        number: PLACEHOLDER_STYLE
        if JOB_TYPES[step["operation"]].produces == "style"
        else (PLACEHOLDER_IMAGE)
        for number, step in enumerate(steps, start=1)
    }


def job_spec(job: JobType, params: dict, where: str) -> dict:
    """Validate resolved parameters as the job's endpoint does; its spec."""
    data = job.serializer(data=params)
    if not data.is_valid():
        raise DocumentInvalid(
            {f"{where}.{field}": messages for field, messages in _flat(data.errors).items()}
        )
    return job.spec(data.validated_data)
