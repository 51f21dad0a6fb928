"""The PTB-XL benchmark (Strodthoff et al. 2021): `protocol` (frozen representations,
linear models) and `finetune` (whole networks), both on the folds of `pclr_keras.folds`."""
