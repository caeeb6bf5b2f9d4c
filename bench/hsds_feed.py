"""A directory's view of the HSDS feed: page through organisations and services and summarise.

    uv run --frozen python -m bench.hsds_feed http://127.0.0.1:8000 [per_page]

What a 211 line's importer does: follow `page` until `last_page`, trusting `total_items`. The
tests run `collect` against the app in process (tests/hsds/test_feed.py).
"""

import asyncio
import sys
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx

MAX_PAGES = 10_000  # a feed that never says last_page must not keep a consumer forever


async def pages(client: httpx.AsyncClient, path: str, per_page: int) -> AsyncIterator[dict[str, Any]]:
    """Each page of an HSDS list, in order; raises if the feed contradicts itself."""
    for number in range(1, MAX_PAGES + 1):
        r = await client.get(path, params={"page": number, "per_page": per_page})
        r.raise_for_status()
        page: dict[str, Any] = r.json()
        if page["page_number"] != number or page["size"] != len(page["contents"]):
            raise ValueError(f"{path} page {number} is inconsistent: {page['page_number']}, {page['size']}")
        yield page
        if page["last_page"]:
            return
    raise ValueError(f"{path} did not end within {MAX_PAGES} pages")


async def collect(client: httpx.AsyncClient, path: str, per_page: int = 20) -> list[dict[str, Any]]:
    """Every item of an HSDS list; checks that the pages add up to `total_items`."""
    items: list[dict[str, Any]] = []
    total = None
    async for page in pages(client, path, per_page):
        total = page["total_items"]
        items += page["contents"]
    if total != len(items) or len({i["id"] for i in items}) != len(items):
        raise ValueError(f"{path}: {len(items)} distinct items read, {total} announced")
    return items


async def main(base_url: str, per_page: int) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        organizations = await collect(client, "/v1/hsds/organizations", per_page)
        services = await collect(client, "/v1/hsds/services", per_page)
    frequencies = Counter(s["schedules"][0].get("freq", "once") for s in services if s["schedules"])
    print(f"organizations: {len(organizations)}")
    print(f"services: {len(services)}; schedules by frequency: {dict(frequencies)}")
    print(f"services with a place: {sum(1 for s in services if s['service_at_locations'])}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 20))
