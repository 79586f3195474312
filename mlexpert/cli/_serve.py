"""`mlexpert serve`: the REST service (mlexpert.serve) with its settings from the options."""
from __future__ import annotations

from typing import Annotated, Optional

import typer

from mlexpert.cli._common import rich_console, user_errors


def serve(
    source: Annotated[Optional[str], typer.Argument(metavar="BUNDLE", help="Bundle directory (or any "
                                                    "source mlexpert.load accepts, e.g. a registry URI).")] = None,
    champion: Annotated[Optional[str], typer.Option(help="The model that answers (same as BUNDLE), e.g. models:/churn@production.")] = None,
    challenger: Annotated[Optional[str], typer.Option(help="A second model sharing the traffic, e.g. models:/churn@staging.")] = None,
    mode: Annotated[str, typer.Option(help="With --challenger: shadow (it scores every request, never answers) or canary (it answers --share of them).")] = "shadow",
    share: Annotated[float, typer.Option(help="Canary: the share of records the challenger answers.")] = 0.1,
    key: Annotated[Optional[str], typer.Option(help="A record field whose value routes sticky (e.g. customer_id) and labels /feedback; by request without it.")] = None,
    feedback_window: Annotated[int, typer.Option(min=0, help="Scored records kept for POST /feedback to label (0: off).")] = 50_000,
    host: Annotated[str, typer.Option(help="Address to bind; 0.0.0.0 exposes the service.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes, each with the model.")] = 1,
    strict: Annotated[bool, typer.Option(help="Refuse (422) records with fields the model does not use.")] = False,
    max_records: Annotated[int, typer.Option(min=1, help="Records per POST /predict.")] = 1000,
    max_body_mb: Annotated[float, typer.Option(min=0.001, help="Body size of POST /predict, MiB.")] = 1.0,
    max_batch_rows: Annotated[int, typer.Option(min=1, help="Rows per POST /predict/batch upload.")] = 1_000_000,
    api_key_env: Annotated[str, typer.Option(help="Environment variable holding the API key (unset: no auth).")] = "MLEXPERT_API_KEY",
    cors_origin: Annotated[Optional[list[str]], typer.Option(help="Allow this browser origin (repeatable); CORS is off without it.")] = None,
    watch: Annotated[float, typer.Option(min=0, help="Seconds between checks that the source moved to a new version (0: off).")] = 0.0,
    monitor_window: Annotated[int, typer.Option(min=0, help="Rows of recent traffic the live drift monitor keeps per worker (0: off).")] = 1000,
    monitor_min_rows: Annotated[int, typer.Option(min=1, help="Rows the live monitor needs before it judges.")] = 100,
    monitor_interval: Annotated[float, typer.Option(min=0, help="Most seconds the drift gauges of /metrics lag the traffic.")] = 30.0,
    log_level: Annotated[str, typer.Option(help="critical, error, warning, info or debug.")] = "info",
) -> None:
    """Serve a model over HTTP: POST /predict, /predict/batch, /feedback; GET /health, /ready,
    /metadata, /metrics, /monitor, /compare. With --challenger, two models share the traffic."""
    with user_errors():
        from mlexpert.errors import ConfigError

        if (source is None) == (champion is None):
            raise ConfigError("name the model to serve once: as BUNDLE or as --champion.")
        from mlexpert.serve import ServeSettings
        from mlexpert.serve import serve as run_service

        settings = ServeSettings(max_records=max_records, max_body_bytes=int(max_body_mb * (1 << 20)),
                                 max_batch_rows=max_batch_rows, strict=strict, api_key_env=api_key_env,
                                 cors_origins=tuple(cor for cor in cors_origin or ()), watch_interval=watch,
                                 monitor_window=monitor_window, monitor_min_rows=monitor_min_rows,
                                 monitor_interval=monitor_interval, mode=mode, share=share,
                                 route_key=key, feedback_window=feedback_window)
        if challenger is None and (mode != "shadow" or share != 0.1):
            raise ConfigError("--mode and --share need --challenger (the model that shares the traffic).")
        err = rich_console(stderr=True)
        if host not in ("127.0.0.1", "localhost", "::1") and settings.api_key() is None:
            err.print(f"warning: serving on {host} without an API key; set {api_key_env} to require one.",
                      soft_wrap=True)
        run_service(source or champion, host=host, port=port, workers=workers, settings=settings,
                    log_level=log_level, challenger=challenger)
