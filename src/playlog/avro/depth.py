"""Bound how deeply an event's data nests before a native decoder sees it.

fastavro (and polars) decode records, arrays, maps and unions by recursing in C:
a recursive schema lets 10 KB of data (a linked list 5,000 nodes long) crash the
process with SIGSEGV. So every datum is held to ``limit`` levels of records, arrays,
maps and unions (the top record is level 1).

For most schemas nothing is walked: data can nest no deeper than its schema, and a
schema's depth is computed once and cached. Only schemas that could exceed the
limit (recursive ones, or deeper than a lowered limit) or that hold arrays of
items encoding to zero bytes (``null``, empty records: a 3-byte block header could
claim 2**62 of them) are walked datum by datum here, iteratively, before decoding:

    >>> plan = plan_for(parsed_schema)
    >>> if plan.needs_walk(64):
    ...     end = Walker(limit=64, empty_items=len(body)).skip(body, start, plan)
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from playlog.avro.varint import read_long
from playlog.errors import InvalidPayload

DEFAULT_DEPTH = 64

_FIXED_SIZES = {"null": 0, "boolean": 1, "float": 4, "double": 8}
_VARINT = frozenset({"int", "long", "enum"})
_SIZED = frozenset({"bytes", "string"})
_NESTED = frozenset({"record", "array", "map", "union"})


class TooDeep(InvalidPayload):
    """Data nested deeper than the limit (422, the limit in ``details``)."""


class _Node:
    """One schema type, compiled for walking; named types are shared (so may cycle)."""

    __slots__ = ("children", "empty_items", "kind", "size")

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.children: list[_Node] = []  # record fields, array items, map values, branches
        self.size = 0  # fixed
        self.empty_items = False  # array: its items can encode to zero bytes


class Plan:
    """A writer schema compiled for the walker, with its depth (None: recursive)."""

    def __init__(self, parsed: Any) -> None:
        named = parsed.get("__named_schemas", {}) if isinstance(parsed, dict) else {}
        self.root = _compile(parsed, named, {})
        self.depth = _depth(self.root, set(), {})
        self.has_empty_items = _mark_empty_items(self.root)

    def needs_walk(self, limit: int) -> bool:
        """Whether data of this schema could nest past ``limit`` or claim empty items."""
        return self.depth is None or self.depth > limit or self.has_empty_items


def _compile(schema: Any, named: dict[str, Any], done: dict[str, _Node]) -> _Node:
    """Schemas reach here parsed by fastavro, so their own nesting is bounded (the
    registry refuses schemas nested over 64 levels of JSON): recursion is safe."""
    if isinstance(schema, list):
        node = _Node("union")
        node.children = [_compile(branch, named, done) for branch in schema]
        return node
    if isinstance(schema, str):
        if schema in done:
            return done[schema]
        if schema in named:
            return _compile(named[schema], named, done)
        return _Node(schema)
    kind = schema["type"]
    if not isinstance(kind, str):  # {"type": {"type": "array", ...}}
        return _compile(kind, named, done)
    node = _Node(kind)
    if "name" in schema and kind in ("record", "enum", "fixed"):
        done[schema["name"]] = node  # before the fields: a field may refer back
    if kind == "fixed":
        node.size = int(schema["size"])
    node.children = [_compile(child, named, done) for child in _children(schema, kind)]
    return node


def _children(schema: dict[str, Any], kind: str) -> list[Any]:
    if kind == "record":
        return [f["type"] for f in schema["fields"]]
    if kind == "array":
        return [schema["items"]]
    if kind == "map":
        return [schema["values"]]
    return []


def _depth(node: _Node, open_: set[int], memo: dict[int, int | None]) -> int | None:
    """Levels of records/arrays/maps/unions data of ``node`` can nest; None: unbounded."""
    if node.kind not in _NESTED:
        return 0
    key = id(node)
    if key in open_:
        return None  # a cycle: recursive
    if key not in memo:
        open_.add(key)
        below = [_depth(child, open_, memo) for child in node.children]
        open_.discard(key)
        memo[key] = None if None in below else 1 + max((b or 0 for b in below), default=0)
    return memo[key]


def _mark_empty_items(root: _Node) -> bool:
    """Mark arrays whose items can encode to zero bytes; whether there is one."""
    seen: set[int] = set()
    pending = [root]
    found = False
    while pending:
        node = pending.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.kind == "array" and _can_be_empty(node.children[0], set()):
            node.empty_items = found = True
        pending.extend(node.children)
    return found


def _can_be_empty(node: _Node, open_: set[int]) -> bool:
    """Whether a value of ``node`` can encode to zero bytes."""
    if node.kind == "record":
        if id(node) in open_:
            return False  # a record holding itself directly has no finite value
        open_.add(id(node))
        return all(_can_be_empty(child, open_) for child in node.children)
    if node.kind == "fixed":
        return node.size == 0
    return node.kind == "null"


_PLANS: OrderedDict[int, tuple[Any, Plan]] = OrderedDict()
_PLANS_LOCK = threading.Lock()
_MAX_PLANS = 4096


def plan_for(parsed: Any) -> Plan:
    """The plan of a parsed schema, cached by identity: the registry hands out the
    same parsed object for a schema (``schema.parse`` is cached), and the cache keeps
    the object alive so that its id is never reused for another."""
    key = id(parsed)
    with _PLANS_LOCK:
        hit = _PLANS.get(key)
        if hit is not None and hit[0] is parsed:
            _PLANS.move_to_end(key)
            return hit[1]
    plan = Plan(parsed)
    with _PLANS_LOCK:
        _PLANS[key] = (parsed, plan)
        if len(_PLANS) > _MAX_PLANS:
            _PLANS.popitem(last=False)
    return plan


class Walker:
    """Skips datums without decoding them, refusing nesting past ``limit``.

    ``empty_items``: how many array items of zero-byte types (``null``, empty
    records) one body may hold in all (pass its size in bytes: real data has no use
    for more); shared by every datum this walker skips, so that a body's work stays
    linear in its size. Other items take at least a byte each: a block claiming more
    of them than the bytes left is truncated.
    """

    def __init__(self, limit: int, empty_items: int) -> None:
        self.limit = limit
        self.empty_items = empty_items

    def too_deep(self) -> TooDeep:
        return TooDeep(
            f"data nested deeper than {self.limit} levels of records, arrays, maps and "
            "unions (server.max_nesting_depth)",
            limit=self.limit,
        )

    def skip(self, buf: bytes, pos: int, plan: Plan) -> int:
        """The position right after the datum of ``plan`` starting at ``pos``."""
        stack: list[Any] = [(plan.root, 1)]  # (node, depth) or [node, depth, items left]
        while stack:
            task = stack.pop()
            if isinstance(task, list):
                pos = self._next_item(buf, pos, task, stack)
                continue
            node, depth = task
            kind = node.kind
            if kind in _NESTED and depth > self.limit:
                raise self.too_deep()
            if kind == "record":
                stack.extend((child, depth + 1) for child in reversed(node.children))
            elif kind == "union":
                index, pos = read_long(buf, pos)
                if not 0 <= index < len(node.children):
                    raise InvalidPayload(f"corrupt Avro data: union branch {index} out of range")
                stack.append((node.children[index], depth + 1))
            elif kind in ("array", "map"):
                stack.append([node, depth, 0])
            else:
                pos = _skip_scalar(buf, pos, node)
        return pos

    def _next_item(self, buf: bytes, pos: int, frame: list[Any], stack: list[Any]) -> int:
        """One item of an array or map (reading the next block's count when due)."""
        node, depth, left = frame
        if left == 0:
            left, pos = read_long(buf, pos)
            if left == 0:
                return pos  # the end of the array or map
            if left < 0:  # a negative count is followed by the block's size in bytes
                left = -left
                _, pos = read_long(buf, pos)
            if node.empty_items:
                self.empty_items -= left
                if self.empty_items < 0:
                    raise InvalidPayload(
                        f"an array claims {left} items of a type encoded in zero bytes; "
                        "a body may hold at most as many as it has bytes"
                    )
            elif left > len(buf) - pos:
                raise InvalidPayload(
                    f"truncated Avro data: a block claims {left} items, more than the "
                    f"{len(buf) - pos} bytes left"
                )
        frame[2] = left - 1
        stack.append(frame)
        stack.append((node.children[0], depth + 1))
        if node.kind == "map":
            stack.append((_STRING, depth + 1))  # the key comes first
        return pos


_STRING = _Node("string")


def _skip_scalar(buf: bytes, pos: int, node: _Node) -> int:
    kind = node.kind
    if kind in _VARINT:
        return read_long(buf, pos)[1]
    if kind in _SIZED:
        size, pos = read_long(buf, pos)
        if size < 0:
            raise InvalidPayload(f"corrupt Avro data: negative length {size}")
        end = pos + size
    elif kind == "fixed":
        end = pos + node.size
    elif kind in _FIXED_SIZES:
        end = pos + _FIXED_SIZES[kind]
    else:
        raise InvalidPayload(f"unsupported Avro type {kind!r}")
    if end > len(buf):
        raise InvalidPayload("truncated Avro data: a value runs past the end")
    return end


def json_depth(value: Any, limit: int) -> int:
    """How deep objects and arrays nest in ``value`` (a scalar: 0), without recursing;
    stops counting past ``limit``. Every JSON level is an Avro level at least
    (records and maps are objects, arrays are arrays), so deeper JSON is deeper Avro."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending and deepest <= limit:
        node, depth = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest
