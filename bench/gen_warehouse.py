"""Generate a warehouse-shaped export for benchmarks: what users bring, not ``_cio_`` headers.

Usage: python bench/gen_warehouse.py ROWS OUT.csv

Columns: ``event_name``, ``user_id``, ``occurred_at`` (mapped to the ``_cio_`` names),
``event_uuid`` (UUIDs, mapped to ``_cio_id``), ``product``, ``price`` (``19.90``, some
``NULL``), ``currency`` (``usd``/``EUR``, some empty), ``properties`` (a JSON object,
quoted, some ``NULL``; read with ``--type properties=json``), ``is_first_purchase``
(``t``/``f``, some ``NULL``) and ``coupon`` (mostly empty). Timestamps in 2021-2024 (none
in the 72-hour window) in BigQuery's and Snowflake's forms, and ISO with ``Z``. ``FLAGS``
are the options that read it.
"""

from __future__ import annotations

import random
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path

from gen import DATA, generated  # noqa: E402 - bench/ is the script's directory

MAP = {
    "event_name": "_cio_name",
    "user_id": "_cio_customer_id",
    "occurred_at": "_cio_timestamp",
    "event_uuid": "_cio_id",
}
NULLS, TYPES = ("NULL",), {"properties": "json"}
FLAGS = [
    *(f for source, target in MAP.items() for f in ("--map", f"{source}={target}")),
    *(f for text in NULLS for f in ("--null-value", text)),
    *(f for key, kind in TYPES.items() for f in ("--type", f"{key}={kind}")),
]
HEADER = (
    "event_name,user_id,occurred_at,event_uuid,product,price,currency,properties,"
    "is_first_purchase,coupon\n"
)
NAMES = ["order_completed", "trial_started", "page_viewed", "invoice_paid", "plan_changed"]
PRODUCTS = ["Standing Desk", "Ergo Chair", '"Monitor Arm, black"', "Pro Plan", "Desk Lamp"]
SOURCES = ["newsletter", "ads", "organic", "referral"]


def stamp(rnd: random.Random, i: int) -> str:
    """A timestamp in 2021-2024, in one of four warehouse forms."""
    t = datetime.fromtimestamp(1_610_000_000 + (i * 37) % 90_000_000, UTC)
    form = i % 4
    if form == 0:  # BigQuery
        return t.strftime("%Y-%m-%d %H:%M:%S UTC")
    if form == 1:  # BigQuery with microseconds
        return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{rnd.randint(0, 999999):06d} UTC"
    if form == 2:  # Snowflake
        return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{rnd.randint(0, 999):03d} +0000"
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def properties(rnd: random.Random, i: int) -> str:
    """A JSON object as a quoted CSV cell, or NULL."""
    if i % 11 == 0:
        return "NULL"
    items, gift = rnd.randint(1, 5), "true" if i % 3 == 0 else "false"
    inner = f'{{""source"":""{SOURCES[i % 4]}"",""items"":{items},""gift"":{gift}'
    if i % 5 == 0:
        inner += f',""tags"":[""a{i % 7}"",""b""],""ratio"":{rnd.randint(1, 99) / 100}'
    return f'"{inner}}}"'


def row(rnd: random.Random, i: int) -> str:
    """One line of the export."""
    price = "NULL" if i % 9 == 0 else f"{rnd.randint(100, 99999) / 100:.2f}"
    currency = "" if i % 13 == 0 else ("usd" if i % 2 else "EUR")
    first = "NULL" if i % 17 == 0 else ("t" if i % 4 == 0 else "f")
    coupon = f"SPRING{rnd.randint(10, 30)}" if i % 6 == 0 else ""
    return (
        f"{NAMES[i % 5]},usr_{rnd.randint(1, 200_000)},{stamp(rnd, i)},"
        f"{uuid.UUID(int=rnd.getrandbits(128), version=4)},{PRODUCTS[i % 5]},{price},"
        f"{currency},{properties(rnd, i)},{first},{coupon}\n"
    )


def ensure(rows: int) -> Path:
    """``bench/data/warehouse_<rows>.csv``, generated once (in a child process)."""
    return generated(DATA / f"warehouse_{rows}.csv", __file__, rows)


def main() -> None:
    rows, out = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(27)
    with open(out, "w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for start in range(0, rows, 10_000):
            f.writelines(row(rnd, i) for i in range(start, min(rows, start + 10_000)))


if __name__ == "__main__":
    main()
