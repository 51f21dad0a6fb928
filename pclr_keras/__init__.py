"""pclr-keras: Patient Contrastive Learning of Representations for ECGs, in Keras 3."""

__version__ = "0.1.0"

from pclr_keras.variants import STANDARD_LEADS, VARIANTS, get_variant
from pclr_keras.models import (
    RIBEIRO_TARGETS,
    build_autoencoder,
    build_encoder,
    build_pretraining_model,
    build_ribeiro_classifier,
)
from pclr_keras.losses import nt_xent, pair_accuracy, simclr_accuracy, simclr_loss
