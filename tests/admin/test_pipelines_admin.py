"""Templates, executions and ratings in the admin: the pages load, executions are read-only,
and staff can cancel a running execution, which releases what is left of its hold."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from pipelines.models import Execution, Rating, Template
from pipelines.services.executions import execution_create
from pipelines.services.templates import template_rate
from tests.admin.support import change_url
from tests.factories import UserFactory
from tokens.audit import ledger_audit

pytestmark = pytest.mark.django_db


@pytest.fixture
def running():
    customer = UserFactory(email="runner@example.com", credits=40)
    logo = Template.objects.get(starter="logo-kit")
    execution, _ = execution_create(user=customer, template_id=logo.pk, inputs={"brand": "Acme"})
    template_rate(user=customer, template_id=Template.objects.get(starter="poster").pk, score=4)
    return customer, execution


@pytest.mark.parametrize("model", ["template", "pipeline", "execution", "rating"])
def test_every_pipelines_page_loads(staff_client, running, model):
    _, execution = running
    response = staff_client.get(reverse(f"admin:pipelines_{model}_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert {
        "template": "Logo kit",
        "pipeline": "Main",
        "execution": execution.pk,
        "rating": "runner@example.com",
    }[model] in html
    obj = {
        "template": Template.objects.get(starter="logo-kit"),
        "pipeline": Template.objects.get(starter="logo-kit").pipelines.first(),
        "execution": execution,
        "rating": Rating.objects.first(),
    }[model]
    change = staff_client.get(change_url(obj))
    assert change.status_code == 200
    if model == "execution":
        assert "12 / 0 / 0" in change.content.decode()  # held / charged / released


def test_staff_cancel_a_running_execution_and_its_credits_come_back(staff_client, running):
    customer, execution = running
    response = staff_client.post(
        reverse("admin:pipelines_execution_changelist"),
        {
            "action": "cancel",
            "post": "yes",
            "reason": "Stuck",
            ACTION_CHECKBOX_NAME: [execution.pk],
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "cancelled; what it held went back." in response.content.decode()
    assert Execution.objects.get(pk=execution.pk).status == "cancelled"
    customer.token_account.refresh_from_db()
    assert (customer.token_account.balance, customer.token_account.held) == (40, 0)
    assert ledger_audit() == []


def test_an_execution_cannot_be_edited_in_the_admin(staff_client, running):
    _, execution = running
    url = change_url(execution)
    response = staff_client.post(url, {"status": "completed"})
    assert response.status_code == 403
    assert Execution.objects.get(pk=execution.pk).status == "queued"
