"""What a command is given, checked before it starts: input paths that exist and can be
read, and a `--model` that names something to load.

Loading TensorFlow and a model takes seconds; a typo in a path or a preset
name, a folder that cannot be opened, or a preset that cannot be fetched
offline should cost none of them. Nothing here imports TensorFlow.
"""

import os
from pathlib import Path

from pclr_keras.cli.exits import failed, one_line, usage
from pclr_keras.cli.specs import named_tables
from pclr_keras.outcome import missing_inputs

# Each command's arguments that name inputs: files or folders that must be there.
# (`demo --data` is not one: without it, the demo makes a synthetic cohort.)
INPUTS = {
    "tensorize": ("sources", "data", "manifest"),
    "embed": ("data",),
    "pretrain": ("data",),
    "finetune": ("data",),
    "experiment": ("data", "extra"),
    "probe": ("embeddings", "labels"),
}
# Arguments written NAME=FILE, whose file is the input.
NAMED = ("embeddings", "extra")
# `--model` values that name no file: built, not loaded (`pclr embed --model random`).
BUILT_MODELS = {"embed": ("random",)}


def check_before_run(args):
    """Stops with one line (`cli/exits.py`) at the first input or model that cannot be used."""
    for path in input_paths(args):
        check_readable(args.command, path)
    for spec in model_specs(args):
        check_model(args.command, spec)


def input_paths(args):
    """The local paths `args` names as inputs of its command, in the order given."""
    paths = []
    for name in INPUTS.get(args.command, ()):
        value = getattr(args, name, None)
        values = [] if value is None else [value] if isinstance(value, str) else list(value)
        paths += list(named_tables(values).values()) if name in NAMED else values
    return paths


def model_specs(args):
    """The models `--model` names (repeatable in `pclr experiment`, as [NAME=]PATH)."""
    value = getattr(args, "model", None)
    values = [] if value is None else [value] if isinstance(value, str) else list(value)
    if args.command == "experiment":
        values = [spec.partition("=")[2] or spec for spec in values]
    return [spec for spec in values if spec not in BUILT_MODELS.get(args.command, ())]


def check_readable(command, path):
    """Exits 2 for a path that is not there, or that this user cannot read (or open, for
    a folder); URLs and globs are the runner's to check."""
    if missing_inputs([path]):
        usage(command, f"{path}: no such file or folder")
    if "://" in str(path) or not Path(path).exists():
        return
    access = os.R_OK | (os.X_OK if Path(path).is_dir() else 0)
    if not os.access(path, access):
        what = "folder" if Path(path).is_dir() else "file"
        usage(command, f"{path}: permission denied (this {what} cannot be read)")


def check_model(command, spec):
    """A `--model` resolved to its local files (downloaded once if it must be): exits 2
    for a name that is no file, preset or address, 1 for a preset that cannot be fetched."""
    from pclr_keras.weights.presets import ALIASES, PRESETS
    from pclr_keras.weights.resolve import PresetUnavailableError, resolve_path

    try:
        path = resolve_path(spec)
    except FileNotFoundError as error:
        usage(command, f"--model {spec}: {one_line(error)} `pclr presets` lists the presets.")
    except PresetUnavailableError as error:
        hint = (f" `pclr presets {spec}` names the files to download and where to put them."
                if spec in PRESETS or spec in ALIASES else "")
        failed(command, f"--model {spec}: {one_line(error)}{hint}")
    except (ValueError, ImportError) as error:
        usage(command, f"--model {spec}: {one_line(error)}")
    check_readable(command, path)
    problem = model_file_problem(path)
    if problem:
        failed(command, f"--model {spec}: {problem}")


def model_file_problem(path):
    """What makes `path` no model file at a glance (a `.keras` that is no zip archive, an
    `.h5` that is no HDF5 file), or None; the loader judges the rest."""
    import zipfile

    path = Path(path)
    if not path.is_file():
        return None
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        return "cannot be read as a model: a .keras file is a zip archive, and this is not one"
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        if not h5py.is_hdf5(path):
            return "cannot be read as a model: not an HDF5 file"
    return None
