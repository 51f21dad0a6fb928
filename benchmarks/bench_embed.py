"""Bulk embedding: `embed` against the model alone and against ml4h's ways.

All ways run the full-size 12-lead `pclr` encoder (random weights: speed
does not depend on them) on the same ECGs, in one process, one after the
other; each time is the median of `--repeats` runs, and every ratio is
between two ways of the same run.

1. `embed` end to end from a tensorized folder (read the HDF5 rows, forward
   pass, write Parquet) against the model alone on the same ECGs already in
   memory: `encoder.predict(x, batch_size=64)`, and our traced forward pass
   over in-memory batches (what `embed` does without the I/O). Goal: >= 0.9x.
2. ml4h's way, `get_representations`: `load_model(PCLR.h5)` + `predict` on
   all ECGs in memory (their reading not timed), against `embed` given the
   same `.h5` path (loading, reading and writing timed). Goal: >= 1.0x.
3. From raw WFDB files: ml4h's README loop (per file `wfdb.rdrecord`, a
   `np.interp` per lead, `model(ecg)` one ECG at a time) against `embed` on
   the files (read and preprocessed by a thread pool while the model runs).
   Goal: >= 3x; and >= 0.85x of the model alone (traced forward pass on
   in-memory batches) on the same cores.
4. bfloat16 (`--precision bfloat16`; the float32 ways above are bit for
   bit ml4h's numbers): the bfloat16 model alone (traced forward pass) against
   the float32 one, goal >= 1.5x on a CPU with AVX512_BF16 or AMX; and
   `embed` in bfloat16 from the tensorized folder (goal >= 0.9x) and from
   the raw WFDB files (goal >= 0.85x) against the bfloat16 model alone. Its
   representations are checked against the bfloat16 forward pass, and their
   cosine to float32 is printed.
5. Peak memory (`ru_maxrss` of a fresh process) as N grows: `embed` against
   `predict` on all N ECGs in memory. By default with a narrow encoder, to
   keep the run short: what grows is the data, not the model
   (`--memory-model full` for the full-size one).

Data: `--data` a `pclr tensorize` folder (e.g. the README's PTB-XL
command); by default the first PTB-XL `records100` files of
`../shared/data` are tensorized into a temporary folder (a synthetic cohort
when that is absent). Subsets of N ECGs are the first N rows of
`labels.csv`.

    python benchmarks/bench_embed.py [--data DIR] [--ecgs 256] [--raw-ecgs 64]
                                     [--repeats 3] [--memory-ecgs 128,512,2048]
                                     [--ways forward,forward_bf16,embed_bf16,...]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"
NARROW = dict(stem_filters=8, unit_filters=(8, 12, 16, 16))
LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")


# -- data --------------------------------------------------------------------
def prepare_data(args, tmp):
    """(tensorized folder, raw record paths, description)."""
    from pclr_keras.tensorize import TensorizeInput, tensorize

    need = max([args.ecgs, *args.memory_ecgs])
    if args.data:
        labels = pd.read_csv(Path(args.data) / "labels.csv", usecols=["source"])
        raw = [Path(s) for s in labels.source if Path(f"{s}.hea").exists()]
        return Path(args.data), raw[:args.raw_ecgs], f"{args.data}"
    ptbxl = SHARED / "data" / "ptbxl" / "records100"
    if ptbxl.exists():
        records = sorted(ptbxl.rglob("*.hea"))[:need + need // 50 + 8]  # a few are duplicates
        what = "PTB-XL records100 (100 Hz, 10 s)"
    else:
        from pclr_keras.synthetic import write_cohort

        write_cohort(tmp / "records", patients=need // 2 + 1, seed=0)
        records = sorted((tmp / "records").glob("*.hea"))[:need]
        what = f"synthetic cohort ({len(records)} records, 500 Hz; no ../shared/data)"
    print(f"tensorizing {len(records)} records ...", flush=True)
    tensorize([TensorizeInput(str(p)) for p in records], tmp / "tensors", progress=False)
    return tmp / "tensors", records[:args.raw_ecgs], what


def subset(folder, n, tmp):
    """A tensorized folder of the first n ECGs of `folder` (shards linked, not copied)."""
    out = tmp / f"subset-{n}"
    if not out.exists():
        out.mkdir()
        labels = pd.read_csv(folder / "labels.csv", low_memory=False, dtype={"ecg_id": str})
        if len(labels) < n:
            raise SystemExit(f"{folder} holds {len(labels)} ECGs, fewer than {n}; "
                             "lower --ecgs / --memory-ecgs.")
        labels = labels.iloc[:n]
        labels.to_csv(out / "labels.csv", index=False)
        index = pd.read_csv(folder / "index.csv", dtype={"ecg_id": str})
        index[index.ecg_id.isin(set(labels.ecg_id))].to_csv(out / "index.csv", index=False)
        (out / "shards").symlink_to((folder / "shards").resolve())
    return out


# -- the ways ----------------------------------------------------------------
def interleaved_seconds(ways, repeats):
    """{name: [seconds per round]}: every round runs each way once, in turn.

    Interleaving spreads a busy spell of a shared machine over all ways
    rather than over the repeats of one.
    """
    times = {name: [] for name in ways}
    for k in range(repeats):
        for name, run in ways.items():
            start = time.perf_counter()
            run(k)
            times[name].append(time.perf_counter() - start)
    return times


def ml4h_readme_loop(model, records):
    """ml4h's README recipe per file: read, `np.interp` each lead, `model(ecg)`."""
    import wfdb

    out = []
    for record in records:
        signal = wfdb.rdrecord(str(Path(record).with_suffix("")))
        by_name = {name.lower(): signal.p_signal[:, i] for i, name in enumerate(signal.sig_name)}
        ecg = np.zeros((4096, 12))
        for i, lead in enumerate(LEADS):
            samples = by_name[lead.lower()][: int(10 * signal.fs)]
            ecg[:, i] = np.interp(np.linspace(0, 1, 4096), np.linspace(0, 1, len(samples)),
                                  samples)
        out.append(np.asarray(model(ecg[np.newaxis]))[0])
    return np.stack(out)


def timings(args, folder, raw, tmp):
    import keras

    from pclr_keras.export.artifacts import export_encoder
    from pclr_keras.training.tensors import TensorizedECGs
    from pclr_keras.embedding import embed, forward_function
    from pclr_keras.models import build_encoder
    from pclr_keras.precision import with_precision

    keras.utils.set_random_seed(0)
    encoder = build_encoder("pclr")
    encoder_bf16 = with_precision(encoder, "bfloat16")
    h5 = export_encoder(encoder, tmp / "model", name="PCLR", formats=("h5",))["h5"]
    data = subset(folder, args.ecgs, tmp)
    x = TensorizedECGs(data).read_ecgs(np.arange(args.ecgs))
    forward = forward_function(encoder)
    forward_bf16 = forward_function(encoder_bf16)
    encoder.predict(x[:64], batch_size=64, verbose=0)  # trace all before timing
    forward(x[:64])
    forward_bf16(x[:64])
    kw = dict(batch_size=64, progress=False)

    def out(name, k):
        return tmp / f"{name}-{k}.parquet"  # a new file each time: no finished-job shortcut

    n, m = args.ecgs, len(raw)
    kept = {}  # outputs of the first round, compared after timing

    def keep(name, k, value):
        if k == 0:
            kept[name] = value

    def outputs(name):
        return pd.read_parquet(out(name, 0)).filter(like="embed_").to_numpy()

    ways = {
        "predict": (n, lambda k: keep("predict", k, encoder.predict(x, batch_size=64,
                                                                    verbose=0))),
        "forward": (n, lambda k: [forward(x[i:i + 64]) for i in range(0, n, 64)]),
        "embed": (n, lambda k: embed(encoder, data, out("t", k), **kw)),
        "ml4h_load_predict": (n, lambda k: keras.models.load_model(h5, compile=False).predict(
            x, batch_size=64, verbose=0)),
        "embed_h5": (n, lambda k: embed(h5, data, out("h5", k), **kw)),
        "forward_bf16": (n, lambda k: keep("forward_bf16", k, np.concatenate(
            [forward_bf16(x[i:i + 64]) for i in range(0, n, 64)]))),
        "embed_bf16": (n, lambda k: embed(encoder_bf16, data, out("bf16", k), **kw)),
    }
    if m:
        if want(args, "ml4h_loop"):
            ml4h_readme_loop(encoder, raw[:2])  # warm the eager path
        ways["ml4h_loop"] = (m, lambda k: keep("loop", k, ml4h_readme_loop(encoder, raw)))
        ways["embed_raw"] = (m, lambda k: embed(encoder, raw, out("raw", k), **kw))
        ways["embed_raw_bf16"] = (m, lambda k: embed(encoder_bf16, raw, out("raw_bf16", k),
                                                     **kw))
    ways = {name: way for name, way in ways.items() if want(args, name)}
    print(f"timing {n} tensorized ECGs, {m} raw files, {args.repeats} interleaved rounds: "
          f"{', '.join(ways)} ...", flush=True)
    times = interleaved_seconds({k: run for k, (_, run) in ways.items()}, args.repeats)
    # every way computed the same representations
    for name, way in (("t", "embed"), ("h5", "embed_h5")):
        if way in ways and "predict" in ways:
            np.testing.assert_allclose(outputs(name), kept["predict"], rtol=1e-4, atol=1e-4)
    if "embed_raw" in ways and "ml4h_loop" in ways:
        np.testing.assert_allclose(outputs("raw"), kept["loop"], rtol=1e-3, atol=1e-3)
    if "forward_bf16" in ways:
        if "embed_bf16" in ways:
            np.testing.assert_allclose(outputs("bf16"), kept["forward_bf16"], rtol=1e-4,
                                       atol=1e-4)
        reference = np.concatenate([forward(x[i:i + 64]) for i in range(0, n, 64)])
        cosine = np.sum(reference * kept["forward_bf16"], axis=1) / np.linalg.norm(
            reference, axis=1) / np.linalg.norm(kept["forward_bf16"], axis=1)
        print(f"bfloat16 vs float32 representations: cosine min {cosine.min():.6f}, "
              f"max |diff| {np.abs(reference - kept['forward_bf16']).max():.4f}")
    return {name: (count, times[name]) for name, (count, _) in ways.items()}


def want(args, way):
    return not args.ways or way in args.ways


# -- memory ------------------------------------------------------------------
def memory_child(way, folder, model, out):
    """In a fresh process: peak RSS after embedding `folder` one way."""
    from pclr_keras.weights.load import load_encoder
    from pclr_keras.training.tensors import TensorizedECGs
    from pclr_keras.embedding import embed

    if way == "embed":
        embed(model, folder, out, batch_size=64, progress=False)
    else:
        encoder = load_encoder(model)
        ecgs = TensorizedECGs(folder)
        x = ecgs.read_ecgs(np.arange(len(ecgs)))
        encoder.predict(x, batch_size=64, verbose=0)
    print(json.dumps({"peak_mb": peak_rss_mb()}))


def peak_rss_mb():
    """This process's peak resident memory, in MB.

    `VmHWM` where Linux has it: `ru_maxrss` survives `exec`, so a child
    started from a big parent would report the parent's size.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory(args, folder, tmp):
    import keras

    from pclr_keras.export.artifacts import export_encoder
    from pclr_keras.models import build_encoder

    keras.utils.set_random_seed(0)
    sizes = {} if args.memory_model == "full" else NARROW
    model = export_encoder(build_encoder("pclr", **sizes), tmp / "memory-model",
                           name="encoder", formats=("keras",))["keras"]
    peaks = {}
    print(f"peak memory for N = {args.memory_ecgs} ({args.memory_model} encoder) ...",
          flush=True)
    for n in args.memory_ecgs:
        data = subset(folder, n, tmp)
        for way in ("embed", "predict"):
            result = subprocess.run(
                [sys.executable, __file__, "--memory-child", way, str(data), str(model),
                 str(tmp / f"memory-{way}-{n}.parquet")],
                capture_output=True, text=True, check=False)
            if result.returncode:
                raise SystemExit(result.stderr[-3000:])
            peaks[way, n] = json.loads(result.stdout.strip().splitlines()[-1])["peak_mb"]
    return peaks


# -- report ------------------------------------------------------------------
def report_timings(args, what, rows):
    from pclr_keras.precision import auto_precision

    print(f"\nPCLR encoder (full size, 4096 x 12, random weights), {what}; "
          f"median of {args.repeats} runs; {os.cpu_count()} CPU cores; "
          f"precision auto here: {'%s (%s)' % auto_precision()}\n")
    names = {
        "predict": "model alone: encoder.predict(in-memory array)",
        "forward": "model alone: traced forward, in-memory batches",
        "embed": "embed: tensorized HDF5 -> Parquet",
        "ml4h_load_predict": "ml4h: load_model(.h5) + predict(all in memory)",
        "embed_h5": "embed: .h5 path, tensorized HDF5 -> Parquet",
        "ml4h_loop": "ml4h README loop: wfdb, np.interp, model(ecg)",
        "embed_raw": "embed: raw WFDB files -> Parquet",
        "forward_bf16": "bfloat16 model alone: traced forward, in memory",
        "embed_bf16": "embed --precision bfloat16: tensorized HDF5",
        "embed_raw_bf16": "embed --precision bfloat16: raw WFDB files",
    }
    comparisons = [  # (ours, baseline, goal)
        ("embed", "predict", 0.9), ("embed", "forward", 0.9),
        ("embed_h5", "ml4h_load_predict", 1.0), ("embed_raw", "ml4h_loop", 3.0),
        ("embed_raw", "forward", 0.85), ("forward_bf16", "forward", 1.5),
        ("embed_bf16", "forward_bf16", 0.9), ("embed_raw_bf16", "forward_bf16", 0.85)]
    print(f"| {'way':<52} | {'ECGs':>5} | {'s':>6} | {'ECGs/s':>6} |")
    print(f"|{'-' * 54}|{'-' * 6}:|{'-' * 7}:|{'-' * 7}:|")
    for key, (n, times) in rows.items():
        seconds = statistics.median(times)
        print(f"| {names[key]:<52} | {n:>5} | {seconds:6.2f} | {n / seconds:6.1f} |")
    print("\nratio: median over rounds of (our ECGs/s) / (baseline ECGs/s) in the same round\n")
    print(f"| {'ours':<46} | {'baseline':<46} | {'ratio':>6} | {'goal':>6} |")
    print(f"|{'-' * 48}|{'-' * 48}|{'-' * 7}:|{'-' * 7}:|")
    for ours, base, goal in comparisons:
        if ours in rows and base in rows:
            (n_ours, t_ours), (n_base, t_base) = rows[ours], rows[base]
            ratio = statistics.median((n_ours / a) / (n_base / b) for a, b in zip(t_ours, t_base))
            print(f"| {names[ours]:<46} | {names[base]:<46} | {ratio:5.2f}x | {goal:4.2f}x |")


def report_memory(args, peaks):
    if peaks:
        sizes = sorted({n for _, n in peaks})
        print(f"\nPeak RSS (MB, fresh process each; {args.memory_model} encoder, "
              "batch 64; the ECGs alone are N x 196 kB)\n")
        print(f"| {'way':<36} | " + " | ".join(f"{'N=%d' % n:>8}" for n in sizes) +
              f" | {'growth':>15} |")
        print(f"|{'-' * 38}|" + "|".join("-" * 9 + ":" for _ in sizes) + f"|{'-' * 17}:|")
        for way, label in (("embed", "embed (streams)"),
                           ("predict", "predict on all ECGs in memory")):
            values = [peaks[way, n] for n in sizes]
            print(f"| {label:<36} | " + " | ".join(f"{v:8.0f}" for v in values) +
                  f" | {values[-1] - values[0]:12.0f} MB |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="a `pclr tensorize` folder (default: PTB-XL records100)")
    parser.add_argument("--ecgs", type=int, default=256, help="tensorized ECGs timed")
    parser.add_argument("--raw-ecgs", type=int, default=128, help="raw WFDB files timed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--memory-ecgs", default="128,512,2048",
                        help="comma-separated N for the memory table ('' to skip)")
    parser.add_argument("--memory-model", choices=("narrow", "full"), default="narrow")
    parser.add_argument("--ways", default="",
                        help="comma-separated ways to time (default: all), e.g. "
                             "forward,forward_bf16,embed_bf16,embed_raw_bf16")
    parser.add_argument("--memory-child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    args.memory_ecgs = [int(n) for n in args.memory_ecgs.split(",") if n.strip()]
    args.ways = [w for w in args.ways.split(",") if w.strip()]

    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="pclr-bench-embed-") as tmp:
        tmp = Path(tmp)
        folder, raw, what = prepare_data(args, tmp)
        rows = timings(args, folder, raw, tmp)
        report_timings(args, what, rows)
        if args.memory_ecgs:
            print()
            report_memory(args, memory(args, folder, tmp))
    print(f"\n(total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
