"""Philips resting ECGs (PageWriter, IntelliSpace, HeartStart: "Sierra ECG" XML).

Layout of `<restingecgdata>` (namespace http://www3.medical.philips.com),
versions 1.03 (`SierraECG`) and 1.04 / 1.04.01 / 1.04.02 (`PhilipsECG`):

    documentinfo/documenttype, documentversion
    dataacquisition (date, time)/machine, signalcharacteristics:
        samplingrate (Hz), signalresolution (1.03) or resolution (1.04),
        in uV per count; acquisitiontype (STD-12, 10-WIRE, ...);
        numberchannelsallocated
    patient/generalpatientdata: patientid, name, age (years or dateofbirth), sex
    interpretations/interpretation: severity, statement/leftstatement
    waveforms/parsedwaveforms: the rhythm, attributes dataencoding (Base64
        or Plain), compression "XLI" (1.04) or compressflag + compressmethod
        (1.03), durationperchannel (ms), leadlabels + numberofleads (1.04)
    waveforms/repbeats: median beats, plain Base64 int16 (optional here)

XLI rhythm data is decoded by `sierraecg` (LZW, then second differences),
one channel per chunk. Compressed files store III, aVR, aVL and aVF as
residuals from what I and II predict; they are rebuilt here in integer
arithmetic as Philips' reference decoders do. The compressor may write more
chunks than leads (16 for 12 leads: calibration channels, flat but for a
1 mV pulse); only the labelled leads are kept. Each lead's last ~0.5 s holds
the device's 1 mV calibration pulse, kept as in the file (after the 10 s the
encoder reads).

Why not `sierraecg.read_file`: it parses the file a second time, applies the
residual rebuild to uncompressed data too, computes it in wrapping int16,
and returns no amplitude resolution. Its XLI decoder is the library's core
and is used as is.
"""

import base64
import binascii
import math

import numpy as np

from pclr_keras.io.leads import standard_order
from pclr_keras.io.record import ECGReadError, ECGRecord
from pclr_keras.io.safe_xml import local_name, parse_untrusted_xml
from pclr_keras.variants import STANDARD_LEADS

SUPPORTED_VERSIONS = ("1.03", "1.04", "1.04.01", "1.04.02")
_RESIDUAL_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")


def _find(node, path):
    """`node.find` with every step namespace-agnostic ("a/b" -> "{*}a/{*}b")."""
    if node is None:
        return None
    return node.find("/".join(f"{{*}}{step}" for step in path.split("/")))


def _text(node, path):
    child = _find(node, path)
    if child is None or child.text is None:
        return None
    return child.text.strip() or None


def _number(text, source, what):
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ECGReadError(source, f"{what} is {text!r}, not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ECGReadError(source, f"{what} is {text!r}, not a positive number")
    return value


def _lead_labels(waveforms, signal):
    labels = waveforms.get("leadlabels")
    if labels:
        names = labels.split()
        count = waveforms.get("numberofleads")
        return names[:int(count)] if count and count.isdigit() else names
    count = _text(signal, "numberchannelsallocated")
    count = int(count) if count and count.isdigit() else len(STANDARD_LEADS)
    if (_text(signal, "acquisitiontype") or "").upper() in ("STD-12", "10-WIRE"):
        return [STANDARD_LEADS[i] if i < len(STANDARD_LEADS) else f"Channel {i + 1}"
                for i in range(count)]
    return [f"Channel {i + 1}" for i in range(count)]


def _is_xli(waveforms):
    method = (waveforms.get("compression") or waveforms.get("compressmethod") or "").strip()
    flag = waveforms.get("compressflag")
    if flag is not None and flag.strip().lower() != "true":
        return False
    if method.upper() in ("", "NONE", "UNCOMPRESSED"):
        return False
    if method.upper() != "XLI":
        raise ValueError(f"compression {method!r} is not supported (XLI or none)")
    return True


def _decode_channels(waveforms, samples_per_channel, labels, source):
    """The rhythm's channels as int arrays, as stored (residuals not rebuilt)."""
    encoding = (waveforms.get("dataencoding") or "Base64").strip()
    text = waveforms.text or ""
    try:
        xli = _is_xli(waveforms)
    except ValueError as error:
        raise ECGReadError(source, f"parsedwaveforms: {error}") from None
    if encoding.lower() == "plain":
        try:
            values = np.array(text.split(), dtype=np.int64)
        except ValueError as error:
            raise ECGReadError(source, f"parsedwaveforms: Plain data is not integers "
                                       f"({error})") from None
        payload = None
    elif encoding.lower() == "base64":
        try:
            payload = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as error:
            raise ECGReadError(source, f"parsedwaveforms: not valid base64 ({error})") from None
    else:
        raise ECGReadError(source, f"parsedwaveforms: data encoding {encoding!r} is not "
                                   "supported (Base64 or Plain)")
    if xli:
        if payload is None:
            raise ECGReadError(source, "parsedwaveforms: XLI data must be Base64")
        from sierraecg.xli import xli_decode

        try:
            channels = [np.asarray(c, dtype=np.int64) for c in xli_decode(payload, labels)]
        except (IndexError, ValueError, KeyError) as error:
            raise ECGReadError(source, f"parsedwaveforms: XLI data is corrupt "
                                       f"({type(error).__name__}: {error})") from None
        return channels, True
    if payload is not None:
        if len(payload) % 2:
            raise ECGReadError(source, "parsedwaveforms: odd number of bytes for 16-bit samples")
        values = np.frombuffer(payload, dtype="<i2").astype(np.int64)
    if values.size % samples_per_channel:
        raise ECGReadError(source, f"parsedwaveforms: {values.size} samples are not a whole "
                                   f"number of channels of {samples_per_channel}")
    return list(values.reshape(-1, samples_per_channel)), False


def _rebuild_residuals(leads):
    """III, aVR, aVL, aVF from their stored residuals and I, II (counts, int64)."""
    lead_i, lead_ii = leads["I"], leads["II"]
    leads["III"] = lead_ii - lead_i - leads["III"]
    leads["aVR"] = -leads["aVR"] - (lead_i + lead_ii) // 2
    leads["aVL"] = (lead_i - leads["III"]) // 2 - leads["aVL"]
    leads["aVF"] = (lead_ii + leads["III"]) // 2 - leads["aVF"]


def _meta(root, version, doc_type):
    meta = {"format": f"{doc_type} {version}"}
    patient = _find(root, "patient/generalpatientdata")
    for key, path in (("patient_id", "patientid"), ("age", "age/years"),
                      ("date_of_birth", "age/dateofbirth"), ("sex", "sex")):
        value = _text(patient, path)
        if value is not None:
            meta[key] = value
    name = [part for part in (_text(patient, "name/lastname"), _text(patient, "name/firstname"))
            if part]
    if name:  # to tell whether a file's name spells it (pclr_keras.deidentify.paths)
        meta["patient_name"] = "^".join(name)
    acquisition = _find(root, "dataacquisition")
    if acquisition is not None:
        for key in ("date", "time"):
            if acquisition.get(key):
                meta[f"acquisition_{key}"] = acquisition.get(key)
        machine = _text(acquisition, "machine")
        if machine:
            meta["device"] = machine
    interpretation = _find(root, "interpretations/interpretation")
    if interpretation is not None:
        lines = [_text(interpretation, "severity")]
        lines += [" ".join((s.text or "").split()) for s in interpretation.iter()
                  if local_name(s.tag) == "leftstatement"]
        lines = [line for line in lines if line]
        if lines:
            meta["dx"] = "; ".join(lines)
    return meta


def _median_beats(waveforms_node, source):
    """The representative beats as an `ECGRecord` in mV, or None."""
    repbeats = _find(waveforms_node, "repbeats")
    if repbeats is None:
        return None
    rate = _number(repbeats.get("samplespersec"), source, "repbeats samplespersec")
    step = _number(repbeats.get("resolution"), source, "repbeats resolution")
    leads = {}
    for beat in repbeats:
        if local_name(beat.tag) != "repbeat":
            continue
        data = _find(beat, "waveform")
        data = beat if data is None else data  # 1.03 stores the data in <repbeat>
        payload = base64.b64decode("".join((data.text or "").split()))
        leads[beat.get("leadname")] = np.frombuffer(payload, "<i2") * (step / 1000.0)
    if not leads or len({v.size for v in leads.values()}) != 1:
        return None
    names = standard_order(list(leads))
    return ECGRecord(np.stack([leads[n] for n in names], axis=1), names, rate, source,
                     {"waveform": "median beat"})


def _document(root, source):
    """(document type, version) of a Philips export in a version this reader knows."""
    if local_name(root.tag) != "restingecgdata":
        raise ECGReadError(source, f"root element is <{local_name(root.tag)}>, not "
                                   "<restingecgdata>: not a Philips ECG XML export")
    doc_type = _text(root, "documentinfo/documenttype") or "?"
    version = _text(root, "documentinfo/documentversion") or "?"
    if version not in SUPPORTED_VERSIONS:
        raise ECGReadError(source, f"{doc_type} XML version {version} is not supported "
                                   f"(versions {', '.join(SUPPORTED_VERSIONS)})")
    return doc_type, version


def _rhythm_leads(waveforms, labels, fs, source):
    """Label -> the rhythm's stored values of that lead (residuals rebuilt), and how many
    unlabelled channels were dropped; the channels must fill durationperchannel."""
    duration_ms = _number(waveforms.get("durationperchannel"), source,
                          "parsedwaveforms durationperchannel")
    samples = int(round(duration_ms * fs / 1000.0))
    channels, compressed = _decode_channels(waveforms, samples, labels, source)
    if len(channels) < len(labels):
        raise ECGReadError(source, f"{len(labels)} leads labelled but {len(channels)} "
                                   "channels stored")
    extra_channels = len(channels) - len(labels)
    channels = channels[:len(labels)]
    if any(c.size != samples for c in channels):
        sizes = sorted({c.size for c in channels})
        raise ECGReadError(source, f"channels hold {sizes} samples; durationperchannel "
                                   f"{duration_ms:g} ms at {fs:g} Hz means {samples}")
    leads = dict(zip(labels, channels))
    if len(leads) != len(labels):
        raise ECGReadError(source, f"a lead label appears twice in {labels}")
    if compressed:
        if tuple(labels[:len(_RESIDUAL_LEADS)]) != _RESIDUAL_LEADS:
            raise ECGReadError(source, f"XLI data with leads {labels[:6]}: residual storage "
                                       f"expects {list(_RESIDUAL_LEADS)} first")
        _rebuild_residuals(leads)
    return leads, extra_channels


def read_philips_xml(path, median_beats=False):
    """Reads a Philips (Sierra) ECG XML file into an `ECGRecord` in millivolts.

    Args:
        path: str or Path. A `<restingecgdata>` export (UTF-8 or UTF-16).
        median_beats: bool. Also decode the representative beats into
            `meta["median_beats"]` (an `ECGRecord`), when the file has them.

    Returns:
        ECGRecord of the rhythm: leads as labelled by the file (calibration
        channels dropped), in standard 12-lead order. `meta` holds `format`,
        `patient_id`, `age`, `date_of_birth`, `sex`, `acquisition_date`,
        `acquisition_time`, `device`, `dx` where present, and
        `extra_channels` (how many unlabelled channels were dropped).

    Raises:
        ECGReadError: unsafe or malformed XML, not a Philips ECG, unsupported
            version or encoding, or data that disagrees with its header.
    """
    source = str(path)
    root = parse_untrusted_xml(source, path, "Philips")
    doc_type, version = _document(root, source)
    signal = _find(root, "dataacquisition/signalcharacteristics")
    waveforms_node = _find(root, "waveforms")
    waveforms = _find(waveforms_node, "parsedwaveforms")
    if signal is None or waveforms is None:
        raise ECGReadError(source, "no dataacquisition/signalcharacteristics or "
                                   "waveforms/parsedwaveforms: no rhythm data")
    fs = _number(_text(signal, "samplingrate") or waveforms.get("samplespersecond"),
                 source, "samplingrate")
    resolution = _number(_text(signal, "resolution") or _text(signal, "signalresolution")
                         or waveforms.get("resolution"), source, "signal resolution (uV)")
    labels = _lead_labels(waveforms, signal)
    leads, extra_channels = _rhythm_leads(waveforms, labels, fs, source)
    names = standard_order(labels)
    meta = _meta(root, version, doc_type)
    meta.update(waveform="rhythm", extra_channels=extra_channels)
    if median_beats:
        beats = _median_beats(waveforms_node, source)
        if beats is not None:
            meta["median_beats"] = beats
    return ECGRecord(
        signal=np.stack([leads[n] for n in names], axis=1) * (resolution / 1000.0),
        lead_names=names, fs=float(fs), source=source, meta=meta)
