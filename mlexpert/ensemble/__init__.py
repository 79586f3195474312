"""The fitted ensemble below the bundle: its members, their one weighted average, and the payload
file they are saved in."""
from mlexpert.ensemble._ensemble import PARALLEL_ROWS, Ensemble
from mlexpert.ensemble._member import Member
from mlexpert.ensemble._pickle import PAYLOAD, PAYLOAD_V1, read_payload, write_payload

__all__ = ["PARALLEL_ROWS", "PAYLOAD", "PAYLOAD_V1", "Ensemble", "Member", "read_payload",
           "write_payload"]
