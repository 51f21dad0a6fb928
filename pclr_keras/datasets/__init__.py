"""Public ECG data sets: download with resume and checksums, then a manifest for tensorize.

`fetch("ptbxl", root)` reads the data set's own checksum list first
(PhysioNet's `SHA256SUMS.txt`; for Zenodo records, the md5s of the record's
API entry), selects the files to get, and downloads each into
`root/<name>/<path>` through a `<path>.part` file: an existing `.part` is
continued with an HTTP `Range` request, and the file is renamed into place
only once its checksum matches. A file already in place with the right
checksum is not fetched again, so a killed run resumes where it stopped; a
file that does not match is deleted and fetched again once, then reported,
never kept. Then a manifest for `pclr tensorize` is written from the data
set's metadata (PTB-XL: patient ids, age, sex, folds, SCP codes and their
diagnostic superclasses) and, if asked, the ECGs are tensorized.

Only the standard library does the downloading; pandas builds the manifests.
Nothing here imports TensorFlow.

The package's modules: `catalog` (the data sets, and which of their files a
request selects), `checksums` (the lists files are checked against),
`manifests` (tensorize's manifest from a set's metadata) and `fetching`
(`fetch` itself). The names below are its interface.
"""

from pclr_keras.datasets.catalog import (
    DATASETS, Dataset, DatasetError, DatasetNameError, describe, get_dataset)
from pclr_keras.datasets.checksums import parse_sha256sums, parse_zenodo_record
from pclr_keras.datasets.fetching import fetch

__all__ = ["DATASETS", "Dataset", "DatasetError", "DatasetNameError", "describe", "fetch",
           "get_dataset", "parse_sha256sums", "parse_zenodo_record"]
