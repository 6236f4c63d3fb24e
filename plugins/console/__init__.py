"""console: a web console at /console, built only on kehu's public GraphQL API.

Plain ES modules, fetch and WebSocket — no framework, no build step, nothing
loaded from elsewhere. It shows what the enabled plugins offer and what the
viewer's role may do (``me { permissions }``), in Chinese or English. Its GraphQL
operations are trusted documents, so it keeps working when ``[documents]
trusted_only`` locks the API down to registered operations. Other plugins give it
the texts of their panels through ``kehu_console_messages`` (see ``hookspecs``).
"""

from kehu import hookimpl


@hookimpl
def kehu_plugin_info():
    return {
        "api": ">=1,<2",
        "description": "Web console at /console: my day, customers, complaints, surveys, dashboards",
        "hookspecs": "kehu.plugins.console.hookspecs",
        "pages": {"/console": "console"},
    }


@hookimpl
def kehu_settings_model():
    from .settings import ConsoleSettings

    return ConsoleSettings


@hookimpl
def kehu_routes(kehu):
    from .page import console_routes

    return console_routes(kehu)


@hookimpl
def kehu_trusted_documents(kehu):
    from .service import available_operations

    return [operation.text for operation in available_operations(kehu).values()]
