"""The server runtime: the configured application (``Kehu``), the plugin manager,
the database context, sign-in, rate limits, trusted documents, the live event bus
and the Starlette app. Plugins receive a ``Kehu`` as the ``kehu`` argument of
their hooks; nothing else here is plugin API."""
