"""A scaled-out deployment on loopback for the fault tests: Redis, PostgreSQL, one server
node and the feed process, each a real process stopped by its pid."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path

from tests.infra import FeedProcess, PostgresServer, RedisServer
from tests.servers import ServerProcess

from .wire import get_json


@dataclass
class Deployment:
    workdir: Path
    redis: RedisServer
    postgres: PostgresServer
    node: ServerProcess
    feed: FeedProcess

    def health(self) -> tuple[int, dict]:
        try:
            status, body = get_json(self.node.url + "/realtime/health/")
        except OSError:
            return 0, {}
        return status, body if isinstance(body, dict) else {}

    def pause_redis(self) -> None:
        assert self.redis.proc is not None
        os.kill(self.redis.proc.pid, signal.SIGSTOP)

    def resume_redis(self) -> None:
        assert self.redis.proc is not None
        os.kill(self.redis.proc.pid, signal.SIGCONT)

    def kill_feed(self) -> None:
        """SIGKILL: the feed dies without a word, its heartbeat left to expire."""
        assert self.feed.proc is not None
        os.killpg(self.feed.proc.pid, signal.SIGKILL)
        self.feed.proc.wait(10)

    def stop(self) -> None:
        for part in (self.feed, self.node, self.redis, self.postgres):
            try:
                part.stop()
            except Exception:  # keep stopping the others
                pass


def start_deployment(workdir: Path, pg_workdir: Path) -> Deployment:
    redis = RedisServer(workdir).start()
    postgres = PostgresServer(pg_workdir)
    node = feed = None
    try:
        postgres.start()
        env = {
            "TICKWIRE_BROKER_URL": redis.url,
            "TICKWIRE_REDIS_PREFIX": "adv",
            "DATABASE_URL": postgres.create_database("tickwire_faults"),
            "TICKWIRE_NODE_HEARTBEAT_SECONDS": "0.2",
            "TICKWIRE_NODE_TIMEOUT_SECONDS": "1.5",
        }
        node = ServerProcess(workdir, env=env).start(wait_healthy=False)
        feed = FeedProcess(workdir, node.env).start()
        return Deployment(workdir, redis, postgres, node, feed)
    except BaseException:
        for part in (feed, node, redis, postgres):
            if part is not None:
                part.stop()
        raise
