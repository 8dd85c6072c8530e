"""Spreadsheet import speed: `python -m bench.import_bench [--rows 10000] [--xlsx] [--pg]`.

Generates a pipeline spreadsheet (Chinese headers, ~2,000 distinct accounts, every
stage), imports it into a fresh organization on a new SQLite file (and, with --pg,
a fresh PostgreSQL database), and prints the time for parse + validate (dry run)
and for the full all-or-nothing import. Target: 10,000 rows in under 30 s."""
import argparse
import asyncio
import csv
import io
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from db.engine import Database  # noqa: E402
from db.migrate import upgrade  # noqa: E402
from resolvers.context import Ctx, Viewer  # noqa: E402
from resolvers.setup import create_organization, create_user  # noqa: E402
from resolvers.spreadsheets import import_opportunities  # noqa: E402

HEADER = ["客户", "商机名称", "金额", "币种", "阶段", "负责人", "预计成交日期", "概率", "优先级", "标签", "下一步"]
STAGES = ["线索获取", "需求分析", "方案报价", "商务谈判", "合同签署", "赢单", "Lead", "qualified"]


def rows(n: int, owners: list[str]) -> list[list]:
    rng = random.Random(7)
    out = []
    for i in range(n):
        out.append([
            f"客户{rng.randrange(2000):04d} 有限公司", f"商机 {i}", f"{rng.randrange(1000, 5_000_000)}.{rng.randrange(100):02d}",
            rng.choice(["CNY", "USD", "EUR"]), rng.choice(STAGES), rng.choice(owners),
            f"2027-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}", str(rng.randrange(0, 101)),
            rng.choice(["低", "中", "高", "紧急"]), rng.choice(["制造", "零售,华东", "物流;试点", ""]), "跟进",
        ])
    return out


def as_csv(data: list[list]) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    writer.writerows(data)
    return b"\xef\xbb\xbf" + buffer.getvalue().encode()


def as_xlsx(data: list[list]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    for row in data:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


async def run(url: str, label: str, n: int, fmt: str) -> None:
    await upgrade(url)
    db = Database(url)
    try:
        async with db.write() as session:
            org = await create_organization(session, f"Bench {uuid.uuid4().hex[:6]}")
            admin = await create_user(session, org, email=f"admin.{uuid.uuid4().hex[:6]}@bench.test", name="Admin", department_key="sales", role="ADMIN")
            owners = [
                (await create_user(session, org, email=f"o{i}.{uuid.uuid4().hex[:6]}@bench.test", name=f"Owner {i}", department_key=dept)).email
                for i, dept in enumerate(["sales", "sales", "marketing", "finance"])
            ] + [""]
        data = rows(n, owners)
        payload = as_xlsx(data) if fmt == "xlsx" else as_csv(data)
        ctx = Ctx(db=db, viewer=Viewer(user=admin))
        started = time.perf_counter()
        report = await import_opportunities(ctx, payload, f"bench.{fmt}", dry_run=True)
        dry = time.perf_counter() - started
        assert report.valid == n, report.rejected[:3]
        started = time.perf_counter()
        report = await import_opportunities(ctx, payload, f"bench.{fmt}")
        full = time.perf_counter() - started
        assert report.created == n
        print(
            f"{label:10s} {fmt:4s} rows={n:6d} size={len(payload) / 1e6:5.2f} MB  dry-run {dry:6.2f} s  "
            f"import {full:6.2f} s  ({n / full:7.0f} rows/s, {report.accounts_created} accounts)  "
            f"{'OK' if full < 30 else 'SLOW'} (< 30 s)"
        )
    finally:
        await db.dispose()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--xlsx", action="store_true", help="also measure an XLSX file")
    parser.add_argument("--pg", action="store_true", help="also on a fresh PostgreSQL database (BENCH_PG_ADMIN)")
    args = parser.parse_args()
    formats = ["csv", "xlsx"] if args.xlsx else ["csv"]
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            await run(f"sqlite+aiosqlite:///{tmp}/import-{fmt}.db", "sqlite", args.rows, fmt)
    if args.pg:
        import asyncpg

        admin_dsn = os.environ.get("BENCH_PG_ADMIN", "postgresql://postgres@127.0.0.1:5432/test")
        name = f"baton_import_bench_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(admin_dsn)
        await conn.execute(f'CREATE DATABASE "{name}"')
        await conn.close()
        try:
            url = admin_dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{name}"
            for fmt in formats:
                await run(url, "postgresql", args.rows, fmt)
        finally:
            conn = await asyncpg.connect(admin_dsn)
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
