"""The asyncio driver: a connection on an event loop, over ASGI events.

- :mod:`~django_websocket.asyncio.connection`: :class:`Connection`, the driver;
- :mod:`~django_websocket.asyncio.asgi`: :class:`ASGITransport`, the handshake and close
  events and what each ASGI server does differently;
- :mod:`~django_websocket.asyncio.threads`: :class:`ConnectionThread`, where a
  connection's sync code runs, on a thread that exists only while it has work.
"""
