"""Sei outputs as features: the feature files Preprocess writes (and their names), reading them
for LR / LightGBM, and feature importance tables."""
