"""Running the ``tickwire`` console script as a user would: a subprocess of the installed
script, whose output and exit status the tests read."""

import subprocess
import sys
import time
from pathlib import Path

from tests.servers import ROOT

#: The installed console script; it imports the ``tickwire`` package on PYTHONPATH first.
SCRIPT = Path(sys.executable).with_name("tickwire")


def tickwire(*args, **kw):
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          cwd=ROOT, **kw)  # fmt: skip


def spawn(*args, **kw):
    return subprocess.Popen([str(SCRIPT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT,
                            start_new_session=True, **kw)  # fmt: skip


def wait_for(check, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
