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
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
from stdnum.exceptions import (
    InvalidChecksum,
    InvalidComponent,
    InvalidFormat,
    InvalidLength,
    ValidationError,
)

from vahti.matchers import fragments
from vahti.matchers.decode import decode_bytes
from vahti.matchers.detectors import (
    CORROBORATING_TYPES,
    IDENTIFIER_TYPES,
    customer_id,
    get_detector,
)
from vahti.matchers.detectors import name as name_detector
from vahti.matchers.digest import digester
from vahti.matchers.identifier_check import describe, identifier_in
from vahti.matchers.keys import Key
from vahti.matchers.readings import other_readings, readers
from vahti.matchers.register_columns import (
    MAX_HEADER_NAME,
    NOTES,
    ColumnPlan,
    RegisterError,
    plan_columns,
)

__all__ = ["EnrolledPerson", "RegisterError", "RegisterSummary", "RowProblem", "read_register"]

MAX_REF_LENGTH = 200
# Limits that make absurd input fail in milliseconds instead of minutes: no register
# has a thousand columns or a line of a million characters (csv's own limit of
# 131,072 characters per field stands as well).
MAX_COLUMNS = 1000
MAX_LINE_CHARS = 1 << 20
DELIMITERS = ",;\t|"
SNIFF_CHARS = 64 * 1024
SNIFF_LINES = 20
KEYING_BATCH = 1000


# stdnum's own messages speak of "the number" even for e-mail addresses
_FAULTS = (
    (InvalidChecksum, "wrong check character or checksum"),
    (InvalidLength, "wrong length"),
    (InvalidComponent, "a part of it is impossible (e.g. the date)"),
    (InvalidFormat, "wrong format"),
)


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
    unknown_columns: list[str] = field(default_factory=list)  # header names, as written
    ignored_columns: list[str] = field(default_factory=list)  # --map COLUMN=ignore
    columns: dict[str, str] = field(default_factory=dict)  # header name -> type read
    # refs of rows not enrolled because of a problem: `--replace` keeps them
    refs_with_problems: set[str] = field(default_factory=set)
    # people whose notes give too few fingerprints to ever match as fragments
    notes_too_short: int = 0
    notes_min_words: int = fragments.MIN_RECORD_WORDS
    delimiter: str = ","
    encoding: str = ""


def read_register(
    data: bytes,
    key: Key,
    summary: RegisterSummary,
    *,
    phone_region: str = "FI",
    customer_id_pattern: str = "",
    name: str = "register.csv",
    column_map: Mapping[str, str] | None = None,
) -> Iterator[EnrolledPerson]:
    """Parse, validate and key a register; problems are added to `summary`.

    `column_map` (header name -> type, from `--map`) names columns the
    synonyms do not know, or drops one ("ignore").
    """
    decoded = decode_bytes(data, name)
    if decoded.text is None:
        raise RegisterError(f"{name}: not a text file ({decoded.reason})")
    summary.encoding = decoded.encoding
    text = decoded.text
    summary.delimiter = _sniff_delimiter(text)
    records = _records(text, summary.delimiter)
    try:
        _, header = next(records, (1, None))
        plan = _plan(header, column_map, phone_region)
        if plan.of_type("customer_id") and not customer_id_pattern:
            raise RegisterError(_no_customer_id_pattern(records, plan))
    except RegisterError as exc:
        raise RegisterError(f"{name}: {exc}") from None
    summary.unknown_columns, summary.ignored_columns = plan.unknown, plan.ignored
    summary.columns = {plan.ref_header: "ref", **{f.header: f.id_type for f in plan.fields}}
    n_columns = plan.width
    detectors = {
        f.id_type: get_detector(f.id_type, region=phone_region,
                                customer_id_pattern=customer_id_pattern or None)
        for f in plan.fields if f.id_type != NOTES
    }
    notes_column = "+".join(f.header for f in plan.of_type(NOTES))
    check_nul = "\x00" in text
    seen_refs: dict[str, int] = {}
    pending: list[tuple[int, _Pending]] = []
    reading = _Readings(readers(phone_region, customer_id_pattern or None), phone_region)

    for row_number, cells in records:
        if isinstance(cells, str):  # a record that cannot be read: its reason
            summary.rows += 1
            _problem(summary, row_number, "*", cells)
            summary.rows_skipped += 1
            summary.rows_with_problems += 1
            continue
        if not any(cell.strip() for cell in cells):
            continue  # blank line
        summary.rows += 1
        problems_before = len(summary.problems)
        if len(cells) != n_columns:
            _problem(summary, row_number, "*",
                     f"{len(cells)} fields where the header has {n_columns}")
        elif check_nul and any("\x00" in cell for cell in cells):
            _problem(summary, row_number, "*", "holds a NUL byte")
        else:
            ref = cells[plan.ref].strip()
            reason = _ref_problem(ref, seen_refs, phone_region, customer_id_pattern)
            if reason:
                _problem(summary, row_number, plan.ref_header, reason)
        if len(summary.problems) > problems_before:
            summary.rows_skipped += 1
            _count_row(summary, problems_before)
            continue
        seen_refs[ref] = row_number

        person = _Pending(ref=ref)
        for column in plan.fields:
            value = " ".join(cells[i].strip() for i in column.indexes).strip()
            if not value:
                continue
            if column.id_type == NOTES:
                person.notes = f"{person.notes}\n{value}" if person.notes else value
                continue
            try:
                forms = _canonical_forms(column.id_type, value, detectors[column.id_type])
            except (ValidationError, ValueError) as exc:
                _problem(summary, row_number, column.header, _reason(column.id_type, exc))
                continue
            known = person.canonicals.setdefault(column.id_type, [])
            known.extend(f for f in forms if f not in known)
        if not person.has_identifier and not person.notes:
            _problem(summary, row_number, "*",
                     "no valid identifier or notes: name and birth date alone are never matched")
            summary.rows_skipped += 1
            summary.refs_with_problems.add(ref)
            _count_row(summary, problems_before)
            continue
        _count_row(summary, problems_before)
        pending.append((row_number, person))
        if len(pending) >= KEYING_BATCH:
            yield from _key_batch(pending, key, summary, notes_column, reading)
    yield from _key_batch(pending, key, summary, notes_column, reading)


def _plan(header: list[str] | str | None, column_map: Mapping[str, str] | None,
          phone_region: str) -> ColumnPlan:
    """The header's column plan, after the checks that need no column names."""
    if header is None:
        raise RegisterError("empty file, expected a header row")
    if isinstance(header, str):
        raise RegisterError(f"row 1 (the header): {header}")
    if len(header) > MAX_COLUMNS:
        raise RegisterError(f"row 1: {len(header)} columns; a register may have at most "
                            f"{MAX_COLUMNS} (is it a register, with one header row?)")
    # A register exported without its header starts with a person: never print that row.
    if any(len(cell) > MAX_HEADER_NAME or identifier_in(cell, region=phone_region)
           for cell in header):
        raise RegisterError("row 1 looks like data, not a header (a cell holds an identifier "
                            "or long text): the register needs a header row naming its "
                            "columns (ref, hetu, email, ...)")
    return plan_columns(header, column_map)


def _ref_problem(ref: str, seen: dict[str, int], phone_region: str,
                 customer_id_pattern: str) -> str:
    if not ref:
        return "missing: every row needs a ref"
    if len(ref) > MAX_REF_LENGTH:
        return f"longer than {MAX_REF_LENGTH} characters"
    found = identifier_in(ref, region=phone_region,
                          customer_id_pattern=customer_id_pattern or None)
    if found:
        # the ref is stored in plaintext: it must not be a way to an identifier
        return f"{describe(found)}; a ref must be an opaque reference"
    if ref in seen:
        return f"duplicate: the same ref as row {seen[ref]}"
    return ""


def _no_customer_id_pattern(records: Iterator[tuple[int, list[str] | str]],
                            plan: ColumnPlan) -> str:
    """The refusal of a customer-number column without a pattern, with a pattern
    inferred from the column's shape (letter and digit runs, lengths; never a value)."""
    indexes = [i for f in plan.of_type("customer_id") for i in f.indexes]
    values = (cells[i] for _, cells in records if not isinstance(cells, str)
              for i in indexes if i < len(cells))
    pattern, shapes = customer_id.infer_pattern(values)
    columns = ", ".join(f.header for f in plan.of_type("customer_id"))
    message = (f"the register has a customer number column ({columns}), but no customer id "
               "pattern is configured ([matchers] customer_id_pattern in config.toml)")
    if pattern:
        return (f"{message}; its values all have one shape, which this pattern matches: "
                f'customer_id_pattern = "{pattern}"')
    if shapes:
        return (f"{message}; its values have {shapes} different shapes, so none is suggested: "
                "write a regular expression that matches every customer number")
    return message


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the header into most columns and the next lines alike.

    csv.Sniffer is not used: its regular expressions take seconds to minutes on
    quote-heavy text (11 s on 64 KiB of '"a"b,'). Here each candidate parses at
    most SNIFF_LINES lines with the C reader.
    """
    head = text[:SNIFF_CHARS]
    cut = head.rfind("\n") + 1 if len(text) > SNIFF_CHARS else len(head)
    lines = list(itertools.islice(_Lines(head[:cut] or head), SNIFF_LINES))
    best, best_score = ",", (False, 0, 0)
    for delimiter in DELIMITERS:
        try:
            counts = [len(cells) for cells in csv.reader(lines, delimiter=delimiter)]
        except csv.Error:
            continue
        if not counts:
            continue
        score = (counts[0] > 1, sum(c == counts[0] for c in counts[1:]), counts[0])
        if score > best_score:
            best, best_score = delimiter, score
    return best


class _LineTooLong(Exception):
    pass


class _Lines:
    """The text's lines, line ends kept (as csv wants them), refusing absurd ones.

    A line longer than MAX_LINE_CHARS raises _LineTooLong and is skipped without
    being copied; the csv reader starts afresh on the next line.
    """

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        # without these, a file of one kind of line end would be searched to its end
        # for the other kind at every line
        self.has_lf = "\n" in text
        self.has_cr = "\r" in text

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        text, start = self.text, self.pos
        if start >= len(text):
            raise StopIteration
        lf = text.find("\n", start) if self.has_lf else -1
        stop = lf if lf >= 0 else len(text)
        cr = text.find("\r", start, stop) if self.has_cr else -1
        if cr >= 0:
            end = cr + 2 if text.startswith("\n", cr + 1) else cr + 1
        else:
            end = stop + 1 if lf >= 0 else stop
        self.pos = end
        if end - start > MAX_LINE_CHARS:
            raise _LineTooLong
        return text[start:end]


def _records(text: str, delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """(row, cells) for every CSV record, the header being row 1; (row, reason) for a
    record that cannot be read. Rows are records: a quoted note over three lines is one."""
    reader = csv.reader(_Lines(text), delimiter=delimiter)
    row = 0
    while True:
        try:
            cells: list[str] | str = next(reader)
        except StopIteration:
            return
        except _LineTooLong:
            cells = f"a line longer than {MAX_LINE_CHARS} characters"
        except csv.Error as exc:
            cells = _csv_reason(exc)
        row += 1
        yield row, cells


def _csv_reason(exc: csv.Error) -> str:
    # the csv module's messages are fixed phrases (with a delimiter character at most)
    if "field limit" in str(exc):
        return f"a field longer than {csv.field_size_limit()} characters"
    return f"unreadable CSV ({exc})"


@dataclass
class _Pending:
    """A row validated but not yet keyed; plaintext lives only until its batch is keyed."""

    ref: str
    canonicals: dict[str, list[str]] = field(default_factory=dict)
    notes: str = ""

    @property
    def has_identifier(self) -> bool:
        return any(t in IDENTIFIER_TYPES for t in self.canonicals)


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
    notes_column: str, reading: _Readings,
) -> Iterator[EnrolledPerson]:
    """Key a batch of rows at once: one bulk CMAC per type, one fingerprint pass.

    Bulk keying is what makes a 100,000-person register enroll in seconds
    rather than minutes (one AES call per batch instead of one per value).
    Notes too short to ever match are counted; a row that has nothing else is
    not enrolled (nothing of it could ever be found).
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
        if i in fp_of:
            out.fingerprints = fp_of[i]
            if len(out.fingerprints) < fragments.MIN_REL_MATCHES:
                summary.notes_too_short += 1
                if not person.has_identifier:
                    _problem(summary, row_number, notes_column,
                             "too short to ever match as fragments (need at least "
                             f"{fragments.MIN_RECORD_WORDS} words) and no identifier: "
                             "nothing of this row could ever be found")
                    summary.rows_with_problems += 1
                    summary.rows_skipped += 1
                    summary.refs_with_problems.add(person.ref)
                    continue
            else:
                summary.values[NOTES] = summary.values.get(NOTES, 0) + 1
        for column in person.canonicals:
            summary.values[column] = summary.values.get(column, 0) + 1
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
