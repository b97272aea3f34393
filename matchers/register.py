"""Reading a register (CSV) into keyed digests and fingerprints.

The register is the controller's list of protected people. Each row becomes
an `EnrolledPerson` holding only the register's own `ref`, keyed digests and
record fingerprints; the plaintext of a row never leaves this module. A bad
value is reported as "row N, column C: reason" — never with the value — and
the rest of the row and of the file is still enrolled.

Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from matchers import fragments
from matchers.decode import decode_bytes
from matchers.detectors import CORROBORATING_TYPES, IDENTIFIER_TYPES, get_detector
from matchers.detectors import name as name_detector
from matchers.digest import digester
from matchers.keys import Key
from matchers.readings import other_readings, readers

NOTES_COLUMN = "notes"
REF_COLUMN = "ref"
KNOWN_COLUMNS = (REF_COLUMN, *IDENTIFIER_TYPES, *CORROBORATING_TYPES, NOTES_COLUMN)
MAX_REF_LENGTH = 200
DELIMITERS = ",;\t|"
KEYING_BATCH = 1000


# stdnum's own messages speak of "the number" even for e-mail addresses
_FAULTS = (
    (InvalidChecksum, "wrong check character or checksum"),
    (InvalidLength, "wrong length"),
    (InvalidComponent, "a part of it is impossible (e.g. the date)"),
    (InvalidFormat, "wrong format"),
)


class RegisterError(Exception):
    """The file cannot be read as a register at all (no header, no ref column...)."""


@dataclass(frozen=True)
class RowProblem:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row}, column {self.column}: {self.reason}"


@dataclass
class EnrolledPerson:
    ref: str
    digests: dict[str, list[bytes]] = field(default_factory=dict)
    corroborating: dict[str, list[bytes]] = field(default_factory=dict)
    fingerprints: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint64))
    # digests of the other types the identifiers read as (matchers/readings.py): never
    # matched on; `vahti forget` removes the retained candidates under these keys too
    readings: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def fingerprint_bytes(self) -> bytes:
        return np.ascontiguousarray(self.fingerprints, dtype="<u8").tobytes()


@dataclass
class RegisterSummary:
    rows: int = 0
    enrolled: int = 0
    rows_with_problems: int = 0
    rows_skipped: int = 0
    values: dict[str, int] = field(default_factory=dict)  # id_type -> values enrolled
    problems: list[RowProblem] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    # refs of rows not enrolled because of a problem: `--replace` keeps them
    refs_with_problems: set[str] = field(default_factory=set)
    delimiter: str = ","
    encoding: str = ""


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = sample.splitlines()[0] if sample else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_register(
    data: bytes,
    key: Key,
    summary: RegisterSummary,
    *,
    phone_region: str = "FI",
    customer_id_pattern: str = "",
    name: str = "register.csv",
) -> Iterator[EnrolledPerson]:
    """Parse, validate and key a register; problems are added to `summary`."""
    decoded = decode_bytes(data, name)
    if decoded.text is None:
        raise RegisterError(f"{name}: not a text file ({decoded.reason})")
    summary.encoding = decoded.encoding
    text = decoded.text
    summary.delimiter = _sniff_delimiter(text[:64 * 1024])
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=summary.delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise RegisterError(f"{name}: empty file, expected a header row") from None
    except csv.Error as exc:
        raise RegisterError(f"{name}: row 1: unreadable header ({exc})") from None
    columns = [h.strip().lower().lstrip("\ufeff") for h in header]
    if REF_COLUMN not in columns:
        raise RegisterError(f"{name}: no 'ref' column in the header")
    for column in set(columns):
        if column and columns.count(column) > 1 and column in KNOWN_COLUMNS:
            raise RegisterError(f"{name}: column {column} appears more than once in the header")
    summary.unknown_columns = sorted({c for c in columns if c not in KNOWN_COLUMNS})
    wanted = [(i, c) for i, c in enumerate(columns) if c in KNOWN_COLUMNS and c != REF_COLUMN]
    ref_at = columns.index(REF_COLUMN)
    if "customer_id" in columns and not customer_id_pattern:
        raise RegisterError(
            f"{name}: the register has a customer_id column, but no customer id pattern is "
            "configured ([matchers] customer_id_pattern)"
        )
    detectors = {
        c: get_detector(c, region=phone_region, customer_id_pattern=customer_id_pattern or None)
        for _, c in wanted if c != NOTES_COLUMN
    }
    seen_refs: dict[str, int] = {}
    pending: list[tuple[int, _Pending]] = []
    reading = _Readings(readers(phone_region, customer_id_pattern or None), phone_region)

    row_number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            row_number += 1
            summary.rows += 1
            _problem(summary, row_number, "*", f"unreadable CSV ({type(exc).__name__})")
            summary.rows_skipped += 1
            continue
        row_number += 1
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        summary.rows += 1
        problems_before = len(summary.problems)
        if len(cells) != len(columns):
            _problem(summary, row_number, "*",
                     f"{len(cells)} fields where the header has {len(columns)}")
            summary.rows_skipped += 1
            _count_row(summary, problems_before)
            continue
        ref = cells[ref_at].strip()
        if not ref:
            _problem(summary, row_number, REF_COLUMN, "missing: every row needs a ref")
        elif len(ref) > MAX_REF_LENGTH:
            _problem(summary, row_number, REF_COLUMN, f"longer than {MAX_REF_LENGTH} characters")
        elif ref in seen_refs:
            _problem(summary, row_number, REF_COLUMN,
                     f"duplicate: the same ref as row {seen_refs[ref]}")
        if len(summary.problems) > problems_before:
            summary.rows_skipped += 1
            _count_row(summary, problems_before)
            continue
        seen_refs[ref] = row_number

        person = _Pending(ref=ref)
        for index, column in wanted:
            value = cells[index].strip()
            if not value:
                continue
            if column == NOTES_COLUMN:
                person.notes = value
                continue
            try:
                forms = _canonical_forms(column, value, detectors[column])
            except (ValidationError, ValueError) as exc:
                _problem(summary, row_number, column, _reason(column, exc))
                continue
            person.canonicals.setdefault(column, []).extend(forms)
        if not any(c in IDENTIFIER_TYPES for c in person.canonicals) and not person.notes:
            _problem(summary, row_number, "*",
                     "no valid identifier or notes: name and birth date alone are never matched")
            summary.rows_skipped += 1
            summary.refs_with_problems.add(ref)
            _count_row(summary, problems_before)
            continue
        _count_row(summary, problems_before)
        pending.append((row_number, person))
        if len(pending) >= KEYING_BATCH:
            yield from _key_batch(pending, key, summary, reading)
    yield from _key_batch(pending, key, summary, reading)


@dataclass
class _Pending:
    """A row validated but not yet keyed; plaintext lives only until its batch is keyed."""

    ref: str
    canonicals: dict[str, list[str]] = field(default_factory=dict)
    notes: str = ""


def _canonical_forms(column: str, value: str, detector) -> list[str]:
    if column == "name":
        return name_detector.enrollment_forms(value)
    return [detector.canonical(value)]


@dataclass(frozen=True)
class _Readings:
    """What reads the other types of an identifier (the phone region, the customer id
    pattern are the scan's)."""

    detectors: list
    region: str

    def of(self, person: _Pending) -> dict[str, list[str]]:
        found: dict[str, set[str]] = {}
        for column, forms in person.canonicals.items():
            if column not in IDENTIFIER_TYPES:
                continue
            for form in forms:
                for t, values in other_readings(column, form, self.detectors,
                                                self.region).items():
                    found.setdefault(t, set()).update(values)
        return {t: sorted(values) for t, values in found.items()}


def _key_batch(
    pending: list[tuple[int, _Pending]], key: Key, summary: RegisterSummary,
    reading: _Readings,
) -> Iterator[EnrolledPerson]:
    """Key a batch of rows at once: one bulk CMAC per type, one fingerprint pass.

    Bulk keying is what makes a 100,000-person register enroll in seconds
    rather than minutes (one AES call per batch instead of one per value).
    """
    if not pending:
        return
    dig = digester(key)
    by_type: dict[str, list[str]] = {}
    for _, person in pending:
        for column, forms in person.canonicals.items():
            by_type.setdefault(column, []).extend(forms)
    digests = {t: dig.digest_many(t, values) for t, values in by_type.items()}
    cursor = dict.fromkeys(digests, 0)
    others = [reading.of(person) for _, person in pending]
    other_digests = _digest_lists(dig, others)
    notes_at = [i for i, (_, person) in enumerate(pending) if person.notes]
    fps = fragments.record_fingerprints_many(key, [pending[i][1].notes for i in notes_at])
    fp_of = dict(zip(notes_at, fps, strict=True))
    for i, (row_number, person) in enumerate(pending):
        out = EnrolledPerson(ref=person.ref, readings=other_digests[i])
        for column, forms in person.canonicals.items():
            start = cursor[column]
            cursor[column] = start + len(forms)
            keyed = [bytes(d) for d in digests[column][start:start + len(forms)]]
            target = out.corroborating if column in CORROBORATING_TYPES else out.digests
            target[column] = keyed
            summary.values[column] = summary.values.get(column, 0) + 1
        if i in fp_of:
            out.fingerprints = fp_of[i]
            if len(out.fingerprints):
                summary.values[NOTES_COLUMN] = summary.values.get(NOTES_COLUMN, 0) + 1
            else:
                _problem(summary, row_number, NOTES_COLUMN, "too short to fingerprint")
                summary.rows_with_problems += 1
        summary.enrolled += 1
        yield out
    pending.clear()


def _digest_lists(dig, values: list[dict[str, list[str]]]) -> list[dict[str, list[bytes]]]:
    """Per person, type -> canonical values, keyed with one bulk call per type."""
    by_type: dict[str, list[str]] = {}
    for person in values:
        for t, canonicals in person.items():
            by_type.setdefault(t, []).extend(canonicals)
    keyed = {t: iter(dig.digest_many(t, canonicals)) for t, canonicals in by_type.items()}
    return [{t: [bytes(next(keyed[t])) for _ in canonicals] for t, canonicals in person.items()}
            for person in values]


def _problem(summary: RegisterSummary, row: int, column: str, reason: str) -> None:
    summary.problems.append(RowProblem(row, column, reason))


def _count_row(summary: RegisterSummary, problems_before: int) -> None:
    if len(summary.problems) > problems_before:
        summary.rows_with_problems += 1


def _reason(column: str, exc: Exception) -> str:
    """A reason that names the kind of fault, never the value.

    stdnum's exceptions carry fixed messages ("The number's checksum or check
    digit is invalid."); ValueError from our own code is not trusted to be
    value-free, so only its type is used.
    """
    what = f"not a valid {column.replace('_', ' ')}"
    for kind, wording in _FAULTS:
        if isinstance(exc, kind):
            return f"{what}: {wording}"
    return what
