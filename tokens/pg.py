"""Single-statement hold movements for PostgreSQL: the hot path of every paid request.

A hold and its resolution each touch the user's account row, which every request of that user
locks. Done as ORM statements inside a transaction, the row stays locked for four round trips
(update, entry insert, commit, and the wait for the GIL in between); done as one statement with
data-modifying CTEs, the row is locked for one round trip, the same as a bare UPDATE. The
portable versions in tokens.services do the same thing in several statements; both are tested.

Each statement is its own transaction when the caller has none (autocommit), so there is no
BEGIN/COMMIT round trip either. Inside a caller's transaction they run in a savepoint, so a
unique-key violation (a replayed idempotency key) does not poison the caller's transaction.
"""

from datetime import datetime

import psycopg
from django.db import connection, transaction

from tokens.models import Hold, LedgerEntry, TokenAccount

_ACCOUNT = TokenAccount._meta.db_table
_HOLD = Hold._meta.db_table
_ENTRY = LedgerEntry._meta.db_table
_ENTRY_COLUMNS = (
    "account_id, kind, amount, held_delta, balance_after, held_after, memo, hold_id, "
    "content_type_id, object_id, idempotency_key, created_at"
)

# The account update runs first and is the guard: no row, no hold, no entry.
HOLD_SQL = f"""
WITH acc AS (
    UPDATE {_ACCOUNT} SET held = held + %(amount)s, updated_at = now()
    WHERE id = %(account)s AND balance >= held + %(amount)s
    RETURNING id, balance, held
), h AS (
    INSERT INTO {_HOLD}
        (account_id, amount, status, captured, refunded, operation, content_type_id, object_id,
         member_id, idempotency_key, created_at, expires_at)
    SELECT id, %(amount)s, 'open', 0, 0, %(operation)s, %(content_type)s::integer,
           %(object_id)s, %(member)s::uuid, %(key)s, now(), %(expires_at)s
    FROM acc
    RETURNING id, created_at
), e AS (
    INSERT INTO {_ENTRY} ({_ENTRY_COLUMNS})
    SELECT acc.id, 'hold', 0, %(amount)s, acc.balance, acc.held, %(memo)s, h.id,
           %(content_type)s::integer, %(object_id)s, %(entry_key)s, now()
    FROM acc, h
)
SELECT h.id, h.created_at, acc.balance, acc.held FROM acc, h
"""

# Claims the hold (open -> captured/released), moves the account, and writes the capture
# entry (when it charges something) and the release entry (when something is left), all at
# once. Part captures (tokens.services.parts) may have charged some of the hold already: `o`
# locks the hold row (first, then the account row: the order of every hold movement) and reads
# them under that lock; `c` is what is charged now (a NULL charge: all that is left) and has no
# row when that exceeds what is left. The result tells the cases apart: no row, the hold was
# not open; a NULL charge, too much; otherwise (amount, captured before, charged, resolved_at).
RESOLVE_SQL = f"""
WITH o AS MATERIALIZED (
    SELECT id, amount, captured FROM {_HOLD}
    WHERE id = %(hold)s AND status = 'open'
    FOR UPDATE
), c AS (
    SELECT id, captured AS before, COALESCE(%(charge)s::integer, amount - captured) AS charge
    FROM o
    WHERE captured + COALESCE(%(charge)s::integer, amount - captured) <= amount
), h AS (
    UPDATE {_HOLD} t
    SET status = CASE WHEN c.before + c.charge > 0 THEN 'captured' ELSE 'released' END,
        captured = c.before + c.charge, resolved_at = now()
    FROM c WHERE t.id = c.id
    RETURNING t.id, t.account_id, t.idempotency_key, t.content_type_id, t.object_id, c.charge,
              t.amount - t.captured AS rest, t.amount - c.before AS held
), acc AS (
    UPDATE {_ACCOUNT} a
    SET balance = a.balance - h.charge, held = a.held - h.held, updated_at = now()
    FROM h WHERE a.id = h.account_id
    RETURNING a.id, a.balance, a.held
), e AS (
    INSERT INTO {_ENTRY} ({_ENTRY_COLUMNS})
    SELECT acc.id, 'capture', 0 - h.charge, 0 - h.charge, acc.balance, acc.held + h.rest,
           %(capture_memo)s, h.id, h.content_type_id, h.object_id,
           'capture:' || h.idempotency_key, now()
    FROM acc, h WHERE h.charge > 0
    UNION ALL
    SELECT acc.id, 'release', 0, 0 - h.rest, acc.balance, acc.held, %(release_memo)s, h.id,
           h.content_type_id, h.object_id, 'release:' || h.idempotency_key, now()
    FROM acc, h WHERE h.rest > 0
)
SELECT o.amount, o.captured, h.charge, now() FROM o LEFT JOIN (acc CROSS JOIN h) ON true
"""


# Charges a part of an open hold, which stays open (closing itself when the parts reach its
# amount): the hold's conditional update is the guard (no row: not open, or the part exceeds
# what is left), the account row is moved after it, and the capture entry is written, whose
# unique key makes a replayed part fail as a whole. Returns the hold's (status, captured,
# resolved_at) after it, the entry's (id, created_at) and the account's (balance, held).
PART_SQL = f"""
WITH h AS (
    UPDATE {_HOLD}
    SET captured = captured + %(amount)s,
        status = CASE WHEN captured + %(amount)s = amount THEN 'captured' ELSE status END,
        resolved_at = CASE WHEN captured + %(amount)s = amount THEN now() ELSE resolved_at END
    WHERE id = %(hold)s AND status = 'open' AND captured + %(amount)s <= amount
    RETURNING id, account_id, content_type_id, object_id, status, captured, resolved_at
), acc AS (
    UPDATE {_ACCOUNT} a
    SET balance = a.balance - %(amount)s, held = a.held - %(amount)s, updated_at = now()
    FROM h WHERE a.id = h.account_id
    RETURNING a.id, a.balance, a.held
), e AS (
    INSERT INTO {_ENTRY} ({_ENTRY_COLUMNS})
    SELECT acc.id, 'capture', 0 - %(amount)s, 0 - %(amount)s, acc.balance, acc.held,
           %(memo)s, h.id, h.content_type_id, h.object_id, %(entry_key)s, now()
    FROM acc, h
    RETURNING id, created_at
)
SELECT h.status, h.captured, h.resolved_at, e.id, e.created_at, acc.balance, acc.held
FROM h, acc, e
"""


def _execute(sql: str, params: dict) -> tuple | None:
    # A server-side-binding psycopg cursor, prepared on each connection after first use:
    # planning these CTEs costs more than running them, and Django's default client-side
    # cursor would send them as fresh text every time.
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchone()


def _run(sql: str, params: dict, *, savepoint: bool = True) -> tuple | None:
    connection.ensure_connection()
    if connection.get_autocommit():
        return _execute(sql, params)
    with transaction.atomic(savepoint=savepoint):
        return _execute(sql, params)


def hold_insert(
    *,
    account_id: int,
    amount: int,
    key: str,
    operation: str,
    memo: str,
    expires_at: datetime,
    content_type_id: int | None,
    object_id: str,
    member_id: int | None = None,
) -> tuple[int, datetime, int, int] | None:
    """(hold id, created_at, balance, held) after the hold, or None when funds are short.
    Raises IntegrityError when the key was used before."""
    return _run(
        HOLD_SQL,
        {
            "account": account_id,
            "amount": amount,
            "operation": operation,
            "key": key,
            "expires_at": expires_at,
            "memo": memo,
            "content_type": content_type_id,
            "object_id": object_id,
            "member": member_id,
            "entry_key": f"hold:{key}",
        },
    )


def hold_resolve(
    *, hold_id: int, charge: int | None, capture_memo: str, release_memo: str
) -> tuple[int, int, int | None, datetime] | None:
    """(amount, captured before, charged, resolved_at) after charging `charge` more (None: all
    that is left) and releasing the rest; charged is None when that was more than is left
    (nothing moved). None when the hold was not open."""
    # No savepoint inside a caller's transaction: this statement has no key to collide on
    # (the hold row's status is its guard), so it cannot fail in a way the caller survives.
    return _run(
        RESOLVE_SQL,
        {
            "hold": hold_id,
            "charge": charge,
            "capture_memo": capture_memo,
            "release_memo": release_memo,
        },
        savepoint=False,
    )


def hold_capture_part(
    *, hold_id: int, amount: int, entry_key: str, memo: str
) -> tuple[str, int, datetime | None, int, datetime, int, int] | None:
    """(status, captured, resolved_at) of the hold, (id, created_at) of the entry and (balance,
    held) of the account after charging `amount` of the open hold; None when it was not open
    or the part exceeds what is left (nothing moved). Raises IntegrityError when the entry's
    key was used before."""
    return _run(
        PART_SQL,
        {"hold": hold_id, "amount": amount, "entry_key": entry_key, "memo": memo},
    )
