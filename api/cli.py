"""`baton serve | migrate | demo | schema | user | token | import | export | prune-events | prune-files`."""
import argparse
import asyncio
import os
import sys

import uvicorn

from api.demo_texts import LOCALES as DEMO_LOCALES
from api.settings import Settings


def app_factory():
    """uvicorn's factory: every worker builds its app from the environment."""
    from api.app import create_app

    app = create_app(Settings(), migrate=False)
    settle_garbage_collector()
    return app


def settle_garbage_collector() -> None:
    """Keep the cyclic garbage collector off what it cannot free.

    Modules, the schema and the app (~165,000 objects) live as long as the process:
    they move to the permanent generation (gc.freeze), so collections stop walking
    them. A request's objects die by reference count (its loaders are released when
    it is answered), so the youngest generation is collected after 300,000 net
    allocations instead of 700: with 700, 32 concurrent boards (100,000+ live young
    objects) made a collection every few milliseconds, each finding nothing to free."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(300_000, 10, 10)


def cmd_serve(args, settings: Settings) -> int:
    if args.workers > 1 and settings.broadcast_url.startswith("memory"):
        print(
            "baton: --workers > 1 needs a shared broadcast backend: memory:// only reaches one process.\n"
            "Set BATON_BROADCAST_URL=postgres://... (with PostgreSQL storage) or redis://..., "
            "or run a single worker.",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and settings.is_sqlite:
        print("baton: --workers > 1 needs PostgreSQL storage (BATON_DATABASE_URL=postgresql://...).", file=sys.stderr)
        return 2
    setup_token = asyncio.run(_prepare(settings, demo=args.demo, locale=args.locale, setup=True))
    fit_file_limit(settings.max_sockets)
    if not settings.secret_key:
        # One signing key for every worker this command starts (they read the environment).
        import secrets

        os.environ["BATON_SECRET_KEY"] = secrets.token_urlsafe(32)
    url = f"http://{'localhost' if args.host in ('0.0.0.0', '127.0.0.1') else args.host}:{args.port}/"
    print(f"Baton is running at {url}  (GraphQL: {url}graphql)", flush=True)
    if args.demo:
        from api.demo import DEMO_PASSWORD, DEMO_USERS

        print(f"Demo sign-ins (password {DEMO_PASSWORD}): " + ", ".join(e for e, *_ in DEMO_USERS), flush=True)
    if setup_token:
        print(f"Set up Baton: {settings.public_url or url.rstrip('/')}/#/setup/{setup_token}", flush=True)
        print("This setup link works once (for 7 days, or until the server is started again); "
              "open it to create the organization and its first administrator.", flush=True)
    uvicorn.run(
        "api.cli:app_factory", factory=True, host=args.host, port=args.port, workers=args.workers,
        log_level=args.log_level, ws_per_message_deflate=False,
        # Inbound websocket messages larger than this close the socket (1009); see docs/security.md.
        ws_max_size=settings.ws_max_message_bytes,
        # Rate limits key on the client address: only listed proxies may rewrite it
        # (uvicorn alone would believe any X-Forwarded-For sent from loopback).
        proxy_headers=bool(settings.trusted_proxies), forwarded_allow_ips=settings.trusted_proxies,
    )
    return 0


FILE_HEADROOM = 1024  # files besides websockets: database connections, HTTP clients, logs


def fit_file_limit(sockets: int) -> None:
    """Let this process (and the workers it starts) hold BATON_MAX_SOCKETS websockets and
    its other files: BATON_MAX_SOCKETS must bind before the descriptors run out, or
    accept() fails for everyone, /healthz included. Raises the soft RLIMIT_NOFILE, up
    to the hard limit; says so when even that is too low."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = sockets + FILE_HEADROOM
    if soft != resource.RLIM_INFINITY and soft < need:
        soft = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    if soft != resource.RLIM_INFINITY and soft < need:
        print(f"baton: open files are limited to {soft} (ulimit -n); lower BATON_MAX_SOCKETS to "
              f"{max(0, soft - FILE_HEADROOM)} or raise the limit", file=sys.stderr)


async def _prepare(settings: Settings, *, demo: bool, locale: str = "en", setup: bool = False) -> str | None:
    """Migrate (and seed the demo). With `setup` and no organization in the database (and
    no --demo): a new one-time setup token, earlier unused ones revoked."""
    from db.engine import Database
    from db.migrate import upgrade

    print(f"Applying migrations to {_redact(settings.database_url)} ...", flush=True)
    await upgrade(settings.database_url, pgbouncer=settings.db_pgbouncer)
    if setup and not demo:
        from db.types import utcnow
        from resolvers.first_run import create_setup_link

        db = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
        try:
            return await create_setup_link(db, utcnow())
        finally:
            await db.dispose()
    if demo:
        from api.demo import seed_demo

        db = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
        try:
            seeded = await seed_demo(db, settings, locale=locale)
        finally:
            await db.dispose()
        print("Seeded the demo organization." if seeded else "Demo organization already present.", flush=True)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url


def cmd_migrate(args, settings: Settings) -> int:
    asyncio.run(_prepare(settings, demo=False))
    print("Database is up to date.")
    return 0


def cmd_prune_events(args, settings: Settings) -> int:
    from datetime import timedelta

    from api.jobs import log_upkeep
    from db.engine import Database
    from db.types import utcnow

    days, keep = args.older_than_days or 0, args.keep_events or 0
    if args.older_than_days is None and args.keep_events is None:
        print("say what goes: --older-than-days N and/or --keep-events N", file=sys.stderr)
        return 2
    if (args.older_than_days is not None and days < 1) or (args.keep_events is not None and keep < 1):
        print("--older-than-days and --keep-events must be at least 1", file=sys.stderr)
        return 2

    now = utcnow()

    async def run() -> dict:
        db = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
        try:
            return await log_upkeep(db, now, days, keep)
        finally:
            await db.dispose()

    pruned = asyncio.run(run())
    which = [f"before {now - timedelta(days=days):%Y-%m-%d %H:%M} UTC"] if days else []
    which += [f"beyond each organization's newest {keep}"] if keep else []
    months = f" ({', '.join(pruned['partitions'])})" if pruned["partitions"] else ""
    print(f"{pruned['rows']} events {' and '.join(which)} removed{months}.")
    return 0


def cmd_prune_files(args, settings: Settings) -> int:
    from datetime import timedelta

    from db.engine import Database
    from db.files import LocalFileStore
    from db.types import utcnow
    from resolvers.attachments import unreferenced_files

    if args.older_than_hours < 1:
        print("--older-than-hours must be at least 1", file=sys.stderr)
        return 2
    store = LocalFileStore(settings.files_path)

    async def run() -> list:
        db = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
        try:
            return await unreferenced_files(db, store, utcnow(), timedelta(hours=args.older_than_hours))
        finally:
            await db.dispose()

    unused = asyncio.run(run())
    size = sum(f.size for f in unused) / 1024 / 1024
    if args.dry_run:
        print(f"{len(unused)} files ({size:.1f} MB) in {store.root} are named by no attachment; --dry-run: none removed.")
        return 0
    for f in unused:
        store.remove(f.sha256)
    print(f"{len(unused)} files ({size:.1f} MB) named by no attachment removed from {store.root}.")
    return 0


def cmd_demo(args, settings: Settings) -> int:
    asyncio.run(_prepare(settings, demo=True, locale=args.locale))
    return 0


def cmd_schema(args, settings: Settings) -> int:
    from schema import schema

    print(schema.as_str())
    return 0


async def _find_org(session, org_name: str | None):
    """The organization called `org_name`, or the first one."""
    from sqlalchemy import select

    from db import models as m

    stmt = select(m.Organization).order_by(m.Organization.id)
    if org_name:
        stmt = stmt.where(m.Organization.name == org_name)
    return (await session.execute(stmt.limit(1))).scalar_one_or_none()


async def _acting_user(session, org, email: str | None):
    """The user called `email` in `org`, or its first admin; exits when there is none."""
    from sqlalchemy import select

    from db import models as m

    stmt = select(m.User).where(m.User.org_id == org.id)
    stmt = stmt.where(m.User.email == email.lower()) if email else stmt.where(m.User.role == "ADMIN", m.User.deactivated_at.is_(None))
    user = (await session.execute(stmt.order_by(m.User.id).limit(1))).scalar_one_or_none()
    if user is None:
        raise SystemExit(f"baton: no user {email or '(admin)'} in {org.name}")
    if user.deactivated_at is not None:
        raise SystemExit(f"baton: {user.email} is deactivated; an admin can reactivate them")
    return user


async def _with_org(settings: Settings, org_name: str | None, work):
    from db.engine import Database
    from db.migrate import upgrade

    await upgrade(settings.database_url, pgbouncer=settings.db_pgbouncer)
    db = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
    try:
        async with db.write() as session:
            org = await _find_org(session, org_name)
            if org is None:
                from resolvers.setup import create_organization

                if not org_name:
                    raise SystemExit("baton: no organization yet; pass --org NAME to create one")
                org = await create_organization(session, org_name)
            return await work(session, org)
    finally:
        await db.dispose()


def cmd_user_create(args, settings: Settings) -> int:
    from resolvers.setup import create_user

    password = args.password or os.environ.get("BATON_NEW_PASSWORD")
    if not password:
        raise SystemExit("baton: give --password or set BATON_NEW_PASSWORD")

    async def work(session, org):
        user = await create_user(
            session, org, email=args.email, name=args.name, department_key=args.department, role=args.role,
            password=password, handle=args.handle,
        )
        return f"Created {user.email} ({user.role}, {args.department}) in {org.name}"

    try:
        print(asyncio.run(_with_org(settings, args.org, work)))
    except ValueError as exc:
        print(f"baton: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_user_sign_out(args, settings: Settings) -> int:
    from db.types import utcnow
    from resolvers.auth import revoke_sessions

    async def run():
        db, ctx = await _org_ctx(settings, args.org, args.email)
        try:
            async with db.write() as session:
                revoked = await revoke_sessions(session, ctx.viewer.id, utcnow())
        finally:
            await db.dispose()
        if revoked and not settings.broadcast_url.startswith("memory"):
            from api.live.revocation import announce_once

            # Servers close the sessions' open websockets now (else at their periodic check).
            await announce_once(settings.broadcast_url, revoked)
        return ctx.viewer.user, revoked

    user, revoked = asyncio.run(run())
    print(f"Signed out {user.email}: {len(revoked)} session(s) revoked.")
    return 0


def cmd_token_create(args, settings: Settings) -> int:
    from sqlalchemy import select

    from db import models as m
    from db.types import utcnow
    from resolvers.auth import issue_token

    from resolvers.tokens import department_member

    async def work(session, org):
        department = None
        if args.department:
            department = (
                await session.execute(
                    select(m.Department).where(m.Department.org_id == org.id, m.Department.key == args.department)
                )
            ).scalar_one_or_none()
            if department is None:
                raise SystemExit(f"baton: no department {args.department!r} in {org.name}")
        # A department token without --user acts as a member of that department, not as an admin.
        if department is not None and not args.user:
            user = await department_member(session, org.id, department)
            acts_as = f"a member of {department.key} ({user.email}), with that role's access rules"
        else:
            user = await _acting_user(session, org, args.user)
            acts_as = f"{user.email} ({user.role}), with that user's access rules"
        token, _ = await issue_token(
            session, user, kind="api", now=utcnow(), name=args.name, scope=args.scope,
            department_id=department.id if department else None,
        )
        return token, acts_as

    token, acts_as = asyncio.run(_with_org(settings, args.org, work))
    print(f"Token {args.name!r} ({args.scope}) created; it acts as {acts_as}.", file=sys.stderr)
    print("It is shown only once:", file=sys.stderr)
    print(token)
    return 0


async def _org_ctx(settings: Settings, org_name: str | None, as_email: str | None):
    """(Database, Ctx acting as `as_email` or the organization's first admin) for import/export."""
    from db.engine import Database
    from db.migrate import upgrade
    from resolvers.context import Ctx, Viewer

    await upgrade(settings.database_url, pgbouncer=settings.db_pgbouncer)
    db = Database(settings.database_url, pgbouncer=settings.db_pgbouncer)
    async with db.read() as session:
        org = await _find_org(session, org_name)
        try:
            if org is None:
                raise SystemExit(f"baton: no organization {org_name or ''}".rstrip())
            user = await _acting_user(session, org, as_email)
        except SystemExit:
            await db.dispose()
            raise
    return db, Ctx(db=db, viewer=Viewer(user=user), max_page_size=settings.max_page_size)


def _progress_bar(done: int, total: int) -> None:
    if total < 1000:  # small files: no bar
        return
    width = 30
    filled = width * done // max(total, 1)
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {100 * done // max(total, 1):3d}%")
    if done >= total:
        sys.stderr.write("\n")
    sys.stderr.flush()


async def _import_owner(db, ctx, email: str):
    """The active user `email` of the importer's organization; exits when there is none."""
    from sqlalchemy import select

    from db import models as m

    async with db.read() as session:
        user = (await session.execute(select(m.User).where(
            m.User.org_id == ctx.viewer.org_id, m.User.email == email.lower()))).scalar_one_or_none()
    if user is None or user.deactivated_at is not None:
        raise SystemExit(f"baton: --owner {email}: no active user with this email in the organization")
    return user


def cmd_import_opportunities(args, settings: Settings) -> int:
    from pathlib import Path

    from resolvers.spreadsheets import SpreadsheetError, import_opportunities

    path = Path(args.file)
    if not path.is_file():
        print(f"baton: no file {path}", file=sys.stderr)
        return 2
    sheet = getattr(args, "sheet", "opportunities")

    async def run():
        db, ctx = await _org_ctx(settings, args.org, args.as_email)
        try:
            # Rows without an owner go to --owner, else to the user named by --as; else they are refused.
            owner_email = args.owner or args.as_email
            owner = await _import_owner(db, ctx, owner_email) if owner_email else None
            return await import_opportunities(
                ctx, path.read_bytes(), path.name, dry_run=args.dry_run, partial=args.partial, progress=_progress_bar,
                default_owner=owner, allow_duplicates=args.allow_duplicates, sheet=sheet,
                assign=getattr(args, "assign", False),
            )
        finally:
            await db.dispose()

    try:
        report = asyncio.run(run())
    except SpreadsheetError as exc:
        print(f"baton: {path.name}: {exc}", file=sys.stderr)
        return 2
    for rejection in report.rejected:
        label = "conflict" if rejection.code == "CONFLICT" else "rejected"
        print(f"{label} {rejection}", file=sys.stderr)
    for row, _ in report.existing:
        print(f"already exists: row {row} (pass --allow-duplicates to create it anyway)", file=sys.stderr)
    if report.unknown_columns:
        print(f"ignored columns: {', '.join(report.unknown_columns)}", file=sys.stderr)
    summary = f"{report.rows} rows, {report.valid} valid, {len(report.rejected)} rejected"
    counts = (f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
              f"{len(report.existing)} already exist, {report.conflicts} conflicts, {report.errors} errors")
    if args.dry_run:
        print(f"Dry run: {summary}; nothing written.")
    elif report.written:
        if sheet == "opportunities":
            print(f"Imported {report.created} opportunities ({report.accounts_created} new accounts); {summary}.")
    else:
        print(f"Nothing imported: {summary}." + (" Fix the rows or pass --partial." if report.rejected else ""))
    if sheet == "opportunities":
        print(counts + ".")
    if report.contacts_created or report.contacts_existing or report.contacts_linked or sheet == "contacts":
        print(f"Contacts: {report.contacts_created} created, {report.contacts_existing} already there, "
              f"{report.contacts_linked} put on deals.")
    if report.follow_ups_created or report.follow_ups_existing or sheet == "follow_ups":
        print(f"Follow-ups: {report.follow_ups_created} logged, {report.follow_ups_existing} already there.")
    if report.owner_given and report.written and not args.dry_run:
        owner = report.default_owner
        print(f"{report.owner_given} deals without an owner were given to {owner.name} <{owner.email}>.")
    return 1 if report.rejected and not args.partial else 0


def cmd_export_opportunities(args, settings: Settings) -> int:
    from resolvers.spreadsheets import export_rows, record_sheets, to_csv, to_xlsx

    flt = {}
    if args.stage:
        flt["stage_keys"] = args.stage
    if args.department:
        flt["department_keys"] = args.department
    if args.tag:
        flt["tags"] = args.tag
    if args.priority:
        flt["priority"] = [p.upper() for p in args.priority]
    if args.search:
        flt["search"] = args.search

    async def run():
        db, ctx = await _org_ctx(settings, args.org, args.as_email)
        try:
            header, rows = await export_rows(ctx, flt, chinese=args.chinese_headers)
            # A workbook carries the deals' contacts and follow-ups too, so it imports back whole.
            sheets = await record_sheets(ctx, header, rows, chinese=args.chinese_headers) if args.format == "xlsx" else []
            return header, rows, sheets
        finally:
            await db.dispose()

    header, rows, sheets = asyncio.run(run())
    data = to_xlsx(header, rows, sheets) if args.format == "xlsx" else to_csv(header, rows)
    if args.output:
        with open(args.output, "wb") as fh:
            fh.write(data)
        print(f"Exported {len(rows)} opportunities to {args.output}", file=sys.stderr)
    else:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="baton", description="Baton: a live deal board for every department.")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server (applies pending migrations first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--demo", action="store_true", help="seed the demo organization first (once)")
    serve.add_argument("--locale", default="en", choices=DEMO_LOCALES, help="the demo's language (with --demo)")
    serve.add_argument("--log-level", default="info")
    serve.set_defaults(run=cmd_serve)

    sub.add_parser("migrate", help="apply pending database migrations").set_defaults(run=cmd_migrate)
    prune = sub.add_parser("prune-events", help="remove old events from the log (by age: whole months on PostgreSQL)")
    prune.add_argument("--older-than-days", type=int, help="events older than this many days go")
    prune.add_argument("--keep-events", type=int, help="each organization keeps only its newest this many events")
    prune.set_defaults(run=cmd_prune_events)
    prune_files = sub.add_parser("prune-files", help="delete stored files no attachment names any more")
    prune_files.add_argument("--older-than-hours", type=int, default=24,
                             help="spare files written more recently (default 24: an upload may be under way)")
    prune_files.add_argument("--dry-run", action="store_true", help="count them, remove nothing")
    prune_files.set_defaults(run=cmd_prune_files)
    demo = sub.add_parser("demo", help="seed the demo organization (once) without serving")
    demo.add_argument("--locale", default="en", choices=DEMO_LOCALES, help="the demo's language")
    demo.set_defaults(run=cmd_demo)
    sub.add_parser("schema", help="print the GraphQL schema (SDL)").set_defaults(run=cmd_schema)

    user = sub.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--department", required=True, help="department key, e.g. sales")
    create.add_argument("--role", default="MEMBER", choices=["ADMIN", "MANAGER", "MEMBER", "VIEWER"])
    create.add_argument("--password", help="or set BATON_NEW_PASSWORD")
    create.add_argument("--handle", help="@mention handle (default: from the email)")
    create.add_argument("--org", help="organization name (created when missing)")
    create.set_defaults(run=cmd_user_create)
    sign_out = user.add_parser("sign-out", help="revoke every sign-in session of a user (open websockets close)")
    sign_out.add_argument("--email", required=True)
    sign_out.add_argument("--org", help="organization name (default: the first)")
    sign_out.set_defaults(run=cmd_user_sign_out)

    token = sub.add_parser("token", help="manage API tokens").add_subparsers(dest="action", required=True)
    tcreate = token.add_parser("create", help="create a long-lived API token for a tool")
    tcreate.add_argument("--name", required=True)
    tcreate.add_argument("--scope", default="read", choices=["read", "write"])
    tcreate.add_argument("--department", help="limit its live events to one department's; without --user it acts as a member of it")
    tcreate.add_argument("--user", help="email of the user it acts as (default: a member of --department, else the first admin)")
    tcreate.add_argument("--org", help="organization name (default: the first)")
    tcreate.set_defaults(run=cmd_token_create)

    imp = sub.add_parser("import", help="import data from spreadsheets").add_subparsers(dest="what", required=True)
    iopp = imp.add_parser("opportunities", help="import opportunities from a .csv or .xlsx file (English or Chinese headers)")
    iopp.add_argument("file")
    iopp.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
    iopp.add_argument("--partial", action="store_true", help="import the valid rows even if some are rejected")
    iopp.add_argument("--org", help="organization name (default: the first)")
    iopp.add_argument("--as", dest="as_email", help="email of the importing user (default: the first admin)")
    iopp.add_argument("--owner", help="email of the user who owns rows without an owner (default: the --as user; "
                                      "without either such rows are refused)")
    iopp.add_argument("--allow-duplicates", action="store_true",
                      help="create rows without an ID even when the customer already has a deal with that title")
    iopp.add_argument("--assign", action="store_true",
                      help="rows without an owner get one from the assignment rules (else the pool) instead of --owner")
    iopp.set_defaults(run=cmd_import_opportunities, sheet="opportunities")
    for kind, what in (("contacts", "contacts (联系人)"), ("follow-ups", "follow-ups (跟进记录)")):
        irec = imp.add_parser(kind, help=f"import {what} from a .csv file (or a workbook's {kind} sheet)")
        irec.add_argument("file")
        irec.add_argument("--dry-run", action="store_true", help="validate and report; write nothing")
        irec.add_argument("--partial", action="store_true", help="import the valid rows even if some are rejected")
        irec.add_argument("--org", help="organization name (default: the first)")
        irec.add_argument("--as", dest="as_email", help="email of the importing user (default: the first admin)")
        irec.set_defaults(run=cmd_import_opportunities, sheet=kind.replace("-", "_"), owner=None, allow_duplicates=False)

    exp = sub.add_parser("export", help="export data to spreadsheets").add_subparsers(dest="what", required=True)
    eopp = exp.add_parser("opportunities", help="export opportunities as CSV (UTF-8 with BOM) or XLSX")
    eopp.add_argument("--format", choices=["csv", "xlsx"], default="csv")
    eopp.add_argument("--output", "-o", help="file to write (default: stdout)")
    eopp.add_argument("--org", help="organization name (default: the first)")
    eopp.add_argument("--stage", action="append", help="stage key (repeatable)")
    eopp.add_argument("--department", action="append", help="department key holding the card (repeatable)")
    eopp.add_argument("--tag", action="append", help="tag (repeatable; any matches)")
    eopp.add_argument("--priority", action="append", help="LOW, MEDIUM, HIGH or URGENT (repeatable)")
    eopp.add_argument("--search", help="title or account name contains")
    eopp.add_argument("--chinese-headers", action="store_true", help="write the column headers in Chinese")
    eopp.add_argument("--as", dest="as_email", help="export what this user may see (default: the first admin)")
    eopp.set_defaults(run=cmd_export_opportunities)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args, Settings())


if __name__ == "__main__":
    sys.exit(main())
