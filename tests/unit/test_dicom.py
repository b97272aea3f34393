"""A DICOM file (a hospital's imaging export) is read for its data elements: the patient's
name, ID and birth date sit there as text among the pixels, and the file was "binary"
with none of them read. The files are pydicom's own, as a modality writes them.
"""

from __future__ import annotations

import io
import logging
import logging.config
import random
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from benchmarks.scan_throughput import build_index
from tests.unit.test_documents import _pdf
from tests.unit.test_rar import KEY, PEOPLE, _data, _no_content_in_reasons, _reasons
from vahti.matchers import scanfiles as sf
from vahti.matchers.archives import iter_members
from vahti.matchers.engine import Finding, ScanOptions


def _dicom(person, charset: str = "ISO_IR 100", pixels: int = 64 * 64,  # noqa: ANN001
           document: bytes | None = None) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"  # secondary capture
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = charset
    given, family = person.full_name.split(" ", 1)
    ds.PatientName = f"{family}^{given}"
    ds.PatientID = person.hetu
    ds.PatientBirthDate = "19521013"
    ds.ReferringPhysicianName = "Lääkäri^Liisa"
    ds.InstitutionName = "Vastaanotto Oy"
    ds.StudyDescription = "Thorax"
    request = Dataset()
    request.RequestedProcedureDescription = f"yhteys {person.email}"
    ds.RequestAttributesSequence = Sequence([request])
    ds.add_new(0x00091010, "LO", "Private Creator")
    ds.add_new(0x00091011, "LT", f"muistiinpano: {person.full_name}")
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Rows = ds.Columns = 64
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.SamplesPerPixel, ds.PixelRepresentation = 1, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = random.Random(1).randbytes(pixels)
    if document is not None:
        ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
        ds.EncapsulatedDocument = document
    buf = io.BytesIO()
    pydicom.dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


def test_a_dicom_file_s_patient_is_read() -> None:
    p = PEOPLE[0]
    got = list(iter_members(_dicom(p), "kuva.dcm"))
    assert not _reasons(got)
    text = _data(got)["kuva.dcm"].decode()
    given, family = p.full_name.split(" ", 1)
    assert f"PatientID\t{p.hetu}\n" in text
    assert f"PatientName\t{given} {family}\n" in text  # given name first, as text writes it
    assert "ReferringPhysicianName\tLiisa Lääkäri\n" in text  # Latin-1, decoded
    assert f"RequestedProcedureDescription\tyhteys {p.email}\n" in text  # in a sequence
    assert f"(0009,1011)\tmuistiinpano: {p.full_name}\n" in text  # a private element
    assert [m.text_from for m in got] == ["dicom"]


def test_a_document_encapsulated_in_dicom_is_read() -> None:
    got = list(iter_members(_dicom(PEOPLE[1], charset="ISO_IR 192", document=_pdf(
        f"Lähete {PEOPLE[2].full_name} {PEOPLE[2].hetu}")), "lahete.dcm"))
    data = _data(got)
    assert PEOPLE[1].hetu in data["lahete.dcm"].decode()
    assert PEOPLE[2].hetu in data["lahete.dcm!document.pdf"].decode()


def test_the_people_in_dicom_files_are_found(tmp_path: Path) -> None:
    for i, p in enumerate(PEOPLE[:4]):
        (tmp_path / f"{i}.dcm").write_bytes(_dicom(p, pixels=512 * 512))
    index = build_index(KEY, PEOPLE, True)
    events = list(sf.scan_files([str(tmp_path)], index, KEY, ScanOptions()))
    found = {f.ref for f in events if isinstance(f, Finding) and f.kind == "identifier"}
    assert found == {p.ref for p in PEOPLE[:4]}


def test_damaged_dicom_files_are_reported_and_never_raise(caplog, recwarn) -> None:  # noqa: ANN001
    """Nor logged, nor warned about: pydicom's warnings quote values ("Invalid value for
    VR LO: '...'")."""
    logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})  # as vahti's
    caplog.set_level(logging.DEBUG)
    data = _dicom(PEOPLE[3])
    rng = random.Random(42)
    for n in range(132, len(data), 97):
        _no_content_in_reasons(list(iter_members(data[:n], "x.dcm")))
    for _ in range(300):
        mutated = bytearray(data)
        for _ in range(rng.randint(1, 8)):
            at = rng.randrange(132, min(len(mutated), 1500))  # the data elements, not pixels
            mutated[at] = rng.randrange(256)
        _no_content_in_reasons(list(iter_members(bytes(mutated), "x.dcm")))
    assert not [r for r in caplog.records if r.name.startswith("pydicom")]
    assert not [w for w in recwarn if "pydicom" in w.filename]
