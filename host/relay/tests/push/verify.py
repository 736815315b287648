"""Checks one Web Push request the way a push service and a browser would, with implementations
that are not tether's: the VAPID JWT (RFC 8292) with `cryptography`, the payload (RFC 8291,
aes128gcm) decrypted with Mozilla's `http_ece`.

Reads one JSON object on stdin:
  {"authorization": <the request's Authorization header>, "aud": <the expected audience>,
   "body": <the request body, base64url>, "private_key": <the subscription's P-256 scalar,
   base64url>, "auth": <its auth secret, base64url>}
and prints {"claims": {...}, "k": <the key in the header>, "plaintext": <the decrypted text>},
or exits 1 with the reason on stderr.
"""

import base64
import json
import sys
import time

import http_ece
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature


def b64(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def fail(why):
    print(why, file=sys.stderr)
    sys.exit(1)


def main():
    given = json.load(sys.stdin)
    header = given["authorization"]
    if not header.startswith("vapid "):
        fail("the Authorization scheme is not vapid: " + header)
    params = dict(p.strip().split("=", 1) for p in header[len("vapid "):].split(","))
    token, k = params["t"], params["k"]
    head, claims, signature = token.split(".")
    jose = json.loads(b64(head))
    if jose.get("alg") != "ES256":
        fail("the JWT is not ES256: %r" % jose)
    raw = b64(signature)
    if len(raw) != 64:
        fail("an ES256 signature is 64 bytes, not %d" % len(raw))
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64(k))
    try:
        public.verify(der, (head + "." + claims).encode(), ec.ECDSA(hashes.SHA256()))
    except Exception as e:  # noqa: BLE001 - any failure is a bad signature
        fail("the VAPID signature does not verify: %r" % e)
    claims = json.loads(b64(claims))
    now = time.time()
    if claims.get("aud") != given["aud"]:
        fail("aud is %r, not %r" % (claims.get("aud"), given["aud"]))
    if not (now < claims.get("exp", 0) <= now + 24 * 3600 + 60):
        fail("exp %r is not within the next 24 hours" % claims.get("exp"))
    sub = claims.get("sub", "")
    if not (sub.startswith("mailto:") or sub.startswith("https:")):
        fail("sub %r is neither mailto: nor https:" % sub)
    scalar = int.from_bytes(b64(given["private_key"]), "big")
    private = ec.derive_private_key(scalar, ec.SECP256R1())
    plaintext = http_ece.decrypt(
        b64(given["body"]),
        private_key=private,
        auth_secret=b64(given["auth"]),
        version="aes128gcm",
    )
    print(json.dumps({"claims": claims, "k": k, "plaintext": plaintext.decode()}))


if __name__ == "__main__":
    main()
