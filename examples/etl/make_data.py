"""Generate the example's input CSVs under data/ (run once; the output is committed).

    python make_data.py

Deterministic (a fixed seed, no clock): running it again rewrites the same bytes.

* ``orders.csv``: an order export as a shop system hands it over, with the faults such
  feeds have: orders delivered twice (a few rows after the original, sometimes with the
  country spelled differently), two different rows claiming one order id, impossible
  calendar dates, negative quantities (returns booked as orders), missing prices, the
  non-ISO country code ``UK`` and a fat-fingered quantity that makes an absurd order value.
* ``customers.csv``: the customer dimension (segment, signup time).
* ``fx_rates.csv``: daily euro reference rates, published on business days only.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

HERE = Path(__file__).parent
DATA = HERE / "data"

COUNTRIES = {"DE": "EUR", "FR": "EUR", "GB": "GBP", "US": "USD", "CH": "CHF"}
SPELLINGS = {  # how each country arrives from the shop front-ends
    "DE": ["DE", "de", " DE", "De ", "DE "],
    "FR": ["FR", "fr", " fr", "Fr"],
    "GB": ["GB", "gb", "GB ", " Gb"],
    "US": ["US", "us", " US ", "Us"],
    "CH": ["CH", "ch", " CH"],
}
PRICES = [4.99, 9.5, 12.0, 19.99, 24.9, 39.0, 49.95, 79.0, 129.0, 249.0]
START = dt.datetime(2024, 2, 1)
DAYS = 60  # 2024-02-01 .. 2024-03-31
N_ORDERS = 320
N_CUSTOMERS = 60  # customer ids 61 and 62 appear in orders but not in the dimension


def orders(rng: random.Random) -> list[dict[str, str]]:
    times = sorted(START + dt.timedelta(seconds=rng.randrange(DAYS * 86400))
                   for _ in range(N_ORDERS))
    rows = []
    for i, t in enumerate(times):
        country = rng.choices(list(COUNTRIES), weights=[35, 20, 20, 15, 10])[0]
        rows.append({
            "order_id": str(100001 + i),
            "ordered_at": t.strftime("%Y-%m-%dT%H:%M:%S"),
            "customer_id": str(rng.randint(1, N_CUSTOMERS + 2)),
            "country": rng.choice(SPELLINGS[country]),
            "currency": COUNTRIES[country],
            "quantity": str(rng.choices(range(1, 13), weights=range(12, 0, -1))[0]),
            "price": f"{rng.choice(PRICES):.2f}",
        })

    # one fault per faulty row, on distinct rows, never on a row that is delivered twice
    picks = rng.sample(range(5, N_ORDERS - 10), 42)
    bad_dates, negative, no_price, uk, fat_finger = (
        picks[0:6], picks[6:12], picks[12:17], picks[17:20], picks[20:22])
    resent, conflicting = picks[22:32], picks[32:35]
    impossible = ["2024-02-30T08:15:00", "2024-02-31T19:02:11", "2024-04-31T10:00:00",
                  "2024-02-30T23:59:59", "2024-13-03T12:00:00", "2024-03-32T09:30:00"]
    for i, text in zip(bad_dates, impossible, strict=True):
        rows[i]["ordered_at"] = text
    for i in negative:
        rows[i]["quantity"] = str(-rng.randint(1, 3))
    for i in no_price:
        rows[i]["price"] = ""
    for i in uk:
        rows[i]["country"], rows[i]["currency"] = "UK", "GBP"
    for i in fat_finger:
        rows[i]["quantity"], rows[i]["price"] = "400", "249.00"

    # re-deliveries and conflicts, inserted 1-4 rows after the original (back to front,
    # so earlier insert positions stay valid)
    extra = []
    for i in resent:
        copy = dict(rows[i])
        if rng.random() < 0.5:  # same order, country spelled differently by the resender
            copy["country"] = copy["country"].strip().lower() + " "
        extra.append((i + rng.randint(1, 4), copy))
    for i in conflicting:
        copy = dict(rows[i], quantity=str(int(rows[i]["quantity"]) + 5))
        extra.append((i + rng.randint(1, 4), copy))
    for pos, row in sorted(extra, key=lambda e: e[0], reverse=True):
        rows.insert(pos + 1, row)
    return rows


def customers(rng: random.Random) -> list[dict[str, str]]:
    out = []
    for cid in range(1, N_CUSTOMERS + 1):
        signup = dt.datetime(2021, 1, 1) + dt.timedelta(minutes=rng.randrange(3 * 365 * 1440))
        out.append({"customer_id": str(cid),
                    "segment": rng.choices(["consumer", "business", "reseller"], [6, 3, 1])[0],
                    "signup_at": signup.strftime("%Y-%m-%dT%H:%M:%S")})
    return out


def fx_rates(rng: random.Random) -> list[dict[str, str]]:
    """Euros per unit of each currency, on business days from a week before the first order."""
    level = {"USD": 0.92, "GBP": 1.17, "CHF": 1.06}
    out = []
    day = dt.date(2024, 1, 25)
    while day <= dt.date(2024, 3, 29):
        if day.weekday() < 5:
            out.append({"rate_date": day.isoformat(), "currency": "EUR", "to_eur": "1.0"})
            for cur in level:
                level[cur] *= 1 + rng.gauss(0, 0.003)
                out.append({"rate_date": day.isoformat(), "currency": cur,
                            "to_eur": f"{level[cur]:.4f}"})
        day += dt.timedelta(days=1)
    return out


def write(name: str, rows: list[dict[str, str]]) -> None:
    with open(DATA / name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def main() -> None:
    rng = random.Random(20240301)
    DATA.mkdir(exist_ok=True)
    write("orders.csv", orders(rng))
    write("customers.csv", customers(rng))
    write("fx_rates.csv", fx_rates(rng))


if __name__ == "__main__":
    main()
