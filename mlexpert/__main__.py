"""``python -m mlexpert``: the same command line as ``mlexpert``."""
from mlexpert.cli import main

if __name__ == "__main__":
    main()
