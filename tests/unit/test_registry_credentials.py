"""docker config.json credentials: lookup rules, docker.io key, 0600 writes, logout."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

import pytest

from seabox import errdefs
from seabox.images.registry.credentials import (
    DOCKER_HUB_KEY,
    CredentialStore,
    config_key,
    default_config_path,
)


def b64(s: str) -> str:
    return base64.b64encode(s.encode()).decode()


def test_lookup_forms(tmp_path: Path) -> None:
    p = tmp_path / "config.json"
    p.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": b64("hub:pw")},
        "127.0.0.1:5001": {"auth": b64("admin:Harbor12345")},
        "https://quay.io": {"username": "q", "password": "qp"},
        "http://reg.example:5000/v2/": {"auth": b64("r:p:with:colons")},
        "empty.example": {},
    }, "credsStore": "desktop"}))  # fmt: skip
    s = CredentialStore(p)
    assert s.lookup("docker.io") == ("hub", "pw")
    assert s.lookup("registry-1.docker.io") == ("hub", "pw")
    assert s.lookup("127.0.0.1:5001") == ("admin", "Harbor12345")
    assert s.lookup("quay.io") == ("q", "qp")
    assert s.lookup("reg.example:5000") == ("r", "p:with:colons")
    assert s.lookup("empty.example") is None
    assert s.lookup("127.0.0.1:5000") is None


def test_missing_and_empty_file(tmp_path: Path) -> None:
    assert CredentialStore(tmp_path / "nope.json").lookup("x") is None
    (tmp_path / "e.json").write_text("")
    assert CredentialStore(tmp_path / "e.json").lookup("x") is None


def test_malformed(tmp_path: Path) -> None:
    p = tmp_path / "c.json"
    p.write_text("{bad")
    with pytest.raises(errdefs.InvalidArgument, match=str(p)):
        CredentialStore(p).lookup("x")
    p.write_text(json.dumps({"auths": {"x": {"auth": b64("nocolon")}}}))
    with pytest.raises(errdefs.InvalidArgument, match="user:password"):
        CredentialStore(p).lookup("x")


def test_store_writes_0600_and_keeps_other_keys(tmp_path: Path) -> None:
    p = tmp_path / "d" / "config.json"
    p.parent.mkdir()
    p.write_text(json.dumps({"auths": {"other": {"auth": b64("o:o")}}, "psFormat": "x"}))
    s = CredentialStore(p)
    s.store("docker.io", "u", "p")
    s.store("127.0.0.1:5001", "admin", "Harbor12345")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    obj = json.loads(p.read_text())
    assert obj["psFormat"] == "x"
    assert obj["auths"][DOCKER_HUB_KEY] == {"auth": b64("u:p")}
    assert obj["auths"]["127.0.0.1:5001"] == {"auth": b64("admin:Harbor12345")}
    s.store("https://127.0.0.1:5001", "admin", "new")  # same host written another way replaces
    assert s.lookup("127.0.0.1:5001") == ("admin", "new")
    assert [k for k in json.loads(p.read_text())["auths"] if "5001" in k] == ["127.0.0.1:5001"]
    assert s.erase("127.0.0.1:5001")
    assert not s.erase("127.0.0.1:5001")
    assert s.lookup("127.0.0.1:5001") is None
    assert s.lookup("other") == ("o", "o")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_new_file_and_dir_modes(tmp_path: Path) -> None:
    p = tmp_path / "new" / "config.json"
    CredentialStore(p).store("r", "u", "p")
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert stat.S_IMODE(p.parent.stat().st_mode) == 0o700
    assert list(p.parent.iterdir()) == [p]  # no temp file left


def test_default_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path))
    assert default_config_path() == tmp_path / "config.json"
    monkeypatch.delenv("DOCKER_CONFIG")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_config_path() == tmp_path / ".docker" / "config.json"


def test_config_key() -> None:
    assert config_key("docker.io") == DOCKER_HUB_KEY
    assert config_key("index.docker.io") == DOCKER_HUB_KEY
    assert config_key("127.0.0.1:5001") == "127.0.0.1:5001"
