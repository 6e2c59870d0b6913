"""uid-gate inside a Python app: the decision of the uid-gate service (Rust), in process.

A :class:`Gate` verifies the ``Authorization: Bearer`` JWT of a request (HS256 with Better
Auth's ``BETTER_AUTH_SECRET``, or EdDSA/ES256/RS256 from a JWKS) and checks that the user id
in the ``{user_id}`` segment of the path is the token's. It answers exactly as the service
does: same rules, statuses, ``WWW-Authenticate`` challenges, JSON bodies and reason codes.

>>> gate = Gate(secret="...32+ bytes...", public_paths=["/api/auth"])  # doctest: +SKIP
>>> gate.check("/api/alice/tasks", "Bearer eyJ...")                     # doctest: +SKIP
Decision(allowed=True, status=200, reason="owner", user_id="alice")

FastAPI: :mod:`uid_gate.fastapi`. Any ASGI app (Starlette, FastAPI): :mod:`uid_gate.asgi`.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Mapping, Sequence
from typing import Optional, Union

from ._refresh import Refresher
from ._uid_gate import ConfigError as _RustConfigError
from ._uid_gate import Decision, _Gate, _unknown_var_warnings, _variables

__all__ = ["ConfigError", "Decision", "Gate", "Authorization"]

#: What :meth:`Gate.check` accepts as the request's ``authorization`` header(s).
Authorization = Union[None, str, bytes, Sequence[Union[str, bytes]]]

# Keyword argument -> the service's variable, from the core's own list (the keyword is the name
# without its prefix, lower-cased): a variable the core gains is read by from_env at once, and
# tests/test_api.py fails until Gate takes it as a keyword too.
_VARS = {name.removeprefix("BETTER_AUTH_").removeprefix("UIDGATE_").lower(): name for name in _variables()}


def raw_target(scope: Mapping) -> bytes:
    """The request target the app's router will route, as raw bytes: ``raw_path`` without the
    ``root_path`` a server (``--root-path``) or a mount (``app.mount("/v1", sub)``) put in
    front of it, exactly where Starlette strips it, plus the query string.

    Refused (an empty target, so a 400) rather than guessed: no ``raw_path`` (``%2F`` and
    ``/`` would look the same), or a ``root_path`` that the decoded path carries but the raw
    bytes do not (an encoded prefix such as ``/%761/...`` for ``/v1``).
    """
    raw_path = scope.get("raw_path") or b""
    root = scope.get("root_path") or ""
    path = scope.get("path") or ""
    # Starlette routes on path minus root_path when path starts with it at a segment boundary.
    if root and path.startswith(root) and path[len(root) : len(root) + 1] in ("/", ""):
        raw_root = root.encode("utf-8")
        rest = raw_path[len(raw_root) :]
        if not raw_path.startswith(raw_root):
            _warn_root_path(root)
            return b""
        if not rest.startswith(b"/"):
            return b""  # the mount point itself, or a segment that only starts like it
        raw_path = rest
    query = scope.get("query_string") or b""
    return raw_path + b"?" + query if query else raw_path


_root_path_warned = False


def _warn_root_path(root: str) -> None:
    global _root_path_warned
    if not _root_path_warned:
        _root_path_warned = True
        logging.getLogger("uid_gate").warning(
            "uid-gate: a request's raw_path does not start with root_path %r, so the path the app routes cannot be "
            "read from the raw bytes; such requests are refused (400). Serve the app so that raw_path carries root_path "
            "(uvicorn >= 0.54 does) and clients send it unencoded.",
            root,
        )


class ConfigError(ValueError):
    """A configuration problem, raised when the gate is built (never per request).

    ``var`` names the variable (or keyword argument's variable) it is about; the message
    never contains a secret.
    """

    def __init__(self, message: str, var: str) -> None:
        super().__init__(message)
        #: The variable the error is about, e.g. ``"BETTER_AUTH_SECRET"``.
        self.var = var


def _text(var: str, value: object) -> str:
    if isinstance(value, (bytes, bytearray)):
        # The service reads a variable's UTF-8 bytes; bytes here mean exactly those bytes.
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{var}: bytes must be UTF-8 text, as an environment variable is", var) from None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(var, v) for v in value)
    return str(value)


class Gate:
    """The decision, configured once; a bad configuration raises :class:`ConfigError` here,
    never per request.

    Keyword arguments mirror the service's variables (``secret`` is
    ``BETTER_AUTH_SECRET``, ``path_templates`` is ``UIDGATE_PATH_TEMPLATES``, ...); lists may
    be given as Python lists. A path that no template, ``public_paths`` or
    ``auth_only_paths`` prefix covers is denied (403 ``unlisted_path``) unless
    ``unlisted_paths="authenticated"``. With ``jwks_url`` or ``secret_file``, a daemon thread keeps the
    keys fresh (``refresh=False`` leaves that to you: :meth:`refresh_now`).
    """

    def __init__(
        self,
        *,
        secret: Optional[str] = None,
        secrets: Optional[Union[str, Sequence[str]]] = None,
        secret_file: Optional[Union[str, os.PathLike]] = None,
        path_templates: Optional[Union[str, Sequence[str]]] = None,
        public_paths: Optional[Union[str, Sequence[str]]] = None,
        auth_only_paths: Optional[Union[str, Sequence[str]]] = None,
        unlisted_paths: Optional[str] = None,
        case_insensitive_paths: Optional[bool] = None,
        uid_claims: Optional[Union[str, Sequence[str]]] = None,
        scope_claims: Optional[Union[str, Sequence[str]]] = None,
        admin_roles: Optional[Union[str, Sequence[str]]] = None,
        role_claims: Optional[Union[str, Sequence[str]]] = None,
        admin_methods: Optional[Union[str, Sequence[str]]] = None,
        leeway_secs: Optional[int] = None,
        issuer: Optional[str] = None,
        audience: Optional[Union[str, Sequence[str]]] = None,
        max_token_bytes: Optional[int] = None,
        max_token_ttl_secs: Optional[int] = None,
        jwks_file: Optional[Union[str, os.PathLike]] = None,
        jwks_url: Optional[str] = None,
        jwks_refresh_secs: Optional[int] = None,
        secret_reload_secs: Optional[int] = None,
        refresh: bool = True,
    ) -> None:
        # The keywords that name a variable, read back from the signature (written out above
        # for editors and type checkers; tests/test_api.py holds it to the core's list).
        given = {k: v for k, v in locals().items() if k in _VARS}
        pairs = [(_VARS[k], _text(_VARS[k], os.fspath(v) if isinstance(v, os.PathLike) else v)) for k, v in given.items() if v is not None]
        self._init(pairs, refresh)

    def _init(self, pairs: list[tuple[str, str]], refresh: bool) -> None:
        try:
            self._inner = _Gate.from_vars(pairs)
        except _RustConfigError as e:
            raise ConfigError(*e.args) from None
        for message in self._inner.warnings:
            warnings.warn(f"uid-gate: {message}", UserWarning, stacklevel=3)
        self._refresher: Optional[Refresher] = None
        if self._inner.jwks_url or self._inner.secret_file:
            self._refresher = Refresher(self._inner)
            if refresh:
                self._refresher.start()

    @classmethod
    def from_env(cls, environ: Optional[Mapping[str, str]] = None, *, refresh: bool = True) -> "Gate":
        """Reads the service's variables from ``environ`` (default: ``os.environ``)."""
        env = os.environ if environ is None else environ
        for message in _unknown_var_warnings(list(env)):
            warnings.warn(f"uid-gate: {message}", UserWarning, stacklevel=2)
        # Every owned name goes to the core, which reads the declared ones (the secret file's
        # reload interval among them) and names a set look-alike when a required one is
        # missing (BETTER_AUTH_SECERT).
        pairs = [(k, v) for k, v in env.items() if k.startswith(("UIDGATE_", "BETTER_AUTH_"))]
        gate = cls.__new__(cls)
        gate._init(pairs, refresh)
        return gate

    def check(
        self, path: str, authorization: Authorization = None, *, public: bool = True, method: Optional[str] = None
    ) -> Decision:
        """Judges a request.

        ``path`` is the raw request target as the client sent it (``/api/alice/tasks?x=1``);
        never a decoded path, which would hide ``%2F`` and friends. ``authorization`` holds
        every ``Authorization`` value the request carried. With ``public=False`` a public
        prefix allows nothing by itself: a token is required everywhere. ``method`` is the
        request method; without it the admin override (``admin_roles``) never applies.
        """
        return self._inner.check(path, authorization, public=public, method=method)

    def check_scope(self, scope: Mapping, *, public: bool = True) -> Decision:
        """Judges an ASGI ``scope`` (HTTP or WebSocket) from its raw path, method and headers."""
        auth = [v for k, v in scope.get("headers", ()) if k == b"authorization"]
        # A WebSocket scope has no method: no admin override there.
        return self._inner.check_raw(raw_target(scope), auth, public, scope.get("method"))

    def check_identity(self, path: str, user_id: Optional[str]) -> Decision:
        """The path rules for an identity a trusted gateway already verified."""
        return self._inner.check_identity(path, user_id)

    def refresh_now(self) -> None:
        """Fetches the JWKS URL and re-reads the secret file once, now."""
        if self._refresher is not None:
            self._refresher.run_once()

    @property
    def jwks_key_count(self) -> int:
        """How many JWKS keys are in force (0 before the first fetch of a JWKS URL)."""
        return self._inner.jwks_key_count()

    @property
    def ready(self) -> bool:
        """Whether the gate can verify a token yet: with a JWKS URL, once the first keys have
        arrived; otherwise always. For a readiness probe (examples/fastapi/app.py's /healthz)."""
        return not self._inner.jwks_url or self.jwks_key_count > 0

    @property
    def path_templates(self) -> list[str]:
        """The user-scoped templates, as configured."""
        return self._inner.path_templates

    @property
    def placeholders(self) -> list[str]:
        """Every placeholder name the templates use (``user_id``, ``org_id``)."""
        return self._inner.placeholders

    @property
    def public_paths(self) -> list[str]:
        """The public prefixes, as configured."""
        return self._inner.public_paths

    @property
    def auth_only_paths(self) -> list[str]:
        """The authenticated-only prefixes, as configured."""
        return self._inner.auth_only_paths

    def close(self) -> None:
        """Stops the background refresher, if any."""
        if self._refresher is not None:
            self._refresher.stop()

    def __repr__(self) -> str:
        return repr(self._inner)

