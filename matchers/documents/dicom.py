"""DICOM (medical images: X-ray, CT, MRI, ultrasound, and scanned documents), read with
pydicom (pure Python, MIT licensed; imported only when a DICOM file is met).

A hospital's imaging archive (PACS) exports one file per image, and each names its
patient: PatientName, PatientID (in Finland, often the identity code), PatientBirthDate,
the referring physician, the institution, free-text comments. They are binary data
elements among the pixels, so such a file was "binary" with none of them read.

The text is every text-valued element of the data set, nested sequences too, one line
each (`PatientID<TAB>131052-308T`); person names (`Meikäläinen^Matti`) are written
given name first, as text writes them. The pixels are not read (`stop_before_pixels`;
an image's burnt-in text would need OCR). A document encapsulated in DICOM (a scanned
referral as PDF: EncapsulatedDocument) is an input of its own, `scan.dcm!document.pdf`.
"""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator

from . import ExtractError, Part, TextBudget, failed

# Value representations that hold text a person wrote or that names someone; UIDs, times
# and binary ones are left out.
_TEXT_VRS = frozenset({"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "LT", "PN", "SH",
                       "ST", "UC", "UR", "UT"})
# pydicom warns about what it finds odd, and its warnings quote values ("Invalid value for
# VR LO: '...'"): the identity code they may hold must not reach a log or stderr. Its
# logger is silenced by a filter (logging.config leaves filters in place), its Python
# warnings inside `dicom_parts`, and its value checks turned off while reading.
logging.getLogger("pydicom").addFilter(lambda record: False)

_MIME_SUFFIX = {"application/pdf": ".pdf", "text/xml": ".xml", "application/xml": ".xml",
                "text/plain": ".txt"}


def dicom_parts(data: bytes, budget: TextBudget) -> Iterator[Part]:
    """The data set's text as one part, then an encapsulated document if there is one;
    ExtractError when the file cannot be parsed or takes too long."""
    import pydicom
    import pydicom.config

    pydicom.config.settings.reading_validation_mode = pydicom.config.IGNORE
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
            lines, document = _walk(dataset, budget)
    except ExtractError:
        raise
    except Exception as exc:  # noqa: BLE001 - a hostile file; reported by type name only
        raise ExtractError(failed("dicom", exc)) from None
    text = "".join(f"{line}\n" for line in lines)
    budget.take(len(text))
    yield Part("", text, "dicom")
    if document is not None:
        mime, body = document
        yield Part(f"!document{_MIME_SUFFIX.get(mime, '')}", "", "dicom", data=body)


def _walk(dataset, budget: TextBudget) -> tuple[list[str], tuple[str, bytes] | None]:  # noqa: ANN001
    lines: list[str] = []
    document = None
    for element in dataset.iterall():
        budget.check_time("DICOM")
        if element.tag == 0x00420011:  # EncapsulatedDocument
            mime = str(dataset.get("MIMETypeOfEncapsulatedDocument", "") or "").lower()
            if isinstance(element.value, bytes):
                document = (mime, element.value)
            continue
        if element.VR not in _TEXT_VRS or element.value in (None, "", b""):
            continue
        values = element.value if element.VM > 1 else [element.value]
        text = " ".join(_text(v, element.VR) for v in values if v not in (None, ""))
        if text.strip():
            lines.append(f"{element.keyword or _tag(element.tag)}\t{text}")
    return lines, document


def _text(value: object, vr: str) -> str:
    if vr == "PN":  # Family^Given^Middle^Prefix^Suffix: as a name is written
        parts = str(value).split("=", 1)[0].split("^")
        ordered = [*parts[3:4], *parts[1:3], parts[0], *parts[4:5]]
        return " ".join(p for p in ordered if p)
    return str(value).replace("\\", " ").strip()


def _tag(tag: int) -> str:
    """A private element's tag, where a keyword would be: (gggg,eeee)."""
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
