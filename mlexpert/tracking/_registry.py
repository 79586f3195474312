"""A model registry with stages, built on MLflow's registered models and aliases.

Stages: ``staging`` and ``production`` are MLflow aliases (so ``models:/churn@production`` works
everywhere MLflow URIs do), one version each at a time; the version an alias moves away from is
``archived``. A version's stage is read from the aliases first (the source of truth, moved
atomically by MLflow), then from its ``mlexpert.stage`` tag. Every transition is recorded on the
version as a tag ``mlexpert.transition.NNN`` holding who, when, why, from and to. Promotion to
production is refused when the version's input schema (its pyfunc signature) differs from the
current production version's, unless forced.
"""
from __future__ import annotations

import getpass
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from mlexpert.errors import TrackingError, bad_option, unknown_name
from mlexpert.tracking._store import (
    DEFAULT_EXPERIMENT,
    check_experiment_name,
    resolve_store,
    session,
)

STAGES = ("staging", "production")
STAGE_TAG = "mlexpert.stage"
TRANSITION_TAG = "mlexpert.transition."
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise bad_option("--name", name, "a model name of letters, digits, '_', '-' or '.' "
                         "(at most 100 characters, starting with a letter or digit)")
    return name


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _registered(client: Any, name: str) -> Any:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException:
        known = [m.name for m in client.search_registered_models(max_results=200)]
        raise unknown_name("registered model", name, known) from None


def _versions(client: Any, name: str) -> list[Any]:
    found = client.search_model_versions(f"name = '{name}'", max_results=1000)
    return sorted(found, key=lambda v: int(v.version))


def _version(client: Any, name: str, version: Any) -> Any:
    if isinstance(version, bool) or not isinstance(version, int | str) or \
            not str(version).isdigit() or int(version) < 1:
        raise bad_option("--version", version, "a version number (1, 2, ...)")
    _registered(client, name)
    for v in _versions(client, name):
        if int(v.version) == int(version):
            return v
    have = ", ".join(str(v.version) for v in _versions(client, name)) or "none"
    raise TrackingError(f"registered model {name!r} has no version {version}; its versions: "
                        f"{have}. `mlexpert registry show {name}` lists them.")


def _aliases(model: Any) -> dict[str, str]:
    """alias -> version of a registered model."""
    return {k: str(v) for k, v in (getattr(model, "aliases", None) or {}).items()}


def _stage(version: Any, aliases: dict[str, str]) -> str:
    held = [a for a in STAGES if aliases.get(a) == str(version.version)]
    if "production" in held:
        return "production"
    if held:
        return held[0]
    tag = (version.tags or {}).get(STAGE_TAG, "none")
    return "archived" if tag in STAGES else tag  # the alias moved on: it was replaced


def _transitions(version: Any) -> list[dict[str, Any]]:
    out = []
    for key in sorted(k for k in (version.tags or {}) if k.startswith(TRANSITION_TAG)):
        try:
            out.append(json.loads(version.tags[key]))
        except ValueError:
            continue
    return out


def _record(client: Any, version: Any, old: str, new: str, who: str, why: str) -> None:
    n = len([k for k in (version.tags or {}) if k.startswith(TRANSITION_TAG)]) + 1
    entry = {"from": old, "to": new, "who": who, "when": _now(), "why": why[:1000]}
    client.set_model_version_tag(version.name, version.version, f"{TRANSITION_TAG}{n:03d}",
                                 json.dumps(entry))
    client.set_model_version_tag(version.name, version.version, STAGE_TAG, new)


GATE_TAG = "mlexpert.gate"  # a retrain's evidence: mlexpert.gate, mlexpert.gate.<check>


def _describe(version: Any, aliases: dict[str, str]) -> dict[str, Any]:
    tags = version.tags or {}
    return {"name": version.name, "version": int(version.version),
            "stage": _stage(version, aliases), "run_id": version.run_id,
            "created": version.creation_timestamp, "metric": tags.get("mlexpert.metric"),
            "target": tags.get("mlexpert.target"), "source": version.source,
            "gate": {(k[len(GATE_TAG) + 1:] or "verdict"): v for k, v in sorted(tags.items())
                     if k.startswith(GATE_TAG)} or None,
            "transitions": _transitions(version)}


def register(source: str, name: str, *, uri: str | None = None,
             experiment: str = DEFAULT_EXPERIMENT, reason: str = "", who: str | None = None,
             tags: dict[str, str] | None = None) -> dict[str, Any]:
    """Register a run's model (run id or ``runs:/ID``) or a bundle directory (logged as a new run
    first) under ``name``; returns the new version's description. ``tags``: more version tags
    (e.g. the evidence of a retrain's gate), shown by ``registry show``."""
    from mlexpert._format import is_bundle
    from mlexpert.tracking._runs import get_run, run_id_of

    name = check_name(name)
    experiment = check_experiment_name(experiment)
    if not isinstance(source, str):
        raise bad_option("source", source, "a run id, runs:/RUN_ID or a bundle directory")
    store = resolve_store(uri)
    path = Path(source)
    if path.is_dir():
        if not is_bundle(path):
            raise TrackingError(f"{source!r} is a directory but not an mlexpert bundle; pass the "
                                "directory `mlexpert fit --out` wrote, or a run id.")
        run_id = _log_bundle(store, path, experiment)
    else:
        run_id = run_id_of(source)
    who = _who(who)
    with session(store) as client:
        from mlflow.exceptions import MlflowException

        run = get_run(client, store.uri, run_id)
        model_id = run.data.tags.get("mlexpert.model_id")
        if run.data.tags.get("mlexpert.kind") != "fit" or not model_id:
            raise TrackingError(f"run {run_id!r} holds no model logged by mlexpert; register "
                                "a fit's run (`mlexpert runs list`) or a bundle directory.")
        metric = run.data.tags.get("mlexpert.metric", "")
        value = run.data.metrics.get(f"cv_{metric}")
        try:
            client.get_registered_model(name)
        except MlflowException:
            client.create_registered_model(name)
        mv = client.create_model_version(name, source=f"models:/{model_id}", run_id=run_id,
                                         model_id=model_id, tags={
            "mlexpert.metric": f"{metric}={value:.6g}" if value is not None else metric,
            "mlexpert.target": run.data.tags.get("mlexpert.target", ""),
            **{str(k): str(v) for k, v in (tags or {}).items()},
            STAGE_TAG: "none"})
        mv = client.get_model_version(name, mv.version)
        _record(client, mv, "", "none", who, reason or "registered")
        mv = client.get_model_version(name, mv.version)
        return _describe(mv, _aliases(client.get_registered_model(name)))


def _log_bundle(store: Any, path: Path, experiment: str) -> str:
    from mlexpert.bundle import load
    from mlexpert.tracking._log import _send
    from mlexpert.tracking._record import fit_record

    record = fit_record(load(path).manifest)
    record.update(experiment=experiment, uri=store.uri)
    return _send(store, record, path, {})


def list_models(*, uri: str | None = None) -> list[dict[str, Any]]:
    """Every registered model with its latest version and who holds each stage."""
    store = resolve_store(uri)
    with session(store) as client:
        out = []
        for m in client.search_registered_models(max_results=1000):
            aliases = _aliases(m)
            versions = _versions(client, m.name)
            out.append({"name": m.name, "versions": len(versions),
                        "latest": int(versions[-1].version) if versions else None,
                        "production": _int(aliases.get("production")),
                        "staging": _int(aliases.get("staging"))})
        return sorted(out, key=lambda r: r["name"])


def _int(v: str | None) -> int | None:
    return int(v) if v is not None else None


def show(name: str, *, uri: str | None = None) -> dict[str, Any]:
    """A registered model and all its versions, stages and transition histories."""
    name = check_name(name)
    store = resolve_store(uri)
    with session(store) as client:
        model = _registered(client, name)
        aliases = _aliases(model)
        return {"name": name, "aliases": aliases,
                "versions": [_describe(v, aliases) for v in _versions(client, name)]}


def _input_schema(name: str, version: str) -> list[tuple[str, str]] | None:
    import mlflow

    info = mlflow.models.get_model_info(f"models:/{name}/{version}")
    if info.signature is None or info.signature.inputs is None:
        return None
    return [(c["name"], c["type"]) for c in info.signature.inputs.to_dict()]


def _schema_diff(old: list[tuple[str, str]], new: list[tuple[str, str]]) -> str:
    o, n = dict(old), dict(new)
    parts = []
    if gone := [k for k in o if k not in n]:
        parts.append("lacks " + ", ".join(map(repr, gone[:6])))
    if added := [k for k in n if k not in o]:
        parts.append("adds " + ", ".join(map(repr, added[:6])))
    if changed := [f"{k!r} {o[k]}->{n[k]}" for k in o if k in n and o[k] != n[k]]:
        parts.append("changes " + ", ".join(changed[:6]))
    return "; ".join(parts)


def promote(name: str, version: Any, to: str, *, uri: str | None = None, force: bool = False,
            reason: str = "", who: str | None = None) -> dict[str, Any]:
    """Move alias ``to`` (staging | production) to ``version``; the version that held it is
    archived. Refused when a production candidate's input schema differs, unless ``force``."""
    name = check_name(name)
    if to not in STAGES:
        raise bad_option("--to", to, "staging or production")
    who = _who(who)
    store = resolve_store(uri)
    with session(store) as client:
        mv = _version(client, name, version)
        aliases = _aliases(client.get_registered_model(name))
        old_stage = _stage(mv, aliases)
        current = aliases.get(to)
        if current == str(mv.version):
            raise TrackingError(f"version {mv.version} of {name!r} is already in {to}.")
        if to == "production" and current is not None and not force:
            old, new = _input_schema(name, current), _input_schema(name, mv.version)
            if old != new:
                diff = _schema_diff(old or [], new or []) or "signatures differ"
                raise TrackingError(
                    f"version {mv.version} of {name!r} has a different input schema from "
                    f"production (version {current}): it {diff}. Clients of production would "
                    "break; pass --force (force=True) to promote it anyway.")
        # the alias first: it is the source of truth, moved atomically by MLflow
        client.set_registered_model_alias(name, to, mv.version)
        for other in STAGES:
            if other != to and aliases.get(other) == str(mv.version):
                client.delete_registered_model_alias(name, other)
        why = reason or f"promoted to {to}"
        if current is not None:
            prev = client.get_model_version(name, current)
            _record(client, prev, to, "archived", who, f"replaced by version {mv.version}: {why}")
        _record(client, mv, old_stage, to, who, why)
        return _describe(client.get_model_version(name, mv.version),
                         _aliases(client.get_registered_model(name)))


def archive(name: str, version: Any, *, uri: str | None = None, reason: str = "",
            who: str | None = None) -> dict[str, Any]:
    """Take ``version`` out of any stage (its aliases are removed) and mark it archived."""
    name = check_name(name)
    who = _who(who)
    store = resolve_store(uri)
    with session(store) as client:
        mv = _version(client, name, version)
        aliases = _aliases(client.get_registered_model(name))
        old_stage = _stage(mv, aliases)
        if old_stage == "archived":
            raise TrackingError(f"version {mv.version} of {name!r} is already archived.")
        for alias in STAGES:
            if aliases.get(alias) == str(mv.version):
                client.delete_registered_model_alias(name, alias)
        _record(client, mv, old_stage, "archived", who, reason or "archived")
        return _describe(client.get_model_version(name, mv.version),
                         _aliases(client.get_registered_model(name)))
