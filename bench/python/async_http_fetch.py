#!/usr/bin/env python3
"""Twin of examples/async_http_fetch.cpp with asyncio + aiohttp: fetch 50
URLs from a server the program starts on 127.0.0.1, at most 5 in flight,
each under a 100 ms timeout; failures come back as values."""
import asyncio

from aiohttp import ClientSession, web


async def answer(request):
    target = request.path
    if target.startswith("/slow/"):
        await asyncio.sleep(int(target[6:]) / 1000)
    elif target == "/missing":
        return web.Response(status=404, text="body of " + target)
    return web.Response(text="body of " + target)


async def get(session, base, target):
    async with session.get(base + target) as response:
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")
        return await response.text()


async def fetch(session, base, target, limit):
    async with limit:  # at most 5 requests in flight
        try:
            return target, await asyncio.wait_for(get(session, base, target), 0.5), ""
        except asyncio.TimeoutError:
            return target, "", "timed out"
        except Exception as e:  # noqa: BLE001 -- errors as values
            return target, "", str(e)


async def crawl():
    app = web.Application()
    app.router.add_get("/{tail:.*}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"

    targets = []
    for i in range(50):
        if i % 10 == 3:
            targets.append("/slow/2000")
        elif i == 7:
            targets.append("/missing")
        elif i % 10 == 5:
            targets.append("/slow/20")
        else:
            targets.append(f"/page/{i}")
    limit = asyncio.Semaphore(5)
    async with ClientSession() as session:
        results = await asyncio.gather(*(fetch(session, base, t, limit) for t in targets))
    ok = sum(1 for r in results if not r[2])
    timed_out = sum(1 for r in results if r[2] == "timed out")
    failed = len(results) - ok - timed_out
    print(f"fetched {len(results)} urls: {ok} ok, {timed_out} timed out, {failed} failed")
    for target, _, error in results:
        if error and error != "timed out":
            print(f"  {target} failed: {error}")
    await runner.cleanup()


asyncio.run(crawl())
