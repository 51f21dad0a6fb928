"""Training throughput: our contrastive step against ml4h's `compile` + `fit` way.

Both train the full PCLR pre-training model (encoder + projection head) with
Adam on the same in-memory batches of 2 x B ECGs (B pairs, 4096 x 12):
ml4h's way is `model.compile(loss=simclr_loss)` and `model.fit`; ours is
`Pretrainer`'s GradientTape step under a distribution strategy, one step per
call and several steps per `tf.function` call. The input pipeline is timed
alone on tensorized data when `--data` is given, to compare what it can
deliver with what a step consumes. Medians of repeated timings, ratios
against ml4h's way in the same run.

Our step in bfloat16 (`--precision bfloat16`) is timed against our float32
step, the two alternating step by step so that a busy spell of a shared
machine hits both; the ratio is the median of the per-round ratios (goal
>= 1.4x on a CPU with AVX512_BF16 or AMX). `--precision-only` times just
these two.

    python benchmarks/bench_training.py [--batch 32] [--steps 6] [--data TENSORIZED_DIR]
                                        [--precision-only]
"""

import argparse
import statistics
import time

import keras
import numpy as np
import tensorflow as tf

from pclr_keras.training.losses import simclr_accuracy, simclr_loss
from pclr_keras.training import PretrainConfig, Pretrainer


class InMemoryECGs:
    """Just enough of `TensorizedECGs` for the Pretrainer to size a long run."""

    def __init__(self, patients):
        self.pair_patients = list(range(patients))


def ml4h_fit_seconds_per_step(views, steps):
    from pclr_keras.models import build_encoder, build_pretraining_model

    keras.utils.set_random_seed(0)
    model = build_pretraining_model(build_encoder("pclr"))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=simclr_loss,
                  metrics=[simclr_accuracy])
    batch = np.concatenate(views)
    x = np.concatenate([batch] * (steps + 1))
    y = np.zeros((len(x), 320), np.float32)
    times = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch_index, logs=None):
            self.began = time.perf_counter()

        def on_train_batch_end(self, batch_index, logs=None):
            times.append(time.perf_counter() - self.began)

    model.fit(x, y, batch_size=len(batch), epochs=1, shuffle=False, verbose=0,
              callbacks=[Timer()])
    return statistics.median(times[1:])  # the first step traces the graph


def our_timed_step(views, steps_per_loop, jit_compile=False, precision="float32"):
    """A callable running one call of our step function; returns seconds per step."""
    pairs = len(views[0])
    config = PretrainConfig(batch_size=pairs, steps=10_000, steps_per_loop=steps_per_loop,
                            jit_compile=jit_compile, precision=precision)
    trainer = Pretrainer(config, InMemoryECGs(pairs * 10_000), "/tmp/pclr_bench_unused")
    dataset = tf.data.Dataset.from_tensors(tuple(tf.constant(v) for v in views)).repeat()
    iterator = iter(trainer.strategy.experimental_distribute_dataset(dataset))
    train_steps = trainer.train_function()
    train_steps(iterator, tf.constant(steps_per_loop))  # trace

    def timed():
        began = time.perf_counter()
        loss, _ = train_steps(iterator, tf.constant(steps_per_loop))
        float(loss)
        return (time.perf_counter() - began) / steps_per_loop

    return timed


def our_seconds_per_step(views, steps, steps_per_loop, jit_compile=False):
    timed = our_timed_step(views, steps_per_loop, jit_compile)
    return statistics.median(timed() for _ in range(max(1, steps // steps_per_loop)))


def precision_rounds(views, steps):
    """Per-step seconds of float32 and bfloat16, alternating: ({name: [s]}, median ratio)."""
    steps_of = {"float32": our_timed_step(views, 1),
                "bfloat16": our_timed_step(views, 1, precision="bfloat16")}
    times = {name: [] for name in steps_of}
    for _ in range(steps):
        for name, timed in steps_of.items():
            times[name].append(timed())
    ratio = statistics.median(a / b for a, b in zip(times["float32"], times["bfloat16"]))
    return times, ratio


def pipeline_pairs_per_second(data, batch, steps):
    from pclr_keras.training.pairs import pretraining_dataset
    from pclr_keras.training.tensors import TensorizedECGs

    dataset = pretraining_dataset(TensorizedECGs(data), batch, seed=0)
    iterator = iter(dataset)
    next(iterator)
    began = time.perf_counter()
    for _ in range(steps):
        next(iterator)
    return steps * batch / (time.perf_counter() - began)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32, help="pairs per step")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--data", help="a `pclr tensorize` folder, to time the input pipeline")
    parser.add_argument("--xla", action="store_true", help="also time our step under XLA")
    parser.add_argument("--precision-only", action="store_true",
                        help="time only our float32 and bfloat16 steps")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    views = [rng.normal(scale=0.3, size=(args.batch, 4096, 12)).astype(np.float32)
             for _ in range(2)]
    ecgs = 2 * args.batch
    times, ratio = precision_rounds(views, args.steps)
    print(f"PCLR pre-training step, {args.batch} pairs ({ecgs} ECGs of 4096 x 12), "
          f"float32 and bfloat16 alternating, median of {args.steps} steps each\n")
    print(f"| {'precision':<10} | {'s / step':>8} | {'ECGs/s':>7} |")
    print(f"|{'-' * 12}|{'-' * 9}:|{'-' * 8}:|")
    for name, values in times.items():
        value = statistics.median(values)
        print(f"| {name:<10} | {value:8.2f} | {ecgs / value:7.1f} |")
    print(f"\nbfloat16 vs float32 step: {ratio:.2f}x (median of per-round ratios; "
          "goal >= 1.4x where the CPU has AVX512_BF16 or AMX)\n")
    if args.precision_only:
        return
    seconds = {"ml4h: compile(loss=simclr_loss) + fit (baseline)":
               ml4h_fit_seconds_per_step(views, args.steps)}
    seconds["pclr_keras Pretrainer step, 1 step per call"] = \
        our_seconds_per_step(views, args.steps, 1)
    seconds["pclr_keras Pretrainer step, 3 steps per call"] = \
        our_seconds_per_step(views, args.steps, 3)
    if args.xla:
        seconds["pclr_keras Pretrainer step, XLA"] = \
            our_seconds_per_step(views, args.steps, 1, jit_compile=True)
    baseline = next(iter(seconds.values()))
    print(f"PCLR pre-training model, {args.batch} pairs ({ecgs} ECGs of 4096 x 12) per step, "
          f"median of {args.steps} steps\n")
    print(f"| {'way':<50} | {'s / step':>8} | {'ECGs/s':>7} | {'vs ml4h':>7} |")
    print(f"|{'-' * 52}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|")
    for name, value in seconds.items():
        print(f"| {name:<50} | {value:8.2f} | {ecgs / value:7.1f} | {baseline / value:6.2f}x |")
    if args.data:
        pairs = pipeline_pairs_per_second(args.data, args.batch, args.steps * 3)
        step_pairs = args.batch / min(seconds.values())
        print(f"\ninput pipeline alone: {pairs:.0f} pairs/s; the fastest step consumes "
              f"{step_pairs:.1f} pairs/s: {pairs / step_pairs:.0f}x headroom")


if __name__ == "__main__":
    main()
