"""Data: `final_data.csv`, the splits, one-hot encoding, datasets and tokenised DNA."""
