"""Service accounts of the fake Google: key files like Google's, and the check of the JWTs
signed with them (the ``POST /token`` grant), through google-auth's public API."""

from __future__ import annotations

import base64
import json
import secrets
from typing import Any
from urllib.parse import quote

import google.auth.exceptions
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt

DEFAULT_EMAIL = "argil-batch@sandbox-project.iam.gserviceaccount.com"


def new_service_account(token_uri: str, email: str = DEFAULT_EMAIL) -> tuple[dict[str, Any], str]:
    """A service-account key (the JSON Google hands out, as a dict) and its public key PEM,
    to pass to :meth:`SheetsWorld.register`. Its ``token_uri`` points at the fake."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    project = email.partition("@")[2].split(".")[0] or "sandbox-project"
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": email,
        "client_id": str(10**20 + secrets.randbelow(9 * 10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            "https://www.googleapis.com/robot/v1/metadata/x509/" + quote(email, safe="")
        ),
        "universe_domain": "googleapis.com",
    }
    return info, public_pem


def check_assertion(
    assertion: str, accounts: dict[str, str], audience: str | list[str], scope: str
) -> str:
    """The account (``iss``) of a valid grant assertion; ``ValueError`` saying, as Google's
    token endpoint says it, why it is not valid."""
    try:
        # Whose key checks it is in the claims: read before the signature can be.
        claims = _claims(assertion)
    except (ValueError, TypeError) as exc:
        raise ValueError("Invalid JWT: the assertion is not a signed JWT.") from exc
    email = str(claims.get("iss", ""))
    pem = accounts.get(email)
    if pem is None:
        raise ValueError("Invalid grant: account not found")
    try:
        # The expiry is checked against real time, as the client's signer stamps real time
        # whatever clock the world runs on; the skew is what Google tolerates.
        jwt.decode(assertion, certs=pem, audience=audience, clock_skew_in_seconds=300)
    except (ValueError, google.auth.exceptions.GoogleAuthError) as exc:
        text = str(exc)
        if "audience" in text:
            raise ValueError("Invalid JWT: Failed audience check.") from exc
        if "signature" in text.lower() or "Certificate" in text:
            raise ValueError("Invalid JWT Signature.") from exc
        raise ValueError(
            "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable "
            "timeframe. Check your iat and exp values in the JWT claim."
        ) from exc
    if scope not in str(claims.get("scope", "")).split():
        raise ValueError(f"Scope {scope} was not requested.")
    return email


def _claims(assertion: str) -> dict[str, Any]:
    payload = assertion.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    if not isinstance(claims, dict):
        raise ValueError("the claims are not an object")
    return claims
