"""A template as a document: its typed inputs and its steps, checked whole before anything is
saved, and resolved into job specs when it runs.

Errors are collected, not raised one by one, and keyed by where they are: `name`,
`inputs.2.min`, `steps.3.source` (inputs and steps are numbered from 1, as people count
them and as references name steps: `{{steps.1.output}}` is the first step's result).
"""

from pipelines.spec.base import (
    INPUT_TYPES,
    MAX_INPUTS,
    MAX_LIST,
    MAX_OPTIONS,
    MAX_PARAMS,
    MAX_STEPS,
    MAX_TAGS,
    MAX_TEXT,
    PLACEHOLDER_IMAGE,
    PLACEHOLDER_STYLE,
    RUN_TIME_PARAMS,
    TEXT_LIMIT,
    DocumentInvalid,
    Problems,
    text_problem,
)
from pipelines.spec.document import (
    DOCUMENT_FIELDS,
    EXPORT_FORMAT,
    EXPORT_VERSION,
    document_check,
    document_shape_check,
)
from pipelines.spec.inputs import inputs_check, inputs_resolve, value_problem
from pipelines.spec.steps import (
    ACCEPTS,
    INPUT_PRODUCES,
    Ref,
    Scope,
    described,
    field_kind,
    job_spec,
    params_resolve,
    placeholder_outputs,
    resolve_value,
    steps_check,
)

__all__ = [
    "ACCEPTS",
    "DOCUMENT_FIELDS",
    "EXPORT_FORMAT",
    "EXPORT_VERSION",
    "INPUT_PRODUCES",
    "INPUT_TYPES",
    "MAX_INPUTS",
    "MAX_LIST",
    "MAX_OPTIONS",
    "MAX_PARAMS",
    "MAX_STEPS",
    "MAX_TAGS",
    "MAX_TEXT",
    "PLACEHOLDER_IMAGE",
    "PLACEHOLDER_STYLE",
    "RUN_TIME_PARAMS",
    "TEXT_LIMIT",
    "DocumentInvalid",
    "Problems",
    "Ref",
    "Scope",
    "described",
    "document_check",
    "document_shape_check",
    "field_kind",
    "inputs_check",
    "inputs_resolve",
    "job_spec",
    "params_resolve",
    "placeholder_outputs",
    "resolve_value",
    "steps_check",
    "text_problem",
    "value_problem",
]
