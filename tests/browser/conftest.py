"""The browser tests' world: the embedded default's real processes, started as `make run` starts
them (scripts/run.py: the sandbox, the Stellar contract service, gunicorn, the periodic runner) on
free ports and their own SQLite files in a temporary KAZI_VAR_DIR, once for the session; and
people, each with their own Debian Chromium (tests/browser/kit.py).

Without /usr/bin/chromium or /usr/bin/chromedriver the tests are skipped, saying so; with
KAZI_REQUIRE_BROWSER=1 (CI) they fail instead."""

import itertools
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.browser import kit
from tests.sandbox_process import free_port

ROOT = Path(__file__).resolve().parents[2]
RUN = ROOT / "scripts" / "run.py"
PASSWORD = "kazi-browser-pass"
REPORT = kit.Report()
_phones = itertools.count(1)
_failed = pytest.StashKey[bool]()


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser") and (why := kit.missing()):
        if os.environ.get("KAZI_REQUIRE_BROWSER"):
            pytest.fail(f"{why}, and KAZI_REQUIRE_BROWSER is set", pytrace=False)
        pytest.skip(why)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    if report.when == "call" and report.failed:
        item.stash[_failed] = True
    return report


def pytest_terminal_summary(terminalreporter) -> None:
    if not REPORT.pages:
        return
    REPORT.save(kit.SCREENSHOTS / "quality.json")
    terminalreporter.section("browser: every page measured (tests/browser)")
    for line in REPORT.table():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"screenshots and quality.json/.md in {kit.SCREENSHOTS}")


def new_phone() -> str:
    """A Kenyan mobile number nobody in this session has used, as people type it."""
    n = next(_phones)
    return f"0712 {n // 1000:03d} {n % 1000:03d}"


@dataclass
class App:
    """The running processes: the pages at `base`, the sandbox (M-Pesa) at `sandbox`."""

    base: str
    sandbox: str
    env: dict[str, str]
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text()

    def manage(self, *args: str) -> str:
        """manage.py on the same SQLite file as the server."""
        done = subprocess.run(  # noqa: S603 - our own command
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def make_arbiter(self, first: str, last: str) -> str:
        """Staff with the arbiter permission (made in the Django shell, as an operator would);
        answers their phone number. Password: PASSWORD."""
        phone = new_phone()
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth.models import Permission\n"
            "from accounts.models import User\n"
            "from accounts.phones import normalise_phone\n"
            f"user = User.objects.create_user(normalise_phone({phone!r}), {PASSWORD!r}, "
            f"first_name={first!r}, last_name={last!r}, is_staff=True)\n"
            "user.user_permissions.add(Permission.objects.get(codename='resolve_dispute'))\n",
        )
        return phone

    def control(self, action: str, body: dict | None = None) -> dict:
        """The sandbox's control API (M-Pesa's side of things)."""
        answer = httpx.post(f"{self.sandbox}/_sandbox/{action}", json=body or {}, timeout=60)
        assert answer.status_code == 200, answer.text
        return answer.json()

    @contextmanager
    def callbacks_held(self) -> Iterator[None]:
        """M-Pesa's answers (STK results, B2C results) kept back until the block ends, so a page
        can be looked at while the money is on its way; then they are delivered."""
        self.control("faults", {"daraja": {"hold_callbacks": True}})
        try:
            yield
        finally:
            self.control("faults", {"daraja": {"hold_callbacks": False}})
            self.control("release-held")


def start_app(var_dir: Path) -> App:
    port, stellar_port, sandbox_port = free_port(), free_port(), free_port()
    # The embedded default whatever this shell points at (CI sets PostgreSQL and Redis).
    outside = {"DATABASE_URL", "REDIS_URL", "KAZI_ENV", "MPESA_CALLBACK_BASE_URL", "SANDBOX_URL"}
    env = {k: v for k, v in os.environ.items() if k not in outside}
    env |= {
        "KAZI_VAR_DIR": str(var_dir),
        "PORT": str(port),
        "STELLAR_PORT": str(stellar_port),
        "SANDBOX_PORT": str(sandbox_port),
        "PERIODIC_TICK_SECONDS": "1",
    }
    log = var_dir / "run.log"
    # As the Makefile's `run` target starts it: PORT=... python scripts/run.py
    process = subprocess.Popen(  # noqa: S603 - our own script
        [sys.executable, str(RUN)],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    app = App(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}", env, process, log)
    deadline = time.monotonic() + 120
    while "Kazi Trust is up" not in app.output():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"scripts/run.py did not start:\n{app.output()}")
        time.sleep(0.2)
    return app


@pytest.fixture(scope="session")
def app(tmp_path_factory) -> Iterator[App]:
    if kit.missing():  # nothing to drive it with: no need to start anything
        pytest.skip(kit.missing())
    app = start_app(tmp_path_factory.mktemp("browser"))
    yield app
    if app.process.poll() is None:
        app.process.terminate()
        try:
            app.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            app.process.kill()
            app.process.wait()


@pytest.fixture(params=["desktop", "phone"])
def viewport(request) -> str:
    """Each journey on a laptop, and on a 360 x 740 phone."""
    return request.param


@pytest.fixture
def people(app, request) -> Iterator:
    """people(name, ...) -> a kit.Person with their own browser; closed after the test (after a
    screenshot of where each one was, if the test failed)."""
    made: list[kit.Person] = []
    # var/screenshots/<the test's `folder`, or its name>-<viewport>/, emptied first
    name = getattr(request.function, "folder", request.function.__name__.removeprefix("test_"))
    journey = name + (
        f"-{request.node.callspec.params['viewport']}" if "viewport" in request.fixturenames else ""
    )
    shutil.rmtree(kit.SCREENSHOTS / journey, ignore_errors=True)

    def person(name: str, **options: object) -> kit.Person:
        made.append(kit.Person(app.base, journey, name, report=REPORT, **options))
        return made[-1]

    yield person
    for one in made:
        try:
            if request.node.stash.get(_failed, False):
                one.screenshot("FAILED")
        finally:
            one.quit()
