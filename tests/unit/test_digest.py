import hashlib
import io

import pytest

from seabox import errdefs
from seabox.oci import digest as dg

GOOD = "sha256:" + "a" * 64


def test_parse_valid():
    d = dg.parse(GOOD)
    assert d == GOOD and isinstance(d, str)
    assert d.algorithm == "sha256" and d.hex == "a" * 64 and d.short() == "a" * 12


@pytest.mark.parametrize(
    "bad",
    ["", "sha256", "sha256:", ":abc", "sha256:" + "A" * 64, "sha256:" + "a" * 63, "md5:" + "a" * 32,
     "sha256:" + "g" * 64, "SHA256:" + "a" * 64, "sha512:" + "a" * 64],
)
def test_parse_invalid_names_input(bad):
    with pytest.raises(errdefs.InvalidArgument) as e:
        dg.parse(bad)
    assert repr(bad)[1:-1][:10] in str(e.value) or bad == ""
    assert not dg.is_valid(bad)


def test_sha512_parses_but_not_for_store():
    d = "sha512:" + "b" * 128
    assert dg.parse(d).algorithm == "sha512"
    with pytest.raises(errdefs.InvalidArgument):
        dg.parse_sha256(d)


def test_from_bytes_and_streaming_agree():
    data = b"hello world" * 1000
    d = dg.Digester()
    for i in range(0, len(data), 7):
        d.update(data[i : i + 7])
    assert d.digest() == dg.from_bytes(data) == "sha256:" + hashlib.sha256(data).hexdigest()
    assert d.size == len(data)
    assert dg.from_reader(io.BytesIO(data)) == (d.digest(), len(data))
    assert dg.from_bytes(b"") == dg.EMPTY_SHA256


def test_verifying_reader():
    data = b"x" * 5000
    r = dg.VerifyingReader(io.BytesIO(data), dg.from_bytes(data), len(data))
    assert r.read(10) == b"x" * 10
    r.verify()
    bad = dg.VerifyingReader(io.BytesIO(data + b"!"), dg.from_bytes(data))
    with pytest.raises(errdefs.FailedPrecondition, match=dg.from_bytes(data)):
        bad.verify()
    short = dg.VerifyingReader(io.BytesIO(data), dg.from_bytes(data), len(data) + 1)
    with pytest.raises(errdefs.FailedPrecondition, match="size mismatch"):
        short.verify()
