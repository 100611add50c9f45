"""A minimal OpenID Connect provider for tests, served on 127.0.0.1 by uvicorn.

It signs in one configured person without asking (the test plays the browser), issues an
authorization code bound to the PKCE challenge, and answers the token request with an ID
token signed by its own RSA key (published at /jwks)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import uvicorn
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import RedirectResponse
from joserfc import jwt
from joserfc.jwk import RSAKey


@dataclass
class Provider:
    client_id: str = "accord-test"
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    email: str = ""
    email_verified: object = True  # None: the claim is left out
    tamper_nonce: bool = False
    key: RSAKey = field(default_factory=lambda: RSAKey.generate_key(2048, parameters={
        "kid": "test-key", "use": "sig", "alg": "RS256"}))
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    issuer: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/.well-known/openid-configuration")
        def discovery() -> dict[str, Any]:
            return {"issuer": self.issuer, "authorization_endpoint": f"{self.issuer}/authorize",
                    "token_endpoint": f"{self.issuer}/token",
                    "jwks_uri": f"{self.issuer}/jwks", "response_types_supported": ["code"],
                    "id_token_signing_alg_values_supported": ["RS256"]}

        @app.get("/jwks")
        def jwks() -> dict[str, Any]:
            return {"keys": [self.key.as_dict(private=False)]}

        @app.get("/authorize")
        def authorize(request: Request) -> RedirectResponse:
            q = request.query_params
            if q.get("client_id") != self.client_id or q.get("response_type") != "code":
                raise HTTPException(400, "bad client")
            code = secrets.token_urlsafe(16)
            self.codes[code] = {"nonce": q.get("nonce"), "challenge": q.get("code_challenge"),
                                "redirect_uri": q.get("redirect_uri")}
            target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
            return RedirectResponse(target, status_code=302)

        @app.post("/token")
        def token(request: Request, code: str = Form(""), code_verifier: str = Form(""),
                  redirect_uri: str = Form(""), client_id: str = Form(""),
                  client_secret: str = Form("")) -> dict[str, Any]:
            auth = request.headers.get("authorization", "")
            if auth.startswith("Basic "):
                client_id, _, client_secret = base64.b64decode(auth[6:]).decode().partition(":")
            if client_id != self.client_id or client_secret != self.client_secret:
                raise HTTPException(401, "bad client credentials")
            grant = self.codes.pop(code, None)
            digest = base64.urlsafe_b64encode(
                hashlib.sha256(code_verifier.encode()).digest()).rstrip(b"=").decode()
            if grant is None or grant["challenge"] != digest or \
                    grant["redirect_uri"] != redirect_uri:
                raise HTTPException(400, "invalid_grant")
            now = int(time.time())
            claims = {"iss": self.issuer, "sub": "user-1", "aud": self.client_id,
                      "iat": now, "exp": now + 300, "email": self.email,
                      "email_verified": self.email_verified,
                      "nonce": "tampered" if self.tamper_nonce else grant["nonce"]}
            if self.email_verified is None:
                del claims["email_verified"]
            id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, self.key)
            return {"access_token": "at", "token_type": "Bearer", "expires_in": 300,
                    "id_token": id_token}

        return app


def serve(provider: Provider) -> tuple[uvicorn.Server, threading.Thread]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider.issuer = f"http://127.0.0.1:{port}"
    server = uvicorn.Server(uvicorn.Config(provider.app(), host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    return server, thread
