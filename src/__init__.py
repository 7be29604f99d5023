"""Intron retention from DNA sequence: Sei-based models, baselines and attribution."""

__version__ = "0.1.0"
