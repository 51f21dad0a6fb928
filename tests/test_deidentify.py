"""Identifier policy: nothing from a file that names a person reaches an output by default.

The identifying values are collected from each raw file independently of our
readers (xml.etree, pydicom), following each format's specification, and
then searched for in what the policy lets out. The package's modules each
have their own tests in tests/deidentify/; these follow real and generated
files through the whole policy, and their helpers serve
tests/test_identifiers_in_outputs.py too.
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
import pandas as pd
import pytest

from clinical_files import known_counts, write_aecg, write_philips_xml
from conftest import require_shared
from ecg_files import ecg_like, write_wfdb
from pclr_keras.deidentify import (
    IDENTIFYING_FIELDS, SAFE_FIELDS, IdentifierPolicy, IdentifierSummary, deidentify, pseudonym,
    pseudonymous_ecg_id, read_key, relative_ecg_id)
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
        assert kept is not record.meta
        assert {k: v for k, v in kept.items() if k != "age"} == \
            {k: v for k, v in record.meta.items() if k != "age"}
        assert kept.get("age") == deidentify(record.meta).get("age")  # derived in every mode
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


@pytest.mark.parametrize("mode", ["remove", "pseudonymize", "keep"])
def test_ages_are_years_in_every_mode(mode):
    """DICOM's `042Y` and birth dates give the same numeric age whatever the mode."""
    data = require_shared("data/clinical")
    expected = {"dicom/waveform_ecg.dcm": 42.0,  # PatientAge 042Y
                "philips_xml/ad4d3d80-d165_1-04_orig.xml": 32,  # from the birth date
                "hl7_aecg/ad4d3d80-d165_1-04_converted.xml": 32}
    for name, age in expected.items():
        meta = deidentify(next(iter_records(data / name)).meta, mode, key=KEY)
        assert meta["age"] == age and isinstance(meta["age"], (int, float)), (name, meta)


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


# --- placeholder patient ids: no patient id, never one patient ---------------

def _tensorized_patients(paths, tmp_path, identifiers="keep", key_file=None):
    from pclr_keras.tensorize import TensorizeSettings, find_inputs, tensorize

    settings = TensorizeSettings(identifiers=identifiers, key_file=key_file)
    summary = tensorize(find_inputs([str(p) for p in paths]), tmp_path / "tensors", settings,
                        workers=1, progress=False)
    labels = pd.read_csv(tmp_path / "tensors" / "labels.csv", dtype={"patient_id": str},
                         keep_default_na=False)
    stems = sorted(Path(p).stem for p in paths)  # rows come in the inputs' (sorted) order
    return dict(zip(stems, labels.patient_id)), summary


@pytest.mark.parametrize("identifiers", ["keep", "pseudonymize"])
def test_placeholder_patient_ids_of_real_dicom_files_are_no_patient(tmp_path, identifiers):
    import pydicom

    ds = pydicom.dcmread(require_shared("data/clinical/dicom/waveform_ecg.dcm"))
    folder = tmp_path / "dicom"
    folder.mkdir()
    ids = {"xs": "XXXXXX", "zeros": "0000000", "unknown": "Unknown", "na": "N/A",
           "none": "none", "blank": "  ", "real_a": "642341", "real_b": "642341"}
    channel = ds.WaveformSequence[0].ChannelDefinitionSequence[0]
    for k, (stem, patient_id) in enumerate(ids.items()):
        ds.PatientID = patient_id
        channel.ChannelBaseline = k  # distinct signals: no file is a duplicate of another
        ds.save_as(folder / f"{stem}.dcm")
    key_file = None
    if identifiers == "pseudonymize":
        key_file = tmp_path / "pclr.key"
        key_file.write_text(KEY.decode())
    patients, summary = _tensorized_patients(sorted(folder.iterdir()), tmp_path, identifiers,
                                             key_file)
    assert len(patients) == len(ids)
    assert {stem: patients[stem] for stem in ids if not stem.startswith("real")} == \
        {stem: "" for stem in ids if not stem.startswith("real")}
    assert patients["real_a"] == patients["real_b"] != ""
    assert summary["patients"] == 1 and summary["patients_with_2_or_more_ecgs"] == 1
    assert summary["without_patient_id"] == 6


def test_placeholder_patient_ids_of_generated_files_and_manifests(tmp_path):
    paths = [write_philips_xml(tmp_path / f"{i}.xml", known_counts(5000, seed=i), patient_id=pid)
             for i, pid in enumerate(["xxx", "XXX", "000", "P-17", "P-17"])]
    patients, summary = _tensorized_patients(paths, tmp_path)
    assert [patients[str(i)] for i in range(5)] == ["", "", "", "P-17", "P-17"]
    assert summary["patients"] == 1
    policy = IdentifierPolicy("keep")
    assert policy.patient_id({"patient_id": "P-17"}, supplied="n/a") == "P-17"
    assert policy.patient_id({}, supplied="unknown") == ""
    assert IdentifierPolicy("keep", patient_id_field="mrn").patient_id({"mrn": "0000"}) == ""


# --- pseudonyms: the same patient, the same pseudonym ----------------------

def test_same_patient_same_pseudonym_so_pairs_form(tmp_path):
    key_file = tmp_path / "pclr.key"
    key_file.write_text(KEY.decode() + "\n")
    paths = [generated_philips(tmp_path, patient_id=pid, name=f"{i}.xml")
             for i, pid in enumerate(["P-17", "P-17", "P-18"])]
    patients = [deidentify(next(iter_records(p)).meta, "pseudonymize", key=read_key(key_file))
                ["patient_id"] for p in paths]
    assert patients[0] == patients[1] != patients[2]
    assert patients[0] == pseudonym(KEY, "P-17") == reference_hmac(KEY, "P-17")










# --- ages ------------------------------------------------------------------------





# --- ids --------------------------------------------------------------------------







# --- summary ------------------------------------------------------------------


def test_module_does_not_import_tensorflow():
    code = ("import sys, pclr_keras.deidentify; "
            "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[1])
    assert done.returncode == 0
