"""The fitted ensemble below the bundle: its members, their one weighted average, and the payload
file they are saved in."""
from mlexpert.ensemble._ensemble import HOT_CALLS, PARALLEL_ROWS, SMALL_BATCH, Ensemble, Weighting
from mlexpert.ensemble._member import Member
from mlexpert.ensemble._pickle import PAYLOAD, PAYLOAD_V1, read_payload, write_payload
from mlexpert.ensemble._shipped import SHIPPED, with_shipped_predictions

__all__ = ["HOT_CALLS", "PARALLEL_ROWS", "SMALL_BATCH", "PAYLOAD", "PAYLOAD_V1", "SHIPPED", "Ensemble", "Member", "Weighting",
           "read_payload", "with_shipped_predictions", "write_payload"]
