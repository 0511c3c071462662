"""A real local OIDC issuer over HTTP: discovery + JWKS, keys rotatable mid-test, can be made
slow or down. Plus RSA key pairs that sign real RS256 tokens the way GitLab, CustomersDot and
the gateway itself do.

    issuer = OidcIssuer.start()          # http://127.0.0.1:<port>
    token = issuer.sign(claims)          # signed with the issuer's current key, kid in header
    issuer.add_key()                     # rotation: a new key appears in the JWKS
    issuer.delay_s = 3; issuer.down = True
    issuer.stop()
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

DISCOVERY = "/.well-known/openid-configuration"
JWKS = "/oauth/discovery/keys"


class KeyPair:
    """An RSA key with a kid: signs tokens, shows its public JWK, exports its private PEM."""

    def __init__(self, kid: str | None = None, bits: int = 2048) -> None:
        self.kid = kid or f"kid-{uuid.uuid4().hex[:12]}"
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=bits)

    @property
    def pem(self) -> str:
        return self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    @property
    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def jwk(self) -> dict[str, Any]:
        jwk = RSAAlgorithm.to_jwk(self.private.public_key(), as_dict=True)
        jwk.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return jwk

    def sign(self, claims: dict[str, Any], kid: str | None = "") -> str:
        """RS256 token; `kid=""` uses this key's kid, `kid=None` leaves it out."""
        headers = {} if kid is None else {"kid": kid or self.kid}
        return jwt.encode(claims, self.private, algorithm="RS256", headers=headers)


class OidcIssuer:
    def __init__(self) -> None:
        self.keys: list[KeyPair] = []
        self.delay_s = 0.0
        self.down = False
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @classmethod
    def start(cls, keys: int = 1, reuse: list[KeyPair] | None = None) -> OidcIssuer:
        """An issuer on a new port with `keys` new key pairs, or the pairs of `reuse` (RSA
        key generation is the slow part of a start)."""
        issuer = cls()
        for pair in reuse or [KeyPair() for _ in range(keys)]:
            issuer.keys.append(pair)
        issuer._serve()
        return issuer

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def key(self) -> KeyPair:
        """The current (newest) signing key."""
        return self.keys[-1]

    def add_key(self, kid: str | None = None) -> KeyPair:
        pair = KeyPair(kid)
        with self._lock:
            self.keys.append(pair)
        return pair

    def remove_key(self, pair: KeyPair) -> None:
        with self._lock:
            self.keys.remove(pair)

    def reset(self, keep: int = 1) -> None:
        with self._lock:
            self.keys = self.keys[:keep]
            self.delay_s = 0.0
            self.down = False
            self.hits.clear()

    def sign(self, claims: dict[str, Any], kid: str | None = "") -> str:
        return self.key.sign(claims, kid)

    def jwks(self) -> dict[str, Any]:
        with self._lock:
            return {"keys": [pair.jwk() for pair in self.keys]}

    def _serve(self) -> None:
        issuer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                issuer.hits[self.path] += 1
                if issuer.delay_s:
                    time.sleep(issuer.delay_s)
                if issuer.down:
                    self._send(503, {"message": "503 Service Unavailable"})
                elif self.path == DISCOVERY:
                    self._send(
                        200,
                        {
                            "issuer": issuer.url,
                            "jwks_uri": issuer.url + JWKS,
                            "id_token_signing_alg_values_supported": ["RS256"],
                        },
                    )
                elif self.path == JWKS:
                    self._send(200, issuer.jwks())
                else:
                    self._send(404, {"message": "404 Not Found"})

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A short poll interval: stop() returns within it (tests start one issuer each).
        serve = partial(self._server.serve_forever, poll_interval=0.02)
        threading.Thread(target=serve, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    @property
    def jwks_hits(self) -> int:
        return self.hits[JWKS]
