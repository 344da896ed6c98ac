"""Debian's Chromium driven by Selenium through Debian's chromedriver: one `Person` is one phone or
laptop with its own browser profile, using the pages only. Every page a journey reaches is checked
(`Person.check`) and measured:

- axe-core (vendored in tests/browser/vendor, injected into the page): no serious or critical
  violation;
- every input, select and textarea has a label; `<html lang>` is the language the person reads;
- no horizontal scrolling (document.documentElement.scrollWidth <= innerWidth);
- every tap target (a, button, input, select, summary) at least 44 px high: an input inside its
  label counts as the label (a radio button is tapped by its whole line);
- what the page weighs over the wire, from the DevTools protocol's Network events
  (encodedDataLength: bytes received, headers included): the first load with an empty cache, then
  a repeat visit; and every request made by the page goes to the app's own host.

A screenshot of each step goes to var/screenshots/<journey>/ (the viewport, and the full page)."""

import base64
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
VENDOR = Path(__file__).resolve().parent / "vendor"
SCREENSHOTS = ROOT / "var" / "screenshots"

# The machine's network is closed: without these Chromium keeps trying Google's hosts.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
DESKTOP = (1280, 900)
PHONE = (360, 740)  # a cheap Android phone, CSS pixels
MIN_TAP = 44  # px
FIRST_LOAD_MAX = 60 * 1024  # bytes over the wire, empty cache: HTML, CSS, JS, icon
REPEAT_MAX = 15 * 1024  # bytes over the wire, the same page again
LOCAL_SCHEMES = {"chrome", "chrome-extension", "chrome-untrusted", "data", "about", "blob"}
WAIT = 45.0  # seconds for money to move (a prompt, the ledger, a payout and its callback)


def missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    absent = [str(path) for path in (CHROMIUM, CHROMEDRIVER) if not os.access(path, os.X_OK)]
    if absent:
        return (
            f"needs Debian's Chromium and chromedriver ({', '.join(absent)} missing: "
            "apt-get install chromium chromium-driver)"
        )
    return None


def page_kind(path: str) -> str:
    """A page's URL as a pattern: /jobs/12/ is /jobs/<id>/, /e/ESCROW_.../ is /e/<ref>/."""
    path = re.sub(r"/\d+/", "/<id>/", path)
    return re.sub(r"^/e/[^/]+/$", "/e/<ref>/", path)


@dataclass
class PageMeasure:
    """What one visit of a page showed."""

    kind: str
    viewport: str
    role: str
    first: int = 0
    repeat: int = 0
    axe: dict[str, int] = field(default_factory=dict)  # violations (nodes) by impact
    axe_rules: set[str] = field(default_factory=set)
    passes: int = 0
    min_tap: float = 0.0
    scroll_width: int = 0
    inner_width: int = 0


class Report:
    """Every page measured in the session, for the summary and the README."""

    def __init__(self) -> None:
        self.pages: list[PageMeasure] = []

    def add(self, measure: PageMeasure) -> None:
        self.pages.append(measure)

    def table(self) -> list[str]:
        by_kind: dict[str, list[PageMeasure]] = {}
        for page in self.pages:
            by_kind.setdefault(page.kind, []).append(page)
        lines = [
            "| page | visits | first load (max) | repeat (max) | axe serious+critical | "
            "axe moderate/minor | narrowest tap target at 360 px | widest scrollWidth at 360 px |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for kind in sorted(by_kind):
            pages = by_kind[kind]
            phone = [p for p in pages if p.viewport == "phone"] or pages
            bad = sum(p.axe.get("serious", 0) + p.axe.get("critical", 0) for p in pages)
            soft = sum(p.axe.get("moderate", 0) + p.axe.get("minor", 0) for p in pages)
            measured = [p for p in pages if p.first]
            first = f"{max(p.first for p in measured) / 1024:.1f} KB" if measured else "-"
            repeat = f"{max(p.repeat for p in measured) / 1024:.1f} KB" if measured else "-"
            lines.append(
                f"| `{kind}` | {len(pages)} | {first} | {repeat} | {bad} | {soft} | "
                f"{min(p.min_tap for p in phone):.0f} px | "
                f"{max(p.scroll_width for p in phone)} / {phone[0].inner_width} |"
            )
        return lines

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        rows = [
            {**page.__dict__, "axe_rules": sorted(page.axe_rules)}
            for page in sorted(self.pages, key=lambda p: (p.kind, p.viewport, p.role))
        ]
        path.write_text(json.dumps(rows, indent=1))
        (path.with_suffix(".md")).write_text("\n".join(self.table()) + "\n")


# Reads the page: language, inputs without a label, horizontal overflow, tap targets.
PAGE_FACTS = r"""
const visible = (e) => {
  if (!e.getClientRects().length) return false;
  const style = getComputedStyle(e);
  if (style.visibility === 'hidden') return false;
  if (e.closest('.visually-hidden')) return false;
  return true;
};
const unlabelled = [...document.querySelectorAll('input, select, textarea')]
  .filter((e) => e.type !== 'hidden' && !['submit', 'button', 'reset', 'image'].includes(e.type))
  .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                 && !e.getAttribute('aria-labelledby'))
  .map((e) => e.outerHTML.slice(0, 160));
const targets = [...document.querySelectorAll('a[href], button, input, select, summary')]
  .filter((e) => e.type !== 'hidden' && visible(e))
  .map((e) => {
    const rects = [...e.getClientRects()];
    let height = Math.min(...rects.map((r) => r.height));
    const label = e.matches('input') ? e.closest('label') : null;
    if (label) height = Math.max(height, label.getBoundingClientRect().height);
    const name = (e.innerText || e.value || e.getAttribute('aria-label') || e.name || '').trim();
    return {tag: e.tagName.toLowerCase(), name: name.slice(0, 50), height: height,
            html: e.outerHTML.slice(0, 160)};
  });
return {
  lang: document.documentElement.lang,
  unlabelled: unlabelled,
  scrollWidth: document.documentElement.scrollWidth,
  innerWidth: window.innerWidth,
  targets: targets,
  title: document.title,
};
"""

AXE_RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {resultTypes: ['violations']}).then(
  (r) => done({violations: r.violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.map((n) => n.html.slice(0, 200))})), passes: r.passes.length}),
  (e) => done({error: String(e)}));
"""


def new_driver(viewport: str, javascript: bool, profile: Path):  # -> WebDriver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    width, height = PHONE if viewport == "phone" else DESKTOP
    options.add_argument(f"--window-size={max(width, 500)},{height}")
    if viewport == "phone":  # Chromium's windows are at least 500 px wide: emulate the screen
        metrics = {"width": width, "height": height, "pixelRatio": 1, "touch": True}
        options.add_experimental_option("mobileEmulation", {"deviceMetrics": metrics})
    prefs = {"intl.accept_languages": "en-GB,en"}
    if not javascript:  # the page's own scripts never run; WebDriver's still may
        prefs["profile.managed_default_content_settings.javascript"] = 2
    options.add_experimental_option("prefs", prefs)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    options.page_load_strategy = "normal"
    # Debian's chromedriver, given: Selenium Manager never looks for (or downloads) one.
    service = Service(executable_path=str(CHROMEDRIVER))
    return webdriver.Chrome(options=options, service=service)


class Person:
    """One person's own browser (profile, cookies, cache), at one viewport."""

    def __init__(
        self,
        base: str,
        journey: str,
        name: str,
        *,
        viewport: str,
        report: Report,
        javascript: bool = True,
        language: str = "en",
        role: str = "visitor",
    ) -> None:
        self.base = base.rstrip("/")
        self.host = urlsplit(self.base).netloc
        self.journey = journey
        self.name = name
        self.viewport = viewport
        self.report = report
        self.javascript = javascript
        self.language = language
        self.role = role
        self.requests: list[dict] = []  # every request the browser's pages made
        self._profile = Path(tempfile.mkdtemp(prefix="kazi-chromium-"))
        self.driver = new_driver(viewport, javascript, self._profile)
        self.driver.set_page_load_timeout(60)
        self.driver.set_script_timeout(60)
        self.steps = 0

    def quit(self) -> None:
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self._profile, ignore_errors=True)

    # --- navigating and using the pages --------------------------------------------------
    @property
    def path(self) -> str:
        parts = urlsplit(self.driver.current_url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def open(self, path: str) -> None:
        self.driver.get(self.base + path)

    def find(self, css: str):  # -> WebElement
        return self.driver.find_element("css selector", css)

    def finds(self, css: str) -> list:
        return self.driver.find_elements("css selector", css)

    def testid(self, name: str):  # -> WebElement
        return self.find(f'[data-testid="{name}"]')

    def has(self, css: str) -> bool:
        return bool(self.finds(css))

    def text(self, css: str = "body") -> str:
        return self.find(css).text

    def click(self, css: str) -> None:
        """Taps the element as a finger would (scrolled into view first). A link or a submit
        button loads another page: this returns once that page has loaded."""
        element = self.find(css)
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        navigates = element.tag_name == "a" or element.get_attribute("type") == "submit"
        old = self.find("html")
        element.click()
        if navigates:
            self.wait_for(lambda: self._replaced(old), f"the page after {css}", timeout=60)

    def _replaced(self, old) -> bool:
        from selenium.common.exceptions import StaleElementReferenceException

        try:
            old.tag_name  # noqa: B018 - raises once the old document is gone
        except StaleElementReferenceException:
            return self.driver.execute_script("return document.readyState") == "complete"
        return False

    def press(self, testid: str) -> None:
        self.click(f'[data-testid="{testid}"]')

    def type(self, name: str, value: str, form: str = "") -> None:
        """Types into the field called `name` (in the form with that data-testid, if given)."""
        scope = f'[data-testid="{form}"] ' if form else ""
        element = self.find(f'{scope}:is(input, textarea, select)[name="{name}"]')
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.clear()
        element.send_keys(value)

    def choose(self, name: str, value: str) -> None:
        """Taps the label of a radio button (its whole line is the target)."""
        radio = self.find(f'input[type="radio"][name="{name}"][value="{value}"]')
        label = radio.find_element("xpath", "ancestor::label")
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", label)
        label.click()
        assert radio.is_selected()

    def wait_for(self, test: Callable[[], object], what: str, timeout: float = WAIT) -> object:
        """Waits, doing nothing to the page, until `test()` is true."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                result = test()
            except Exception:
                result = None
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name}: {what} did not happen in {timeout:g} s")
            time.sleep(0.25)

    def messages(self) -> list[str]:
        return [e.text for e in self.finds('[data-testid="messages"] li')]

    # --- the DevTools protocol's view of the network -----------------------------------------
    def network(self) -> list[dict]:
        """The requests made since the last call: url, type, bytes on the wire, status."""
        seen: dict[str, dict] = {}
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            method, params = message["method"], message.get("params", {})
            request_id = params.get("requestId")
            if method == "Network.requestWillBeSent":
                seen.setdefault(request_id, {"bytes": 0, "done": False, "status": None})
                # A redirect is a new request under the same id: count each hop.
                if "redirectResponse" in params:
                    seen[request_id]["redirects"] = seen[request_id].get("redirects", 0) + 1
                seen[request_id].update(url=params["request"]["url"], type=params.get("type"))
            elif method == "Network.responseReceived" and request_id in seen:
                seen[request_id]["status"] = params["response"].get("status")
            elif method == "Network.loadingFinished" and request_id in seen:
                seen[request_id]["bytes"] += int(params.get("encodedDataLength", 0))
                seen[request_id]["done"] = True
            elif method == "Network.loadingFailed" and request_id in seen:
                seen[request_id]["done"] = True
                seen[request_id]["failed"] = params.get("errorText")
        requests = [r for r in seen.values() if "url" in r]
        self.requests += requests
        return requests

    def assert_own_host_only(self) -> None:
        """Every request over the network went to the app (chrome:, data: and about: URLs are
        the browser's own, never on the network)."""
        self.network()
        others = sorted(
            {
                r["url"]
                for r in self.requests
                if urlsplit(r["url"]).scheme not in LOCAL_SCHEMES
                and urlsplit(r["url"]).netloc != self.host
            }
        )
        assert not others, f"{self.name}: requests to other hosts: {others}"

    def _load_and_weigh(self, url: str) -> int:
        self.network()  # what came before
        self.driver.get(url)
        deadline = time.monotonic() + 5
        requests = self.network()
        while not all(r["done"] for r in requests) and time.monotonic() < deadline:
            time.sleep(0.05)
            requests += self.network()
        return sum(r["bytes"] for r in requests)

    def weigh(self) -> tuple[int, int]:
        """Bytes over the wire for this page: with an empty cache, then visited again."""
        url = self.driver.current_url.split("#")[0]
        self.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        first = self._load_and_weigh(url)
        repeat = self._load_and_weigh(url)
        return first, repeat

    # --- the checks ---------------------------------------------------------------------
    def screenshot(self, step: str) -> Path:
        self.steps += 1
        folder = SCREENSHOTS / self.journey
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"{self.name}-{self.steps:02d}-{step}"
        shot = folder / f"{stem}.png"
        self.driver.save_screenshot(str(shot))
        metrics = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics["cssContentSize"]
        whole = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {
                    "x": 0,
                    "y": 0,
                    "width": size["width"],
                    "height": min(size["height"], 8000),
                    "scale": 1,
                },
            },
        )
        (folder / f"{stem}-full.png").write_bytes(base64.b64decode(whole["data"]))
        return shot

    def axe(self) -> dict:
        if not self.driver.execute_script("return typeof window.axe === 'object'"):
            self.driver.execute_script((VENDOR / "axe.min.js").read_text())
        result = self.driver.execute_async_script(AXE_RUN)
        assert "error" not in result, result
        return result

    def check(self, step: str, *, weigh: bool = True) -> PageMeasure:
        """Screenshot, then every quality bar on the page as it is now; then its weight."""
        self.screenshot(step)
        kind = page_kind(urlsplit(self.driver.current_url).path)
        where = f"{self.name} on {kind} ({step}, {self.viewport})"
        facts = self.driver.execute_script(PAGE_FACTS)
        measure = PageMeasure(kind, self.viewport, self.role)
        measure.scroll_width, measure.inner_width = facts["scrollWidth"], facts["innerWidth"]
        measure.min_tap = min((t["height"] for t in facts["targets"]), default=0)

        assert facts["lang"] == self.language, f"{where}: <html lang={facts['lang']!r}>"
        assert not facts["unlabelled"], f"{where}: inputs without a label: {facts['unlabelled']}"
        assert facts["scrollWidth"] <= facts["innerWidth"], (
            f"{where}: scrolls sideways: {facts['scrollWidth']} > {facts['innerWidth']}"
        )
        small = [t for t in facts["targets"] if t["height"] < MIN_TAP - 0.5]
        assert not small, f"{where}: tap targets under {MIN_TAP} px: {small}"

        result = self.axe()
        for violation in result["violations"]:
            impact = violation["impact"] or "minor"
            measure.axe[impact] = measure.axe.get(impact, 0) + len(violation["nodes"])
            measure.axe_rules.add(f"{violation['id']} ({impact})")
        measure.passes = result["passes"]
        serious = [v for v in result["violations"] if v["impact"] in {"serious", "critical"}]
        assert not serious, f"{where}: axe: {json.dumps(serious, indent=1)}"

        if weigh:
            measure.first, measure.repeat = self.weigh()
            assert measure.first <= FIRST_LOAD_MAX, f"{where}: first load {measure.first} B"
            assert measure.repeat <= REPEAT_MAX, f"{where}: repeat visit {measure.repeat} B"
        self.assert_own_host_only()
        self.report.add(measure)
        return measure
