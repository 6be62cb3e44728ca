"""The delivery dispatcher against real receivers on loopback: a webhook endpoint that
checks the signature, an SMTP server, and the broker for the WebSocket channel."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import orjson
import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.utils import timezone

from tests.conftest import POSTGRES
from tests.servers import free_port
from tickwire.alerts import outbox, webhooks
from tickwire.alerts.delivery import Dispatcher, pending_count
from tickwire.alerts.models import AlertDelivery, AlertRule, AlertSettings
from tickwire.alerts.rules import engine_rule, rule_meta
from tickwire.assets.models import Asset
from tickwire.stream import control
from tickwire.stream.alerts import AlertEngine, Observation
from tickwire.stream.brokers import MemoryBroker

from .receivers import SmtpReceiver, WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "s3cret-for-the-tests"


@pytest.fixture(autouse=True)
def quick_retries(settings):
    settings.TICKWIRE_ALERT_RETRY_BASE_SECONDS = 0.05
    settings.TICKWIRE_ALERT_RETRY_MAX_SECONDS = 0.2
    settings.TICKWIRE_ALERT_RETRY_FOR_SECONDS = 60
    settings.TICKWIRE_ALERT_DELIVERY_TIMEOUT = 3
    return settings


def make_rule(channels, *, webhook_url="", email=""):
    user = get_user_model().objects.create_user("ann", "ann@example.com", "pw")
    AlertSettings.objects.create(
        user=user, email=email, webhook_url=webhook_url, webhook_secret=SECRET
    )
    asset = Asset.objects.create(symbol="AAPL", name="Apple", current_price=190)
    return AlertRule.objects.create(
        owner=user,
        name="AAPL over 200",
        asset=asset,
        condition={"kind": "above", "level": "200"},
        channels=channels,
    )


def fire(rule, value="200.5"):
    engine = AlertEngine([engine_rule(rule)])
    [fired] = engine.observe(Observation.asset("AAPL", value, at=time.time()))
    [event] = outbox.commit([(rule_meta(rule), fired)], {})
    return event


async def nothing(channel, body):
    return None


def delivery(event, channel):
    return AlertDelivery.objects.get(event=event, channel=channel)


async def deliver_until(dispatcher, event, channel, done, timeout=10.0):
    """Run the dispatcher's passes (bounded) until the delivery row satisfies ``done``."""
    deadline = time.monotonic() + timeout
    while True:
        await dispatcher.run_once()
        row = await sync_to_async(delivery)(event, channel)
        if done(row):
            return row
        assert time.monotonic() < deadline, f"{channel} delivery stuck: {row.__dict__}"
        await asyncio.sleep(0.05)


# -- webhooks -------------------------------------------------------------------------------


async def test_a_webhook_is_a_signed_post_of_the_alert_with_its_idempotency_key():
    receiver = WebhookReceiver(SECRET)
    try:
        rule = await sync_to_async(make_rule)(["webhook"], webhook_url=receiver.url)
        event = await sync_to_async(fire)(rule)
        dispatcher = Dispatcher(nothing)
        row = await deliver_until(dispatcher, event, "webhook", lambda r: r.status != "pending")
        await dispatcher.stop()
    finally:
        receiver.close()
    assert (row.status, row.attempts, row.last_error) == ("delivered", 1, "")
    assert row.delivered_at is not None
    [got] = receiver.received
    assert got.signed  # the documented verifier accepts it
    body = orjson.loads(got.body)
    assert body["type"] == "alert"
    assert body["data"]["event_id"] == str(event.key)
    assert (body["data"]["value"], body["data"]["level"]) == ("200.5", "200")
    assert got.headers["Idempotency-Key"] == got.headers["X-Tickwire-Event-Id"] == str(event.key)
    assert got.headers["X-Tickwire-Delivery-Attempt"] == "1"
    assert dispatcher.counts[("webhook", "delivered")] == 1


def test_the_documented_verifier_refuses_another_secret_or_a_changed_body():
    from .receivers import documented_verifier

    verify = documented_verifier()
    body = webhooks.webhook_body({"event_id": "x", "value": "1"})
    header = webhooks.sign(body, SECRET)
    assert verify(body, SECRET, header) and webhooks.verify(body, SECRET, header)
    assert not verify(body, "another", header)
    assert not verify(body.replace(b"1", b"2"), SECRET, header)


async def test_a_receiver_that_is_down_gets_the_event_once_it_is_up():
    port = free_port()  # nobody listens here yet
    rule = await sync_to_async(make_rule)(["webhook"], webhook_url=f"http://127.0.0.1:{port}/hook")
    event = await sync_to_async(fire)(rule)
    dispatcher = Dispatcher(nothing)
    row = await deliver_until(dispatcher, event, "webhook", lambda r: r.attempts >= 2)
    assert row.status == "pending" and row.last_error and row.next_attempt_at is not None
    receiver = WebhookReceiver(SECRET, port=port)
    try:
        row = await deliver_until(dispatcher, event, "webhook", lambda r: r.status != "pending")
    finally:
        receiver.close()
        await dispatcher.stop()
    assert row.status == "delivered" and row.attempts >= 3
    [got] = receiver.received
    assert got.signed and got.headers["Idempotency-Key"] == str(event.key)
    assert got.headers["X-Tickwire-Delivery-Attempt"] == str(row.attempts)
    assert dispatcher.counts[("webhook", "retried")] >= 2


async def test_5xx_and_429_are_retried_and_429_waits_as_long_as_retry_after_says():
    receiver = WebhookReceiver(
        SECRET, answers=[(503, {}, "busy"), (429, {"Retry-After": "30"}, "slow down")]
    )
    try:
        rule = await sync_to_async(make_rule)(["webhook"], webhook_url=receiver.url)
        event = await sync_to_async(fire)(rule)
        dispatcher = Dispatcher(nothing)
        row = await deliver_until(dispatcher, event, "webhook", lambda r: r.attempts >= 2)
        assert row.status == "pending" and row.last_error == "HTTP 429: slow down"
        # Retry-After: 30 is honoured over the backoff's fraction of a second.
        assert row.next_attempt_at - timezone.now() > timedelta(seconds=20)
        await sync_to_async(AlertDelivery.objects.filter(pk=row.pk).update)(
            next_attempt_at=timezone.now()
        )
        row = await deliver_until(dispatcher, event, "webhook", lambda r: r.status != "pending")
        await dispatcher.stop()
    finally:
        receiver.close()
    assert (row.status, row.attempts) == ("delivered", 3)
    assert len({r.headers["Idempotency-Key"] for r in receiver.received}) == 1


async def test_a_4xx_fails_at_once_naming_the_status_and_the_answer():
    receiver = WebhookReceiver(SECRET, answers=[(404, {}, "no such hook")])
    try:
        rule = await sync_to_async(make_rule)(["webhook"], webhook_url=receiver.url)
        event = await sync_to_async(fire)(rule)
        dispatcher = Dispatcher(nothing)
        row = await deliver_until(dispatcher, event, "webhook", lambda r: r.status != "pending")
        await dispatcher.stop()
    finally:
        receiver.close()
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "HTTP 404: no such hook")
    assert len(receiver.received) == 1
    assert dispatcher.counts[("webhook", "failed")] == 1


async def test_retries_end_in_failed_once_the_retry_budget_is_spent(settings):
    settings.TICKWIRE_ALERT_RETRY_FOR_SECONDS = 0.5
    port = free_port()
    rule = await sync_to_async(make_rule)(["webhook"], webhook_url=f"http://127.0.0.1:{port}/hook")
    event = await sync_to_async(fire)(rule)
    dispatcher = Dispatcher(nothing)
    row = await deliver_until(dispatcher, event, "webhook", lambda r: r.status != "pending")
    await dispatcher.stop()
    assert row.status == "failed" and row.attempts >= 2
    assert "gave up after" in row.last_error
    assert "TICKWIRE_ALERT_RETRY_FOR_SECONDS" in row.last_error
    assert "ConnectError" in row.last_error
    assert await sync_to_async(pending_count)() == 0


# -- email ----------------------------------------------------------------------------------


def smtp_settings(settings, port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.DEFAULT_FROM_EMAIL = "alerts@tickwire.test"


async def test_an_email_for_people_goes_through_a_real_smtp_server(settings):
    smtp = SmtpReceiver()
    smtp_settings(settings, smtp.port)
    try:
        rule = await sync_to_async(make_rule)(["email"], email="ann@alerts.test")
        event = await sync_to_async(fire)(rule)
        dispatcher = Dispatcher(nothing)
        row = await deliver_until(dispatcher, event, "email", lambda r: r.status != "pending")
        await dispatcher.stop()
    finally:
        smtp.close()
    assert (row.status, row.destination, row.attempts) == ("delivered", "ann@alerts.test", 1)
    [(sender, to, mail)] = smtp.messages
    assert (sender, to) == ("alerts@tickwire.test", ["ann@alerts.test"])
    assert mail["Subject"] == "Tickwire alert: AAPL over 200"
    assert mail["X-Tickwire-Event-Id"] == str(event.key)
    assert mail["Message-ID"] == f"<{event.key}@tickwire.test>"
    text = mail.get_payload(decode=True).decode()
    assert "Value:     200.5" in text and "Level:     200" in text
    assert "Target:    AAPL" in text and str(event.key) in text
    assert "http" not in text


async def test_a_temporary_smtp_refusal_is_retried_and_a_permanent_one_fails(settings):
    smtp = SmtpReceiver(refusals=["451 4.3.0 try again later", "554 5.7.1 rejected"])
    smtp_settings(settings, smtp.port)
    try:
        rule = await sync_to_async(make_rule)(["email"], email="ann@alerts.test")
        event = await sync_to_async(fire)(rule)
        dispatcher = Dispatcher(nothing)
        row = await deliver_until(dispatcher, event, "email", lambda r: r.status != "pending")
        await dispatcher.stop()
    finally:
        smtp.close()
    assert (row.status, row.attempts) == ("failed", 2)
    assert "554" in row.last_error and smtp.messages == []
    assert dispatcher.counts[("email", "retried")] == 1


# -- websocket ------------------------------------------------------------------------------


async def test_the_websocket_channel_publishes_the_alert_on_the_owners_control_channel():
    broker = MemoryBroker()
    heard: list[bytes] = []
    await broker.start(lambda pub: heard.append(pub.frame))
    rule = await sync_to_async(make_rule)(["websocket"])
    await broker.subscribe(control.user_control_channel(rule.owner_id))
    event = await sync_to_async(fire)(rule)
    dispatcher = Dispatcher(broker.publish)
    row = await deliver_until(dispatcher, event, "websocket", lambda r: r.status != "pending")
    await dispatcher.stop()
    await broker.close()
    assert row.status == "delivered"
    [frame] = heard
    message = orjson.loads(frame)
    assert message["type"] == control.USER_CONTROL
    data = message["data"]
    assert (data["user_id"], data["event"]) == (rule.owner_id, control.USER_ALERT)
    assert data["alert"] == outbox.event_payload(event)


async def test_a_broker_that_refuses_is_retried():
    calls = []

    async def flaky(channel, body):
        calls.append(channel)
        if len(calls) == 1:
            raise ConnectionError("redis went away")

    rule = await sync_to_async(make_rule)(["websocket"])
    event = await sync_to_async(fire)(rule)
    dispatcher = Dispatcher(flaky)
    row = await deliver_until(dispatcher, event, "websocket", lambda r: r.status != "pending")
    await dispatcher.stop()
    assert (row.status, row.attempts) == ("delivered", 2) and len(calls) == 2


async def test_a_started_dispatcher_sends_when_woken_and_stops_cleanly():
    receiver = WebhookReceiver(SECRET)
    dispatcher = Dispatcher(nothing, poll=3600)  # only a wake makes it look
    dispatcher.start()
    try:
        rule = await sync_to_async(make_rule)(["webhook"], webhook_url=receiver.url)
        await asyncio.sleep(0.1)  # its first look found nothing
        await sync_to_async(fire)(rule)
        dispatcher.wake()
        deadline = time.monotonic() + 10
        while not receiver.received:
            assert time.monotonic() < deadline, "the woken dispatcher sent nothing"
            await asyncio.sleep(0.05)
    finally:
        await dispatcher.stop()
        receiver.close()
    assert not dispatcher.running
    assert receiver.received[0].signed


# -- visible: /metrics and staff status -----------------------------------------------------


async def test_the_feed_runtime_counts_deliveries_for_metrics_and_staff_status():
    from tests.realtime.prometheus import samples
    from tickwire.realtime import metrics, status
    from tickwire.realtime.runtime import Runtime

    receiver = WebhookReceiver(SECRET, answers=[(500, {}, "oops")])
    runtime = Runtime(broker=MemoryBroker())
    await runtime.start(run_feed=False)
    try:
        # Written before the feed starts (as by a process that stopped): they go out too.
        rule = await sync_to_async(make_rule)(["websocket", "webhook"], webhook_url=receiver.url)
        event = await sync_to_async(fire)(rule)
        await runtime.start_feed()  # no assets: the feed runs idle, the dispatcher beside it
        assert runtime.dispatcher is not None and runtime.dispatcher.running
        deadline = time.monotonic() + 10
        while await sync_to_async(pending_count)():
            assert time.monotonic() < deadline, "deliveries still pending"
            await asyncio.sleep(0.05)
        scraped = samples(metrics.render(runtime, []))
        body = await status.service_status(runtime, user_id=None, staff=True)
        public = await status.service_status(runtime, user_id=None)
    finally:
        await runtime.stop()
        receiver.close()
    assert runtime.dispatcher is None  # stopped with the feed

    def count(channel, result):
        key = (("channel", channel), ("result", result))
        return scraped[("tickwire_alert_deliveries_total", key)]

    assert count("websocket", "delivered") == 1
    assert (count("webhook", "retried"), count("webhook", "delivered")) == (1, 1)
    assert count("email", "failed") == 0
    assert body["alert_deliveries"]["pending"] == 0
    assert body["alert_deliveries"]["counts"]["webhook"] == {
        "delivered": 1,
        "failed": 0,
        "retried": 1,
    }
    assert "alert_deliveries" not in public
    assert {r.headers["Idempotency-Key"] for r in receiver.received} == {str(event.key)}


@pytest.mark.skipif(not POSTGRES, reason="SQLite has no row locks: one dispatcher per database")
def test_two_dispatchers_claiming_at_once_never_take_the_same_row():
    import threading

    from django.db import connection

    from tickwire.alerts.delivery import claim

    rule = make_rule(["websocket"])
    for fired in _fires(rule, 30):
        outbox.commit([(rule_meta(rule), fired)], {})
    start = threading.Barrier(2)
    taken: list[list[int]] = [[], []]
    errors: list[BaseException] = []

    def worker(slot):
        try:
            start.wait(timeout=10)
            for _ in range(10):
                taken[slot] += [c.id for c in claim(limit=4)]
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads) and errors == []
    assert not set(taken[0]) & set(taken[1])
    assert sorted(taken[0] + taken[1]) == sorted(AlertDelivery.objects.values_list("pk", flat=True))
    assert set(AlertDelivery.objects.values_list("attempts", flat=True)) == {1}


def _fires(rule, n):
    """``n`` fires of ``rule`` (a fresh engine each: every one crosses its level anew)."""
    out = []
    for i in range(n):
        engine = AlertEngine([engine_rule(rule)])
        [fired] = engine.observe(Observation.asset("AAPL", str(300 + i), at=time.time()))
        out.append(fired)
    return out


def test_an_email_subject_is_one_line_whatever_the_rule_is_called():
    from tickwire.alerts import mail

    email = mail.message({"name": "AAPL\r\nBcc: all@example.com", "event_id": "k"}, "a@b.test")
    assert email.subject == "Tickwire alert: AAPL Bcc: all@example.com"
    assert email.message()["Bcc"] is None


def test_retry_after_reads_seconds_and_http_dates_and_ignores_nonsense():
    from datetime import UTC, datetime

    now = datetime(2026, 11, 30, 8, 0, 0, tzinfo=UTC)
    assert webhooks.retry_after("120", now) == 120.0
    assert webhooks.retry_after("Mon, 30 Nov 2026 08:01:30 GMT", now) == 90.0
    assert webhooks.retry_after("Mon, 30 Nov 2026 07:00:00 GMT", now) == 0.0
    assert webhooks.retry_after("soon", now) is None and webhooks.retry_after(None) is None


async def test_408_is_retried_and_a_redirect_is_not_followed():
    receiver = WebhookReceiver(
        SECRET, answers=[(408, {}, ""), (301, {"Location": "http://127.0.0.1:9/x"}, "moved")]
    )
    try:
        rule = await sync_to_async(make_rule)(["webhook"], webhook_url=receiver.url)
        event = await sync_to_async(fire)(rule)
        dispatcher = Dispatcher(nothing)
        row = await deliver_until(dispatcher, event, "webhook", lambda r: r.status != "pending")
        await dispatcher.stop()
    finally:
        receiver.close()
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "HTTP 301: moved")
    assert [r.headers["X-Tickwire-Delivery-Attempt"] for r in receiver.received] == ["1", "2"]
