"""Teams in a real browser: an owner creates an organization and invites a colleague; the
colleague opens the link, joins, switches workspace in the header and generates; the
organization's ledger shows the charge under that member, and their own credits are untouched."""

import re

from playwright.sync_api import expect

from organizations.models import Membership, Organization, Role
from organizations.services import account_for_organization
from studio.models import Asset, Generation
from tests.browser.support import BROWSER, PHONE, check_page, screenshot, set_theme, sign_in
from tests.factories import PASSWORD, UserFactory
from tokens.audit import ledger_audit
from tokens.services import tokens_grant

pytestmark = BROWSER


def test_create_invite_accept_switch_generate_and_the_ledger_names_the_member(page, new_page, site):
    owner = UserFactory(name="Olive", credits=50)
    colleague = UserFactory(name="Max", email="max@example.com", credits=50)

    # The owner creates the organization from the header's workspace menu.
    sign_in(page, site, owner)
    page.locator(".workspace-menu > summary").click()
    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name").fill("Studio North")
    check_page(page)
    page.get_by_role("button", name="Create organization").click()
    page.wait_for_url(re.compile(r".*/organizations/studio-north/$"))
    organization = Organization.objects.get(slug="studio-north")
    expect(page.locator("[data-workspace-name]")).to_have_text("Studio North")
    tokens_grant(account=account_for_organization(organization=organization), amount=40)

    # …invites the colleague and gets the link to send them.
    page.get_by_label("Email").fill("max@example.com")
    page.get_by_role("button", name="Create invitation").click()
    link = page.locator("#invite-link").inner_text()
    assert "/invitations/" in link
    expect(page.locator("[data-invitation='max@example.com']")).to_be_visible()
    check_page(page)
    screenshot(page, "organization-settings-invited")

    # The colleague opens the link, is asked to sign in, and joins.
    theirs = new_page()
    theirs.goto(link)
    expect(theirs.get_by_role("heading", name="Join Studio North")).to_be_visible()
    check_page(theirs)
    theirs.locator("#main").get_by_role("link", name="Sign in").click()
    theirs.get_by_label("Email").fill(colleague.email)
    theirs.get_by_label("Password").fill(PASSWORD)
    theirs.get_by_role("button", name="Sign in").click()
    theirs.wait_for_url(re.compile(r".*/invitations/.+/$"))
    screenshot(theirs, "invitation")
    theirs.get_by_role("button", name="Join Studio North").click()
    theirs.wait_for_url(re.compile(r".*/organizations/studio-north/$"))
    assert Membership.objects.get(organization=organization, user=colleague).role == Role.MEMBER

    # They go to their own workspace, then switch to the organization in the header.
    theirs.goto(site.url("/studio/"))
    switch(theirs, "Personal")
    expect(theirs.locator("[data-credits-value]")).to_have_text("50")
    switch(theirs, "Studio North")
    expect(theirs.locator("[data-workspace-name]")).to_have_text("Studio North")
    expect(theirs.locator("[data-credits-value]")).to_have_text("40")
    theirs.get_by_label("Prompt", exact=True).fill("A red kite over the dunes")
    theirs.get_by_role("button", name="Generate").click()
    card = theirs.locator("[data-job]").first
    card.locator("img").first.wait_for()
    generation = Generation.objects.get(user=colleague)
    assert generation.organization == organization and generation.status == "completed"
    expect(theirs.locator("[data-workspace-note]")).to_contain_text("Studio North")
    # The header and the form's figure are the organization's credits, after the charge too.
    expect(theirs.locator("[data-credits-value]")).to_have_text(str(40 - generation.cost))
    screenshot(theirs, "studio-in-organization")

    # Its result is the organization's: in its assets, not in the member's own.
    theirs.goto(site.url("/assets/"))
    output = Asset.objects.get(generation=generation)
    expect(theirs.locator(f'[data-asset="{output.pk}"]')).to_be_visible()
    expect(theirs.locator("[data-workspace-note]")).to_contain_text("Studio North")
    check_page(theirs)
    screenshot(theirs, "assets-in-organization")

    # The organization's page shows the charge under the member who spent it.
    theirs.goto(site.url("/organizations/studio-north/"))
    capture = theirs.locator("tr[data-kind=capture]")
    expect(capture.locator("td.member")).to_have_text("Max")
    expect(capture.locator("[data-amount]")).to_have_attribute("data-amount", str(-generation.cost))
    colleague.token_account.refresh_from_db()
    assert colleague.token_account.balance == 50
    check_page(theirs)
    screenshot(theirs, "organization-settings-member")

    # The owner sees the spending by member, on desktop and phone, light and dark.
    page.reload()
    expect(page.locator(".bars li")).to_have_count(1)
    expect(page.locator(".bars li")).to_contain_text("Max")
    screenshot(page, "organization-settings-owner")
    set_theme(page, "dark")
    check_page(page)
    screenshot(page, "organization-settings-owner")
    phone = new_page(viewport=PHONE)
    sign_in(phone, site, owner)
    phone.goto(site.url("/organizations/studio-north/"))
    check_page(phone)
    screenshot(phone, "organization-settings-owner")
    assert ledger_audit() == []


def switch(page, name: str) -> None:
    page.locator(".workspace-menu > summary").click()
    page.locator(".workspace-menu").get_by_role("button", name=name).click()
    page.wait_for_load_state()
