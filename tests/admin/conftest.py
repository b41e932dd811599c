"""Fixtures of the admin tests: a staff member and their browser session; a member of the
"Support" group at their desk, and the customer who wrote in."""

import pytest
from django.contrib.auth.models import Group

from tests.factories import UserFactory, staff_user


@pytest.fixture
def staff():
    return staff_user(email="support@example.com")


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture
def support_studio(instant_studio, settings):
    """Jobs that run in the test: the instant provider, and the local background remover."""
    settings.OPERATION_PROVIDERS = {"background_removal": ["local"]}


@pytest.fixture
def member():
    user = UserFactory(email="helpdesk@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name="Support"))
    return user


@pytest.fixture
def desk(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def customer():
    return UserFactory(email="customer@example.com", credits=100)
