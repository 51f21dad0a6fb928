"""A Beam `RunInference` model handler on our own loader, for our encoders and ml4h's.

`resolve_model` reads every artifact `pclr embed` reads (our `.keras`/`.h5`,
ml4h's Keras 2 `.h5` and SavedModel, `.onnx` and `.tflite` files), and the
forward pass is the one `pclr embed` uses, so both give the same numbers.
"""

import numpy as np
from apache_beam.ml.inference.base import ModelHandler, PredictionResult


class _LoadedEncoder:
    """The encoder and its traced forward pass (the encoder kept alive beside it)."""

    def __init__(self, encoder):
        from pclr_keras.embedding import forward_function

        self.encoder = encoder
        self.forward = forward_function(encoder)


class EncoderModelHandler(ModelHandler):
    """Batches of preprocessed (length, leads) float32 ECGs -> their representations.

    Args:
        model_path: str. Any encoder artifact `pclr_keras.artifacts.load_encoder` reads.
        batch_size: int. ECGs per forward pass (Beam batches elements to it).
        precision: str. What the encoder computes in (`pclr_keras.precision`);
            resolve `auto` before, so that every worker runs the same one.
    """

    def __init__(self, model_path, batch_size=64, precision="float32"):
        super().__init__()
        self.model_path = str(model_path)
        self.batch_size = int(batch_size)
        self.precision = precision

    def load_model(self):
        from pclr_keras.embedding import resolve_model

        return _LoadedEncoder(resolve_model(self.model_path, self.precision)[0])

    def run_inference(self, batch, model, inference_args=None):
        embeddings = model.forward(np.stack(batch).astype(np.float32, copy=False))
        return [PredictionResult(example, np.asarray(embedding, np.float32))
                for example, embedding in zip(batch, embeddings)]

    def batch_elements_kwargs(self):
        return {"min_batch_size": self.batch_size, "max_batch_size": self.batch_size}

    def get_metrics_namespace(self):
        return "pclr_encoder"
