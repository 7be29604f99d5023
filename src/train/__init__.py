"""Training: the one loop, the model scripts' workflow and specs, checkpoints, and LightGBM."""
