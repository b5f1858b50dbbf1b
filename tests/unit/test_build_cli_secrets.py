"""`seabox build --secret`: file, environment variable, or the variable the id names (as buildx)."""

from __future__ import annotations

import pytest


def test_secret_specs(monkeypatch: pytest.MonkeyPatch) -> None:
    from seabox.cli.seabox_build import _secret

    monkeypatch.setenv("SBT_TOKEN", "x")
    assert _secret("id=a,src=/f") == ("a", "/f")
    assert _secret("id=a,env=SBT_TOKEN") == ("a", "env:SBT_TOKEN")
    assert _secret("id=SBT_TOKEN") == ("SBT_TOKEN", "env:SBT_TOKEN")  # buildx: the id names the variable
    for spec, needle in (("src=/f", "expected id="), ("id=a,env=SBT_NOPE_UNSET", "is not set"),
                         ("id=a,src=/f,env=SBT_TOKEN", "cannot both")):
        with pytest.raises(ValueError, match=needle):
            _secret(spec)
