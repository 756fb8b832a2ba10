"""Objects in a bucket (s3://, gs://, az://) or behind an https URL, read as a byte stream.

obstore is the Python binding of Rust's ``object_store``, the crate polars' own cloud
readers are built on: the same URL forms and the same credentials (environment variables,
instance roles and workload identity, ``AWS_ENDPOINT_URL`` and ``AWS_ALLOW_HTTP`` for
S3-compatible stores, ``GOOGLE_APPLICATION_CREDENTIALS``, ``AZURE_STORAGE_*``). It gives
what the readers need and polars' scanners do not: the object's bytes as a stream, so the
CSV reader's checks (UTF-8, quotes, row numbers across chunks) run on them exactly as on
a local file's, in memory as bounded as a local file's, with no local copy.

Every read after the first ``HEAD`` asks for the same ETag (``If-Match``): an object
replaced between the passes is "changed while cio was reading it", as a local file is.
An https URL is asked with a one-byte ranged GET instead of a HEAD (a presigned URL
is signed for GET only). An object served without ETag or version is hashed for the journal.

Errors of the store become cio's, naming the URL as ``shown_name`` shows it (the store's
own messages hold the full URL, so they are never shown): a missing object is exit 2, as
a missing file; access refused (403/401), no credentials found or a store that cannot be
reached is exit 5, as when Customer.io refuses the key or cannot be reached.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import PermissionDeniedError, PreconditionError, UnauthenticatedError
from obstore.store import HTTPStore, from_url

from cio_cli.errors import AbortError, FileChangedError, UsageError
from cio_cli.read.urls import beside, shown_name

if TYPE_CHECKING:
    from obstore.store import ObjectStore, RetryConfig

CHUNK = 1 << 20  # bytes asked of the stream at a time
ACCESS_HINT = (
    "check the store's credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE"
    " or an instance role (and AWS_ENDPOINT_URL for an S3-compatible store);"
    " GOOGLE_APPLICATION_CREDENTIALS or gcloud auth application-default login;"
    " AZURE_STORAGE_ACCOUNT_NAME with a key, a SAS token or az login;"
    " for https, a URL that is still valid"
)
LIST_HINT = (
    "list the objects with your store's tool (aws s3 ls, gcloud storage ls, az storage blob list)"
)


@contextmanager
def store_errors(shown: str) -> Iterator[None]:
    """The store's errors as cio's, naming ``shown`` (the URL without secrets)."""
    try:
        yield
    except FileNotFoundError:
        raise UsageError(
            f"no such object: {shown}", "check the bucket and the key; " + LIST_HINT
        ) from None
    except PreconditionError:
        raise FileChangedError(
            f"{shown} changed while cio was reading it", "run again once the object is complete"
        ) from None
    except (PermissionDeniedError, UnauthenticatedError):
        raise AbortError(f"the store refused access to {shown}", ACCESS_HINT) from None
    except Exception as exc:  # obstore's errors carry the full URL: never shown
        if type(exc).__module__.partition(".")[0] not in ("obstore", "builtins"):
            raise
        raise AbortError(
            f"cannot read {shown}: the store did not answer, or no credentials were found"
            f" ({type(exc).__name__})",
            "check the network, AWS_ENDPOINT_URL if you use one, and " + ACCESS_HINT,
        ) from None


def _retry() -> RetryConfig:
    """Retries of a failed request to a store: 5xx, dropped connections (``CIO_STORE_RETRIES``
    times, default 5, within a minute); 403 and 404 are never retried."""
    return {
        "max_retries": int(os.environ.get("CIO_STORE_RETRIES", "5")),
        "retry_timeout": timedelta(seconds=60),
    }


def _split(url: str) -> tuple[ObjectStore, str]:
    """The store of ``url`` (its bucket, or the https URL itself) and the object's key in it."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return HTTPStore.from_url(url, retry_config=_retry()), ""
    root = f"{parts.scheme}://{parts.netloc}"
    store = from_url(root, retry_config=_retry(), **_aws_profile(parts.scheme))
    return store, parts.path.lstrip("/")


def _aws_profile(scheme: str) -> dict[str, Any]:
    """``AWS_PROFILE`` without keys in the environment: boto3 reads the profile, as the AWS
    CLI does (object_store itself reads no profile files)."""
    if scheme != "s3" or not os.environ.get("AWS_PROFILE") or os.environ.get("AWS_ACCESS_KEY_ID"):
        return {}
    try:
        from obstore.auth.boto3 import Boto3CredentialProvider
    except ImportError:
        raise UsageError(
            "AWS_PROFILE is set: reading a profile needs boto3", "pip install boto3"
        ) from None
    return {"credential_provider": Boto3CredentialProvider()}


class RemoteObject:
    """One object: its URL (kept to read, never shown), size and ETag, read as a stream."""

    def __init__(self, url: str, size: int, etag: str | None, version: str | None) -> None:
        self.url = url  # as given: an https URL's query may be a signature
        self.shown = shown_name(url)
        self.beside = beside(url)
        self.size = size
        self.etag = etag
        self.version = version

    @classmethod
    def head(cls, url: str) -> RemoteObject:
        """The object at ``url``, asked for its size and ETag (nothing of its body is read)."""
        with store_errors(shown_name(url)):
            store, key = _split(url)
            if isinstance(store, HTTPStore):
                meta = obstore.get(store, key, options={"range": (0, 1)}).meta
            else:
                meta = obstore.head(store, key)
        return cls(url, meta["size"], meta["e_tag"], meta["version"])

    def first(self, size: int) -> bytes:
        """The object's first ``size`` bytes (one ranged GET, pinned to the ETag)."""
        if not self.size:
            return b""
        with store_errors(self.shown):
            store, key = _split(self.url)
            options: dict[str, Any] = {"range": (0, min(size, self.size))}
            if self.etag:
                options["if_match"] = self.etag
            return bytes(obstore.get(store, key, options=options).bytes())  # type: ignore[arg-type]

    def location(self) -> tuple[str, dict[str, int] | None]:
        """The URL as given, for polars' own cloud readers (object_store, as obstore is: the
        same credentials from the environment), with the store's retries."""
        return self.url, {"max_retries": _retry()["max_retries"]}

    def unchanged(self) -> None:
        """The object's ETag is still the one first seen (one more HEAD)."""
        again = RemoteObject.head(self.url)
        if (again.etag, again.size) != (self.etag, self.size):
            raise FileChangedError(
                f"{self.shown} changed while cio was reading it",
                "run again once the object is complete",
            )

    def open(self) -> BinaryIO:
        """The object's bytes from the first, as long as it is the object first seen."""
        with store_errors(self.shown):
            store, key = _split(self.url)
            options: dict[str, Any] = {"if_match": self.etag} if self.etag else {}
            result = obstore.get(store, key, options=options)  # type: ignore[arg-type]
            chunks = iter(result.stream(min_chunk_size=CHUNK))
        return io.BufferedReader(_Stream(chunks, self.shown), CHUNK)

    def fingerprint(self) -> str:
        """The journal's key: the URL (without secrets), size and ETag or version. An object
        served with neither (an https server may send no ETag) is read and hashed, as a local
        file is: the URL and size alone would let another object of that size resume its
        journal, or be "already imported" without ever being sent."""
        tag = self.etag or self.version
        if not tag:
            digest = hashlib.sha256()
            with self.open() as stream:
                while block := stream.read(CHUNK):
                    digest.update(block)
            tag = "sha256:" + digest.hexdigest()
        return f"object:{self.shown}:{self.size}:{tag}"


class _Stream(io.RawIOBase):
    """The chunks of a GET as a file that reads forward; ``tell`` counts bytes read."""

    def __init__(self, chunks: Iterator[Any], shown: str) -> None:
        self._chunks = chunks
        self._shown = shown
        self._left = memoryview(b"")
        self._done = 0

    def readable(self) -> bool:
        """A stream is read, never written."""
        return True

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the current chunk, fetching the next when it is used up."""
        if not self._left:
            with store_errors(self._shown):
                chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(bytes(chunk))
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        self._done += n
        return n

    def tell(self) -> int:
        """Bytes of the object read so far."""
        return self._done


def matching(pattern: str) -> list[str]:
    """The URLs of the objects whose name matches ``pattern``'s last segment (``*`` any
    text), in name order. A pattern matching nothing is exit 2, as a missing file."""
    parts = urlsplit(pattern)
    shown = shown_name(pattern)
    if parts.scheme == "https":
        raise UsageError(
            f"{shown}: a * pattern needs s3://, gs:// or az:// (an https server lists nothing)",
            "give each URL",
        )
    folder, _, last = parts.path.lstrip("/").rpartition("/")
    if "*" in folder or "*" in parts.netloc:
        raise UsageError(
            f"{shown}: a * may stand only in the object's name, after the last /",
            "for example s3://bucket/export/part-*.csv",
        )
    name = re.compile("[^/]*".join(map(re.escape, last.split("*"))))
    root = f"{parts.scheme}://{parts.netloc}"
    with store_errors(shown):
        store, _ = _split(root + "/")
        found = obstore.list_with_delimiter(store, prefix=folder or None)
    keys = sorted(o["path"] for o in found["objects"] if name.fullmatch(o["path"].split("/")[-1]))
    if not keys:
        raise UsageError(f"no object matches {shown}", "check the pattern; " + LIST_HINT)
    return [f"{root}/{key}" for key in keys]
