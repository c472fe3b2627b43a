"""WebSocket protocol options that daphne's command line does not offer.

autobahn, daphne's WebSocket implementation, fails a connection by dropping TCP
(``failByDrop``) unless told otherwise, so a client that sent a message over daphne's size
limit, or text that is not UTF-8, saw only 1006 (abnormal closure) and could not tell why.
With the closing handshake it gets the codes RFC 6455 gives these cases: 1009 (message too
big) and 1007 (invalid payload data). Everything the application can read is answered with
an error frame instead (helpdesk/consumers.py).
"""

PROTOCOL_OPTIONS = {"failByDrop": False}


def websocket_protocol_configure() -> bool:
    """Make daphne's WebSocket factory close with a code; True when daphne is installed.

    Called when the ASGI application is imported, which daphne does before it builds the
    factory; the options set here survive the ones daphne sets afterwards.
    """
    try:
        from daphne import ws_protocol
    except ImportError:
        return False
    factory = ws_protocol.WebSocketFactory
    if getattr(factory, "_closes_with_a_code", False):
        return True
    original_init = factory.__init__

    def __init__(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self.setProtocolOptions(**PROTOCOL_OPTIONS)

    factory.__init__ = __init__
    factory._closes_with_a_code = True
    return True
