"""The gate's key refreshes, as the service does them: a rotated secret file is picked up
without a restart (a bad one is refused, the old secrets stay), and a token naming a `kid`
the JWKS lacks makes the refresher fetch the JWKS early."""

from __future__ import annotations

import time

from test_api import token

from uid_gate import Gate

OLD = "old-secret-old-secret-old-secret-01"
NEW = "new-secret-new-secret-new-secret-02"


def _bearer(key: str) -> str:
    return "Bearer " + token({"uid": "alice", "exp": int(time.time()) + 600}, key)


def test_a_rotated_secret_file_is_applied_without_a_restart(tmp_path):
    path = tmp_path / "secret"
    path.write_text(OLD + "\n")
    gate = Gate(secret_file=path, refresh=False)
    assert gate.check("/api/alice", _bearer(OLD)).allowed
    assert gate.check("/api/alice", _bearer(NEW)).reason == "bad_signature"
    # Rotation, step 1: the new secret first, the old one still accepted.
    path.write_text(f"{NEW}\n{OLD}\n")
    gate.refresh_now()
    assert gate.check("/api/alice", _bearer(NEW)).allowed
    assert gate.check("/api/alice", _bearer(OLD)).allowed
    # A broken file is refused: the secrets in force stay.
    path.write_text("short\n")
    gate.refresh_now()
    assert gate.check("/api/alice", _bearer(NEW)).allowed
    # Step 2: the old secret retired.
    path.write_text(NEW + "\n")
    gate.refresh_now()
    assert gate.check("/api/alice", _bearer(NEW)).allowed
    assert gate.check("/api/alice", _bearer(OLD)).reason == "bad_signature"


def test_an_unknown_kid_makes_the_refresher_fetch_early(better_auth, jwks_server):
    jwks_server.serve(better_auth["other_jwks"])  # ES256/RS256 keys, not the EdDSA token's
    # A refresh interval of an hour: only an unknown kid can bring the new key in time.
    gate = Gate(jwks_url=jwks_server.url, jwks_refresh_secs=3600)
    deadline = time.monotonic() + 10
    while gate.jwks_key_count == 0:
        assert time.monotonic() < deadline, "the first JWKS fetch never happened"
        time.sleep(0.05)
    carol = better_auth["users"]["carol"]
    bearer = "Bearer " + better_auth["tokens"]["eddsa"]
    assert gate.check(f"/api/{carol}/tasks", bearer).reason == "unknown_kid"
    # The issuer rotates its key in; the next unknown-kid miss fetches it (at most every 2 s).
    jwks_server.serve(better_auth["jwks"])
    deadline = time.monotonic() + 10
    while not gate.check(f"/api/{carol}/tasks", bearer).allowed:
        assert time.monotonic() < deadline, "the unknown kid never triggered a fetch"
        time.sleep(0.1)
    assert jwks_server.hits >= 2
    gate.close()


def test_ready_means_the_gate_can_verify(better_auth, jwks_server):
    # A secret is there from the start; a JWKS URL only once its first keys have arrived.
    assert Gate(secret=NEW).ready
    gate = Gate(jwks_url=jwks_server.url, refresh=False)
    assert not gate.ready
    jwks_server.serve(better_auth["jwks"])
    gate.refresh_now()
    assert gate.ready
    gate.close()
