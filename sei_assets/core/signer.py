"""Where the signing key lives: a key file (the default), a PKCS#11 token, or a cloud KMS.

``$SEI_SIGNER`` chooses (it is the operator's configuration, never a repository's):

- ``file`` (default): the PEM key of :func:`signing.load_or_create_key`;
- ``pkcs11``: a P-256 key generated inside a PKCS#11 token and never extractable. The token is
  named by ``$SEI_PKCS11_MODULE`` (the library, e.g. ``/usr/lib/softhsm/libsofthsm2.so``),
  ``$SEI_PKCS11_TOKEN`` (its label), ``$SEI_PKCS11_PIN`` (or ``$SEI_PKCS11_PIN_FILE``) and
  ``$SEI_PKCS11_KEY`` (the key's label, default ``sei-signing``); ``sei keys token-new``
  generates the key in the token;
- ``kms:<module>:<factory>``: the hook for a cloud KMS: ``factory()`` returns a
  :class:`RemoteKey` whose ``sign_digest`` asks the KMS to sign a SHA-256 digest (for example
  with AWS KMS ``Sign`` and ``ECDSA_SHA_256``, ``MessageType=DIGEST``, or Google Cloud KMS
  ``asymmetricSign`` with an ``EC_SIGN_P256_SHA256`` key) and whose ``public_point`` gives the
  65-byte uncompressed public point.

Every signer is a ``cryptography`` P-256 private key to the rest of the engine, so evidence
signed through a token or a KMS is the same DSSE envelope as a key file's, and verifies the same.
Exporting a remote key's private part is refused.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sei_assets.core.errors import SeiError

SIGNER_ENV = "SEI_SIGNER"
MODULE_ENV = "SEI_PKCS11_MODULE"
TOKEN_ENV = "SEI_PKCS11_TOKEN"
PIN_ENV = "SEI_PKCS11_PIN"
PIN_FILE_ENV = "SEI_PKCS11_PIN_FILE"
KEY_LABEL_ENV = "SEI_PKCS11_KEY"
DEFAULT_LABEL = "sei-signing"


class RemoteKey(ec.EllipticCurvePrivateKey):
    """A P-256 key whose private part stays elsewhere (a token, a KMS): subclasses give
    :meth:`sign_digest` (a SHA-256 digest -> raw ``r||s`` or DER) and :meth:`public_point`."""

    where = "a remote signer"

    def sign_digest(self, digest: bytes) -> bytes:
        raise NotImplementedError

    def public_point(self) -> bytes:
        raise NotImplementedError

    # the cryptography interface the engine uses
    def sign(
        self,
        data: bytes | bytearray | memoryview[int],
        signature_algorithm: ec.EllipticCurveSignatureAlgorithm,
    ) -> bytes:
        algorithm = getattr(signature_algorithm, "algorithm", None)
        if not isinstance(algorithm, hashes.SHA256):
            raise SeiError(f"{self.where} signs ECDSA with SHA-256 only")
        signature = self.sign_digest(hashlib.sha256(data).digest())
        if len(signature) == 64:  # raw r||s (PKCS#11) -> DER, as cryptography gives it
            r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            return utils.encode_dss_signature(r, s)
        return signature

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), self.public_point())

    @property
    def curve(self) -> ec.EllipticCurve:
        return ec.SECP256R1()

    @property
    def key_size(self) -> int:
        return 256

    def exchange(self, algorithm: Any, peer_public_key: Any) -> bytes:
        raise SeiError(f"the key in {self.where} signs only")

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        raise SeiError(f"the key in {self.where} cannot be exported")

    def private_bytes(self, encoding: Any, format: Any, encryption_algorithm: Any) -> bytes:
        raise SeiError(f"the key in {self.where} cannot be exported")

    def __copy__(self) -> RemoteKey:
        return self

    def __deepcopy__(self, memo: Any) -> RemoteKey:
        return self


def _pin() -> str:
    pin = os.environ.get(PIN_ENV)
    if pin:
        return pin
    path = os.environ.get(PIN_FILE_ENV)
    if path:
        try:
            with open(path, encoding="utf-8") as fh:
                return fh.read(256).strip()
        except OSError as exc:
            raise SeiError(f"{PIN_FILE_ENV}: cannot read {path}: {exc.strerror}") from None
    raise SeiError(f"the PKCS#11 token's PIN: set {PIN_ENV} or {PIN_FILE_ENV}")


def _setting(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise SeiError(f"{SIGNER_ENV}=pkcs11 needs {name}")
    return value


class TokenKey(RemoteKey):
    """A P-256 key inside a PKCS#11 token (sensitive, not extractable); each signature is one
    session on the token (``CKM_ECDSA`` over the SHA-256 digest)."""

    def __init__(self, module: str, token: str, pin: str, label: str = DEFAULT_LABEL) -> None:
        self.module, self.token_label, self._pin, self.label = module, token, pin, label
        self.where = f"the PKCS#11 token {token!r}"
        self._point: bytes | None = None

    def _open(self, rw: bool = False) -> Any:
        import pkcs11

        try:
            token = pkcs11.lib(self.module).get_token(token_label=self.token_label)
            return token.open(user_pin=self._pin, rw=rw)
        except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
            raise SeiError(f"cannot open {self.where}: {type(exc).__name__}") from None

    def _object(self, session: Any, kind: Any) -> Any:
        import pkcs11

        try:
            return session.get_key(object_class=kind, key_type=pkcs11.KeyType.EC, label=self.label)
        except (pkcs11.NoSuchKey, pkcs11.MultipleObjectsReturned):
            raise SeiError(
                f"{self.where} holds no single EC key labelled {self.label!r}: generate one with "
                "`sei keys token-new`"
            ) from None

    def sign_digest(self, digest: bytes) -> bytes:
        import pkcs11

        with self._open() as session:
            key = self._object(session, pkcs11.ObjectClass.PRIVATE_KEY)
            signature: bytes = key.sign(digest, mechanism=pkcs11.Mechanism.ECDSA)
            return signature

    def public_point(self) -> bytes:
        if self._point is None:
            import pkcs11

            with self._open() as session:
                key = self._object(session, pkcs11.ObjectClass.PUBLIC_KEY)
                self._point = _unwrap_point(key[pkcs11.Attribute.EC_POINT])
        return self._point


def _unwrap_point(raw: bytes) -> bytes:
    """The uncompressed point from ``CKA_EC_POINT`` (a DER OCTET STRING, or the bare point)."""
    if len(raw) == 67 and raw[:2] == b"\x04\x41":
        return raw[2:]
    if len(raw) == 65 and raw[0] == 4:
        return raw
    raise SeiError("the token's EC point is not an uncompressed P-256 point")


def token_key() -> TokenKey:
    """The token key the environment names."""
    return TokenKey(
        _setting(MODULE_ENV),
        _setting(TOKEN_ENV),
        _pin(),
        os.environ.get(KEY_LABEL_ENV) or DEFAULT_LABEL,
    )


def generate_token_key() -> TokenKey:
    """Generate the P-256 key inside the token (sensitive, never extractable); refused when a
    key of that label exists. Returns it."""
    import pkcs11
    from pkcs11.util.ec import encode_named_curve_parameters

    key = token_key()
    with key._open(rw=True) as session:
        found = list(session.get_objects({pkcs11.Attribute.LABEL: key.label}))
        if found:
            raise SeiError(f"{key.where} already holds a key labelled {key.label!r}")
        params = session.create_domain_parameters(
            pkcs11.KeyType.EC,
            {pkcs11.Attribute.EC_PARAMS: encode_named_curve_parameters("secp256r1")},
            local=True,
        )
        params.generate_keypair(
            store=True,
            label=key.label,
            private_template={
                pkcs11.Attribute.EXTRACTABLE: False,
                pkcs11.Attribute.SENSITIVE: True,
                pkcs11.Attribute.SIGN: True,
            },
        )
    return key


def configured() -> ec.EllipticCurvePrivateKey | None:
    """The signer ``$SEI_SIGNER`` names, or None for the key file."""
    choice = os.environ.get(SIGNER_ENV, "").strip()
    if choice in ("", "file"):
        return None
    if choice == "pkcs11":
        return token_key()
    if choice.startswith("kms:"):
        module, _, factory = choice[4:].partition(":")
        try:
            made = getattr(importlib.import_module(module), factory)()
        except (ImportError, AttributeError) as exc:
            where = choice[4:]
            raise SeiError(f"{SIGNER_ENV}: cannot load the KMS signer {where}: {exc}") from None
        if not isinstance(made, ec.EllipticCurvePrivateKey):
            raise SeiError(f"{SIGNER_ENV}: {choice[4:]} did not return a RemoteKey")
        return made
    raise SeiError(f"{SIGNER_ENV}: expected file, pkcs11 or kms:<module>:<factory>, got {choice!r}")
