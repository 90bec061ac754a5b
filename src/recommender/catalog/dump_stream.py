"""A dump document read from its bytes one top-level array and one record at a time."""

from __future__ import annotations

import codecs
import json
import math
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import orjson

from recommender.catalog.dump import InvalidDumpError, Problem, RecordStream

# What is read from a source at a time, and so about what the text window holds besides the
# record being decoded (a str of up to 4 bytes a character when the chunk is not ASCII).
CHUNK = 1 << 20
# Compressed input handed to zlib at a time; its output is capped at CHUNK.
COMPRESSED_CHUNK = 1 << 16
# A value that fails this close to the end of the window may only be cut short by it (a
# literal or a \uXXXX escape split between chunks), so it is tried again with more text.
NEAR_END = 16

_WHITESPACE = re.compile(r"[ \t\n\r]*")
# A \uD800-\uDFFF escape: the standard library accepts a lone one, orjson (and so the
# request parser) does not; an element containing one is decoded again by orjson.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class ByteSource(Protocol):
    """The bytes of one document, readable again from any byte offset."""

    def chunks(self, start: int) -> Iterator[bytes]: ...


@dataclass(frozen=True)
class MemoryBytes:
    """A document already in memory (a request body)."""

    raw: bytes

    def chunks(self, start: int) -> Iterator[bytes]:
        view = memoryview(self.raw)
        for begin in range(start, len(view), CHUNK):
            yield bytes(view[begin : begin + CHUNK])


@dataclass(frozen=True)
class FileBytes:
    """A document in a file, read a chunk at a time (a pipe only once, from its start)."""

    path: Path

    def chunks(self, start: int) -> Iterator[bytes]:
        with self.path.open("rb") as handle:
            if start:  # a pipe cannot seek, even to where it is
                handle.seek(start)
            while chunk := handle.read(CHUNK):
                yield chunk


@dataclass(frozen=True)
class CompressedBytes:
    """A document stored zlib-compressed, inflated a chunk at a time.

    Reading from an offset inflates and drops what comes before it: zlib cannot seek."""

    blob: bytes | bytearray

    def chunks(self, start: int) -> Iterator[bytes]:
        to_skip = start
        for chunk in self._inflated():
            if to_skip >= len(chunk):
                to_skip -= len(chunk)
                continue
            yield chunk[to_skip:] if to_skip else chunk
            to_skip = 0

    def _inflated(self) -> Iterator[bytes]:
        inflater = zlib.decompressobj()
        view = memoryview(self.blob)
        for begin in range(0, len(view), COMPRESSED_CHUNK):
            pending: bytes | memoryview = view[begin : begin + COMPRESSED_CHUNK]
            while pending:
                out = inflater.decompress(pending, CHUNK)
                if out:
                    yield out
                pending = inflater.unconsumed_tail
        if tail := inflater.flush():
            yield tail
        if not inflater.eof:
            raise zlib.error("the stored dump is truncated")


def not_json(reason: object) -> InvalidDumpError:
    """The error of a document that is not JSON, as the request parser words it."""
    return InvalidDumpError([Problem(entity="dump", message=f"not valid UTF-8 JSON: {reason}")])


class _NotJsonValueError(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _NotJsonValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise _NotJsonValueError(f"number {text} is infinity when parsed as double")
    return value


# NaN, Infinity and numbers beyond a double are refused, as orjson refuses them.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite)


class TextWindow:
    """The decoded text of a source from some byte offset, of which only a window is held.

    `text[pos:]` is what is not consumed yet; consumed text is dropped when more is read, so
    the window holds at most one chunk plus the value being decoded."""

    def __init__(self, source: ByteSource, start: int = 0) -> None:
        self._chunks = source.chunks(start)
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self.text = ""
        self.pos = 0
        self._text_offset = start  # the byte offset of text[0]
        self.exhausted = False

    def offset(self) -> int:
        """The byte offset of `pos` in the source."""
        return self._text_offset + _utf8_size(self.text[: self.pos])

    def more(self) -> bool:
        """Drop the consumed text and read the next chunk; False once the source is done."""
        if self.exhausted:
            return False
        if self.pos:
            self._text_offset += _utf8_size(self.text[: self.pos])
            self.text = self.text[self.pos :]
            self.pos = 0
        chunk = next(self._chunks, None)
        try:
            if chunk is None:
                self.exhausted = True
                self.text += self._decoder.decode(b"", final=True)
            else:
                self.text += self._decoder.decode(chunk)
        except UnicodeDecodeError as error:
            raise not_json(error) from None
        return True

    def peek(self) -> str:
        """The next character after any whitespace ("" at the end), which it skips."""
        while True:
            self.pos = _WHITESPACE.match(self.text, self.pos).end()  # type: ignore[union-attr]
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self.more():
                return ""

    def expect(self, char: str, what: str) -> None:
        if self.peek() != char:
            raise not_json(f"expecting {what} at byte {self.offset()}")
        self.pos += 1

    def value(self) -> Any:
        """Decode the JSON value at `pos` (after whitespace) and move past it."""
        self.peek()
        while True:
            try:
                value, end = _DECODER.raw_decode(self.text, self.pos)
            except json.JSONDecodeError as error:
                cut_short = error.msg.startswith("Unterminated string") or (
                    error.pos >= len(self.text) - NEAR_END
                )
                if cut_short and self.more():
                    continue
                raise not_json(f"{error.msg} at byte {self._error_offset(error.pos)}") from None
            except _NotJsonValueError as error:
                raise not_json(error) from None
            except RecursionError:
                raise not_json("nested too deeply") from None
            # A number may go on in the next chunk ("1" of "1e5").
            if end > len(self.text) - NEAR_END and self.more():
                continue
            if _SURROGATE_ESCAPE.search(self.text, self.pos, end):
                try:
                    orjson.loads(self.text[self.pos : end])
                except orjson.JSONDecodeError as error:
                    raise not_json(error) from None
            self.pos = end
            return value

    def _error_offset(self, pos: int) -> int:
        return self._text_offset + _utf8_size(self.text[:pos])


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def elements(window: TextWindow) -> Iterator[Any]:
    """The elements of the array at the window's position, each decoded on its own."""
    window.expect("[", "'['")
    if window.peek() == "]":
        window.pos += 1
        return
    while True:
        yield window.value()
        following = window.peek()
        window.pos += 1
        if following == "]":
            return
        if following != ",":
            window.pos -= 1
            raise not_json(f"expecting ',' or ']' at byte {window.offset()}")


@dataclass(frozen=True)
class _ArrayAt:
    offset: int  # the byte offset of its '['


class StreamedArray(RecordStream):
    """One top-level array of a document: each iteration reads its records from the source."""

    def __init__(self, source: ByteSource, offset: int) -> None:
        self._source = source
        self._offset = offset

    def __iter__(self) -> Iterator[Any]:
        return elements(TextWindow(self._source, self._offset))


class StreamedDump(dict[str, Any]):
    """A dump document whose arrays stay in the source: `doc["users"]` reads them on demand.

    Its other values (null, or anything under a key the dump does not define) are held."""


def read_dump(source: ByteSource) -> StreamedDump:
    """Check that `source` holds one JSON object and note where its values are.

    One pass over the whole document, decoding every record and keeping none: malformed
    JSON anywhere is an `InvalidDumpError` naming it, as is a document that is not an
    object. As with a parsed document, of a key given twice the last value counts."""
    window = TextWindow(source)
    if window.peek() != "{":
        _check_document(window)
        raise InvalidDumpError(
            [Problem(entity="dump", message="the dump must be a JSON object of arrays")]
        )
    window.pos += 1
    members: dict[str, _ArrayAt | Any] = {}
    if window.peek() == "}":
        window.pos += 1
    else:
        while True:
            if window.peek() != '"':
                raise not_json(f"expecting a key at byte {window.offset()}")
            key = window.value()
            window.expect(":", "':'")
            members[key] = _member(window)
            following = window.peek()
            window.pos += 1
            if following == "}":
                break
            if following != ",":
                window.pos -= 1
                raise not_json(f"expecting ',' or '}}' at byte {window.offset()}")
    _check_end(window)
    doc = StreamedDump()
    for key, member in members.items():
        doc[key] = StreamedArray(source, member.offset) if isinstance(member, _ArrayAt) else member
    return doc


def _member(window: TextWindow) -> _ArrayAt | Any:
    if window.peek() != "[":
        return window.value()
    offset = window.offset()
    for _ in elements(window):
        pass
    return _ArrayAt(offset)


def _check_document(window: TextWindow) -> None:
    """Read a document that is not an object to the end, to tell bad JSON from a wrong shape."""
    if window.peek() == "[":
        for _ in elements(window):
            pass
    else:
        window.value()
    _check_end(window)


def _check_end(window: TextWindow) -> None:
    if window.peek() != "":
        raise not_json(f"unexpected content after the document at byte {window.offset()}")
