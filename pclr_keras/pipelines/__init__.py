"""`pclr embed` and `pclr tensorize` as Apache Beam pipelines, for archives past one machine.

The same readers, validation, preprocessing and output formats as the local
commands, arranged as Beam transforms, so one pipeline runs on the
DirectRunner on a laptop and on Flink, Spark or Dataflow at scale. Needs the
`beam` extra: `pip install 'pclr-keras[beam]'`. `RUNNERS` names, per
command, each way to run it ("local", "beam"); importing this package
imports no Beam.
"""

from pclr_keras.pipelines.runners import (
    BEAM_MISSING, RUNNERS, BeamMissing, embed_on_beam, require_beam, tensorize_on_beam)

__all__ = ["BEAM_MISSING", "RUNNERS", "BeamMissing", "embed_on_beam", "require_beam",
           "tensorize_on_beam"]
