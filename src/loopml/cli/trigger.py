"""``loopml trigger …``, ``loopml jobs …``, ``loopml controller`` and ``loopml worker``: parse,
call the triggers service, render. No business rules here."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from loopml.cli.output import Column, console, emit_json, errors_to_exit, print_table

app = typer.Typer(
    help="Triggers: run a pipeline or a built-in action when data, models, a schedule, code or "
    "an alert change.",
    no_args_is_help=True,
    add_completion=False,
)
jobs_app = typer.Typer(
    help="The queue of jobs triggers made: list, show, cancel.",
    no_args_is_help=True,
    add_completion=False,
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
NameArg = Annotated[str, typer.Argument(help="The trigger's name.")]


def _triggers() -> Any:
    from loopml.sdk import default_client

    return default_client().triggers


def _when(t: float | None) -> str:
    from loopml.core.times import iso_ms

    return "" if t is None else str(iso_ms(t))


@app.command()
def add(
    name: NameArg,
    on: Annotated[
        str,
        typer.Option(
            "--on",
            help="dataset:NAME, model:NAME, model:NAME@ALIAS, schedule:CRON, "
            "code:PATH[@BRANCH], alert:DEPLOYMENT, webhook or manual.",
        ),
    ],
    run: Annotated[
        str,
        typer.Option("--run", help="FILE.py:FUNCTION (a pipeline), run_production or monitor."),
    ],
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", help="NAME=VALUE, repeatable; {event.FIELD} is filled in."),
    ] = None,
    executor: Annotated[str, typer.Option(help="Where a pipeline runs: local or ray.")] = "local",
    tz: Annotated[str, typer.Option("--tz", help="Time zone of a schedule.")] = "UTC",
    cooldown: Annotated[
        float, typer.Option(help="At most one firing per this many seconds.")
    ] = 0.0,
    max_concurrent: Annotated[int, typer.Option(help="Jobs of this trigger run at once.")] = 1,
    retries: Annotated[int, typer.Option(help="Runs again this many times on failure.")] = 0,
    backoff: Annotated[
        float, typer.Option(help="Seconds before the first retry (doubling each time).")
    ] = 5.0,
    catchup: Annotated[
        str, typer.Option(help="Missed schedule ticks: skip, or once (run once).")
    ] = "skip",
    disabled: Annotated[bool, typer.Option("--disabled", help="Add it disabled.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Add a trigger; it reacts to what happens from now on."""
    from loopml.api.triggers import TriggerSpec
    from loopml.pipelines.params import parse_assignments

    with errors_to_exit():
        spec = TriggerSpec(
            name=name,
            on=on,
            action=run,
            params=parse_assignments(param or []),
            executor=executor,
            tz=tz,
            cooldown_s=cooldown,
            max_concurrent=max_concurrent,
            retries=retries,
            backoff_s=backoff,
            catchup=catchup,  # type: ignore[arg-type]  # checked by the service
        )
        trigger = _triggers().add(spec, enabled=not disabled)
    if json_out:
        emit_json(trigger.to_dict())
    else:
        console().print(f"added trigger [bold]{name}[/]: on {trigger.spec.on} run {run}")


@app.command("list")
def list_(json_out: JsonOpt = False) -> None:
    """List the triggers."""
    with errors_to_exit():
        found = _triggers().list()
    if json_out:
        emit_json([t.to_dict() for t in found])
        return
    if not found:
        console().print("no triggers yet; add one with: loopml trigger add NAME --on … --run …")
        return
    print_table(
        [
            Column("name", key=True),
            Column("on"),
            Column("run"),
            Column("enabled", wrap=False),
            Column("last fired", wrap=False, drop=1),
        ],
        [
            (
                t.name,
                t.spec.on,
                t.spec.action,
                "yes" if t.enabled else "no",
                _when(t.last_fired_at),
            )
            for t in found
        ],
    )


@app.command()
def show(
    name: NameArg,
    limit: Annotated[int, typer.Option(min=1, help="At most this many firings.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """A trigger and its firings: event, job, pipeline run and outcome."""
    with errors_to_exit():
        svc = _triggers()
        trigger = svc.get(name)
        found = svc.firings(name, limit)
    if json_out:
        emit_json(
            trigger.to_dict()
            | {
                "firings": [
                    {
                        "event": f.event_key,
                        "fields": f.event,
                        "job_id": f.job_id,
                        "run_id": f.run_id,
                        "status": None if f.status is None else f.status.value,
                        "created_at": f.created_at,
                    }
                    for f in found
                ]
            }
        )
        return
    c = console()
    s = trigger.spec
    c.print(f"trigger [bold]{name}[/]  {'enabled' if trigger.enabled else 'disabled'}")
    c.print(f"on {s.on}  run {s.action}  executor {s.executor}")
    if s.params:
        c.print("params " + ", ".join(f"{k}={v}" for k, v in s.params.items()))
    c.print(
        f"cooldown {s.cooldown_s:g} s, max concurrent {s.max_concurrent}, retries {s.retries} "
        f"(backoff {s.backoff_s:g} s), catch-up {s.catchup.value}, tz {s.tz}"
    )
    if not found:
        c.print("no firings yet")
        return
    print_table(
        [
            Column("event", key=True),
            Column("job", key=True),
            Column("status", wrap=False),
            Column("run", key=True),
            Column("fired", wrap=False, drop=1),
        ],
        [
            (
                f.event_key,
                "" if f.job_id is None else str(f.job_id),
                "" if f.status is None else f.status.value,
                (f.run_id or "")[:12],
                _when(f.created_at),
            )
            for f in found
        ],
    )


def _set_enabled(name: str, enabled: bool, json_out: bool) -> None:
    with errors_to_exit():
        trigger = _triggers().set_enabled(name, enabled)
    if json_out:
        emit_json(trigger.to_dict())
    else:
        console().print(f"trigger {name} {'enabled' if enabled else 'disabled'}")


@app.command()
def enable(name: NameArg, json_out: JsonOpt = False) -> None:
    """Enable a trigger (it fires on what happens from now on)."""
    _set_enabled(name, True, json_out)


@app.command()
def disable(name: NameArg, json_out: JsonOpt = False) -> None:
    """Disable a trigger: it records no firing until enabled again."""
    _set_enabled(name, False, json_out)


@app.command()
def fire(
    name: NameArg,
    key: Annotated[
        str | None, typer.Option(help="Idempotency key: the same key fires once.")
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fire a trigger now; a worker runs its job."""
    with errors_to_exit():
        firing = _triggers().fire(name, key)
    if json_out:
        emit_json({"event": firing.event_key, "job_id": firing.job_id})
    else:
        console().print(f"fired {name}: job {firing.job_id} queued")


@app.command()
def remove(name: NameArg, json_out: JsonOpt = False) -> None:
    """Remove a trigger with its firings and jobs (refused while one runs)."""
    with errors_to_exit():
        gone = _triggers().remove(name)
    if json_out:
        emit_json({"removed": name, "jobs": gone})
    else:
        console().print(f"removed trigger {name} and {gone} job(s)")


# ---------- jobs ----------
@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="Only jobs with this status.")] = None,
    trigger: Annotated[str | None, typer.Option(help="Only this trigger's jobs.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many jobs.")] = 50,
    json_out: JsonOpt = False,
) -> None:
    """List jobs, newest first."""
    with errors_to_exit():
        found = _triggers().jobs(status, trigger, limit)
    if json_out:
        emit_json([j.to_dict() for j in found])
        return
    if not found:
        console().print("no jobs")
        return
    print_table(
        [
            Column("job", key=True),
            Column("trigger", key=True),
            Column("status", wrap=False),
            Column("attempts", wrap=False),
            Column("run", key=True),
            Column("created", wrap=False, drop=1),
        ],
        [
            (
                str(j.id),
                j.trigger,
                j.status.value,
                f"{j.attempts}/{j.max_attempts}",
                (j.run_id or "")[:12],
                _when(j.created_at),
            )
            for j in found
        ],
    )


@jobs_app.command("show")
def jobs_show(
    job_id: Annotated[int, typer.Argument(help="The job's id.")], json_out: JsonOpt = False
) -> None:
    """One job: action, parameters, status, run, error."""
    with errors_to_exit():
        job = _triggers().job(job_id)
    if json_out:
        emit_json(job.to_dict())
        return
    c = console()
    c.print(f"job {job.id}  trigger {job.trigger}  {job.status.value}")
    c.print(
        f"run {job.action}  executor {job.executor}  attempts {job.attempts}/{job.max_attempts}"
    )
    if job.params:
        c.print("params " + ", ".join(f"{k}={v}" for k, v in job.params.items()), markup=False)
    if job.run_id:
        c.print(f"pipeline run {job.run_id}")
    if job.worker:
        c.print(f"worker {job.worker}")
    if job.error:
        c.print(f"error: {job.error}", markup=False)


@jobs_app.command("cancel")
def jobs_cancel(
    job_id: Annotated[int, typer.Argument(help="The job's id.")], json_out: JsonOpt = False
) -> None:
    """Cancel a queued or running job."""
    with errors_to_exit():
        job = _triggers().cancel_job(job_id)
    if json_out:
        emit_json(job.to_dict())
    else:
        console().print(f"job {job_id} cancelled")


# ---------- the loop ----------
OnceOpt = Annotated[bool, typer.Option("--once", help="Process what is pending, then exit.")]


def controller(once: OnceOpt = False, json_out: JsonOpt = False) -> None:
    """Turn new events, schedule ticks and commits into firings and queued jobs."""
    total = 0
    with errors_to_exit():
        svc = _triggers()
        while True:
            total += svc.poll(wait=0.0 if once else 1.0)
            if once:
                break
    if json_out:
        emit_json({"fired": total})
    else:
        console().print(f"recorded {total} firing(s)")


def worker(once: OnceOpt = False, json_out: JsonOpt = False) -> None:
    """Claim queued jobs and run them, holding a lease with a heartbeat."""
    done: list[dict[str, Any]] = []
    pause = 0.01
    with errors_to_exit():
        svc = _triggers()
        while True:
            job = svc.work()
            if job is not None:
                done.append({"id": job.id, "status": job.status.value, "run_id": job.run_id})
                pause = 0.01
                continue
            if once:
                break
            time.sleep(pause)  # an empty queue: poll (a read) with a back-off up to 100 ms
            pause = min(pause * 2, 0.1)
    if json_out:
        emit_json({"jobs": done})
    else:
        console().print(f"ran {len(done)} job(s)")
