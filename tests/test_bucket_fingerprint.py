"""The journal's fingerprint of an object (read/buckets.py), with a stand-in for the store.

An object is keyed on its URL (without secrets), size and ETag, or its version where the
store gives no ETag; one served with neither (an https server may send no ETag) is read
and hashed, as a local file is, so that no two different contents share a fingerprint.
The object's metadata and bytes are given directly: no store is asked.
"""

from __future__ import annotations

import io
from typing import BinaryIO

import pytest

from cio_cli.read.buckets import RemoteObject

URL = "https://exports.example.com/events.csv?X-Amz-Signature=5ec12e7"


class Standin(RemoteObject):
    """An object whose bytes are ``data``; counts how often they were read."""

    def __init__(self, data: bytes, etag: str | None, version: str | None = None) -> None:
        super().__init__(URL, len(data), etag, version)
        self.data = data
        self.reads = 0

    def open(self) -> BinaryIO:
        """``data`` as a stream."""
        self.reads += 1
        return io.BytesIO(self.data)


def test_an_etag_or_a_version_is_the_key_and_nothing_is_read() -> None:
    tagged, versioned = Standin(b"a,b\n", '"e1"'), Standin(b"a,b\n", None, "v7")
    assert tagged.fingerprint() == 'object:https://exports.example.com/events.csv?***:4:"e1"'
    assert versioned.fingerprint() == "object:https://exports.example.com/events.csv?***:4:v7"
    assert tagged.reads == versioned.reads == 0


@pytest.mark.parametrize("etag", [None, ""])
def test_without_etag_or_version_two_contents_of_one_size_differ(etag: str | None) -> None:
    one, other = Standin(b"a,b\n1,2\n", etag), Standin(b"a,b\n1,3\n", etag)
    key = one.fingerprint()
    assert key != other.fingerprint()
    assert key == Standin(b"a,b\n1,2\n", etag).fingerprint()
    assert key.startswith("object:https://exports.example.com/events.csv?***:8:sha256:")
    assert "5ec12e7" not in key
    assert one.reads == 1  # read once, as a local file is hashed
