"""Running the app on uvicorn: one process, or several workers that each load the model."""
from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import tempfile
from dataclasses import asdict
from typing import Any

from mlexpert.errors import ConfigError, bad_option
from mlexpert.serve._settings import ServeSettings

CONFIG_ENV = "MLEXPERT_SERVE_CONFIG"  # how the parent hands source and settings to workers
GRACEFUL_SECONDS = 30  # SIGTERM: in-flight requests get this long to finish


def _load(source: str) -> Any:
    import mlexpert

    return mlexpert.load(source)


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging plus ours: JSON access lines (the message is the JSON) on stderr."""
    from uvicorn.config import LOGGING_CONFIG

    cfg = copy.deepcopy(LOGGING_CONFIG)
    cfg["formatters"]["mlexpert"] = {"format": "%(levelname)s %(name)s: %(message)s"}
    cfg["formatters"]["json_line"] = {"format": "%(message)s"}
    cfg["handlers"]["mlexpert"] = {"class": "logging.StreamHandler", "formatter": "mlexpert",
                                   "stream": "ext://sys.stderr"}
    cfg["handlers"]["mlexpert_access"] = {"class": "logging.StreamHandler",
                                          "formatter": "json_line", "stream": "ext://sys.stderr"}
    cfg["loggers"]["mlexpert.serve"] = {"handlers": ["mlexpert"], "level": level.upper(),
                                        "propagate": False}
    cfg["loggers"]["mlexpert.serve.access"] = {"handlers": ["mlexpert_access"],
                                               "level": level.upper(), "propagate": False}
    cfg["loggers"]["mlexpert.serve.predictions"] = {"handlers": ["mlexpert_access"],
                                                    "level": level.upper(), "propagate": False}
    return cfg


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port} ({exc.strerror}); pass another "
                              "--port or --host.") from None


def serve(source: str, *, host: str = "127.0.0.1", port: int = 8000, workers: int = 1,
          settings: ServeSettings | None = None, log_level: str = "info",
          challenger: str | None = None) -> None:
    """Load ``source`` (whatever ``mlexpert.load`` accepts) and serve it until SIGTERM/Ctrl-C.

    Several ``workers`` each load the model (uvicorn's process manager); metrics are then added
    up across them. SIGTERM stops accepting connections and lets in-flight requests finish.
    ``challenger``: a second source sharing the traffic (``settings.mode``); one worker only,
    since the feedback ledger that joins labels to both models' predictions is in its memory.
    """
    import uvicorn

    settings = settings or ServeSettings()
    if not isinstance(workers, int) or workers < 1:
        raise bad_option("--workers", workers, "a positive integer")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise bad_option("--port", port, "an integer from 0 to 65535")
    if log_level not in ("critical", "error", "warning", "info", "debug"):
        raise bad_option("--log-level", log_level, "critical, error, warning, info or debug")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # LightGBM next to other OpenMP users
    if challenger is not None and workers > 1:
        raise ConfigError("a challenger is served by one worker (the feedback that compares the "
                          "two models is kept in that process); drop --workers or --challenger.")
    model = _load(source)  # fail fast, in this process, with the loader's own message
    second = _load(challenger) if challenger is not None else None
    _check_port(host, port)
    common = dict(host=host, port=port, log_config=_log_config(log_level), log_level=log_level,
                  access_log=False, server_header=False,
                  timeout_graceful_shutdown=GRACEFUL_SECONDS)
    if workers == 1:
        from mlexpert.serve._app import create_app

        app = create_app(model, settings=settings, source=source, loader=lambda: _load(source),
                         challenger=second, challenger_source=challenger or "challenger")
        uvicorn.run(app, **common)
        return
    del model
    metrics_dir = tempfile.mkdtemp(prefix="mlexpert-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    os.environ[CONFIG_ENV] = json.dumps({"source": source, "settings": asdict(settings)})
    try:
        uvicorn.run("mlexpert.serve._run:worker_app", factory=True, workers=workers, **common)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def worker_app() -> Any:
    """The app of one uvicorn worker, configured by the parent through ``MLEXPERT_SERVE_CONFIG``."""
    from mlexpert.serve._app import create_app

    cfg = json.loads(os.environ[CONFIG_ENV])
    s = cfg["settings"]
    settings = ServeSettings(**{**s, "cors_origins": tuple(s.get("cors_origins", ()))})
    source = cfg["source"]
    return create_app(_load(source), settings=settings, source=source,
                      loader=lambda: _load(source))
