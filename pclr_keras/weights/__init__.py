"""Model weights, one way in: the preset table, the resolver, the loader.

`presets.py` is the table of named weights (data only), `resolve.py` turns a
name, path, `https://` or `hf://` address into local files (downloads through
`downloads.py`, checked by SHA-256), and `load.py` reads those files, ours or
ml4h's (`upstream.py`), into an encoder: `load.load_encoder`. The current
release is the `pclr-ptbxl-v0.x/` folder beside these modules; earlier ones
are in the repository's `model_zoo/PCLR/presets/`. Importing
this package loads no TensorFlow; only `load` and `upstream` do.
"""
