"""The study file's keys and their checks: YAML nodes in, a :class:`StudyConfig` out.

Every problem in a file is collected and raised at once as a :class:`StudyError`, each
``file:line:col: key: message``, through the same YAML reader (with marks) as search spaces.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from kernels import BACKENDS
from nas.arch import LayoutError, parse_layout
from nas.errors import UserError, did_you_mean
from nas.examples import shipped_space, shipped_spaces
from nas.space import (
    Constraint,
    ConstraintError,
    InfeasibleArchitecture,
    Location,
    Param,
    Problem,
    SearchSpace,
    SpaceError,
    YamlNode,
    load_space,
    parse_constraint,
)
from nas.study._config import (
    OBJECTIVES,
    SAMPLERS,
    Baseline,
    Execution,
    Fidelity,
    Objective,
    StudyConfig,
    StudyError,
    parse_duration,
)

_TOP_KEYS = (
    "name", "description", "space", "tasks", "budget", "objectives", "constraints", "compute",
    "sampler", "n_trials", "timeout", "baselines", "seeds", "execution", "storage", "cache",
)  # fmt: skip
_EXECUTION_KEYS = (
    "workers", "cpus_per_trial", "gpus_per_trial", "ray_address", "device", "backend",
    "max_retries", "heartbeat_interval", "evaluator",
)  # fmt: skip


def read_study(root: YamlNode, path: Path) -> StudyConfig:
    """The study file read from ``root`` (its YAML, with marks) at ``path``."""
    return _Reader(root, path).build()


class _Reader:
    """Turns the YAML tree into a StudyConfig, collecting every problem on the way."""

    def __init__(self, root: YamlNode, path: Path) -> None:
        self.root = root
        self.path = path
        self.problems: list[Problem] = []

    def problem(self, node: YamlNode | Location | None, key: str, message: str) -> None:
        location = node.location if isinstance(node, YamlNode) else node
        self.problems.append(Problem(location or self.root.location, key, message))

    # -- scalars --------------------------------------------------------------------------
    def value(
        self,
        node: YamlNode,
        key: str,
        kind: type | tuple[type, ...],
        check: Callable[[Any], str | None] | None = None,
    ) -> Any:
        """The Python value of a scalar node of type ``kind`` (None and a problem if not)."""
        if node.kind != "scalar":
            self.problem(node, key, f"expected {_kind_name(kind)}, got a {_node_kind(node)}")
            return None
        value = _scalar(node)
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            self.problem(node, key, f"expected {_kind_name(kind)}, got {node.value!r}")
            return None
        message = check(value) if check else None
        if message:
            self.problem(node, key, message)
            return None
        return value

    def mapping(self, node: YamlNode, key: str, allowed: tuple[str, ...]) -> dict[str, YamlNode]:
        if node.kind != "map":
            self.problem(node, key, f"expected a mapping of {', '.join(allowed)}")
            return {}
        for name, location in node.key_locations.items():
            if name not in allowed:
                where = f"{key}.{name}" if key else name
                self.problem(location, where, f"unknown key{did_you_mean(name, allowed)}")
        return node.value

    # -- the file -------------------------------------------------------------------------
    def build(self) -> StudyConfig:
        if self.root.kind != "map":
            raise StudyError([Problem(self.root.location, "", "a study file is a mapping of keys")])
        top = self.mapping(self.root, "", _TOP_KEYS)
        for required in ("space", "tasks", "budget", "objectives"):
            if required not in top:
                self.problem(self.root, required, "missing: every study needs it")
        name = self.text(top, "name") or self.path.stem
        description = self.text(top, "description") or ""
        tasks, task_objects = self.tasks(top.get("tasks"))
        vocab = max((t.vocab_size for t in task_objects), default=256)
        space = self.space(top.get("space"), vocab)
        budget, fidelity = self.budget(top.get("budget"))
        objectives = self.objectives(top.get("objectives"))
        constraints = self.constraints(top.get("constraints"))
        seq_len, context = self.compute(top.get("compute"), task_objects)
        sampler, seed, options = self.sampler(top.get("sampler"), space)
        n_trials = self.optional(top, "n_trials", int, _at_least(1))
        timeout = self.timeout(top.get("timeout"))
        if n_trials is None and timeout is None and sampler not in ("grid", None):
            self.problem(self.root, "n_trials", "give n_trials or timeout (or both): when to stop")
        if fidelity.enabled and objectives and "capability" not in [o.name for o in objectives]:
            self.problem(
                top.get("budget"),
                "budget.fidelity",
                "multi-fidelity ranks trials by capability at each level: add the capability objective",
            )
        seeds = self.seeds(top.get("seeds"))
        execution = self.execution(top.get("execution"))
        storage = self.storage(top.get("storage"), name)
        cache = self.optional(top, "cache", bool)
        baselines = self.baselines(top.get("baselines"), space, constraints)
        if self.problems:
            raise StudyError(self.problems)
        assert space is not None and budget is not None
        summary = {
            "name": name,
            "space": {
                "path": str(space.path),
                "params": {p.name: p.describe() for p in space.params.values()},
                "constraints": [c.text for c in space.constraints],
            },
            "tasks": tasks,
            "budget": budget.to_dict(),
            "fidelity": {"levels": list(fidelity.levels), "eta": fidelity.eta},
            "objectives": {o.name: o.direction for o in objectives},
            "constraints": [c.text for c in constraints],
            "seeds": list(seeds),
            "compute": {"seq_len": seq_len, "context": context},
            "sampler": {"name": sampler, "seed": seed, **options},
        }
        return StudyConfig(
            name=name,
            description=description,
            path=self.path,
            space=space,
            tasks=tasks,
            budget=budget,
            fidelity=fidelity,
            objectives=tuple(objectives),
            constraints=tuple(constraints),
            seq_len=seq_len,
            context=context,
            sampler=sampler,
            sampler_seed=seed,
            sampler_options=options,
            n_trials=n_trials,
            timeout=timeout,
            baselines=tuple(baselines),
            seeds=seeds,
            execution=execution,
            storage=storage,
            cache=True if cache is None else cache,
            summary=summary,
        )

    def text(self, top: dict[str, YamlNode], key: str) -> str | None:
        node = top.get(key)
        return None if node is None or node.is_null else self.value(node, key, str)

    def optional(
        self, top: dict[str, YamlNode], key: str, kind: type, check: Callable | None = None
    ) -> Any:
        node = top.get(key)
        return None if node is None or node.is_null else self.value(node, key, kind, check)

    # -- space ----------------------------------------------------------------------------
    def space(self, node: YamlNode | None, vocab: int) -> SearchSpace | None:
        if node is None:
            return None
        overrides: YamlNode | None = None
        if node.kind == "map":
            keys = self.mapping(node, "space", ("path", "overrides"))
            if "path" not in keys:
                self.problem(node, "space.path", "missing: the search-space file")
                return None
            path_node = keys["path"]
            overrides = keys.get("overrides")
            if overrides is not None and overrides.kind != "map":
                self.problem(overrides, "space.overrides", "expected a mapping of space keys")
                return None
        else:
            path_node = node
        relative = self.value(path_node, "space", str)
        if relative is None:
            return None
        space_path = self.path.parent / relative
        if not space_path.is_file() and "/" not in relative:  # a shipped space, by name
            space_path = shipped_space(relative) or space_path
        if not space_path.is_file():
            names = ", ".join(shipped_spaces())
            self.problem(path_node, "space", f"no such file: {space_path} (relative to this "
                         f"file), nor a shipped space of that name ({names})")  # fmt: skip
            return None
        try:
            return load_space(space_path, overrides=overrides, default_vocab_size=vocab)
        except SpaceError as error:
            self.problems.extend(error.problems)
            return None

    # -- tasks ----------------------------------------------------------------------------
    def tasks(self, node: YamlNode | None) -> tuple[dict[str, float], list[Any]]:
        from nas.tasks import get_task

        if node is None:
            return {}, []
        entries: list[tuple[YamlNode, YamlNode | None]] = []  # (spec node, weight node)
        if node.kind == "seq":
            for item in node.value:
                if item.kind == "map":
                    keys = self.mapping(item, "tasks[]", ("task", "weight"))
                    if "task" not in keys:
                        self.problem(item, "tasks[].task", "missing: the task spec")
                        continue
                    entries.append((keys["task"], keys.get("weight")))
                else:
                    entries.append((item, None))
        elif node.kind == "map":
            entries = [
                (YamlNode("scalar", key, node.key_locations[key], tag="tag:yaml.org,2002:str"), w)
                for key, w in node.value.items()
            ]
        else:
            self.problem(node, "tasks", "expected a list of task specs, or a mapping spec: weight")
            return {}, []
        tasks: dict[str, float] = {}
        objects = []
        for spec_node, weight_node in entries:
            spec = self.value(spec_node, "tasks", str)
            weight = 1.0
            if weight_node is not None:
                weight = self.value(weight_node, f"tasks.{spec}", float, _non_negative)
            if spec is None or weight is None:
                continue
            try:
                task = get_task(spec)
            except UserError as error:
                self.problem(spec_node, "tasks", str(error))
                continue
            if task.spec in tasks:
                self.problem(spec_node, "tasks", f"{task.spec} is listed twice")
                continue
            tasks[task.spec] = weight
            objects.append(task)
        if not tasks and not self.problems:
            self.problem(node, "tasks", "give at least one task")
        elif tasks and sum(tasks.values()) <= 0:
            self.problem(node, "tasks", "task weights must add up to more than 0")
        return tasks, objects

    # -- budget ---------------------------------------------------------------------------
    def budget(self, node: YamlNode | None) -> tuple[Any, Fidelity]:
        from dataclasses import fields

        from nas.proxy import Budget

        fidelity = Fidelity()
        if node is None:
            return None, fidelity
        known = tuple(f.name for f in fields(Budget))
        keys = self.mapping(node, "budget", (*known, "fidelity"))
        if "fidelity" in keys:
            fidelity = self.fidelity(keys["fidelity"]) or fidelity
        values = {}
        for key, value_node in keys.items():
            if key != "fidelity" and key in known:
                values[key] = (
                    _scalar(value_node) if value_node.kind == "scalar" else value_node.to_python()
                )
        try:
            budget = Budget.from_dict(values)
        except (UserError, TypeError, ValueError) as error:
            self.problem(node, "budget", str(error))
            return None, fidelity
        if fidelity.enabled:
            fractions = sorted(set(budget.eval_fractions) | set(fidelity.levels))
            budget = replace(budget, eval_fractions=tuple(fractions))
        return budget, fidelity

    def fidelity(self, node: YamlNode) -> Fidelity | None:
        keys = self.mapping(node, "budget.fidelity", ("levels", "eta"))
        levels_node, eta_node = keys.get("levels"), keys.get("eta")
        eta = 3.0
        if eta_node is not None:
            eta = self.value(eta_node, "budget.fidelity.eta", float, _greater_than(1))
        if levels_node is None or levels_node.kind != "seq" or not levels_node.value:
            self.problem(
                levels_node or node,
                "budget.fidelity.levels",
                "expected a list of budget fractions, e.g. [0.11, 0.33, 1.0]",
            )
            return None
        levels = [
            self.value(item, "budget.fidelity.levels", float, _fraction)
            for item in levels_node.value
        ]
        if None in levels or eta is None:
            return None
        if levels != sorted(set(levels)):
            self.problem(levels_node, "budget.fidelity.levels", "levels must increase strictly")
            return None
        if levels[-1] != 1.0:
            levels.append(1.0)
        return Fidelity(tuple(levels), eta)

    # -- objectives and constraints -------------------------------------------------------
    def objectives(self, node: YamlNode | None) -> list[Objective]:
        if node is None:
            return []
        items: list[tuple[str, Location, YamlNode | None]] = []
        if node.kind == "map":
            items = [(k, node.key_locations[k], v) for k, v in node.value.items()]
        elif node.kind == "seq":
            for item in node.value:
                if item.kind == "map" and len(item.value) == 1:
                    ((key, value),) = item.value.items()
                    items.append((key, item.key_locations[key], value))
                elif item.kind == "scalar":
                    items.append((str(item.value), item.location, None))
                else:
                    self.problem(item, "objectives", "expected a name, or name: direction")
        else:
            self.problem(
                node, "objectives", "expected a mapping name: maximize|minimize, or a list"
            )
            return []
        out: list[Objective] = []
        for name, location, direction_node in items:
            if name not in OBJECTIVES:
                self.problem(
                    location,
                    f"objectives.{name}",
                    f"unknown objective{did_you_mean(name, OBJECTIVES)}; objectives: "
                    + ", ".join(OBJECTIVES),
                )
                continue
            direction = OBJECTIVES[name][1]
            if direction_node is not None:
                direction = self.value(direction_node, f"objectives.{name}", str, _direction)
            if direction is None:
                continue
            if name in [o.name for o in out]:
                self.problem(location, f"objectives.{name}", "given twice")
                continue
            out.append(Objective(name, direction))
        if node is not None and not out and not self.problems:
            self.problem(node, "objectives", "give at least one objective")
        return out

    def constraints(self, node: YamlNode | None) -> list[Constraint]:
        if node is None or node.is_null:
            return []
        if node.kind != "seq":
            self.problem(node, "constraints", "expected a list of expressions, e.g. - params <= 2M")
            return []
        out = []
        for i, item in enumerate(node.value):
            text = self.value(item, f"constraints[{i}]", str)
            if text is None:
                continue
            try:
                out.append(parse_constraint(text))
            except ConstraintError as error:
                self.problem(item.text_location(error.column), f"constraints[{i}]", error.message)
        return out

    def compute(self, node: YamlNode | None, tasks: list[Any]) -> tuple[int, int]:
        seq_len = max((t.seq_len for t in tasks), default=1024)
        context = 8192
        if node is None:
            return seq_len, context
        keys = self.mapping(node, "compute", ("seq_len", "context"))
        if "seq_len" in keys:
            seq_len = self.value(keys["seq_len"], "compute.seq_len", int, _at_least(1)) or seq_len
        if "context" in keys:
            context = self.value(keys["context"], "compute.context", int, _at_least(1)) or context
        return seq_len, context

    # -- sampler and stopping -------------------------------------------------------------
    def sampler(
        self, node: YamlNode | None, space: SearchSpace | None
    ) -> tuple[str | None, int, dict[str, Any]]:
        """(name, seed, options); the name is None when it is not valid."""
        name, seed, options = "tpe", 0, {}
        if node is None:
            return name, seed, options
        name_node = node
        if node.kind == "map":
            if "name" not in node.value:
                self.problem(node, "sampler.name", f"missing: one of {', '.join(SAMPLERS)}")
                return None, seed, options
            name_node = node.value["name"]
            for key, value_node in node.value.items():
                if key == "seed":
                    seed = self.value(value_node, "sampler.seed", int, _at_least(0))
                elif key != "name":
                    options[key] = value_node.to_python()
        given = self.value(name_node, "sampler.name", str)
        if given is None:
            return None, 0, options
        if given not in SAMPLERS:
            self.problem(
                name_node,
                "sampler.name",
                f"unknown sampler {given!r}{did_you_mean(given, SAMPLERS)}; samplers: "
                + ", ".join(SAMPLERS),
            )
            return None, 0, options
        if given == "grid" and space is not None and not space.is_finite:
            self.problem(
                name_node,
                "sampler.name",
                "grid needs a finite space, and this one has a continuous range: use tpe or random",
            )
        self.check_sampler_options(node, given, options)
        return given, seed if seed is not None else 0, options

    def check_sampler_options(self, node: YamlNode, name: str, options: dict[str, Any]) -> None:
        import inspect

        from nas.study._storage import sampler_class

        accepted = set(inspect.signature(sampler_class(name)).parameters) - {
            "seed",
            "search_space",
            "constraints_func",
        }
        for key in options:
            if key not in accepted:
                self.problem(
                    node.key_locations.get(key, node.location),
                    f"sampler.{key}",
                    f"{name} takes no option {key!r}{did_you_mean(key, accepted)}"
                    + (f"; its options: {', '.join(sorted(accepted))}" if accepted else ""),
                )

    def timeout(self, node: YamlNode | None) -> float | None:
        if node is None or node.is_null:
            return None
        raw = node.to_python() if node.kind == "scalar" else None
        try:
            return parse_duration(raw)  # type: ignore[arg-type]
        except ValueError as error:
            self.problem(node, "timeout", str(error))
            return None

    def seeds(self, node: YamlNode | None) -> tuple[int, ...]:
        if node is None:
            return (0,)
        if node.kind == "scalar":
            count = self.value(node, "seeds", int, _at_least(1))
            return tuple(range(count)) if count else (0,)
        if node.kind != "seq" or not node.value:
            self.problem(node, "seeds", "expected a count, or a list of seeds such as [0, 1, 2]")
            return (0,)
        seeds = [self.value(item, "seeds", int, _at_least(0)) for item in node.value]
        if len(set(seeds)) != len(seeds):
            self.problem(node, "seeds", "seeds must be distinct")
        return tuple(s for s in seeds if s is not None) or (0,)

    # -- execution and storage ------------------------------------------------------------
    def execution(self, node: YamlNode | None) -> Execution:
        if node is None:
            return Execution()
        keys = self.mapping(node, "execution", _EXECUTION_KEYS)
        checks: dict[str, tuple[Any, Callable | None]] = {
            "workers": (int, _at_least(1)),
            "cpus_per_trial": (float, _greater_than(0)),
            "gpus_per_trial": (float, _non_negative),
            "ray_address": (str, None),
            "device": (str, None),
            "backend": (str, _one_of(BACKENDS)),
            "max_retries": (int, _at_least(0)),
            "heartbeat_interval": (int, _at_least(1)),
            "evaluator": (str, _import_path),
        }
        values = {}
        for key, value_node in keys.items():
            if key in checks and not value_node.is_null:
                kind, check = checks[key]
                value = self.value(value_node, f"execution.{key}", kind, check)
                if value is not None:
                    values[key] = value
        return Execution(**values)

    def storage(self, node: YamlNode | None, name: str) -> str:
        from nas.study._storage import check_url

        if node is None or node.is_null:
            return f"sqlite:///{name}.db"
        url = self.value(node, "storage", str)
        if url is None:
            return ""
        try:
            check_url(url)
        except UserError as error:
            self.problem(node, "storage", str(error))
        return url

    # -- baselines ------------------------------------------------------------------------
    def baselines(
        self, node: YamlNode | None, space: SearchSpace | None, constraints: list[Constraint]
    ) -> list[Baseline]:
        if node is None or node.is_null or space is None:
            return []
        if node.kind != "seq":
            self.problem(node, "baselines", "expected a list of layouts, or of mappings of params")
            return []
        searched = {p.name: p for p in space.searched}
        out = []
        for i, item in enumerate(node.value):
            key = f"baselines[{i}]"
            given: dict[str, Any] = {}
            layout_node: YamlNode | None = None
            if item.kind == "map":
                for name, value_node in item.value.items():
                    if name == "layout":
                        layout_node = value_node
                    elif name in searched:
                        given[name] = value_node.to_python()
                        if (why := _outside(searched[name], given[name])) is not None:
                            self.problem(value_node, f"{key}.{name}", why)
                    else:
                        choices = ["layout", *searched]
                        self.problem(
                            item.key_locations[name],
                            f"{key}.{name}",
                            f"not a searched parameter of the space{did_you_mean(name, choices)}"
                            f"; searched: {', '.join(searched) or 'none'}",
                        )
            else:
                layout_node = item
            baseline = self.baseline(item, layout_node, key, given, space, constraints)
            if baseline is not None:
                out.append(baseline)
        return out

    def baseline(
        self,
        item: YamlNode,
        layout_node: YamlNode | None,
        key: str,
        given: dict[str, Any],
        space: SearchSpace,
        constraints: list[Constraint],
    ) -> Baseline | None:
        layout = None
        if layout_node is not None:
            text = self.value(layout_node, f"{key}.layout", str)
            if text is None:
                return None
            try:
                layout = parse_layout(text)
            except LayoutError as error:
                where = layout_node.text_location(error.column or 0)
                self.problem(where, f"{key}.layout", error.message)
                return None
        label = layout or ", ".join(f"{k}={v}" for k, v in given.items())
        params = _resolve_baseline(space, layout, given)
        if params is None:
            shown = ", ".join(space.layouts[:8]) + (" ..." if len(space.layouts) > 8 else "")
            self.problem(
                layout_node or item,
                key,
                f"the space has no architecture with layout {layout} and these settings"
                f" (its layouts: {shown})",
            )
            return None
        arch = space.suggest(_AssignedTrial(params))
        unmet = space.violations(arch) + [v for c in constraints if (v := c.violation(arch))]
        if unmet:
            self.problem(layout_node or item, key, f"violates a constraint: {unmet[0]}")
            return None
        return Baseline(label=label, params=params)


def _resolve_baseline(
    space: SearchSpace, layout: str | None, given: Mapping[str, Any]
) -> dict[str, Any] | None:
    """Values of every searched parameter for a baseline: ``given`` ones, the layout
    parameters that produce ``layout``, and the middle value of the others."""
    searched = space.searched
    defaults = {p.name: _middle(p) for p in searched}
    free_layout = [
        p for p in searched if p.name.startswith("layout.") and p.name not in given and layout
    ]
    for combo in itertools.product(*(p.grid_values() for p in free_layout)):
        params = {
            **defaults,
            **given,
            **{p.name: v for p, v in zip(free_layout, combo, strict=True)},
        }
        try:
            arch = space.suggest(_AssignedTrial(params))
        except InfeasibleArchitecture:
            continue
        if layout is None or arch.layout == layout:
            return params
    return None


def _middle(param: Param) -> Any:
    """The middle grid value of a finite parameter, else the middle of a continuous range."""
    if param.is_finite:
        values = param.grid_values()
        return values[(len(values) - 1) // 2]
    assert param.low is not None and param.high is not None
    if param.log:
        return math.sqrt(param.low * param.high)
    return (param.low + param.high) / 2


def _outside(param: Param, value: Any) -> str | None:
    if param.is_finite and value not in param.grid_values():
        shown = ", ".join(map(str, param.grid_values()[:12]))
        return f"{value!r} is not one of the space's values: {shown}"
    if not param.is_finite and not (
        isinstance(value, (int, float)) and param.low <= value <= param.high  # type: ignore[operator]
    ):
        return f"{value!r} is outside the space's range {param.low}..{param.high}"
    return None


def _scalar(node: YamlNode) -> Any:
    """A scalar's value; numbers YAML 1.1 reads as text (``3e16``, ``1e-3``) become floats."""
    value = node.to_python()
    if isinstance(value, str) and node.tag.endswith(":str") and not node.quoted:
        try:
            return float(value)
        except ValueError:
            return value
    return value


class _AssignedTrial:
    """A stand-in Optuna trial answering every suggestion from a fixed assignment."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self._params = params

    def _value(self, name: str, *_: Any, **__: Any) -> Any:
        return self._params[name]

    suggest_categorical = suggest_int = suggest_float = _value


# -- small checks: each returns None or the problem -------------------------------------------


def _at_least(low: int) -> Callable[[Any], str | None]:
    return lambda v: None if v >= low else f"must be at least {low}, got {v}"


def _greater_than(low: float) -> Callable[[Any], str | None]:
    return lambda v: None if v > low else f"must be greater than {low}, got {v}"


def _non_negative(value: float) -> str | None:
    return None if value >= 0 else f"must be >= 0, got {value}"


def _fraction(value: float) -> str | None:
    return None if 0 < value <= 1 else f"a level is a budget fraction in (0, 1], got {value}"


def _direction(value: str) -> str | None:
    return None if value in ("maximize", "minimize") else f"'maximize' or 'minimize', not {value!r}"


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str | None]:
    return lambda v: None if v in options else f"one of {', '.join(options)}, not {v!r}"


def _import_path(value: str) -> str | None:
    module, sep, name = value.partition(":")
    if not sep or not module or not name.isidentifier():
        return f"expected module:function, e.g. nas.proxy:evaluate, got {value!r}"
    return None


def _kind_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    names = {int: "an integer", float: "a number", str: "text", bool: "true or false"}
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _node_kind(node: YamlNode) -> str:
    return {"map": "mapping", "seq": "list"}.get(node.kind, "value")
