"""The template and execution endpoints of the bad-input matrix (support.WITH_BODY and
AUTHENTICATED). Ids in the paths name nothing: a body is checked before anything is looked
up, so each broken field is still a 400."""

from tests.core.bad_input.support import Endpoint

TEMPLATE = "tpl_000000000000000000000000"
DOCUMENT = {
    "name": "Cut-out",
    "description": "Draw, then cut out",
    "visibility": "private",
    "inputs": [{"name": "subject", "type": "text", "default": "a kite"}],
    "steps": [
        {"operation": "generate-image", "params": {"prompt": "{{inputs.subject}}"}},
        {"operation": "remove-background", "params": {"source": "{{steps.1.output}}"}},
    ],
}

TEMPLATE_CREATE = Endpoint(
    "POST",
    "templates",
    "user",
    DOCUMENT,
    strings=("name", "description", "visibility"),
    required=("name", "steps"),
)

TEMPLATE_UPDATE = Endpoint(
    "PATCH",
    f"templates/{TEMPLATE}",
    "user",
    {"name": "Renamed", "description": "Still cuts out"},
    strings=("name", "description"),
)

TEMPLATE_IMPORT = Endpoint(
    "POST",
    "templates/import",
    "user",
    {"format": "craftframe.template", "version": 1, **DOCUMENT},
    strings=("name", "description", "format"),
    required=("name", "steps"),
)

PIPELINE_CREATE = Endpoint(
    "POST",
    f"templates/{TEMPLATE}/pipelines",
    "user",
    {"name": "Second", "steps": DOCUMENT["steps"]},
    strings=("name",),
    required=("steps",),
)

PIPELINE_UPDATE = Endpoint(
    "PATCH",
    "pipelines/pip_000000000000000000000000",
    "user",
    {"name": "Renamed"},
    strings=("name",),
)

TEMPLATE_COST = Endpoint(
    "POST",
    f"templates/{TEMPLATE}/cost",
    "user",
    {"inputs": {"subject": "a kite"}, "pipeline": None},
    strings=("pipeline",),
    required=("inputs",),
    nullable=("pipeline",),
)

TEMPLATE_EXECUTE = Endpoint(
    "POST",
    f"templates/{TEMPLATE}/execute",
    "user",
    {"inputs": {"subject": "a kite"}, "pipeline": None, "project": None, "organization": None},
    strings=("pipeline", "project", "organization"),
    required=("inputs",),
    nullable=("pipeline", "project", "organization"),
)

TEMPLATE_RATE = Endpoint(
    "POST",
    f"templates/{TEMPLATE}/rating",
    "user",
    {"score": 4},
    integers=("score",),
    required=("score",),
)

EXECUTION = "exe_000000000000000000000000"
EXECUTIONS = Endpoint("GET", "users/executions", "user", {})
USAGE = Endpoint("GET", "users/usage", "user", {})
EXECUTION_GET = Endpoint("GET", f"executions/{EXECUTION}", "user", {})
EXECUTION_EVENTS = Endpoint("GET", f"executions/{EXECUTION}/events", "user", {})
EXECUTION_LOGS = Endpoint("GET", f"executions/{EXECUTION}/logs", "user", {})
EXECUTION_CANCEL = Endpoint("POST", f"executions/{EXECUTION}/cancel", "user", {})
EXECUTION_RETRY = Endpoint("POST", f"executions/{EXECUTION}/retry", "user", {})

PIPELINES_WITH_BODY = [
    TEMPLATE_CREATE,
    TEMPLATE_UPDATE,
    TEMPLATE_IMPORT,
    PIPELINE_CREATE,
    PIPELINE_UPDATE,
    TEMPLATE_COST,
    TEMPLATE_EXECUTE,
    TEMPLATE_RATE,
]

PIPELINES_AUTHENTICATED = [
    *PIPELINES_WITH_BODY,
    EXECUTIONS,
    USAGE,
    EXECUTION_GET,
    EXECUTION_EVENTS,
    EXECUTION_LOGS,
    EXECUTION_CANCEL,
    EXECUTION_RETRY,
]
