"""The Presidio analyzer PII discovery uses: offline, no NLP model, nothing downloaded at run time.

Presidio's pattern and checksum recognisers need no model, so the analyzer is built on its
``NoOpNlpEngine`` (no spaCy pipeline is loaded) with an explicit registry:

- Presidio's own: credit cards (Luhn; Mastercard's 2-series added), IBANs (mod-97 and per-country format), e-mail
  addresses (with the domain's public suffix checked against tldextract's bundled snapshot,
  never fetched), phone numbers (python-phonenumbers: valid numbers), IPv4/IPv6, US SSNs
  (issuance rules; 9xx areas refused too), Spanish NIFs (check letter) and dates;
- two of ours, because without a NER model Presidio finds no names or addresses: PERSON from
  a gazetteer (given names and surnames, public-domain US lists beside this file) or a title
  before a capitalised word, and STREET_ADDRESS from street-address patterns.

Some recognisers only run in a column whose name hints their entity (see ``hints.yaml``), as
their matches mean little elsewhere; they report a *hinted* entity that the scanner maps back:
``PHONE_POSSIBLE`` (a possible rather than a valid number: fictional 555 numbers in a column
named ``phone``), ``PERSON_SHAPE`` (capitalised words in a column named ``full_name``) and
``DATE_TIME`` (a date in a column named ``date_of_birth``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from presidio_analyzer import AnalyzerEngine, RecognizerResult
    from presidio_analyzer.nlp_engine import NlpArtifacts

LANGUAGE = "en"
HERE = Path(__file__).parent
FIRST_NAMES_FILE = HERE / "first_names.txt"
SURNAMES_FILE = HERE / "surnames.txt"

# Entities found in any column, and the hinted ones with the entity each stands for.
ENTITIES = (
    "CREDIT_CARD",
    "IBAN_CODE",
    "US_SSN",
    "ES_NIF",
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "IP_ADDRESS",
    "PERSON",
    "STREET_ADDRESS",
)
HINTED = {"PHONE_POSSIBLE": "PHONE_NUMBER", "PERSON_SHAPE": "PERSON", "DATE_TIME": "DATE_OF_BIRTH"}
# Entities whose value carries a checksum or issuance rule that random look-alikes fail.
CHECKSUM_ENTITIES = ("CREDIT_CARD", "IBAN_CODE", "ES_NIF", "US_SSN")
# Every entity a scan can report.
ALL_ENTITIES = (*ENTITIES, "DATE_OF_BIRTH")

_TITLES = r"(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Madam)\.?"
_CAP = r"[A-Z][a-zà-ÿ]+(?:[-'][A-Z]?[a-zà-ÿ]+)?"
_MONTHS = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December"
    r"|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_STREET_TYPES = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Court|Ct|Place|Pl|Terrace|Close"
    r"|Crescent|Square|Sq|Parkway|Pkwy|Highway|Hwy)"
)


def _names(path: Path) -> frozenset[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@cache
def gazetteer() -> tuple[frozenset[str], frozenset[str]]:
    """(given names, surnames) of the bundled public-domain lists."""
    return _names(FIRST_NAMES_FILE), _names(SURNAMES_FILE)


def _offline_suffixes() -> Any:
    import tldextract

    # No URL and no cache: the public-suffix snapshot shipped inside tldextract, never a download.
    return tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def _recognizer_classes() -> dict[str, Any]:
    from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        EmailRecognizer,
        UsSsnRecognizer,
    )

    class SsnRecognizer(UsSsnRecognizer):
        """Presidio's SSN rules, plus: area numbers 900-999 are never issued (ITINs use them)."""

        def invalidate_result(self, pattern_text: str) -> bool:
            digits = "".join(c for c in pattern_text if c.isdigit())
            return bool(super().invalidate_result(pattern_text)) or digits[:1] == "9"

    # Presidio's card pattern, plus Mastercard's 2221-2720 range (16 digits); Luhn still decides.
    card_patterns = [
        *CreditCardRecognizer.PATTERNS,
        Pattern("Mastercard 2-series (weak)", r"\b2[2-7]\d{2}[- ]?\d{4}[- ]?\d{4}[- ]?\d{4}\b", 0.3),
    ]

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recogniser with the domain checked against the bundled suffix list."""

        _extract = _offline_suffixes()

        def validate_result(self, pattern_text: str) -> bool:
            return bool(self._extract(pattern_text.rpartition("@")[2]).fqdn)

    class GazetteerPersonRecognizer(EntityRecognizer):
        """PERSON: a known given name followed by a capitalised word (a known surname scores
        higher), or a title (Mr, Dr …) before capitalised words."""

        _PAIR = re.compile(rf"\b({_CAP})((?:\s+{_CAP}){{1,2}})\b")
        _TITLED = re.compile(rf"\b{_TITLES}\s+{_CAP}(?:\s+{_CAP})?\b")
        _NOT_SURNAMES = frozenset(_STREET_TYPES.strip("(?:)").split("|"))

        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON"], supported_language=LANGUAGE, name="GazetteerPerson")
            self.first, self.last = gazetteer()

        def load(self) -> None:
            return None

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            out = []
            for m in self._PAIR.finditer(text):
                rest = m.group(2).split()
                if m.group(1) not in self.first:
                    continue
                if rest[0] in self._NOT_SURNAMES:
                    continue
                # A known surname makes it a name; an unknown capitalised word ("Grant Committee",
                # "Summer Sale") stays under min_score, so it counts in name-hinted columns only.
                score = 0.85 if rest[0] in self.last or rest[-1] in self.last else 0.35
                out.append(RecognizerResult("PERSON", m.start(), m.end(), score))
            out.extend(RecognizerResult("PERSON", m.start(), m.end(), 0.6) for m in self._TITLED.finditer(text))
            return out

    class PersonShapeRecognizer(EntityRecognizer):
        """PERSON_SHAPE (name-hinted columns only): the whole value is two to four capitalised
        words, or one known given name."""

        _WHOLE = re.compile(rf"^\s*(?:{_TITLES}\s+)?{_CAP}(?:,?\s+{_CAP}\.?){{1,3}}\s*$")

        def __init__(self) -> None:
            super().__init__(supported_entities=["PERSON_SHAPE"], supported_language=LANGUAGE, name="PersonShape")
            self.first = gazetteer()[0]

        def load(self) -> None:
            return None

        def analyze(
            self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
        ) -> list[RecognizerResult]:
            if self._WHOLE.match(text) or text.strip() in self.first:
                return [RecognizerResult("PERSON_SHAPE", 0, len(text), 0.5)]
            return []

    street = PatternRecognizer(
        supported_entity="STREET_ADDRESS",
        name="StreetAddress",
        supported_language=LANGUAGE,
        patterns=[
            # 221B Baker Street, 1600 Pennsylvania Ave NW
            Pattern("number street", rf"\b\d{{1,5}}[A-Za-z]?,?\s+(?:{_CAP}\s+){{1,3}}{_STREET_TYPES}\b\.?", 0.6),
            # Hauptstraße 5, Kirchweg 12a
            Pattern(
                "german street",
                r"\b[A-ZÄÖÜ][a-zäöüß]+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm)\s+\d{1,4}[a-z]?\b",
                0.6,
            ),
            # 12 rue de la Paix, 3 Via Roma, Calle Mayor 7
            Pattern(
                "romance street",
                r"(?i:\b\d{1,4},?\s+(?:rue|avenue|boulevard|via|viale|piazza|calle|avenida|plaza)\s)"
                rf"(?:(?:de|del|della|la|le|du|des|di)\s+)*{_CAP}"
                rf"|\b(?:Calle|Avenida|Via|Piazza)\s+{_CAP}(?:\s+{_CAP})?,?\s+\d{{1,4}}\b",
                0.6,
            ),
        ],
    )
    # Presidio's date patterns, plus "March 4, 1985" and "4 March 1985" (spelt-out months).
    date_patterns = [
        *DateRecognizer.PATTERNS,
        Pattern("Month d, yyyy", rf"\b{_MONTHS}\s+(?:[1-9]|[12]\d|3[01]),?\s+\d{{4}}\b", 0.6),
        Pattern("d Month yyyy", rf"\b(?:[1-9]|[12]\d|3[01])\s+{_MONTHS}\s+\d{{4}}\b", 0.6),
    ]
    return {
        "dates": date_patterns,
        "ssn": SsnRecognizer,
        "card_patterns": card_patterns,
        "email": OfflineEmailRecognizer,
        "gazetteer": GazetteerPersonRecognizer,
        "shape": PersonShapeRecognizer,
        "street": street,
    }


@cache
def analyzer() -> AnalyzerEngine:
    """The offline analyzer (built once per process: the registry compiles its patterns)."""
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        EsNifRecognizer,
        IbanRecognizer,
        IpRecognizer,
        PhoneRecognizer,
    )

    ours = _recognizer_classes()
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in (
        CreditCardRecognizer(supported_language=LANGUAGE, patterns=ours["card_patterns"]),
        IbanRecognizer(supported_language=LANGUAGE),
        ours["ssn"](supported_language=LANGUAGE),
        EsNifRecognizer(supported_language=LANGUAGE),
        ours["email"](supported_language=LANGUAGE),
        PhoneRecognizer(supported_language=LANGUAGE),
        # Possible (not necessarily valid) numbers: hinted columns only.
        PhoneRecognizer(
            supported_language=LANGUAGE, supported_entity="PHONE_POSSIBLE", leniency=0, name="PhonePossible"
        ),
        IpRecognizer(supported_language=LANGUAGE),
        DateRecognizer(supported_language=LANGUAGE, patterns=ours["dates"]),
        ours["gazetteer"](),
        ours["shape"](),
        ours["street"],
    ):
        registry.add_recognizer(recognizer)
    engine = NoOpNlpEngine(models=[{"lang_code": LANGUAGE, "model_name": "no_op"}])
    return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=[LANGUAGE])


__all__ = ["ALL_ENTITIES", "CHECKSUM_ENTITIES", "ENTITIES", "HINTED", "analyzer", "gazetteer"]
