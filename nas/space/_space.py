"""SearchSpace: a validated search-space file, and the ArchSpecs it describes."""

from __future__ import annotations

import itertools
import math
import os
import random
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import optuna

from nas.arch import (
    ATTENTION,
    MLP,
    SSM,
    ArchSpec,
    AttentionSpec,
    LayoutError,
    MLPSpec,
    SSMSpec,
    layout_from_ratio,
    parse_layout,
    parse_ratio,
)
from nas.errors import did_you_mean
from nas.space._constraints import Constraint, ConstraintError, parse_constraint
from nas.space._params import Param, fixed_param, parse_param
from nas.space._schema import (
    DEFAULT_VOCAB,
    META,
    RATIO_FORM,
    REQUIRED,
    SECTIONS,
    Key,
    param_name,
)
from nas.space._yaml import (
    Location,
    Problem,
    SpaceError,
    YamlNode,
    from_python,
    read_yaml,
)

_MAX_CHECK_COMBINATIONS = 100_000


class InfeasibleArchitecture(optuna.TrialPruned):
    """The values a trial drew make no valid architecture (e.g. n_heads does not divide d_model).

    It subclasses ``optuna.TrialPruned`` so that ``study.optimize`` records such a trial as
    pruned instead of failing; ``str(error)`` says why.
    """


class SearchSpace:
    """A validated search space; build one with :func:`load_space`.

    Example:
        >>> import optuna
        >>> space = load_space("search_spaces/quickstart.yaml")
        >>> arch = space.suggest(optuna.create_study().ask())
        >>> space.violations(arch)
        []
        >>> len(space.grid()) == len({a.arch_hash for a in space.grid()})
        True
    """

    def __init__(
        self,
        *,
        name: str,
        path: Path,
        description: str,
        params: Mapping[str, Param],
        constraints: tuple[Constraint, ...],
        layouts: tuple[str, ...],
    ) -> None:
        self.name = name
        self.path = path
        self.description = description
        self.params = dict(params)  # in suggestion order, fixed ones included
        self.constraints = constraints
        self.layouts = layouts  # every distinct layout the space can produce
        self._explicit = "layout.pattern" in self.params

    def __repr__(self) -> str:
        return f"SearchSpace({self.name!r}, path={str(self.path)!r})"

    # -- shape ----------------------------------------------------------------------------
    @property
    def searched(self) -> list[Param]:
        """The parameters a trial is asked for: used and not fixed."""
        return [p for p in self.params.values() if p.used and not p.is_fixed]

    @property
    def is_finite(self) -> bool:
        """Whether every searched parameter has finitely many values (no continuous range)."""
        return all(p.is_finite for p in self.searched)

    @property
    def discrete_size(self) -> int:
        """Grid points of the searched non-continuous parameters; GridSampler's grid size when
        the space is finite. Conditional parameters count fully, so distinct architectures
        (:meth:`grid`) are usually fewer."""
        return math.prod(len(p.grid_values()) for p in self.searched if p.is_finite)

    # -- drawing architectures ------------------------------------------------------------
    def suggest(self, trial: optuna.trial.BaseTrial) -> ArchSpec:
        """Draw an architecture through ``trial``'s suggest_* calls (define-by-run).

        Parameter names are the keys' paths (``layout.ratio``, ``ssm.d_state``); parameters
        that cannot matter are not suggested (SSM settings without M blocks, ``ssm.headdim``
        for Mamba-1, ``layout.placement`` for a pure ratio). Values that make no valid
        architecture raise :class:`InfeasibleArchitecture`. Constraints are not checked
        here: see :meth:`violations`.
        """

        def value(name: str) -> Any:
            return self.params[name].suggest(trial)

        layout = self._suggest_layout(value)
        d_model = value("d_model")
        try:
            return ArchSpec(
                layout=layout,
                d_model=d_model,
                vocab_size=value("vocab_size"),
                tie_embeddings=value("tie_embeddings"),
                ssm=self._suggest_ssm(value) if SSM in layout else None,
                attention=self._suggest_attention(value) if ATTENTION in layout else None,
                mlp=self._suggest_mlp(value, d_model) if MLP in layout else None,
            )
        except ValueError as exc:
            raise InfeasibleArchitecture(str(exc)) from None

    def _suggest_layout(self, value: Callable[[str], Any]) -> str:
        if self._explicit:
            return parse_layout(value("layout.pattern"))
        n_layers, ratio = value("layout.n_layers"), value("layout.ratio")
        n_ssm, n_attention = parse_ratio(ratio)
        placement = value("layout.placement") if n_ssm and n_attention else "interleave"
        return layout_from_ratio(n_layers, ratio, placement, value("layout.mlp"))

    @staticmethod
    def _suggest_ssm(value: Callable[[str], Any]) -> SSMSpec:
        kind = value("ssm.kind")
        mamba2 = kind == "mamba2"
        return SSMSpec(
            kind=kind,
            d_state=value("ssm.d_state"),
            expand=value("ssm.expand"),
            d_conv=value("ssm.d_conv"),
            dt_min=value("ssm.dt_min"),
            dt_max=value("ssm.dt_max"),
            dt_rank=None if mamba2 else value("ssm.dt_rank"),
            headdim=value("ssm.headdim") if mamba2 else None,
            ngroups=value("ssm.ngroups") if mamba2 else None,
        )

    @staticmethod
    def _suggest_attention(value: Callable[[str], Any]) -> AttentionSpec:
        n_heads = value("attention.n_heads")
        n_kv_heads = value("attention.n_kv_heads")
        rope = value("attention.rope")
        return AttentionSpec(
            n_heads=n_heads,
            n_kv_heads=n_heads if n_kv_heads is None else n_kv_heads,
            window=value("attention.window"),
            rope=rope,
            rope_theta=value("attention.rope_theta") if rope else AttentionSpec.rope_theta,
        )

    @staticmethod
    def _suggest_mlp(value: Callable[[str], Any], d_model: int) -> MLPSpec:
        multiple = value("mlp.multiple_of")
        d_ff = max(
            multiple, math.floor(value("mlp.expansion") * d_model / multiple + 0.5) * multiple
        )
        return MLPSpec(kind=value("mlp.kind"), d_ff=d_ff)

    def violations(self, arch: ArchSpec) -> list[str]:
        """The constraints ``arch`` does not meet, each with the values it read; [] = feasible."""
        return [v for c in self.constraints if (v := c.violation(arch)) is not None]

    def grid(self, max_size: int = 100_000) -> list[ArchSpec]:
        """Every feasible architecture of a finite space, deduplicated by hash, in grid order.

        Raises :class:`SpaceError` for a space with continuous parameters, or with more than
        ``max_size`` parameter combinations.
        """
        self._require_finite()
        seen: dict[str, ArchSpec] = {}
        for count, arch in enumerate(self._enumerate(), start=1):
            if count > max_size:
                raise SpaceError(
                    [
                        Problem(
                            Location(str(self.path)),
                            "",
                            f"more than {max_size} parameter combinations: too many to enumerate",
                        )
                    ]
                )
            if arch is not None and arch.arch_hash not in seen and not self.violations(arch):
                seen[arch.arch_hash] = arch
        return list(seen.values())

    def grid_search_space(self) -> dict[str, list[Any]]:
        """``{param name: values}`` of every searched parameter, for ``optuna.samplers.GridSampler``.

        The grid covers conditional parameters fully, so several grid points can give the
        same architecture; deduplicate by ``arch_hash``.
        """
        self._require_finite()
        return {p.name: p.grid_values() for p in self.searched}

    def sample(self, n: int, seed: int = 0) -> list[ArchSpec]:
        """``n`` feasible architectures drawn independently at random (repeats possible).

        Raises :class:`SpaceError` if too few of the draws are feasible, naming the most
        frequent reason.
        """
        rng = random.Random(seed)
        trial = _RandomTrial(self.params, rng)
        out: list[ArchSpec] = []
        reasons: Counter[str] = Counter()
        draws = 1000 + 100 * n
        for _ in range(draws):
            if len(out) == n:
                return out
            try:
                arch = self.suggest(trial)
            except InfeasibleArchitecture as exc:
                reasons[str(exc)] += 1
                continue
            failed = [c.text for c in self.constraints if not c.holds(arch)]
            if failed:
                reasons[failed[0]] += 1
            else:
                out.append(arch)
        if len(out) == n:
            return out
        reason, times = reasons.most_common(1)[0]
        raise SpaceError(
            [
                Problem(
                    Location(str(self.path)),
                    "",
                    f"only {len(out)} of {draws} random architectures are feasible, {n} were "
                    f"asked for; most often failed ({times} times): {reason}",
                )
            ]
        )

    def _require_finite(self) -> None:
        continuous = [p for p in self.searched if not p.is_finite]
        if continuous:
            raise SpaceError(
                Problem(
                    p.location or Location(str(self.path)),
                    p.name,
                    "the space is not finite: this is a continuous range (give it a step, or use choice)",
                )
                for p in continuous
            )

    def _enumerate(self) -> Iterator[ArchSpec | None]:
        """Run :meth:`suggest` once per combination of the parameters it actually asks for
        (depth first); None for combinations that make no valid architecture."""
        stack: list[dict[str, Any]] = [{}]
        while stack:
            assignment = stack.pop()
            try:
                yield self.suggest(_EnumerationTrial(self.params, assignment))
            except _Branch as branch:
                stack.extend({**assignment, branch.name: v} for v in reversed(branch.values))
            except InfeasibleArchitecture:
                yield None


class _Branch(Exception):
    """Raised by _EnumerationTrial at the first parameter it has no value for yet."""

    def __init__(self, name: str, values: list[Any]) -> None:
        super().__init__(name)
        self.name = name
        self.values = values


class _EnumerationTrial:
    """A stand-in trial that answers from a partial assignment and branches on the rest."""

    def __init__(self, params: Mapping[str, Param], assignment: Mapping[str, Any]) -> None:
        self._params = params
        self._assignment = assignment

    def _value(self, name: str, *_: Any, **__: Any) -> Any:
        if name in self._assignment:
            return self._assignment[name]
        raise _Branch(name, self._params[name].grid_values())

    suggest_categorical = suggest_int = suggest_float = _value


class _RandomTrial:
    """A stand-in trial that draws every value at random (uniform, or log-uniform)."""

    def __init__(self, params: Mapping[str, Param], rng: random.Random) -> None:
        self._params = params
        self._rng = rng

    def _value(self, name: str, *_: Any, **__: Any) -> Any:
        return self._params[name].sample(self._rng)

    suggest_categorical = suggest_int = suggest_float = _value


# -- loading ------------------------------------------------------------------------------


def load_space(
    path: str | Path,
    overrides: Mapping[str, Any] | YamlNode | None = None,
    default_vocab_size: int = 256,
) -> SearchSpace:
    """Read, merge (``extends``, then ``overrides``) and validate a search-space file.

    Every problem found raises at once as a :class:`SpaceError`, each as
    ``file:line:col: key: message``. ``overrides`` is merged onto the file like a file that
    extends it (plain data is reported as ``<overrides>``; a ``YamlNode`` keeps its marks).
    ``default_vocab_size`` is used where the file gives no ``vocab_size``.

    >>> space = load_space("search_spaces/quickstart.yaml", overrides={"d_model": 32})
    >>> space.params["d_model"].describe()
    '32'
    """
    path = Path(path)
    root = _read_with_extends(path, str(path), ())
    if overrides:
        root = _merge(root, from_python(overrides, "<overrides>"))
    return _Builder(root, path, default_vocab_size).build()


def _read_with_extends(path: Path, label: str, chain: tuple[tuple[Path, str], ...]) -> YamlNode:
    node = read_yaml(path, label)
    if node.kind != "map":
        raise SpaceError(
            [
                Problem(
                    node.location,
                    "",
                    "the top level must be a mapping of keys (layout:, d_model:, ...)",
                )
            ]
        )
    extends = node.value.get("extends")
    if extends is None:
        return node
    if extends.kind != "scalar" or extends.is_null:
        raise SpaceError(
            [Problem(extends.location, "extends", "expected a file name, relative to this file")]
        )
    base_path = path.parent / extends.value
    base_label = os.path.normpath(os.path.join(os.path.dirname(label), extends.value))
    chain = (*chain, (path.resolve(), label))
    if base_path.resolve() in [p for p, _ in chain]:
        cycle = " -> ".join([lbl for _, lbl in chain] + [base_label])
        raise SpaceError([Problem(extends.location, "extends", f"circular extends: {cycle}")])
    if not base_path.is_file():
        raise SpaceError([Problem(extends.location, "extends", f"no such file: {base_label}")])
    return _merge(_read_with_extends(base_path, base_label, chain), node)


def _merge(base: YamlNode, child: YamlNode) -> YamlNode:
    """``child`` onto ``base``: sections merge key by key, everything else replaces.

    ``name`` and ``extends`` are never inherited. A child layout in the other form (pattern
    versus n_layers/ratio) replaces the base's layout keys of the first form.
    """
    out = YamlNode("map", {}, child.location)
    for source in (base, child):
        for key, node in source.value.items():
            if key == "extends" or (key == "name" and source is base):
                continue
            old = out.value.get(key)
            if key in SECTIONS and old is not None and old.kind == "map" and node.kind == "map":
                node = _merge_section(key, old, node)
            out.value[key] = node
            out.key_locations[key] = source.key_locations[key]
    return out


def _merge_section(section: str, base: YamlNode, child: YamlNode) -> YamlNode:
    dropped: tuple[str, ...] = ()
    if section == "layout" and "pattern" in child.value:
        dropped = RATIO_FORM
    elif section == "layout" and any(k in child.value for k in RATIO_FORM):
        dropped = ("pattern",)
    out = YamlNode("map", {}, child.location)
    for source in (base, child):
        for key, node in source.value.items():
            if source is base and key in dropped:
                continue
            out.value[key] = node
            out.key_locations[key] = source.key_locations[key]
    return out


class _Builder:
    """Turns the merged YAML tree into a SearchSpace, collecting every problem on the way."""

    def __init__(self, root: YamlNode, path: Path, default_vocab_size: int) -> None:
        self.root = root
        self.path = path
        self.default_vocab_size = default_vocab_size
        self.problems: list[Problem] = []
        self.params: dict[str, Param] = {}

    def build(self) -> SearchSpace:
        allowed = (*META, *(s for s in SECTIONS if s), *SECTIONS[""])
        self._check_keys(self.root, "", allowed)
        name = self._text("name") or self.path.stem
        description = self._text("description") or ""
        self._layout()
        for section, keys in SECTIONS.items():
            if section == "layout":
                continue
            node = self._section(section)
            for key, spec in keys.items():
                self._param(section, key, spec, node)
        constraints = self._constraints()
        form = ("pattern",) if "pattern" in self._layout_keys() else RATIO_FORM
        layouts: list[str] = []
        if all(f"layout.{key}" in self.params for key in form):
            layouts = self._layouts()
            self._mark_usage(layouts)
            self._cross_checks()
        if self.problems:
            raise SpaceError(self.problems)
        return SearchSpace(
            name=name,
            path=self.path,
            description=description,
            params=self.params,
            constraints=tuple(constraints),
            layouts=tuple(layouts),
        )

    # -- reading --------------------------------------------------------------------------
    def _problem(self, location: Location | None, key: str, message: str) -> None:
        self.problems.append(Problem(location or self.root.location, key, message))

    def _check_keys(self, node: YamlNode, section: str, allowed: tuple[str, ...]) -> None:
        for key, location in node.key_locations.items():
            if key not in allowed:
                where = f"{section}.{key}" if section else key
                self._problem(location, where, f"unknown key{did_you_mean(key, allowed)}")

    def _text(self, key: str) -> str | None:
        node = self.root.value.get(key)
        if node is None or node.is_null:
            return None
        if node.kind != "scalar":
            self._problem(node.location, key, "expected text")
            return None
        return node.value

    def _section(self, section: str) -> YamlNode | None:
        if not section:
            return self.root
        node = self.root.value.get(section)
        if node is None or node.is_null:
            return None
        if node.kind != "map":
            self._problem(node.location, section, f"expected a mapping of {section} settings")
            return None
        self._check_keys(node, section, tuple(SECTIONS[section]))
        return node

    def _param(self, section: str, key: str, spec: Key, node: YamlNode | None) -> None:
        name = param_name(section, key)
        if node is not None and key in node.value:
            param = parse_param(name, spec, node.value[key], self.problems)
            if param is not None:
                self.params[name] = param
        elif spec.default is not REQUIRED:
            default = self.default_vocab_size if spec.default is DEFAULT_VOCAB else spec.default
            self.params[name] = fixed_param(name, spec, default)

    def _layout(self) -> None:
        node = self._section("layout")
        if node is None:
            given = self.root.value.get("layout")
            if given is None or given.is_null:
                self._problem(
                    None,
                    "layout",
                    "missing: give layout.n_layers and layout.ratio, or layout.pattern",
                )
            return
        if "pattern" in node.value:
            extra = [k for k in RATIO_FORM if k in node.value]
            if extra:
                self._problem(
                    node.key_locations[extra[0]],
                    f"layout.{extra[0]}",
                    "give either layout.pattern or n_layers/ratio/placement/mlp, not both",
                )
            self._param("layout", "pattern", SECTIONS["layout"]["pattern"], node)
            return
        missing = [k for k in ("n_layers", "ratio") if k not in node.value]
        if missing:
            self._problem(
                node.location,
                "layout",
                f"missing {' and '.join(missing)} (or give layout.pattern instead)",
            )
        for key in RATIO_FORM:
            self._param("layout", key, SECTIONS["layout"][key], node)

    def _layout_keys(self) -> dict[str, YamlNode]:
        node = self.root.value.get("layout")
        return node.value if node is not None and node.kind == "map" else {}

    def _constraints(self) -> list[Constraint]:
        node = self.root.value.get("constraints")
        if node is None or node.is_null:
            return []
        if node.kind != "seq":
            self._problem(
                node.location, "constraints", "expected a list of expressions, e.g. - params <= 2e6"
            )
            return []
        out = []
        for i, item in enumerate(node.value):
            key = f"constraints[{i}]"
            if item.kind != "scalar" or item.is_null:
                self._problem(item.location, key, "expected an expression such as 'params <= 2e6'")
                continue
            try:
                out.append(parse_constraint(item.value))
            except ConstraintError as exc:
                self._problem(item.text_location(exc.column), key, exc.message)
        return out

    # -- checks across keys ----------------------------------------------------------------
    def _layouts(self) -> list[str]:
        """Every distinct layout; a ratio that some n_layers cannot hold is a problem."""
        if "layout.pattern" in self.params:
            return list(
                dict.fromkeys(parse_layout(p) for p in self.params["layout.pattern"].values)
            )
        n_layers = self.params["layout.n_layers"]
        ratio = self.params["layout.ratio"]
        placements = self.params["layout.placement"].values
        mlps = self.params["layout.mlp"].values
        layouts: dict[str, None] = {}
        for r in ratio.values:
            n_ssm, n_attention = parse_ratio(r)
            failed: list[int] = []
            first_error = ""
            for n in n_layers.grid_values():
                try:
                    for placement, mlp in itertools.product(
                        placements if n_ssm and n_attention else ("interleave",), mlps
                    ):
                        layouts[layout_from_ratio(n, r, placement, mlp)] = None
                except LayoutError as exc:
                    failed.append(n)
                    first_error = first_error or exc.message
            if failed:
                blame_n = ratio.is_fixed and not n_layers.is_fixed
                also = (
                    f"; nor on n_layers = {', '.join(map(str, failed[1:]))}" if failed[1:] else ""
                )
                self._problem(
                    n_layers.value_location(failed[0]) if blame_n else ratio.value_location(r),
                    "layout.n_layers" if blame_n else "layout.ratio",
                    f"{first_error}{also}",
                )
        return list(layouts)

    def _mark_usage(self, layouts: list[str]) -> None:
        """Set each parameter's ``used`` and ``condition`` from what the layouts contain."""
        kinds = (
            set(self.params["ssm.kind"].values)
            if "ssm.kind" in self.params
            else {"mamba1", "mamba2"}
        )
        ropes = (
            set(self.params["attention.rope"].values) if "attention.rope" in self.params else {True}
        )
        hybrid = "layout.ratio" in self.params and any(
            all(parse_ratio(r)) for r in self.params["layout.ratio"].values
        )
        letters = {SSM: "ssm", ATTENTION: "attention", MLP: "mlp"}
        for name, param in self.params.items():
            section, _, key = name.rpartition(".")
            used, condition = True, []
            for letter, sec in letters.items():
                if section == sec:
                    used = any(letter in layout for layout in layouts)
                    if not all(letter in layout for layout in layouts):
                        condition.append(f"layout has {letter}")
            if section == "ssm" and key in ("headdim", "ngroups", "dt_rank"):
                kind = "mamba1" if key == "dt_rank" else "mamba2"
                used = used and kind in kinds
                if kinds != {kind}:
                    condition.append(f"ssm.kind = {kind}")
            if name == "attention.rope_theta":
                used = used and True in ropes
                if ropes != {True}:
                    condition.append("attention.rope = true")
            if name == "layout.placement":
                used = hybrid
                condition.append("ratio mixes M and A")
            self.params[name] = replace(param, used=used, condition=" and ".join(condition))

    def _cross_checks(self) -> None:
        """Settings that depend on each other: report those that no combination can satisfy."""
        p = self.params
        if "attention.n_heads" in p and p["attention.n_heads"].used:
            self._check(
                ("attention.n_heads", "d_model"),
                lambda h, d: (
                    None if d % h == 0 else f"attention.n_heads ({h}) must divide d_model ({d})"
                ),
            )
            self._check(
                ("attention.n_kv_heads", "attention.n_heads"),
                lambda kv, h: (
                    None
                    if kv is None or h % kv == 0
                    else f"attention.n_kv_heads ({kv}) must divide attention.n_heads ({h})"
                ),
            )
        if "ssm.headdim" in p and p["ssm.headdim"].used:
            self._check(
                ("ssm.headdim", "ssm.expand", "d_model"),
                lambda hd, e, d: (
                    None
                    if (e * d) % hd == 0
                    else f"ssm.headdim ({hd}) must divide d_inner = ssm.expand * d_model ({e * d})"
                ),
            )
            self._check(
                ("ssm.ngroups", "ssm.headdim", "ssm.expand", "d_model"),
                lambda g, hd, e, d: (
                    None
                    if (e * d) % hd or ((e * d) // hd) % g == 0
                    else f"ssm.ngroups ({g}) must divide the {(e * d) // hd} Mamba-2 heads"
                ),
            )
        if "ssm.dt_min" in p and p["ssm.dt_min"].used:
            self._check(
                ("ssm.dt_min", "ssm.dt_max"),
                lambda lo, hi: (
                    None if lo <= hi else f"ssm.dt_min ({lo:g}) exceeds ssm.dt_max ({hi:g})"
                ),
            )

    def _check(self, names: tuple[str, ...], check: Callable[..., str | None]) -> None:
        if any(n not in self.params for n in names):
            return  # a parameter with its own problem
        params = [self.params[n] for n in names]
        pools = [p.candidate_values() for p in params]
        if math.prod(len(pool) for pool in pools) > _MAX_CHECK_COMBINATIONS:
            return
        first = None
        for values in itertools.product(*pools):
            message = check(*values)
            if message is None:
                return
            first = first or message
        blamed = next((p for p in params if p.location is not None), params[0])
        prefix = (
            "" if all(p.is_fixed for p in params) else "no combination of the given values works: "
        )
        self._problem(blamed.location, blamed.name, f"{prefix}{first}")
