"""Browser tests: Debian's Chromium driven by Playwright against real Tickwire servers.

Playwright cannot download its own browser here, so it launches the system Chromium
(``/usr/bin/chromium``, installed by scripts/install-system-deps.sh; override with
``TICKWIRE_CHROMIUM``). Every test gets a fresh browser context (no cookies, empty
localStorage) and leaves a screenshot in ``artifacts/browser/<test>.png``; a JavaScript
exception in the page, or anything the page's Content-Security-Policy refused, fails the
test.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.servers import ROOT, ServerProcess

ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# The browser tests' server: fast ticks, and an idle timeout short enough that a page
# without a working heartbeat would be closed during the tests (heartbeat = timeout / 3).
SERVER_ENV = {"REALTIME_UPDATE_INTERVAL": "0.25", "WEBSOCKET_TIMEOUT": "4"}
USERNAME = "browser"
PASSWORD = "browser-pass-7391"
PORTFOLIO = "Browser Portfolio"

_MAKE_USER = f"""
from decimal import Decimal
from django.contrib.auth import get_user_model
from tickwire.assets.models import Asset
from tickwire.portfolios.models import Portfolio, Position
User = get_user_model()
user, _ = User.objects.get_or_create(username={USERNAME!r})
user.is_staff = False  # an ordinary user: /accounts/login/ (LOGIN_URL) admits anyone
user.set_password({PASSWORD!r})
user.save()
portfolio, _ = Portfolio.objects.get_or_create(owner=user, name={PORTFOLIO!r})
for symbol, qty in (("AAPL", "10"), ("BTC-USD", "0.5"), ("MSFT", "4")):
    Position.objects.update_or_create(
        portfolio=portfolio, asset=Asset.objects.get(symbol=symbol),
        defaults={{"quantity": Decimal(qty), "average_cost": Decimal("100")}},
    )
print(portfolio.pk)
"""


def chromium_path() -> str:
    path = os.environ.get("TICKWIRE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        pytest.fail(
            f"Chromium not found at {path}: run `make sysdeps` (Debian package 'chromium') "
            "or set TICKWIRE_CHROMIUM",
            pytrace=False,
        )
    return path


def manage(server: ServerProcess, *args: str, code: str | None = None, **env: str) -> str:
    """Run ``manage.py`` against a server's database (its settings and DATABASE_URL)."""
    cmd = [sys.executable, "manage.py", *args]
    if code is not None:
        cmd += ["-c", code]
    proc = subprocess.run(
        cmd, cwd=ROOT, env={**server.env, **env}, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in the main
# thread while it is started, which would break the async tests of later modules.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="session")
def tickwire_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real server for the browser tests (memory broker, simulated feed, demo data)."""
    srv = ServerProcess(tmp_path_factory.mktemp("browser"), env=SERVER_ENV).start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def browser_user(tickwire_server: ServerProcess) -> dict[str, object]:
    """A staff user with a three-position portfolio, in the live server's database."""
    portfolio_id = int(manage(tickwire_server, "shell", code=_MAKE_USER).strip().splitlines()[-1])
    return {"username": USERNAME, "password": PASSWORD, "portfolio_id": portfolio_id}


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A page in a fresh context; screenshot saved and JS errors checked afterwards."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on(
        "console",
        lambda msg: errors.append(msg.text) if is_csp_violation(msg.type, msg.text) else None,
    )
    yield page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
    try:
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"))
    except Exception:
        pass  # the page may be gone after a failure; the failure itself is what matters
    context.close()
    assert not errors, f"JavaScript errors in the page: {errors}"


def is_csp_violation(kind: str, text: str) -> bool:
    """Whether a console message is Chromium reporting a Content-Security-Policy refusal."""
    return kind == "error" and "Content Security Policy" in text


def login(page: Page, server: ServerProcess, user: dict[str, object]) -> None:
    """Log in through the dashboard's own "Log in" link and the login form it leads to."""
    page.goto(server.url + "/realtime/dashboard/")
    page.get_by_role("link", name="Log in").first.click()
    page.fill("input[name=username]", str(user["username"]))
    page.fill("input[name=password]", str(user["password"]))
    page.locator("form [type=submit]").first.click()
    page.wait_for_url("**/realtime/dashboard/")
