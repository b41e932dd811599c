"""Saving a template checks everything first: each mistake is a 400 INVALID_REQUEST whose
details name the step (or input) and field, and nothing of a refused template is saved."""

import pytest

from pipelines.models import GlobalInput, Pipeline, Step, Template
from tests.conftest import assert_error
from tests.pipelines.support import BASE, create, two_steps

pytestmark = pytest.mark.django_db


def refused(api, document, *fields: str) -> dict:
    before = (Template.objects.count(), GlobalInput.objects.count(), Step.objects.count())
    response = api.post(f"{BASE}/templates", document, format="json")
    body = assert_error(response, 400, "INVALID_REQUEST")
    for field in fields:
        assert field in body["details"], body["details"]
    after = (Template.objects.count(), GlobalInput.objects.count(), Step.objects.count())
    assert after == before  # never saved half
    return body["details"]


def with_steps(*steps, inputs=None) -> dict:
    return two_steps(steps=list(steps), **({"inputs": inputs} if inputs is not None else {}))


def test_a_valid_template_is_saved_with_its_inputs_and_steps(user_api, user):
    body = create(user_api, two_steps())
    assert body["version"] == 1 and body["mine"] is True
    assert [i["name"] for i in body["inputs"]] == ["subject"]
    assert body["inputs"][0] == {
        "name": "subject",
        "label": "",
        "type": "text",
        "required": True,
        "default": "a red kite",
        "help": "",
        "options": [],
        "min": None,
        "max": None,
        "step": None,
    }
    assert [(s["number"], s["operation"]) for s in body["steps"]] == [
        (1, "generate-image"),
        (2, "remove-background"),
    ]
    template = Template.objects.get(pk=body["id"])
    assert template.owner == user and Pipeline.objects.filter(template=template).count() == 1


def test_an_unknown_operation_names_the_step(user_api):
    details = refused(
        user_api,
        with_steps({"operation": "teleport", "params": {}}),
        "steps.1.operation",
    )
    assert "generate-image" in details["steps.1.operation"][0]


def test_an_unknown_input_in_a_reference_names_step_and_field(user_api):
    details = refused(
        user_api,
        with_steps({"operation": "generate-image", "params": {"prompt": "{{inputs.colour}} cat"}}),
        "steps.1.prompt",
    )
    assert "colour" in details["steps.1.prompt"][0]


@pytest.mark.parametrize("target", [2, 3])
def test_a_reference_to_the_same_or_a_later_step_is_refused(user_api, target):
    details = refused(
        user_api,
        with_steps(
            {"operation": "generate-image", "params": {"prompt": "a kite"}},
            {"operation": "upscale", "params": {"source": f"{{{{steps.{target}.output}}}}"}},
            {"operation": "vectorize", "params": {"source": "{{steps.2.output}}"}},
        ),
        "steps.2.source",
    )
    assert "earlier step" in details["steps.2.source"][0]


def test_the_first_step_cannot_use_a_step_output(user_api):
    refused(
        user_api,
        with_steps({"operation": "upscale", "params": {"source": "{{steps.1.output}}"}}),
        "steps.1.source",
    )


def test_text_where_an_image_is_needed_is_a_type_error(user_api):
    details = refused(
        user_api,
        with_steps(
            {"operation": "remove-background", "params": {"source": "{{inputs.subject}}"}},
        ),
        "steps.1.source",
    )
    assert details["steps.1.source"] == ["Needs an image; {{inputs.subject}} is text."]


def test_an_svg_step_output_is_not_a_source_for_a_raster_operation(user_api):
    details = refused(
        user_api,
        with_steps(
            {"operation": "generate-vector", "params": {"prompt": "a kite"}},
            {"operation": "upscale", "params": {"source": "{{steps.1.output}}"}},
        ),
        "steps.2.source",
    )
    assert "an SVG" in details["steps.2.source"][0]


def test_an_image_in_text_is_refused(user_api):
    inputs = [{"name": "photo", "type": "image", "required": True}]
    refused(
        user_api,
        with_steps(
            {"operation": "generate-image", "params": {"prompt": "like {{inputs.photo}}"}},
            inputs=inputs,
        ),
        "steps.1.prompt",
    )


def test_a_literal_out_of_the_operations_range_names_the_field(user_api):
    details = refused(
        user_api,
        with_steps({"operation": "generate-image", "params": {"prompt": "a kite", "steps": 500}}),
        "steps.1.steps",
    )
    assert "50" in details["steps.1.steps"][0]


def test_a_number_input_whose_range_exceeds_the_operations_is_refused(user_api):
    inputs = [{"name": "count", "type": "number", "min": 1, "max": 8, "step": 1, "default": 1}]
    details = refused(
        user_api,
        with_steps(
            {
                "operation": "generate-image",
                "params": {"prompt": "a kite", "num_images": "{{inputs.count}}"},
            },
            inputs=inputs,
        ),
        "steps.1.num_images",
    )
    assert "4" in details["steps.1.num_images"][0]  # num_images is at most 4
    inputs[0]["max"] = 4
    create(
        user_api,
        with_steps(
            {
                "operation": "generate-image",
                "params": {"prompt": "a kite", "num_images": "{{inputs.count}}"},
            },
            inputs=inputs,
        ),
    )


def test_a_choice_input_with_an_option_the_operation_lacks_is_refused(user_api):
    inputs = [{"name": "look", "type": "choice", "options": ["anime", "watercolour"]}]
    refused(
        user_api,
        with_steps(
            {
                "operation": "generate-image",
                "params": {"prompt": "cat", "category": "{{inputs.look}}"},
            },
            inputs=inputs,
        ),
        "steps.1.category",
    )


def test_a_missing_required_parameter_is_named(user_api):
    details = refused(
        user_api, with_steps({"operation": "vectorize", "params": {}}), "steps.1.source"
    )
    assert details["steps.1.source"] == ["This field is required."]


def test_an_unknown_parameter_is_refused_not_ignored(user_api):
    refused(
        user_api,
        with_steps({"operation": "generate-image", "params": {"prompt": "a kite", "promt": "x"}}),
        "steps.1.promt",
    )


def test_the_project_is_chosen_at_run_time(user_api):
    refused(
        user_api,
        with_steps({"operation": "generate-image", "params": {"prompt": "a kite", "project": "x"}}),
        "steps.1.project",
    )


def test_several_mistakes_are_reported_together(user_api):
    details = refused(
        user_api,
        {
            "name": "",
            "inputs": [{"name": "Bad Name", "type": "colour"}],
            "steps": [
                {"operation": "generate-image", "params": {"prompt": "{{inputs.nope}}"}},
                {"operation": "upscale", "params": {"source": "{{steps.1.output}}", "scale": 3}},
            ],
        },
        "name",
        "inputs.1.name",
        "inputs.1.type",
        "steps.1.prompt",
        "steps.2.scale",
    )
    assert len(details) == 5


@pytest.mark.parametrize(
    "definition, field",
    [
        ({"name": "n", "type": "number", "min": 5, "max": 1}, "inputs.1.max"),
        ({"name": "n", "type": "number", "step": 0}, "inputs.1.step"),
        ({"name": "n", "type": "number", "min": 0, "max": 10, "default": 11}, "inputs.1.default"),
        ({"name": "n", "type": "number", "min": 0, "step": 5, "default": 7}, "inputs.1.default"),
        ({"name": "c", "type": "choice", "options": []}, "inputs.1.options"),
        ({"name": "c", "type": "choice", "options": ["a", "a"]}, "inputs.1.options"),
        ({"name": "c", "type": "choice", "options": ["a"], "default": "b"}, "inputs.1.default"),
        ({"name": "b", "type": "boolean", "default": "yes"}, "inputs.1.default"),
        ({"name": "s", "type": "seed", "default": -1}, "inputs.1.default"),
        ({"name": "i", "type": "image", "default": "ast_x"}, "inputs.1.default"),
        ({"name": "t", "type": "text", "min": 1}, "inputs.1.min"),
        ({"name": "t", "type": "text", "default": "x" * 501}, "inputs.1.default"),
        ({"name": "t", "type": "text", "colour": "red"}, "inputs.1.colour"),
    ],
)
def test_input_definitions_are_checked(user_api, definition, field):
    refused(user_api, two_steps(inputs=[definition, *two_steps()["inputs"]]), field)


def test_two_inputs_with_one_name_are_refused(user_api):
    same = {"name": "subject", "type": "text"}
    refused(user_api, two_steps(inputs=[same, same]), "inputs.2.name")


def test_a_refused_change_leaves_the_template_as_it_was(user_api):
    template = create(user_api, two_steps())
    response = user_api.patch(
        f"{BASE}/templates/{template['id']}",
        {"name": "Renamed"},
        format="json",
    )
    assert response.status_code == 200
    response = user_api.patch(
        f"{BASE}/templates/{template['id']}",
        {"name": "Again", "inputs": []},  # the steps still use {{inputs.subject}}
        format="json",
    )
    assert_error(response, 400, "INVALID_REQUEST", field="steps.1.prompt")
    unchanged = user_api.get(f"{BASE}/templates/{template['id']}").json()
    assert unchanged["name"] == "Renamed" and unchanged["version"] == 2
    assert [i["name"] for i in unchanged["inputs"]] == ["subject"]
