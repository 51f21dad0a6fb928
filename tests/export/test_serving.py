"""The serving contract: raw ECGs in through `embed_raw`, requests users copy, warm-up.

Exported SavedModels are loaded in a fresh process that never imports
pclr_keras (what a TF Serving host runs); the requests reach it as a REST
JSON body, a serialised gRPC `PredictRequest` or the warm-up TFRecord, and
the answers are compared with `preprocess_ecg` + the Keras encoder here.
"""

import keras
import numpy as np
import pytest

from conftest import NARROW_ENCODER, require_shared
from serving_client import serve
from pclr_keras.export.artifacts import export_encoder
from pclr_keras.export.serving import (
    RAW_SIGNATURE, SERVING_SIGNATURE, WARMUP_FILE, grpc_request, request_inputs, rest_body,
    warmup_requests)
from pclr_keras.io import read_wfdb
from pclr_keras.models import build_encoder
from pclr_keras.preprocess import ECGValidationError, leads_in_variant_order, preprocess_ecg
from pclr_keras.variants import STANDARD_LEADS, get_variant

ATOL = 1e-5

def expected(encoder, x):
    return encoder(np.asarray(x, np.float32), training=False).numpy()


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """Narrow encoders at the released input lengths, exported by `export_encoder`."""
    out = tmp_path_factory.mktemp("serving")
    models = {}
    for seed, variant in enumerate(("pclr", "lead_I", "lead_II")):
        keras.utils.set_random_seed(seed)
        encoder = build_encoder(variant, **NARROW_ENCODER)
        formats = ("savedmodel", "tflite") if variant == "lead_I" else ("savedmodel",)
        models[variant] = (encoder, export_encoder(encoder, out, name=variant, formats=formats))
    return out, models


@pytest.fixture(scope="module")
def records():
    ptbxl = require_shared("data/ptbxl")
    ludb = require_shared("data/ludb/data")
    return {
        "ptbxl_100": read_wfdb(ptbxl / "records100/00000/00001_lr"),
        "ptbxl_100b": read_wfdb(ptbxl / "records100/00000/00002_lr"),
        "ptbxl_500": read_wfdb(ptbxl / "records500/00000/00001_hr"),
        "ptbxl_500b": read_wfdb(ptbxl / "records500/00000/00002_hr"),
        "ludb_500": read_wfdb(ludb / "1"),
    }


def upsampled_to_1000_hz(record):
    """A real 500 Hz record linearly interpolated to 1000 Hz (10 s)."""
    signal = record.signal
    times = np.arange(2 * len(signal)) / 1000.0
    return np.stack([np.interp(times, np.arange(len(signal)) / 500.0, lead)
                     for lead in signal.T], axis=-1)


def in_order(record, variant="pclr"):
    return leads_in_variant_order(record.signal, record.lead_names, variant)


def test_embed_raw_equals_preprocess_then_encoder_on_real_records(exports, records, tmp_path):
    _, models = exports
    encoder, written = models["pclr"]
    high = upsampled_to_1000_hz(records["ptbxl_500"])
    twenty_s = np.concatenate([in_order(records["ptbxl_500"]), in_order(records["ptbxl_500b"])])
    requests = {
        "ptbxl_100_rest": rest_body(records["ptbxl_100"]),
        "ptbxl_100_batch_grpc": grpc_request(
            np.stack([in_order(records["ptbxl_100"]), in_order(records["ptbxl_100b"])]), 100.0),
        "ptbxl_500_grpc": grpc_request(records["ptbxl_500"]),
        "ludb_500_rest": rest_body(records["ludb_500"]),
        # One request, two rates: 10 s at 1000 Hz and 20 s at 500 Hz share 10,000 samples.
        "mixed_rates_grpc": grpc_request(np.stack([high, twenty_s]), [1000.0, 500.0]),
        "preprocessed_grpc": grpc_request(records["ptbxl_500"], signature=SERVING_SIGNATURE),
    }
    answers = serve(written["savedmodel"], requests, tmp_path)

    def reference(*ecgs):
        return expected(encoder, np.stack([
            preprocess_ecg(signal, fs, names) for signal, fs, names in ecgs]))

    def as_read(name):
        record = records[name]
        return record.signal, record.fs, record.lead_names

    order = records["ptbxl_500"].lead_names
    wanted = {
        "ptbxl_100_rest": reference(as_read("ptbxl_100")),
        "ptbxl_100_batch_grpc": reference(as_read("ptbxl_100"), as_read("ptbxl_100b")),
        "ptbxl_500_grpc": reference(as_read("ptbxl_500")),
        "ludb_500_rest": reference(as_read("ludb_500")),
        "mixed_rates_grpc": reference((high, 1000.0, order),
                                      (twenty_s, 500.0, list(STANDARD_LEADS))),
        "preprocessed_grpc": reference(as_read("ptbxl_500")),
    }
    for name, embedding in wanted.items():
        assert "error" not in answers[name], answers[name]
        assert answers[name]["signature"] == (
            SERVING_SIGNATURE if name.startswith("preprocessed") else RAW_SIGNATURE)
        got = np.array(answers[name]["embed"], np.float32)
        assert got.shape == embedding.shape, name
        np.testing.assert_allclose(got, embedding, atol=ATOL, rtol=0, err_msg=name)
    # The rows differ: each was resampled at its own rate.
    assert not np.allclose(wanted["mixed_rates_grpc"][0], wanted["mixed_rates_grpc"][1])


def test_embed_raw_single_lead_variants_4096_and_2500(exports, records, tmp_path):
    _, models = exports
    for variant, lead in (("lead_I", "I"), ("lead_II", "II")):
        encoder, written = models[variant]
        answers = serve(written["savedmodel"], {
            "ptbxl_500": rest_body(records["ptbxl_500"], variant=variant),
            "ludb_500": grpc_request(records["ludb_500"], variant=variant),
            "ptbxl_100": grpc_request(in_order(records["ptbxl_100"], variant), 100.0,
                                      variant=variant)}, tmp_path)
        for name, record in (("ptbxl_500", records["ptbxl_500"]),
                             ("ludb_500", records["ludb_500"]),
                             ("ptbxl_100", records["ptbxl_100"])):
            x = preprocess_ecg(record.signal, record.fs, record.lead_names, variant)
            np.testing.assert_allclose(np.array(answers[name]["embed"], np.float32),
                                       expected(encoder, x[np.newaxis]), atol=ATOL, rtol=0,
                                       err_msg=f"{variant} {name}")


def _rejection(signal, fs, names=None):
    """What `preprocess_ecg` says of input the server refuses (as strict as serving)."""
    with pytest.raises(ECGValidationError) as error:
        preprocess_ecg(signal, fs, names or list(STANDARD_LEADS), max_flat_leads=0)
    return error.value


def test_server_rejects_bad_input_with_the_validation_message(exports, records, tmp_path):
    _, models = exports
    _, written = models["pclr"]
    x = in_order(records["ptbxl_500"])
    nan = np.stack([x, x])
    nan[1, 100:103, 4] = np.nan
    microvolts = x * 1000.0
    one_flat = x.copy()
    one_flat[:, STANDARD_LEADS.index("V3")] = 0.0
    requests = {
        "too_short": grpc_request(x[:4000], 500.0),
        "not_finite": grpc_request(nan, 500.0),
        "microvolts": rest_body(microvolts, 500.0),
        # Kept and flagged by preprocess_ecg; refused here, where no flag can travel.
        "one_flat_lead": grpc_request(one_flat, 500.0),
        "fs_zero": grpc_request(np.stack([x, x]), [500.0, 0.0]),
        "fs_negative": rest_body(x, -500.0),
        # A client sending 3 of the 12 leads: refused, not embedded.
        "wrong_lead_count": {"signature_name": RAW_SIGNATURE,
                             "inputs": {"ecg": x[np.newaxis, :, :3].tolist(), "fs": [500.0]}},
    }
    answers = serve(written["savedmodel"], requests, tmp_path)
    assert {name: "error" in answer for name, answer in answers.items()} == dict.fromkeys(
        requests, True)
    # The same words as ECGValidationError: problem code, batch row, detail.
    for name, (signal, index) in {"too_short": (x[:4000], 0), "not_finite": (nan[1], 1),
                                  "microvolts": (microvolts, 0),
                                  "one_flat_lead": (one_flat, 0)}.items():
        error = _rejection(signal, 500.0)
        assert f"{error.problem}: batch index {index}: {error.detail}" in answers[name]["error"]
    assert _rejection(x, 0.0).problem == "bad_sampling_rate"
    assert ("bad_sampling_rate: batch index 1: sampling rate 0 Hz is not a positive finite "
            "number") in answers["fs_zero"]["error"]
    assert "bad_sampling_rate: batch index 0: sampling rate -500 Hz" in \
        answers["fs_negative"]["error"]
    assert "unknown_lead_count: the pclr encoder reads 12 lead(s) I, II, III" in \
        answers["wrong_lead_count"]["error"]
    assert "got 3 columns" in answers["wrong_lead_count"]["error"]


def test_warmup_file_replays_against_a_fresh_load(exports, tmp_path):
    _, models = exports
    for variant in ("pclr", "lead_II"):
        encoder, written = models[variant]
        warmup = written["savedmodel"] / WARMUP_FILE
        assert warmup.is_file()
        answers = serve(written["savedmodel"], {"warmup": str(warmup)}, tmp_path)
        assert [answers[f"warmup{i}"]["signature"] for i in range(2)] == [
            RAW_SIGNATURE, SERVING_SIGNATURE]
        requests = warmup_requests(variant, model_name=variant)
        raw = request_inputs_of(requests[0])
        reference = expected(encoder, preprocess_ecg(
            raw["ecg"][0], float(raw["fs"][0]), list(get_variant(variant).leads),
            variant)[np.newaxis])
        for i in range(2):
            np.testing.assert_allclose(np.array(answers[f"warmup{i}"]["embed"], np.float32),
                                       reference, atol=ATOL, rtol=0)


def request_inputs_of(request):
    import tensorflow as tf

    return {k: tf.make_ndarray(v) for k, v in request.inputs.items()}


def test_tflite_lead_I_matches_keras(exports, records):
    import tensorflow as tf

    _, models = exports
    encoder, written = models["lead_I"]
    x = np.stack([preprocess_ecg(r.signal, r.fs, r.lead_names, "lead_I")
                  for r in (records["ptbxl_500"], records["ludb_500"])])
    runner = tf.lite.Interpreter(str(written["tflite"])).get_signature_runner(SERVING_SIGNATURE)
    for row in x:
        np.testing.assert_allclose(runner(ecg=row[np.newaxis])["embed"],
                                   expected(encoder, row[np.newaxis]), atol=1e-4, rtol=0)


def test_an_export_for_lead_I_takes_lead_I_alone_and_zero_fills_the_rest(records, tmp_path):
    """A watch's lead I, served: `pclr export --leads I`'s embed_raw, a fresh process."""
    keras.utils.set_random_seed(3)
    encoder = build_encoder("pclr", **NARROW_ENCODER)
    written = export_encoder(encoder, tmp_path / "out", name="watch", formats=("savedmodel",),
                             leads_present="I")
    record = records["ptbxl_500"]
    lead_i = record.signal[:, [record.lead_names.index("I")]]
    requests = {"record": rest_body(record, leads_present="I"),
                "array": grpc_request(lead_i, record.fs, leads_present="I"),
                "twelve": grpc_request(in_order(record), record.fs)}
    assert np.array(requests["record"]["inputs"]["ecg"]).shape == (1, 5000, 1)
    answers = serve(written["savedmodel"], requests, tmp_path)
    wanted = expected(encoder, preprocess_ecg(lead_i, record.fs, ["I"], leads_present="I")[None])
    for name in ("record", "array"):
        assert "error" not in answers[name], answers[name]
        np.testing.assert_allclose(np.array(answers[name]["embed"], np.float32), wanted,
                                   atol=ATOL, rtol=0, err_msg=name)
    assert "takes 1 lead(s) I in this order" in answers["twelve"]["error"]
    assert "got 12 columns" in answers["twelve"]["error"]


def test_requests_carry_what_the_signatures_take(records):
    body = rest_body(records["ptbxl_500"])
    assert body["signature_name"] == RAW_SIGNATURE
    assert np.array(body["inputs"]["ecg"]).shape == (1, 5000, 12)
    assert body["inputs"]["fs"] == [500.0]
    # The record's file order (AVR...) is put in the variant's order (aVR...).
    np.testing.assert_array_equal(np.array(body["inputs"]["ecg"][0], np.float32),
                                  in_order(records["ptbxl_500"]))
    request = grpc_request(records["ptbxl_100"], variant="lead_I", model_name="PCLR_lead_I",
                           version=3)
    assert (request.model_spec.name, request.model_spec.signature_name,
            request.model_spec.version.value) == ("PCLR_lead_I", RAW_SIGNATURE, 3)
    assert request_inputs_of(request)["ecg"].shape == (1, 1000, 1)
    with pytest.raises(ValueError, match="needs the sampling rate"):
        request_inputs(np.zeros((1000, 12)))
    with pytest.raises(ValueError, match="4096 samples"):
        request_inputs(np.zeros((1000, 12)), signature=SERVING_SIGNATURE)
    with pytest.raises(ValueError, match="1 lead"):
        request_inputs(np.zeros((1000, 12)), 100.0, variant="lead_I")
    one_flat = read_wfdb(require_shared("data/ptbxl") / "records100/00000/00001_lr")
    one_flat.signal[:, 8] = 0.0
    preprocess_ecg(one_flat.signal, one_flat.fs, one_flat.lead_names)  # kept in bulk jobs
    with pytest.raises(ECGValidationError, match="is flat"):  # not sent to a server
        request_inputs(one_flat, signature=SERVING_SIGNATURE)
