"""Curation at scale: a pool of videos -> filter -> pose -> registration rule -> shards.

Resumable (SQLite ledger reconciled with the shard manifest), fault-isolated (one bad file or crashing
worker fails one item), with local worker processes or Ray Data. See :mod:`dynpose100k.curate.runner`.
"""

from .engines import LocalEngine, RayEngine, make_engine
from .inputs import InputError, WorkItem, resolve_inputs
from .ledger import Ledger
from .runner import (
                     CurateConfig,
                     CurateError,
                     DatasetSink,
                     RunLayout,
                     SettingsChanged,
                     curate,
                     decision_settings,
                     default_stages,
                     read_items,
                     settings_hash,
)
from .stages import ItemResult, ItemStatus, Stages, process_item, registration_rule, stage_sample
from .stats import format_summary, summarize

__all__ = [
    "CurateConfig", "CurateError", "DatasetSink", "InputError", "ItemResult", "ItemStatus", "Ledger", "LocalEngine",
    "RayEngine", "RunLayout", "SettingsChanged", "Stages", "WorkItem", "curate", "decision_settings", "default_stages",
    "format_summary", "make_engine", "process_item", "read_items", "registration_rule", "resolve_inputs",
    "settings_hash", "stage_sample", "summarize",
]
