"""Artifacts, one way out: files for Keras, TF Serving and TFLite users.

`artifacts.py` writes an encoder as `.h5`, `.keras`, a TF Serving SavedModel,
TFLite, or a preset folder; `serving.py` builds the requests those
SavedModels answer and their warm-up file; `graph_preprocess.py` is the
preprocessing their raw-signal signature runs in the graph. Reading
artifacts back is `pclr_keras.weights.load`'s job.
"""
