"""Requests for an exported encoder under TF Serving, and its warm-up file.

Every SavedModel `pclr export` writes has two signatures:

- `serving_default`: `ecg` float32 (batch, input_length, leads), already
  preprocessed (`preprocess_ecg`) -> `embed` (batch, 320);
- `embed_raw`: `ecg` float32 (batch, samples, leads) in mV, the variant's
  leads in its order, and `fs` float32 (batch,) in Hz -> `embed`; the
  preprocessing runs in the graph (`graph_preprocess.preprocess_raw`).
  Exported with `leads_present` (`pclr export --leads I`), it takes only
  those leads and zero-fills the others.

`rest_body` and `grpc_request` build what a client sends for either one,
from numpy arrays or an `ECGRecord`, so the numbers a hospital integration
has to reproduce are those of a request, not of our preprocessing. The
warm-up file holds one small request per signature; TF Serving replays it
when it loads a version, so the first real request is not the slow one.
The protos come from `tensorflow-serving-api`.
"""

from pathlib import Path

import numpy as np

from pclr_keras.io import ECGRecord
from pclr_keras.preprocess import leads_in_variant_order, present_leads, preprocess_ecg
from pclr_keras.synthetic import example_ecg
from pclr_keras.variants import STANDARD_LEADS, get_variant

SERVING_SIGNATURE = "serving_default"
RAW_SIGNATURE = "embed_raw"
SIGNATURES = (SERVING_SIGNATURE, RAW_SIGNATURE)
WARMUP_FILE = Path("assets.extra") / "tf_serving_warmup_requests"


def _serving_protos():
    """tensorflow-serving-api's protos, imported when needed: they load TensorFlow."""
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2

    return predict_pb2, prediction_log_pb2


def request_inputs(ecg, fs=None, signature=RAW_SIGNATURE, variant="pclr", leads_present=None):
    """The named input arrays of a request to `signature`.

    Args:
        ecg: an `ECGRecord` (any lead order; the variant's leads are picked,
            or for `serving_default` it is preprocessed); or an array
            (samples, leads) or (batch, samples, leads): raw mV in the
            variant's lead order for `embed_raw`, preprocessed input for
            `serving_default`.
        fs: float or array (batch,). Sampling rate(s) of a raw array in Hz;
            taken from the record for an `ECGRecord`.
        signature: `"embed_raw"` or `"serving_default"`.
        variant: str or `EncoderVariant` the served encoder is.
        leads_present: None, or the leads the served `embed_raw` takes (it
            was exported with them): a record gives only those; for
            `serving_default` they are zero-filled here.

    Returns:
        dict input name -> float32 array with a batch axis:
        `{"ecg", "fs"}` for `embed_raw`, `{"ecg"}` for `serving_default`.

    Raises:
        ValueError: an unknown signature, a missing `fs`, or arrays whose
            shape does not fit the variant.
        ECGValidationError: a record `preprocess_ecg` rejects, or one
            that lacks a lead the variant reads.
    """
    variant = get_variant(variant)
    if signature not in SIGNATURES:
        raise ValueError(f"Unknown signature {signature!r}; choose one of {SIGNATURES}.")
    if isinstance(ecg, ECGRecord):
        if signature == SERVING_SIGNATURE:
            # As strict as embed_raw: a served answer cannot carry a quality flag.
            x = preprocess_ecg(ecg.signal, ecg.fs, ecg.lead_names, variant, ecg.source,
                               max_flat_leads=0, leads_present=leads_present)
            return {"ecg": x[np.newaxis]}
        ecg, fs = leads_in_variant_order(ecg.signal, ecg.lead_names, variant,
                                         leads_present=leads_present), ecg.fs
    x = np.asarray(ecg, dtype=np.float32)
    x = x[np.newaxis] if x.ndim == 2 else x
    leads = (variant.leads if signature == SERVING_SIGNATURE
             else present_leads(variant, leads_present))
    if x.ndim != 3 or x.shape[-1] != len(leads):
        raise ValueError(
            f"ecg must be (samples, leads) or (batch, samples, leads) with the "
            f"{len(leads)} lead(s) {', '.join(leads)} last, got shape {np.shape(ecg)}.")
    if signature == SERVING_SIGNATURE:
        if x.shape[1] != variant.input_length:
            raise ValueError(
                f"serving_default takes preprocessed ECGs of {variant.input_length} samples, "
                f"got {x.shape[1]}; send raw signals to {RAW_SIGNATURE} instead.")
        return {"ecg": x}
    if fs is None:
        raise ValueError(f"{RAW_SIGNATURE} needs the sampling rate fs of a raw array.")
    rates = np.broadcast_to(np.asarray(fs, dtype=np.float32), (x.shape[0],))
    return {"ecg": x, "fs": np.ascontiguousarray(rates)}


def rest_body(ecg, fs=None, signature=RAW_SIGNATURE, variant="pclr", leads_present=None):
    """The JSON body of `POST /v1/models/NAME[/versions/N]:predict`.

    Arguments as `request_inputs`. Returns a dict for `json.dumps`, in TF
    Serving's columnar format: `{"signature_name": ..., "inputs": {...}}`;
    the answer is `{"outputs": [[320 floats], ...]}`.
    """
    inputs = request_inputs(ecg, fs, signature, variant, leads_present)
    return {"signature_name": signature,
            "inputs": {name: value.tolist() for name, value in inputs.items()}}


def grpc_request(ecg, fs=None, signature=RAW_SIGNATURE, variant="pclr", model_name="PCLR",
                 version=None, leads_present=None):
    """A `tensorflow.serving.PredictRequest` for `PredictionService.Predict`.

    Arguments as `request_inputs`; `model_name` and `version` (int or None
    for the newest) say which servable answers. The response's
    `outputs["embed"]` is the (batch, 320) representation.
    """
    import tensorflow as tf

    predict_pb2, _ = _serving_protos()
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, value in request_inputs(ecg, fs, signature, variant, leads_present).items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def warmup_requests(variant, model_name="PCLR", leads_present=None):
    """One small request per signature: a synthetic 10 s ECG at 100 Hz (for `embed_raw`,
    only the leads it takes)."""
    variant = get_variant(variant)
    example = example_ecg(fs=100.0)
    raw = example[:, [STANDARD_LEADS.index(lead) for lead in variant.leads]]
    present = present_leads(variant, leads_present)
    raw_present = example[:, [STANDARD_LEADS.index(lead) for lead in present]]
    return [grpc_request(raw_present, 100.0, RAW_SIGNATURE, variant, model_name,
                         leads_present=leads_present),
            grpc_request(preprocess_ecg(raw, 100.0, variant.leads, variant),
                         signature=SERVING_SIGNATURE, variant=variant, model_name=model_name)]


def write_warmup_file(saved_model_dir, variant, model_name="PCLR", leads_present=None):
    """Writes `assets.extra/tf_serving_warmup_requests` into a SavedModel folder.

    A TFRecord of `PredictionLog`s, the format TF Serving reads at load time.

    Returns:
        The Path written.
    """
    import tensorflow as tf

    _, prediction_log_pb2 = _serving_protos()
    path = Path(saved_model_dir) / WARMUP_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with tf.io.TFRecordWriter(str(path)) as writer:
        for request in warmup_requests(variant, model_name, leads_present):
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request))
            writer.write(log.SerializeToString())
    return path
