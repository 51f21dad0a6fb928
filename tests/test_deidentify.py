"""Identifier policy: nothing from a file that names a person reaches an output by default.

The identifying values are collected from each raw file independently of our
readers (xml.etree, pydicom), following each format's specification, and
then searched for in what the policy lets out.
"""

import hashlib
import hmac
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import h5py
import numpy as np
import pytest

from clinical_files import known_counts, write_aecg, write_philips_xml
from conftest import require_shared
from ecg_files import ecg_like, write_wfdb
from pclr_keras.deidentify import (
    IDENTIFYING_FIELDS, MIN_KEY_BYTES, SAFE_FIELDS, IdentifierSummary, KeyFileError, age_from,
    deidentify, parse_date, pseudonym, pseudonymous_ecg_id, read_key, relative_ecg_id,
    without_root)
from pclr_keras.io import iter_records

KEY = b"k3y-for-tests-0123456789abcdef-0123456789"
OTHER_KEY = b"another-key-for-tests-0123456789abcdef"
SAMPLES = ("muse_xml/egm_muse-sinus.xml", "philips_xml/129DYPRG.XML",
           "philips_xml/ad4d3d80-d165_1-04_orig.xml", "hl7_aecg/Example_aECG.xml",
           "hl7_aecg/ad4d3d80-d165_1-04_converted.xml", "dicom/waveform_ecg.dcm")


# --- identifying values, read from the raw files ----------------------------

def _local(tag):
    return tag.rsplit("}", 1)[-1]


# MUSE (restecg.dtd): everything under the demographics, order, pharma and
# diagnosis sections identifies or is free text, except these.
MUSE_NOT_IDENTIFYING = {"PatientAge", "AgeUnits", "Gender", "DataType", "AcquisitionDevice",
                        "Status", "Priority", "EditListStatus", "HISStatus", "Modality",
                        "AcquisitionSoftwareVersion", "AnalysisSoftwareVersion", "StmtFlag"}
MUSE_SECTIONS = {"PatientDemographics", "TestDemographics", "Order", "PharmaData",
                 "Diagnosis", "OriginalDiagnosis", "ExtraQuestions"}


def muse_identifiers(path):
    found = set()
    for section in ET.parse(path).getroot():
        if section.tag in MUSE_SECTIONS:
            found |= {node.text for node in section.iter()
                      if node.tag not in MUSE_NOT_IDENTIFYING and node is not section}
    return found


# Philips: patient data, the acquirer (institution, department, operator,
# clinicians, room, bed), documents, orders, user fields, statements, and
# every date, time, id and machine id attribute.
PHILIPS_TEXT_SECTIONS = {"documentinfo", "userdefines", "orderinfo", "acquirer", "patient"}
PHILIPS_NOT_IDENTIFYING = {"documenttype", "documentversion", "years", "sex", "pacestatus"}
PHILIPS_STATEMENTS = {"severity", "leftstatement", "rightstatement", "lhsstatement",
                      "mdsignatureline", "confirmingclinician"}


def philips_identifiers(path):
    found = set()
    root = ET.parse(path).getroot()
    for section in root.iter():
        name = _local(section.tag)
        if name in PHILIPS_TEXT_SECTIONS:
            found |= {node.text for node in section.iter()
                      if _local(node.tag) not in PHILIPS_NOT_IDENTIFYING}
        if name in PHILIPS_STATEMENTS:
            found.add(section.text)
        found |= {value for attribute, value in section.attrib.items()
                  if _local(attribute) in ("date", "time", "id", "machineid", "orderrequestdate",
                                           "dateprocessed", "orderrequesttime", "timeprocessed")}
    return found


# HL7 aECG: every id (subject, ECG, series, staff, sites, device), every
# timestamp, every person's or place's name and address, free-text comments,
# reasons and interpretation statements.
def aecg_identifiers(path):
    found = set()
    root = ET.parse(path).getroot()
    parents = {child: parent for parent in root.iter() for child in parent}
    xsi_type = "{http://www.w3.org/2001/XMLSchema-instance}type"
    for node in root.iter():
        name = _local(node.tag)
        if name == "id":
            found |= {node.get("root"), node.get("extension")}
        if re.fullmatch(r"\d{8}.*", node.get("value") or ""):
            found.add(node.get("value"))
        if name == "name" and _local(parents[node].tag) != "manufacturerOrganization":
            found.add(node.text)
        if name in ("city", "state", "streetAddressLine", "postalCode", "text"):
            found.add(node.text)
        if name == "reasonCode":
            found.add(node.get("code"))
        if name == "value" and (node.get(xsi_type) or "").endswith("ST"):
            found.add(node.text)
    return found


# DICOM: names (PN), dates and times (DA, DT, TM), instance UIDs, and the
# patient, institution, device, visit and free-text attributes.
DICOM_IDENTIFYING = {"PatientID", "OtherPatientIDs", "PatientAddress", "InstitutionName",
                     "InstitutionAddress", "InstitutionalDepartmentName", "StationName",
                     "DeviceSerialNumber", "AccessionNumber", "AdmissionID", "StudyID",
                     "CurrentPatientLocation", "PatientInstitutionResidence",
                     "UnformattedTextValue", "VisitComments", "ReasonForStudy",
                     "ReasonForTheRequestedProcedure", "SOPInstanceUID", "StudyInstanceUID",
                     "SeriesInstanceUID"}


def dicom_identifiers(path):
    import pydicom

    ds = pydicom.dcmread(path)
    found = {str(ds.file_meta.get("MediaStorageSOPInstanceUID", ""))}
    for element in ds.iterall():
        if element.VR in ("PN", "DA", "DT", "TM") or element.keyword in DICOM_IDENTIFYING:
            found.add(str(element.value) if element.value is not None else "")
    return found


IDENTIFIERS_OF = {"muse_xml": muse_identifiers, "philips_xml": philips_identifiers,
                  "hl7_aecg": aecg_identifiers, "dicom": dicom_identifiers}


def identifiers(path):
    found = IDENTIFIERS_OF[Path(path).parent.name](path)
    return {" ".join(value.split()) for value in found if value and value.strip()}


# --- searching an output -----------------------------------------------------

def strings_of(value):
    """Every string an output mapping would write: keys and values, lists flattened."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in strings_of(k) + strings_of(v)]
    if isinstance(value, (list, tuple)):
        return [s for item in value for s in strings_of(item)]
    return [str(value)]


def leaks(found, output):
    """The identifying values found in `output`: as a substring (initials "KAB"
    too), short numbers and marks (room "52", "---") as a whole value."""
    strings = strings_of(output)
    text = "\n".join(strings)
    return sorted(v for v in found if v in strings or (
        (len(v) >= 4 or len(v) == 3 and re.search("[A-Za-z]", v)) and v in text))


def policy_output(record, root, mode="remove", key=None):
    """What an output would hold of one record: its id and the metadata the policy
    keeps (the file's own id as `file_ecg_id`, as labels.csv names it)."""
    ecg_id = relative_ecg_id(record.source, root)
    if mode == "pseudonymize":
        ecg_id = pseudonymous_ecg_id(key, ecg_id)
    meta = deidentify(record.meta, mode, key=key)
    if "ecg_id" in meta:
        meta["file_ecg_id"] = meta.pop("ecg_id")
    return {"ecg_id": ecg_id, **meta}


def reference_hmac(key, text):
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


# --- the six real hospital files --------------------------------------------

@pytest.fixture(params=SAMPLES)
def sample(request):
    return require_shared(f"data/clinical/{request.param}")


def test_default_output_of_real_files_holds_no_identifier(sample):
    found = identifiers(sample)
    assert len(found) >= 8, sorted(found)
    root = sample.parents[1]
    for record in iter_records(sample):
        output = policy_output(record, root)
        assert leaks(found, output) == [], output
        assert str(root) not in "\n".join(strings_of(output))
        assert output["ecg_id"] == f"{sample.parent.name}/{sample.stem}"
        assert set(output) - {"ecg_id"} <= SAFE_FIELDS  # the file's own id left out
        assert "sex" in output and "age" in output  # what the probes need stays


def test_keep_mode_keeps_what_the_file_says(sample):
    found = identifiers(sample)
    for record in iter_records(sample):
        kept = deidentify(record.meta, "keep")
        assert kept == record.meta and kept is not record.meta
        assert record.meta["patient_id"] in leaks(found, kept)  # the search finds real ids


def test_pseudonymized_output_of_real_files(sample):
    found = identifiers(sample)
    root = sample.parents[1]
    for record in iter_records(sample):
        output = policy_output(record, root, "pseudonymize", KEY)
        assert leaks(found, output) == [], output
        assert KEY.decode() not in "\n".join(strings_of(output))
        patient = record.meta["patient_id"]
        assert patient in found  # read by the reader, and in the raw file
        assert output["patient_id"] == reference_hmac(KEY, patient)
        assert output["ecg_id"] == reference_hmac(KEY, f"{sample.parent.name}/{sample.stem}")
        assert re.fullmatch(r"[0-9a-f]{64}", output["patient_id"])
        if "ecg_id" in record.meta:
            assert output["file_ecg_id"] == reference_hmac(KEY, record.meta["ecg_id"])
        again = policy_output(record, root, "pseudonymize", KEY)
        other = policy_output(record, root, "pseudonymize", OTHER_KEY)
        assert again == output
        assert other["patient_id"] != output["patient_id"]
        assert other["ecg_id"] != output["ecg_id"]


def test_real_birth_dates_become_ages():
    """Files without an age but with a birth date give the age at the recording."""
    data = require_shared("data/clinical")
    for name in ("philips_xml/ad4d3d80-d165_1-04_orig.xml",
                 "hl7_aecg/ad4d3d80-d165_1-04_converted.xml"):
        record = next(iter_records(data / name))
        assert "age" not in record.meta  # born 1976-01-01, recorded 2008-12-23
        assert deidentify(record.meta)["age"] == 32


def test_every_field_the_readers_give_is_classified(tmp_path):
    """A reader field nobody classified would be dropped silently; this says which."""
    data = require_shared("data/clinical")
    keys = set()
    for name in SAMPLES:
        for record in iter_records(data / name):
            keys |= set(record.meta)
    for path in (generated_philips(tmp_path), generated_aecg(tmp_path)):
        keys |= set(next(iter_records(path)).meta)
    assert keys - SAFE_FIELDS - set(IDENTIFYING_FIELDS) == set()


# --- generated files: fields the six real ones lack ---------------------------

def generated_philips(tmp_path, patient_id="P-17", name="philips.xml"):
    """A Philips file with a birth date instead of an age, names, institution, operator."""
    path = write_philips_xml(tmp_path / name, known_counts(5000), patient_id=patient_id)
    text = path.read_text(encoding="utf-8").replace(
        "<age><years>61</years></age>", "<age><dateofbirth>1959-02-03</dateofbirth></age>"
        "<name><lastname>Roe</lastname><firstname>Jane</firstname></name>").replace(
        "<signalcharacteristics>", "<acquirer><operator id=\"TECH-55\"/><room>W-721</room>"
        "<institutionname>Saint Elsewhere Hospital</institutionname></acquirer>"
        "<signalcharacteristics>")
    path.write_text(text, encoding="utf-8")
    return path


def generated_aecg(tmp_path):
    """An aECG with birth time, subject name and a device serial, no reported age."""
    path = write_aecg(tmp_path / "aecg.xml", known_counts(5000))
    text = path.read_text(encoding="utf-8").replace(
        '<administrativeGenderCode code="F"/>', '<name>Jane Roe</name>'
        '<administrativeGenderCode code="F"/><birthTime value="19591103"/>')
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("make, age", [(generated_philips, 61), (generated_aecg, 60)])
def test_generated_files_with_names_and_birth_dates(tmp_path, make, age):
    path = make(tmp_path)
    record = next(iter_records(path))
    output = policy_output(record, tmp_path)
    text = "\n".join(strings_of(output))
    for value in ("Roe", "Jane", "1959", "2020", "P-17", "S-9", "e-1", "TECH-55", "W-721",
                  "Saint Elsewhere", str(tmp_path)):
        assert value not in text, (value, output)
    assert output["age"] == age  # born 1959-02-03 / 1959-11-03, recorded 2020-02-03
    assert output["sex"] in ("Male", "F")


def test_generated_dicom_with_name_institution_and_serial(tmp_path):
    """The real DICOM file with the fields its export left empty filled in."""
    import pydicom

    ds = pydicom.dcmread(require_shared("data/clinical/dicom/waveform_ecg.dcm"))
    ds.PatientName = "Roe^Jane"
    ds.OtherPatientIDs = "MRN-99812"
    ds.DeviceSerialNumber = "SN-447100"
    ds.PatientAddress = "12 Harbour Road"
    ds.OperatorsName = "Tech^Kim"
    del ds.PatientAge  # the age must come from PatientBirthDate 19710123
    path = tmp_path / "site" / "filled.dcm"
    path.parent.mkdir()
    ds.save_as(path)
    found = {value for value in dicom_identifiers(path) if value}
    assert {"Roe^Jane", "MRN-99812", "SN-447100", "12 Harbour Road"} <= found
    record = next(iter_records(path))
    output = policy_output(record, tmp_path)
    assert leaks(found, output) == []
    assert output["age"] == 42 and output["ecg_id"] == "site/filled"


def test_wfdb_header_fields_keep_age_sex_and_coded_dx_only(tmp_path):
    write_wfdb(tmp_path, "rec", ecg_like(), comments=[
        "Age: 70", "Sex: Female", "Dx: 164889003,59118001", "Rx: Unknown",
        "Patient name: Jane Roe", "Date of birth: 1950-02-03", "Recorded at St Mary's: ward 7"])
    record = next(iter_records(tmp_path / "rec.hea"))
    cleaned = deidentify(record.meta)
    assert cleaned == {"age": "70", "sex": "Female", "dx": "164889003,59118001"}
    assert deidentify({"dx": "I21.4; N18.6"}) == {"dx": "I21.4; N18.6"}
    assert deidentify({"dx": "Sinus rhythm; compared with ECG of 30-MAR-2023"}) == {}
    summary = IdentifierSummary()
    summary.add(record.meta, cleaned)
    # WFDB keys are the header's words ("date of birth"): unknown, dropped, not named.
    assert summary.as_dict()["fields_removed"] == {"other": 4}
    assert "ward" not in str(summary.as_dict()) and "Jane" not in str(summary.as_dict())


def test_ml4h_file_patient_id_and_dates(tmp_path):
    path = tmp_path / "MRN1234567.hd5"
    with h5py.File(path, "w") as file:
        file.attrs["patient_id"] = "MRN1234567"
        for lead in ("I", "II"):
            file[f"partners_ecg_rest/2019-05-02T10:31:00/{lead}"] = np.sin(np.arange(5000.0))
            file[f"partners_ecg_rest/2019-05-02T10:31:00/{lead}"].attrs.update(
                units="mV", fs=500, date="2019-05-02")
    record = next(iter_records(path, fs=500))
    assert record.meta["patient_id"] == "MRN1234567"
    assert deidentify(record.meta) == {}
    pseudonymized = deidentify(record.meta, "pseudonymize", key=KEY)
    assert pseudonymized == {"patient_id": reference_hmac(KEY, "MRN1234567"),
                             "ecg_id": reference_hmac(KEY, "2019-05-02T10:31:00")}
    # The file's name and the ECG's group are part of its id: only pseudonyms hide them.
    ecg_id = relative_ecg_id(record.source, tmp_path)
    assert ecg_id == "MRN1234567#partners_ecg_rest/2019-05-02T10:31:00"
    assert "MRN" not in pseudonymous_ecg_id(KEY, ecg_id)


# --- pseudonyms, keys ---------------------------------------------------------

def test_same_patient_same_pseudonym_so_pairs_form(tmp_path):
    key_file = tmp_path / "pclr.key"
    key_file.write_text(KEY.decode() + "\n")
    paths = [generated_philips(tmp_path, patient_id=pid, name=f"{i}.xml")
             for i, pid in enumerate(["P-17", "P-17", "P-18"])]
    patients = [deidentify(next(iter_records(p)).meta, "pseudonymize", key=read_key(key_file))
                ["patient_id"] for p in paths]
    assert patients[0] == patients[1] != patients[2]
    assert patients[0] == pseudonym(KEY, "P-17") == reference_hmac(KEY, "P-17")


def test_read_key_strips_one_line_break_only(tmp_path):
    for ending in (b"", b"\n", b"\r\n"):
        (tmp_path / "key").write_bytes(KEY + ending)
        assert read_key(tmp_path / "key") == KEY
    (tmp_path / "key").write_bytes(b" " + KEY + b"\n\n")
    assert read_key(tmp_path / "key") == b" " + KEY + b"\n"


@pytest.mark.parametrize("content, words", [
    (None, "no such key file"), (b"", "empty"), (b"\n", "empty"), (b"   \n", "empty"),
    (b"short-secret-17\n", f"15 bytes, at least {MIN_KEY_BYTES}"), ("dir", "cannot read")])
def test_key_file_errors_name_the_file_never_the_key(tmp_path, content, words):
    path = tmp_path / "pclr.key"
    if content == "dir":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(KeyFileError) as error:
        read_key(path)
    assert str(error.value).startswith(f"{path}: ") and words in str(error.value)
    assert "short-secret" not in str(error.value)
    if content is None or content.strip() == b"":
        assert "openssl rand -hex 32" in str(error.value)


def test_modes_are_checked():
    with pytest.raises(ValueError, match="one of"):
        deidentify({}, "anonymise")
    with pytest.raises(ValueError, match="needs a key"):
        deidentify({"patient_id": "1"}, "pseudonymize")


def test_supplied_fields_are_kept_as_given():
    meta = {"patient_id": "MRN-1", "mrn_field": "X-9", "age": "50", "acquisition_date": "2020-01-01"}
    assert deidentify(meta, supplied=("mrn_field",)) == {"mrn_field": "X-9", "age": "50"}
    assert deidentify(meta, "pseudonymize", key=KEY, supplied=("patient_id",))["patient_id"] \
        == "MRN-1"


# --- ages ------------------------------------------------------------------------

@pytest.mark.parametrize("born, recorded, age", [
    ("07-08-1979", "04-29-2023", 43),          # GE MUSE, month first
    ("1976-01-01", "2008-12-23", 32),          # Philips
    ("19710123", "20130125105919", 42),        # DICOM DA and DT
    ("19530508", "20021122091000", 49),        # HL7 TS
    ("19530508", "20030508", 50),              # on the birthday
    ("19530509", "20030508", 49),              # the day before
    ("25-12-1960", "24.12.2000", 39),          # day first when the month cannot be 25
    ("1976-01-01", None, None), ("1976-01-01", "22:41:16", None),  # no date: no guess
    ("unknown", "2020-01-01", None), ("2021-01-01", "2020-01-01", None),
    ("1976-02-30", "2020-01-01", None), (1.4e9, "2020-01-01", None)])
def test_age_from(born, recorded, age):
    assert age_from(born, recorded) == age


def test_file_age_wins_over_birth_date():
    meta = {"age": "46", "date_of_birth": "19530508", "acquisition_time": "20021122091000"}
    assert deidentify(meta) == {"age": "46"}
    assert deidentify({"date_of_birth": "19530508", "acquisition_time": "22:41:16"}) == {}
    assert parse_date("20081223194446.000").isoformat() == "2008-12-23"


# --- ids --------------------------------------------------------------------------

def test_relative_ecg_ids(tmp_path):
    (tmp_path / "ward7").mkdir()
    nested = tmp_path / "ward7" / "Doe_John_0001.xml"
    assert relative_ecg_id(nested, tmp_path) == "ward7/Doe_John_0001"
    assert relative_ecg_id(f"{tmp_path}/codes.h5#exam_id=5", tmp_path) == "codes#exam_id=5"
    assert relative_ecg_id(tmp_path / "ward7" / "rec", tmp_path) == "ward7/rec"  # WFDB name
    assert relative_ecg_id(nested, nested) == "Doe_John_0001"  # a file given directly
    assert relative_ecg_id(nested) == "Doe_John_0001"
    assert relative_ecg_id("ward7/../ward7/x.dcm", ".") == "ward7/x"  # relative paths too
    with pytest.raises(ValueError, match="not under the data root"):
        relative_ecg_id("/elsewhere/a.xml", tmp_path)


def test_relative_ids_from_a_relative_root(tmp_path, monkeypatch):
    (tmp_path / "data" / "a").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert relative_ecg_id(tmp_path / "data" / "a" / "1.xml", "data") == "a/1"
    assert relative_ecg_id("data/a/1.xml", tmp_path / "data") == "a/1"


def test_error_messages_lose_the_root(tmp_path):
    (tmp_path / "ward7").mkdir()
    message = f"{tmp_path}/ward7/ecg1.xml: lead V1 has no WaveFormData"
    assert without_root(message, tmp_path) == "ward7/ecg1.xml: lead V1 has no WaveFormData"
    single = tmp_path / "ward7" / "ecg1.xml"
    assert without_root(message, single) == "ecg1.xml: lead V1 has no WaveFormData"


# --- summary ------------------------------------------------------------------

def test_summary_says_pairs_were_not_formed_and_which_flag():
    metas = [{"patient_id": "A", "acquisition_date": "2020-01-01", "age": "50"},
             {"patient_id": "B", "dx": "Sinus rhythm"}, {"age": "60"}]
    first, second = IdentifierSummary(), IdentifierSummary()
    for meta in metas[:2]:
        first.add(meta, deidentify(meta))
    second.add(metas[2], deidentify(metas[2]))
    summary = first.merge(second).as_dict()
    assert summary["patient_ids_removed"] == 2
    assert summary["fields_removed"] == {"acquisition_date": 1, "dx": 1, "patient_id": 2}
    assert "2 ECG(s)" in summary["note"] and "no patient pairs" in summary["note"]
    assert "--pseudonymize KEYFILE" in summary["note"] and "--keep-identifiers" in summary["note"]

    supplied = IdentifierSummary()
    supplied.add(metas[0], deidentify(metas[0]), patient_id_supplied=True)
    assert supplied.as_dict()["note"] == ""  # the manifest's ids form the pairs
    for mode, key in (("pseudonymize", KEY), ("keep", None)):
        summary = IdentifierSummary(mode)
        summary.add(metas[0], deidentify(metas[0], mode, key=key))
        assert summary.as_dict()["note"] == ""
        assert summary.as_dict()["patient_ids_pseudonymized"] == (mode == "pseudonymize")


def test_module_does_not_import_tensorflow():
    code = ("import sys, pclr_keras.deidentify; "
            "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1])
    assert done.returncode == 0
