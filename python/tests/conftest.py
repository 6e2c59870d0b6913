"""Shared fixtures: inputs the Rust harness (tests/it/python.rs) prepares for the Python tests."""

from __future__ import annotations

import json
import os

import pytest


@pytest.fixture(scope="session")
def better_auth() -> dict:
    """Tokens minted by the real better-auth package, with the secret they were signed with."""
    path = os.environ.get("UIDGATE_BETTER_AUTH")
    if not path:
        pytest.fail("UIDGATE_BETTER_AUTH is not set: run the Python tests through `cargo test` (tests/it/python.rs)")
    with open(path) as f:
        return json.load(f)


SECRET = "0123456789abcdef0123456789abcdef"
