"""Websocket consumers: the customer's chat and the agents' console. Frames: docs/live-chat.md."""

import asyncio
import json
import logging
import weakref

from asgiref.sync import sync_to_async

# What daphne's WebSocket layer (autobahn) raises into ``send`` once the client is gone.
from autobahn.exception import Disconnected as SocketGone
from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from channels.utils import await_many_dispatch
from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import DatabaseError

from copilot.delivery import chat_message_receive, turn_deliver
from copilot.selectors import message_unanswered_get
from helpdesk import realtime
from helpdesk.asyncdb import database_sync_to_async
from helpdesk.channel_layer import ChannelLayerUnavailable
from helpdesk.client_ip import scope_client_ip
from helpdesk.frames import MAX_FRAME_DEPTH, frame_problem
from helpdesk.identity import conversation_token_read
from helpdesk.metrics import WEBSOCKETS
from helpdesk.models import Conversation, Message
from helpdesk.payloads import agent_name, message_payload
from helpdesk.selectors import (
    AccessRevoked,
    agents_online_get,
    conversation_erasure_check,
    conversation_for_token,
    messages_for_customer,
    user_is_agent,
)
from helpdesk.services import (
    agent_presence_connect,
    agent_presence_disconnect,
    agent_presence_heartbeat,
    conversation_human_request,
    customer_presence_mark,
    escalation_status_frame,
)
from helpdesk.services.limits import RateLimited

logger = logging.getLogger(__name__)

# Close codes (4000-4999 are the application's own).
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
# The channel layer (Redis) came back after an outage: reconnect and catch up. RFC 6455's 1012
# (Service Restart) moved to the application's range: daphne sends only 1000 and 3000-4999.
CLOSE_RECONNECT = 4012
# How often a socket whose channel layer is down tries it again.
LAYER_RETRY_SECONDS = 1.0
# A frame longer than this (in characters) is refused before it is parsed. Past daphne's
# --websocket-max-message-size (1 MiB) the server itself closes with 1009, and with 1007 for text
# that is not UTF-8 (helpdesk/websocket_protocol.py).
MAX_FRAME_BYTES = 16 * 1024
# This process's open sockets (see JsonFrameConsumer.layer_failed).
_open_sockets: "weakref.WeakSet[JsonFrameConsumer]" = weakref.WeakSet()


class JsonFrameConsumer(AsyncJsonWebsocketConsumer):
    """Parses frames defensively: bad input gets an ``error`` frame and the socket stays open.

    The socket also outlives its channel layer: while Redis is down the customer can still
    write (messages go to the database) and only live frames from other processes stop.
    When the layer answers again, the socket rejoins its groups and closes with 4012; the
    client reconnects and catches up on what it missed (the widget's ``resume``, the
    console's reload), which no live frame can replay.
    """

    handlers: dict[str, str] = {}
    layer_recovery: asyncio.Task | None = None
    # Closed with 4012: the consumer lives on until the client's disconnect arrives.
    reconnect_asked = False

    async def dispatch(self, message):
        # AsyncConsumer.dispatch without its close_old_connections: that was a trip to the
        # process's one shared database thread for every relayed token frame, and queued every
        # customer's ack behind them under load (bench/ws_load.py). Every database call here
        # goes through database_sync_to_async, which closes old connections around itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def __call__(self, scope, receive, send):
        # AsyncConsumer.__call__, but a channel layer that fails does not end the socket.
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.base_send = send
        sources = [receive]
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            sources.append(self.layer_receive)
        _open_sockets.add(self)
        try:
            await await_many_dispatch(sources, self.dispatch)
        except StopConsumer:
            pass
        finally:
            _open_sockets.discard(self)
            if self.layer_recovery is not None:
                self.layer_recovery.cancel()
            # The client's disconnect may never have been dispatched (the server shut the socket,
            # a handler raised): the gauges and groups must be released on every way out.
            await asyncio.shield(self.cleanup())

    async def websocket_disconnect(self, message):
        await self.cleanup(code=message.get("code"))
        raise StopConsumer()

    cleaned_up = False

    async def cleanup(self, *, code: int | None = None) -> None:
        """Leave the groups and release the gauge; runs once, whichever way the socket ends."""
        if self.cleaned_up:
            return
        self.cleaned_up = True
        try:
            await self.disconnect(code)
        except Exception:
            logger.exception("Cleaning up a closed socket failed")

    async def layer_receive(self) -> dict:
        while True:
            try:
                return await self.channel_layer.receive(self.channel_name)
            except Exception as exc:
                if self.reconnect_asked:
                    # Its client is reconnecting on a new socket: a failure seen here (a receive
                    # that timed out, a stale pooled connection) must not close that one too.
                    await asyncio.get_running_loop().create_future()
                # The pub/sub layer lost its connection: frames published meanwhile are gone even if
                # Redis answers again already, so the client must catch up.
                outage = isinstance(exc, ChannelLayerUnavailable)
                if not outage and self.layer_recovery is None and await self.layer_answers():
                    # Not an outage: a blocking read that outlived the client's socket timeout.
                    logger.debug("Channel layer receive failed; the layer answers, receiving again", exc_info=True)
                    continue
                self.layer_failed(exc)
                await asyncio.sleep(LAYER_RETRY_SECONDS)

    async def layer_answers(self) -> bool:
        """Whether the channel layer takes this socket's groups (rejoining them); False without any."""
        groups = self.layer_groups()
        if not groups:
            return False
        try:
            for group in groups:
                await self.channel_layer.group_add(group, self.channel_name)
        except Exception:
            logger.debug("Channel layer unavailable", exc_info=True)
            return False
        return True

    def layer_failed(self, error: Exception) -> None:
        """The channel layer is down. Every socket of this process shares its connection, and
        some of them may be waiting behind the one that saw the error: all of them recover."""
        waiting = [socket for socket in _open_sockets if socket.layer_recovery is None]
        for socket in waiting:
            socket.layer_recovery = asyncio.ensure_future(socket.layer_recover())
        if waiting:
            logger.warning(
                "Channel layer unavailable; %d sockets keep serving without live updates",
                len(waiting),
                exc_info=error,
            )

    async def layer_recover(self) -> None:
        """Until the layer takes this socket's groups again; then close, for the client to catch up."""
        while True:
            await asyncio.sleep(LAYER_RETRY_SECONDS)
            if await self.layer_answers():
                break
        logger.info("Channel layer is back; socket %s reconnects to catch up", self.channel_name)
        self.reconnect_asked = True
        _open_sockets.discard(self)
        await self.close(code=CLOSE_RECONNECT)

    def layer_groups(self) -> list[str]:
        """The groups this socket belongs in (rejoined when the channel layer returns)."""
        return []

    async def group_join(self, group: str) -> None:
        try:
            await self.channel_layer.group_add(group, self.channel_name)
        except Exception as exc:
            self.layer_failed(exc)

    async def group_leave(self, group: str) -> None:
        try:
            await self.channel_layer.group_discard(group, self.channel_name)
        except Exception:
            # Redis is down: the membership expires by itself (group_expiry), and sends to a
            # closed socket's channel are dropped.
            logger.info("Could not leave %s: the channel layer is unavailable", group)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        if text_data is None:
            await self.error("bad_frame", "Frames must be JSON text.")
            return
        if len(text_data) > MAX_FRAME_BYTES:
            await self.error("too_long", f"A frame can have at most {MAX_FRAME_BYTES} bytes.")
            return
        try:
            content = json.loads(text_data)
        except RecursionError:
            await self.error("bad_json", f"The frame is nested too deeply (at most {MAX_FRAME_DEPTH} levels).")
            return
        except ValueError:
            await self.error("bad_json", "The frame is not valid JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.error("bad_frame", 'A frame is a JSON object with a "type".')
            return
        if problem := frame_problem(content=content):
            await self.error("bad_frame", problem)
            return
        handler = self.handlers.get(content["type"])
        if handler is None:
            await self.error("unknown_type", f"Unknown frame type {content['type'][:40]!r}.")
            return
        try:
            await getattr(self, handler)(content)
        except StopConsumer:
            raise
        except AccessRevoked:
            # Erased while this socket was open (a broadcast it missed): it ends like the others.
            await self.access_revoked()
        except DatabaseError:
            # PostgreSQL dropped the connection: the frame rolled back, and the next one reconnects
            # (CONN_HEALTH_CHECKS). The widget resends a message with the same client_id on this code.
            logger.warning("Database unavailable for a %r frame", content["type"], exc_info=True)
            client_id = content.get("client_id")
            extra = {"client_id": client_id} if isinstance(client_id, str) else {}
            await self.error("unavailable", "We could not save that just now; please try again.", **extra)
        except Exception:
            # A bug must cost one frame, not the socket: daphne would close it with 1011.
            logger.exception("A %r frame failed", content["type"])
            await self.error("internal", "Something went wrong with that request; please try again.")

    async def send(self, text_data=None, bytes_data=None, close=False):
        try:
            await super().send(text_data=text_data, bytes_data=bytes_data, close=close)
        except SocketGone:
            # The client went while a frame was on its way (a token, a relayed message): its
            # disconnect follows, and what it missed is stored and comes back with ``resume``.
            logger.debug("A frame for a closed socket was dropped")

    async def access_revoked(self) -> None:
        """The person behind this socket was erased: close with 4401 and handle nothing more."""
        await self.close(code=CLOSE_UNAUTHENTICATED)
        raise StopConsumer()

    async def error(self, code: str, detail: str, **extra) -> None:
        await self.send_json({"type": "error", "code": code, "detail": detail, **extra})

    async def ping(self, content: dict) -> None:
        await self.send_json({"type": "pong"})

    async def relay(self, event: dict) -> None:
        """A frame a service sent to one of this socket's groups."""
        await self.send_json(event["frame"])


class ChatConsumer(JsonFrameConsumer):
    """``ws/chat/<token>/``: one customer's conversation, named by its signed token."""

    handlers = {
        "message": "on_message",
        "resume": "on_resume",
        "typing": "on_typing",
        "human": "on_human",
        "ping": "on_ping",
    }
    # Set once the conversation is known; the channel layer can fail before that.
    group: str | None = None

    async def connect(self):
        # Answers keep running if the socket goes; the set keeps them from being collected.
        self.turns: set[asyncio.Task] = set()
        claims = conversation_token_read(token=self.scope["url_route"]["kwargs"]["token"])
        # Accept first so the browser sees the close code (a refused handshake is only "1006").
        await self.accept()
        if claims is None:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        try:
            conversation = await database_sync_to_async(conversation_for_token)(claims=claims)
        except AccessRevoked:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if conversation is None:
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.conversation = conversation
        self.group = realtime.conversation_group(conversation.pk)
        WEBSOCKETS.labels(socket="chat").inc()
        await self.group_join(self.group)
        await self.presence(online=True)

    async def disconnect(self, code):
        if self.group:
            WEBSOCKETS.labels(socket="chat").dec()
            await self.group_leave(self.group)
            await self.presence(online=False)

    def layer_groups(self) -> list[str]:
        return [self.group] if self.group else []

    async def access_revoked(self) -> None:
        # An answer under way would only be dropped at its end (``AccessRevoked`` in the pipeline).
        for turn in self.turns:
            turn.cancel()
        await super().access_revoked()

    async def presence(self, *, online: bool) -> None:
        # A cache that is down must not cost the customer the chat; presence only decides emails.
        try:
            # Only the cache: no need to queue on the shared database thread.
            await sync_to_async(customer_presence_mark, thread_sensitive=False)(
                conversation_id=self.conversation.pk, online=online
            )
        except Exception:
            logger.warning("Could not record the customer's presence", exc_info=True)

    async def on_ping(self, content: dict) -> None:
        await self.presence(online=True)
        await self.ping(content)

    async def on_message(self, content: dict) -> None:
        text, client_id = content.get("text"), content.get("client_id", "")
        if not isinstance(text, str) or not isinstance(client_id, str) or len(client_id) > 64:
            await self.error("bad_frame", 'A message frame needs "text" and an optional "client_id" (≤ 64 chars).')
            return
        if not text.strip():
            await self.error("empty", "A message cannot be empty.", client_id=client_id)
            return
        if len(text) > settings.CHAT_MESSAGE_MAX_CHARS:
            await self.error(
                "too_long",
                f"A message can have at most {settings.CHAT_MESSAGE_MAX_CHARS} characters.",
                client_id=client_id,
            )
            return
        try:
            message, created = await database_sync_to_async(chat_message_receive)(
                conversation=self.conversation, text=text, client_id=client_id, client_ip=scope_client_ip(self.scope)
            )
        except RateLimited as exc:
            await self.error("rate_limited", exc.message, client_id=client_id)
            return
        except ValidationError as exc:
            await self.error("bad_frame", "; ".join(exc.messages), client_id=client_id)
            return
        await self.send_json({"type": "ack", "client_id": client_id, "id": message.pk, "duplicate": not created})
        if created:
            self.answer(message)
        else:
            await self.answer_unanswered()

    def answer(self, message: Message) -> None:
        turn = asyncio.ensure_future(
            turn_deliver(conversation_id=self.conversation.pk, message_id=message.pk, text=message.content)
        )
        self.turns.add(turn)
        turn.add_done_callback(self.turns.discard)

    async def answer_unanswered(self) -> None:
        """A resend or a reconnect after the answering process died: answer the message now."""
        message = await database_sync_to_async(message_unanswered_get)(conversation_id=self.conversation.pk)
        if message is not None:
            self.answer(message)

    async def on_resume(self, content: dict) -> None:
        last_id = content.get("last_id", 0)
        if not isinstance(last_id, int) or isinstance(last_id, bool) or last_id < 0:
            await self.error("bad_frame", '"last_id" must be a message id (a non-negative integer).')
            return
        await database_sync_to_async(conversation_erasure_check)(conversation_id=self.conversation.pk)
        messages = await database_sync_to_async(messages_for_customer)(conversation=self.conversation, after_id=last_id)
        for message in messages:
            await self.send_json({"type": "message", "message": message_payload(message)})
        await self.send_json({"type": "resumed", "last_id": messages[-1].pk if messages else last_id})
        await self.answer_unanswered()

    async def on_typing(self, content: dict) -> None:
        active = content.get("active")
        if not isinstance(active, bool):
            await self.error("bad_frame", '"active" must be true or false.')
            return
        await realtime.agroup_send(
            self.group, {"type": "typing", "conversation": self.conversation.pk, "role": "customer", "active": active}
        )

    async def on_human(self, content: dict) -> None:
        conversation = await database_sync_to_async(Conversation.objects.select_related("customer").get)(
            pk=self.conversation.pk
        )
        ticket, created = await database_sync_to_async(conversation_human_request)(conversation=conversation)
        if ticket is not None and not created:
            # Already with the team: say so again to this tab (a new ticket announces itself).
            frame = await database_sync_to_async(escalation_status_frame)(conversation=conversation, ticket=ticket)
            await self.send_json(frame)

    async def relay(self, event: dict) -> None:
        frame = event["frame"]
        if frame.get("type") == realtime.ACCESS_REVOKED:
            # Its customer was erased (``customer_erase``): the token no longer opens anything.
            await self.access_revoked()
        if frame.get("type") == "typing" and frame.get("role") == "customer":
            return
        await self.send_json(frame)


class ConsoleConsumer(JsonFrameConsumer):
    """``ws/console/``: live queue updates for logged-in agents and staff."""

    handlers = {
        "watch": "on_watch",
        "unwatch": "on_unwatch",
        "typing": "on_typing",
        "ping": "on_ping",
    }

    joined = False

    async def connect(self):
        self.user = self.scope.get("user")
        self.watching: set[int] = set()
        await self.accept()
        if not await database_sync_to_async(user_is_agent)(user=self.user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.joined = True
        WEBSOCKETS.labels(socket="console").inc()
        await self.group_join(realtime.CONSOLE_GROUP)
        await database_sync_to_async(agent_presence_connect)(user=self.user)
        await self.send_presence()

    async def disconnect(self, code):
        if not self.joined:
            return
        WEBSOCKETS.labels(socket="console").dec()
        for group in self.layer_groups():
            await self.group_leave(group)
        await database_sync_to_async(agent_presence_disconnect)(user=self.user)

    def layer_groups(self) -> list[str]:
        if not self.joined:
            return []
        return [realtime.CONSOLE_GROUP, *(realtime.conversation_group(pk) for pk in self.watching)]

    def conversation_id(self, content: dict) -> int | None:
        value = content.get("conversation")
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
        return None

    async def on_watch(self, content: dict) -> None:
        conversation_id = self.conversation_id(content)
        if conversation_id is None:
            await self.error("bad_frame", '"conversation" must be a conversation id.')
            return
        if not await Conversation.objects.filter(pk=conversation_id).aexists():
            await self.error("not_found", "No such conversation.")
            return
        if conversation_id not in self.watching:
            self.watching.add(conversation_id)
            await self.group_join(realtime.conversation_group(conversation_id))
        await self.send_json({"type": "watching", "conversation": conversation_id})

    async def on_unwatch(self, content: dict) -> None:
        conversation_id = self.conversation_id(content)
        if conversation_id in self.watching:
            self.watching.discard(conversation_id)
            await self.group_leave(realtime.conversation_group(conversation_id))

    async def on_typing(self, content: dict) -> None:
        conversation_id, active = self.conversation_id(content), content.get("active")
        if conversation_id is None or not isinstance(active, bool):
            await self.error("bad_frame", 'A typing frame needs "conversation" and "active".')
            return
        await realtime.agroup_send(
            realtime.conversation_group(conversation_id),
            {
                "type": "typing",
                "conversation": conversation_id,
                "role": "agent",
                "name": agent_name(self.user),
                "username": self.user.get_username(),
                "active": active,
            },
        )

    async def on_ping(self, content: dict) -> None:
        # Access is checked again at every heartbeat (25 s): a revoked agent loses the queue within one.
        try:
            await self.user.arefresh_from_db()
        except ObjectDoesNotExist:
            await self.close(code=CLOSE_FORBIDDEN)
            return
        if not await database_sync_to_async(user_is_agent)(user=self.user):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await database_sync_to_async(agent_presence_heartbeat)(user=self.user)
        await self.send_json({"type": "pong"})

    async def send_presence(self) -> None:
        online = await database_sync_to_async(agents_online_get)()
        await self.send_json(
            {
                "type": "presence",
                "agents": [{"username": p.user.get_username(), "name": p.display_name, "online": True} for p in online],
            }
        )

    async def relay(self, event: dict) -> None:
        frame = event["frame"]
        kind = frame.get("type")
        if kind == realtime.ACCESS_REVOKED:
            return
        if kind == "presence_changed":
            await self.send_presence()
            return
        from_conversation = event.get("group") != realtime.CONSOLE_GROUP
        # Stored messages come once, through the console group; the widget's own notices are not for agents.
        if from_conversation and kind in ("message", "agent_joined", "agent_left", "resolved", "escalated"):
            return
        if kind in ("status", "token", "reply_done") and "conversation" not in frame:
            frame = {**frame, "conversation": int(event["group"].rsplit(".", 1)[1])}
        await self.send_json(frame)
