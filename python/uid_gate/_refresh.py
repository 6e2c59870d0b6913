"""Keeps a gate's keys fresh, as the service does: the JWKS URL every ``refresh`` seconds (and
early, at most every 2 s, when a token names an unknown ``kid``), the secret file every
``reload`` seconds. A failed fetch keeps the last good keys. One daemon thread per gate."""

from __future__ import annotations

import logging
import threading
import time
import urllib.request

log = logging.getLogger("uid_gate")

#: The least time between two JWKS fetches, and how soon a failed fetch is retried.
MIN_REFETCH = 2.0
RETRY = 5.0
TIMEOUT = 5.0
MAX_BYTES = 1 << 20


class Refresher:
    def __init__(self, inner, reload_secs: int) -> None:
        self._inner = inner
        self._reload = float(reload_secs)
        self._stop = threading.Event()
        self._thread = None
        self._last_fetch = 0.0
        self._next_fetch = 0.0
        self._next_reload = 0.0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="uid-gate-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 1)

    def fetch_jwks(self) -> bool:
        url = self._inner.jwks_url
        if not url:
            return True
        self._last_fetch = time.monotonic()
        try:
            req = urllib.request.Request(url, headers={"accept": "application/json"})
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:  # noqa: S310 (http(s) checked by the config)
                body = resp.read(MAX_BYTES + 1)
            if len(body) > MAX_BYTES:
                raise ValueError("JWKS over 1 MiB")
            n = self._inner.replace_jwks(body)
            log.debug("JWKS refreshed: %d keys", n)
            return True
        except Exception as e:  # noqa: BLE001 (any failure keeps the last good keys)
            log.warning("JWKS refresh failed (%s); keeping the last good keys (%d)", type(e).__name__, self._inner.jwks_key_count())
            return False

    def reload_secrets(self) -> None:
        outcome = self._inner.reload_secret_file()
        if outcome == "applied":
            log.info("secret file changed; new secrets in force")
        elif outcome == "refused":
            log.warning("secret file changed but was refused; keeping the previous secrets")

    def run_once(self) -> None:
        self.fetch_jwks()
        self.reload_secrets()

    def _loop(self) -> None:
        every = float(self._inner.jwks_refresh_secs)
        while not self._stop.is_set():
            now = time.monotonic()
            if self._inner.jwks_url:
                due = now >= self._next_fetch
                early = self._inner.take_kid_miss() and now - self._last_fetch >= MIN_REFETCH
                if due or early:
                    ok = self.fetch_jwks()
                    self._next_fetch = time.monotonic() + (every if ok else min(every, RETRY))
            if self._inner.secret_file and now >= self._next_reload:
                self.reload_secrets()
                self._next_reload = now + self._reload
            self._stop.wait(0.25)
