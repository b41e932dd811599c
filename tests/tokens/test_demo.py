import pytest

from accounts.services import demo_user_get
from tokens.audit import ledger_audit
from tokens.services import hold_capture, hold_create

pytestmark = pytest.mark.django_db


def test_demo_account_starts_with_1000_credits():
    account = demo_user_get().token_account
    assert (account.balance, account.held, account.available) == (1000, 0, 1000)


def test_demo_account_is_refilled_to_1000_when_use_takes_it_below_100():
    account = demo_user_get().token_account
    hold_capture(hold=hold_create(account=account, amount=850))
    account.refresh_from_db()
    assert account.available == 150  # not low yet: no refill
    hold_capture(hold=hold_create(account=account, amount=60))
    account.refresh_from_db()
    assert account.available == 1000
    refill = account.entries.filter(memo="Automatic refill").get()
    assert refill.amount == 1000 - 90
    assert ledger_audit() == []


def test_demo_account_refills_instead_of_refusing_a_request_it_cannot_cover():
    account = demo_user_get().token_account
    hold_capture(hold=hold_create(account=account, amount=950))
    account.refresh_from_db()
    assert account.available == 1000  # 50 left was below 100: refilled on that use
    hold = hold_create(account=account, amount=80)
    assert hold.amount == 80


def test_an_ordinary_account_is_never_refilled():
    from tests.factories import UserFactory

    account = UserFactory(credits=100).token_account
    hold_capture(hold=hold_create(account=account, amount=95))
    account.refresh_from_db()
    assert account.available == 5
    assert not account.entries.filter(memo="Automatic refill").exists()
