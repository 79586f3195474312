"""Reloading the model from its source: on demand (``POST /admin/reload``) and on a timer
(``watch_interval``, following a registry alias). In-flight requests keep their predictor."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from mlexpert.errors import MlexpertError
from mlexpert.serve._errors import Problem
from mlexpert.serve._rollout import check_pair
from mlexpert.serve._service import Service

log = logging.getLogger("mlexpert.serve")


async def reload(service: Service) -> dict[str, Any]:
    """Load from the source, build and warm a predictor, swap it in (one reload at a time)."""
    from starlette.concurrency import run_in_threadpool

    if service.loader is None:
        raise Problem(409, "this service was given a model object, not a source to load it "
                      "from; start it with `mlexpert serve SOURCE` to reload.", reason="reload")
    if service.reload_lock.locked():
        raise Problem(409, "a reload is already running; try again when it ends.", reason="reload")
    async with service.reload_lock:
        old = service.predictor
        try:
            model = await run_in_threadpool(service.loader)
            new = await run_in_threadpool(service.build, model)
            if service.challenger is not None:
                check_pair(new, service.challenger)  # a new champion must still pair with it
        except MlexpertError as exc:
            service.metrics.reloads.labels("failed").inc()
            raise Problem(409, f"reload failed, still serving version {old.identity.version}: "
                          f"{exc}", reason="reload") from None
        changed = new.identity.version != old.identity.version
        if not changed and old.history is not None and old.history.extended:
            new = old  # the same version, whose history /feedback extended: keep those rows
        service.predictor = new
        if changed or service.live is None:
            await run_in_threadpool(service.start_live, new)
        service.metrics.set_model(new.identity.name, new.identity.version,
                                  previous=(old.identity.name, old.identity.version))
        service.metrics.reloads.labels("changed" if changed else "same").inc()
        log.info("reloaded %s: %s -> %s", new.identity.name, old.identity.version,
                 new.identity.version)
        return {"reloaded": True, "changed": changed, "previous": old.identity.version,
                "current": new.identity.version}


async def watch(service: Service) -> None:
    """Every ``watch_interval`` seconds, load from the source; swap when the version moved."""
    interval = service.settings.watch_interval
    while True:
        await asyncio.sleep(interval)
        try:
            if not service.reload_lock.locked():
                await reload(service)
        except Problem as exc:
            log.warning("watch: %s", exc.message)
        except Exception:  # noqa: BLE001 - keep watching; the old model keeps serving
            log.exception("watch: reload failed")
