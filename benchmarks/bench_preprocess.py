"""Preprocessing speed: pclr_keras against ml4h's per-lead `process_ecg` loop.

Both turn the same 10 s, 12-lead, 500 Hz ECGs into (4096, 12) inputs. ml4h's
way is one `np.interp` call per lead per ECG (its model_zoo README recipe);
ours resamples every lead of a batch in one gather. Prints a table of the
median time per ECG over repeated runs, and the speed-up against ml4h's way
measured in the same run.

    python benchmarks/bench_preprocess.py [--ecgs 512] [--repeats 5]
"""

import argparse
import statistics
import time

import numpy as np

from pclr_keras.preprocess import preprocess_batch, preprocess_ecg
from pclr_keras.variants import STANDARD_LEADS


def ml4h_process_ecg(ecg):
    """ml4h's recipe: a (4096, 12) array filled one `np.interp` lead at a time."""
    out = np.zeros((4096, 12))
    for i, lead in enumerate(STANDARD_LEADS):
        samples = ecg[lead]
        out[:, i] = np.interp(np.linspace(0, 1, 4096), np.linspace(0, 1, len(samples)), samples)
    return out


def synthetic_ecgs(count, samples=5000, seed=0):
    """ECG-like signals in mV: QRS-like spikes every 0.8 s plus noise and drift."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / 500.0
    beats = sum(np.exp(-((t - c) / 0.01) ** 2) for c in np.arange(0.3, 10, 0.8))
    gains = rng.uniform(0.3, 1.5, size=(count, 1, 12))
    drift = 0.1 * np.sin(2 * np.pi * 0.3 * t)[None, :, None]
    return beats[None, :, None] * gains + drift + rng.normal(scale=0.02, size=(count, samples, 12))


def median_seconds(run, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ecgs", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    batch = synthetic_ecgs(args.ecgs)
    dicts = [dict(zip(STANDARD_LEADS, ecg.T)) for ecg in batch]
    leads = list(STANDARD_LEADS)
    ways = {
        "ml4h process_ecg loop (baseline)": lambda: [ml4h_process_ecg(e) for e in dicts],
        "pclr_keras preprocess_ecg, one ECG at a time": lambda: [
            preprocess_ecg(e, fs=500, lead_names=leads) for e in batch],
        "pclr_keras preprocess_batch, 64 per call": lambda: [
            preprocess_batch(batch[i:i + 64], fs=500, lead_names=leads)
            for i in range(0, len(batch), 64)],
    }
    np.testing.assert_allclose(  # same numbers before comparing speed
        preprocess_batch(batch[:4], 500, leads), np.stack([ml4h_process_ecg(e) for e in dicts[:4]]),
        rtol=1e-5, atol=1e-5)
    seconds = {name: median_seconds(run, args.repeats) for name, run in ways.items()}
    baseline = seconds["ml4h process_ecg loop (baseline)"]
    print(f"{args.ecgs} ECGs of 10 s x 12 leads at 500 Hz -> (4096, 12); "
          f"median of {args.repeats} runs; our checks (NaN, flat, units) included\n")
    print(f"| {'way':<46} | {'ms / ECG':>8} | {'speed-up':>8} |")
    print(f"|{'-' * 48}|{'-' * 10}:|{'-' * 10}:|")
    for name, value in seconds.items():
        print(f"| {name:<46} | {1000 * value / args.ecgs:8.3f} | {baseline / value:7.1f}x |")


if __name__ == "__main__":
    main()
