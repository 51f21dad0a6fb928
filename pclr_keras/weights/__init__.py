"""Model weights, one way in: the preset table, the resolver, the loader.

`presets.py` is the table of named weights (data only), `resolve.py` turns a
name, path, `https://` or `hf://` address into local files (downloads through
`downloads.py`, checked by SHA-256), and `load.py` reads those files, ours or
ml4h's (`upstream.py`), into an encoder: `load.load_encoder`. The packaged
presets are the `pclr-ptbxl-v0.x/` folders beside these modules. Importing
this package loads no TensorFlow; only `load` and `upstream` do.
"""
