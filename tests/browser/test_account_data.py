"""The account page's "Download your data" and "Delete account" in a real browser: an export
prepared by the site's worker, followed on the page until its link shows, downloaded as a ZIP
(from SeaweedFS) that holds the picture made before; then the account deleted through the
confirmation dialog with the password, after which that password signs nobody in. Screenshots
at desktop and phone width."""

import re
import zipfile

from playwright.sync_api import expect

from accounts.models import User
from tests.browser.support import (
    BROWSER,
    PHONE,
    check_page,
    horizontal_overflow,
    make,
    screenshot,
    sign_in,
    sign_in_refused,
)
from tests.factories import PASSWORD, UserFactory
from tokens.audit import ledger_audit

pytestmark = BROWSER


def test_a_person_downloads_their_data_then_deletes_their_account(new_page, site, watch):
    user = UserFactory(credits=50)
    (made,) = make(site, user, {"prompt": "A paper boat on a pond"})
    page = new_page()
    sign_in(page, site, user)
    page.goto(site.url("/account/"))
    section = page.locator("#data-export")
    expect(section.get_by_text("No export yet")).to_be_visible()

    section.get_by_role("button", name="Prepare a download").click()
    expect(section.get_by_text("Your data is ready")).to_be_visible(timeout=60_000)
    expect(section.get_by_text("The link works until")).to_be_visible()
    expect(section.get_by_role("button", name="Prepare a new download")).to_be_enabled()
    assert horizontal_overflow(page) == 0
    check_page(page)
    screenshot(page, "account-data")
    with page.expect_download() as download:
        section.get_by_role("link", name="Download ZIP").click()
    name = download.value.suggested_filename
    assert re.fullmatch(r"craftframe-export-\d{4}-\d\d-\d\d\.zip", name), name
    archive = zipfile.ZipFile(download.value.path())
    assert "craftframe-data.json" in archive.namelist()
    assert any(name.startswith(f"generations/{made}-1.") for name in archive.namelist())

    phone = new_page(viewport=PHONE, color_scheme="dark")
    sign_in(phone, site, user)
    phone.goto(site.url("/account/"))
    expect(phone.locator("#data-export").get_by_text("Your data is ready")).to_be_visible()
    assert horizontal_overflow(phone) == 0
    check_page(phone)
    screenshot(phone, "account-data")

    page.get_by_role("button", name="Delete my account…").click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Your password")).to_be_focused()
    check_page(page)
    screenshot(page, "account-delete-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    assert User.objects.get(pk=user.pk).is_active  # cancelling deletes nothing

    watch.expect(400, r"/account/$")
    page.get_by_role("button", name="Delete my account…").click()
    dialog.get_by_label("Your password").fill("not-my-Password-1")
    dialog.get_by_role("button", name="Delete my account").click()
    expect(page.locator("#delete-account-error")).to_have_text("Password is incorrect")
    assert User.objects.get(pk=user.pk).is_active

    page.get_by_role("button", name="Delete my account…").click()
    dialog.get_by_label("Your password").fill(PASSWORD)
    dialog.get_by_label("Your password").press("Enter")
    page.wait_for_url(site.url("/"))
    expect(page.get_by_text("Your account and everything in it were deleted")).to_be_visible()
    gone = User.objects.get(pk=user.pk)
    assert not gone.is_active and gone.email != user.email
    assert ledger_audit() == []

    # The phone's session ended with the account; the old password signs nobody in.
    phone.goto(site.url("/account/"))
    phone.wait_for_url(re.compile(r".*/login/\?next=/account/$"))
    sign_in_refused(phone, watch, user.email, PASSWORD)
