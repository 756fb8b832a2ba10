"""The requests in flight adapt to reach ``--rate`` (SPEC section 4, issue 14).

Unit tests drive ``send/window.py`` with an injected clock and rate; end-to-end tests run
``cio import`` against the fake on 127.0.0.1 answering slowly, and read the summary's
"most in flight" line and what the server stored.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import pytest

from cio_cli.send.window import START, Window
from tests.cli_support import BASE, cio, old, summary, write_csv
from tests.fakecio import FakeCio

SITE, KEY = "site", "key"
ENV: dict[str, str | None] = {"CIO_SITE_ID": None, "CIO_API_KEY": None, "CIO_BASE_URL": None}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def window(ceiling: int = 128, rate: float = 100.0) -> tuple[Window, Clock, list[float]]:
    clock, rates = Clock(), [rate]
    return Window(ceiling, lambda: rates[0], clock), clock, rates


def test_it_starts_at_eight_or_the_ceiling() -> None:
    assert window()[0].limit == START == 8
    assert window(ceiling=3)[0].limit == 3


def test_it_grows_to_rate_times_latency_with_headroom() -> None:
    w, _, _ = window(rate=100)
    for _ in range(50):
        w.answered(0.1)
    assert w.limit == pytest.approx(100 * 0.1 * 1.5 + 1)  # 16: Little's law and 50% headroom


def test_it_grows_a_step_an_answer_and_stops_at_the_ceiling() -> None:
    w, _, _ = window(ceiling=20, rate=1000)
    w.answered(0.1)
    assert w.limit == START + 1
    for _ in range(100):
        w.answered(0.1)
    assert w.limit == 20


def test_trouble_halves_it_once_a_second() -> None:
    w, clock, _ = window(rate=1000)
    for _ in range(200):
        w.answered(0.1)
    assert w.limit == 128
    w.trouble()
    w.trouble()  # the same burst of 429s
    assert w.limit == 64
    clock.now += 1.0
    w.trouble()
    assert w.limit == 32


def test_a_slower_rate_after_429s_shrinks_it() -> None:
    w, _, rates = window(rate=100)
    for _ in range(50):
        w.answered(0.1)
    rates[0] = 25  # the pacer halved twice
    for _ in range(50):
        w.answered(0.1)
    assert w.limit == pytest.approx(25 * 0.1 * 1.5 + 1)


def test_rising_latency_is_not_followed() -> None:
    w, _, _ = window(rate=100)
    for _ in range(20):
        w.answered(0.1)
    for _ in range(200):
        w.answered(1.0)  # the server is queueing: ten times slower
    assert w.limit == pytest.approx(100 * 0.2 * 1.5 + 1)  # twice the lowest latency at most


def test_acquire_blocks_at_the_limit_until_a_release() -> None:
    w, _, _ = window(ceiling=2)
    w.acquire()
    w.acquire()
    entered = threading.Event()

    def third() -> None:
        w.acquire()
        entered.set()

    threading.Thread(target=third, daemon=True).start()
    assert not entered.wait(0.1)
    w.release()
    assert entered.wait(2)


def test_peak_counts_requests_posted_at_once() -> None:
    w, _, _ = window()
    w.posting(1)
    w.posting(1)
    w.posting(-1)
    w.posting(1)
    assert w.peak == 2


# -- end to end ------------------------------------------------------------------------


def many_requests(tmp_path: Path, n: int = 400) -> Path:
    rows = [["purchase", f"user{i}", str(old(10) - i), "pro", "x" * 200] for i in range(n)]
    return write_csv(tmp_path / "events.csv", [*BASE, "note"], rows)


def run(url: str, path: Path, *flags: str) -> tuple[int, str, float]:
    start = time.perf_counter()
    result = cio("import", path, "--base-url", url, "--site-id", SITE, "--api-key", KEY,
                 "--quiet", "--batch-bytes", "1500", *flags, env=ENV)  # fmt: skip
    return result.exit_code, result.stderr, time.perf_counter() - start


def most_in_flight(stderr: str) -> int:
    found = re.search(r"most in flight\W+([0-9,]+)", stderr)
    assert found, stderr
    return int(found.group(1))


def test_a_slow_server_gets_more_than_eight_in_flight_to_reach_the_rate(tmp_path: Path) -> None:
    path = many_requests(tmp_path)
    with FakeCio(SITE, KEY, delay=0.25) as fake:
        code, stderr, _ = run(fake.url, path, "--rate", "200")
        assert code == 0, stderr
        assert len(fake.events) == 400 and not fake.duplicate_ids
        assert 8 < most_in_flight(stderr) <= 128, "200/s at 250 ms needs about 50 in flight"


def test_concurrency_is_the_ceiling(tmp_path: Path) -> None:
    path = many_requests(tmp_path, 100)
    with FakeCio(SITE, KEY, delay=0.05) as fake:
        code, stderr, _ = run(fake.url, path, "--rate", "1000", "--concurrency", "3")
        assert code == 0, stderr
        assert len(fake.events) == 100
        assert most_in_flight(stderr) == 3  # the server's view: test_cli_send.py


def test_a_server_capping_requests_per_second_gets_near_its_cap_without_an_error(
    tmp_path: Path,
) -> None:
    path = many_requests(tmp_path, 300)  # about 60 requests
    with FakeCio(SITE, KEY, delay=0.01) as fake:
        fake.cap_rate(25)
        result = cio("import", path, "--base-url", fake.url, "--site-id", SITE, "--api-key", KEY,
                     "--quiet", "--json", "--batch-bytes", "1500", "--rate", "200",
                     env=ENV)  # fmt: skip
        s = summary(result)
        assert result.exit_code == 0, result.stderr
        assert len(fake.events) == 300 and not fake.duplicate_ids
        assert s["retries"] < s["requests"], "the sender slowed down by itself"
