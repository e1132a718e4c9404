"""`rnncast doctor`: whether Redis, the artifact store and the workers agree, one line per check.

It reads Redis and the artifact store with this process's settings (as a worker
would), and reports records whose files are gone and files that no record names.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import redis
from pydantic import ValidationError

from rnncast.common.artifacts import ArtifactError, ArtifactStore, open_store
from rnncast.common.datasets import VALUES_FILE
from rnncast.common.queue import QUEUES
from rnncast.common.settings import Settings, get_settings
from rnncast.common.store.keys import Keys
from rnncast.common.store.lane_ops import REDIS_MIN
from rnncast.common.store.sync import JobStore
from rnncast.service.redis_server import shown_url

SHOWN_IDS = 5  # ids a line names, the rest counted


@dataclass
class Check:
    ok: bool
    name: str
    text: str
    warn: bool = False

    def line(self) -> str:
        mark = "ok  " if self.ok else ("warn" if self.warn else "FAIL")
        return f"{mark} {self.name}: {self.text}"


def _ids(ids: list[str]) -> str:
    shown = ", ".join(sorted(ids)[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS} more" if len(ids) > SHOWN_IDS else "")


def check_redis(settings: Settings, client: redis.Redis) -> Iterator[Check]:
    client.ping()
    version = str(client.info("server").get("redis_version", "0"))
    need = ".".join(map(str, REDIS_MIN))
    if tuple(int(part) for part in version.split(".")[:2] if part.isdigit()) < REDIS_MIN:
        yield Check(False, "redis", f"{shown_url(settings.redis_url)} answers, but is Redis {version}: the forecast "
                    f"lane needs {need} or later (BLMPOP)")
    else:
        yield Check(True, "redis", f"{shown_url(settings.redis_url)} answers (Redis {version})")
    try:
        aof = client.config_get("appendonly").get("appendonly")
        save = client.config_get("save").get("save")
    except redis.ResponseError as exc:  # a managed Redis may refuse CONFIG
        yield Check(False, "redis persistence", f"cannot be read ({exc})", warn=True)
        return
    if aof == "yes":
        yield Check(True, "redis persistence", "AOF on")
    elif save:
        yield Check(False, "redis persistence", f"RDB snapshots only (save {save}): a crash loses the writes "
                    "since the last one; turn on AOF (appendonly yes)", warn=True)
    else:
        yield Check(False, "redis persistence", "none (appendonly no, save ''): a restart of Redis loses every "
                    "job, model and dataset record while their files stay; turn on AOF (appendonly yes)")


def check_store(store: ArtifactStore) -> Check:
    """The store answers, and a probe object can be written, read back and deleted."""
    key = f"doctor-probe-{uuid.uuid4().hex}"  # at the top: no folder is left behind
    data = uuid.uuid4().bytes
    try:
        store.check()
        store.put(key, data)
        back = store.get(key)
        store.delete(key)
    except ArtifactError as exc:
        return Check(False, "artifact store", f"{store.url}: {exc}")
    if back != data:
        return Check(False, "artifact store", f"{store.url}: a probe read back other bytes than were written")
    return Check(True, "artifact store", f"{store.url} readable and writable")


def check_workers(infos: list[dict[str, Any]], settings: Settings) -> Iterator[Check]:
    by_queue = {queue: [i["name"] for i in infos if queue in i.get("queues", [])] for queue in QUEUES}
    for queue, names in by_queue.items():
        if names:
            yield Check(True, f"workers on {queue}", str(len(names)))
        else:
            yield Check(False, f"workers on {queue}", f"none alive: {queue} work waits until one starts "
                        f"(`rnncast worker --queues {queue}`)")
    for info in infos:
        device = info.get("device")
        if device is None:
            yield Check(False, "device", f"{info['name']}: it does not report its device (an older version)",
                        warn=True)
            continue
        memory = f", {info['memory_bytes'] / 2**30:.1f} GiB" if info.get("memory_bytes") else ""
        used = f", {info['memory_used_bytes'] / 2**30:.1f} GiB used" if info.get("memory_used_bytes") else ""
        util = f", {info['utilization']:.0%} busy" if info.get("utilization") is not None else ""
        yield Check(True, "device", f"{info['name']}: {device} ({info.get('device_name', '?')}{memory}{used}{util})")
        if info.get("artifacts") not in (None, settings.artifacts_url):
            yield Check(False, "worker's store", f"{info['name']} uses {info['artifacts']}, not "
                        f"{settings.artifacts_url}: jobs will not find their files")


def _folders(store: ArtifactStore, kind: str) -> dict[str, set[str]]:
    """The files under `kind/<id>/`, by id."""
    found: dict[str, set[str]] = defaultdict(set)
    for key in store.list(kind):
        parts = key.split("/")
        if len(parts) >= 3:
            found[parts[1]].add("/".join(parts[2:]))
    return found


def check_orphans(client: redis.Redis, store: ArtifactStore) -> Iterator[Check]:
    """Records whose files are gone, and files that no record names."""
    models, datasets, jobs = ({str(i) for i in client.zrange(key, 0, -1)}
                              for key in (Keys.models, Keys.datasets, Keys.jobs))
    model_files, dataset_files, job_files = (_folders(store, kind) for kind in ("models", "datasets", "jobs"))
    records_without = {
        "models": sorted(m for m in models if not any(f.endswith(".safetensors") for f in model_files.get(m, ()))),
        "datasets": sorted(d for d in datasets if VALUES_FILE not in dataset_files.get(d, ())),
    }
    files_without = {
        "models": sorted(set(model_files) - models),
        "datasets": sorted(set(dataset_files) - datasets),
        "jobs": sorted(set(job_files) - jobs),
    }
    remedy = {"models": "curl -X DELETE $RNNCAST_URL/v1/models/ID", "datasets": "rnncast datasets delete ID"}
    for kind, ids in records_without.items():
        if ids:
            yield Check(False, f"{kind[:-1]} records without files", f"{len(ids)}: {_ids(ids)} (their files are "
                        f"gone from {store.url}; forget them: {remedy[kind]})")
        else:
            yield Check(True, f"{kind[:-1]} records without files", "none")
    for kind, ids in files_without.items():
        if ids:
            yield Check(False, f"{kind[:-1]} files without records", f"{len(ids)}: {_ids(ids)} (under "
                        f"{store.url}/{kind}/; no record names them: remove the folders, or restore Redis)")
        else:
            yield Check(True, f"{kind[:-1]} files without records", "none")


def run_checks() -> list[Check]:
    """Every check, in order; a check that cannot run is a failed one."""
    try:
        settings = get_settings()
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return [Check(False, "settings", reasons)]
    checks: list[Check] = []
    store = open_store(settings)
    checks.append(check_store(store))
    jobs = JobStore.from_url(settings.redis_url)
    client: redis.Redis = jobs.r
    try:
        checks += check_redis(settings, client)
        checks += check_workers(jobs.live_worker_info(settings.heartbeat_timeout), settings)
        if checks[0].ok:
            checks += check_orphans(client, store)
    except redis.RedisError as exc:
        checks.append(Check(False, "redis", f"{shown_url(settings.redis_url)}: {exc}"))
    except ArtifactError as exc:
        checks.append(Check(False, "orphans", f"the artifact store could not be listed: {exc}"))
    finally:
        client.close()
    return checks
