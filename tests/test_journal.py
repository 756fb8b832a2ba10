"""Unit tests of ``cio_cli.record.journal``: the record format, torn and damaged records, the
header checks (fingerprint, destination, version), ``--restart``, and durability of ``ack``.

SPEC section 5, "Journal and resume". Lines are built here by hand from the format the module
documents (``KIND PAYLOAD CRC32HEX\\n``), so the tests check the format, not the module
against itself.
"""

from __future__ import annotations

import json
import os
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cio_cli.config import Config
from cio_cli.record import journal
from cio_cli.record.journal import Acked, Journal, file_digest, ranges
from cio_cli.send.track import TRACK

PRINT = "sha256:" + "ab" * 32 + ":123"
DEST = "http://127.0.0.1:9#site-sha256=0123456789ab"


def line(kind: str, payload: str) -> bytes:
    """One journal record as the module documents it."""
    text = f"{kind} {payload}"
    return f"{text} {zlib.crc32(text.encode()):08x}\n".encode()


def header(print_: str = PRINT, dest: str = DEST, version: int = 1) -> bytes:
    doc = {"version": version, "fingerprint": print_, "destination": dest}
    return line("H", json.dumps(doc, separators=(",", ":")))


def rows_of(acked: Acked) -> set[int]:
    """Every row inside the acknowledged ranges."""
    return {r for a, b in zip(acked.starts, acked.ends, strict=True) for r in range(a, b + 1)}


def records(path: Path) -> list[tuple[str, str]]:
    """The intact records of a journal file; fails if any byte of it is not a whole record."""
    good, recs = journal._read(path)
    assert good == path.stat().st_size, f"torn bytes left in {path}: {path.read_bytes()!r}"
    return recs


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return tmp_path / "events.csv.cio-journal"


@pytest.fixture
def opened() -> Iterator[list[Journal]]:
    """Journals opened by a test, closed after it."""
    out: list[Journal] = []
    yield out
    for j in out:
        j.close()


def open_(path: Path, opened: list[Journal], print_: str = PRINT, dest: str = DEST,
          restart: bool = False) -> tuple[Journal, str]:  # fmt: skip
    j, note = Journal.open(path, print_, dest, restart)
    opened.append(j)
    return j, note


# -- ranges and Acked ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rows", "text"),
    [
        ([], ""),
        ([7], "7-7"),
        ([2, 3, 4, 5, 7, 9, 10, 11, 12], "2-5,7-7,9-12"),
        ([2, 4, 6], "2-2,4-4,6-6"),
        (list(range(2, 100_002)), "2-100001"),
    ],
)
def test_ranges(rows: list[int], text: str) -> None:
    assert ranges(rows) == text


def test_acked_merges_out_of_order_overlapping_and_adjacent_records() -> None:
    acked = Acked.parse(["40-50", "2-5,7-7", "6-6", "45-60,100-100", "8-9", "3-4", "99-99"])
    assert list(zip(acked.starts, acked.ends, strict=True)) == [(2, 9), (40, 60), (99, 100)]
    assert len(acked) == 8 + 21 + 2
    assert len(Acked.parse([])) == 0


def test_acked_equals_the_union_of_random_records() -> None:
    import random

    rnd = random.Random(7)
    truth: set[int] = set()
    payloads = []
    for _ in range(300):
        start = rnd.randint(2, 5000)
        chunk = sorted({start + rnd.randint(0, 60) for _ in range(rnd.randint(1, 40))})
        truth.update(chunk)
        payloads.append(ranges(chunk))
    rnd.shuffle(payloads)
    acked = Acked.parse(payloads)
    assert rows_of(acked) == truth
    assert len(acked) == len(truth)
    assert all(b + 1 < a for a, b in zip(acked.starts[1:], acked.ends, strict=False))


# -- record lines ------------------------------------------------------------------------------


def test_line_format_is_kind_payload_crc() -> None:
    assert journal._line("A", "2-5,7-7") == line("A", "2-5,7-7")
    assert journal._parse(line("A", "2-5,7-7")) == ("A", "2-5,7-7")
    assert journal._parse(line("D", "2026-01-01T00:00:00Z")) == ("D", "2026-01-01T00:00:00Z")


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\n",
        line("A", "2-5")[:-1],  # no newline: cut short
        line("A", "2-5")[:-3] + b"\n",  # CRC cut short
        line("A", "2-5").replace(b"2-5", b"2-6"),  # payload changed, CRC not
        line("A", "2-5").replace(b"A ", b"D "),  # kind changed
        b"\xff\xfe garbage \x00\n",
        b"A 2-5 zzzzzzzz\n",
    ],
)
def test_damaged_lines_are_refused(raw: bytes) -> None:
    assert journal._parse(raw) is None


# -- fingerprint -----------------------------------------------------------------------------


def test_fingerprint_is_sha256_of_the_bytes_and_the_size(tmp_path: Path) -> None:
    import hashlib

    a = tmp_path / "a.csv"
    a.write_bytes(b"x,y\n1,2\n")
    b = tmp_path / "b.csv"
    b.write_bytes(b"x,y\n1,2\n")
    assert file_digest(a) == file_digest(b)
    digest = hashlib.sha256(a.read_bytes()).hexdigest()
    assert file_digest(a) == f"sha256:{digest}:8"
    b.write_bytes(b"x,y\n1,3\n")  # same size, one cell changed
    assert file_digest(a) != file_digest(b)
    b.write_bytes(b"x,y\n1,2\n\n")
    assert file_digest(a) != file_digest(b)


def test_destination_names_the_base_url_and_hides_both_credentials() -> None:
    cfg = Config(site_id="site-7d1f0c", api_key="key-93ab5e", base_url="http://127.0.0.1:9")
    dest = TRACK.destination(cfg)
    assert dest.startswith("http://127.0.0.1:9")
    assert "site-7d1f0c" not in dest and "key-93ab5e" not in dest
    assert dest != TRACK.destination(Config("site-other", "key-93ab5e", "http://127.0.0.1:9"))
    assert dest == TRACK.destination(Config("site-7d1f0c", "another-key", "http://127.0.0.1:9"))
    assert dest != TRACK.destination(Config("site-7d1f0c", "key-93ab5e", "http://127.0.0.1:10"))


# -- open, ack, finish -----------------------------------------------------------------------


def test_new_journal_has_a_header_only(jpath: Path, opened: list[Journal]) -> None:
    j, note = open_(jpath, opened)
    assert note == ""
    assert len(j.acked) == 0 and not j.done
    assert jpath.read_bytes() == header()
    assert not jpath.with_name(jpath.name + ".tmp").exists()


def test_ack_is_in_the_file_when_it_returns(jpath: Path, opened: list[Journal]) -> None:
    """A killed process loses nothing acknowledged: every record is flushed before ack returns."""
    j, _ = open_(jpath, opened)
    j.ack(ranges([3, 4, 5, 9]))
    j.ack("")
    j.ack("2-2")
    assert jpath.read_bytes() == header() + line("A", "3-5,9-9") + line("A", "2-2")
    j.finish()
    recs = records(jpath)
    assert [k for k, _ in recs] == ["H", "A", "A", "D"]


def test_reopen_resumes_out_of_order_acks(jpath: Path, opened: list[Journal]) -> None:
    j, _ = open_(jpath, opened)
    for batch in ([30, 31, 32], [2, 3], [10, 11, 12, 13], [4, 5, 6, 7, 8, 9]):
        j.ack(ranges(batch))
    j.close()
    again, note = open_(jpath, opened)
    assert note == ""
    assert not again.done
    assert rows_of(again.acked) == {*range(2, 14), 30, 31, 32}
    again.ack("14-14")
    again.finish()
    again.close()
    last, note = open_(jpath, opened)
    assert last.done and note == ""
    assert rows_of(last.acked) == {*range(2, 15), 30, 31, 32}


def test_every_cut_of_the_last_record_is_dropped(tmp_path: Path, opened: list[Journal]) -> None:
    """kill -9 at any byte of the last write: the torn record is ignored, never trusted, and
    the file is cut back to whole records before anything new is appended."""
    body = header() + line("A", "2-10") + line("A", "20-29")
    last = line("A", "11-19,30-40")
    for cut in range(len(last)):
        path = tmp_path / f"cut{cut}.cio-journal"
        path.write_bytes(body + last[:cut])
        j, note = open_(path, opened)
        assert note == ""
        assert rows_of(j.acked) == {*range(2, 11), *range(20, 30)}, cut
        assert path.read_bytes() == body, cut
        j.ack("11-11")
        j.close()
        assert path.read_bytes() == body + line("A", "11-11")
    path = tmp_path / "whole.cio-journal"
    path.write_bytes(body + last)
    j, _ = open_(path, opened)
    assert len(j.acked) == 39


def test_every_cut_of_a_whole_journal_is_safe(tmp_path: Path, opened: list[Journal]) -> None:
    """Any prefix of a journal opens without error and trusts exactly its whole records."""
    recs = [header(), line("A", "2-5"), line("A", "9-12,14-14"), line("A", "6-8"),
            line("D", "2026-01-01T00:00:00Z")]  # fmt: skip
    full = b"".join(recs)
    ends = [sum(len(r) for r in recs[: i + 1]) for i in range(len(recs))]
    expected = [set(), {2, 3, 4, 5}, {2, 3, 4, 5, 9, 10, 11, 12, 14}, {*range(2, 13), 14}]
    for cut in range(len(full) + 1):
        path = tmp_path / f"p{cut}.cio-journal"
        path.write_bytes(full[:cut])
        j, note = open_(path, opened)
        whole = sum(1 for e in ends if e <= cut)
        if whole == 0:  # not even the header: a new journal
            assert note.startswith(
                "not resuming: the journal beside the file is unreadable; starting over"
            ), cut
            assert len(j.acked) == 0 and not j.done
            assert path.read_bytes() == header()
            if cut:  # never destroyed: kept aside, as found
                assert note.endswith(f"(that journal is kept as {path.name}.unreadable)")
                assert path.with_name(path.name + ".unreadable").read_bytes() == full[:cut]
            continue
        assert note == "", cut
        assert rows_of(j.acked) == expected[min(whole - 1, 3)], cut
        assert j.done == (whole == 5), cut
        assert path.read_bytes() == full[: ends[whole - 1]], cut


@pytest.mark.parametrize(
    "tail",
    [
        b"A 41-",  # half a line
        line("A", "41-60")[:-2],  # all but the end of the CRC and the newline
        line("A", "41-60").replace(b"41-60", b"41-99"),  # whole line, wrong CRC
        b"\x00\x00\x00\x00\x00\x00",  # zeros (a file extended but never written)
        b"\xde\xad\xbe\xef garbage\n",  # garbage
        b"A 41-60 1234abcd\n",  # well formed, wrong CRC
    ],
)
def test_damaged_tail_is_ignored(jpath: Path, opened: list[Journal], tail: bytes) -> None:
    body = header() + line("A", "2-40")
    jpath.write_bytes(body + tail)
    j, note = open_(jpath, opened)
    assert note == ""
    assert rows_of(j.acked) == set(range(2, 41))
    assert jpath.read_bytes() == body


def test_nothing_after_a_damaged_record_is_trusted(jpath: Path, opened: list[Journal]) -> None:
    flipped = bytearray(line("A", "100-200"))
    flipped[3] ^= 0x01  # "100" -> "000"-ish: one bit flipped
    jpath.write_bytes(header() + line("A", "2-40") + bytes(flipped) + line("A", "300-400")
                      + line("D", "2026-01-01T00:00:00Z"))  # fmt: skip
    j, _ = open_(jpath, opened)
    assert rows_of(j.acked) == set(range(2, 41))
    assert not j.done


# -- the header: which file, which destination ----------------------------------------------


@pytest.mark.parametrize(
    ("found", "why"),
    [
        (header(print_="sha256:" + "cd" * 32 + ":123"),
         "the file changed since the journal was written"),
        (header(dest="http://127.0.0.1:9#site-sha256=ffffffffffff"),
         "the journal is for another destination (region, base URL or site id)"),
        (header(dest="https://track-eu.customer.io#site-sha256=0123456789ab"),
         "the journal is for another destination (region, base URL or site id)"),
        (header(version=2), "the journal beside the file is unreadable"),
        (header()[:20], "the journal beside the file is unreadable"),
        (line("A", "2-40"), "the journal beside the file is unreadable"),
        (b"", "the journal beside the file is unreadable"),
    ],
)  # fmt: skip
def test_a_journal_of_another_file_or_destination_is_not_resumed(
    jpath: Path, opened: list[Journal], found: bytes, why: str
) -> None:
    old = found + (line("A", "2-40") + line("D", "x") if found.endswith(b"\n") else b"")
    jpath.write_bytes(old)
    j, note = open_(jpath, opened)
    assert note.startswith(f"not resuming: {why}; starting over")
    assert len(j.acked) == 0 and not j.done
    assert jpath.read_bytes() == header()  # this file's journal is beside it now
    kept = [p for p in jpath.parent.iterdir() if p.name.startswith(jpath.name + ".")]
    if old:  # the old journal is never destroyed: it is set aside, byte for byte
        assert [p.read_bytes() for p in kept] == [old]
        assert note.endswith(f"(that journal is kept as {kept[0].name})")
    else:
        assert kept == []


def test_restart_sets_the_journal_aside(jpath: Path, opened: list[Journal]) -> None:
    """--restart ignores the journal but keeps it until the new run has its own: the first
    new record sets it aside; the new run's finish removes it (superseded)."""
    old = header() + line("A", "2-40") + line("D", "x")
    jpath.write_bytes(old)
    j, note = open_(jpath, opened, restart=True)
    assert note == "--restart: the journal is ignored; it is kept until this run writes its own"
    assert len(j.acked) == 0 and not j.done
    assert jpath.read_bytes() == old  # a run that sends nothing (exit 4, 401) changes nothing
    j.ack("2-2")
    kept = [p for p in jpath.parent.iterdir() if p.name.startswith(jpath.name + ".")]
    assert [p.read_bytes() for p in kept] == [old]
    assert jpath.read_bytes() == header() + line("A", "2-2")
    j.close()
    again, note = open_(jpath, opened)  # the restarted run, interrupted, resumes its own
    assert note == "" and rows_of(again.acked) == {2} and not again.done
    assert kept[0].read_bytes() == old
    again.finish()  # now the new journal is whole: the old one is superseded
    assert not kept[0].exists()
    assert [k for k, _ in records(jpath)] == ["H", "A", "D"]


def test_a_journal_set_aside_for_another_destination_is_found_again(
    jpath: Path, opened: list[Journal]
) -> None:
    """Issue 9 item 6: a run for another destination (say a wrong site id) sets the journal
    aside instead of destroying it; the next run for the first destination resumes it."""
    other = "http://127.0.0.1:9#site-sha256=ffffffffffff"
    first, _ = open_(jpath, opened)
    first.ack("2-40")
    first.close()
    wrong, note = open_(jpath, opened, dest=other)
    assert len(wrong.acked) == 0
    assert note.startswith("not resuming: the journal is for another destination")
    wrong.ack("2-5")
    wrong.close()
    right, note = open_(jpath, opened)
    assert rows_of(right.acked) == set(range(2, 41)) and not right.done
    assert note.startswith("the journal is for another destination (region, base URL or site")
    assert "is back" in note
    assert records(jpath)[0][1] == header()[2:].rsplit(b" ", 1)[0].decode()
    right.ack("41-41")
    right.close()
    back, note = open_(jpath, opened, dest=other)  # and the other one is kept just as well
    assert rows_of(back.acked) == {2, 3, 4, 5} and "is back" in note
    names = sorted(p.name for p in jpath.parent.iterdir())
    assert len(names) == 2 and names[0] == jpath.name


def test_the_lock_is_taken_once_and_names_its_holder(tmp_path: Path) -> None:
    path = tmp_path / "events.csv.cio-journal.lock"
    held = journal.Lock.take(path)
    assert path.read_text() == f"{os.getpid()}\n"
    with pytest.raises(journal.Locked) as info:
        journal.Lock.take(path)
    assert info.value.pid == os.getpid()
    held.release()
    assert not path.exists()
    again = journal.Lock.take(path)
    again.release()


def test_restart_without_a_journal_says_nothing(jpath: Path, opened: list[Journal]) -> None:
    """Nothing was set aside: no note (the note is computed after the new journal exists)."""
    _, note = open_(jpath, opened, restart=True)
    assert jpath.read_bytes() == header()
    assert note == ""


def test_finish_and_close_sync_the_file(
    jpath: Path, opened: list[Journal], monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    j, _ = open_(jpath, opened)
    assert synced, "the new header is synced before it replaces the old journal"
    synced.clear()
    monkeypatch.setattr(journal, "SYNC_EVERY_S", 3600.0)
    j.ack("2-2")
    j.ack("3-3")
    assert not synced, "acks are flushed, not synced, more than once a second"
    j.finish()
    assert len(synced) == 1
    j.close()
    assert len(synced) == 2


# -- records that pass their CRC but are not what the format says ----------------------------


@pytest.mark.parametrize(
    "bad", [line("H", "this is not json"), line("H", "[1, 2, 3]")], ids=["not-json", "json-list"]
)
def test_an_intact_but_malformed_header_is_not_trusted(
    jpath: Path, opened: list[Journal], bad: bytes
) -> None:
    """A hand-edited or foreign file beside the input must not crash the import."""
    jpath.write_bytes(bad + line("A", "2-40"))
    j, note = open_(jpath, opened)
    assert note == (
        "not resuming: the journal beside the file is unreadable; starting over"
        f" (that journal is kept as {jpath.name}.unreadable)"
    )
    assert jpath.with_name(jpath.name + ".unreadable").read_bytes() == bad + line("A", "2-40")
    assert len(j.acked) == 0


@pytest.mark.parametrize("payload", ["2-x", "5"])
def test_an_intact_but_malformed_ack_is_not_trusted(
    jpath: Path, opened: list[Journal], payload: str
) -> None:
    """A record that is whole but does not say which rows it means acknowledges nothing:
    opening must not crash, and rows before it are still resumed."""
    jpath.write_bytes(header() + line("A", "10-20") + line("A", payload))
    j, _ = open_(jpath, opened)
    assert set(range(10, 21)) <= rows_of(j.acked) <= set(range(10, 21)) | {2, 3, 4, 5, 9}


def test_the_sender_writes_the_same_ranges() -> None:
    """``A`` payloads of the rows a request carries (ascending) read back as the same rows."""
    import random

    rnd = random.Random(3)
    for _ in range(200):
        rows = sorted(set(rnd.sample(range(2, 400), rnd.randint(1, 120))))
        text = ranges(rows)
        assert rows_of(Acked.parse([text])) == set(rows)


def test_a_journal_that_acknowledges_nothing_is_not_kept(
    jpath: Path, opened: list[Journal]
) -> None:
    """A header alone (a run refused at once, say with a wrong site id) holds nothing to keep."""
    jpath.write_bytes(header(dest="http://127.0.0.1:9#site-sha256=ffffffffffff"))
    j, note = open_(jpath, opened)
    assert note == (
        "not resuming: the journal is for another destination (region, base URL or site id);"
        " starting over"
    )
    assert sorted(p.name for p in jpath.parent.iterdir()) == [jpath.name]
    assert jpath.read_bytes() == header() and len(j.acked) == 0
