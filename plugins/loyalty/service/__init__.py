"""Loyalty rules: the points ledger, earning, tiers, rewards, referrals, expiry.

No GraphQL here: the API, the CLI and the event hook call these functions, and
tests call them directly. Functions that change data run inside the caller's
``kehu.writes.write_scope`` (one transaction, one audit entry); the system jobs
(accrual after a purchase, expiry, the tier review) open their own scopes.

The invariants, and how they hold under concurrency on SQLite and PostgreSQL:

* **The balance equals the ledger sum.** Every entry is inserted in the same
  transaction as the ``UPDATE loyalty_account SET balance = balance + n`` it
  explains; nothing reads a balance into Python and writes it back.
* **No balance below zero, no oversold stock.** Debits are conditional updates
  (``… WHERE balance >= cost``, ``… WHERE stock >= 1``). PostgreSQL re-checks the
  condition once a concurrent writer of the row commits, so the second of two
  racing redemptions sees the balance the first left; SQLite runs one write
  transaction at a time.
* **Idempotency.** Each entry's ``(customer, idempotency_key)`` is unique. The entry
  is inserted first, in a savepoint: a concurrent request with the same key waits
  on the unique index, fails, and returns the entry the first request committed.
* Lock order is always ledger entry → account → reward, so racing writers queue
  rather than deadlock.

The modules: ``ledger`` (accounts, entries, input checks), ``tiers``, ``earning``,
``history`` (purchases credited as of their own dates: imports, back-dated ones),
``rewards``, ``referrals``, ``expiry``, ``reports``. Other modules of the plugin
import from here.
"""

from .earning import accrue_missing, accrue_purchase, adjust_points, award_points, purchase_points
from .expiry import ExpiryReport, expire_points, scheduled_round, start_scheduler, stop_scheduler
from .history import HistoryReport, catch_up
from .ledger import Posting, ensure_account, post_entry, viewer_for
from .merging import merge_members
from .referrals import record_referral
from .reports import Discrepancy, Summary, check_ledger, loyalty_summary
from .rewards import REWARD_FIELDS, cancel_redemption, create_reward, redeem_reward, reward_is_active, update_reward
from .tiers import TierReview, next_tier, qualifying_value, review_tiers, tier_for

__all__ = [
    "accrue_missing",
    "catch_up",
    "HistoryReport",
    "accrue_purchase",
    "adjust_points",
    "award_points",
    "cancel_redemption",
    "check_ledger",
    "create_reward",
    "Discrepancy",
    "ensure_account",
    "expire_points",
    "ExpiryReport",
    "loyalty_summary",
    "merge_members",
    "next_tier",
    "post_entry",
    "Posting",
    "purchase_points",
    "qualifying_value",
    "record_referral",
    "redeem_reward",
    "review_tiers",
    "REWARD_FIELDS",
    "reward_is_active",
    "scheduled_round",
    "start_scheduler",
    "stop_scheduler",
    "Summary",
    "tier_for",
    "TierReview",
    "update_reward",
    "viewer_for",
]
