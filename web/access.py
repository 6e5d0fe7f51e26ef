"""Who may use the web page, and how: the address it answers at, where a change comes from, the login,
the client a request counts for, and the headers every answer carries.

A page on loopback serves the person at this computer; another web site open in the same browser,
or a host name rebound to 127.0.0.1, must not steer it. So every request must name the page's own
address in `Host`, and every change must come from the page itself (`Origin`, or lacking it
`Referer`; a request with neither comes from no browser). A page that other machines reach needs a
login: the shared access token, entered once and kept in an encrypted cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

from aiohttp import web
from aiohttp_session import get_session, new_session, session_middleware
from aiohttp_session.cookie_storage import EncryptedCookieStorage

from domain import limits
from web.front import LOCAL_USER

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Bodies: a JSON request is small; the start form may carry a MIDI file.
MAX_JSON_BYTES = 16 * 1024
MAX_FORM_BYTES = limits.MAX_SEED_BYTES + 64 * 1024
FORM_PATHS = ("/api/breeds", "/login")
CHANGES_NOTHING = ("GET", "HEAD", "OPTIONS")
BODY_TYPES = ("application/json", "multipart/form-data")
FORWARDING_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
# What a page may load: its own scripts, styles, media and requests; no inline script, no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# The login: what a browser may load before it (the login page itself), how long it is kept, and how
# many wrong tokens a client may try in a window before it waits.
OPEN_PATHS = ("/login", "/static/")
SESSION_COOKIE = "breeder_session"
SESSION_DAYS = 30
WRONG_TOKENS = 10
WRONG_TOKEN_WINDOW_S = 600.0
# Past this many addresses with wrong tokens, those whose wait is over are forgotten.
MAX_WRONG_TOKEN_CLIENTS = 10_000
MIN_TOKEN_CHARS = 16

LOGGED_IN = "in"
NOT_LOGGED_IN = "Log in first: open the page in your browser and enter the access token."
WRONG_TOKEN = "That is not the access token."


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or `localhost`) reaches this computer only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login_needed(host: str, token: str | None, trusted_proxy: str | None) -> str | None:
    """Why a page on `host` may not start (one line), or None: another address, or a page behind a
    proxy, needs the access token."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        return f"WEB_ACCESS_TOKEN must have at least {MIN_TOKEN_CHARS} characters (e.g. `openssl rand -hex 16`)"
    if token is None and (not is_loopback(host) or trusted_proxy):
        where = f"on {host}" if not is_loopback(host) else "behind WEB_TRUSTED_PROXY"
        return (f"the web page {where} needs a login: set WEB_ACCESS_TOKEN (at least {MIN_TOKEN_CHARS} "
                "characters), or listen on 127.0.0.1")
    return None


def session_key(token: str) -> bytes:
    """The cookie's key, derived from the token: a new token ends every session of the old one."""
    return hashlib.sha256(b"melody-breeder web session\x00" + token.encode()).digest()


@dataclass
class Access:
    """The rules of one page: `host` it listens on, the access token (None: no login, loopback only),
    the reverse proxy whose X-Forwarded-For is believed, other host names it answers at, and the
    cap on each client's open event streams (and on all clients' together)."""

    host: str
    token: str | None = None
    trusted_proxy: IPAddress | None = None
    allowed_hosts: frozenset[str] = frozenset()
    max_streams_per_client: int = 20
    max_streams: int = 500
    _wrong: dict[int, list[float]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        problem = login_needed(self.host, self.token, str(self.trusted_proxy) if self.trusted_proxy else None)
        if problem is not None:
            raise ValueError(problem)

    def answers_at(self, host_header: str) -> bool:
        """Whether `Host` names this page: its address, `localhost`, a configured name; on a wildcard
        address any address literal (a rebound name is a name, never an address)."""
        name = urlsplit(f"//{host_header}").hostname
        if not name:
            return False
        listening = self.host.strip("[]").lower()
        if name in (listening, "localhost") or name in self.allowed_hosts:
            return True
        if is_loopback(listening) and is_loopback(name):
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return listening in ("0.0.0.0", "::")

    def client(self, request: web.Request) -> int:
        """Who asks, for the limits and the right to steer: the address (loopback: the local user).

        Through the trusted proxy, the address it forwards (never the local user); from anywhere else
        X-Forwarded-For is not believed.
        """
        try:
            address = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return LOCAL_USER
        if self.trusted_proxy is not None and address == self.trusted_proxy:
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
            try:
                return int(ipaddress.ip_address(forwarded)) or 1
            except ValueError:
                return int(address) or 1
        return LOCAL_USER if address.is_loopback else int(address)

    def proxied_from_elsewhere(self, request: web.Request) -> bool:
        """A loopback request that a proxy forwarded, other than the trusted one: not the local user."""
        if not any(name in request.headers for name in FORWARDING_HEADERS):
            return False
        try:
            address = ipaddress.ip_address(request.remote or "")
        except ValueError:
            return True
        return address.is_loopback and address != self.trusted_proxy

    def may_try_token(self, client: int, now: float) -> float:
        """Seconds `client` waits before it may try another token (0: now)."""
        recent = [t for t in self._wrong.get(client, ()) if now - t < WRONG_TOKEN_WINDOW_S]
        if recent:
            self._wrong[client] = recent
        else:
            self._wrong.pop(client, None)
        return WRONG_TOKEN_WINDOW_S - (now - recent[0]) if len(recent) >= WRONG_TOKENS else 0.0

    def wrong_token(self, client: int, now: float) -> None:
        if len(self._wrong) >= MAX_WRONG_TOKEN_CLIENTS:  # many addresses guessing: forget those whose wait is over
            for stale in [c for c, times in self._wrong.items() if now - times[-1] >= WRONG_TOKEN_WINDOW_S]:
                del self._wrong[stale]
        self._wrong.setdefault(client, []).append(now)


ACCESS_KEY = web.AppKey("access", Access)


def refusal(message: str, status: int) -> web.Response:
    return web.json_response({"error": message}, status=status)


def from_the_page(request: web.Request) -> bool:
    """Whether a change comes from the page itself: its Origin (or Referer) is the page's own address."""
    origin = request.headers.get("Origin")
    if origin is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True  # no browser sends a cross-site change without Origin: curl, scripts, tests
        origin = referer
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse what the page must not take: another Host, a change from another site, a body not JSON
    or the page's form, a body too large, a request proxied by a proxy it does not trust."""
    access = request.app[ACCESS_KEY]
    if not access.answers_at(request.host):
        return refusal("This page answers only at its own address.", 421)
    if access.proxied_from_elsewhere(request):
        return refusal("A proxied request: set WEB_TRUSTED_PROXY to the proxy's address (and WEB_ACCESS_TOKEN).",
                       403)
    if request.method not in CHANGES_NOTHING:
        if not from_the_page(request):
            return refusal("Refused: this request comes from another web site.", 403)
        if request.body_exists and request.content_type not in BODY_TYPES:
            return refusal("Send the request as JSON (or with the page's own form).", 415)
        most = MAX_FORM_BYTES if request.path in FORM_PATHS else MAX_JSON_BYTES
        if request.content_length is not None and request.content_length > most:
            return refusal(f"The request is too large (at most {most // 1024} KiB).", 413)
        if most != MAX_JSON_BYTES:
            request = request.clone(client_max_size=most)
    return await handler(request)


@web.middleware
async def login_required(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With an access token, everything but the login page waits for the login."""
    if request.path.startswith(OPEN_PATHS) or (await get_session(request)).get(LOGGED_IN):
        return await handler(request)
    if request.method == "GET" and not request.path.startswith("/api/"):
        raise web.HTTPSeeOther(f"/login?next={quote(request.path)}")
    return refusal(NOT_LOGGED_IN, 401)


def middlewares(access: Access) -> list[Callable[..., Awaitable[web.StreamResponse]]]:
    """The guard, and with a token the encrypted session cookie and the login."""
    if access.token is None:
        return [guard]
    storage = EncryptedCookieStorage(session_key(access.token), cookie_name=SESSION_COOKIE,
                                     max_age=SESSION_DAYS * 86400, httponly=True, samesite="Lax")
    return [guard, session_middleware(storage), login_required]


async def security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer (pages, files, errors, event streams) carries the page's security headers."""
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)


async def log_in(request: web.Request) -> web.StreamResponse:
    """The access token, from the login page's form (or JSON {"token": ...}): right, and the cookie keeps it."""
    access = request.app[ACCESS_KEY]
    client = access.client(request)
    wait = access.may_try_token(client, time.monotonic())
    if wait:
        return refusal(f"Too many wrong tokens: try again in {int(wait) // 60 + 1} minutes.", 429)
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except ValueError:
            body = None
        given = body.get("token") if isinstance(body, dict) else None
    else:
        given = (await request.post()).get("token")
    if access.token is None:
        return web.json_response({"ok": True})
    if not isinstance(given, str) or not hmac.compare_digest(given.strip().encode(), access.token.encode()):
        access.wrong_token(client, time.monotonic())
        return refusal(WRONG_TOKEN, 401)
    session = await new_session(request)
    session[LOGGED_IN] = True
    return web.json_response({"ok": True})
