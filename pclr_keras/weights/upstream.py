"""Load ml4h's released PCLR models into the native Keras 3 encoder.

ml4h released `PCLR.h5` (a Keras 2 pre-training model with a projection head
and a custom loss) and TF 2.3 SavedModel folders (`PCLR/`, `PCLR_lead_I/`,
`PCLR_lead_II/`); Keras 3 cannot load the folders and needs custom objects
for the h5. Both are read here as plain arrays (h5py, TF checkpoint reader)
and copied by position into `build_encoder`'s model, whose layer order is
ml4h's, so no old Keras config is ever deserialised.
"""

import json
import os

import h5py
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from pclr_keras.models.encoder import build_encoder
from pclr_keras.variants import VARIANTS, get_variant

LFS_POINTER_PREFIX = b"version https://git-lfs"
# Keras's weight order within a layer; a checkpoint stores them by name.
_WEIGHT_ORDER = ("kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance")


def load_upstream(path, variant=None):
    """Turns an ml4h PCLR file or SavedModel folder into our encoder.

    Any head after `embed` (the projection head of `PCLR.h5`) is dropped.

    Args:
        path: str or path. A Keras 2 `.h5` file (full model or weights only)
            or a Keras SavedModel folder.
        variant: str. A key of `pclr_keras.VARIANTS`; by default the variant
            is found from the input shape and whether the stem has batch norm.
            Needed for 12-lead weights-only files, whose input length is not
            stored.

    Returns:
        A `keras.Model` from `build_encoder`, input `ecg`, output `embed`,
        holding the file's weights.

    Raises:
        FileNotFoundError: `path` does not exist.
        ValueError: a git-LFS pointer, an unknown format, no `embed` layer,
            or weights or shapes that do not fit the encoder.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No ml4h model at {path!r}.")
    if os.path.isdir(path):
        layers, shape = _read_saved_model(path)
    else:
        _check_not_lfs_pointer(path)
        if not h5py.is_hdf5(path):
            raise ValueError(f"{path!r} is neither an HDF5 file nor a SavedModel folder.")
        layers, shape = _read_h5(path)
    if len(layers) < 2:
        raise ValueError(f"{path!r} holds {len(layers)} layers with weights; not a PCLR encoder.")
    length, leads = shape if shape else (None, layers[0][0][1].shape[1])
    # The stem conv is followed by BN iff the next weighted layer's first
    # weight is a 1-D gamma (a conv's would be a 3-D kernel).
    stem_batchnorm = layers[1][0][1].ndim == 1
    encoder = _build(path, variant, length, leads, stem_batchnorm)
    _copy_weights(path, layers, encoder)
    return encoder


def _build(path, variant, length, leads, stem_batchnorm):
    """Builds the encoder for `variant`, or for the detected shape."""
    found = (f"{leads} lead(s), input length {length or 'not stored'}, "
             f"stem batch norm {stem_batchnorm}")
    if variant is not None:
        spec = get_variant(variant)
        if (spec.num_leads, spec.stem_batchnorm) != (leads, stem_batchnorm) or (
                length is not None and length != spec.input_length):
            raise ValueError(
                f"{path!r} does not fit variant {spec.name!r}: the file has {found}; "
                f"{spec.name} has {spec.num_leads} lead(s), input length "
                f"{spec.input_length}, stem batch norm {spec.stem_batchnorm}.")
        return build_encoder(spec.name)
    matches = [
        spec.name for spec in VARIANTS.values()
        if (spec.num_leads, spec.stem_batchnorm) == (leads, stem_batchnorm)
        and length in (None, spec.input_length)]
    if len(matches) == 1:
        return build_encoder(matches[0])
    if length is None:
        raise ValueError(
            f"{path!r} stores no input length ({found}); pass variant= "
            f"(one of {matches or sorted(VARIANTS)}).")
    return build_encoder(input_length=length, num_leads=leads,
                         stem_batchnorm=stem_batchnorm)


def _copy_weights(path, layers, encoder):
    """Copies per-layer weights positionally, checking every shape."""
    targets = [layer for layer in encoder.layers if layer.weights]
    if len(layers) < len(targets):
        raise ValueError(
            f"{path!r} has {len(layers)} layers with weights up to `embed`; "
            f"the encoder needs {len(targets)}.")
    for target, source in zip(targets, layers):
        if len(target.weights) != len(source):
            raise ValueError(
                f"{path!r}: layer with {[n for n, _ in source]} does not fit "
                f"{target.name!r}, which has {len(target.weights)} weights.")
        for weight, (name, value) in zip(target.weights, source):
            if tuple(weight.shape) != value.shape:
                raise ValueError(
                    f"{path!r}: weight {name!r} has shape {value.shape}, but "
                    f"the encoder's {weight.path!r} has {tuple(weight.shape)}.")
        target.set_weights([value for _, value in source])


def _read_h5(path):
    """Reads a Keras 2 `.h5` file.

    Returns:
        `(layers, shape)`: for each layer with weights up to `embed`, in model
        order, a list of `(name, array)`; and `(length, leads)` of the input,
        or None for a weights-only file (then all layers are returned).
    """
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f
        names = _string_list(group.attrs, "layer_names")
        if names is None:
            raise ValueError(f"{path!r} is an HDF5 file but not a Keras model or weights file.")
        shape = None
        config = f.attrs.get("model_config")
        if config is not None:
            keep, shape = _embed_ancestors(path, json.loads(config))
            names = [name for name in names if name in keep]
        layers = []
        for name in names:
            weight_names = _string_list(group[name].attrs, "weight_names") or []
            if weight_names:
                layers.append([(w, np.asarray(group[name][w])) for w in weight_names])
    return layers, shape


def _string_list(attrs, key):
    """A list-of-names attribute; Keras 2 splits long ones into key0, key1, ..."""
    if key in attrs:
        chunks = [attrs[key]]
    else:
        chunks = []
        while f"{key}{len(chunks)}" in attrs:
            chunks.append(attrs[f"{key}{len(chunks)}"])
        if not chunks:
            return None
    return [n.decode() if isinstance(n, bytes) else str(n)
            for chunk in chunks for n in chunk]


def _embed_ancestors(path, config):
    """Names of the layers `embed` depends on, and the input's (length, leads)."""
    layers = {layer["name"]: layer for layer in config["config"]["layers"]}
    if "embed" not in layers:
        raise ValueError(f"{path!r} has no `embed` layer; not a PCLR model.")
    keep, todo = set(), ["embed"]
    while todo:
        name = todo.pop()
        if name not in keep:
            keep.add(name)
            todo.extend(_inbound_names(layers[name].get("inbound_nodes", [])))
    inputs = [layers[n]["config"] for n in keep if layers[n]["class_name"] == "InputLayer"]
    if len(inputs) != 1:
        raise ValueError(f"{path!r}: `embed` depends on {len(inputs)} inputs, not 1.")
    shape = inputs[0].get("batch_input_shape") or inputs[0].get("batch_shape")
    return keep, tuple(shape[1:])


def _inbound_names(nodes):
    """Layer names in Keras 2 (`[name, node, tensor, kwargs]`) or Keras 3
    (`{"keras_history": [name, ...]}`) inbound nodes."""
    if isinstance(nodes, dict):
        if "keras_history" in nodes:
            return [nodes["keras_history"][0]]
        nodes = list(nodes.values())
    if not isinstance(nodes, list):
        return []
    if len(nodes) >= 3 and isinstance(nodes[0], str) and isinstance(nodes[1], int):
        return [nodes[0]]
    return [name for node in nodes for name in _inbound_names(node)]


def _read_saved_model(path):
    """Reads a Keras SavedModel folder without loading its graph.

    Returns:
        `(layers, shape)` as `_read_h5`. Layers are the checkpoint's
        `layer_with_weights-<i>` in order; trailing ones (a head) are left
        to `_copy_weights` to ignore.
    """
    pb = os.path.join(path, "saved_model.pb")
    variables = os.path.join(path, "variables", "variables")
    if not os.path.isfile(pb) or not os.path.isfile(variables + ".index"):
        raise ValueError(
            f"{path!r} is a folder but not a SavedModel (no saved_model.pb "
            f"and variables/variables.index).")
    for name in os.listdir(os.path.dirname(variables)):
        _check_not_lfs_pointer(os.path.join(path, "variables", name))
    _check_not_lfs_pointer(pb)

    saved_model = saved_model_pb2.SavedModel()
    with open(pb, "rb") as f:
        saved_model.ParseFromString(f.read())
    signature = saved_model.meta_graphs[0].signature_def.get("serving_default")
    if signature is None or len(signature.inputs) != 1:
        raise ValueError(f"{path!r} has no serving_default signature with one input.")
    (spec,) = signature.inputs.values()
    length, leads = (d.size for d in spec.tensor_shape.dim[1:])

    reader = tf.train.load_checkpoint(variables)
    stored = reader.get_variable_to_shape_map()
    layers = []
    while True:
        keys = [f"layer_with_weights-{len(layers)}/{attr}/.ATTRIBUTES/VARIABLE_VALUE"
                for attr in _WEIGHT_ORDER]
        weights = [(key, reader.get_tensor(key)) for key in keys if key in stored]
        if not weights:
            return layers, (length if length > 0 else None, leads)
        layers.append(weights)


def _check_not_lfs_pointer(path):
    with open(path, "rb") as f:
        if f.read(len(LFS_POINTER_PREFIX)) == LFS_POINTER_PREFIX:
            raise ValueError(
                f"{path!r} is a git-LFS pointer, not the model: run `git lfs pull` "
                f"in the ml4h checkout to fetch the real file.")
