"""`pclr embed --runner beam` (DirectRunner, 1 and 2 workers) against `pclr embed`.

All ways embed the same real PTB-XL WFDB files (records100) with the
full-size 12-lead `pclr` encoder (random weights: speed does not depend on
them) in the same `--precision`, one after the other in one run, interleaved
over `--repeats` rounds; ratios are medians over rounds of (Beam ECGs/s) /
(`pclr embed` ECGs/s) in the same round. Both are also run on
`--startup-ecgs` files, which measures each one's fixed cost (for Beam:
worker processes, imports, loading and tracing the model in each worker);
the per-ECG cost is what the full run takes beyond it.

    python benchmarks/bench_beam.py [--records DIR] [--ecgs 512 | --ecgs 0 (all)]
        [--precision float32] [--repeats 2] [--startup-ecgs 8] [--ways embed,beam_1,...]
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


WAYS = ("embed", "beam_1", "beam_2")


def records(folder, n):
    """The first `n` WFDB headers under `folder` (all of them when `n` is 0)."""
    found = sorted(Path(folder).rglob("*.hea"))
    if n and len(found) < n:
        raise SystemExit(f"needs {n} WFDB records in {folder}; found {len(found)}.")
    return found[:n] if n else found


def check_same(ours, reference, precision):
    """Beam's representations are `pclr embed`'s: to 1e-5 in float32; in 16 bits, where
    an ECG's result depends on which batch it shared, cosine >= 0.9999 for every ECG."""
    if precision == "float32":
        np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=1e-5)
        return
    cosine = (ours * reference).sum(axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(reference, axis=1) + 1e-12)
    assert cosine.min() >= 0.9999, f"cosine to pclr embed's as low as {cosine.min():.6f}"


def link_folder(folder, headers):
    """A flat folder of links to `headers` and their signal files: every way walks the same."""
    folder.mkdir()
    for hea in headers:
        for path in (hea, hea.with_suffix(".dat")):
            (folder / path.name).symlink_to(path)
    return folder


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", default=str(SHARED / "data" / "ptbxl" / "records100"),
                        help="a folder of WFDB records (default: the PTB-XL sample's records100)")
    parser.add_argument("--ecgs", type=int, default=512, help="files timed; 0 for all")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--startup-ecgs", type=int, default=8,
                        help="files of the start-up runs, which measure the fixed cost")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--precision", default="float32",
                        choices=("float32", "bfloat16", "float16", "auto"),
                        help="what both sides compute in")
    parser.add_argument("--ways", default=",".join(WAYS),
                        help=f"comma-separated, `embed` first (default: {','.join(WAYS)})")
    args = parser.parse_args()
    chosen = args.ways.split(",")
    if chosen[0] != "embed" or not set(chosen) <= set(WAYS):
        raise SystemExit(f"--ways: `embed` first, then any of {', '.join(WAYS[1:])}")

    import keras

    from pclr_keras.export.artifacts import export_encoder
    from pclr_keras.embedding import embed
    from pclr_keras.models import build_encoder
    from pclr_keras.pipelines import embed_on_beam

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pclr-bench-beam-") as tmp:
        tmp = Path(tmp)
        keras.utils.set_random_seed(0)
        model = export_encoder(build_encoder("pclr"), tmp / "model", name="PCLR",
                               formats=("keras",))["keras"]
        headers = records(args.records, args.ecgs)
        n_ecgs = len(headers)
        data = link_folder(tmp / "ecgs", headers)
        startup = link_folder(tmp / "startup", headers[:args.startup_ecgs])
        kw = dict(batch_size=args.batch_size, precision=args.precision)
        run_way = {
            "embed": lambda folder, out: embed(model, [folder], out, progress=False, **kw),
            "beam_1": lambda folder, out: embed_on_beam(model, [folder], out, workers=1, **kw),
            "beam_2": lambda folder, out: embed_on_beam(model, [folder], out, workers=2, **kw),
        }
        ways = {}
        for name in chosen:
            ways[name] = (n_ecgs, data, run_way[name])
            if name != "beam_2":
                ways[f"{name}_startup"] = (args.startup_ecgs, startup, run_way[name])
        times = {name: [] for name in ways}
        for k in range(args.repeats):
            for name, (_, folder, run) in ways.items():
                start = time.perf_counter()
                run(folder, tmp / f"{name}-{k}.parquet")
                times[name].append(time.perf_counter() - start)
                print(f"round {k}: {name} {times[name][-1]:.1f} s", flush=True)
        reference = pd.read_parquet(tmp / "embed-0.parquet").set_index("ecg_id").sort_index()
        for name in chosen[1:]:
            rows = pd.read_parquet(tmp / f"{name}-0.parquet").set_index("ecg_id").sort_index()
            assert rows.index.equals(reference.index)
            check_same(rows.filter(like="embed_").to_numpy(),
                       reference.filter(like="embed_").to_numpy(), args.precision)

    print(f"\nfull-size pclr encoder, {n_ecgs} WFDB files of {args.records}, batch "
          f"{args.batch_size}, precision {args.precision}, {os.cpu_count()} cores; "
          f"median of {args.repeats} rounds\n")
    names = {"embed": "pclr embed (one process, reading threads)",
             "beam_1": "Beam DirectRunner, 1 worker",
             "beam_2": "Beam DirectRunner, 2 workers (multi-processing)"}
    print(f"| {'way':<62} | {'ECGs':>5} | {'s':>7} | {'ECGs/s':>6} | {'vs embed':>8} |")
    print(f"|{'-' * 64}|{'-' * 6}:|{'-' * 8}:|{'-' * 7}:|{'-' * 9}:|")
    for name, (n, _, _) in ways.items():
        label = names.get(name) or f"{names[name[:-len('_startup')]]}, {n} files (start-up)"
        seconds = statistics.median(times[name])
        ratio = statistics.median((n / a) / (n_ecgs / b)
                                  for a, b in zip(times[name], times["embed"]))
        print(f"| {label:<62} | {n:>5} | {seconds:7.1f} | {n / seconds:6.1f} | {ratio:7.2f}x |")
    per_ecg = {}
    for name in chosen:
        if f"{name}_startup" in times:
            fixed = statistics.median(times[f"{name}_startup"])
            per_ecg[name] = (statistics.median(times[name]) - fixed) / (n_ecgs - args.startup_ecgs)
            print(f"\n{names[name]}: {fixed:.1f} s fixed (start-up), then "
                  f"{1000 * per_ecg[name]:.2f} ms per ECG")
    if "beam_1" in per_ecg:
        print(f"\nper-ECG cost, pclr embed / Beam 1 worker: "
              f"{per_ecg['embed'] / per_ecg['beam_1']:.2f}x (goal >= 0.95x)")
    print(f"(total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
