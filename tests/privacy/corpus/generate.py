"""Generate the labelled PII corpus (``labelled_values.csv`` beside this file), deterministically.

    .venv/bin/python tests/privacy/corpus/generate.py        # rewrite the CSV
    .venv/bin/python tests/privacy/corpus/generate.py --check  # exit 1 when the CSV is stale

Every value is SYNTHETIC: card numbers and IBANs are computed (valid or deliberately invalid
checksums), phone numbers are drawn until python-phonenumbers calls them valid for their
region, names come from fixed lists (half of them outside the scanner's gazetteer, so the
figures say what free-text name detection achieves on names it has never seen). Each row has
the column it would sit in, because column names are part of discovery: a date is a birth
date only in a column named like one. Hard negatives look like PII and are not: order numbers
of card lengths that fail Luhn, IBANs with wrong check digits, SSN-like numbers with areas
never issued, NIFs with the wrong letter, other dates, versions, amounts, postcodes, product
codes, product names and notes without personal data.
"""

from __future__ import annotations

import csv
import io
import random
import sys
from collections.abc import Callable
from pathlib import Path

import phonenumbers

OUT = Path(__file__).with_name("labelled_values.csv")
SEED = 20261130

GIVEN = ["James", "Mary", "Robert", "Linda", "Michael", "Susan", "David", "Karen", "Daniel", "Nancy", "Paul", "Laura"]
SURNAMES = ["Smith", "Johnson", "Brown", "Miller", "Davis", "Wilson", "Moore", "Taylor", "Clark", "Walker", "Young"]
# Not in the gazetteer (first_names.txt / surnames.txt): what an unseen name looks like.
GIVEN_UNSEEN = ["Kofi", "Ngozi", "Hiroshi", "Priya", "Goran", "Fatima", "Jae", "Oluwaseun", "Siobhan", "Wojciech"]
SURNAMES_UNSEEN = ["Mensah", "Okafor", "Tanaka", "Raman", "Novak", "Haddad", "Kowalczyk", "Nakamura", "Ferreira"]
STREETS = ["Baker", "Elm", "Maple", "Highfield", "Church", "Station", "Oak", "Victoria", "Mill", "Park"]
STREET_TYPES = ["Street", "Road", "Avenue", "Lane", "Drive", "St", "Rd"]
DOMAINS = ["example.com", "mail.example.org", "example.co.uk", "example.de", "example.io", "example.fr"]
PRODUCTS = [
    "Blue Widget",
    "Ultra Phone 12",
    "Garden Hose Pro",
    "Summer Sale Bundle",
    "Silver Arrow Bike",
    "Golden Gate Puzzle",
    "Ocean Breeze Candle",
    "Travel Mug Large",
    "Desk Lamp Mini",
    "Winter Coat Navy",
]
CLEAN_NOTES = [
    "Customer asked about the May promotion.",
    "Parcel left at the front desk as requested.",
    "Refund issued for the damaged item, reference 2231.",
    "Meeting with the Grant Committee moved to Friday.",
    "Payment received in full, no further action.",
    "Requested a paper invoice for the Paris office.",
    "Delivery delayed by the storm in the north region.",
    "Upgrade to the Premium Plan applied on renewal.",
]
IBAN_COUNTRIES: dict[str, Callable[[random.Random], str]] = {
    "DE": lambda r: _digits(r, 18),
    "GB": lambda r: "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + _digits(r, 14),
    "FR": lambda r: _digits(r, 23),
    "ES": lambda r: _digits(r, 20),
    "NL": lambda r: "".join(r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(4)) + _digits(r, 10),
    "BE": lambda r: _digits(r, 12),
    "CH": lambda r: _digits(r, 17),
    "IT": lambda r: r.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") + _digits(r, 22),
}
PHONE_REGIONS = ["US", "GB", "DE", "FR", "IN"]
NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"  # the NIF check-letter alphabet  # pragma: allowlist secret

Row = tuple[str, str, str, str]  # column, value, entities (;-joined), kind


def _digits(r: random.Random, n: int) -> str:
    return "".join(str(r.randrange(10)) for _ in range(n))


def luhn_ok(number: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def with_luhn(body: str) -> str:
    """``body`` plus the digit that makes it pass Luhn."""
    return next(body + str(d) for d in range(10) if luhn_ok(body + str(d)))


def grouped(number: str, r: random.Random) -> str:
    style = r.choice(["plain", "space", "dash"])
    if style == "plain":
        return number
    sep = " " if style == "space" else "-"
    if len(number) == 15:  # Amex: 4-6-5
        return sep.join([number[:4], number[4:10], number[10:]])
    return sep.join(number[i : i + 4] for i in range(0, len(number), 4))


CARD_BRANDS = {
    "visa": (["4"], 16),
    "mastercard": (["51", "52", "53", "54", "55"], 16),
    "mastercard 2-series": (["2221", "2500", "2720"], 16),
    "amex": (["34", "37"], 15),
    "discover": (["6011", "65"], 16),
    "jcb": (["3528", "3589"], 16),
}


def card(r: random.Random, brand: str, valid: bool) -> str:
    prefixes, length = CARD_BRANDS[brand]
    prefix = r.choice(prefixes)
    number = with_luhn(prefix + _digits(r, length - len(prefix) - 1))
    if not valid:
        last = int(number[-1])
        number = number[:-1] + str((last + r.randrange(1, 10)) % 10)
    return number


def iban(r: random.Random, country: str, valid: bool) -> str:
    bban = IBAN_COUNTRIES[country](r)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    check = 98 - int(numeric) % 97
    if not valid:
        check = (check + r.randrange(1, 96)) % 97 + 2
        if check == 98 - int(numeric) % 97:
            check = check % 97 + 2
    value = f"{country}{check:02d}{bban}"
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4)) if r.random() < 0.5 else value


def ssn(r: random.Random, valid: bool) -> str:
    area, group, serial = r.randrange(1, 900), r.randrange(1, 100), r.randrange(1, 10000)
    if area == 666:
        area = 665
    if not valid:
        broken = r.choice(["area0", "area666", "area9", "group0", "serial0"])
        area = {"area0": 0, "area666": 666, "area9": r.randrange(900, 1000)}.get(broken, area)
        group = 0 if broken == "group0" else group
        serial = 0 if broken == "serial0" else serial
    sep = r.choice(["-", "-", " "])
    return f"{area:03d}{sep}{group:02d}{sep}{serial:04d}"


def nif(r: random.Random, valid: bool) -> str:
    number = r.randrange(10_000_000, 100_000_000)
    letter = NIF_LETTERS[number % 23]
    if not valid:
        letter = r.choice([c for c in NIF_LETTERS if c != letter])
    return f"{number}{r.choice(['', '-'])}{letter}"


def phone(r: random.Random) -> str:
    while True:
        region = r.choice(PHONE_REGIONS)
        meta = phonenumbers.example_number(region)
        assert meta is not None
        length = len(str(meta.national_number))
        candidate = phonenumbers.PhoneNumber(
            country_code=meta.country_code, national_number=int(str(r.randrange(2, 10)) + _digits(r, length - 1))
        )
        if phonenumbers.is_valid_number(candidate):
            fmt = r.choice(
                [
                    phonenumbers.PhoneNumberFormat.INTERNATIONAL,
                    phonenumbers.PhoneNumberFormat.E164,
                    phonenumbers.PhoneNumberFormat.NATIONAL,
                ]
            )
            return phonenumbers.format_number(candidate, fmt)


def ipv4(r: random.Random) -> str:
    return ".".join(str(r.randrange(1, 255)) for _ in range(4))


def ipv6(r: random.Random) -> str:
    groups = [f"{r.randrange(0, 65536):x}" for _ in range(8)]
    if r.random() < 0.4:
        return ":".join(groups[:3]) + "::" + ":".join(groups[6:])
    return ":".join(groups)


def date(r: random.Random, first_year: int, last_year: int) -> str:
    y, m, d = r.randrange(first_year, last_year + 1), r.randrange(1, 13), r.randrange(1, 29)
    months = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ]
    return r.choice(
        [f"{y}-{m:02d}-{d:02d}", f"{d:02d}/{m:02d}/{y}", f"{months[m - 1]} {d}, {y}", f"{y}/{m:02d}/{d:02d}"]
    )


def name(r: random.Random, unseen: bool) -> str:
    given, surnames = (GIVEN_UNSEEN, SURNAMES_UNSEEN) if unseen else (GIVEN, SURNAMES)
    return f"{r.choice(given)} {r.choice(surnames)}"


def email(r: random.Random) -> str:
    user = (
        r.choice([*GIVEN, *GIVEN_UNSEEN]).lower()
        + r.choice([".", "_", ""])
        + r.choice([*SURNAMES, *SURNAMES_UNSEEN]).lower()
        + r.choice(["", str(r.randrange(100)), "+news"])
    )
    return f"{user}@{r.choice(DOMAINS)}"


def address(r: random.Random) -> str:
    return f"{r.randrange(1, 400)} {r.choice(STREETS)} {r.choice(STREET_TYPES)}"


def rows() -> list[Row]:
    r = random.Random(SEED)
    out: list[Row] = []

    def add(column: str, value: str, entities: str, kind: str) -> None:
        out.append((column, value, entities, kind))

    brands = list(CARD_BRANDS)
    for i in range(300):
        brand = brands[i % len(brands)]
        add("card_number" if i < 200 else "payment_details", grouped(card(r, brand, True), r), "CREDIT_CARD", brand)
        add("order_ref", grouped(card(r, brand, False), r), "", f"order number failing Luhn ({brand} length)")
    for i in range(240):
        country = list(IBAN_COUNTRIES)[i % len(IBAN_COUNTRIES)]
        add("iban", iban(r, country, True), "IBAN_CODE", f"IBAN {country}")
        if i % 2:
            add("iban", iban(r, country, False), "", f"IBAN {country} failing mod-97")
    for _ in range(150):
        add("national_id", ssn(r, True), "US_SSN", "SSN")
    for _ in range(90):
        add("national_id", ssn(r, False), "", "SSN-like never issued")
    for _ in range(120):
        add("tax_id", nif(r, True), "ES_NIF", "NIF")
    for _ in range(80):
        add("tax_id", nif(r, False), "", "NIF with a wrong letter")
    for i in range(200):
        add("email" if i < 150 else "contact", email(r), "EMAIL_ADDRESS", "e-mail")
    for bad in [
        "@ana_m",
        "report@2x.png",
        "user@localhost",
        "name.surname",
        "first at example dot com",
        "sales@",
        "icon@3x.jpg",
        "noreply",
        "team@intranet",
        "v1.2@build",
    ]:
        for _ in range(4):
            add("email", bad, "", "not an e-mail")
    for i in range(200):
        add("phone" if i < 150 else "contact", phone(r), "PHONE_NUMBER", "phone")
    for i in range(160):
        add("client_ip" if i < 120 else "host", ipv4(r) if i % 3 else ipv6(r), "IP_ADDRESS", "IP")
    for _ in range(60):
        add(
            "version",
            r.choice(
                [
                    f"{r.randrange(1, 20)}.{r.randrange(0, 30)}.{r.randrange(0, 30)}",
                    f"v{r.randrange(1, 5)}.{r.randrange(0, 12)}",
                ]
            ),
            "",
            "software version",
        )
    for i in range(150):
        add("date_of_birth" if i < 100 else "dob", date(r, 1935, 2007), "DATE_OF_BIRTH", "birth date")
    for _ in range(120):
        add("order_date", date(r, 2019, 2026), "", "order date")
    for _ in range(80):
        add("contract_start", date(r, 1990, 2010), "", "a date in the birth-date range, not named as one")
    for i in range(160):
        add("customer_name", name(r, unseen=i % 2 == 1), "PERSON", "name" + (" (unseen)" if i % 2 else ""))
    for _ in range(100):
        add("product_name", r.choice(PRODUCTS), "", "product name")
    for i in range(360):
        who = name(r, unseen=i % 2 == 1)
        template = i % 9
        if template == 0:
            add("notes", f"Spoke with {who} about the late payment.", "PERSON", "note: name")
        elif template == 1:
            add(
                "notes",
                f"Send the contract to {address(r)}, attention {who}.",
                "PERSON;STREET_ADDRESS",
                "note: address and name",
            )
        elif template == 2:
            add("notes", f"Customer prefers e-mail: {email(r)} for statements.", "EMAIL_ADDRESS", "note: e-mail")
        elif template == 3:
            add("notes", f"Call back on {phone(r)} after 5pm.", "PHONE_NUMBER", "note: phone")
        elif template == 4:
            add("notes", f"Card {grouped(card(r, 'visa', True), r)} was declined twice.", "CREDIT_CARD", "note: card")
        elif template == 5:
            add(
                "notes",
                f"Order {grouped(card(r, 'visa', False), r)} shipped to the depot.",
                "",
                "note: order number failing Luhn",
            )
        elif template == 6:
            add("notes", f"Moved to {address(r)} last spring.", "STREET_ADDRESS", "note: address")
        else:
            add("notes", r.choice(CLEAN_NOTES), "", "note without personal data")
    for _ in range(100):
        add(
            "amount",
            r.choice(
                [f"{r.randrange(1, 100000)}.{r.randrange(100):02d}", f"{r.randrange(1, 99)},{r.randrange(1000):03d}.00"]
            ),
            "",
            "amount",
        )
    for _ in range(80):
        add(
            "postcode",
            r.choice(
                [
                    f"SW{r.randrange(1, 20)}A {r.randrange(1, 10)}AA",
                    f"{r.randrange(10000, 99999)}",
                    f"{r.randrange(10000, 99999)}-{r.randrange(1000, 9999)}",
                    f"75{r.randrange(1, 21):03d}",
                ]
            ),
            "",
            "postcode",
        )
    for _ in range(80):
        add(
            "product_code",
            r.choice(
                [
                    f"SKU-{r.randrange(1000, 9999)}-XL",
                    f"AB-{r.randrange(10000, 99999)}-C",
                    f"X{r.randrange(10)}-{_digits(r, 4)}-{_digits(r, 4)}",
                ]
            ),
            "",
            "product code",
        )
    return out


def render() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["column", "value", "entities", "kind"])
    writer.writerows(rows())
    return buffer.getvalue()


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        current = OUT.read_text(encoding="utf-8") if OUT.exists() else ""
        if current != text:
            print(f"{OUT} is stale: run {Path(__file__).name} to regenerate it")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count(chr(10)) - 1} labelled values)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
