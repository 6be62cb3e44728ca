"""deploy/tickwire.env.example: every variable is one Tickwire reads, and the production
settings start with the file as shipped once its CHANGE-ME values are filled in."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "tickwire.env.example"


def variables(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=(.*)$", line)
        if match:
            found[match[1]] = match[2]
    return found


def test_every_variable_is_one_tickwire_reads():
    sources = "\n".join(p.read_text() for p in (ROOT / "tickwire").rglob("*.py"))
    for name in variables(EXAMPLE.read_text()):
        if name.startswith("TICKWIRE_FEED_") and name != "TICKWIRE_FEED_SOURCE":
            # Source options: TICKWIRE_FEED_<OPTION> (tickwire/stream/feeds/registry.py).
            option = name.removeprefix("TICKWIRE_FEED_").lower()
            assert f'"{option}"' in sources, name
            continue
        assert f'"{name}"' in sources, f"{name} is read nowhere in tickwire/"


def test_the_production_settings_accept_it(tmp_path):
    text = EXAMPLE.read_text().replace("CHANGE-ME", "x" * 48)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "TICKWIRE"))}
    env.update(
        {k: v for k, v in variables(text).items() if f"\n{k}=" in "\n" + text},
        TICKWIRE_HOME=str(tmp_path),
        PYTHONPATH=str(ROOT),
    )
    code = (
        "import json, django; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DEBUG, s.TICKWIRE_DEMO_DATA, s.DATABASES['default']['ENGINE'], "
        "s.TICKWIRE_BROKER_URL, s.ALLOWED_HOSTS]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    debug, demo, engine, broker, hosts = json.loads(done.stdout.splitlines()[-1])
    assert (debug, demo) == (False, False)
    assert engine.endswith("postgresql") and broker.startswith("redis://")
    assert hosts == ["tickwire.example.com"]
