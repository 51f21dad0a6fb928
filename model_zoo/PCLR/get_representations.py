"""ml4h's `get_representations` API on top of `pclr_keras`.

`get_representations(ecgs, model_name)` loads the weights file of ml4h's
name (`MODEL_FILES`) from the working folder or from this folder: ml4h's
released files (Keras 2, read through `pclr_keras.load_upstream`) and ours
(`pclr export`) both work. Any other name is what `pclr_keras.load_encoder`
takes: a preset (`pclr-ptbxl`, `pclr-ml4h`; `pclr presets`) or a path.
"""

from pathlib import Path

import numpy as np

from pclr_keras import load_encoder
from pclr_keras.variants import variant_for_input_shape
from preprocess_ecg import LEADS, process_ecg

MODEL_FILES = {
    "pclr": "PCLR.h5",
    "c3po_pclr": "c3po_pclr.h5",
    "aug_c3po_pclr": "aug_c3po_pclr.h5",
}


def get_model(model_name="pclr"):
    """Loads the PCLR encoder `model_name` (see `MODEL_FILES`, or a preset), ending at `embed`."""
    if model_name not in MODEL_FILES:
        return load_encoder(model_name)
    file_name = MODEL_FILES[model_name]
    places = [Path.cwd() / file_name, Path(__file__).resolve().parent / file_name]
    for place in places:
        if place.exists():
            return load_encoder(place)
    raise FileNotFoundError(
        f"No weights file {file_name} for model {model_name!r}; looked in "
        f"{', '.join(str(p.parent) for p in places)}. Put one there: ml4h's released "
        f"{file_name} (in an ml4h clone: git lfs pull --include model_zoo/PCLR/{file_name}) "
        "or one written by `pclr export`; or name a preset, e.g. get_representations(ecgs, "
        "'pclr-ml4h') for ml4h's weights, downloaded and checked.")


def get_representations(ecgs, model_name="pclr"):
    """N ECGs (dicts lead -> 10 s of mV samples) -> N x 320 representations."""
    model = get_model(model_name)
    variant = variant_for_input_shape(*model.input.shape[1:])
    batch = np.stack([process_ecg(ecg, variant=variant.name) for ecg in ecgs])
    return model.predict(batch, verbose=0)


def test_get_representations():
    """ml4h's set-up check: 10 blank ECGs give 10 x 320 representations."""
    blank = {lead: np.zeros(2500) for lead in LEADS}
    representations = get_representations([blank] * 10)
    assert representations.shape == (10, 320)
