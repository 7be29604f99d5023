"""Interpretation: Integrated Gradients, hot-spot windows, motif databases, scanning and
enrichment, and the Attribute.py workflow."""
