"""The fitted ensemble below the bundle: its members and their one weighted average."""
from mlexpert.ensemble._member import Member

__all__ = ["Member"]
