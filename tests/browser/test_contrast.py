"""Text people must read meets WCAG AA contrast (4.5:1) on the page as drawn, colours computed by the browser."""

from __future__ import annotations

import pytest

from tests.browser.test_lead_and_teacher_journeys import morning  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

#: The contrast ratio of each element's text against the colour behind it (the nearest opaque background).
CONTRASTS = """(selector) => {
  const rgb = (s) => s.match(/[\\d.]+/g).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map((c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, c, i) => sum + c * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => { for (; el; el = el.parentElement) { const c = rgb(getComputedStyle(el).backgroundColor);
    if (c.length < 4 || c[3] === 1) { if (c.length === 3 || c[3] === 1) return c.slice(0, 3); } } return [255, 255, 255]; };
  return [...document.querySelectorAll(selector)].filter((el) => el.textContent.trim()).map((el) => {
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(behind(el));
    return [el.outerHTML.slice(0, 80), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}"""


def test_buttons_code_and_empty_marks_read_on_their_background(sign_in, live_server, morning):  # noqa: F811
    page = sign_in("alice")
    pupil = morning["Bennett"]
    found = []
    for path, selector in [
        ("/dashboard/", ".btn-outline-primary, .btn-outline-secondary, .btn-outline-danger, .btn-outline-success"),
        (f"/pupils/{pupil.pk}/", ".btn-outline-primary, .btn-outline-secondary, .btn-outline-danger, .mark-none"),
        ("/ladder/format/", "code"),
    ]:
        page.goto(f"{live_server.url}/school/{pupil.school.urn}{path}")
        contrasts = page.evaluate(CONTRASTS, selector)
        assert contrasts, f"nothing matched {selector} on {path}"
        found += [(path, html, round(ratio, 2)) for html, ratio in contrasts if ratio < 4.5]
    assert found == []
