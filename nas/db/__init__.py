"""Read-only queries over the database ``nas run`` writes: Optuna's tables and nas's own.

Every query goes through SQLAlchemy Core, one joined SELECT per read (no Optuna objects),
on a connection that cannot write: SQLite opened ``mode=ro`` with ``query_only``,
PostgreSQL sessions with ``default_transaction_read_only``. A missing SQLite file is
refused before anything connects, so no empty file is ever created.

Example::

    from nas.db import Database

    db = Database("sqlite:///runs/quickstart.db")
    db.studies()                                       # one row per study
    db.trials("quickstart", where="d_state >= 16 and family == 'hybrid'",
              sort="-capability", limit=10)            # a DataFrame
    db.pareto("quickstart")                            # each front architecture once
    db.trials("quickstart", by_architecture=True)      # one row per architecture
    db.pareto("quickstart", objectives={"capability": "maximize", "state_bytes": "minimize"})
    db.evaluations("11ff2c11")                         # one architecture, every study
    db.compare("quickstart", "quickstart_mf")          # two fronts side by side
    db.trial("quickstart", 5)                          # one trial, its runs and curves
    db.fidelity("quickstart")                          # does its ranking hold at 4x budget?

The trials frame
----------------
One row per trial, or with ``by_architecture=True`` one per architecture and state (its
first trial; ``nas db trials`` does this by default, ``nas db pareto`` always, unless
``--each-trial``). :meth:`Database.columns` lists the columns in this order, and
:meth:`Database.describe_columns` gives each one's type and meaning:

- ``number``, ``state``, ``n_trials`` (the trials a row stands for) and the objectives,
  named as the study names them (``capability``, ``train_flops_per_token``, ...);
- the architecture: ``arch_hash``, ``layout``, ``family`` (ssm | attention | hybrid),
  ``ratio`` (SSM:attention, ``"3:1"``), ``attention_fraction``, ``n_layers``, ``n_ssm``,
  ``n_attention``, ``n_mlp``, ``d_model``, ``vocab_size``, ``ssm_kind``, ``d_state``,
  ``params``, ``non_embedding_params``, the other ArchSpec settings (``expand``,
  ``headdim``, ``n_heads``, ``window``, ``d_ff``, ...) and ``spec_json``;
- compute figures at the study's (seq_len, context): ``train_flops_per_token``,
  ``prefill_flops``, ``decode_flops_per_token``, ``state_bytes``, ``seq_len``, ``context``;
- from the evaluations: ``cap.<task>`` (capability per task, mean over seeds),
  ``gap.<task>`` (filler robustness gap of filler tasks), ``n_evaluations``,
  ``n_seeds``, ``eval_wall_s``, ``tokens_per_s``, ``peak_memory_bytes``, ``device``,
  ``backend``. ``<task>`` is the task's name, plus the parameters that tell apart two
  tasks of one name (``mqar:filler=2``);
- the driver's attributes: ``fidelity``, ``budget_hash``, ``cached``, ``duplicate_of``,
  ``fail_reason``, ``evaluation_ids`` (and any other user attribute, by its key);
- timings: ``datetime_start``, ``datetime_complete``, ``duration_s``;
- the sampled parameters as Optuna names them: ``params_<name>`` (``params_ssm.d_state``).

The ``--where`` language
------------------------
A filter over those columns, parsed by a small recursive-descent parser (never
``eval``); errors name the column and point at the position with a caret.

- comparisons ``== != < <= > >=`` (``=`` and ``<>`` work too), ``and``, ``or``,
  ``not``, parentheses, arithmetic ``+ - * /`` (``params / 1e6 < 2``);
- ``x in [a, b]``, ``x not in [a, b]``; ``x is null``, ``x is not null``;
- ``x contains 'text'`` (substring), ``x matches 'regex'`` (search), and their ``not``;
- numbers (``16``, ``1e6``, ``1_000``), strings in ``'`` or ``"``, ``true``/``false``;
- a column name holding other characters than letters, digits, ``_`` and ``.`` goes in
  backticks: `` `cap.mqar:filler=2` > 0.9 ``;
- keywords are case-insensitive; a missing value fails every comparison, ``in``,
  ``contains`` and ``matches`` (``is null`` finds it); ``not`` inverts a result.

Example: ``--where "family == 'hybrid' and d_state >= 16 and ratio in ['3:1', '7:1']"``.

Other tools on the same database
--------------------------------
Optuna's tables are left as Optuna defines them, so its tools read a nas database::

    optuna studies --storage sqlite:///runs/quickstart.db
    optuna trials --study-name quickstart --storage sqlite:///runs/quickstart.db
    optuna best-trials --study-name quickstart --storage sqlite:///runs/quickstart.db
    optuna-dashboard sqlite:///runs/quickstart.db --host 127.0.0.1 --port 8080

``optuna best-trials`` lists the same trials as ``nas db pareto --each-trial`` (a test
checks it); ``nas db pareto`` shows each architecture of the front once.
"""

from nas.db._database import Database, UnknownStudy, delete_study, upgrade_database
from nas.db._export import FORMATS, format_for, write_frame
from nas.db._fidelity import FidelityResult
from nas.db._pareto import non_dominated
from nas.db._readonly import SQLRefused
from nas.db._storage import StorageError, masked, parse_url
from nas.db._where import Where, WhereError

__all__ = [
    "FORMATS",
    "Database",
    "FidelityResult",
    "SQLRefused",
    "StorageError",
    "UnknownStudy",
    "Where",
    "WhereError",
    "delete_study",
    "format_for",
    "masked",
    "non_dominated",
    "parse_url",
    "upgrade_database",
    "write_frame",
]
