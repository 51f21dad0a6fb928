"""`pclr datasets`: public ECG sets downloaded with resume and checksum checks, and the
PTB-XL sample a wheel carries, written out offline.

Exit codes as the bulk commands': 2 for a name or rate it does not know, 1
when the set or any of its files could not be fetched and checked, or when
this installation carries no sample.
"""

import argparse
import json


def add_arguments(commands):
    """`pclr datasets` and its flags."""
    datasets = commands.add_parser(
        "datasets", help="download public ECG sets with resume and checksum checks, "
                         "or write the packaged PTB-XL sample")
    datasets.add_argument("action", choices=("fetch", "list", "sample"),
                          help="fetch a dataset, list those known, or write the packaged "
                               "sample of PTB-XL ECGs (offline)")
    datasets.add_argument("name", nargs="?", metavar="NAME|DIR",
                          help="dataset to fetch (see `pclr datasets list`); with sample, "
                               "the folder to write")
    datasets.add_argument("--root", default="datasets", help="download folder")
    datasets.add_argument("--rate", type=int, help="sampling rate where a set has several (PTB-XL)")
    datasets.add_argument("--include", action="append", help="glob of files to get, repeatable")
    datasets.add_argument("--base-url", help="a mirror of the dataset's files")
    datasets.add_argument("--workers", type=int, default=4, help="parallel downloads")
    datasets.add_argument("--tensorize-out", help="tensorize into this folder when complete")
    datasets.set_defaults(run=run)


def run(args):
    """Lists the sets, writes the sample, or fetches one; `argparse.ArgumentError` for a
    fetch without a name or a sample without a folder, which `pclr` reports as it reports
    any other bad argument."""
    from pclr_keras.datasets import DatasetError, DatasetNameError, describe, fetch
    from pclr_keras.outcome import FAILED, USAGE, stop

    if args.action == "list":
        print(describe())
        return 0
    if args.action == "sample":
        return _write_sample(args.name)
    if not args.name:
        raise argparse.ArgumentError(
            None, "datasets fetch needs a dataset name; see `pclr datasets list`")
    try:
        summary = fetch(args.name, args.root, rate=args.rate, include=args.include,
                        base_url=args.base_url, workers=args.workers,
                        tensorize_out=args.tensorize_out)
    except DatasetNameError as error:
        stop(USAGE, f"pclr datasets fetch: {error}")
    except DatasetError as error:
        stop(FAILED, f"pclr datasets fetch: {error}")
    print(json.dumps(summary, indent=2, default=str))
    if summary["failures"]:
        stop(FAILED, f"pclr datasets fetch: {len(summary['failures'])} file(s) failed; "
                     "run the same command again to retry them.")
    return 0


def _write_sample(folder):
    """`pclr datasets sample DIR`: the packaged PTB-XL records, manifest and attribution."""
    from pathlib import Path

    from pclr_keras.datasets.sample import SampleMissingError, write_sample
    from pclr_keras.outcome import FAILED, USAGE, stop

    if not folder:
        raise argparse.ArgumentError(None, "datasets sample needs a folder to write, "
                                           "e.g. `pclr datasets sample ptbxl_sample/`")
    if Path(folder).exists() and not Path(folder).is_dir():
        stop(USAGE, f"pclr datasets sample: {folder}: is a file; give a folder to write")
    try:
        written = write_sample(folder)
    except SampleMissingError as error:
        stop(FAILED, f"pclr datasets sample: {error}")
    except OSError as error:
        stop(FAILED, f"pclr datasets sample: {error.filename or folder}: "
                     f"{error.strerror or error}")
    print(f"Wrote {written['ecgs']} PTB-XL ECGs to {folder} (CC BY 4.0: see "
          f"{written['folder'] / 'ATTRIBUTION.md'}). Next:\n"
          f"  pclr tensorize --manifest {written['manifest']} --out sample_tensors/")
    return 0
