"""Liveness and readiness: /realtime/live/ and /realtime/ready/ (and how they differ from
/realtime/health/, which follows the feed)."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from tickwire.realtime import status, views
from tickwire.realtime.runtime import Runtime
from tickwire.stream.brokers import MemoryBroker

pytestmark = pytest.mark.django_db


class LostBroker(MemoryBroker):
    """A broker whose link to the other nodes is down."""

    @property
    def is_connected(self) -> bool:
        return False


@pytest.fixture
async def started():
    runtimes = []

    async def start(broker=None):
        rt = Runtime(broker=broker or MemoryBroker())
        await rt.start(run_feed=False)
        runtimes.append(rt)
        return rt

    yield start
    for rt in runtimes:
        await rt.stop()


async def call(view, runtime, monkeypatch):
    monkeypatch.setattr(views, "current_runtime", lambda: runtime)
    response = await view(RequestFactory().get("/"))
    return response.status_code, json.loads(response.content)


async def test_live_answers_without_a_runtime_a_database_or_a_broker(monkeypatch):
    monkeypatch.setattr(status, "database_ok", lambda: False)
    assert await call(views.live, None, monkeypatch) == (200, {"status": "alive"})


async def test_ready_with_database_and_broker_even_without_a_feed(started, monkeypatch):
    rt = await started()
    code, body = await call(views.ready, rt, monkeypatch)
    assert code == 200
    assert body["status"] == "ready" and body["failing"] == []
    assert body["checks"] == {"runtime": "ok", "database": "ok", "broker": "ok"}
    # The same node is unhealthy: no feed publishes. Readiness does not follow the feed,
    # so a dead feed does not take every node out of the load balancer.
    health_code, _ = await call(views.health, rt, monkeypatch)
    assert health_code == 503


async def test_not_ready_names_the_broker_when_its_link_is_down(started, monkeypatch):
    rt = await started(LostBroker())
    code, body = await call(views.ready, rt, monkeypatch)
    assert code == 503
    assert body["failing"] == ["broker"] and body["checks"]["broker"] == "unavailable"


async def test_not_ready_names_the_database_when_it_does_not_answer(started, monkeypatch):
    rt = await started()
    monkeypatch.setattr(status, "database_ok", lambda: False)
    code, body = await call(views.ready, rt, monkeypatch)
    assert code == 503
    assert body["status"] == "not ready" and body["failing"] == ["database"]


async def test_not_ready_before_the_runtime_runs(monkeypatch):
    code, body = await call(views.ready, None, monkeypatch)
    assert code == 503 and "runtime" in body["failing"]
