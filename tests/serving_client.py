"""A stand-in for TF Serving in the tests: requests answered by a fresh process.

The process loads the SavedModel with `tf.saved_model.load` and never
imports pclr_keras, as on a serving host; requests reach it as a REST JSON
body, a serialised gRPC `PredictRequest` or TF Serving's warm-up TFRecord.
"""

import json
import subprocess
import sys
import textwrap

# What a server does with each request, in a process without pclr_keras.
SERVE = textwrap.dedent("""
    import json, sys
    import numpy as np, tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    model_dir, requests = sys.argv[1], json.loads(sys.argv[2])
    model = tf.saved_model.load(model_dir)

    def answer(signature, inputs):
        try:
            embed = model.signatures[signature](
                **{k: tf.constant(v, tf.float32) for k, v in inputs.items()})["embed"]
            return {"signature": signature, "embed": embed.numpy().tolist()}
        except tf.errors.InvalidArgumentError as error:
            return {"signature": signature, "error": error.message}

    def proto_inputs(request):
        return {k: tf.make_ndarray(v) for k, v in request.inputs.items()}

    results = {}
    for name, path in requests.items():
        if path.endswith(".json"):
            body = json.load(open(path))
            results[name] = answer(body["signature_name"],
                                   {k: np.array(v, np.float32) for k, v in body["inputs"].items()})
        elif path.endswith(".pb"):
            request = predict_pb2.PredictRequest.FromString(open(path, "rb").read())
            results[name] = answer(request.model_spec.signature_name, proto_inputs(request))
        else:  # TF Serving's warm-up file
            for i, record in enumerate(tf.data.TFRecordDataset(path)):
                request = prediction_log_pb2.PredictionLog.FromString(
                    record.numpy()).predict_log.request
                results[f"{name}{i}"] = answer(request.model_spec.signature_name,
                                               proto_inputs(request))
    assert not [m for m in sys.modules if m.startswith("pclr_keras")]
    print(json.dumps(results))
""")


def serve(model_dir, requests, folder):
    """Sends `requests` (name -> dict body or PredictRequest) to the SavedModel."""
    paths = {}
    for name, request in requests.items():
        if isinstance(request, dict):
            paths[name] = folder / f"{name}.json"
            paths[name].write_text(json.dumps(request))
        elif isinstance(request, str):
            paths[name] = request
        else:
            paths[name] = folder / f"{name}.pb"
            paths[name].write_bytes(request.SerializeToString())
    result = subprocess.run(
        [sys.executable, "-c", SERVE, str(model_dir),
         json.dumps({k: str(v) for k, v in paths.items()})],
        capture_output=True, text=True, timeout=300, cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])
