"""OpenID Connect single sign-on (authorization code flow with PKCE, via Authlib).

An organisation's admin configures its identity provider (issuer, client id, client
secret). `/login/sso?org=<slug>` sends the browser to the provider; the callback checks
state, exchanges the code, validates the ID token (signature from the provider's JWKS,
issuer, audience, expiry, nonce) and signs in the user with that verified email in that
organisation. The organisation's MFA rules still apply after SSO.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.errors import AuthlibBaseError
from authlib.integrations.httpx_client import OAuth2Client
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select

from accord.access import Principal
from accord.accounts.login import start_session
from accord.accounts.models import Organisation, User
from accord.accounts.services import ConsoleLogin
from accord.errors import Forbidden, InvalidInput, NotFound, Unauthorized
from accord.runtime import Runtime, derive_key

STATE_SECONDS = 600
TIMEOUT = 5.0  # seconds, for every request to the identity provider


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str


def _box(rt: Runtime) -> AESGCM:
    return AESGCM(derive_key(rt.secret_key, "oidc-client-secrets"))


def configure_as(rt: Runtime, principal: Principal, *, issuer: str, client_id: str,
                 client_secret: str) -> None:
    """Admin only: set the organisation's identity provider."""
    if principal.role != "admin":
        raise Forbidden("only admins configure single sign-on", code="forbidden")
    configure(rt, principal.org_id, issuer=issuer, client_id=client_id,
              client_secret=client_secret)


def configure(rt: Runtime, org_id: str, *, issuer: str, client_id: str,
              client_secret: str) -> None:
    """Set an organisation's identity provider (the client secret is stored encrypted)."""
    if not issuer.startswith(("https://", "http://")) or not client_id or not client_secret:
        raise InvalidInput("give the issuer URL, client id and client secret",
                           code="invalid_oidc_config")
    nonce = secrets.token_bytes(12)
    sealed = base64.b64encode(nonce + _box(rt).encrypt(nonce, client_secret.encode(),
                                                       org_id.encode())).decode()
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, org_id)
        if org is None:
            raise NotFound("no such organisation")
        org.settings = {**(org.settings or {}), "oidc": {
            "issuer": issuer.rstrip("/"), "client_id": client_id, "client_secret": sealed}}
        uow.commit()


def _config(rt: Runtime, org: Organisation) -> OidcConfig:
    raw = (org.settings or {}).get("oidc")
    if not isinstance(raw, dict):
        raise NotFound("single sign-on is not set up for this organisation",
                       code="sso_not_configured")
    blob = base64.b64decode(raw["client_secret"])
    secret = _box(rt).decrypt(blob[:12], blob[12:], org.id.encode()).decode()
    return OidcConfig(raw["issuer"], raw["client_id"], secret)


_discovery: dict[str, tuple[float, dict[str, Any]]] = {}


def _discover(issuer: str) -> dict[str, Any]:
    cached = _discovery.get(issuer)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        doc: dict[str, Any] = httpx.get(f"{issuer}/.well-known/openid-configuration",
                                        timeout=TIMEOUT, follow_redirects=False
                                        ).raise_for_status().json()
    except (httpx.HTTPError, ValueError) as exc:
        raise Unauthorized("the identity provider could not be reached",
                           code="sso_unavailable") from exc
    if doc.get("issuer", "").rstrip("/") != issuer:
        raise Unauthorized("the identity provider's issuer does not match",
                           code="sso_misconfigured")
    _discovery[issuer] = (time.monotonic() + 300, doc)
    return doc


def _redirect_uri(rt: Runtime) -> str:
    return f"{rt.settings.base_url.rstrip('/')}/login/sso/callback"


def _sign(rt: Runtime, data: dict[str, Any]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode()
    mac = hmac.new(derive_key(rt.secret_key, "oidc-state"), body.encode(), hashlib.sha256)
    return f"{body}.{mac.hexdigest()}"


def _unsign(rt: Runtime, value: str) -> dict[str, Any]:
    body, _, mac = value.rpartition(".")
    good = hmac.new(derive_key(rt.secret_key, "oidc-state"), body.encode(), hashlib.sha256)
    if not body or not hmac.compare_digest(mac, good.hexdigest()):
        raise Unauthorized("the sign-in attempt expired; start again", code="sso_state")
    data: dict[str, Any] = json.loads(base64.urlsafe_b64decode(body))
    if data.get("exp", 0) < time.time():
        raise Unauthorized("the sign-in attempt expired; start again", code="sso_state")
    return data


def begin(rt: Runtime, org_slug: str, next_path: str) -> tuple[str, str]:
    """(URL to send the browser to, value of the state cookie)."""
    with rt.db.uow() as uow:
        org = uow.session.scalar(select(Organisation).where(Organisation.slug == org_slug))
        if org is None:
            raise NotFound("single sign-on is not set up for this organisation",
                           code="sso_not_configured")
        cfg, org_id = _config(rt, org), org.id
    doc = _discover(cfg.issuer)
    state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    verifier = secrets.token_urlsafe(48)
    with OAuth2Client(cfg.client_id, cfg.client_secret, scope="openid email profile",
                      redirect_uri=_redirect_uri(rt), code_challenge_method="S256") as client:
        url, _ = client.create_authorization_url(doc["authorization_endpoint"], state=state,
                                                 nonce=nonce, code_verifier=verifier)
    cookie = _sign(rt, {"org": org_id, "state": state, "nonce": nonce, "verifier": verifier,
                        "next": next_path, "exp": time.time() + STATE_SECONDS})
    return url, cookie


def complete(rt: Runtime, cookie: str, *, code: str, state: str) -> tuple[ConsoleLogin, str,
                                                                            str]:
    """Finish the flow: (session, stage, next path)."""
    from accord.accounts.login import _stage_after_password

    data = _unsign(rt, cookie)
    if not state or not hmac.compare_digest(state, data["state"]):
        raise Unauthorized("the sign-in attempt does not match; start again",
                           code="sso_state")
    with rt.db.uow() as uow:
        org = uow.session.get(Organisation, data["org"])
        if org is None:
            raise Unauthorized("unknown organisation", code="sso_state")
        cfg = _config(rt, org)
    doc = _discover(cfg.issuer)
    try:
        with OAuth2Client(cfg.client_id, cfg.client_secret, redirect_uri=_redirect_uri(rt),
                          timeout=TIMEOUT) as client:
            token = client.fetch_token(doc["token_endpoint"], code=code,
                                       code_verifier=data["verifier"],
                                       grant_type="authorization_code")
        keys = KeySet.import_key_set(httpx.get(doc["jwks_uri"], timeout=TIMEOUT)
                                     .raise_for_status().json())
        claims = jwt.decode(token["id_token"], keys).claims
    except (httpx.HTTPError, JoseError, AuthlibBaseError, KeyError, ValueError) as exc:
        raise Unauthorized("the identity provider's answer could not be verified",
                           code="sso_invalid_token") from exc
    _check_claims(claims, cfg, data["nonce"])
    email = str(claims.get("email", "")).strip().lower()
    with rt.db.uow() as uow:
        user = uow.session.scalar(select(User).where(User.email == email,
                                                     User.org_id == data["org"]))
        if user is None or not user.active:
            raise Unauthorized("no active Accord account for this identity in the "
                               "organisation", code="sso_unknown_user")
        login = start_session(rt, uow.session, user, via="oidc")
        stage = _stage_after_password(uow.session, user)
        uow.commit()
    return login, stage, str(data.get("next") or "/console")


def _check_claims(claims: dict[str, Any], cfg: OidcConfig, nonce: str) -> None:
    now = time.time()
    aud = claims.get("aud")
    auds = aud if isinstance(aud, list) else [aud]
    problems = []
    if str(claims.get("iss", "")).rstrip("/") != cfg.issuer:
        problems.append("issuer")
    if cfg.client_id not in auds:
        problems.append("audience")
    if not isinstance(claims.get("exp"), int | float) or claims["exp"] < now - 60:
        problems.append("expiry")
    if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
        problems.append("nonce")
    if not claims.get("email"):
        problems.append("email")
    if problems:
        raise Unauthorized("the ID token failed its checks: " + ", ".join(problems),
                           code="sso_invalid_token")
    # a missing email_verified is no promise: only a provider that says it checked the
    # address may sign someone in as that address (some send the string "true")
    verified = claims.get("email_verified")
    if verified is not True and verified != "true":
        raise Unauthorized("the identity provider has not confirmed that this email "
                           "address is verified; verify it there, then sign in again",
                           code="sso_email_unverified")
