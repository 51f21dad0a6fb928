"""The encoder is ml4h's released encoder: graph, weights, sizes, variants."""

import numpy as np
import pytest

from conftest import SMALL_ENCODER
from pclr_keras.models import build_encoder

RELEASED = {"12lead": "pclr", "lead_I": "lead_I", "lead_II": "lead_II"}
COMPARED_CONFIG = ("filters", "kernel_size", "strides", "padding", "use_bias", "pool_size",
                   "momentum", "epsilon", "center", "scale")


def _as_tuple(value):
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


def _history_names(value):
    """Names of the layers whose outputs a serialized node argument refers to."""
    if isinstance(value, dict):
        if value.get("class_name") == "__keras_tensor__":
            return [value["config"]["keras_history"][0]]
        return [name for item in value.values() for name in _history_names(item)]
    if isinstance(value, (list, tuple)):
        return [name for item in value for name in _history_names(item)]
    return []


def _graph_facts(model):
    """Our layers described the way the reference JSON describes upstream's."""
    inbound = {layer["name"]: [_history_names(node["args"]) for node in layer["inbound_nodes"]]
               for layer in model.get_config()["layers"]}
    return [_layer_facts(layer, inbound[layer.name]) for layer in model.layers]


def _layer_facts(layer, inbound):
    config = layer.get_config()
    facts = {"name": layer.name, "class": type(layer).__name__, "inbound": inbound}
    for key in COMPARED_CONFIG:
        if key in config:
            facts[key] = _as_tuple(config[key])
    if "activation" in config:
        facts["activation"] = config["activation"]
    return facts


def _reference_facts(layer):
    facts = {"name": layer["name"], "class": layer["class"], "inbound": layer["inbound"]}
    for key in COMPARED_CONFIG:
        if key in layer:
            facts[key] = _as_tuple(layer[key])
    if "activation" in layer:
        facts["activation"] = layer["activation"]
    return facts


@pytest.mark.parametrize("released,variant", sorted(RELEASED.items()))
def test_encoder_graph_equals_released_model(upstream_arch, released, variant):
    reference = upstream_arch[released]
    encoder = build_encoder(variant)
    assert _graph_facts(encoder) == \
        [_reference_facts(layer) for layer in reference["layers"]]
    assert list(encoder.input.shape) == reference["input_shape"]
    assert encoder.input.name == reference["input_name"] == "ecg"
    assert encoder.layers[-1].name == reference["output_layer"] == "embed"


@pytest.mark.parametrize("released,variant", sorted(RELEASED.items()))
def test_encoder_weights_copy_over_positionally(upstream_arch, released, variant):
    reference = upstream_arch[released]
    encoder = build_encoder(variant)
    assert [(w.path, list(w.shape)) for w in encoder.weights] == \
        [(name, shape) for name, shape in reference["variables"]]
    assert [list(w.shape) for w in encoder.trainable_weights] == \
        [shape for _, shape in reference["trainable"]]
    assert [list(w.shape) for w in encoder.non_trainable_weights] == \
        [shape for _, shape in reference["non_trainable"]]
    assert encoder.count_params() == reference["n_params_total"]


@pytest.mark.parametrize("variant,params,input_shape,lengths", [
    ("pclr", 6_394_912, (4096, 12), (1024, 256, 64, 16)),
    ("lead_I", 6_383_648, (4096, 1), (1024, 256, 64, 16)),
    ("lead_II", 6_383_392, (2500, 1), (1250, 313, 79, 20)),
    ("c3po", 6_394_912, (2500, 12), (1250, 313, 79, 20)),
])
def test_variant_shapes_and_sizes(variant, params, input_shape, lengths):
    encoder = build_encoder(variant)
    assert encoder.count_params() == params
    assert encoder.input.shape[1:] == input_shape
    unit_outputs = [layer.output.shape[1] for layer in encoder.layers
                    if type(layer).__name__ == "Add"]
    assert tuple(unit_outputs) == lengths
    assert encoder.output.shape[1:] == (320,)


def test_pclr_trainable_split_matches_paper_model():
    encoder = build_encoder("pclr")
    trainable = sum(int(np.prod(w.shape)) for w in encoder.trainable_weights)
    assert (trainable, encoder.count_params() - trainable) == (6_391_184, 3_728)


def test_lead_ii_stem_has_no_batchnorm():
    encoder = build_encoder("lead_II")
    assert [type(layer).__name__ for layer in encoder.layers[1:3]] == ["Conv1D", "Activation"]


def test_encoder_embeds_in_inference_mode():
    encoder = build_encoder("pclr", **SMALL_ENCODER)
    x = np.random.default_rng(0).normal(size=(3, 256, 12)).astype("float32")
    first = encoder.predict(x, verbose=0)
    assert first.shape == (3, 16)
    np.testing.assert_allclose(encoder.predict(x[:1], verbose=0), first[:1], rtol=1e-5, atol=1e-6)


def test_synchronized_batchnorm_keeps_weights():
    plain = build_encoder("pclr", **SMALL_ENCODER)
    synced = build_encoder("pclr", synchronized_bn=True, **SMALL_ENCODER)
    assert [w.shape for w in plain.weights] == [w.shape for w in synced.weights]
    assert all(layer.get_config()["synchronized"] for layer in synced.layers
               if type(layer).__name__ == "BatchNormalization")


def test_unit_cannot_upsample():
    with pytest.raises(ValueError, match="cannot upsample"):
        build_encoder("pclr", input_length=64, unit_lengths=(128, 16, 4, 1))
