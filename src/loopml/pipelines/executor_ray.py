"""The Ray executor: each step a Ray task with the step's resource request. Steps read and
write artifacts through the blob store, so every node must reach the same stores; the run
refuses a database other machines cannot reach and notes a local blob folder."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import logging
import os
import pickle
import socket
from collections.abc import Callable, Iterator
from typing import Any

from loopml.core.errors import InvalidInput, StoreError
from loopml.core.settings import Settings
from loopml.pipelines import cache
from loopml.pipelines.worker import StepResult, StepTask

_FORWARDED_ENV = ("LOOPML_", "AWS_")


@functools.lru_cache(maxsize=4)
def _records_for(settings: Settings, opener: Callable[[Settings], Any]) -> Any:
    return opener(settings)


def _run_step(
    settings: Settings,
    env: dict[str, str],
    run_id: str,
    step: str,
    payload: bytes,
    opener: Callable[[Settings], Any],
) -> Any:
    """Body of the Ray task (runs in a Ray worker process)."""
    from loopml.pipelines.executor_local import fail_unstarted
    from loopml.pipelines.worker import execute, worker_id

    os.environ.update(env)
    stores = _records_for(settings, opener)
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


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _is_local(host: str, own: frozenset[str] = frozenset()) -> bool:
    """Whether ``host`` is this machine: a loopback or local name, an address of one of its
    interfaces, or one of ``own`` (the addresses Ray reports for the driver's own node)."""
    if host in own or host in ("localhost", socket.gethostname()) or _is_loopback(host):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:  # a name: not resolved here, a slow DNS must not stall the run
        return False
    return _bindable(str(ip), ip.version)


@functools.cache
def _bindable(address: str, version: int) -> bool:
    """An address of one of this machine's interfaces: only those can be bound."""
    family = socket.AF_INET6 if version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.bind((address, 0))
    except OSError:
        return False
    return True


def check_stores(
    settings: Settings, node_hosts: set[str], own: frozenset[str] = frozenset()
) -> list[str]:
    """Refuse stores that nodes on other machines cannot reach; return notes for doubtful ones.

    ``own`` holds the addresses of the driver's own Ray node: whatever address Ray chose for
    it (an interface that is not the host name's), it is this machine."""
    remote = sorted(h for h in node_hosts if not _is_local(h, own))
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
    # An interface address of this machine is fine for a database: other machines reach it.
    if host is None or host == "localhost" or _is_loopback(host):
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


HEAD_COMMAND = (
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head --node-ip-address=127.0.0.1 --port=6379"
)
PROBE_TIMEOUT = 5.0
# What an HTTP/2 client sends first (RFC 9113 §3.4): the preface and an empty SETTINGS frame.
_H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def _host_port(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of ``HOST:PORT`` or ``ray://HOST:PORT``; None for ``auto`` and the like."""
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        return None
    return host.strip("[]"), int(port)


def probe_cluster(address: str, timeout: float = PROBE_TIMEOUT) -> str | None:
    """Fail fast unless a Ray head (an HTTP/2 server: Ray's GCS speaks gRPC) answers at
    ``address``; Ray itself retries a silent address for minutes. Returns the host."""
    parsed = _host_port(address)
    if parsed is None:
        return None
    host, port = parsed
    how = (
        f"start a head on this machine with `{HEAD_COMMAND}` and pass --ray-address "
        "127.0.0.1:6379, or pass the address `ray start --head` printed"
    )
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(_H2_PREFACE)
            first = sock.recv(9)
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
        raise StoreError(f"no Ray cluster answers at {address} ({why}): {how}") from None
    if len(first) < 9 or first[3] != 0x04:  # a server's first frame is its SETTINGS
        raise StoreError(
            f"{address} answers, but not as a Ray cluster (no gRPC server there): {how}"
        )
    return host


@contextlib.contextmanager
def _loopback_driver(ray: Any, host: str | None) -> Iterator[None]:
    """Keep a loopback address on loopback while the driver connects.

    On Linux Ray replaces ``127.0.0.1`` and ``localhost`` by the machine's routed address,
    where a head started with ``--node-ip-address=127.0.0.1`` does not listen, and then
    retries for minutes. With ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` it keeps loopback; the
    driver applies that setting itself, only for this connection."""
    constants = getattr(getattr(ray, "_private", None), "ray_constants", None)
    loopback = host == "localhost" or (host is not None and _is_loopback(host))
    if not loopback or constants is None or not hasattr(constants, "ENABLE_RAY_CLUSTER"):
        yield
        return
    saved = constants.ENABLE_RAY_CLUSTER
    constants.ENABLE_RAY_CLUSTER = False
    try:
        yield
    finally:
        constants.ENABLE_RAY_CLUSTER = saved


class RayExecutor:
    name = "ray"

    def __init__(
        self,
        settings: Settings,
        address: str | None,
        opener: Callable[[Settings], Any] | None = None,
    ) -> None:
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
        if opener is None:
            from loopml.pipelines.records import open_records

            opener = open_records
        self.opener = opener
        self._ray = ray
        if not ray.is_initialized():
            host = probe_cluster(address)
            try:
                with _loopback_driver(ray, host):
                    ray.init(address=address, log_to_driver=False, logging_level=logging.WARNING)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise StoreError(f"cannot connect to the Ray cluster at {address}: {exc}") from exc
        nodes = [n for n in ray.nodes() if n.get("Alive")]  # type: ignore[no-untyped-call]
        me = ray.get_runtime_context().get_node_id()
        own = frozenset(n["NodeManagerAddress"] for n in nodes if n.get("NodeID") == me)
        hosts = {n["NodeManagerAddress"] for n in nodes}
        # A run recorded through a server needs no shared stores: every node reaches it.
        self.notes = [] if settings.uri else check_stores(settings, hosts, own)
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
            self.settings, env, task.run_id, task.step, payload, self.opener
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
