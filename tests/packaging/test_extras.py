"""The extras: what the base install holds, which extra each optional module belongs to,
and every ``pip install 'tickwire[...]'`` the repository tells users to run."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys
import tomllib

import pytest

from tests.servers import ROOT
from tickwire import extras

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings, normalised (PEP 503)."""
    return {re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", r)[0]).lower()
            for r in requirements}  # fmt: skip


def test_the_base_install_is_the_client():
    base = names(PROJECT["dependencies"])
    assert {"websockets", "orjson", "rich"} <= base
    server_side = names(PROJECT["optional-dependencies"]["server"]) | {"redis", "psycopg"}
    assert not base & server_side


@pytest.mark.parametrize("extra", sorted(extras.EXTRAS))
def test_each_module_of_an_extra_comes_from_that_extra(extra):
    declared = names(PROJECT["optional-dependencies"][extra])
    provided = importlib.metadata.packages_distributions()
    for module in extras.EXTRAS[extra]:
        dists = {re.sub(r"[-_.]+", "-", d).lower() for d in provided.get(module, [])}
        assert dists & declared, f"{module} ({dists}) is not in the {extra} extra: {declared}"


def test_the_client_imports_nothing_of_an_extra():
    """Importing the client library and the command loads no module of any extra (pandas
    and pyarrow are imported when a DataFrame or a Parquet file is asked for)."""
    optional = [m for modules in extras.EXTRAS.values() for m in modules]
    code = (
        "import sys, tickwire.client, tickwire.cli, tickwire.client.dataframes\n"
        f"print(sorted(m for m in {optional!r} if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_a_missing_module_is_named_with_its_extra():
    error = extras.explain(ModuleNotFoundError("No module named 'psycopg'", name="psycopg"), "x")
    assert isinstance(error, extras.MissingExtra) and error.extra == "postgres"
    assert str(error) == ("x needs the postgres extra, which is not installed (no module named "
                          "'psycopg'): pip install 'tickwire[postgres]'")  # fmt: skip
    assert extras.explain(ModuleNotFoundError("nope", name="nope"), "x") is None
    with pytest.raises(KeyError):
        extras.require("no-such-extra", "x")


def test_every_pip_install_of_an_extra_in_the_repository_names_one_that_exists():
    declared = set(PROJECT["optional-dependencies"])
    paths = [ROOT / "README.md", ROOT / "Dockerfile", ROOT / "Makefile", ROOT / "CHANGELOG.md",
             *(ROOT / "docs").rglob("*.md"), *(ROOT / "tickwire").rglob("*.py"),
             *(ROOT / "examples").rglob("*.py"), *(ROOT / "deploy").rglob("*")]  # fmt: skip
    seen = 0
    for path in paths:
        if not path.is_file():
            continue
        for found in re.findall(r"tickwire\[([a-z0-9,\- ]+)\]", path.read_text(errors="ignore")):
            seen += 1
            for extra in found.split(","):
                assert extra.strip() in declared, f"{path}: tickwire[{found}]"
    assert seen > 5
