"""Studies: search a space for the architectures that trade capability against compute best.

A study file names a search space, the tasks that measure capability, a training budget,
the objectives and how to run; ``nas run STUDY.yaml`` (or :func:`run_study`) creates or
resumes the Optuna study in a SQL database, trains each architecture on Ray workers and
records everything. The driver is the one writer of the study's rows; workers are pure.

Example:
    >>> config = load_study("studies/quickstart.yaml")
    >>> config.sampler, config.n_trials is None, len(config.baselines)
    ('grid', True, 3)
    >>> result = run_study(config)                     # doctest: +SKIP

The study file
--------------

::

    name: quickstart                  # the Optuna study name      [default: the file name]
    description: free text
    space: ../search_spaces/x.yaml    # relative to this file, or a shipped space by name
                                      # (space: quickstart; see nas.examples); or a mapping:
    # space: {path: ../search_spaces/x.yaml, overrides: {d_model: 32}}
    tasks:                            # capability = weighted mean of the task capabilities
      - mqar:num_kv_pairs=4,seq_len=64            # weight 1
      - {task: "byte_lm:seq_len=64", weight: 0.5}
    # tasks: {"mqar:seq_len=64": 2, byte_lm: 1}   # the same as a mapping spec: weight
    budget:                           # nas.proxy.Budget: exactly one of steps/tokens/flops,
      steps: 200                      # then batch_size, lr, warmup_fraction, min_lr_fraction,
      batch_size: 16                  # weight_decay, betas, grad_clip, eval_fractions,
      fidelity:                       # eval_batches, eval_batch_size
        levels: [0.25, 0.5, 1.0]      # multi-fidelity: budget fractions (1.0 added if absent)
        eta: 3                        # about 1 in eta trials go on at each level     [3]
    objectives:                       # name: maximize|minimize, in order; a name alone takes
      capability: maximize            # its usual direction. capability; compute figures at
      state_bytes: minimize           # (seq_len, context): params, non_embedding_params,
                                      # train_flops_per_token, prefill_flops,
                                      # decode_flops_per_token, state_bytes; measured:
                                      # tokens_per_s, peak_memory_bytes, wall_s
    compute: {seq_len: 64, context: 8192}   # where the compute figures are taken
                                      # [seq_len: the longest task's, context: 8192]
    constraints: ["params <= 2M"]     # on top of the space's own; same expression language
    sampler: {name: tpe, seed: 0, n_startup_trials: 5}   # grid | random | tpe | nsgaii |
                                      # nsgaiii | gp; other keys go to the
                                      # Optuna sampler; a bare name works too   [tpe, seed 0]
    n_trials: 50                      # trained trials in the study, earlier runs included
                                      # (infeasible suggestions are pruned, not counted)
    timeout: 30m                      # stop starting trials after this (s, m or h)
    baselines:                        # enqueued first when the study is created
      - "AFAFAFAF"                    # a layout the space can produce (pure attention)
      - {layout: "MFMFMFMF", ssm.d_state: 16}   # and any searched parameters
    seeds: [0, 1]                     # training seeds per architecture; or a count   [[0]]
    execution:
      workers: 2                      # evaluations running at once                    [1]
      cpus_per_trial: 1               # Ray CPUs (and torch threads) per evaluation    [1]
      gpus_per_trial: 0               # Ray GPUs per evaluation                        [0]
      ray_address: null               # join a cluster (e.g. 10.0.0.1:6380); null: local Ray
      device: auto                    # auto: cuda with GPUs, else cpu
      backend: auto                   # kernel backend: auto | triton | torch | reference
      max_retries: 2                  # restarts of an evaluation whose worker died
      heartbeat_interval: 30          # s; a trial silent for 2x this is reclaimed
      evaluator: nas.proxy:evaluate   # module:function with evaluate's signature
    storage: sqlite:///runs/quickstart.db   # or postgresql+psycopg://user:pw@host/db
                                      # [sqlite:///<name>.db, relative to the working dir]
    cache: true                       # reuse evaluations from any study in the database

A stop condition is needed: ``n_trials``, ``timeout``, or the ``grid`` sampler (which stops
when its grid is done). Each trial is one architecture; its evaluations (one per task and
seed) run as separate Ray tasks. Unspecified searched parameters of a baseline take their
middle value. Resuming a study needs the same space, tasks, budget, fidelity, objectives,
constraints, seeds and compute settings; the rest (sampler options, execution, stopping)
may change between runs.
"""

from nas.study._config import (
    OBJECTIVES,
    SAMPLERS,
    Baseline,
    Execution,
    Fidelity,
    Objective,
    StudyConfig,
    StudyError,
    load_study,
    parse_duration,
)
from nas.study._display import Display, chance_lines, pareto_table
from nas.study._fidelity import front_ranks, promote
from nas.study._runner import Counts, RunResult, run_study
from nas.study._storage import masked
from nas.study._validity import FidelityPlan, FidelityRun, plan_check, run_fidelity

__all__ = [
    "OBJECTIVES",
    "SAMPLERS",
    "Baseline",
    "Counts",
    "Display",
    "Execution",
    "Fidelity",
    "FidelityPlan",
    "FidelityRun",
    "Objective",
    "RunResult",
    "StudyConfig",
    "StudyError",
    "chance_lines",
    "front_ranks",
    "load_study",
    "masked",
    "pareto_table",
    "parse_duration",
    "plan_check",
    "promote",
    "run_fidelity",
    "run_study",
]
