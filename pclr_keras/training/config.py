"""What decides a pre-training run: `PretrainConfig`, saved as the run's `config.json`.

A resumed run reads its fields back, so their names and meanings stay put;
each objective refuses the settings it cannot train (`Objective.check`).
"""

import dataclasses

import keras

from pclr_keras.precision import resolve_precision
from pclr_keras.training.losses import TEMPERATURE
from pclr_keras.training.objectives import CONTRASTIVE, get_objective
from pclr_keras.variants import parse_lead_set

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "lamb": keras.optimizers.Lamb,
    "sgd": lambda schedule: keras.optimizers.SGD(schedule, momentum=0.9),
}


@dataclasses.dataclass
class PretrainConfig:
    """Everything that decides a pre-training run; saved as `config.json`.

    Args:
        variant: str. Encoder variant (must match the tensorized data).
        objective: str. `pclr` (two ECGs of one patient), `simclr` (two
            augmentations of one ECG), `clocs` (two halves of one
            recording), `autoencoder` (ml4h's CAE) or `supervised` (ml4h's
            Ribeiro classifier on `targets`).
        targets: tuple of str. Binary label columns, for `supervised`.
        batch_size: int. Global batch: pairs (contrastive) or ECGs.
        epochs, steps: int. Length of the run; `steps` wins if both given.
        optimizer: str. `adam` (default, as PCLR), `adamw`, `lamb` (large
            batches) or `sgd` (momentum 0.9), from Keras core.
        learning_rate: float. Peak learning rate.
        warmup_fraction: float. Share of the steps spent warming up linearly
            before the cosine decay.
        temperature: float. NT-Xent temperature (PCLR: 0.1).
        augment: bool. Also augment each view (`augment.py`: crop, amplitude,
            noise, baseline wander, lead drop) for `pclr` and `clocs`;
            `simclr` always augments.
        extra_negatives: int. `pclr` only: ECGs of patients with a single
            ECG added to every global step as negatives only (they form no
            pair, but make the task harder); 0 for none, as PCLR.
        single_ecg_pairs: int. `pclr` only, instead of `extra_negatives`:
            ECGs of patients with a single ECG added to every global step as
            pairs of two augmentations of themselves, so the patients PCLR
            cannot pair (most of PTB-XL) still train the encoder; 0 for
            none, as PCLR.
        lead_mask: float. Chance that each view of each ECG keeps only one
            lead set real devices record, the other leads zero (lead-masked
            pre-training: one checkpoint for any lead set); 0 for none.
        lead_sets: tuple of str. The sets masking draws from
            (`variants.LEAD_SETS` names or comma lists); empty for every
            named set but all 12.
        seed: int. Weights and data order.
        checkpoint_every: int. Steps between checkpoints (also at each
            epoch's end and at the end).
        steps_per_loop: int. Steps run inside one `tf.function` call.
        precision: str. What the step computes in, weights staying float32
            (`pclr_keras.precision`): `float32` (default), `bfloat16` (CPUs
            with AVX512_BF16 or AMX, GPUs from A100 on; no loss scaling),
            `float16` (older GPUs; with dynamic loss scaling) or `auto`
            (resolved when the config is made). Batch norm, `embed`, the
            model's outputs and the loss stay float32; a run resumes only in
            the precision it started with.
        jit_compile: bool. Compile the step with XLA.
        encoder: dict. Overrides for `build_encoder` (e.g. narrow test models).
        init_weights: str. An encoder file (`.h5`, `.keras`, ml4h's) or a
            preset name (`pclr-ptbxl`, `pclr-ml4h`; `pclr presets`) whose
            weights start the run instead of random ones: continued
            pre-training, e.g. of released weights on a hospital's own ECGs.
            The projection head still starts from random weights; a resumed
            run takes everything from its checkpoint.
    """

    variant: str = "pclr"
    objective: str = "pclr"
    targets: tuple = ()
    batch_size: int = 32  # the released recipe (ml4h's; the model card's ablation)
    epochs: int = 10
    steps: int = 0
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    warmup_fraction: float = 0.05
    temperature: float = TEMPERATURE
    augment: bool = False
    extra_negatives: int = 0
    single_ecg_pairs: int = 0
    lead_mask: float = 0.0
    lead_sets: tuple = ()
    seed: int = 0
    checkpoint_every: int = 100
    steps_per_loop: int = 1
    precision: str = "float32"
    jit_compile: bool = False
    encoder: dict = dataclasses.field(default_factory=dict)
    init_weights: str = ""

    def __post_init__(self):
        objective = get_objective(self.objective)
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"Unknown optimizer {self.optimizer!r}; "
                             f"choose from {sorted(OPTIMIZERS)}.")
        objective.check(self)
        if not 0 <= self.lead_mask <= 1:
            raise ValueError(f"lead_mask must be in [0, 1], not {self.lead_mask}.")
        if self.lead_mask and not objective.contrastive:
            raise ValueError(f"lead masking is for the contrastive objectives {CONTRASTIVE}, "
                             f"not {self.objective!r}.")
        self.lead_sets = tuple(self.lead_sets)
        for spec in self.lead_sets:
            parse_lead_set(spec)  # an unknown lead fails here, not mid-run
        self.precision = resolve_precision(self.precision)
