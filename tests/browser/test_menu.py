"""The top menu, as someone reading it or moving through it by keyboard meets it."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

#: WCAG 2 relative luminance and contrast, worked out in the page from the colours it computed.
CONTRAST = """(el) => {
  const rgb = (c) => c.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
      .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  let bg = el, back = 'rgba(0, 0, 0, 0)';
  while (bg && (back = getComputedStyle(bg).backgroundColor) === 'rgba(0, 0, 0, 0)') bg = bg.parentElement;
  const [fr, fg, fb, fa = 1] = rgb(getComputedStyle(el).color), [br, bgg, bb] = rgb(back);
  const front = [fr * fa + br * (1 - fa), fg * fa + bgg * (1 - fa), fb * fa + bb * (1 - fa)];
  const [a, b] = [lum(front), lum([br, bgg, bb])].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}"""


def test_the_menu_reads_says_where_you_are_and_shows_keyboard_focus(live_server, sign_in, attendance_lead, school):
    page = sign_in(attendance_lead.username)
    page.goto(live_server.url + reverse("interventions:referrals", args=[school.urn]))

    menu = page.get_by_role("navigation", name="Main")
    current = menu.locator('[aria-current="page"]')
    assert current.all_inner_texts() == ["Lists"]  # referrals live under Lists
    for link in menu.locator(".nav-link").all():
        assert link.evaluate(CONTRAST) >= 4.5, link.inner_text()
    body_link = page.locator("main a").first
    assert body_link.evaluate(CONTRAST) >= 4.5

    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")  # the brand
    page.keyboard.press("Tab")  # Dashboard
    focused = page.locator(":focus")
    assert focused.inner_text() == "Dashboard"
    outline = focused.evaluate("el => [getComputedStyle(el).outlineStyle, getComputedStyle(el).outlineColor]")
    assert outline == ["solid", "rgb(255, 255, 255)"]
    screenshot(page, "menu-focus")


def test_on_a_narrow_screen_escape_closes_the_menu_and_goes_back_to_its_button(
    live_server, sign_in, attendance_lead, school
):
    page = sign_in(attendance_lead.username)
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(live_server.url + reverse("interventions:referrals", args=[school.urn]))
    toggler = page.get_by_role("button", name="Toggle navigation")
    toggler.focus()
    page.keyboard.press("Enter")
    menu = page.locator("#nav")
    expect(menu).to_have_class(re.compile(r"\bshow\b"))  # opened, its slide finished
    page.keyboard.press("Tab")
    page.keyboard.press("Escape")
    menu.get_by_role("link", name="Lists").wait_for(state="hidden")
    assert toggler.evaluate("el => el === document.activeElement")
    assert toggler.get_attribute("aria-expanded") == "false"
