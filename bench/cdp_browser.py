"""Headless Chromium driven over the DevTools protocol, for bench/bench_ui.py: open a page (or
act on the page shown), wait until it shows what it should, record every API call it made in
that window, take a screenshot; then replay each distinct call with httpx and time it.

The browser's own timings include rendering and the page's polling; the replay times the API
alone, `repeat` times, which is what the 2 s target (issue #8) is about. The caller puts tests/
on sys.path (tests/processes.py: free ports, bounded waits).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench_tools import load

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    """Headless Chromium over the DevTools protocol, recording the page's network calls."""

    def __init__(self, tmp: Path):
        self.tmp = tmp

    def __enter__(self):
        import httpx
        from websockets.sync.client import connect

        from processes import free_port, wait_for

        port = free_port()
        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                "--lang=zh-CN",
                f"--user-data-dir={self.tmp / 'chromium'}",
                "--window-size=1440,1000",
                f"--remote-debugging-port={port}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        targets = wait_for(
            "chromium",
            lambda: [
                t
                for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                if t["type"] == "page"
            ],
        )
        self.ws = connect(targets[0]["webSocketDebuggerUrl"], max_size=None, ping_interval=None)
        self.counter = 0
        self.events: list[dict] = []
        self.call(
            "Emulation.setDeviceMetricsOverride", width=1440, height=1000, deviceScaleFactor=1, mobile=False
        )
        self.call("Network.enable")
        self.call("Page.enable")
        return self

    def __exit__(self, *exc):
        self.ws.close()
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def call(self, method: str, **params):
        self.counter += 1
        n = self.counter
        self.ws.send(json.dumps({"id": n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == n:
                return msg.get("result", {})
            self.events.append(msg)

    def pump(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.events.append(json.loads(self.ws.recv(timeout=max(0.05, end - time.monotonic()))))
            except TimeoutError:
                return

    def open(
        self,
        url: str | None,
        ready: str,
        action: str | None = None,
        settle: float = 3.0,
        timeout: float = 180,
    ) -> tuple[list[dict], float]:
        """Navigate to `url` (or run the JS `action` on the page shown), wait until `ready` (JS)
        is true, let the page settle `settle` seconds more; return the API calls made in that
        window (method, url, body, status, seconds in the browser) and the seconds until ready.
        The pages poll (events, logs) every few seconds, so the window ends there."""
        self.events.clear()
        t0 = time.monotonic()
        if url:
            self.call("Page.navigate", url=url)
        if action:
            self.call("Runtime.evaluate", expression=action)
        deadline = t0 + timeout
        while not self.evaluate(ready):
            if time.monotonic() > deadline:
                raise SystemExit(f"页面 {url or action} 在 {timeout:g} 秒内未显示")
            self.pump(0.3)
        shown = time.monotonic() - t0
        self.pump(settle)
        sent, done, status = {}, {}, {}
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Network.requestWillBeSent" and "/api/" in p["request"]["url"]:
                sent[p["requestId"]] = (p["request"], p["timestamp"])
            elif e.get("method") == "Network.responseReceived":
                status[p["requestId"]] = p["response"]["status"]
            elif e.get("method") in ("Network.loadingFinished", "Network.loadingFailed"):
                done[p["requestId"]] = p["timestamp"]
        return [
            {
                "method": req["method"],
                "url": req["url"],
                "body": req.get("postData"),
                "status": status.get(rid),
                "seconds": done[rid] - t if rid in done else None,
            }
            for rid, (req, t) in sent.items()
        ], shown

    def evaluate(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return r.get("result", {}).get("value")

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))


def replay(calls: list[dict], repeat: int) -> list[dict]:
    """Each distinct API call `repeat` times: status checked, median and max seconds."""
    import httpx

    seen, rows = set(), []
    with httpx.Client(timeout=120) as client:
        for c in calls:
            path = urlsplit(c["url"]).path
            key = (c["method"], path, c["body"])
            if key in seen or c["method"] == "OPTIONS":
                continue
            seen.add(key)
            times, status = [], None
            for _ in range(repeat):
                t0 = time.monotonic()
                r = client.request(
                    c["method"],
                    c["url"],
                    content=c["body"],
                    headers={"content-type": "application/json"} if c["body"] else {},
                )
                times.append(time.monotonic() - t0)
                status = r.status_code
                if status >= 400:
                    print(f"  ！{c['method']} {path} -> {status}: {r.text[:300]}")
            if statistics.median(times) > 0.5 and c["body"]:
                print(f"  较慢：{c['method']} {path} 请求体 {c['body'][:600]}")
            rows.append(
                {
                    "call": f"{c['method']} {path.split('/api', 1)[1]}",
                    "status": status,
                    "median": statistics.median(times),
                    "max": max(times),
                    "browser": c["seconds"],
                    "load": load(),
                }
            )
    return rows
