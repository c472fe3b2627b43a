"""Redis pub/sub channel layer that tells the sockets when Redis goes away.

channels_redis's default layer makes each process fetch every frame for its sockets with three
Redis commands (a clean-up script, ``BZPOPMIN`` and a backup ``ZADD``), one frame at a time. At
500 bench sessions and above that queue, not the copilot, set the time to the first token
(bench/ws_load.py, docs/operations.md). Its pub/sub layer has Redis push frames to a subscribed
connection instead: a group send is one ``PUBLISH``.

The pub/sub layer hides an outage, though: a socket waiting to receive waits on, its
subscriptions come back by themselves, and the frames published meanwhile are gone without a
trace. The sockets' recovery (``JsonFrameConsumer.layer_failed``: keep serving, then close with
4012 so the client catches up by ``resume``) needs to hear of it. Here a lost connection wakes
every waiting receive of the process with an error, and joining a group asks Redis for an
answer, which the subscription of a group already joined would not.
"""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable

from channels_redis.pubsub import RedisPubSubChannelLayer, RedisPubSubLoopLayer, RedisSingleShardConnection
from channels_redis.utils import _wrap_close
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)


class ChannelLayerUnavailable(ConnectionError):
    """Redis dropped the connection that delivers this process's frames."""


# Put in each waiting socket's queue when the subscribed connection fails.
_OUTAGE = object()


async def _again_on_a_dead_connection(call: Callable[[], Awaitable[None]]) -> None:
    """Once more when the pooled connection had died (Redis restarted): the next one is new."""
    try:
        await call()
    except RedisConnectionError:
        await call()


class PubSubChannelLayer(RedisPubSubChannelLayer):
    def _get_layer(self) -> "_LoopLayer":
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer


class _LoopLayer(RedisPubSubLoopLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._shards = [_Shard(shard.host, self) for shard in self._shards]

    async def new_channel(self, prefix: str = "specific.") -> str:
        channel = f"{self.prefix}{prefix}{uuid.uuid4().hex}"
        self.channels[channel] = asyncio.Queue()
        try:
            await self._get_shard(channel).subscribe(channel)
        except Exception:
            # Redis is down: the socket opens anyway and serves from the database. Its frames
            # come through its groups, which it rejoins when Redis is back; nothing is sent to
            # a socket's own channel by name.
            logger.info("Opened %s without its subscription: the channel layer is unavailable", channel)
        return channel

    async def receive(self, channel: str) -> dict:
        # RedisPubSubLoopLayer.receive, but an outage marker in the queue raises.
        if channel not in self.channels:
            await self._subscribe_to_channel(channel)
        queue = self.channels[channel]
        try:
            message = await queue.get()
        except (asyncio.CancelledError, TimeoutError, GeneratorExit):
            # The consumer is closing: drop its channel.
            if channel in self.channels:
                del self.channels[channel]
                try:
                    await self._get_shard(channel).unsubscribe(channel)
                except BaseException:
                    logger.exception("Could not unsubscribe %s", channel)
            raise
        if message is _OUTAGE:
            raise ChannelLayerUnavailable("the channel layer lost its Redis connection")
        return self.channel_layer.deserialize(message)

    async def group_add(self, group: str, channel: str) -> None:
        await super().group_add(group, channel)
        # A group this process already subscribes to is not subscribed again: ask Redis, so a
        # socket rejoining its groups after an outage learns whether Redis is really back, and
        # whether the subscribed connection is back too (frames published before it are lost).
        shard = self._get_shard(self._get_group_channel_name(group))
        await shard.ping()
        if shard.down:
            raise ChannelLayerUnavailable("the channel layer is still reconnecting to Redis")

    def outage(self, error: BaseException) -> None:
        waiting = list(self.channels.values())
        logger.warning("Channel layer lost its Redis connection; waking %d sockets", len(waiting), exc_info=error)
        for queue in waiting:
            queue.put_nowait(_OUTAGE)


class _Shard(RedisSingleShardConnection):
    # Whether the subscribed connection failed and has not read from Redis since.
    down = False

    async def ping(self) -> None:
        await _again_on_a_dead_connection(self._ping)

    async def _ping(self) -> None:
        async with self._lock:
            self._ensure_redis()
            await self._redis.ping()

    async def publish(self, channel: str, message: bytes) -> None:
        await _again_on_a_dead_connection(lambda: super(_Shard, self).publish(channel, message))

    # The subscribed connection is shared with the receiving loop: whichever meets an outage
    # first announces it. Met by a (un)subscribe, the loop would reconnect without noticing.
    async def subscribe(self, channel: str) -> None:
        await self._noting_outage(super().subscribe(channel))

    async def unsubscribe(self, channel: str) -> None:
        await self._noting_outage(super().unsubscribe(channel))

    async def _noting_outage(self, call: Awaitable[None]) -> None:
        try:
            await call
        except Exception as exc:
            self.lost(exc)
            raise

    async def resubscribe(self) -> None:
        """Back after an outage: subscribe to everything again (redis-py's reconnection did not
        always, tests/helpdesk/test_channel_layer.py), then count as up."""
        async with self._lock:
            if self._subscribed_to:
                await self._pubsub.subscribe(*self._subscribed_to)
        self.down = False
        logger.info("Channel layer reconnected to Redis; %d subscriptions renewed", len(self._subscribed_to))

    def lost(self, error: BaseException) -> None:
        if not self.down:
            self.down = True
            self.channel_layer.outage(error)

    async def _do_receiving(self) -> None:
        # RedisSingleShardConnection._do_receiving, plus: the first failure of an outage is
        # announced to the waiting sockets, and the first read after it renews the subscriptions.
        while True:
            try:
                if self._pubsub and self._pubsub.subscribed:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
                    if self.down:
                        await self.resubscribe()
                    self._receive_message(message)
                else:
                    await asyncio.sleep(0.1)
            except (asyncio.CancelledError, TimeoutError, GeneratorExit):
                raise
            except Exception as exc:
                self.lost(exc)
                await asyncio.sleep(1)
