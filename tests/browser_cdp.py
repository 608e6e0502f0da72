"""A small, dependency-free driver for headless Chromium, used by ``test_browser.py``.

It speaks the Chrome DevTools Protocol (CDP) over ``--remote-debugging-pipe``: Chromium reads JSON
messages on file descriptor 3 and writes them on 4, each ended by a NUL byte. No port, no websocket
library, no chromedriver: only the standard library and Debian's ``chromium``.

It can also be run by hand to take screenshots of the built book::

    python tests/browser_cdp.py screenshot --site _build/html --out /tmp/shots book/dropout/02_train_vs_eval.html ...
    python tests/browser_cdp.py screenshot --site _build/html --out /tmp/shots --chapters
"""
from __future__ import annotations

import argparse
import base64
import fcntl
import functools
import http.server
import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--no-first-run", "--no-default-browser-check",
    "--mute-audio", "--hide-scrollbars", "--window-size=1280,900",
]


def find_chromium() -> str:
    for name in (os.environ.get("CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    raise FileNotFoundError("Chromium not found: run `bash scripts/setup.sh` as root "
                            "(it installs Debian's `chromium`) or set CHROMIUM=/path/to/chrome.")


def _move_above(fd: int, low: int) -> int:
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, low + 1)
    os.close(fd)
    return new


class CDPError(RuntimeError):
    pass


class Browser:
    """One headless Chromium with one tab, driven over the DevTools pipe."""

    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="regcourse-chromium-")
        to_chrome_r, self._to_chrome_w = os.pipe()
        self._from_chrome_r, from_chrome_w = os.pipe()
        # Chromium's ends must not sit on 3 or 4 themselves, or the redirections below would close them.
        to_chrome_r, from_chrome_w = (_move_above(fd, 9) for fd in (to_chrome_r, from_chrome_w))
        # The shell moves our two pipe ends onto descriptors 3 and 4, where Chromium expects them.
        script = f'exec "$0" "$@" 3<&{to_chrome_r} 4>&{from_chrome_w} {to_chrome_r}<&- {from_chrome_w}>&-'
        args = [find_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}",
                "--remote-debugging-pipe", "about:blank"]
        self.proc = subprocess.Popen(["bash", "-c", script, *args], pass_fds=(to_chrome_r, from_chrome_w),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._next_id = 0
        self._responses: dict[int, dict] = {}
        self._events: queue.Queue = queue.Queue()
        self._cond = threading.Condition()
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        self.session = None
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Network", "Log"):
            self.send(f"{domain}.enable")

    # -- protocol -------------------------------------------------------------------------------
    def _read_loop(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._from_chrome_r, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._cond:
                    self._responses[-1] = {"error": {"message": "Chromium closed the DevTools pipe"}}
                    self._cond.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            for raw in messages:
                msg = json.loads(raw)
                if "id" in msg:
                    with self._cond:
                        self._responses[msg["id"]] = msg
                        self._cond.notify_all()
                else:
                    self._events.put(msg)

    def send(self, method: str, params: dict | None = None, timeout: float | None = None) -> dict:
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_chrome_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + (timeout or self.timeout)
        with self._cond:
            while msg["id"] not in self._responses and -1 not in self._responses:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError(f"no answer to {method} within {timeout or self.timeout} s")
                self._cond.wait(left)
            reply = self._responses.pop(msg["id"], None) or self._responses[-1]
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def events(self) -> list[dict]:
        """Every event received since the last call."""
        out = []
        while True:
            try:
                out.append(self._events.get_nowait())
            except queue.Empty:
                return out

    def evaluate(self, expression: str, await_promise: bool = False, timeout: float | None = None):
        res = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": await_promise}, timeout=timeout)
        if "exceptionDetails" in res:
            raise CDPError(f"JavaScript error in test code: {res['exceptionDetails']}")
        return res["result"].get("value")

    # -- pages ----------------------------------------------------------------------------------
    def open(self, url: str) -> list[dict]:
        """Load `url`, wait for the load event and for MathJax to finish; return the page's events."""
        self.events()  # drop what belongs to the previous page
        nav = self.send("Page.navigate", {"url": url})
        if nav.get("errorText"):
            raise CDPError(f"cannot open {url}: {nav['errorText']}")
        collected, deadline = [], time.monotonic() + self.timeout
        while True:
            try:
                ev = self._events.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise CDPError(f"{url} did not finish loading within {self.timeout} s") from None
            collected.append(ev)
            if ev.get("method") == "Page.loadEventFired":
                break
        # MathJax typesets after load; its startup promise resolves when the first typeset is done.
        self.evaluate("""(async () => {
            if (window.MathJax && MathJax.startup && MathJax.startup.promise) await MathJax.startup.promise;
            if (document.fonts) await document.fonts.ready;
            await Promise.all(Array.from(document.images).map(img => img.complete ? null :
                new Promise(r => { img.addEventListener('load', r); img.addEventListener('error', r); })));
            return true; })()""", await_promise=True)
        time.sleep(0.2)  # let late console messages and network events arrive
        return collected + self.events()

    def screenshot(self, path: Path, width: int = 1280, full_page: bool = True) -> None:
        """PNG of the page; full_page makes the window as tall as the page first (fixed headers stay put)."""
        height = 900
        if full_page:
            metrics = self.send("Page.getLayoutMetrics")
            height = int((metrics.get("cssContentSize") or metrics["contentSize"])["height"]) + 1
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": min(height, 16000), "deviceScaleFactor": 1, "mobile": False})
        time.sleep(0.3)  # relayout
        data = self.send("Page.captureScreenshot", {"format": "png"}, timeout=120)["data"]
        Path(path).write_bytes(base64.b64decode(data))
        self.send("Emulation.clearDeviceMetricsOverride")

    def close(self):
        try:
            self.send("Browser.close", timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for fd in (self._to_chrome_w, self._from_chrome_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        # The browser closes connections it no longer needs (a page navigated away mid-download): not an error.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class SiteServer:
    """Serve a built site from 127.0.0.1 on a free port, in a background thread."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def chapter_pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in (site / "book").rglob("*.html"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("screenshot", help="full-page PNG of each page")
    sc.add_argument("--site", type=Path, default=Path(__file__).resolve().parents[1] / "_build" / "html")
    sc.add_argument("--out", type=Path, required=True)
    sc.add_argument("--chapters", action="store_true", help="every page under book/")
    sc.add_argument("--width", type=int, default=1280)
    sc.add_argument("pages", nargs="*")
    args = ap.parse_args(argv)
    pages = args.pages + (chapter_pages(args.site) if args.chapters else [])
    args.out.mkdir(parents=True, exist_ok=True)
    with SiteServer(args.site) as server, Browser() as browser:
        for page in pages:
            t = time.monotonic()
            browser.open(server.base + page)
            png = args.out / (page.replace("/", "__").removesuffix(".html") + ".png")
            browser.screenshot(png, width=args.width)
            print(f"{png}  ({time.monotonic() - t:.1f} s)")


if __name__ == "__main__":
    main()
