"""`realname demo`'s last step: the demo world served with the web pages, and an account per
role to sign in with (printed once; Ctrl-C stops the server)."""

from __future__ import annotations

import json

from rich.console import Console
from rich.table import Table

from realname.config import Settings

console = Console()


def serve_demo_world(settings: Settings, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Accounts for each role on the demo database, then the app (API and pages) on it."""
    import uvicorn

    from realname.api.app import create_app
    from realname.db.engine import create_engine_from_settings
    from realname.db.uow import UnitOfWork
    from realname.security.keys import keyring_from_settings
    from realname.web.demo import create_demo_accounts, walk_in_customer

    engine = create_engine_from_settings(settings)
    keyring = keyring_from_settings(settings)
    now = settings.clock().now()
    try:
        from sqlalchemy.orm import sessionmaker

        with UnitOfWork(sessionmaker(engine, expire_on_commit=False)).transaction() as session:
            desk = create_demo_accounts(session, keyring, now)
            card = walk_in_customer(session, keyring, now, "王小明")
    finally:
        engine.dispose()
    table = Table(title=f"web pages at http://{host}:{port}/web/ (demo accounts, shown once)")
    for column in ("role", "user name", "password", "acts for"):
        table.add_column(column)
    for account in desk.accounts:
        table.add_row(account.role, account.username, account.password, account.where)
    console.print(table)
    console.print(
        "a walk-in customer for the front desk (paste as the card reader's data; face score "
        f"0.95): {json.dumps(card, ensure_ascii=False)}"
    )
    console.print("serving; Ctrl-C to stop")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning", access_log=False)
