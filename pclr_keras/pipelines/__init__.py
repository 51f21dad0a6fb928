"""`pclr embed` and `pclr tensorize` as Apache Beam pipelines, for archives past one machine.

The same readers, validation, preprocessing and output formats as the local
commands, arranged as Beam transforms, so one pipeline runs on the
DirectRunner on a laptop and on Flink, Spark or Dataflow at scale. Needs the
`beam` extra: `pip install 'pclr-keras[beam]'`.
"""

BEAM_MISSING = ("--runner beam needs Apache Beam, which is not installed: "
                "pip install 'pclr-keras[beam]'")


def require_beam():
    """Imports `apache_beam`, or raises ImportError saying which extra to install."""
    try:
        import apache_beam
    except ImportError as error:
        raise ImportError(BEAM_MISSING) from error
    return apache_beam


def embed_on_beam(*args, **kwargs):
    """`pclr_keras.pipelines.embed.embed_on_beam`, importing Beam only when called."""
    require_beam()
    from pclr_keras.pipelines.embed import embed_on_beam as run

    return run(*args, **kwargs)


def tensorize_on_beam(*args, **kwargs):
    """`pclr_keras.pipelines.tensorize.tensorize_on_beam`, importing Beam only when called."""
    require_beam()
    from pclr_keras.pipelines.tensorize import tensorize_on_beam as run

    return run(*args, **kwargs)
