"""ECG archives -> PCLR representations, streamed, sharded and resumable.

`embed(model, sources, out)` writes one row per ECG (`ecg_id`, `patient_id`,
`source`, `quality`, `embed_000` ... `embed_<d-1>` float32) to Parquet or CSV, and
every input that could not be embedded to `<out>.errors.csv` with its
reason. It reads a `pclr tensorize` output folder, or ECG files and folders
through the readers (`pclr_keras.io`), preprocessed for the variant the
encoder's input shape names.

How it scales:

- *Order and shards.* The units of work are the tensorized ECGs in
  `labels.csv` order, or the input files sorted by path (folders walked; a
  file that holds many ECGs is one unit and its ECGs stay together).
  `shard=(i, n)` keeps the units whose position `p` has `p % n == i`
  (round robin), so n machines running `shard=(0, n)` ... `(n-1, n)` split
  the archive with no overlap and no gap, and equally.
- *Streaming.* A shard's units are cut into chunks of `chunk_size`. A
  background thread reads (and for raw files, a thread pool reads and
  preprocesses) the next batches while the main thread runs the encoder's
  forward pass, so I/O and preprocessing overlap the model. Memory holds the
  model, a few batches of ECGs and one chunk of representations.
- *Resume.* Each chunk is written to `<out>.parts/part-NNNNN.parquet` under a
  temporary name and renamed when complete, with a digest of the model's
  weights, the variant and the chunk's inputs in its metadata (the chunk's
  errors too). A re-run keeps the parts whose digest matches and computes
  the others, so a run killed at any point and started again ends with the
  same output as an uninterrupted one, no row missing or doubled. When every
  part exists they are appended, one at a time, to `out` (written under a
  temporary name, then renamed); `<out>.errors.csv` and
  `<out>.summary.json` follow and the parts are removed. Running the same
  job again after it finished returns the stored summary.

`embed_files` runs the same reading pipeline in memory, for a handful of
files whose representations fit in memory.

The package's modules follow those seams: `model` (the encoder for
inference), `inputs` (what is read, in batches), `parts` (the part files
and their assembly into the output) and `job` (the two jobs). The names
below are its public interface; `pclr_keras.pipelines` builds on them too.
"""

from pclr_keras.embedding.job import (
    EmbeddingResult, check_shard, embed, embed_files, format_summary, parse_shard)
from pclr_keras.embedding.model import forward_function, model_digest, resolve_model, variant_of
from pclr_keras.embedding.parts import (
    AGGREGATES, FORMAT_VERSION, ID_COLUMNS, OUTPUT_FORMATS, PART_PATTERN, WINDOWS,
    embedding_columns)
from pclr_keras.tensorize import is_tensorized_folder

__all__ = [
    "AGGREGATES", "FORMAT_VERSION", "ID_COLUMNS", "OUTPUT_FORMATS", "PART_PATTERN", "WINDOWS",
    "EmbeddingResult", "check_shard", "embed", "embed_files", "embedding_columns",
    "format_summary", "forward_function", "is_tensorized_folder", "model_digest",
    "parse_shard", "resolve_model", "variant_of"]
