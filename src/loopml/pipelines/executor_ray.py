"""The Ray executor: each step a Ray task with the step's resource request. Steps read and
write artifacts through the blob store, so every node must reach the same stores; the run
refuses a database other machines cannot reach and notes a local blob folder."""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import pickle
import socket
from typing import Any

from loopml.core.errors import InvalidInput, StoreError
from loopml.core.settings import Settings
from loopml.pipelines import cache
from loopml.pipelines.worker import StepResult, StepTask

_FORWARDED_ENV = ("LOOPML_", "AWS_")


@functools.lru_cache(maxsize=4)
def _stores_for(settings: Settings) -> Any:
    from loopml.stores import open_stores

    return open_stores(settings)


def _run_step(
    settings: Settings, env: dict[str, str], run_id: str, step: str, payload: bytes
) -> Any:
    """Body of the Ray task (runs in a Ray worker process)."""
    from loopml.pipelines.executor_local import fail_unstarted
    from loopml.pipelines.worker import execute, worker_id

    os.environ.update(env)
    stores = _stores_for(settings)
    try:
        task = pickle.loads(payload)
    except Exception as exc:  # the user's code may not import on this node
        return fail_unstarted(
            stores,
            run_id,
            step,
            f"cannot load step {step!r} on Ray worker {worker_id()}: {type(exc).__name__}: {exc}",
        )
    return execute(stores, task)


def _is_local(host: str) -> bool:
    if host in ("localhost", socket.gethostname()):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback or host in _own_addresses()
    except ValueError:
        return False


@functools.cache
def _own_addresses() -> set[str]:
    try:
        return {str(a[4][0]) for a in socket.getaddrinfo(socket.gethostname(), None)}
    except OSError:
        return set()


def check_stores(settings: Settings, node_hosts: set[str]) -> list[str]:
    """Refuse stores that remote nodes cannot reach; return notes for doubtful ones."""
    remote = sorted(h for h in node_hosts if not _is_local(h))
    if not remote:
        return []
    fix = (
        "use stores every node reaches: a PostgreSQL database (LOOPML_DB=postgresql://user@"
        "dbhost/db) and S3 (LOOPML_BLOBS=s3://bucket/prefix) or a shared folder"
    )
    db = settings.db_url
    if db.startswith("sqlite"):
        raise InvalidInput(
            f"the Ray cluster has nodes on other machines ({', '.join(remote)}), which cannot "
            f"reach the SQLite database {db}: {fix}"
        )
    from sqlalchemy.engine import make_url

    host = make_url(db.replace("postgresql://", "postgresql+psycopg://", 1)).host
    if host is None or _is_local(host):
        raise InvalidInput(
            f"the Ray cluster has nodes on other machines ({', '.join(remote)}), but the "
            f"database is on this machine's loopback ({host or 'a local socket'}): {fix}"
        )
    if not settings.blobs_url.startswith("s3://"):
        return [
            f"blobs are in the local folder {settings.blobs_url}: every Ray node "
            f"({', '.join(remote)}) must mount it as a shared folder at the same path"
        ]
    return []


class RayExecutor:
    name = "ray"

    def __init__(self, settings: Settings, address: str | None) -> None:
        try:
            import ray
        except ModuleNotFoundError as exc:
            raise StoreError(
                f"the Ray executor needs ray ({exc.name} is missing): pip install 'loopml[ray]'"
            ) from exc
        address = address or os.environ.get("RAY_ADDRESS")
        if not address:
            raise InvalidInput(
                "the Ray executor needs a cluster: pass --ray-address HOST:PORT (the address "
                "`ray start --head` printed) or set RAY_ADDRESS"
            )
        self.settings = settings
        self._ray = ray
        if not ray.is_initialized():
            try:
                ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise StoreError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
        hosts = {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}  # type: ignore[no-untyped-call]
        self.notes = check_stores(settings, hosts)
        self._remote = ray.remote(max_retries=0)(_run_step)
        self._refs: dict[Any, str] = {}

    def free_slots(self) -> int:
        return 1 << 20  # Ray queues tasks until their resources are free

    def submit(self, task: StepTask) -> None:
        import cloudpickle

        modules = cache.user_modules(task.func)
        for m in modules:
            cloudpickle.register_pickle_by_value(m)
        try:
            payload = cloudpickle.dumps(task)
        except Exception as exc:  # an argument or a global of the step that cannot travel
            raise InvalidInput(
                f"step {task.step!r} cannot be sent to Ray: {type(exc).__name__}: {exc}"
            ) from None
        finally:
            for m in modules:
                if not m.__name__.startswith("loopml_pipeline_"):
                    cloudpickle.unregister_pickle_by_value(m)
        res = dict(task.resources)
        opts: dict[str, Any] = {"num_cpus": res.pop("cpu", 1.0), "num_gpus": res.pop("gpu", 0.0)}
        if "memory" in res:
            opts["memory"] = int(res.pop("memory"))
        if res:
            opts["resources"] = res
        env = {k: v for k, v in os.environ.items() if k.startswith(_FORWARDED_ENV)}
        ref = self._remote.options(**opts).remote(
            self.settings, env, task.run_id, task.step, payload
        )
        self._refs[ref] = task.step

    def wait(self, timeout: float | None = None) -> list[Any]:
        from loopml.pipelines.executor_local import Died

        if not self._refs:
            return []
        ready, _ = self._ray.wait(list(self._refs), num_returns=1, timeout=timeout)
        out: list[Any] = []
        for ref in ready:
            step = self._refs.pop(ref)
            try:
                result = self._ray.get(ref)
            except Exception as exc:  # the task's worker died or Ray failed it
                out.append(Died(step, f"Ray task failed: {type(exc).__name__}: {exc}"))
                continue
            out.append(result if isinstance(result, StepResult) else Died(step, repr(result)))
        return out

    def close(self, kill: bool = False) -> None:
        if kill:
            for ref in list(self._refs):
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or gone
                    continue
        self._refs.clear()
