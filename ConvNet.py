"""ConvNet.py: the study's dilated-residual CNN (480-640-720-960 channels, GELU, dilated blocks
at 2/4/8, attention-pool head), trained from scratch on one-hot DNA to predict intron retention:

    python ConvNet.py --json json/ConvNet.json -n -t -e
"""

from src.cli import model_script

main = model_script("ConvNet", __doc__)

if __name__ == "__main__":
    main()
