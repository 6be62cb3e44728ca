"""The documentation site builds with warnings as errors (what ``make docs`` runs), and
holds what a reader looks for: the README as its home page, the guides, and the Python API
reference generated from the docstrings."""

import html
import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.servers import ROOT

#: The files the site is built from (mkdocs.yml says which; the hook lays them out).
SOURCES = ("mkdocs.yml", "README.md", "BENCHMARKS.md", "CHANGELOG.md", "docs", "examples",
           "scripts/mkdocs_layout.py")  # fmt: skip


def build(config_dir, site_dir):
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site_dir)],
        cwd=config_dir, capture_output=True, text=True, timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip


def text(path):
    """A page's article as plain text."""
    page = path.read_text()
    body = page[page.index("<article") : page.index("</article>")]
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def flat(page_text):
    return re.sub(r"\s+", "", page_text)


def words(docstring, n):
    """The first ``n`` words of a docstring as the page shows them (literals unmarked),
    without spaces: the page's markup around code may add or take some."""
    return "".join(docstring.replace("``", "").split()[:n])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    site_dir = tmp_path_factory.mktemp("docs") / "site"
    done = build(ROOT, site_dir)
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr
    return site_dir


def test_the_readme_is_the_home_page_and_its_links_reach_the_guides(site):
    home = (site / "index.html").read_text()
    assert "<h1" in home and "Tickwire" in home
    for page in ("client", "protocol", "js-client", "alerts", "sources", "deployment",
                 "scaling", "architecture", "testing"):  # fmt: skip
        assert (site / "docs" / page / "index.html").is_file(), page
    assert 'href="docs/client/"' in home
    # The README's link to the notebook is a file on the site, as in the repository.
    assert 'href="examples/live_chart.ipynb"' in home
    assert (site / "examples" / "live_chart.ipynb").is_file()


def test_the_api_reference_is_generated_from_the_docstrings(site):
    from tickwire.client import Client, history

    client = text(site / "docs" / "reference" / "connection" / "index.html")
    assert "subscribe_portfolio" in client and "next_event" in client
    # A docstring's own words, and its cross-references shown as code, not as Sphinx roles.
    assert words(Client.subscribe.__doc__, 8) in flat(client)
    assert ":class:" not in client and ":meth:" not in client
    page = text(site / "docs" / "reference" / "history" / "index.html")
    assert "recorded_bars" in page and "page_size" in page
    assert words(history.bars.__doc__, 10) in flat(page)
    for module in ("blocking", "events", "stats", "alerts", "rest", "dataframes", "record",
                   "raw"):  # fmt: skip
        assert (site / "docs" / "reference" / module / "index.html").is_file(), module


def test_the_client_guide_links_to_the_generated_entries_instead_of_copying_them(site):
    guide = (site / "docs" / "client" / "index.html").read_text()
    # The AlertsAPI table was a copy of the docstrings: the guide now links to the entry
    # generated from them, which holds every method with its docstring.
    assert 'href="../reference/rest/#tickwire.client.rest.AlertsAPI"' in guide
    rest = text(site / "docs" / "reference" / "rest" / "index.html")
    assert "rotate_webhook_secret" in rest and "A new webhook signing secret" in rest
    assert "add_alert" in rest and "Create a rule on" in rest
    assert "| call | does |" not in text(site / "docs" / "client" / "index.html")


def test_a_broken_link_fails_the_build(tmp_path):
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name)
        elif source.exists():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, tmp_path / name)
    (tmp_path / "tickwire").symlink_to(ROOT / "tickwire")  # for the API reference
    with open(tmp_path / "docs" / "testing.md", "a") as f:
        f.write("\nSee [the old guide](guide.md) and [limits](protocol.md#no-such-part).\n")
    done = build(tmp_path, tmp_path / "site")
    assert done.returncode == 1
    assert "contains a link 'guide.md', but the target 'docs/guide.md' is not found" in done.stderr
    assert "does not contain an anchor '#no-such-part'" in done.stderr
