"""Small hospital-format ECG files written from known signals, for reader tests."""

import base64

import numpy as np

TWELVE = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
BILLION_LAUGHS_DTD = ('<!DOCTYPE {root} [<!ENTITY lol "lol">'
                      '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
                      '<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>')


def known_counts(n, names=TWELVE, seed=0, amplitude=300):
    """Distinct integer signals per lead (sums of sines), as stored counts."""
    rng = np.random.default_rng(seed)
    t = np.arange(n) / 500.0
    out = {}
    for k, name in enumerate(names):
        freqs, phases = rng.uniform(0.5, 20.0, 3), rng.uniform(0, 2 * np.pi, 3)
        out[name] = np.round(sum(amplitude / (j + 1) * np.sin(2 * np.pi * f * t + p)
                                 for j, (f, p) in enumerate(zip(freqs, phases))) + 3 * k)
    return {name: values.astype(np.int16) for name, values in out.items()}


def write_philips_xml(path, counts, *, resolution=5, fs=500, version="1.04",
                      encoding="Base64", doctype="", patient_id="P-17", name=None):
    """An uncompressed Philips XML file holding `counts` (dict lead -> int16); `name`:
    (last, first), the patient's name."""
    names = list(counts)
    n = len(counts[names[0]])
    if encoding == "Base64":
        data = base64.b64encode(np.concatenate([counts[k] for k in names]).astype("<i2")
                                .tobytes()).decode()
    else:
        data = " ".join(str(int(v)) for k in names for v in counts[k])
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
        '<restingecgdata xmlns="http://www3.medical.philips.com">'
        f'<documentinfo><documenttype>PhilipsECG</documenttype>'
        f'<documentversion>{version}</documentversion></documentinfo>'
        '<dataacquisition date="2020-02-03" time="10:11:12"><machine>PageWriter TC70</machine>'
        f'<signalcharacteristics><samplingrate>{fs}</samplingrate>'
        f'<resolution>{resolution}</resolution><acquisitiontype>STD-12</acquisitiontype>'
        f'<numberchannelsallocated>{len(names)}</numberchannelsallocated>'
        '</signalcharacteristics></dataacquisition>'
        f'<patient><generalpatientdata><patientid>{patient_id}</patientid>'
        + (f'<name><lastname>{name[0]}</lastname><firstname>{name[1]}</firstname></name>'
           if name else '') +
        '<age><years>61</years></age><sex>Male</sex></generalpatientdata></patient>'
        f'<waveforms><parsedwaveforms dataencoding="{encoding}" compression="Uncompressed" '
        f'numberofleads="{len(names)}" leadlabels="{" ".join(names)}" '
        f'durationperchannel="{n * 1000 // fs}">{data}</parsedwaveforms></waveforms>'
        '</restingecgdata>', encoding="utf-8")
    return path


def write_aecg(path, counts, *, scale=(2.5, "uV"), origin=(0, "uV"), increment=(2, "ms"),
               doctype="", subject="S-9"):
    """An HL7 aECG file whose rhythm holds `counts` (dict lead -> ints) in that order."""
    sequences = [
        '<component><sequence><code code="TIME_RELATIVE"/>'
        f'<value xsi:type="GLIST_PQ"><head value="0" unit="s"/>'
        f'<increment value="{increment[0]}" unit="{increment[1]}"/></value></sequence></component>']
    for name, values in counts.items():
        sequences.append(
            f'<component><sequence><code code="MDC_ECG_LEAD_{name.upper()}"/>'
            f'<value xsi:type="SLIST_PQ"><origin value="{origin[0]}" unit="{origin[1]}"/>'
            f'<scale value="{scale[0]}" unit="{scale[1]}"/>'
            f'<digits>{" ".join(str(int(v)) for v in values)}</digits></value>'
            '</sequence></component>')
    median = "".join(
        f'<component><sequence><code code="MDC_ECG_LEAD_{name.upper()}"/>'
        '<value xsi:type="SLIST_PQ"><origin value="0" unit="uV"/><scale value="1" unit="uV"/>'
        f'<digits>{" ".join(["7"] * 400)}</digits></value></sequence></component>'
        for name in counts)
    path.write_text(
        f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
        '<AnnotatedECG xmlns="urn:hl7-org:v3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<id root="e-1"/><effectiveTime><low value="20200203101112"/></effectiveTime>'
        '<componentOf><timepointEvent><componentOf><subjectAssignment><subject><trialSubject>'
        f'<id extension="{subject}"/><subjectDemographicPerson>'
        '<administrativeGenderCode code="F"/></subjectDemographicPerson>'
        '</trialSubject></subject></subjectAssignment></componentOf></timepointEvent>'
        '</componentOf><component><series><code code="RHYTHM"/>'
        f'<component><sequenceSet>{"".join(sequences)}</sequenceSet></component>'
        '<derivation><derivedSeries><code code="REPRESENTATIVE_BEAT"/><component><sequenceSet>'
        '<component><sequence><code code="TIME_RELATIVE"/><value xsi:type="GLIST_PQ">'
        '<increment value="0.002" unit="s"/></value></sequence></component>'
        f'{median}</sequenceSet></component></derivedSeries></derivation>'
        '</series></component></AnnotatedECG>', encoding="utf-8")
    return path
