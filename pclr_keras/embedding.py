"""ECG files -> PCLR representations, one batch at a time.

A file that cannot be read or fails validation is recorded with its reason
and skipped; every other file is embedded. Memory holds one batch of ECGs.
"""

import dataclasses

import numpy as np
from tqdm.auto import tqdm

from pclr_keras.io import ECGReadError, read_wfdb
from pclr_keras.preprocess import ECGValidationError, preprocess_ecg


@dataclasses.dataclass
class EmbeddingResult:
    """Representations of the files that passed, and why the others did not.

    Args:
        sources: list of str, one per row of `embeddings`.
        embeddings: float32 array (n, dim).
        errors: list of (source, problem, message) for each rejected file.
    """

    sources: list
    embeddings: np.ndarray
    errors: list


def _problem(error):
    return getattr(error, "problem", "unreadable")


def embed_files(encoder, paths, variant, batch_size=64, progress=True):
    """Reads, preprocesses and embeds WFDB records with `encoder`.

    Args:
        encoder: a Keras encoder ending at `embed` whose input fits `variant`.
        paths: iterable of record paths.
        variant: str. Variant the ECGs are preprocessed for.
        batch_size: int. ECGs per forward pass.
        progress: bool. Show a progress bar.

    Returns:
        An `EmbeddingResult`.
    """
    paths = list(paths)
    sources, chunks, errors = [], [], []
    batch = []

    def flush():
        if batch:
            chunks.append(np.asarray(encoder.predict_on_batch(np.stack(batch))))
            batch.clear()

    for path in tqdm(paths, desc="embedding", unit="ECG", disable=not progress):
        try:
            record = read_wfdb(path)
            batch.append(preprocess_ecg(
                record.signal, record.fs, record.lead_names, variant=variant,
                source=record.source))
        except (ECGReadError, ECGValidationError) as error:
            errors.append((str(path), _problem(error), str(error)))
            continue
        sources.append(str(path))
        if len(batch) == batch_size:
            flush()
    flush()
    dim = encoder.output.shape[-1]
    embeddings = np.concatenate(chunks) if chunks else np.zeros((0, dim), np.float32)
    return EmbeddingResult(sources, embeddings, errors)
