"""nas: search hybrid SSM/attention language-model architectures.

Rooms, in the order data flows: ``nas.space`` (YAML search spaces) -> ``nas.arch``
(ArchSpec) -> ``nas.compute`` (analytical figures) -> ``nas.models`` / ``nas.tasks`` ->
``nas.proxy`` (short training) -> ``nas.study`` (Optuna on Ray) -> ``nas.db`` / ``nas.report``.
"""

__version__ = "0.1.0"
