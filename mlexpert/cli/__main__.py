"""`python -m mlexpert.cli`: the same CLI as the `mlexpert` console script."""
from mlexpert.cli import main

if __name__ == "__main__":
    main()
