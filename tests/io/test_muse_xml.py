"""GE MUSE XML reader: values, derived leads, metadata, bad files, hostile XML.

Fixtures are written here from the published layout of a MUSE `RestingECG`
export (see `pclr_keras/io/muse_xml.py`): known signals in mV are quantised to
integers at `LeadAmplitudeUnitsPerBit` microvolts and stored as base64 of
little-endian int16, wrapped over lines as MUSE does.
"""

import base64
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest

from pclr_keras.io.muse_xml import read_muse_xml
from pclr_keras.io.record import ECGReadError

FS = 500
UV_PER_BIT = 4.88
STEP_MV = UV_PER_BIT / 1000.0
EIGHT = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")
TWELVE = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
MUSE_DOCTYPE = '<!DOCTYPE RestingECG SYSTEM "restecg.dtd">'


def known_signals(n, names=EIGHT, seed=0):
    """Smooth, distinct mV signals per lead (sums of sines, within +-3 mV)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FS
    out = {}
    for k, name in enumerate(names):
        freqs = rng.uniform(0.5, 25.0, size=3)
        amps = rng.uniform(0.1, 0.9, size=3)
        phases = rng.uniform(0, 2 * np.pi, size=3)
        out[name] = sum(a * np.sin(2 * np.pi * f * t + p)
                        for a, f, p in zip(amps, freqs, phases)) + 0.05 * k
    return out


def lead_xml(name, mv, *, units="MICROVOLTS", per_bit=UV_PER_BIT, count=None,
             data=None, byte_count=True):
    mv_per_unit = {"MICROVOLTS": 1e-3, "MILLIVOLTS": 1.0}.get(units, 1e-3)
    counts = np.round(np.asarray(mv) / (per_bit * mv_per_unit)).astype("<i2")
    payload = data if data is not None else base64.encodebytes(counts.tobytes()).decode()
    n = counts.size if count is None else count
    bytes_line = (f"        <LeadByteCountTotal>{counts.size * 2}</LeadByteCountTotal>\n"
                  if byte_count else "")
    return (
        "      <LeadData>\n"
        f"{bytes_line}"
        "        <LeadTimeOffset>0</LeadTimeOffset>\n"
        f"        <LeadSampleCountTotal>{n}</LeadSampleCountTotal>\n"
        f"        <LeadAmplitudeUnitsPerBit>{per_bit}</LeadAmplitudeUnitsPerBit>\n"
        f"        <LeadAmplitudeUnits>{units}</LeadAmplitudeUnits>\n"
        "        <LeadHighLimit>32767</LeadHighLimit>\n"
        "        <LeadLowLimit>-32768</LeadLowLimit>\n"
        f"        <LeadID>{name}</LeadID>\n"
        "        <LeadOffsetFirstSample>0</LeadOffsetFirstSample>\n"
        "        <FirstSampleBaseline>0</FirstSampleBaseline>\n"
        "        <LeadSampleSize>2</LeadSampleSize>\n"
        "        <LeadOff>FALSE</LeadOff>\n"
        "        <BaselineSway>FALSE</BaselineSway>\n"
        f"        <WaveFormData>{payload}</WaveFormData>\n"
        "      </LeadData>\n"
    )


def waveform_xml(kind, signals, *, sample_base=FS, exponent=0, lead_kwargs=None):
    lead_kwargs = lead_kwargs or {}
    body = "".join(lead_xml(name, mv, **lead_kwargs.get(name, {}))
                   for name, mv in signals.items())
    return (
        "  <Waveform>\n"
        f"    <WaveformType>{kind}</WaveformType>\n"
        "    <WaveformStartTime>0</WaveformStartTime>\n"
        f"    <NumberofLeads>{len(signals)}</NumberofLeads>\n"
        "    <SampleType>CONTINUOUS_SAMPLES</SampleType>\n"
        f"    <SampleBase>{sample_base}</SampleBase>\n"
        f"    <SampleExponent>{exponent}</SampleExponent>\n"
        "    <HighPassFilter>16</HighPassFilter>\n"
        "    <LowPassFilter>150</LowPassFilter>\n"
        "    <ACFilter>60</ACFilter>\n"
        f"{body}"
        "  </Waveform>\n"
    )


def muse_document(waveforms, *, patient_id="MUSE0042", dx=("Sinus rhythm", "Normal ECG"),
                  doctype=MUSE_DOCTYPE, prolog="", root="RestingECG"):
    statements = "".join(
        "    <DiagnosisStatement>\n"
        f"      <StmtFlag>ENDSLINE</StmtFlag>\n      <StmtText>{escape(text)}</StmtText>\n"
        "    </DiagnosisStatement>\n" for text in dx)
    return (
        '<?xml version="1.0" encoding="ISO-8859-1"?>\n'
        f"{doctype}\n{prolog}"
        f"<{root}>\n"
        "  <MuseInfo><MuseVersion>9.0.9.18167</MuseVersion></MuseInfo>\n"
        "  <PatientDemographics>\n"
        f"    <PatientID>{patient_id}</PatientID>\n"
        "    <PatientAge>63</PatientAge>\n    <AgeUnits>YEARS</AgeUnits>\n"
        "    <Gender>FEMALE</Gender>\n"
        "  </PatientDemographics>\n"
        "  <TestDemographics>\n"
        "    <DataType>RESTING</DataType>\n"
        "    <AcquisitionTime>09:41:07</AcquisitionTime>\n"
        "    <AcquisitionDate>03-15-2019</AcquisitionDate>\n"
        "  </TestDemographics>\n"
        f"  <Diagnosis>\n    <Modality>RESTING</Modality>\n{statements}  </Diagnosis>\n"
        "  <OriginalDiagnosis>\n    <DiagnosisStatement><StmtText>Sinus rhythm</StmtText>"
        "</DiagnosisStatement>\n  </OriginalDiagnosis>\n"
        "  <PharmaData><PharmaUniqueECGID>ECG-7781</PharmaUniqueECGID></PharmaData>\n"
        f"{''.join(waveforms)}"
        f"</{root}>\n"
    )


def write_muse_xml(path, rhythm=None, median=None, **document_kwargs):
    """Writes a MUSE-like export: Median (600 samples) then Rhythm (10 s), 8 leads."""
    rhythm = known_signals(10 * FS) if rhythm is None else rhythm
    median = known_signals(600, seed=1) if median is None else median
    parts = []
    if median is not False:
        parts.append(waveform_xml("Median", median))
    if rhythm is not False:
        parts.append(waveform_xml("Rhythm", rhythm))
    Path(path).write_bytes(muse_document(parts, **document_kwargs).encode("iso-8859-1"))
    return rhythm, median


@pytest.fixture
def muse_file(tmp_path):
    path = tmp_path / "MUSE_20190315_094107_00042.xml"
    rhythm, median = write_muse_xml(path)
    return path, rhythm, median


def quantised(mv, per_bit=UV_PER_BIT):
    return np.round(np.asarray(mv) * 1000.0 / per_bit) * per_bit / 1000.0


def column(record, name):
    return record.signal[:, record.lead_names.index(name)]


# ---------------------------------------------------------------- reading


def test_rhythm_in_millivolts_within_quantisation(muse_file):
    path, rhythm, _ = muse_file
    record = read_muse_xml(path)
    assert record.signal.shape == (5000, 12)
    assert record.signal.dtype == np.float64
    assert record.fs == 500.0 and record.duration_s == pytest.approx(10.0)
    assert record.source == str(path)
    for name in EIGHT:
        got = column(record, name)
        assert np.max(np.abs(got - rhythm[name])) <= STEP_MV / 2 + 1e-12, name
        np.testing.assert_allclose(got, quantised(rhythm[name]), atol=1e-12)


def test_limb_leads_derived_by_einthoven_and_goldberger(muse_file):
    path, rhythm, _ = muse_file
    record = read_muse_xml(path)
    lead_i, lead_ii = column(record, "I"), column(record, "II")
    np.testing.assert_allclose(column(record, "III"), lead_ii - lead_i, atol=1e-12)
    np.testing.assert_allclose(column(record, "aVR"), -(lead_i + lead_ii) / 2, atol=1e-12)
    np.testing.assert_allclose(column(record, "aVL"), lead_i - lead_ii / 2, atol=1e-12)
    np.testing.assert_allclose(column(record, "aVF"), lead_ii - lead_i / 2, atol=1e-12)
    # ... and they match the true signals to within the quantisation of I and II.
    true_i, true_ii = rhythm["I"], rhythm["II"]
    assert np.max(np.abs(column(record, "III") - (true_ii - true_i))) <= STEP_MV + 1e-12
    # Einthoven: I + III = II; Goldberger: aVR + aVL + aVF = 0.
    np.testing.assert_allclose(lead_i + column(record, "III"), lead_ii, atol=1e-12)
    np.testing.assert_allclose(column(record, "aVR") + column(record, "aVL")
                               + column(record, "aVF"), 0.0, atol=1e-12)


def test_lead_names_and_derivation_recorded(muse_file):
    record = read_muse_xml(muse_file[0])
    assert record.lead_names == list(TWELVE)
    assert record.meta["stored_leads"] == list(EIGHT)
    assert record.meta["derived_leads"] == ["III", "aVR", "aVL", "aVF"]
    assert record.meta["waveform"] == "Rhythm"


def test_metadata(muse_file):
    meta = read_muse_xml(str(muse_file[0])).meta
    assert meta["patient_id"] == "MUSE0042"
    assert meta["age"] == "63" and meta["age_units"] == "YEARS"
    assert meta["sex"] == "FEMALE"
    assert meta["acquisition_date"] == "03-15-2019"
    assert meta["acquisition_time"] == "09:41:07"
    assert meta["dx"] == "Sinus rhythm; Normal ECG"
    assert meta["dx_original"] == "Sinus rhythm"
    assert meta["ecg_id"] == "ECG-7781"


def test_statement_fragments_join_until_endsline(tmp_path):
    path = tmp_path / "frag.xml"
    write_muse_xml(path)
    text = path.read_text("iso-8859-1").replace(
        "<StmtFlag>ENDSLINE</StmtFlag>\n      <StmtText>Sinus rhythm",
        "<StmtText>Sinus rhythm", 1)
    path.write_text(text, "iso-8859-1")
    assert read_muse_xml(path).meta["dx"] == "Sinus rhythm Normal ECG"


def test_file_with_twelve_leads_keeps_them(tmp_path):
    signals = known_signals(10 * FS, names=TWELVE, seed=3)  # III != II - I on purpose
    path = tmp_path / "twelve.xml"
    write_muse_xml(path, rhythm=signals)
    record = read_muse_xml(path)
    assert record.lead_names == list(TWELVE)
    assert record.meta["derived_leads"] == []
    for name in TWELVE:
        np.testing.assert_allclose(column(record, name), quantised(signals[name]), atol=1e-12)
    assert not np.allclose(column(record, "III"), column(record, "II") - column(record, "I"))


def test_partial_limb_leads_derive_only_the_missing(tmp_path):
    names = ("I", "II", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    signals = known_signals(10 * FS, names=names, seed=4)
    path = tmp_path / "partial.xml"
    write_muse_xml(path, rhythm=signals)
    record = read_muse_xml(path)
    assert record.lead_names == list(TWELVE)
    assert record.meta["derived_leads"] == ["III", "aVR", "aVL"]
    np.testing.assert_allclose(column(record, "aVF"), quantised(signals["aVF"]), atol=1e-12)


def test_median_waveform(muse_file):
    path, _, median = muse_file
    record = read_muse_xml(path, waveform="Median")
    assert record.signal.shape == (600, 12)
    assert record.fs == 500.0 and record.duration_s == pytest.approx(1.2)
    assert record.meta["waveform"] == "Median"
    np.testing.assert_allclose(column(record, "V3"), quantised(median["V3"]), atol=1e-12)
    assert read_muse_xml(path, waveform="median").meta["waveform"] == "Median"


def test_sample_base_and_exponent(tmp_path):
    signals = known_signals(2500, seed=5)
    path = tmp_path / "250.xml"
    Path(path).write_text(muse_document([waveform_xml("Rhythm", signals, sample_base=25,
                                                      exponent=1)]), "iso-8859-1")
    record = read_muse_xml(path)
    assert record.fs == 250.0 and record.duration_s == pytest.approx(10.0)


def test_other_amplitude_units_and_steps(tmp_path):
    signals = known_signals(10 * FS, seed=6)
    kwargs = {name: dict(units="MILLIVOLTS", per_bit=0.005) for name in EIGHT}
    path = tmp_path / "mv.xml"
    Path(path).write_text(muse_document([waveform_xml("Rhythm", signals, lead_kwargs=kwargs)]),
                          "iso-8859-1")
    record = read_muse_xml(path)
    np.testing.assert_allclose(column(record, "V6"),
                               np.round(signals["V6"] / 0.005) * 0.005, atol=1e-12)


def test_base64_without_line_breaks_and_without_byte_count(tmp_path):
    signals = known_signals(10 * FS, seed=7)
    kwargs = {name: dict(byte_count=False, data=base64.b64encode(
        np.round(signals[name] * 1000 / UV_PER_BIT).astype("<i2").tobytes()).decode())
        for name in EIGHT}
    path = tmp_path / "oneline.xml"
    Path(path).write_text(muse_document([waveform_xml("Rhythm", signals, lead_kwargs=kwargs)]),
                          "iso-8859-1")
    np.testing.assert_allclose(column(read_muse_xml(path), "I"), quantised(signals["I"]),
                               atol=1e-12)


def test_file_without_doctype_reads(tmp_path):
    path = tmp_path / "nodoctype.xml"
    write_muse_xml(path, doctype="")
    assert read_muse_xml(path).signal.shape == (5000, 12)


def test_module_does_not_import_tensorflow():
    code = ("import sys, pclr_keras.io.muse_xml; "
            "sys.exit(1 if 'tensorflow' in sys.modules or 'keras' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2])
    assert done.returncode == 0


# ---------------------------------------------------------------- bad files


def test_truncated_xml(muse_file, tmp_path):
    data = muse_file[0].read_bytes()
    cut = tmp_path / "cut.xml"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ECGReadError, match="not well-formed XML") as caught:
        read_muse_xml(cut)
    assert caught.value.source == str(cut)


@pytest.mark.parametrize("content", [b"", b"   \n", b"\x00\x01\x02binary\xff",
                                     b"I,II,V1\n1,2,3\n"])
def test_not_xml(tmp_path, content):
    path = tmp_path / "junk.xml"
    path.write_bytes(content)
    with pytest.raises(ECGReadError, match="empty|not well-formed XML"):
        read_muse_xml(path)


def test_missing_file(tmp_path):
    with pytest.raises(ECGReadError, match="cannot read the file"):
        read_muse_xml(tmp_path / "absent.xml")


def test_wrong_root(tmp_path):
    path = tmp_path / "other.xml"
    write_muse_xml(path, root="AnnotatedECG", doctype="")
    with pytest.raises(ECGReadError, match="not <RestingECG>"):
        read_muse_xml(path)


def test_missing_rhythm_waveform(tmp_path):
    path = tmp_path / "median_only.xml"
    write_muse_xml(path, rhythm=False)
    with pytest.raises(ECGReadError, match="no Rhythm waveform.*Median"):
        read_muse_xml(path)


def test_bad_base64(tmp_path):
    signals = known_signals(10 * FS)
    kwargs = {"V2": dict(data="@@ not base64 !!")}
    path = tmp_path / "garbage.xml"
    path.write_text(muse_document([waveform_xml("Rhythm", signals, lead_kwargs=kwargs)]),
                    "iso-8859-1")
    with pytest.raises(ECGReadError, match="lead V2 .*not valid base64"):
        read_muse_xml(path)


def test_sample_count_mismatch(tmp_path):
    signals = known_signals(10 * FS)
    kwargs = {"V4": dict(count=4999)}
    path = tmp_path / "count.xml"
    path.write_text(muse_document([waveform_xml("Rhythm", signals, lead_kwargs=kwargs)]),
                    "iso-8859-1")
    with pytest.raises(ECGReadError, match="lead V4 .*4999 samples .*5000.*mismatch"):
        read_muse_xml(path)


def test_leads_of_different_length(tmp_path):
    signals = known_signals(10 * FS)
    signals["V5"] = signals["V5"][:4000]
    path = tmp_path / "ragged.xml"
    path.write_text(muse_document([waveform_xml("Rhythm", signals)]), "iso-8859-1")
    with pytest.raises(ECGReadError, match="differ in length.*V5: 4000"):
        read_muse_xml(path)


def test_unknown_units(tmp_path):
    signals = known_signals(10 * FS)
    kwargs = {"I": dict(units="FURLONGS")}
    path = tmp_path / "units.xml"
    path.write_text(muse_document([waveform_xml("Rhythm", signals, lead_kwargs=kwargs)]),
                    "iso-8859-1")
    with pytest.raises(ECGReadError, match="unknown LeadAmplitudeUnits 'FURLONGS'"):
        read_muse_xml(path)


# ---------------------------------------------------------------- hostile XML

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE RestingECG [
  <!ENTITY lol "lol">
  <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
  <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
  <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
  <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
  <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
  <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
  <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<RestingECG><PatientDemographics><PatientID>&lol9;</PatientID></PatientDemographics>
</RestingECG>
"""


def _passwd_lines():
    try:
        text = Path("/etc/passwd").read_text(errors="replace")
    except OSError:
        text = ""
    return [line for line in text.splitlines() if len(line) > 8] + ["root:x:0:0", "/bin/"]


def _assert_nothing_leaked(error, capsys):
    out, err = capsys.readouterr()
    texts = [str(error), error.reason, repr(error.args), out, err,
             str(error.__cause__), repr(error.__cause__)]
    for line in _passwd_lines():
        for text in texts:
            assert line not in text


def test_billion_laughs_refused(tmp_path, capsys):
    path = tmp_path / "laughs.xml"
    path.write_text(BILLION_LAUGHS)
    with pytest.raises(ECGReadError, match="refused") as caught:
        read_muse_xml(path)
    assert "entities and DTD declarations are refused" in caught.value.reason
    assert "DOCTYPE carries an internal subset" in caught.value.reason
    assert len(str(caught.value)) < 1000  # nothing got expanded into the message
    _assert_nothing_leaked(caught.value, capsys)


@pytest.mark.parametrize("dtd, ref", [
    ('<!DOCTYPE RestingECG [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
    ('<!DOCTYPE RestingECG [<!ENTITY % xxe SYSTEM "file:///etc/passwd"> %xxe;]>', "MUSE1"),
    ('<!DOCTYPE RestingECG PUBLIC "-//x//y" "file:///etc/passwd" '
     '[<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
], ids=["external-entity", "parameter-entity", "public-id"])
def test_external_entities_refused(tmp_path, capsys, dtd, ref):
    path = tmp_path / "xxe.xml"
    write_muse_xml(path, doctype=dtd, patient_id=ref)
    with pytest.raises(ECGReadError, match="refused") as caught:
        read_muse_xml(path)
    assert "entities and DTD declarations are refused" in caught.value.reason
    _assert_nothing_leaked(caught.value, capsys)


def test_dtd_internal_subset_refused(tmp_path):
    path = tmp_path / "dtd.xml"
    write_muse_xml(path, doctype="<!DOCTYPE RestingECG [<!ELEMENT RestingECG ANY>]>")
    with pytest.raises(ECGReadError, match="internal subset.*DTD declarations are refused"):
        read_muse_xml(path)


def test_undeclared_entity_reference_is_bad_xml(tmp_path):
    path = tmp_path / "undeclared.xml"
    write_muse_xml(path, patient_id="&xxe;")
    with pytest.raises(ECGReadError, match="not well-formed XML.*undefined entity"):
        read_muse_xml(path)


def test_muse_doctype_accepted_and_never_fetched(tmp_path, capsys):
    """MUSE writes `<!DOCTYPE RestingECG SYSTEM "restecg.dtd">`; the DTD is not loaded."""
    path = tmp_path / "bare.xml"
    write_muse_xml(path, doctype='<!DOCTYPE RestingECG SYSTEM "file:///etc/passwd">')
    record = read_muse_xml(path)
    assert record.meta["patient_id"] == "MUSE0042"
    out, err = capsys.readouterr()
    for line in _passwd_lines():
        assert line not in repr(record.meta) + out + err
