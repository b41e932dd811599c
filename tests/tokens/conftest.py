import pytest
from django.conf import settings as django_settings

# The hold path has two implementations: single statements on PostgreSQL (tokens/pg.py) and
# the portable ORM one (SQLite, and PostgreSQL with TOKENS_SINGLE_STATEMENT off). Every ledger
# test runs against both where both exist.
_PATHS = (
    ["single-statement", "portable"]
    if django_settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    else ["portable"]
)


@pytest.fixture(autouse=True, params=_PATHS)
def ledger_path(request, settings):
    settings.TOKENS_SINGLE_STATEMENT = request.param == "single-statement"
    return request.param
