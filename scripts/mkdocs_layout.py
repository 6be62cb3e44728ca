"""MkDocs hook: the documentation site keeps the repository's layout.

The Markdown files are written to be read in the repository as well: ``README.md`` links
``docs/client.md``, the pages in ``docs/`` link ``../BENCHMARKS.md`` and the README links
``examples/live_chart.ipynb``. MkDocs only knows the files under ``docs_dir``, where those
links would point outside the site. So the site takes every file at its repository path:
``docs/<page>`` stays ``docs/<page>``, the README is the home page (MkDocs makes a
``README.md`` its folder's index), and the top-level Markdown files and ``examples/``
come along. Every relative link then resolves on the site exactly as in the repository,
with nothing rewritten, and ``mkdocs build --strict`` fails on one that resolves nowhere.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.structure.files import File, Files

#: Top-level files published beside ``docs/`` (the ones that exist are taken).
TOP_LEVEL = ("README.md", "BENCHMARKS.md", "CHANGELOG.md")
#: Folders published whole, for the pages' links to them.
FOLDERS = ("examples",)


def on_files(files: Files, config: Any) -> Files:
    docs_dir = Path(config["docs_dir"]).resolve()
    root = docs_dir.parent
    prefix = docs_dir.name
    laid = Files([])
    for file in files:
        source = Path(file.abs_src_path) if file.abs_src_path else None
        if source is None or not source.is_relative_to(docs_dir):
            laid.append(file)  # the theme's assets, generated files: where they were
            continue
        laid.append(
            File.generated(
                config,
                f"{prefix}/{file.src_uri}",
                abs_src_path=file.abs_src_path,
                inclusion=file.inclusion,
            )
        )
    extra = [root / name for name in TOP_LEVEL]
    for folder in FOLDERS:
        extra += sorted(p for p in (root / folder).rglob("*") if "__pycache__" not in p.parts)
    for path in extra:
        if path.is_file():
            laid.append(
                File.generated(config, path.relative_to(root).as_posix(), abs_src_path=str(path))
            )
    return laid


# The docstrings cross-reference in Sphinx's roles (":class:`Client`"), which mkdocstrings
# renders as the role's text and the name in code: keep the name, shown as Sphinx shows it
# (``~a.b.C`` as ``C``).
_ROLE = re.compile(r":(?:py:)?(?:func|class|meth|attr|mod|data|exc|obj|const):(<code>)(~?)([^<]*)")


def _role(match: re.Match[str]) -> str:
    code, tilde, name = match.groups()
    return code + (name.rpartition(".")[2] if tilde else name)


def on_page_content(html: str, **kwargs: Any) -> str:
    return _ROLE.sub(_role, html)
