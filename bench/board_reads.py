"""`python -m bench.board_reads [--boards N] [--mutations K]`: what open boards read
per mutation. N real boards (headless Debian Chromium, each signed in as a different
demo user) stay open on `baton serve --demo` while another user makes K changes over
HTTP, spaced beyond the board's debounce. Counts, per board and mutation, the GraphQL
requests each board sends: full board reads (`query Board`), card reads and everything
else, and the bytes of the responses. docs/performance.md keeps the figures."""
import argparse
import asyncio
import json
import tempfile
import time
from pathlib import Path

import httpx

WHO = ("sales", "marketing", "product", "legal", "finance", "admin", "viewer")
UPDATE = """mutation($input: UpdateOpportunityInput!) { updateOpportunity(input: $input) { opportunity { version } userErrors { code } } }"""
CARDS = "{ opportunities(first: 50) { edges { node { id title version } } } }"


async def run(boards: int, mutations: int, spacing: float) -> dict:
    from playwright.async_api import async_playwright

    from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, BatonServer, free_port, sign_in

    workdir = Path(tempfile.mkdtemp(prefix="baton-board-reads-"))
    server = BatonServer(workdir, free_port())
    server.start()
    counts = [{"board": 0, "card": 0, "other": 0, "bytes": 0} for _ in range(boards)]
    try:
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            pages = []
            for i in range(boards):
                page = await sign_in(browser, server, WHO[i % len(WHO)], route="board")
                await page.wait_for_selector("#board:not([aria-busy])", state="attached")
                pages.append(page)
            await asyncio.sleep(2)  # the boards' own start-up reads are not counted

            def counter(i):
                async def on_response(response):
                    request = response.request
                    if request.method != "POST" or "/graphql" not in request.url:
                        return
                    body = request.post_data or ""
                    kind = ("card" if "query BoardChanges" in body or "query CardById" in body
                            else "board" if "query Board(" in body else "other")
                    counts[i][kind] += 1
                    try:
                        counts[i]["bytes"] += len(await response.body())
                    except Exception:  # noqa: BLE001 - a response the page navigated away from
                        pass
                return on_response

            for i, page in enumerate(pages):
                page.on("response", counter(i))

            token = server.token("admin@demo.baton")
            cards = server.gql(CARDS, token=token)["opportunities"]["edges"]
            started = time.perf_counter()
            for k in range(mutations):
                card = cards[k % len(cards)]["node"]
                version = server.gql("query($id: ID!) { node(id: $id) { ... on Opportunity { version } } }", {"id": card["id"]}, token=token)["node"]["version"]
                done = server.gql(UPDATE, {"input": {"id": card["id"], "version": version, "title": f"{card['title'].split(' #')[0]} #{k}"}}, token=token)
                assert not done["updateOpportunity"]["userErrors"], done
                await asyncio.sleep(spacing)
            await asyncio.sleep(2)
            elapsed = time.perf_counter() - started
            await browser.close()
    finally:
        server.stop()
    total = {k: sum(c[k] for c in counts) for k in counts[0]}
    return {
        "boards": boards, "mutations": mutations, "seconds": round(elapsed, 1),
        "full_board_reads_per_mutation_per_board": round(total["board"] / (mutations * boards), 2),
        "card_reads_per_mutation_per_board": round(total["card"] / (mutations * boards), 2),
        "other_reads_per_mutation_per_board": round(total["other"] / (mutations * boards), 2),
        "response_kib_per_mutation_per_board": round(total["bytes"] / 1024 / (mutations * boards), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.board_reads", description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=5)
    parser.add_argument("--mutations", type=int, default=20)
    parser.add_argument("--spacing", type=float, default=0.5, help="seconds between mutations (above the board's 120 ms debounce)")
    args = parser.parse_args()
    result = asyncio.run(run(args.boards, args.mutations, args.spacing))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
