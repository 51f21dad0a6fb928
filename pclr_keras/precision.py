"""Compute precision: the choices, which one `auto` picks, and a model that computes in it.

Weights, inputs and outputs stay float32 whatever the precision. `bfloat16`
and `float16` run the convolutions, activations and dense layers in 16 bits
(Keras' `mixed_bfloat16` / `mixed_float16` dtype policies) and keep in
float32 what is sensitive to rounding: batch normalisation, the `embed`
pooling (the representation itself) and every output layer. float32 is the
default: only it gives ml4h's numbers bit for bit.

bfloat16 pays where the hardware multiplies it natively: x86 CPUs that
report `avx512_bf16` or `amx_bf16`, and GPUs of compute capability 8.0 or
more (A100, H100, ...). float16 is for GPUs (with loss scaling in training);
CPUs do not speed it up. TensorFlow is imported only when a model is
converted or a GPU is looked for.

`int8` is for inference only (`pclr embed`, `pclr export`): it is not a Keras
dtype policy but a quantized copy of the encoder run by another runtime
(`pclr_keras.export.quantize`), accepted only with an accuracy guard. It
pays on CPUs with 8-bit dot-product instructions (`avx512_vnni`,
`avx_vnni`). For inference, `auto` picks int8 on such a CPU when it has no
bfloat16, and the embedding job falls back to float32 when the guard
fails. On CPUs with both, `auto` keeps bfloat16: it needs no calibration
per run and stays closer to float32 (cosine 0.99999 against 0.998); int8's
model alone measured 2x bfloat16's there, which pays through an exported
int8 file (docs/precision.md).
"""

import logging
from pathlib import Path

PRECISIONS = ("float32", "bfloat16", "float16")
CHOICES = PRECISIONS + ("auto",)
INT8 = "int8"
INFERENCE_CHOICES = PRECISIONS + (INT8, "auto")
DEFAULT_PRECISION = "float32"
CPU_BF16_FLAGS = ("avx512_bf16", "amx_bf16")
CPU_INT8_FLAGS = ("avx512_vnni", "avx_vnni")
GPU_BF16_CAPABILITY = (8, 0)
_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
_SHORT_NAMES = {"float32": "fp32", "bfloat16": "bf16", "float16": "fp16", INT8: "int8"}

logger = logging.getLogger(__name__)


def check_precision(precision, inference=False):
    """`precision` if it is one of `CHOICES` (`INFERENCE_CHOICES` for inference), else a
    ValueError naming them."""
    choices = INFERENCE_CHOICES if inference else CHOICES
    if precision not in choices:
        raise ValueError(f"Unknown precision {precision!r}; choose one of {choices}.")
    return precision


def policy_name(precision):
    """The Keras dtype policy of a precision: `"bfloat16"` -> `"mixed_bfloat16"`."""
    return _POLICIES[check_precision(resolve_precision(precision))]


def short_name(precision):
    """`bf16`, `fp16` or `fp32`: the suffix of artifacts written in a precision."""
    return _SHORT_NAMES[check_precision(precision, inference=True)]


def cpu_flags(wanted, cpuinfo="/proc/cpuinfo"):
    """Which of the instruction flags `wanted` the CPU reports; () if unknown."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return ()
    flags = set()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return tuple(flag for flag in wanted if flag in flags)


def cpu_bf16_flags(cpuinfo="/proc/cpuinfo"):
    """The bfloat16 instruction flags (`CPU_BF16_FLAGS`) the CPU reports; () if unknown."""
    return cpu_flags(CPU_BF16_FLAGS, cpuinfo)


def gpu_compute_capabilities():
    """(major, minor) of each GPU TensorFlow sees; [] without one."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        capabilities.append(tuple(capability) if capability else (0, 0))
    return capabilities


def auto_precision(cpuinfo="/proc/cpuinfo", gpus=None, inference=False):
    """(precision, why) that `auto` picks for this machine.

    The model runs on the GPU when there is one, so a GPU decides: bfloat16
    from compute capability 8.0, float32 below. Without a GPU, bfloat16
    where the CPU reports a `CPU_BF16_FLAGS` flag; for inference, int8
    where it reports a `CPU_INT8_FLAGS` flag and no bfloat16 one (the
    embedding job still checks int8's accuracy guard); float32 otherwise.

    Args:
        cpuinfo: the file listing the CPU's flags.
        gpus: list of (major, minor) compute capabilities; default: asked
            of TensorFlow.
        inference: whether int8 may be picked (embedding, not training).
    """
    gpus = gpu_compute_capabilities() if gpus is None else list(gpus)
    if gpus:
        lowest = min(gpus)
        if lowest >= GPU_BF16_CAPABILITY:
            return "bfloat16", f"GPU compute capability {lowest[0]}.{lowest[1]} has bfloat16"
        return "float32", (f"GPU compute capability {lowest[0]}.{lowest[1]} is below "
                           f"{GPU_BF16_CAPABILITY[0]}.{GPU_BF16_CAPABILITY[1]}: no fast bfloat16")
    flags = cpu_bf16_flags(cpuinfo)
    if flags:
        return "bfloat16", f"the CPU reports {', '.join(flags)}"
    int8_flags = cpu_flags(CPU_INT8_FLAGS, cpuinfo) if inference else ()
    if int8_flags:
        return INT8, (f"the CPU reports {', '.join(int8_flags)} and no bfloat16; "
                      "kept only if the accuracy guard passes")
    wanted = CPU_BF16_FLAGS + (CPU_INT8_FLAGS if inference else ())
    return "float32", f"the CPU reports none of {', '.join(wanted)}"


def resolve_precision(precision=DEFAULT_PRECISION, inference=False):
    """A concrete precision: `auto` becomes what this machine runs fastest (logged)."""
    if check_precision(precision, inference) != "auto":
        return precision
    chosen, why = auto_precision(inference=inference)
    logger.info("precision auto -> %s (%s)", chosen, why)
    return chosen


def describe_precision(precision, inference=False):
    """One line saying which precision runs, and for `auto` why."""
    if check_precision(precision, inference) != "auto":
        return f"precision: {precision}"
    chosen, why = auto_precision(inference=inference)
    return f"precision: {chosen} (auto: {why})"


def compute_precision(model):
    """The precision a Keras model's convolutions and dense layers compute in."""
    for layer in model.layers:
        if layer.weights and layer.__class__.__name__ != "BatchNormalization":
            compute = layer.dtype_policy.compute_dtype
            return {"bfloat16": "bfloat16", "float16": "float16"}.get(compute, "float32")
    return "float32"


def with_precision(model, precision):
    """`model` computing in `precision`, with its float32 weights (a copy if it differs).

    A functional model is cloned layer by layer under the precision's
    policy and given the same weights; batch normalisation, the `embed`
    layer and the layers giving the model's outputs stay float32, so the
    inputs, outputs and the representation are float32. A model already in
    that precision, or `precision=None`, is returned as it is.

    Args:
        model: a functional `keras.Model` (an encoder, or a model built on one).
        precision: one of `CHOICES`, or None for the model as it is.
    """
    if precision is None:
        return model
    if precision == INT8:
        raise ValueError("int8 is a quantized copy of the encoder run by TFLite, not a "
                         "Keras precision: embed with precision='int8', or export it.")
    precision = resolve_precision(precision)
    if compute_precision(model) == precision:
        return model
    import keras

    policy = _POLICIES[precision]
    kept = {"embed", *model.output_names}

    def clone_layer(layer):
        config = layer.get_config()
        keep = layer.name in kept or isinstance(layer, keras.layers.BatchNormalization)
        config["dtype"] = "float32" if keep else policy
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=clone_layer)
    clone.set_weights(model.get_weights())
    return clone
