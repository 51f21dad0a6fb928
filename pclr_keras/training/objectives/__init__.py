"""The pre-training objectives by name: the one list of them.

Each objective is an `Objective` subclass in a module of its own (its
batches, its model, its loss and metrics); adding one is that module and one
line below. Nothing else in the package asks an objective's name.
"""

from pclr_keras.training.objectives.autoencoder import Autoencoder
from pclr_keras.training.objectives.base import Objective
from pclr_keras.training.objectives.clocs import CLOCS
from pclr_keras.training.objectives.pclr import PCLR
from pclr_keras.training.objectives.simclr import SimCLR
from pclr_keras.training.objectives.supervised import Supervised

REGISTRY = {objective.name: objective for objective in (
    PCLR,
    SimCLR,
    CLOCS,
    Autoencoder,
    Supervised,
)}
OBJECTIVES = tuple(REGISTRY)
CONTRASTIVE = tuple(name for name, objective in REGISTRY.items() if objective.contrastive)
ONE_ECG_PATIENTS = tuple(name for name, objective in REGISTRY.items()
                         if objective.one_ecg_patients)


def get_objective(name, among=OBJECTIVES):
    """The `Objective` class registered as `name`, or a ValueError listing `among`."""
    if name not in among:
        raise ValueError(f"Unknown objective {name!r}; choose one of {list(among)}.")
    return REGISTRY[name]


__all__ = ["CONTRASTIVE", "OBJECTIVES", "ONE_ECG_PATIENTS", "REGISTRY", "Objective",
           "get_objective"]
