"""Open a page in a headless Chromium and look at it as a reader's browser does.

A small driver of the Chrome DevTools Protocol over Chromium's pipe transport
(`--remote-debugging-pipe`: JSON messages ending in a NUL byte, commands on the browser's file
descriptor 3, answers and events on 4; the transport Playwright and Puppeteer use). It needs a
Chromium or Chrome executable and nothing else: no WebDriver, no browser download, no network.

    check = inspect_page("results/demo/report.html", screenshot="report.png")
    check.sections      # [{"id": "run", "heading": "1 What was run", "status": "ok"}, ...]
    check.images        # [{"alt": ..., "natural_width": 1650, "decoded": True}, ...]
    check.requests      # URLs the page asked for other than data: and file: (none expected)
    check.errors        # script exceptions, console errors, refused loads (CSP)

    python -m src.report.browser results/demo/report.html --screenshot docs/report.png \
        --until importance       # the README's picture: the page down to section 5

The tests use it to check the report in a real browser; `find_chromium()` is None when no
browser is installed (the tests then skip).
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

# Where Chromium or Chrome lives on Debian/Ubuntu, Fedora, snap and macOS; $CHROMIUM first.
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable",
              "chrome", "/usr/bin/chromium", "/usr/lib/chromium/chromium", "/snap/bin/chromium",
              "/Applications/Chromium.app/Contents/MacOS/Chromium",
              "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")
# Headless, as root, offline and quiet: no sandbox (root), no GPU, no QUIC, no first-run
# dialogs, no background fetches (updates, sync, field trials), a fresh profile per launch.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--disable-default-apps", "--disable-dev-shm-usage", "--mute-audio",
         "--hide-scrollbars", "--disable-features=Translate,MediaRouter,OptimizationHints",
         "--metrics-recording-only", "--password-store=basic", "--use-mock-keychain",
         "--remote-debugging-pipe")


class BrowserError(RuntimeError):
    """Chromium could not be started, answered with an error, or took too long."""


def find_chromium() -> str | None:
    """The Chromium (or Chrome) executable: $CHROMIUM, else the first of `CANDIDATES` found;
    None when there is none, or on Windows (the pipe transport is POSIX file descriptors)."""
    if os.name == "nt":
        return None
    wanted = os.environ.get("CHROMIUM")
    if wanted:
        return shutil.which(wanted) or (wanted if os.access(wanted, os.X_OK) else None)
    for name in CANDIDATES:
        found = shutil.which(name) or (name if os.path.isabs(name) and os.access(name, os.X_OK)
                                       else None)
        if found:
            return found
    return None


class Chromium:
    """A headless Chromium driven over its DevTools pipe; use as a context manager.

    Parameters
    ----------
    executable : the browser (default `find_chromium()`)
    width, height : the viewport in CSS pixels
    timeout : seconds to wait for any answer or awaited event
    """

    def __init__(self, executable: str | None = None, width: int = 1280, height: int = 900,
                 timeout: float = 60.0):
        self.executable = executable or find_chromium()
        if not self.executable:
            raise BrowserError("no Chromium found: install one (Debian/Ubuntu: apt-get install "
                               "chromium) or set CHROMIUM to its executable")
        self.width, self.height, self.timeout = width, height, timeout
        self.events: list[dict] = []
        self._answers: dict[int, dict] = {}
        self._inbox: queue.Queue = queue.Queue()
        self._next_id = 0
        self._process = None
        self._profile = None

    # ----------------------------------------------------------------------- process

    def __enter__(self) -> "Chromium":
        self._profile = tempfile.mkdtemp(prefix="report-chromium-")
        # The browser reads commands on fd 3 and writes on fd 4: move the pipe ends above the
        # standard numbers first, so that setting up 3 and 4 in the child cannot clobber them.
        to_browser_r, to_browser_w = (self._high(fd) for fd in os.pipe())
        from_browser_r, from_browser_w = (self._high(fd) for fd in os.pipe())

        def arrange_fds():  # in the child, before exec; fds 3 and 4 stay open across exec
            os.dup2(to_browser_r, 3)
            os.dup2(from_browser_w, 4)

        command = [self.executable, *FLAGS, f"--user-data-dir={self._profile}",
                   f"--window-size={self.width},{self.height}", "about:blank"]
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                             close_fds=False, preexec_fn=arrange_fds)
        except OSError as err:
            shutil.rmtree(self._profile, ignore_errors=True)
            raise BrowserError(f"could not start {self.executable}: {err}") from None
        finally:
            os.close(to_browser_r)
            os.close(from_browser_w)
        self._writer = os.fdopen(to_browser_w, "wb", buffering=0)
        self._reader = threading.Thread(target=self._read, args=(from_browser_r,), daemon=True)
        self._reader.start()
        self._stderr = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        try:
            self.version = self.send("Browser.getVersion").get("product", "")
        except BaseException:  # a browser that does not answer is stopped, its profile removed
            self.__exit__(None, None, None)
            raise
        return self

    @staticmethod
    def _high(fd: int) -> int:
        moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return moved

    def _drain_stderr(self) -> None:
        for line in self._process.stderr:
            self._stderr.append(line.decode("utf-8", "replace").rstrip())
            del self._stderr[:-40]

    def _read(self, fd: int) -> None:
        buffer = b""
        with os.fdopen(fd, "rb", buffering=0) as stream:
            while True:
                chunk = stream.read(1 << 16)
                if not chunk:
                    self._inbox.put(None)
                    return
                buffer += chunk
                *messages, buffer = buffer.split(b"\0")
                for message in messages:
                    self._inbox.put(json.loads(message))

    def __exit__(self, *exc) -> None:
        try:
            if self._process and self._process.poll() is None:
                try:
                    self.send("Browser.close", timeout=10)
                except BrowserError:
                    pass
                try:
                    self._process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._process.kill()
                    self._process.wait(timeout=10)
        finally:
            try:
                self._writer.close()
            except OSError:
                pass
            shutil.rmtree(self._profile, ignore_errors=True)

    # ---------------------------------------------------------------------- protocol

    def _pump(self, deadline: float) -> bool:
        """Take one message from the browser (False on timeout); the browser gone is an error."""
        try:
            message = self._inbox.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if message is None:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)  # let the stderr reader catch the last lines
            detail = "\n".join(self._stderr[-10:])
            raise BrowserError(f"{self.executable} closed its DevTools pipe (exit status "
                               f"{self._process.poll()}): {detail}")
        if "id" in message:
            self._answers[message["id"]] = message
        else:
            self.events.append(message)
        return True

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float | None = None) -> dict:
        """Send a command and return its result; a protocol error is a `BrowserError`."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        try:
            self._writer.write(json.dumps(message).encode() + b"\0")
        except BrokenPipeError:
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.1)  # let the stderr reader catch the last lines
            raise BrowserError(f"{self.executable} is gone (exit status {self._process.poll()}): "
                               + "\n".join(self._stderr[-10:])) from None
        deadline = time.monotonic() + (timeout or self.timeout)
        while self._next_id not in self._answers:
            if not self._pump(deadline):
                raise BrowserError(f"no answer to {method} in {timeout or self.timeout:.0f} s")
        answer = self._answers.pop(self._next_id)
        if "error" in answer:
            raise BrowserError(f"{method}: {answer['error'].get('message')} "
                               f"({answer['error'].get('data', '')})")
        return answer.get("result", {})

    def wait_event(self, method: str, session: str | None = None,
                   timeout: float | None = None, since: int = 0) -> dict:
        """The parameters of the first event `method` (of `session`) after event `since`."""
        deadline = time.monotonic() + (timeout or self.timeout)
        index = since
        while True:
            for event in self.events[index:]:
                if event.get("method") == method and (session is None or
                                                      event.get("sessionId") == session):
                    return event.get("params", {})
            index = len(self.events)
            if not self._pump(deadline):
                raise BrowserError(f"no {method} event in {timeout or self.timeout:.0f} s")

    # -------------------------------------------------------------------------- pages

    def open(self, url: str) -> str:
        """Open `url` in a new tab, wait for its load event; returns the tab's session id."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}, session=session)
        since = len(self.events)
        self.send("Page.navigate", {"url": url}, session=session)
        self.wait_event("Page.loadEventFired", session, since=since)
        return session

    def evaluate(self, session: str, expression: str, await_promise: bool = True):
        """The value of a JavaScript expression in the page (JSON-serialisable)."""
        result = self.send("Runtime.evaluate", {"expression": expression,
                                                "awaitPromise": await_promise,
                                                "returnByValue": True}, session=session)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            message = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"script error: {message}")
        return result.get("result", {}).get("value")

    def screenshot(self, session: str, path: str | Path, full_page: bool = True,
                   max_height: int | None = None) -> Path:
        """Save a PNG of the page: all of it (`full_page`) or the viewport, cut at
        `max_height` CSS pixels."""
        metrics = self.send("Page.getLayoutMetrics", session=session)
        size = metrics.get("cssContentSize") or metrics.get("contentSize")
        height = size["height"] if full_page else self.height
        if max_height:
            height = min(height, max_height)
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1}},
            session=session)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def page_problems(self, session: str) -> tuple[list[str], list[str]]:
        """(URLs requested other than data:/file:/about:, errors: exceptions, console errors,
        browser log errors such as refused loads)."""
        requests, errors = [], []
        for event in self.events:
            if event.get("sessionId") != session:
                continue
            method, params = event.get("method"), event.get("params", {})
            if method == "Network.requestWillBeSent":
                url = params.get("request", {}).get("url", "")
                if not url.startswith(("data:", "file:", "about:")):
                    requests.append(url)
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                errors.append(details.get("exception", {}).get("description")
                              or details.get("text", "exception"))
            elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
                errors.append(" ".join(str(a.get("value", a.get("description", "")))
                                       for a in params.get("args", [])))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                errors.append(params["entry"].get("text", ""))
        return requests, errors


# What the page looks like to a reader: sections, their headings and status, every image
# decoded (naturalWidth after decode()), the document's height.
_INSPECT = """
(async () => {
  await document.fonts.ready;
  const images = await Promise.all(Array.from(document.images).map(async (img) => {
    let decoded = true;
    try { await img.decode(); } catch (e) { decoded = false; }
    return {alt: img.alt, natural_width: img.naturalWidth, natural_height: img.naturalHeight,
            width: img.getBoundingClientRect().width, decoded: decoded && img.naturalWidth > 0};
  }));
  const sections = Array.from(document.querySelectorAll("main > section")).map((s) => ({
    id: s.id, heading: (s.querySelector("h2") || {}).textContent || "",
    status: s.dataset.status, visible: s.getBoundingClientRect().height > 0}));
  return {title: document.title, sections: sections, images: images,
          tables: document.querySelectorAll("table.data").length,
          height: document.documentElement.scrollHeight};
})()
"""


@dataclass
class PageCheck:
    """What `inspect_page` saw."""

    title: str
    sections: list[dict]
    images: list[dict]
    tables: int
    height: int
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    browser: str = ""
    seconds: float = 0.0
    extra: object = None


def inspect_page(page: str | Path, screenshot: str | Path | None = None,
                 full_page: bool = True, max_height: int | None = None, width: int = 1280,
                 executable: str | None = None, script: str | None = None,
                 until: str | None = None) -> PageCheck:
    """Open a local HTML file headless, wait for it and its images, and report what it shows.

    script : optional JavaScript run after the checks (e.g. clicking a table heading); its
        value is returned in `PageCheck.extra`
    until : cut the screenshot where the element with this id begins (a section of the report)
    """
    started = time.perf_counter()
    url = Path(page).resolve().as_uri()
    with Chromium(executable, width=width) as browser:
        session = browser.open(url)
        seen = browser.evaluate(session, _INSPECT)
        extra = browser.evaluate(session, script) if script else None
        if until:
            top = browser.evaluate(session, f"(document.getElementById({json.dumps(until)}) "
                                            f"|| {{}}).offsetTop")
            if top is None:
                raise BrowserError(f"no element with id {until!r} in {page}")
            max_height = min(max_height or top, top)
        shot = (browser.screenshot(session, screenshot, full_page, max_height)
                if screenshot else None)
        requests, errors = browser.page_problems(session)
        check = PageCheck(seen["title"], seen["sections"], seen["images"], seen["tables"],
                          seen["height"], requests, errors, shot, browser.version, extra=extra)
    check.seconds = time.perf_counter() - started
    return check


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m src.report.browser",
        description="Open a report in headless Chromium: list its sections and images, and "
                    "save a screenshot (e.g. docs/report.png for the README).")
    parser.add_argument("page", help="the HTML file (report.html)")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot here")
    parser.add_argument("--max-height", type=int, metavar="PX",
                        help="cut the screenshot at this many CSS pixels (default: whole page)")
    parser.add_argument("--until", metavar="ID",
                        help="cut the screenshot where this section begins (e.g. importance)")
    parser.add_argument("--width", type=int, default=1280, help="viewport width, CSS pixels")
    args = parser.parse_args(argv)
    if not find_chromium():
        sys.exit("error: no Chromium found: install one (apt-get install chromium) or set "
                 "CHROMIUM to its executable")
    check = inspect_page(args.page, args.screenshot, max_height=args.max_height,
                         width=args.width, until=args.until)
    print(f"{check.browser}: {check.title!r}, {len(check.sections)} sections, "
          f"{sum(i['decoded'] for i in check.images)}/{len(check.images)} images decoded, "
          f"{check.tables} tables, {check.height} px tall, {check.seconds:.1f} s")
    for section in check.sections:
        print(f"  {section['status']:8} {section['heading']}")
    for problem in check.requests + check.errors:
        print(f"  problem: {problem}")
    if check.screenshot:
        print(f"screenshot: {check.screenshot}")
    if check.requests or check.errors or not all(i["decoded"] for i in check.images):
        sys.exit(1)


if __name__ == "__main__":
    main()
