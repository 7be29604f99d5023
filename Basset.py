"""Basset.py: the study's Basset-like CNN, trained from scratch on one-hot DNA to predict intron
retention (three conv layers, three linear layers; architecture in the JSON block
model_architecture). Train and evaluate with

    python Basset.py --json json/Basset.json -n -t -e
"""

from src.cli import model_script

main = model_script("Basset", __doc__)

if __name__ == "__main__":
    main()
