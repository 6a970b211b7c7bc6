"""A paced load: people who read a page before they ask for the next one.

    python bench/web/paced.py PORT REQUESTS_FILE EXPECT_STATUS EXPECT_MARKER USERS THINK_MS SECONDS

Each of USERS simulated people waits a think time (exponentially distributed, mean THINK_MS;
the first wait too, so they do not all start at once), then opens a connection, sends the
next request of REQUESTS_FILE (bench/web/load.lua's format: method, path, body, then header
name and value pairs, tab-separated) and reads the whole response; then thinks again.
Latency runs from the connect to the last byte of the response.

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


def _requests(path: str) -> list[bytes]:
    out = []
    with open(path) as handle:
        for line in handle:
            line = line.rstrip("\n")
            if not line:
                continue
            fields = line.split("\t")
            method, target, body = fields[0], fields[1], fields[2].encode()
            headers = dict(zip(fields[3::2], fields[4::2], strict=True))
            headers.update({"Host": "127.0.0.1", "Connection": "close"})
            if body:
                headers["Content-Length"] = str(len(body))
            head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
            out.append(f"{method} {target} HTTP/1.1\r\n{head}\r\n".encode() + body)
    return out


async def _main(port: int, requests: list[bytes], status: int, marker: bytes, users: int,
                think_s: float, seconds: float) -> dict[str, object]:
    latencies: list[float] = []
    counts: dict[str, int] = {}
    errors = {"connect": 0, "read": 0, "write": 0, "timeout": 0}
    position = 0
    start = time.monotonic()
    stop = start + seconds

    async def person(seed: int) -> None:
        nonlocal position
        rng = random.Random(seed)
        while True:
            await asyncio.sleep(min(rng.expovariate(1 / think_s),
                                    max(0.0, stop - time.monotonic())))
            if time.monotonic() >= stop:
                return
            request = requests[position % len(requests)]
            position += 1
            began = time.monotonic()
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection("127.0.0.1", port), 10)
            except (OSError, TimeoutError):
                errors["connect"] += 1
                continue
            try:
                writer.write(request)
                await writer.drain()
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
            code = response[9:12].decode(errors="replace") if response[:5] == b"HTTP/" else "?"
            key = code
            if code == str(status) and marker and marker not in response:
                key += " marker-missing"
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
    port, path, status, marker, users, think_ms, seconds = sys.argv[1:8]
    result = asyncio.run(_main(int(port), _requests(path), int(status),
                               b"" if marker == "-" else marker.encode(), int(users),
                               float(think_ms) / 1000, float(seconds)))
    print("PACED_JSON " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
