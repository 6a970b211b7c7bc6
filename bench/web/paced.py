"""A paced load: people who read a page before they ask for the next one.

    python bench/web/paced.py PORT REQUESTS_FILE EXPECT_STATUS EXPECT_LOCATION EXPECT_MARKER \
        USERS THINK_MS SECONDS

REQUESTS_FILE (bench/web/load.lua's format: method, path, body, then header name and value
pairs, tab-separated) is cut into USERS equal runs of consecutive lines, one per simulated
person: the team file (bench/web/data.py) holds each reviewer's three queue pages in a
row, so each person is one reviewer going round their own queues. A person waits a think
time (exponentially distributed, mean THINK_MS; the first wait too, so they do not all
start at once), then opens a connection, sends their next request and reads the whole
response; then thinks again. Latency runs from the connect to the last byte of the
response. A response with the expected status still counts as unexpected when its
Location does not start with EXPECT_LOCATION or its body lacks EXPECT_MARKER ("-" turns
either check off), as in load.lua.

wrk cannot do this against gunicorn's sync workers: its think time (a Lua ``delay()``)
passes on a connection it has already opened, and a sync worker that accepted that
connection waits on it, idle, until the request comes. A browser behind the buffering proxy
that production puts in front of gunicorn never holds a worker while its user reads; here
each request gets a fresh connection, as it reaches gunicorn through such a proxy.

Prints one line, ``PACED_JSON {...}``, with the fields bench/web/load.lua's ``WRK_JSON``
has: duration, requests, counts by status (``unexpected``/``marker-missing`` as load.lua
marks them), socket errors and latency percentiles in microseconds.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import sys
import time


def _requests(path: str, port: int) -> list[bytes]:
    out = []
    with open(path) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            method, target, body = fields[0], fields[1], fields[2].encode()
            headers = dict(zip(fields[3::2], fields[4::2], strict=True))
            headers.update({"Host": f"127.0.0.1:{port}", "Connection": "close"})
            if body:
                headers["Content-Length"] = str(len(body))
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            out.append(f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + body)
    return out


def _verdict(response: bytes, status: int, location: bytes, marker: bytes) -> str:
    """The response's key in the counts, as load.lua's response() makes it."""
    code = response[9:12].decode(errors="replace") if response[:5] == b"HTTP/" else "?"
    if code != str(status):
        return code
    head, _, body = response.partition(b"\r\n\r\n")
    if location:
        found = [line.split(b":", 1)[1].strip() for line in head.split(b"\r\n")[1:]
                 if line.lower().startswith(b"location:")]
        if not found or not found[0].startswith(location):
            return code + " unexpected-location"
    if marker and marker not in body:
        return code + " marker-missing"
    return code


async def _main(port: int, requests: list[bytes], expect: tuple[int, bytes, bytes],
                users: int, think_s: float, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    counts: dict[str, int] = {}
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    per = max(1, len(requests) // users)
    start = time.monotonic()
    stop = start + seconds

    async def person(i: int) -> None:
        rng = random.Random(i)
        mine = requests[i * per:(i + 1) * per] or requests[i % len(requests):][:1]
        turn = 0
        while True:
            await asyncio.sleep(min(rng.expovariate(1 / think_s),
                                    max(0.0, stop - time.monotonic())))
            if time.monotonic() >= stop:
                return
            request = mine[turn % len(mine)]
            turn += 1
            began = time.monotonic()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 10)
            except (OSError, TimeoutError):
                errors["connect"] += 1
                continue
            try:
                try:
                    writer.write(request)
                    await writer.drain()
                except OSError:
                    errors["write"] += 1
                    continue
                try:
                    response = await asyncio.wait_for(reader.read(), 10)
                except TimeoutError:
                    errors["timeout"] += 1
                    continue
                except OSError:
                    errors["read"] += 1
                    continue
            finally:
                writer.close()
            latencies.append(time.monotonic() - began)
            key = _verdict(response, *expect)
            counts[key] = counts.get(key, 0) + 1

    await asyncio.gather(*(person(i) for i in range(users)))
    duration = time.monotonic() - start
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> int:
        return int(ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))] * 1e6)

    return {
        "duration_us": int(duration * 1e6), "requests": len(latencies), "bytes": 0,
        "statuses": counts, "socket_errors": errors,
        "non_2xx_3xx": sum(n for k, n in counts.items() if k[:1] not in ("2", "3")),
        "latency_us": {"min": pct(0), "mean": statistics.fmean(ordered) * 1e6,
                       "stdev": statistics.pstdev(ordered) * 1e6, "max": int(ordered[-1] * 1e6),
                       "p50": pct(50), "p90": pct(90), "p95": pct(95), "p99": pct(99),
                       "p999": pct(99.9)},
    }


def main() -> None:
    port, path, status, location, marker, users, think_ms, seconds = sys.argv[1:9]
    expect = (int(status), b"" if location == "-" else location.encode(),
              b"" if marker == "-" else marker.encode())
    result = asyncio.run(_main(int(port), _requests(path, int(port)), expect, int(users),
                               float(think_ms) / 1000, float(seconds)))
    print("PACED_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
