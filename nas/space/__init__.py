"""Search spaces: YAML files that describe a family of architectures for a study to search.

A file is validated once by :func:`load_space`; every problem is reported at once as
``file:line:col: key: message`` (a :class:`SpaceError`, exit code 2 in the CLI). A
:class:`SearchSpace` then draws :class:`~nas.arch.ArchSpec` values through an Optuna trial,
enumerates a finite space, or samples one at random.

Example:
    >>> import optuna
    >>> space = load_space("search_spaces/quickstart.yaml")
    >>> arch = space.suggest(optuna.create_study().ask())
    >>> space.violations(arch)
    []

The YAML format
---------------

::

    name: my_space              # optional; default: the file name without .yaml
    description: free text      # optional
    extends: base.yaml          # optional; path relative to this file (see "extends" below)

    d_model: 64                 # model width                                  [default 64]
    vocab_size: 256             # absent: load_space's default_vocab_size (the study's tasks)
    tie_embeddings: true        # share embedding and output head              [default true]

    layout:                     # required; ratio form ...
      n_layers: 4               # mixer (M and A) layers
      ratio: "3:1"              # SSM:attention; "1:0" pure SSM, "0:1" pure attention
      placement: interleave     # interleave | middle | start | end            [interleave]
      mlp: false                # an MLP (F) block after every mixer           [false]
    # layout:                   # ... or explicit form (not both)
    #   pattern: "(MMMA)x2"     # M SSM, A or * attention, F or - MLP, (..)xN repeats

    ssm:                        # read only when a layout has M blocks
      kind: mamba2              # mamba1 | mamba2                              [mamba2]
      d_state: 16               # state size N                                 [16]
      expand: 2                 # d_inner = expand * d_model                   [2]
      d_conv: 4                 # causal conv width                            [4]
      headdim: 16               # Mamba-2 only; must divide d_inner            [16]
      ngroups: 1                # Mamba-2 only; must divide d_inner / headdim  [1]
      dt_rank: null             # Mamba-1 only; null: ceil(d_model / 16)       [null]
      dt_min: 0.001             # initial dt range                             [0.001]
      dt_max: 0.1               #                                              [0.1]
    attention:                  # read only when a layout has A blocks
      n_heads: 4                # must divide d_model                          [4]
      n_kv_heads: 2             # GQA; must divide n_heads                     [= n_heads]
      window: null              # sliding window length; null: global causal  [null]
      rope: true                # rotary position embedding                    [true]
      rope_theta: 10000         # read only with rope: true                    [10000]
    mlp:                        # read only when a layout has F blocks
      kind: swiglu              # swiglu | gelu                                [swiglu]
      expansion: 2.0            # d_ff = expansion * d_model, rounded to       [2.0]
      multiple_of: 1            #   the nearest multiple of multiple_of        [1]

    constraints:                # all must hold; infeasible architectures are never trained
      - params <= 2M
      - state_bytes(8192) <= 4 MiB and attention_fraction <= 0.5

Every key under ``d_model`` ... ``mlp`` is a *parameter*, written in one of these forms::

    d_state: 16                                 # fixed (not searched)
    d_state: [4, 16, 32]                        # choice (short form)
    d_state: {choice: [4, 16, 32]}              # choice
    d_state: {low: 4, high: 64, step: 4}        # int range (ints for int keys); step default 1
    d_state: {low: 4, high: 64, log: true}      # log-uniform range (no step)
    dt_min:  {low: 1e-4, high: 1e-2, log: true} # float range (float keys); no step: continuous

Optuna sees each searched parameter under its key path (``layout.ratio``, ``ssm.d_state``,
``d_model``) with the same distribution every time. Parameters are *conditional*: ``ssm.*``
is suggested only when the layout has M blocks, ``attention.*`` only with A blocks,
``mlp.*`` only with F blocks, ``ssm.headdim``/``ssm.ngroups`` only for mamba2,
``ssm.dt_rank`` only for mamba1, ``attention.rope_theta`` only with rope, and
``layout.placement`` only for a ratio that mixes SSM and attention. A one-value choice is
fixed. Quote ratios and patterns (``"3:1"``, ``"M-M*-"``): YAML reads ``*`` as an alias.

Constraints are expressions over these names, in the grammar of ``_constraints``:
``params``, ``non_embedding_params``, ``n_layers``, ``n_ssm``, ``n_attention``, ``n_mlp``,
``attention_fraction``, ``d_model``, ``vocab_size``, and functions of a constant
``train_flops_per_token(seq_len)``, ``prefill_flops(context)``,
``decode_flops_per_token(context)``, ``state_bytes(context)`` (see ``nas.compute``).
Operators: ``+ - * /``, parentheses, ``< <= > >= == !=`` (chainable: ``1M <= params <= 2M``),
``and or not``. Numbers: ``2e6``, ``1_000``, units ``K M G T`` (x1000) and ``KiB MiB GiB
TiB`` (x1024): ``4 MiB``, ``1.5M``.

``extends: base.yaml`` reads the base first (recursively; cycles are an error), then this
file on top: the sections (``layout``, ``ssm``, ``attention``, ``mlp``) merge key by key,
any other key replaces the base's value whole (a parameter, the ``constraints`` list).
``name`` is not inherited. A layout in the other form (``pattern`` versus ``n_layers``/
``ratio``) replaces the base's layout form. Problems in the base point at the base file.

Load-time checks, beyond keys and types: empty choices, ``low > high``, a ``step`` that
does not divide ``high - low``, step with log, a ratio that some ``n_layers`` value cannot
hold, pattern syntax (with the column), unknown constraint names (with a did-you-mean), and
settings that no combination of the given values makes valid (``n_heads`` not dividing
``d_model``, ...). Combinations that are invalid only for some draws are *infeasible* at
suggestion time (:class:`InfeasibleArchitecture`, an ``optuna.TrialPruned``).
"""

from nas.space._constraints import (
    FUNCTIONS,
    VARIABLES,
    Constraint,
    ConstraintError,
    parse_constraint,
)
from nas.space._params import Param
from nas.space._space import InfeasibleArchitecture, SearchSpace, load_space
from nas.space._yaml import Location, Problem, SpaceError, YamlNode, read_yaml

__all__ = [
    "FUNCTIONS",
    "VARIABLES",
    "Constraint",
    "ConstraintError",
    "InfeasibleArchitecture",
    "Location",
    "Param",
    "Problem",
    "SearchSpace",
    "SpaceError",
    "YamlNode",
    "load_space",
    "parse_constraint",
    "read_yaml",
]
