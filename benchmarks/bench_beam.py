"""`pclr embed --runner beam` (DirectRunner, 1 and 2 workers) against `pclr embed`.

All ways embed the same real PTB-XL WFDB files (records100) with the
full-size 12-lead `pclr` encoder (random weights: speed does not depend on
them), one after the other in one run, interleaved over `--repeats` rounds;
ratios are medians over rounds of (Beam ECGs/s) / (`pclr embed` ECGs/s) in
the same round. A Beam run on `--startup-ecgs` files measures the fixed
cost of a pipeline (worker processes, imports, loading and tracing the model
in each worker), which is where most of Beam's overhead goes at this size.

    python benchmarks/bench_beam.py [--ecgs 512] [--repeats 2] [--startup-ecgs 8]
"""

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def records(n):
    folder = SHARED / "data" / "ptbxl" / "records100"
    found = sorted(folder.rglob("*.hea"))[:n]
    if len(found) < n:
        raise SystemExit(f"needs {n} PTB-XL records in {folder}; found {len(found)}.")
    return found


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecgs", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--startup-ecgs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    import keras

    from pclr_keras.artifacts import export_encoder
    from pclr_keras.embedding import embed
    from pclr_keras.models import build_encoder
    from pclr_keras.pipelines import embed_on_beam

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pclr-bench-beam-") as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model = export_encoder(build_encoder("pclr"), tmp / "model", name="PCLR",
                               formats=("keras",))["keras"]
        data = tmp / "ecgs"  # a folder of links: every way walks the same files
        data.mkdir()
        for hea in records(args.ecgs):
            for path in (hea, hea.with_suffix(".dat")):
                (data / path.name).symlink_to(path)
        startup = tmp / "startup"
        startup.mkdir()
        for hea in records(args.startup_ecgs):
            for path in (hea, hea.with_suffix(".dat")):
                (startup / path.name).symlink_to(path)
        kw = dict(batch_size=args.batch_size)
        ways = {
            "embed": (args.ecgs, lambda out: embed(model, [data], out, progress=False, **kw)),
            "beam_1": (args.ecgs, lambda out: embed_on_beam(model, [data], out, workers=1, **kw)),
            "beam_2": (args.ecgs, lambda out: embed_on_beam(model, [data], out, workers=2, **kw)),
            "beam_1_startup": (args.startup_ecgs, lambda out: embed_on_beam(
                model, [startup], out, workers=1, **kw)),
        }
        times = {name: [] for name in ways}
        for k in range(args.repeats):
            for name, (_, run) in ways.items():
                start = time.perf_counter()
                run(tmp / f"{name}-{k}.parquet")
                times[name].append(time.perf_counter() - start)
                print(f"round {k}: {name} {times[name][-1]:.1f} s", flush=True)
        reference = pd.read_parquet(tmp / "embed-0.parquet").set_index("ecg_id").sort_index()
        for name in ("beam_1", "beam_2"):
            rows = pd.read_parquet(tmp / f"{name}-0.parquet").set_index("ecg_id").sort_index()
            assert rows.index.equals(reference.index)
            np.testing.assert_allclose(rows.filter(like="embed_"), reference.filter(like="embed_"),
                                       atol=1e-5, rtol=1e-5)

    print(f"\nfull-size pclr encoder, {args.ecgs} PTB-XL records100 WFDB files, batch "
          f"{args.batch_size}, {os.cpu_count()} cores; median of {args.repeats} rounds\n")
    names = {"embed": "pclr embed (one process, reading threads)",
             "beam_1": "Beam DirectRunner, 1 worker",
             "beam_2": "Beam DirectRunner, 2 workers (multi-processing)",
             "beam_1_startup": f"Beam DirectRunner, 1 worker, {args.startup_ecgs} files"}
    print(f"| {'way':<50} | {'ECGs':>5} | {'s':>6} | {'ECGs/s':>6} | {'vs embed':>8} |")
    print(f"|{'-' * 52}|{'-' * 6}:|{'-' * 7}:|{'-' * 7}:|{'-' * 9}:|")
    for name, (n, _) in ways.items():
        seconds = statistics.median(times[name])
        ratio = statistics.median((n / a) / (args.ecgs / b)
                                  for a, b in zip(times[name], times["embed"]))
        print(f"| {names[name]:<50} | {n:>5} | {seconds:6.1f} | {n / seconds:6.1f} | "
              f"{ratio:7.2f}x |")
    fixed = statistics.median(times["beam_1_startup"])
    per_ecg = (statistics.median(times["beam_1"]) - fixed) / (args.ecgs - args.startup_ecgs)
    print(f"\nBeam, 1 worker: about {fixed:.1f} s fixed per pipeline (start-up), then "
          f"{1000 * per_ecg:.1f} ms per ECG; pclr embed: "
          f"{1000 * statistics.median(times['embed']) / args.ecgs:.1f} ms per ECG in all")
    print(f"(total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
