"""Scoring anyone's introns and variants with a trained model (Predict.py).

Modules
-------
sources : streaming readers of the user's inputs (FASTA, the study's CSV, BED6), the crop/pad
    rule for given sequences, and `chunked` for constant-memory batches.
genome : a genome FASTA through pyfaidx (index built beside it when missing), chromosome-name
    reconciliation (chr1 <-> 1, chrM <-> MT), and model-input windows around introns.
variants : the VCF reader (plain or bgzip; multi-allelic records split), REF checks, and the
    alternative-allele windows of SNVs, MNVs and indels at a fixed window length.
output : the resumable, line-at-a-time TSV writer of predictions.
scoring : a trained model (any of the project's) as a scorer: strings -> P(IR) on both strands.
calibration : metrics and reliability of labelled predictions.
explain : Integrated Gradients and motif changes of the strongest variant effects.
workflow : Predict.py's work, its output files (`is_complete`) and the resume rules.

Every item handed to a scorer has `.key` (the values of the output's identifying columns),
`.sequence` (model-input letters, strand orientation, at most the window long: shorter ones are
centred in padding by the study's encoder) and `.note` (what was done to fit the model input, or
""). A scorer's `score(sequences: list[str])` returns P(IR) of each sequence and of its reverse
complement, shape (N, 2).
"""
