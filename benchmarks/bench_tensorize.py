"""Tensorize throughput: `pclr tensorize` against the loop a user would write.

The naive loop reads each PTB-XL record with `wfdb.rdrecord`, resamples each
lead with `np.interp` to (4096, 12) as ml4h's recipe does, and writes one
HDF5 file at the end, in one process. `tensorize` does that plus validation,
patient index and error report, sharded over processes. Same files, same
run; medians of repeated runs; ratios against the naive loop.

    python benchmarks/bench_tensorize.py [--data ../shared/data] [--files 1000] [--repeats 3]
"""

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import wfdb

from pclr_keras.tensorize import TensorizeInput, TensorizeSettings, tensorize


def naive_loop(records, out_file):
    tensors = []
    for record in records:
        signal = wfdb.rdrecord(str(record)).p_signal
        tensors.append(np.stack([
            np.interp(np.linspace(0, 1, 4096), np.linspace(0, 1, len(lead)), lead)
            for lead in signal.T], axis=1))
    with h5py.File(out_file, "w") as f:
        f.create_dataset("ecg", data=np.stack(tensors).astype(np.float32))


def median_seconds(run, repeats):
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            run(Path(tmp))
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[2] / "shared" / "data"))
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    records = sorted(Path(args.data, "ptbxl", "records100").rglob("*.hea"))[: args.files]
    records = [r.with_suffix("") for r in records]
    inputs = [TensorizeInput(str(r)) for r in records]
    ways = {
        "naive loop: rdrecord + np.interp per lead (baseline)":
            lambda tmp: naive_loop(records, tmp / "ecgs.h5"),
        "pclr tensorize, 1 process":
            lambda tmp: tensorize(inputs, tmp, TensorizeSettings(), workers=1, progress=False),
        "pclr tensorize, all cores":
            lambda tmp: tensorize(inputs, tmp, TensorizeSettings(), progress=False),
    }
    seconds = {name: median_seconds(run, args.repeats) for name, run in ways.items()}
    baseline = next(iter(seconds.values()))
    print(f"{len(records)} PTB-XL records (100 Hz, 10 s, 12 leads) -> (4096, 12) float32 in HDF5; "
          f"median of {args.repeats} runs\n")
    print(f"| {'way':<54} | {'files/s':>8} | {'speed-up':>8} |")
    print(f"|{'-' * 56}|{'-' * 9}:|{'-' * 9}:|")
    for name, value in seconds.items():
        print(f"| {name:<54} | {len(records) / value:8.0f} | {baseline / value:7.1f}x |")


if __name__ == "__main__":
    main()
