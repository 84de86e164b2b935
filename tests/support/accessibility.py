"""Accessibility checks for browser tests: axe-core (WCAG 2.2 AA rules) and horizontal overflow.

axe-core comes with the ``axe-playwright-python`` package and is injected into the page under
test; nothing is fetched from the network.
"""

from __future__ import annotations

from axe_playwright_python.sync_playwright import Axe

# Violations of these impacts fail a test; "minor" ones are reported by axe but do not.
FAILING_IMPACTS = frozenset({"moderate", "serious", "critical"})
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]
# (width, height): a laptop and a phone.
VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}

_axe = Axe()


def violations(page) -> list[str]:
    """Each failing rule once: its id, impact, help text and the first offending elements."""
    results = _axe.run(
        page, options={"runOnly": {"type": "tag", "values": WCAG_TAGS},
                       "resultTypes": ["violations"]}
    )
    found = []
    for rule in results.response["violations"]:
        if rule.get("impact") in FAILING_IMPACTS:
            targets = [" ".join(map(str, node["target"])) for node in rule["nodes"][:3]]
            found.append(f"{rule['id']} ({rule['impact']}): {rule['help']} at {targets}")
    return found


def overflow(page) -> int:
    """How many CSS pixels the page is wider than the viewport (0 when nothing overflows)."""
    return int(page.evaluate(
        "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    ))


def assert_accessible(page, state: str) -> None:
    """No axe violation of moderate impact or above, and no horizontal scrolling."""
    found = violations(page)
    assert not found, f"{state} at {page.viewport_size}: " + "; ".join(found)
    wider = overflow(page)
    assert wider <= 0, (
        f"{state} at {page.viewport_size} is {wider}px wider than the screen: {wide_elements(page)}"
    )


def wide_elements(page) -> list[str]:
    """The first elements that reach past the right edge, to say where an overflow comes from."""
    return page.evaluate(
        """() => { const w = window.innerWidth; const out = [];
          for (const e of document.querySelectorAll('body *')) {
            const r = e.getBoundingClientRect();
            const where = `${e.tagName}.${e.className} right=${Math.round(r.right)}`;
            if (r.right > w + 1) out.push(where);
          }
          return out.slice(0, 8); }"""
    )
