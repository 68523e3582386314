"""axe-core's accessibility check, run inside a Playwright page.

axe-core is npm's `axe-core`, pinned in package.json and installed into node_modules by
`make install` (`npm ci`). Its source is run with `page.evaluate`, which the pages'
Content-Security-Policy does not govern (a `<script>` tag added to the page would be refused:
the policy allows scripts from 'self' only), so the pages are checked exactly as served.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from playwright.sync_api import Page

AXE_SOURCE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

# Only the violations come back (axe skips collecting passes and incomplete results: faster).
_RUN = """async () => {
    const results = await window.axe.run(document, {resultTypes: ["violations"]});
    return results.violations.map((violation) => ({
        rule: violation.id,
        impact: violation.impact || "",
        help: violation.help,
        nodes: violation.nodes.map((node) => ({
            target: node.target.map((part) => Array.isArray(part) ? part.join(" >>> ") : String(part)).join(" "),
            html: node.html.slice(0, 160),
        })),
    }));
}"""


@dataclass(frozen=True)
class Node:
    target: str  # a CSS selector axe built for the element
    html: str  # the element's opening markup, cut at 160 characters


@dataclass(frozen=True)
class Violation:
    rule: str  # axe's rule id, e.g. "color-contrast"
    impact: str  # minor, moderate, serious or critical
    help: str
    nodes: tuple[Node, ...]

    def describe(self) -> str:
        first = self.nodes[0].target if self.nodes else "?"
        more = f" (+{len(self.nodes) - 1} more)" if len(self.nodes) > 1 else ""
        return f"{self.rule} [{self.impact}] {self.help}: {first}{more}"


@cache
def axe_source() -> str:
    if not AXE_SOURCE.exists():
        raise AssertionError(f"{AXE_SOURCE} is missing: run `make install` (it runs `npm ci`)")
    return AXE_SOURCE.read_text(encoding="utf-8")


def axe_violations(page: Page) -> list[Violation]:
    """What axe-core finds wrong on the page as it stands (its default rules: WCAG 2.x A and AA
    and best practices)."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    return [
        Violation(
            rule=item["rule"],
            impact=item["impact"],
            help=item["help"],
            nodes=tuple(Node(target=node["target"], html=node["html"]) for node in item["nodes"]),
        )
        for item in found
    ]


def explain(where: str, violations: list[Violation]) -> str:
    """A readable assertion message: one line per rule, with the first element it flagged."""
    lines = [f"axe-core: {len(violations)} rule(s) violated on {where}:"]
    lines += [f"  - {violation.describe()}" for violation in violations]
    return "\n".join(lines)


def assert_accessible(page: Page, where: str | None = None) -> None:
    violations = axe_violations(page)
    assert violations == [], explain(where or page.url, violations)
