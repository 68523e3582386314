"""`make lint`'s own import-linter contract: no module imports another module's underscored
names (ruff's PLC2701 exempts first-party modules, so it would not catch ours)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import grimp
import pytest
from scripts.import_contracts import PrivateNamesContract


@pytest.fixture
def package(tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "shop"
    (root / "orders").mkdir(parents=True)
    for init in (root / "__init__.py", root / "orders" / "__init__.py"):
        init.write_text("")
    (root / "prices.py").write_text("def _rounded(x): return x\ndef quote(x): return _rounded(x)\n")
    sys.path.insert(0, str(tmp_path))
    yield root
    sys.path.remove(str(tmp_path))
    for name in [name for name in sys.modules if name == "shop" or name.startswith("shop.")]:
        del sys.modules[name]


def violations(root: Path) -> list[tuple[str, str, int]]:
    contract = PrivateNamesContract(
        name="private names", session_options={}, contract_options={"source_modules": ["shop"]}
    )
    check = contract.check(grimp.build_graph("shop", cache_dir=None), verbose=False)
    found = [(str(v["importer"]), str(v["name"]), int(str(v["line"]))) for v in check.metadata["violations"]]
    assert check.kept == (not found)
    return found


def test_a_public_name_may_be_imported_anywhere(package: Path):
    (package / "orders" / "checkout.py").write_text("from shop.prices import quote\n")

    assert violations(package) == []


def test_an_underscored_name_from_another_module_breaks_the_contract_even_inside_a_function(package: Path):
    (package / "orders" / "checkout.py").write_text(
        "from shop.prices import quote\n\ndef total():\n    from ..prices import (\n        _rounded,\n    )\n"
    )

    assert violations(package) == [("shop.orders.checkout", "_rounded", 4)]


def test_a_private_module_is_left_to_import_linters_private_modules_contract(package: Path):
    (package / "orders" / "_tax.py").write_text("RATE = 0\n")
    (package / "orders" / "checkout.py").write_text("from shop.orders import _tax\n")

    assert violations(package) == []
