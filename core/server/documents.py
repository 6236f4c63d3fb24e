"""Trusted documents (persisted operations).

A frontend that ships a fixed set of GraphQL operations can lock the API down to
them: with ``[documents] trusted_only = true`` the server runs only documents
whose SHA-256 is registered — by ``kehu documents add FILE.graphql|DIR|manifest.json``
(stored in ``kehu_trusted_document``) or by a plugin's ``kehu_trusted_documents``
hook (the console's own operations). Admins may still send anything when
``allow_admin_graphiql`` is true (GraphiQL, one-off scripts).

Clients may send, with or without the text:

* ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}``
  (Apollo's automatic persisted queries; without trusted mode a hash sent once with
  its text is remembered in a bounded in-memory cache, as Apollo servers do), or
* ``{"documentId": "sha256:<hex>"}`` (the GraphQL-over-HTTP persisted documents
  convention; also as a GET parameter).

The hash is of the document's exact text, and the text handed to the schema is
that same text — so the parser and validation caches see one key per document.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, OperationDefinitionNode, parse, validate
from graphql.error import GraphQLSyntaxError

from ..errors import ValidationError
from ..ids import digest as document_hash

if TYPE_CHECKING:
    from ..access import Viewer
    from .runtime import Kehu

HEX64 = re.compile(r"^[0-9a-f]{64}$")
DOCUMENT_SUFFIXES = (".graphql", ".gql")
APQ_MAX_ENTRIES = 1000
APQ_MAX_CHARS = 4_000_000  # all remembered texts together

NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
NOT_TRUSTED = "OPERATION_NOT_TRUSTED"
HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
BAD_ID = "BAD_DOCUMENT_ID"


def operation_names(text: str) -> list[str]:
    try:
        document = parse(text)
    except GraphQLSyntaxError:
        return []
    return [
        d.name.value if d.name else f"(anonymous {d.operation.value})"
        for d in document.definitions
        if isinstance(d, OperationDefinitionNode)
    ]


def _error(code: str, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code})


def requested_hash(extensions: dict[str, Any] | None) -> str | GraphQLError | None:
    """The SHA-256 a request names (persistedQuery or documentId), or None."""
    if not extensions:
        return None
    persisted = extensions.get("persistedQuery")
    if persisted is not None:
        value = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
        if not isinstance(value, str) or not HEX64.match(value.lower()):
            return _error(BAD_ID, "extensions.persistedQuery.sha256Hash must be 64 hexadecimal digits")
        return value.lower()
    document_id = extensions.get("documentId")
    if document_id is not None:
        prefix, _, value = str(document_id).partition(":")
        if prefix != "sha256" or not HEX64.match(value.lower()):
            return _error(BAD_ID, 'documentId must be "sha256:" followed by 64 hexadecimal digits')
        return value.lower()
    return None


class TrustedDocuments:
    """What the GraphQL view asks before running an operation (see module docstring)."""

    def __init__(self, kehu: Kehu):
        self.kehu = kehu
        self.settings = kehu.config.documents
        # Plugins' documents, and registered ones seen before: hash -> text.
        self.known: dict[str, str] = {}
        for _plugin, texts in kehu.plugins.each("kehu_trusted_documents", kehu=kehu):
            for text in texts or ():
                self.known[document_hash(text)] = text
        self._remembered: OrderedDict[str, str] = OrderedDict()
        self._remembered_chars = 0

    @property
    def trusted_only(self) -> bool:
        return self.settings.trusted_only

    def _bypass(self, viewer: Viewer | None) -> bool:
        return viewer is not None and self.settings.allow_admin_graphiql and viewer.role.value == "ADMIN"

    async def _lookup(self, sha256: str) -> str | None:
        text = self.known.get(sha256)
        if text is not None:
            return text
        from ..models import TrustedDocument

        row = await TrustedDocument.get_or_none(sha256=sha256).only("body")
        if row is not None:
            self.known[sha256] = row.body
            return row.body
        if not self.trusted_only:
            text = self._remembered.get(sha256)
            if text is not None:
                self._remembered.move_to_end(sha256)
            return text
        return None

    def _remember(self, sha256: str, text: str) -> None:
        if sha256 in self._remembered or len(text) > APQ_MAX_CHARS // 10:
            return
        self._remembered[sha256] = text
        self._remembered_chars += len(text)
        while len(self._remembered) > APQ_MAX_ENTRIES or self._remembered_chars > APQ_MAX_CHARS:
            _, dropped = self._remembered.popitem(last=False)
            self._remembered_chars -= len(dropped)

    def engaged(self, extensions: dict[str, Any] | None) -> bool:
        """Whether ``prepare`` has anything to do for this request (cheap)."""
        return self.trusted_only or bool(extensions and ("persistedQuery" in extensions or "documentId" in extensions))

    async def prepare(
        self, query: str | None, extensions: dict[str, Any] | None, viewer: Viewer | None
    ) -> str | GraphQLError | None:
        """The document text to run (None when the request has none: strawberry
        answers that itself), or the error to answer with."""
        if query == "":
            query = None  # graphql-ws clients must send a string: "" with a hash means "by hash"
        sha256 = requested_hash(extensions)
        if isinstance(sha256, GraphQLError):
            return sha256
        if sha256 is None:
            if query is None or not self.trusted_only or self._bypass(viewer):
                return query  # strawberry reports a missing query itself
            if await self._lookup(document_hash(query)) is not None:
                return query
            return _error(
                NOT_TRUSTED,
                "this server runs trusted documents only, and this operation is not one of them "
                "(register it with `kehu documents add`)",
            )
        if query is not None:
            if document_hash(query) != sha256:
                return _error(HASH_MISMATCH, "the document's SHA-256 does not match the hash sent with it")
            if not self.trusted_only:
                if sha256 not in self.known:
                    self._remember(sha256, query)
                return query
            if self._bypass(viewer) or await self._lookup(sha256) is not None:
                return query
            return _error(
                NOT_TRUSTED,
                "this server runs trusted documents only, and this operation is not one of them "
                "(register it with `kehu documents add`)",
            )
        text = await self._lookup(sha256)
        if text is None:
            # The message is exactly Apollo's: urql's persisted exchange recognises a
            # miss by it (Apollo's link by the code), and then sends the text.
            hint = "no document is registered with this hash" + (
                "" if self.trusted_only else "; send it again with its text"
            )
            return GraphQLError("PersistedQueryNotFound", extensions={"code": NOT_FOUND, "hint": hint})
        return text


# --------------------------------------------------------------------------- registering


@dataclass
class Candidate:
    text: str
    source: str
    sha256: str


def _from_manifest(path: Path) -> list[Candidate]:
    """Apollo's persisted-query manifest, or a plain ``{sha256: text}`` map (Relay's
    format with the sha256 hasher)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(f"{path}: not valid JSON: {exc}", code="INVALID_MANIFEST") from None
    if isinstance(data, dict) and isinstance(data.get("operations"), list):
        pairs = [(op.get("id"), op.get("body")) for op in data["operations"] if isinstance(op, dict)]
    elif isinstance(data, dict):
        pairs = list(data.items())
    else:
        raise ValidationError(
            f"{path}: expected an Apollo manifest or a {{sha256: document}} object", code="INVALID_MANIFEST"
        )
    out = []
    for key, text in pairs:
        if not isinstance(text, str):
            raise ValidationError(f"{path}: entry {key!r} has no document text", code="INVALID_MANIFEST")
        if isinstance(key, str) and key.lower().removeprefix("sha256:") != document_hash(text):
            raise ValidationError(
                f"{path}: entry {key!r} is not the SHA-256 of its document (only SHA-256 ids are supported)",
                code="HASH_MISMATCH",
            )
        out.append(Candidate(text, f"{path}#{key}", document_hash(text)))
    return out


def document_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files named, and the ``.graphql``/``.gql`` files below the directories
    named (searched recursively, sorted); a path that is neither, or a directory
    without documents, is a ``NOT_FOUND`` error."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in DOCUMENT_SUFFIXES and p.is_file())
            if not found:
                raise ValidationError(f"{path}: no .graphql or .gql files in this directory", code="NOT_FOUND")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise ValidationError(f"{path}: no such file or directory", code="NOT_FOUND")
    return files


def collect(paths: Iterable[str | Path]) -> list[Candidate]:
    """The documents in files (``.graphql``/``.gql``: one document each; ``.json``:
    a manifest) and directories (searched recursively for ``.graphql``/``.gql``)."""
    out: list[Candidate] = []
    for file in document_files(paths):
        if file.suffix.lower() == ".json":
            out.extend(_from_manifest(file))
            continue
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValidationError(f"{file}: not UTF-8 text", code="INVALID_DOCUMENT") from None
        out.append(Candidate(text, str(file), document_hash(text)))
    return out


def check_against_schema(kehu: Kehu, candidates: list[Candidate]) -> None:
    """Refuse, naming the file, a document that does not parse or validate against
    the schema of the enabled plugins: it could never run."""
    schema = kehu.schema.graphql_schema
    for candidate in candidates:
        try:
            document = parse(candidate.text)
        except GraphQLSyntaxError as exc:
            raise ValidationError(
                f"{candidate.source}: {exc.message} (line {exc.locations[0].line if exc.locations else '?'})",
                code="INVALID_DOCUMENT",
            ) from None
        if not any(isinstance(d, OperationDefinitionNode) for d in document.definitions):
            raise ValidationError(f"{candidate.source}: holds no operation", code="INVALID_DOCUMENT")
        errors = validate(schema, document)
        if errors:
            raise ValidationError(f"{candidate.source}: {errors[0].message}", code="INVALID_DOCUMENT")


async def register(kehu: Kehu, candidates: list[Candidate]) -> tuple[int, int]:
    """Store the documents; ``(added, already registered)``."""
    from ..models import TrustedDocument

    added = existing = 0
    for candidate in {c.sha256: c for c in candidates}.values():
        if await TrustedDocument.exists(sha256=candidate.sha256):
            existing += 1
            continue
        await TrustedDocument.create(
            sha256=candidate.sha256,
            body=candidate.text,
            source=candidate.source[:500],
            operations=" ".join(operation_names(candidate.text))[:500],
        )
        added += 1
    return added, existing


def plugin_documents(kehu: Kehu) -> list[tuple[str, str]]:
    """``(plugin, text)`` of every document the enabled plugins trust."""
    return [
        (plugin, text)
        for plugin, texts in kehu.plugins.each("kehu_trusted_documents", kehu=kehu)
        for text in texts or ()
    ]
