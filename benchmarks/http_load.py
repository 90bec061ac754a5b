"""A small closed-loop HTTP/1.1 load generator on asyncio streams, cheap enough to share a CPU.

Each of `concurrency` workers keeps one keep-alive connection and sends its next request as
soon as the previous answer arrived; latencies are measured per request type.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Request = tuple[str, str, str, dict[str, Any]]  # (kind, method, path, json body)


@dataclass
class LoadResult:
    duration_s: float
    latencies_ms: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    errors: int = 0
    bodies: dict[str, list[Any]] = field(default_factory=lambda: defaultdict(list))

    def summary(self) -> dict[str, dict[str, float]]:
        out = {}
        for kind, values in sorted(self.latencies_ms.items()):
            arr = np.asarray(values)
            out[kind] = {
                "requests": float(arr.shape[0]),
                "throughput_rps": round(arr.shape[0] / self.duration_s, 1),
                "p50_ms": round(float(np.percentile(arr, 50)), 2),
                "p95_ms": round(float(np.percentile(arr, 95)), 2),
                "p99_ms": round(float(np.percentile(arr, 99)), 2),
                "max_ms": round(float(arr.max()), 2),
            }
        return out


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def run_load(
    host: str,
    port: int,
    next_request: Callable[[int], Request],
    *,
    concurrency: int,
    duration_s: float,
    keep_bodies: set[str] | None = None,
    headers: dict[str, str] | None = None,
) -> LoadResult:
    """Drive the server for `duration_s`; `next_request(worker)` yields what to send next."""
    deadline = time.perf_counter() + duration_s
    result = LoadResult(duration_s=duration_s)
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())

    async def worker(index: int) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < deadline:
                kind, method, path, body = next_request(index)
                payload = json.dumps(body).encode()
                request = (
                    f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}"
                    f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                ).encode() + payload
                started = time.perf_counter()
                try:
                    writer.write(request)
                    await writer.drain()
                    status, answer = await _read_response(reader)
                except (ConnectionError, asyncio.IncompleteReadError):
                    result.errors += 1
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                    continue
                result.latencies_ms[kind].append((time.perf_counter() - started) * 1000)
                counts = result.statuses[kind]
                counts[status] = counts.get(status, 0) + 1
                if keep_bodies and kind in keep_bodies:
                    result.bodies[kind].append((body, status, answer))
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(concurrency)))
    result.duration_s = time.perf_counter() - started
    return result
