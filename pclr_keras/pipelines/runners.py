"""Where `pclr tensorize` and `pclr embed` run: on this machine, or as a Beam pipeline.

`RUNNERS[command][name]` is a function taking the job as the command hands
it over, the same for every runner of that command. Each runner checks what
only it needs (raising ValueError) before starting, so a caller looks one up
by name and never branches on it. Beam is imported only when a Beam runner
runs: it is the optional `beam` extra.
"""

BEAM_MISSING = ("--runner beam needs Apache Beam, which is not installed: "
                "pip install 'pclr-keras[beam]'")


class BeamMissing(ImportError):
    """A Beam runner was asked for, but the `beam` extra is not installed."""


def require_beam():
    """Imports `apache_beam`, or raises `BeamMissing` saying which extra to install."""
    try:
        import apache_beam
    except ImportError as error:
        raise BeamMissing(BEAM_MISSING) from error
    return apache_beam


def tensorize_on_beam(*args, **kwargs):
    """`pclr_keras.pipelines.tensorize.tensorize_on_beam`, importing Beam only when called."""
    require_beam()
    from pclr_keras.pipelines.tensorize import tensorize_on_beam as run

    return run(*args, **kwargs)


def embed_on_beam(*args, **kwargs):
    """`pclr_keras.pipelines.embed.embed_on_beam`, importing Beam only when called."""
    require_beam()
    from pclr_keras.pipelines.embed import embed_on_beam as run

    return run(*args, **kwargs)


def tensorize_here(sources, out, settings, *, listed=(), planned_errors=(), shard_size=500,
                   workers=None, beam_options=""):
    """`pclr tensorize` on this machine: the files under `sources`, then the `listed` ones.

    `beam_options` is accepted, and unused, so that every runner takes one call.
    """
    from pclr_keras.tensorize import find_inputs, tensorize

    return tensorize(find_inputs(sources) + list(listed), out, settings,
                     planned_errors=planned_errors, shard_size=shard_size, workers=workers)


def tensorize_beam(sources, out, settings, *, listed=(), planned_errors=(), shard_size=500,
                   workers=None, beam_options=""):
    """`pclr tensorize` as a Beam pipeline; `workers` are DirectRunner processes."""
    return tensorize_on_beam(sources, out, settings, listed=listed,
                             planned_errors=planned_errors, shard_size=shard_size,
                             beam_options=beam_options, workers=workers)


def embed_here(model, data, out, *, shard="0/1", beam_options="", **options):
    """`pclr embed` on this machine: one tensorized folder or ECG files, this machine's
    `shard` ("i/n") of them. `beam_options` is accepted, and unused, as in `tensorize_here`."""
    from pclr_keras.embedding import embed, parse_shard

    data = list(data)
    sources = data[0] if len(data) == 1 else data
    return embed(model, sources, out, shard=parse_shard(shard), **options)


def embed_beam(model, data, out, *, shard="0/1", beam_options="", **options):
    """`pclr embed` as a Beam pipeline: ECG files only, and no `shard` (Beam splits the work)."""
    from pclr_keras.tensorize import is_tensorized_folder

    if shard != "0/1" or any(is_tensorized_folder(source) for source in data):
        raise ValueError("--runner beam embeds ECG files (no --shard, no tensorized "
                         "folder): Beam splits the work itself.")
    return embed_on_beam(model, data, out, beam_options=beam_options, **options)


RUNNERS = {
    "tensorize": {"local": tensorize_here, "beam": tensorize_beam},
    "embed": {"local": embed_here, "beam": embed_beam},
}
