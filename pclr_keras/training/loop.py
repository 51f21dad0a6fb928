"""Pre-training: a custom loop on one CPU, one GPU, several GPUs or machines.

`Pretrainer` says *how* to train (strategy, checkpoints, logging, export);
`Objective` classes say *what* a step computes on one replica. The loop is a
`GradientTape` step under `strategy.run`, so the contrastive loss can gather
projections from every replica (negatives from the whole global batch) and
batch norm can synchronise its statistics; the loss is divided by the number
of replicas before gradients are summed across them.

A run's state is the model, the optimizer and the global step. The data
order is a pure function of (seed, step), so the step *is* the input
iterator's position: a run restarted from a checkpoint reads exactly the
batches an uninterrupted run would have read.
"""

import dataclasses
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from pclr_keras.export.artifacts import export_encoder
from pclr_keras.weights.load import load_encoder
from pclr_keras.atomic import write_json
from pclr_keras.folds import guard_selection
from pclr_keras.models import build_encoder
from pclr_keras.weights.resolve import resolve_path as resolve_model, weights_sha256
from pclr_keras.training.config import OPTIMIZERS
from pclr_keras.training.objectives import get_objective
from pclr_keras.training.pairs import check_one_ecg_patients


def build_training_model(config, distributed):
    """The model an objective trains, in the config's precision, and its encoder (to `embed`)."""
    return get_objective(config.objective)(config).training_model(distributed)


def _chief_and_worker(strategy):
    """(is this process the chief, its worker index) under a multi-worker strategy."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True, 0
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = resolver.task_type == "chief" or (
        not has_chief and resolver.task_type == "worker" and resolver.task_id == 0)
    return is_chief, resolver.task_id


class Pretrainer:
    """Runs (or resumes) a pre-training run into an output folder.

    Args:
        config: `PretrainConfig`.
        ecgs: `pclr_keras.training.tensors.TensorizedECGs`, the training ECGs.
        out_dir: str or Path. Checkpoints, TensorBoard logs, `config.json`,
            `history.json` and the exported encoder go here. A folder with
            checkpoints is resumed.
        strategy: a `tf.distribute.Strategy`; default: the current one.
        validation: `TensorizedECGs` of held-out patients, or None. Its
            metrics are what a user chooses checkpoints and recipes by, so
            PTB-XL's test fold is refused there (`pclr_keras.folds`).
        allow_test_fold: bool. Warn instead of refusing fold-10 ECGs in
            `validation`.
    """

    def __init__(self, config, ecgs, out_dir, strategy=None, validation=None,
                 allow_test_fold=False):
        if validation is not None:
            guard_selection(validation.labels, "The validation set (--val-filter)",
                            allow_test_fold=allow_test_fold)
        self.config = config
        self.ecgs = ecgs
        self.validation = validation
        self.strategy = strategy or tf.distribute.get_strategy()
        self.is_chief, worker = _chief_and_worker(self.strategy)
        # Every worker writes checkpoints (saving is collective), the chief into out_dir.
        self.out_dir = Path(out_dir) if self.is_chief else Path(out_dir) / f".worker-{worker}"
        self.replicas = self.strategy.num_replicas_in_sync
        self.objective = get_objective(config.objective)(config)
        self.steps_per_epoch = self.objective.steps_per_epoch(ecgs)
        self.total_steps = config.steps or config.epochs * self.steps_per_epoch
        check_one_ecg_patients(ecgs, config.objective, config.extra_negatives,
                               config.single_ecg_pairs)
        keras.utils.set_random_seed(config.seed)
        with self.strategy.scope():
            self.model, self.encoder = self.objective.training_model(self.replicas > 1)
            self.optimizer = self._build_optimizer()
            self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="global_step")
        self.checkpoint = tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.out_dir / "checkpoints", max_to_keep=3)
        if self.manager.latest_checkpoint is not None:
            self._check_resumed_precision()
        # Only a fresh run reads init_weights: a resumed one needs its checkpoint alone,
        # and keeps the hash its first start recorded.
        self._init_weights_sha256 = None
        if config.init_weights and self.manager.latest_checkpoint is None:
            self._load_init_weights(config.init_weights)
            self._init_weights_sha256 = weights_sha256(resolve_model(config.init_weights))
        elif config.init_weights:
            self._init_weights_sha256 = self._load_json("config.json").get("init_weights_sha256")

    def _load_init_weights(self, path):
        """Starts the encoder from another encoder's weights, shape for shape."""
        source = load_encoder(path).get_weights()
        target = self.encoder.get_weights()
        shapes = [w.shape for w in source], [w.shape for w in target]
        if shapes[0] != shapes[1]:
            raise ValueError(
                f"--init-weights {path}: its encoder ({len(source)} weights, "
                f"{sum(w.size for w in source):,} parameters) is not the one this run builds "
                f"(variant {self.config.variant!r}, {len(target)} weights, "
                f"{sum(w.size for w in target):,} parameters).")
        self.encoder.set_weights(source)

    def _check_resumed_precision(self):
        """A run's checkpoints continue only in the precision that wrote them."""
        recorded = self._load_json("config.json")
        started = recorded.get("precision",
                               "float16" if recorded.get("mixed_precision") else "float32")
        if started != self.config.precision:
            raise ValueError(
                f"{self.out_dir} was started in precision {started}; resume it with "
                f"--precision {started}, or start a new run in another --out to train in "
                f"{self.config.precision}.")

    def _build_optimizer(self):
        warmup = int(self.config.warmup_fraction * self.total_steps)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0 if warmup else self.config.learning_rate,
            decay_steps=max(1, self.total_steps - warmup),
            warmup_target=self.config.learning_rate if warmup else None,
            warmup_steps=warmup)
        optimizer = OPTIMIZERS[self.config.optimizer](schedule)
        if self.config.precision == "float16":  # bfloat16 has float32's range: no scaling
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(self.model.trainable_variables)
        return optimizer

    # --- what one replica computes -------------------------------------------------
    def _replica_step(self, batch):
        with tf.GradientTape() as tape:
            loss, accuracy = self.objective.losses_and_metrics(self.model, batch, training=True)
            scaled = loss / self.replicas
            if self.config.precision == "float16":
                scaled = self.optimizer.scale_loss(scaled)
        variables = self.model.trainable_variables
        gradients = tape.gradient(scaled, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return loss, tf.cast(accuracy, tf.float32)

    # --- how the loop runs ---------------------------------------------------------
    def _dataset(self, start_step):
        return self.strategy.distribute_datasets_from_function(
            lambda context: self.objective.dataset(self.ecgs, start_step, context))

    def train_function(self):
        """A traced `train_steps(iterator, count)`: `count` steps in one call.

        Benchmarks time it.
        """
        replica_step = tf.function(self._replica_step, jit_compile=self.config.jit_compile) \
            if self.config.jit_compile else self._replica_step

        @tf.function
        def train_steps(iterator, count):
            loss = accuracy = tf.constant(0.0)
            for _ in tf.range(count):
                losses, accuracies = self.strategy.run(replica_step, args=(next(iterator),))
                loss = self.strategy.reduce("MEAN", losses, axis=None)
                accuracy = self.strategy.reduce("MEAN", accuracies, axis=None)
                self.step.assign_add(1)
            return loss, accuracy

        return train_steps

    def evaluate(self, ecgs, batches=None):
        """Mean loss and pair accuracy on `ecgs` (e.g. held-out patients)."""
        dataset = self.objective.evaluation_dataset(ecgs)
        # Several epochs of held-out pairs: one epoch of a small cohort is a noisy estimate.
        batches = batches or max(4, self.objective.steps_per_epoch(ecgs))
        results = [self.objective.losses_and_metrics(self.model, batch, training=False)
                   for batch in dataset.take(batches)]
        return {"loss": float(np.mean([float(loss) for loss, _ in results])),
                "pair_accuracy": float(np.mean([float(acc) for _, acc in results]))}

    def fit(self, progress=True):
        """Trains until `total_steps`, resuming from the latest checkpoint.

        Returns:
            dict with the final training loss and pair accuracy, and the
            held-out metrics before and after when `validation` is given.
        """
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._save_config()
        restored = self.manager.restore_or_initialize()
        history = self._load_history() if restored else {"train": [], "validation": []}
        if self.validation is not None and not history["validation"]:
            history["validation"].append({"step": 0, **self.evaluate(self.validation)})
        start = int(self.step.numpy())
        iterator = iter(self._dataset(start))
        train_steps = self.train_function()
        writer = tf.summary.create_file_writer(str(self.out_dir / "logs"))
        with tqdm(total=self.total_steps, initial=start, unit="step", desc="pre-training",
                  disable=not progress) as bar, writer.as_default():
            while int(self.step.numpy()) < self.total_steps:
                step = int(self.step.numpy())
                count = min(self.config.steps_per_loop, self.total_steps - step,
                            self._steps_to_checkpoint(step))
                began = time.perf_counter()
                loss, accuracy = train_steps(iterator, tf.constant(count))
                seconds = time.perf_counter() - began
                step += count
                record = self._log(step, float(loss), float(accuracy),
                                   count * self.objective.ecgs_per_step / seconds)
                history["train"].append(record)
                bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['pair_accuracy']:.2f}")
                bar.update(count)
                if step % self.config.checkpoint_every == 0 or \
                        step % self.steps_per_epoch == 0 or step == self.total_steps:
                    self._checkpoint(step, history)
        if self.validation is not None and history["validation"][-1]["step"] != self.total_steps:
            history["validation"].append({"step": self.total_steps,
                                          **self.evaluate(self.validation)})
            write_json(self.out_dir / "history.json", history)
        self.export()
        final = history["train"][-1] if history["train"] else {}
        return {"train": final, "validation": history["validation"]}

    def _steps_to_checkpoint(self, step):
        """Steps until the next checkpoint: every N steps and at each epoch end."""
        to_periodic = self.config.checkpoint_every - step % self.config.checkpoint_every
        to_epoch_end = self.steps_per_epoch - step % self.steps_per_epoch
        return min(to_periodic, to_epoch_end)

    def _log(self, step, loss, accuracy, ecgs_per_second):
        learning_rate = float(self.optimizer.learning_rate)
        tf.summary.scalar("loss", loss, step=step)
        if not np.isnan(accuracy):
            tf.summary.scalar("pair_accuracy", accuracy, step=step)
        tf.summary.scalar("learning_rate", learning_rate, step=step)
        tf.summary.scalar("ecgs_per_second", ecgs_per_second, step=step)
        return {"step": step, "loss": loss, "pair_accuracy": accuracy,
                "learning_rate": learning_rate, "ecgs_per_second": ecgs_per_second}

    def _checkpoint(self, step, history):
        self.manager.save(checkpoint_number=step)
        write_json(self.out_dir / "history.json", history)

    def _save_config(self):
        config = dataclasses.asdict(self.config)
        if self._init_weights_sha256:  # which file started the run, not just its name
            config["init_weights_sha256"] = self._init_weights_sha256
        write_json(self.out_dir / "config.json", config)

    def _load_json(self, name):
        path = self.out_dir / name
        return json.loads(path.read_text()) if path.exists() else {}

    def _load_history(self):
        return self._load_json("history.json") or {"train": [], "validation": []}

    def export(self, name="PCLR"):
        """Writes the encoder (without synchronised BN or head) as `.h5`, `.keras`
        and a TF Serving SavedModel into the output folder."""
        policy = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy("float32")  # artifacts compute in float32
        try:
            encoder = build_encoder(self.config.variant, **self.config.encoder)
        finally:
            keras.mixed_precision.set_global_policy(policy)
        encoder.set_weights(self.encoder.get_weights())
        return export_encoder(encoder, self.out_dir, name=name)
