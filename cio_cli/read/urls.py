"""Input URLs as plain text: which arguments are URLs, how they are shown, what they are named.

An input's URL may hold secrets: an https URL's query string (a presigned signature,
a SAS token) and any ``user:password@``. ``shown_name`` is the one form of an input that
goes anywhere (messages, ``--json``, the journal, the step summary, annotations): the query
is shown as ``?***`` and the password as ``***``. The URL as given is kept only to read.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

SCHEMES = ("s3", "gs", "az", "https")
HIDDEN = "***"
LOCAL_HINT = "give a local file; copy it to the store afterwards with the store's own tool"


ANY_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # a scheme: http://, ftp://, s3a://...
PATH_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):/+")  # a Path keeps one / of https://
INNER_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")  # one after spaces or a quote


def looks_like_url(arg: str) -> bool:
    """Does ``arg`` start with a scheme (``http://``, ``s3a://``), read or not?"""
    return ANY_URL.match(arg) is not None


def is_url(arg: str) -> bool:
    """Is ``arg`` an object-storage or https URL (rather than a path or ``-``)?"""
    scheme, sep, _ = arg.partition("://")
    return bool(sep) and scheme.lower() in SCHEMES


def holds_url(arg: str) -> bool:
    """Does a scheme (``https://``) stand anywhere in ``arg``: a URL pasted after a space
    or in quotes is no path, and its secrets are hidden all the same?"""
    return INNER_URL.search(arg) is not None


def shown_name(arg: str) -> str:
    """``arg`` as outputs show it: a URL's query string as ``?***``, its password as
    ``***``, no fragment, also when it comes after spaces or a quote; paths and ``-`` as
    they are."""
    if not looks_like_url(arg):
        inner = INNER_URL.search(arg)
        return arg if inner is None else arg[: inner.start()] + shown_name(arg[inner.start() :])
    parts = urlsplit(arg)
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}" if ":" in user else f"{HIDDEN}@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, HIDDEN if parts.query else "", ""))


def object_name(arg: str) -> str:
    """The last segment of a URL's path (``part-000.csv``), the name local outputs take."""
    return urlsplit(arg).path.rstrip("/").rpartition("/")[2] or "object"


def beside(arg: str) -> Path:
    """The path an input's journal and rejects file are named after: the file itself, or
    for a URL its object name in the working directory."""
    return Path.cwd() / object_name(arg) if is_url(arg) else Path(arg)


def url_for_local(text: str) -> str | None:
    """A URL given where cio takes a local path (``--out https://...``; a ``Path`` has
    made it ``https:/...``), as shown without its secrets; None for a path."""
    match = PATH_URL.match(text)
    return None if match is None else shown_name(f"{match.group(1)}://{text[match.end() :]}")
