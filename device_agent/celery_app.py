"""The agent's own Celery app (no Django): one task, `device_agent.execute_run`, taken from this agent's queue
only. The broker is the one the platform names in its heartbeat answer.

Acknowledged late and rejected when the worker is lost: a run message is redelivered if the agent dies
holding it. A redelivered run finds it has already ended (the platform failed it when the agent's lease
expired or when the restarted agent said it was not running it), so it is never executed twice."""

from __future__ import annotations

import logging

from celery import Celery
from celery.signals import worker_process_init, worker_shutting_down

log = logging.getLogger("trackreplay.agent")
_agent = None


def make_app(broker_url: str, transport_options: dict, agent) -> Celery:
    global _agent
    _agent = agent
    app = Celery("trackreplay-agent", broker=broker_url, set_as_current=True)
    if broker_url.startswith("filesystem://"):  # the platform's embedded broker: acknowledgements that hold
        from .broker import TRANSPORT

        app.conf.broker_transport = TRANSPORT
    app.conf.update(
        broker_transport_options=transport_options, task_serializer="json", accept_content=["json"],
        task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
        task_ignore_result=True, result_backend=None, worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True, worker_cancel_long_running_tasks_on_connection_loss=False,
    )
    app.task(name="device_agent.execute_run", bind=False)(execute_run)
    app.conf.worker_max_tasks_per_child = 20  # a browser leaks a little: start fresh processes now and then
    return app


def execute_run(run_id: int) -> str:
    if _agent is None:  # only reachable if the task module is imported outside an agent process
        raise RuntimeError("no agent in this process")
    return _agent.execute(int(run_id))


@worker_shutting_down.connect
def _stop_runs(sig=None, how=None, exitcode=None, **kwargs) -> None:
    # SIGTERM or SIGINT: end the running flows at their next step instead of waiting for them to finish;
    # their capture is uploaded and the runs end in error, saying the agent was stopped.
    if _agent is not None:
        log.warning("agent stopping (%s): running flows end at their next step", sig)
        _agent.stopping.set()
        _agent.stop_file.touch()  # the worker processes running the flows see this file


@worker_process_init.connect
def _die_with_the_agent(**kwargs) -> None:
    # A worker process must not outlive the agent (killed with SIGKILL, the agent cannot stop it); its proxy
    # and browser die with it in turn.
    from .lifeline import tether_this_process

    tether_this_process()
