"""The compiled one-row path built inside fit's time limit, so the first small predictions
after fit take it: the limit holds back a share for it (``compile_seconds``), and fit builds
the numpy path, then waits for the ONNX graph while the limit lasts (``compile_within``)."""
from __future__ import annotations

import time

from mlexpert._system import switched_off
from mlexpert.bundle import Model

# star_math's 22 fold and refit models (60 s): numpy path 0.5 s to build and verify, the graph
# 3.2 s to convert and 0.3 s to load into onnxruntime; a large ensemble's graph takes 30 s. The
# share is what the numpy path needs at 60 s (the graph mostly goes on in the background): at
# 5 % the dev pool's scores moved against the session before on 10 of 13 tasks that changed
COMPILE_SHARE = 0.025
COMPILE_MAX_SECONDS = 15.0
# below this the numpy build itself (up to ~1 s with its verification) could overrun the limit:
# the path is then built by the first small predict calls, as after ``load``
COMPILE_MIN_SECONDS = 1.0
# ...plus this many one-row calls through the members (the verification's reference answers
# and the members' own time): 1.1 s a call for benefits_ui's HistGradientBoosting bag on a busy
# machine, where the build's first stage took 4-8 s
MEMBER_CALLS = 5
# set to 0 / off / false / no: fit leaves the compiled path to the first small predict calls
# (as after ``load``), e.g. where many models are fitted and few predict one row at a time
COMPILE_ENV = "MLEXPERT_COMPILE_IN_FIT"


def compile_seconds(time_limit: float) -> float:
    """Seconds of ``time_limit`` the search and the work after it leave for the build."""
    return min(COMPILE_SHARE * float(time_limit), COMPILE_MAX_SECONDS)


def compile_within(model: Model, end: float) -> Model:
    """``model`` with its compiled path built where time to the monotonic ``end`` allows,
    waiting for the graph while the time limit lasts (``Model.compile(timeout=)``: a graph
    not converted by then goes on in the background). A search that ended early leaves more
    than the share held back, and the limit is the user's: email_spam's 60 s fit ended at
    40 s with its graph 1.6 s from done, and 200 one-row predicts right after took 6.6 ms each
    (median) on the numpy path, 2.4 ms once the graph was in."""
    if switched_off(COMPILE_ENV):
        return model
    members_ms = (model.manifest.inference or {}).get("latency_ms_per_row") or 0.0
    left = end - time.monotonic()
    if left >= COMPILE_MIN_SECONDS + MEMBER_CALLS * members_ms / 1000.0:
        model.compile(timeout=left)
    return model
