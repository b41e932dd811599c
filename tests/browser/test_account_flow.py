"""The account page in a real browser: a webhook (secret shown once, deliveries logged,
redelivered), a password change after which the old one no longer signs in, signing out;
and the landing, sign-in and account pages at desktop and phone width, light and dark."""

import re
import time

import pytest
from playwright.sync_api import expect

from studio.models import WebhookDelivery
from studio.services.samples import SAMPLES, samples_ensure
from studio.services.webhooks import verify
from tests.browser.support import (
    BROWSER,
    DESKTOP,
    PHONE,
    check_page,
    horizontal_overflow,
    screenshot,
    sign_in,
    sign_in_refused,
)
from tests.factories import PASSWORD, UserFactory
from tests.studio.webhooks.support import receiver  # noqa: F401 (a fixture)

pytestmark = BROWSER


def reload_until(page, locator, timeout: float = 60) -> None:
    """Reload until `locator` shows: the worker (another process) delivers on its own time."""
    deadline = time.monotonic() + timeout
    while not locator.is_visible():
        assert time.monotonic() < deadline, f"{locator} never appeared"
        page.wait_for_timeout(250)  # a person pressing reload, not test synchronisation
        page.reload()


def test_a_webhook_is_created_delivered_logged_and_redelivered(page, site, receiver):  # noqa: F811
    user = UserFactory(credits=50)
    sign_in(page, site, user)
    page.goto(site.url("/account/"))
    expect(page.get_by_text("No webhooks yet")).to_be_visible()
    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_role("button", name="Add webhook").click()
    dialog = page.get_by_role("dialog", name="Webhook added")
    expect(dialog).to_be_visible()
    secret = dialog.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    check_page(page)
    dialog.get_by_role("button", name="I have saved it").click()
    page.wait_for_load_state("networkidle")
    expect(page.get_by_text(receiver.url)).to_be_visible()
    expect(page.get_by_text("No deliveries yet")).to_be_visible()
    assert secret not in page.content()  # shown once, never again

    page.goto(site.url("/studio/"))
    page.get_by_label("Prompt", exact=True).fill("A paper boat on a pond")
    page.get_by_role("button", name="Generate").click()
    expect(page.locator("[data-job]").first).to_have_attribute("data-status", "completed")

    page.goto(site.url("/account/"))
    reload_until(page, page.get_by_text("HTTP 200"))
    row = page.get_by_role("row").filter(has_text="generation.completed")
    expect(row).to_contain_text("delivered")
    (request,) = receiver.requests
    assert verify(secret, request.headers, request.body)

    row.get_by_role("button", name="Redeliver").click()
    expect(page.get_by_text("Sent again")).to_be_visible()
    page.reload()
    reload_until(page, page.get_by_text("HTTP 200").nth(1))
    assert len(receiver.requests) == 2
    assert receiver.requests[1].body == receiver.requests[0].body
    assert WebhookDelivery.objects.filter(webhook__user=user).count() == 2
    screenshot(page, "account-webhooks")


def test_after_a_password_change_the_old_password_is_refused(page, site, watch):
    user = UserFactory()
    sign_in(page, site, user)
    page.goto(site.url("/account/"))
    page.get_by_label("Current password").fill(PASSWORD)
    page.get_by_label("New password").fill("brand-New-Secret-9")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Password changed.")).to_be_visible()

    page.locator("details.user-menu > summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(site.url("/"))
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    page.goto(site.url("/studio/"))
    page.wait_for_url(re.compile(r".*/login/\?next=/studio/$"))

    sign_in_refused(page, watch, user.email, PASSWORD)
    sign_in(page, site, user, password="brand-New-Secret-9")


def test_a_wrong_current_password_is_shown_next_to_the_field(page, site, watch):
    user = UserFactory()
    sign_in(page, site, user)
    page.goto(site.url("/account/"))
    watch.expect(400, r"/account/$")
    page.get_by_label("Current password").fill("not-my-Password-1")
    page.get_by_label("New password").fill("brand-New-Secret-9")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#id_current_password_error")).to_have_text("Current password is incorrect")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_public_and_account_pages_look_right(new_page, site, s3_storage, viewport, scheme):
    samples_ensure()  # the landing's sample gallery, drawn into the site's bucket
    page = new_page(viewport=viewport, color_scheme=scheme)
    page.goto(site.url("/"))
    expect(page.locator(".samples img")).to_have_count(len(SAMPLES))
    for img in page.locator(".samples img").all():
        img.scroll_into_view_if_needed()
        expect(img).to_have_js_property("complete", True)
        assert img.evaluate("i => i.naturalWidth") == 512  # the thumbnail, not the original
    for path, name in (("/", "landing"), ("/login/", "login"), ("/register/", "register")):
        page.goto(site.url(path))
        assert horizontal_overflow(page) == 0, path
        check_page(page)
        screenshot(page, name)
    sign_in(page, site, UserFactory())
    for path, name in (("/account/", "account"), ("/logout/", "logout")):
        page.goto(site.url(path))
        assert horizontal_overflow(page) == 0, path
        check_page(page)
        screenshot(page, name)
