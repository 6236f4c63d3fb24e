"""console: a web console at /console, built only on kehu's public GraphQL API.

Plain ES modules, fetch and WebSocket — no framework, no build step. It shows what
the enabled plugins offer (their panels, boards and charts) and nothing of the
others. Its GraphQL operations are trusted documents, so it keeps working when
``[documents] trusted_only`` locks the API down to registered operations.
"""

from kehu import hookimpl


@hookimpl
def kehu_plugin_info():
    return {"api": ">=1,<2", "description": "Web console at /console: customers, complaints board, dashboards"}


@hookimpl
def kehu_routes(kehu):
    from .page import console_routes

    return console_routes(kehu)


@hookimpl
def kehu_trusted_documents(kehu):
    from .service import available_operations

    return [operation.text for operation in available_operations(kehu).values()]
