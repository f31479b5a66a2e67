"""Keys in a token: a P-256 key generated inside SoftHSM2 through PKCS#11, never extractable,
signing evidence that verifies like the key file's; and the KMS hook."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sei_assets.core import signer, signing
from sei_assets.core.errors import SeiError

SOFTHSM = Path("/usr/lib/softhsm/libsofthsm2.so")


@pytest.fixture(scope="module")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A fresh SoftHSM2 token in a temp dir (once per module: the library reads its
    configuration once per process), its key generated inside it."""
    assert SOFTHSM.is_file() and shutil.which("softhsm2-util"), "softhsm2 (Debian) is required"
    home = tmp_path_factory.mktemp("softhsm")
    (home / "tokens").mkdir()
    conf = home / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {home / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    (home / "pin").write_text("4321\n")
    env = {
        "SOFTHSM2_CONF": str(conf),
        signer.MODULE_ENV: str(SOFTHSM),
        signer.TOKEN_ENV: "sei-test",
        signer.PIN_FILE_ENV: str(home / "pin"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for name, value in env.items():
            mp.setenv(name, value)
        subprocess.run(
            ["softhsm2-util", "--init-token", "--free", "--label", "sei-test"]
            + ["--pin", "4321", "--so-pin", "87654321"],
            check=True,
            capture_output=True,
        )
        signer.generate_token_key()
    return env


@pytest.fixture
def token(softhsm: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> signer.TokenKey:
    """The token's key, and SEI_SIGNER=pkcs11 for the test."""
    for name, value in softhsm.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(signer.SIGNER_ENV, "pkcs11")
    return signer.token_key()


def test_the_token_key_cannot_be_exported(token: signer.TokenKey) -> None:
    import pkcs11

    with token._open() as session:
        private = session.get_key(object_class=pkcs11.ObjectClass.PRIVATE_KEY, label=token.label)
        assert private[pkcs11.Attribute.EXTRACTABLE] is False
        assert private[pkcs11.Attribute.SENSITIVE] is True
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            private[pkcs11.Attribute.VALUE]  # the scalar itself
        wrapping = session.generate_key(
            pkcs11.KeyType.AES, 256, template={pkcs11.Attribute.WRAP: True}
        )
        with pytest.raises(pkcs11.exceptions.KeyUnextractable):
            wrapping.wrap_key(private)  # nor wrapped out under a key of ours
    with pytest.raises(SeiError, match="cannot be exported"):
        token.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    with pytest.raises(SeiError, match="already holds a key"):
        signer.generate_token_key()


def test_evidence_signed_in_the_token_verifies_like_the_file_keys(
    token: signer.TokenKey, tmp_path: Path, sei
) -> None:
    from tests.test_reconstruct import declare

    hexkey = signing.public_key_hex(token)
    assert sei("pubkey").stdout.strip() == hexkey  # `sei pubkey` prints the token's key
    assert signing.public_key_hex(signing.load_or_create_key()) == hexkey
    repo = tmp_path / "repo"
    declare(repo)  # `sei run` signing through SEI_SIGNER=pkcs11
    assert (repo / ".sei" / "PUBKEY.txt").read_text().strip() == hexkey
    code, doc = sei.json("verify", "--repo", str(repo), "--pubkey", hexkey)
    assert code == 0 and doc["keyid"] == signing.keyid_for(hexkey), doc
    assert {f["path"].rsplit("/", 1)[-1] for f in doc["files"]} >= {"bundle.json", "index.json"}
    # the same DSSE envelope as a key file's: same statement, one P-256 signature
    data = (repo / ".sei" / "bundle.json").read_bytes()
    file_key = ec.generate_private_key(ec.SECP256R1())
    mine, theirs = (
        json.loads(signing.sign_bytes(data, "bundle.json", k)) for k in (token, file_key)
    )
    assert mine["payload"] == theirs["payload"] and mine["payloadType"] == theirs["payloadType"]
    assert len(mine["signatures"]) == len(theirs["signatures"]) == 1
    assert json.loads((repo / ".sei" / "bundle.json.sig").read_text())["payload"] == mine["payload"]
    # and a change of one byte is caught as with any key
    (repo / ".sei" / "bundle.json").write_bytes(data.replace(b'"gate"', b'"gatE"', 1))
    assert sei("verify", "--repo", str(repo), "--pubkey", hexkey).exit_code == 1


class StandInKms(signer.RemoteKey):
    """A stand-in for a cloud KMS behind the documented hook: it signs digests, never shows the
    key (a real one would call the provider's Sign API here)."""

    where = "the stand-in KMS"

    def __init__(self) -> None:
        self.__secret = ec.generate_private_key(ec.SECP256R1())

    def sign_digest(self, digest: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import utils

        return self.__secret.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))

    def public_point(self) -> bytes:
        return self.__secret.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )


KMS = StandInKms()


def kms_factory() -> StandInKms:
    return KMS


def test_the_kms_hook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(signer.SIGNER_ENV, "kms:tests.test_signer:kms_factory")
    key = signing.load_or_create_key()
    assert key is KMS
    target = tmp_path / ".sei" / "bundle.json"
    target.parent.mkdir()
    target.write_text('{"gate": "green"}\n')
    signing.sign_file(target, key)
    assert signing.verify_file(target, signing.public_key_hex(KMS)).ok
    monkeypatch.setenv(signer.SIGNER_ENV, "kms:tests.test_signer:nothing_here")
    with pytest.raises(SeiError, match="cannot load the KMS signer"):
        signing.load_or_create_key()
    monkeypatch.setenv(signer.SIGNER_ENV, "vault")
    with pytest.raises(SeiError, match="expected file, pkcs11 or kms"):
        signing.load_or_create_key()
