"""docs/RULES.md maps each business rule to the one function that holds it and the test that
specifies it. These stories keep the map true: a renamed function, a moved module or a deleted
test breaks a link, and the link breaks this test rather than misleading the next engineer.

A code link is written `src/simrenew/<path>.py:<name>` (`<name>` may be `Class.method`), a
test link `tests/<path>.py::<test>` (or `::<Class>::<test>`).
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "RULES.md"

CODE_LINK = re.compile(r"`(src/simrenew/[\w/]+\.py):([\w.]+)`")
TEST_LINK = re.compile(r"`(tests/[\w/]+\.py)::([\w:]+)`")

# The rules DESIGN.md names (section 4) and issue 14 asks the map to cover; each must be a
# heading of its own in RULES.md, so a rule cannot silently drop out of the map.
REQUIRED_RULES = (
    "Money",
    "Identifiers",
    "Time",
    "Period arithmetic",
    "Stacking",
    "Pricing",
    "Data left",
    "Status",
    "Cancellation",
    "Reminders",
    "Auto-renew schedule",
    "Failure codes",
    "Hard declines",
    "Suspension",
    "Termination",
    "Payments: the three steps",
    "Card numbers",
    "Sandbox gateway",
    "Reconciliation",
    "Refunds",
    "Idempotency",
    "Outbox",
    "Webhook order",
)
DECLINE_ROUTE = "## Route: a card decline to the customer's email"
KILLED_WORKER_ROUTE = "## Route: a worker killed at each step of a charge"
# Anything in backquotes that starts like a link: it must be a link (or a file that exists),
# so a typo such as `file.py::function` for code is caught rather than silently not checked.
LINK_LIKE = re.compile(r"`((?:src/simrenew|tests)/[^`]*)`")


def rules_text() -> str:
    return RULES.read_text(encoding="utf-8")


@cache
def defined_names(path: Path) -> frozenset[str]:
    """Every module-level function, class and assigned name in `path`, with `Class.member`
    for the members of its classes (methods, nested classes, class attributes)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()

    def targets(node: ast.stmt) -> list[str]:
        if isinstance(node, ast.Assign):
            return [t.id for t in node.targets if isinstance(t, ast.Name)]
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            return [node.target.id]
        return []

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                for member in node.body:
                    if isinstance(member, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                        names.add(f"{node.name}.{member.name}")
                    names.update(f"{node.name}.{name}" for name in targets(member))
        names.update(targets(node))
    return frozenset(names)


def route(heading: str) -> str:
    """The section under `heading`, up to the next `## ` heading."""
    text = rules_text()
    assert heading in text, f"RULES.md has no section '{heading}'"
    return text[text.index(heading) :].split("\n## ", 1)[0]


def linked_code() -> list[tuple[str, str]]:
    return sorted(set(CODE_LINK.findall(rules_text())))


def linked_tests() -> list[tuple[str, str]]:
    return sorted(set(TEST_LINK.findall(rules_text())))


def test_the_map_links_code_and_tests() -> None:
    assert len(linked_code()) >= len(REQUIRED_RULES), "RULES.md should link the code of every rule"
    assert len(linked_tests()) >= len(REQUIRED_RULES), "RULES.md should link the test of every rule"


@pytest.mark.parametrize(("path", "name"), linked_code())
def test_every_linked_function_exists(path: str, name: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"RULES.md links {path}, which does not exist"
    assert name in defined_names(source), f"RULES.md links {path}:{name}, which is not defined there"


@pytest.mark.parametrize(("path", "name"), linked_tests())
def test_every_linked_test_exists(path: str, name: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"RULES.md links {path}, which does not exist"
    dotted = name.replace("::", ".")
    assert dotted.rsplit(".", 1)[-1].startswith("test"), f"{path}::{name} is not a test"
    assert dotted in defined_names(source), f"RULES.md links {path}::{name}, which is not defined there"


def test_every_rule_of_the_design_has_its_heading() -> None:
    headings = {line.lstrip("#").strip() for line in rules_text().splitlines() if line.startswith("#")}
    missing = [rule for rule in REQUIRED_RULES if not any(h.startswith(rule) for h in headings)]
    assert not missing, f"RULES.md has no heading for: {', '.join(missing)}"


def test_each_rule_links_its_code_and_its_test() -> None:
    """Under every rule's heading, at least one function and one test: a rule with only prose
    is a rule nobody can find."""
    sections = re.split(r"^#+ ", rules_text(), flags=re.MULTILINE)
    for rule in REQUIRED_RULES:
        body = next(s for s in sections if s.startswith(rule))
        assert CODE_LINK.search(body), f"the rule '{rule}' links no function"
        assert TEST_LINK.search(body), f"the rule '{rule}' links no test"


def test_the_decline_route_takes_at_most_five_hops() -> None:
    """The newcomer's first question: how does a card decline reach the customer's email?
    The route is a numbered list of code links, each one hop."""
    section = route(DECLINE_ROUTE)
    hops = [line for line in section.splitlines() if re.match(r"^\d+\. ", line)]
    assert 1 <= len(hops) <= 5, f"the decline route has {len(hops)} hops"
    assert all(CODE_LINK.search(hop) for hop in hops), "each hop names the function it passes through"


def test_each_step_of_a_killed_charge_says_who_finishes_it_and_which_test_shows_it() -> None:
    """The second question: what if the worker dies in the middle of a charge? One table row
    per step (claimed, attempt written, gateway charged, outcome recorded, event written),
    each naming the code that finishes it and the test that shows it."""
    section = route(KILLED_WORKER_ROUTE)
    lines = [line for line in section.splitlines() if line.startswith("|")]
    steps = [line for line in lines[2:] if not set(line) <= set("|-: ")]  # past the header and its rule
    assert len(steps) >= 4, f"the killed-worker route has {len(steps)} steps"
    for step in steps:
        assert CODE_LINK.search(step), f"this step names no code that finishes it: {step[:80]}"
        assert TEST_LINK.search(step), f"this step names no test: {step[:80]}"


def test_everything_written_like_a_link_is_a_link() -> None:
    malformed = [
        written
        for written in LINK_LIKE.findall(rules_text())
        if not (
            CODE_LINK.fullmatch(f"`{written}`") or TEST_LINK.fullmatch(f"`{written}`") or (ROOT / written).is_file()
        )
    ]
    assert malformed == [], f"RULES.md has links the check cannot read: {malformed}"


def test_the_check_tells_a_missing_name_from_a_defined_one(tmp_path: Path) -> None:
    """The map's checks must be able to fail: a name that is not there is not found, and a
    code link written like a test link is not read as a code link."""
    module = tmp_path / "charging.py"
    module.write_text(
        "STEPS = 3\n\nclass Handlers:\n    on_success = None\n\n    def settle(self) -> None: ...\n\n"
        "def reconcile() -> None: ...\n"
    )

    found = defined_names(module)

    assert {"STEPS", "Handlers", "Handlers.on_success", "Handlers.settle", "reconcile"} <= found
    assert "settle" not in found and "Handlers.reconcile" not in found
    assert CODE_LINK.findall("`src/simrenew/payments/charging.py:Handlers.settle`") == [
        ("src/simrenew/payments/charging.py", "Handlers.settle")
    ]
    assert not CODE_LINK.search("`src/simrenew/payments/charging.py::settle`")
