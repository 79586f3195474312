"""fit(): the data, the options and the route to a Model; see ``mlexpert.fit`` for the options."""
from mlexpert._fit._options import FitOptions
from mlexpert._fit._route import fit

__all__ = ["FitOptions", "fit"]
