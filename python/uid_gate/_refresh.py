"""Keeps a gate's keys fresh on the core's schedule (``uid_gate_core::refresh``, which the
service and the Envoy module follow too): the JWKS URL at once, every ``jwks_refresh_secs``,
early after an unknown ``kid`` and soon after a failure; the secret file every
``secret_reload_secs``. This thread only does the I/O the schedule asks for. One daemon
thread per gate."""

from __future__ import annotations

import logging
import threading
import urllib.request

from ._uid_gate import JWKS_FETCH_TIMEOUT_SECS, JWKS_MAX_BYTES

log = logging.getLogger("uid_gate")

#: The longest sleep between looks: an unknown-kid miss has no wakeup across the binding.
POLL = 0.25


class Refresher:
    def __init__(self, inner) -> None:
        self._inner = inner
        self._stop = threading.Event()
        self._thread = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="uid-gate-refresh", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=JWKS_FETCH_TIMEOUT_SECS + 1)

    def fetch_jwks(self, force: bool = False) -> None:
        if not self._inner.jwks_start(force):
            return
        body, error = None, None
        try:
            req = urllib.request.Request(self._inner.jwks_url, headers={"accept": "application/json"})
            with urllib.request.urlopen(req, timeout=JWKS_FETCH_TIMEOUT_SECS) as resp:  # noqa: S310 (http(s) checked by the config)
                # One byte over the cap is enough for the core to refuse the document.
                body = resp.read(JWKS_MAX_BYTES + 1)
        except Exception as e:  # noqa: BLE001 (any failure is reported; the keys in force stay)
            error = type(e).__name__
        # Always reported, so the schedule's one fetch in flight ends.
        try:
            n = self._inner.jwks_fetched(body, error)
            log.debug("JWKS refreshed: %d keys", n)
        except ValueError as e:
            log.warning("JWKS refresh failed (%s); keeping the last good keys (%d)", e, self._inner.jwks_key_count())

    def reload_secrets(self) -> None:
        outcome = self._inner.reload_secret_file()
        if outcome == "applied":
            log.info("secret file changed; new secrets in force")
        elif outcome == "refused":
            log.warning("secret file changed but was refused; keeping the previous secrets")

    def run_once(self) -> None:
        self.fetch_jwks(force=True)
        if self._inner.secret_file:
            self.reload_secrets()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.fetch_jwks()
            if self._inner.reload_due():
                self.reload_secrets()
            wait = self._inner.refresh_wait()
            # Zero here means another thread holds the turn (refresh_now): look again soon.
            self._stop.wait(POLL if wait == 0 else min(POLL, wait))
