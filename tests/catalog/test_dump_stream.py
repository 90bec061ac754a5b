from __future__ import annotations

import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from recommender.catalog import dump_stream
from recommender.catalog.dump import InvalidDumpError
from recommender.catalog.dump_stream import (
    CompressedBytes,
    FileBytes,
    MemoryBytes,
    StreamedArray,
    TextWindow,
    elements,
    read_dump,
)
from tests.factories import dump, service, user

# Whitespace everywhere, strings holding brackets, quotes and escapes, multi-byte characters,
# nested objects in records, numbers of every form, unknown keys of every kind, a null array.
TRICKY = (
    b' \n{\t"services" : [ {"id":1,"name":"a [b] {c} \\"d\\" \\\\ e,\\n]","description":'
    b'"\xc5\xbc\xc3\xb3\xc5\x82w \xf0\x9f\x90\xa2 \\u00e9 \\ud83d\\ude00","extra":{"deep":'
    b'[{"x":[1,2,{"y":null}]}],"s":"}]"}, "rating": -1.5e-3 } , {"id" : 12345678901234 ,'
    b'"name":"", "flags":[true,false,null]}\r\n] ,\n "unknown_array": [[], {}, "]", 0],'
    b'"unknown_object": {"services": [1, 2]}, "unknown_scalar": 1e5, "projects": null,'
    b'"users":[ ] }  \n'
)


def streamed(doc: dict[str, Any]) -> dict[str, Any]:
    """Every value of a streamed dump, its arrays read."""
    return {k: list(v) if isinstance(v, StreamedArray) else v for k, v in doc.items()}


@pytest.fixture(params=[1, 3, 7, 1 << 20], ids=lambda size: f"chunk{size}")
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    # Tiny chunks cut characters, escapes, literals and numbers at every possible place.
    monkeypatch.setattr(dump_stream, "CHUNK", request.param)
    return int(request.param)


def test_the_streamed_document_equals_the_parsed_one(chunk: int) -> None:
    assert streamed(read_dump(MemoryBytes(TRICKY))) == orjson.loads(TRICKY)


def test_every_source_reads_the_same_records(chunk: int, tmp_path: Path) -> None:
    raw = orjson.dumps(dump([service(1), service(2, name="Ä [x]")], [user(3)]))
    path = tmp_path / "dump.json"
    path.write_bytes(raw)
    sources = [MemoryBytes(raw), FileBytes(path), CompressedBytes(zlib.compress(raw, 1))]
    for source in sources:
        assert streamed(read_dump(source)) == orjson.loads(raw)


def test_an_array_can_be_read_again() -> None:
    doc = read_dump(MemoryBytes(orjson.dumps(dump([service(1), service(2)]))))
    services = doc["services"]
    assert [r["id"] for r in services] == [1, 2]
    assert [r["id"] for r in services] == [1, 2]


def test_a_key_given_twice_counts_with_its_last_value() -> None:
    raw = b'{"users": [{"id": 1}], "services": [], "users": [{"id": 2}, {"id": 3}]}'
    assert streamed(read_dump(MemoryBytes(raw))) == orjson.loads(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   ",
        b'{"services": [}',
        b'{"services": [{"id": 1}',
        b'{"services": [{"id": 1},]}',
        b'{"services": [{"id": 1} {"id": 2}]}',
        b'{"services": []} x',
        b'{"services": []}{}',
        b'{"services" []}',
        b"{services: []}",
        b'{"services": [], }',
        b'{"services": [{"rating": NaN}]}',
        b'{"services": [{"rating": -Infinity}]}',
        b'{"services": [{"rating": 1e400}]}',
        b'{"services": [{"name": "\\ud800"}]}',
        b'{"services": [{"name": "\\x"}]}',
        b'{"services": [{"name": "tab\there"}]}',
        b'{"services": [{"name": "\xff"}]}',
        b'{"services": [{"name": "\xc5"}]}',
        b"\xef\xbb\xbf{}",
        b"\xff\xfe{",
        b"[" * 100_000,
        b'{"services": [' + b"[" * 100_000 + b"]}",
        b"[1, 2",
        b"nul",
    ],
)
def test_what_is_not_json_is_named_as_such(raw: bytes, chunk: int) -> None:
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    with pytest.raises(InvalidDumpError) as caught:
        read_dump(MemoryBytes(raw))
    [problem] = caught.value.problems
    assert problem.entity == "dump"
    assert problem.message.startswith("not valid UTF-8 JSON: ")


@pytest.mark.parametrize("raw", [b"[1, 2]", b"[]", b'"services"', b"null", b" 7 "])
def test_valid_json_that_is_not_an_object_is_refused_as_now(raw: bytes) -> None:
    with pytest.raises(InvalidDumpError) as caught:
        read_dump(MemoryBytes(raw))
    assert [str(p) for p in caught.value.problems] == [
        "dump: the dump must be a JSON object of arrays"
    ]


def _generated_users(count: int) -> Iterator[bytes]:
    yield b'{"users": ['
    for user_id in range(count):
        separator = b"," if user_id else b""
        yield separator + orjson.dumps(user(user_id, aai_uid=f"user{user_id}@aai [x]"))
    yield b"]}"


class GeneratedUsers:
    """A dump of many users made as it is read: the test never holds it either."""

    def __init__(self, count: int) -> None:
        self.count = count

    def chunks(self, start: int) -> Iterator[bytes]:
        assert start == 0
        pending = b""
        for part in _generated_users(self.count):
            pending += part
            if len(pending) >= 10_000:
                yield pending
                pending = b""
        yield pending


def test_the_text_held_stays_within_a_chunk_and_a_record() -> None:
    source = GeneratedUsers(50_000)  # 5.6 MB of JSON
    window = TextWindow(source)
    window.expect("{", "'{'")
    assert window.value() == "users"
    window.expect(":", "':'")
    largest = 0
    seen = 0
    for record in elements(window):
        assert record["id"] == seen
        seen += 1
        largest = max(largest, len(window.text))
    assert seen == 50_000
    # The source hands over 10,000-byte pieces; the window keeps one and what was left over.
    assert largest <= 2 * 10_000 + 200
