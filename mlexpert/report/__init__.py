"""The model card: a self-contained HTML report of a bundle (``mlexpert report``)."""
from mlexpert.report._card import build_card, read_notes, write_card

__all__ = ["build_card", "read_notes", "write_card"]
