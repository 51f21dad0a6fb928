"""Evaluation: how good a representation is, measured on labelled and unlabelled ECGs.

`probe` (linear probes at several label counts, patient-grouped), `retrieval`
(same-patient nearest neighbours), `report` (`tables` and `plots` in one
folder), `features` (the hand-crafted baseline), `experiment` (all of it in
one command) and `ptbxl/` (the PTB-XL benchmark: linear `protocol` and
end-to-end `finetune`). Import the modules themselves: this package loads
nothing, so that `probe` and `features` stay free of TensorFlow.
"""
