"""Code-hygiene checks over the source of `signalflow/` and `signalflow_gym/`.

Every `.py` file under the two packages is parsed with `ast` (never imported) and
checked against seven rules, one test each:

1. no `exec(...)` / `eval(...)` calls (bare builtins, `builtins.` or `__builtins__.`);
2. no assignment to `__class__` (plain, augmented, annotated, `setattr`/`__setattr__`);
3. no `object.__new__`, called or not;
4. no private attribute access (`x._name`, not a dunder) unless `x` is the plain
   name `self` or `cls`, or the call `super()`;
5. no import of a private name or through a private module path component
   (`from a.b import _x`, `import a._b`, `from a import _b`); `__future__` is exempt;
6. no import cycles between the packages' modules (rule in `test_no_import_cycles`);
7. nothing under `signalflow/` imports gymnasium, gym, torch, stable_baselines3,
   sb3_contrib or signalflow_gym, at any nesting level.

A failing test lists every offender as `file:line: what`. Each checker also has a
self-test on small source strings, so each rule is shown able to fail and able to pass.
"""

from __future__ import annotations

import ast
import functools
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
CHECKED_PACKAGES: tuple[str, ...] = ("signalflow", "signalflow_gym")
FORBIDDEN_IN_SIGNALFLOW: frozenset[str] = frozenset(
    {"gymnasium", "gym", "torch", "stable_baselines3", "sb3_contrib", "signalflow_gym"}
)
ALLOWED_PRIVATE_RECEIVERS: frozenset[str] = frozenset({"self", "cls"})


# --------------------------------------------------------------------------- model


@dataclass(frozen=True, order=True)
class Violation:
    """One offence: where it is and what it is."""

    path: str
    line: int
    what: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.what}"


@dataclass(frozen=True)
class SourceModule:
    """A parsed source file and the dotted module name it is imported as."""

    name: str
    path: str
    is_package: bool
    tree: ast.Module

    @classmethod
    def from_source(cls, name: str, source: str, *, is_package: bool = False, path: str | None = None) -> "SourceModule":
        """Build a module from a source string (used by the self-tests)."""
        shown = path if path is not None else name.replace(".", "/") + ("/__init__.py" if is_package else ".py")
        return cls(name=name, path=shown, is_package=is_package, tree=ast.parse(source, filename=shown))


def module_name_for(relative_path: Path) -> tuple[str, bool]:
    """Dotted module name of a repo-relative `.py` path, and whether it is a package `__init__`."""
    parts = list(relative_path.with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    if is_package:
        parts = parts[:-1]
    return ".".join(parts), is_package


@functools.lru_cache(maxsize=1)
def repo_modules() -> tuple[SourceModule, ...]:
    """Every `.py` file under the checked packages, parsed, sorted by path."""
    modules: list[SourceModule] = []
    for package in CHECKED_PACKAGES:
        for file in sorted((REPO_ROOT / package).rglob("*.py")):
            relative = file.relative_to(REPO_ROOT)
            name, is_package = module_name_for(relative)
            shown = relative.as_posix()
            tree = ast.parse(file.read_text(encoding="utf-8"), filename=shown)
            modules.append(SourceModule(name=name, path=shown, is_package=is_package, tree=tree))
    return tuple(modules)


def report(violations: Iterable[Violation]) -> str:
    """One `file:line: what` per line, sorted."""
    return "\n".join(str(v) for v in sorted(set(violations)))


def assert_clean(violations: Sequence[Violation], rule: str) -> None:
    """Fail with the full offender list when there is any violation."""
    assert not violations, f"{len(set(violations))} {rule} violation(s):\n{report(violations)}"


# ------------------------------------------------------------------- name helpers


def is_dunder(name: str) -> bool:
    """`__x__` style (length > 4, two underscores each side)."""
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def is_private(name: str) -> bool:
    """Starts with `_` and is not a dunder: `_x`, `_x_`, `_value_`, `__mangled` are private."""
    return name.startswith("_") and not is_dunder(name)


def dotted_name(node: ast.AST) -> str | None:
    """`a.b.c` for a Name/Attribute chain, else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def short_source(node: ast.AST, limit: int = 60) -> str:
    """Unparsed source of a node, cut to `limit` characters."""
    text = ast.unparse(node)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def string_constant(node: ast.AST | None) -> str | None:
    """The value of a string literal node, else None."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


# ----------------------------------------------------------------------- checkers

BUILTIN_MODULE_NAMES: frozenset[str] = frozenset({"builtins", "__builtins__"})
EXEC_EVAL: frozenset[str] = frozenset({"exec", "eval"})


def find_exec_or_eval(module: SourceModule) -> list[Violation]:
    """Calls to `exec`/`eval`, bare or through `builtins`/`__builtins__`."""
    found: list[Violation] = []
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id in EXEC_EVAL:
            found.append(Violation(module.path, node.lineno, f"call to {func.id}()"))
        elif (
            isinstance(func, ast.Attribute)
            and func.attr in EXEC_EVAL
            and isinstance(func.value, ast.Name)
            and func.value.id in BUILTIN_MODULE_NAMES
        ):
            found.append(Violation(module.path, node.lineno, f"call to {func.value.id}.{func.attr}()"))
    return found


def assignment_targets(target: ast.AST) -> Iterator[ast.AST]:
    """A target and, for tuple/list/starred targets, every nested target."""
    yield target
    if isinstance(target, (ast.Tuple, ast.List)):
        for element in target.elts:
            yield from assignment_targets(element)
    elif isinstance(target, ast.Starred):
        yield from assignment_targets(target.value)


def sets_class_via_setattr(call: ast.Call) -> bool:
    """`setattr(x, "__class__", v)`, `object.__setattr__(x, "__class__", v)` or `x.__setattr__("__class__", v)`."""
    func = call.func
    if isinstance(func, ast.Name) and func.id == "setattr":
        return len(call.args) >= 2 and string_constant(call.args[1]) == "__class__"
    if isinstance(func, ast.Attribute) and func.attr == "__setattr__":
        return any(string_constant(arg) == "__class__" for arg in call.args[:2])
    return False


def find_class_assignment(module: SourceModule) -> list[Violation]:
    """`x.__class__ = ...` (also augmented, annotated, tuple, for/with targets) and setattr forms."""
    found: list[Violation] = []
    for node in ast.walk(module.tree):
        targets: list[ast.AST] = []
        if isinstance(node, ast.Assign):
            targets = list(node.targets)
        elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
            targets = [node.target]
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            targets = [node.target]
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
        elif isinstance(node, ast.Call) and sets_class_via_setattr(node):
            found.append(Violation(module.path, node.lineno, f"sets __class__ via {short_source(node.func)}()"))
            continue
        for target in targets:
            for sub in assignment_targets(target):
                if isinstance(sub, ast.Attribute) and sub.attr == "__class__":
                    found.append(Violation(module.path, sub.lineno, f"assignment to {short_source(sub)}"))
    return found


def find_object_new(module: SourceModule) -> list[Violation]:
    """Any `object.__new__` attribute (also `builtins.object.__new__`), called or not."""
    found: list[Violation] = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and node.attr == "__new__":
            owner = dotted_name(node.value)
            if owner in {"object", "builtins.object", "__builtins__.object"}:
                found.append(Violation(module.path, node.lineno, f"use of {owner}.__new__"))
    return found


def is_allowed_private_receiver(value: ast.AST) -> bool:
    """`self`, `cls` (plain names) or a bare `super()` call."""
    if isinstance(value, ast.Name):
        return value.id in ALLOWED_PRIVATE_RECEIVERS
    return (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "super"
        and not value.args
        and not value.keywords
    )


def find_private_attribute_access(module: SourceModule) -> list[Violation]:
    """`x._name` (not a dunder) where `x` is not plain `self`/`cls` nor `super()`."""
    found: list[Violation] = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Attribute) and is_private(node.attr) and not is_allowed_private_receiver(node.value):
            found.append(Violation(module.path, node.lineno, f"private attribute access {short_source(node)}"))
    return found


def resolve_import_from(module: SourceModule, node: ast.ImportFrom) -> str:
    """Absolute dotted module of a `from ... import` (relative levels resolved; may be '')."""
    if node.level == 0:
        return node.module or ""
    parts = module.name.split(".")
    if not module.is_package:
        parts = parts[:-1]
    if node.level > 1:
        parts = parts[: len(parts) - (node.level - 1)]
    if node.module:
        parts = parts + node.module.split(".")
    return ".".join(parts)


def find_private_imports(module: SourceModule) -> list[Violation]:
    """Imports of private names or through private module path components (`__future__` exempt)."""
    found: list[Violation] = []
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if any(is_private(part) for part in alias.name.split(".")):
                    found.append(Violation(module.path, node.lineno, f"imports private module {alias.name}"))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module == "__future__":
                continue
            source = "." * node.level + (node.module or "")
            if node.module and any(is_private(part) for part in node.module.split(".")):
                found.append(Violation(module.path, node.lineno, f"imports from private module {source}"))
            for alias in node.names:
                if is_private(alias.name):
                    found.append(Violation(module.path, node.lineno, f"imports private name {alias.name} from {source}"))
    return found


def imported_module_names(module: SourceModule, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Absolute module names an import statement names (for `from`, the source module only)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return [resolve_import_from(module, node)]


def dynamic_import_target(node: ast.Call) -> str | None:
    """The literal module of `import_module("m")`, `importlib.import_module("m")` or `__import__("m")`."""
    name = dotted_name(node.func)
    if name in {"import_module", "importlib.import_module", "__import__"} and node.args:
        return string_constant(node.args[0])
    return None


def find_forbidden_imports(module: SourceModule, forbidden: frozenset[str] = FORBIDDEN_IN_SIGNALFLOW) -> list[Violation]:
    """Imports (any nesting level, including literal dynamic imports) of a forbidden top-level package."""
    found: list[Violation] = []
    for node in ast.walk(module.tree):
        names: list[str] = []
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = imported_module_names(module, node)
        elif isinstance(node, ast.Call):
            target = dynamic_import_target(node)
            names = [target] if target else []
        for name in names:
            if name.split(".")[0] in forbidden:
                found.append(Violation(module.path, node.lineno, f"imports {name} (signalflow must not depend on it)"))
    return found


# ------------------------------------------------------------------ import graph


def is_type_checking_test(test: ast.AST) -> bool:
    """`TYPE_CHECKING` or `<anything>.TYPE_CHECKING` (e.g. `typing.TYPE_CHECKING`)."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_time_imports(
    statements: Iterable[ast.stmt], *, include_deferred: bool = False
) -> Iterator[ast.Import | ast.ImportFrom]:
    """Imports that run when the module is imported.

    Walks module-level statements and the blocks they contain (if/else, try, with,
    for/while, match, class bodies), but not function bodies (deferred) unless
    `include_deferred`, and never the body of `if TYPE_CHECKING:` (not run; its
    `else:` is walked).
    """
    for statement in statements:
        if isinstance(statement, (ast.Import, ast.ImportFrom)):
            yield statement
        elif isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if include_deferred:
                yield from import_time_imports(statement.body, include_deferred=True)
        elif isinstance(statement, ast.If) and is_type_checking_test(statement.test):
            yield from import_time_imports(statement.orelse, include_deferred=include_deferred)
        else:
            blocks: list[list[ast.stmt]] = []
            for field in ("body", "orelse", "finalbody"):
                block = getattr(statement, field, None)
                if isinstance(block, list):
                    blocks.append([s for s in block if isinstance(s, ast.stmt)])
            blocks.extend(handler.body for handler in getattr(statement, "handlers", []) or [])
            blocks.extend(case.body for case in getattr(statement, "cases", []) or [])
            for block in blocks:
                yield from import_time_imports(block, include_deferred=include_deferred)


@dataclass(frozen=True, order=True)
class ImportEdge:
    """`importer` imports `imported` at `path:line`."""

    importer: str
    imported: str
    path: str
    line: int


def import_edges(
    module: SourceModule, known: Mapping[str, SourceModule], *, include_deferred: bool = False
) -> list[ImportEdge]:
    """Import-time edges from `module` to other known modules.

    `import a.b` -> `a.b`; `from a import n` -> `a.n` when that is a known module,
    else `a`; a package stands for its `__init__`. Unknown (third-party) targets are dropped.
    No implicit edges to the ancestors of an imported module are added.
    `include_deferred` also counts imports inside functions.
    """
    edges: list[ImportEdge] = []
    for node in import_time_imports(module.tree.body, include_deferred=include_deferred):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            source = resolve_import_from(module, node)
            for alias in node.names:
                candidate = f"{source}.{alias.name}" if source else alias.name
                targets.append(candidate if candidate in known else source)
        for target in targets:
            if target in known:
                edges.append(ImportEdge(module.name, target, module.path, node.lineno))
    return edges


def strongly_connected_components(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (no recursion limit); each component sorted."""
    index_of: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    successors = {node: sorted(set(targets)) for node, targets in graph.items()}
    for targets in list(successors.values()):
        for target in targets:
            successors.setdefault(target, [])
    for root in sorted(successors):
        if root in index_of:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index_of[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = successors[node]
            if position < len(children):
                work.append((node, position + 1))
                child = children[position]
                if child not in index_of:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index_of[child])
                continue
            if low[node] == index_of[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def find_import_cycles(modules: Sequence[SourceModule], *, include_deferred: bool = False) -> list[Violation]:
    """Every edge inside a strongly connected component of >1 module, or a self-import.

    `include_deferred=True` also counts imports inside functions (a stricter
    rule than `test_no_import_cycles` uses; `if TYPE_CHECKING:` is never counted).
    """
    known = {module.name: module for module in modules}
    edges = [edge for module in modules for edge in import_edges(module, known, include_deferred=include_deferred)]
    graph: dict[str, list[str]] = {name: [] for name in known}
    for edge in edges:
        graph[edge.importer].append(edge.imported)
    found: list[Violation] = []
    for component in strongly_connected_components(graph):
        members = set(component)
        is_cycle = len(component) > 1 or component[0] in graph[component[0]]
        if not is_cycle:
            continue
        label = " <-> ".join(component)
        for edge in edges:
            if edge.importer in members and edge.imported in members:
                found.append(Violation(edge.path, edge.line, f"imports {edge.imported} (import cycle: {label})"))
    return found


# ------------------------------------------------------------ the repository tests


def modules_under(package: str) -> list[SourceModule]:
    """Repo modules of one top-level package."""
    return [m for m in repo_modules() if m.name == package or m.name.startswith(package + ".")]


def test_walker_finds_both_packages() -> None:
    """The walk sees both packages (an empty walk would pass every rule vacuously)."""
    paths = {module.path for module in repo_modules()}
    assert "signalflow/__init__.py" in paths
    assert "signalflow_gym/__init__.py" in paths
    assert len(paths) > 20


def test_no_exec_or_eval() -> None:
    """Rule 1: no exec()/eval()."""
    assert_clean([v for m in repo_modules() for v in find_exec_or_eval(m)], "exec/eval")


def test_no_class_assignment() -> None:
    """Rule 2: no assignment to __class__."""
    assert_clean([v for m in repo_modules() for v in find_class_assignment(m)], "__class__ assignment")


def test_no_object_new() -> None:
    """Rule 3: no object.__new__."""
    assert_clean([v for m in repo_modules() for v in find_object_new(m)], "object.__new__")


def test_no_private_attribute_access_across_objects() -> None:
    """Rule 4: private attributes only on self, cls or super()."""
    assert_clean([v for m in repo_modules() for v in find_private_attribute_access(m)], "private attribute access")


def test_no_private_name_imports() -> None:
    """Rule 5: no imports of private names or private modules."""
    assert_clean([v for m in repo_modules() for v in find_private_imports(m)], "private import")


def test_no_import_cycles() -> None:
    """Rule 6: the import-time module graph of both packages is acyclic.

    Rule chosen (and why):
    - Edges are the imports that run: module level, blocks run at import
      (if/try/with/class bodies) and imports inside functions (see the last
      point). `if TYPE_CHECKING:` bodies never run and are not counted.
    - `import a.b` -> `a.b`; `from a import n` -> `a.n` if that is a module file,
      else `a`; importing a package means importing its `__init__`; relative
      imports are resolved. Third-party targets are ignored.
    - Only explicit edges are counted. Python also runs every ancestor
      `__init__` of an imported module, but adding those implicit edges would make
      every `pkg/__init__.py` re-export (`pkg -> pkg.sub -> (implicit) pkg`) a
      cycle, so they are not added. An *explicit* import of an ancestor package
      by its submodule (`pkg.sub` doing `from pkg import X` while `pkg/__init__`
      imports `pkg.sub`) IS counted: it depends on `__init__` ordering and is a
      real cycle. When this was written no submodule imported its own ancestor
      package, so this strict rule produced no re-export-only cycle.
    - Every strongly connected component with more than one module, and every
      self-import, is reported (iterative Tarjan), with each edge inside it.

    - Imports inside functions are counted too (`include_deferred=True`): a deferred
      import that closes a loop (as `bridge.py <-> run_package.py` once did) still ties
      the two modules together and hides a missing layer.
    """
    assert_clean(find_import_cycles(repo_modules(), include_deferred=True), "import cycle")


def test_signalflow_imports_no_gym_or_torch() -> None:
    """Rule 7: signalflow/ never imports the gym/RL layer, at any level."""
    assert_clean([v for m in modules_under("signalflow") for v in find_forbidden_imports(m)], "layering")


# ------------------------------------------------------------------- self-tests


def lines_of(violations: Iterable[Violation]) -> list[int]:
    """Sorted line numbers of violations."""
    return sorted(v.line for v in violations)


def snippet(source: str, name: str = "pkg.mod", *, is_package: bool = False) -> SourceModule:
    """A module built from a dedented source string."""
    return SourceModule.from_source(name, textwrap.dedent(source).lstrip("\n"), is_package=is_package)


def test_exec_or_eval_checker_self_test() -> None:
    """find_exec_or_eval flags exec/eval/builtins.exec and passes clean code."""
    bad = snippet(
        """
        exec("x = 1")
        y = eval("2")
        import builtins
        builtins.exec("z = 3")
        """
    )
    assert lines_of(find_exec_or_eval(bad)) == [1, 2, 4]
    clean = snippet(
        """
        def run(executor):
            executor.exec("fine")  # a method that happens to be called exec
            return ast.literal_eval("1")
        """
    )
    assert find_exec_or_eval(clean) == []


def test_class_assignment_checker_self_test() -> None:
    """find_class_assignment flags all __class__ assignment forms and passes clean code."""
    bad = snippet(
        """
        obj.__class__ = Other
        obj.__class__ += Mixin
        obj.__class__: type = Other
        a, obj.__class__ = 1, Other
        setattr(obj, "__class__", Other)
        object.__setattr__(obj, "__class__", Other)
        """
    )
    assert lines_of(find_class_assignment(bad)) == [1, 2, 3, 4, 5, 6]
    clean = snippet(
        """
        kind = obj.__class__
        name = type(obj).__name__
        setattr(obj, "label", 1)
        """
    )
    assert find_class_assignment(clean) == []


def test_object_new_checker_self_test() -> None:
    """find_object_new flags object.__new__ called or not, and passes clean code."""
    bad = snippet(
        """
        inst = object.__new__(Cls)
        make = object.__new__
        """
    )
    assert lines_of(find_object_new(bad)) == [1, 2]
    clean = snippet(
        """
        class A:
            def __new__(cls):
                return super().__new__(cls)
        """
    )
    assert find_object_new(clean) == []


def test_private_attribute_checker_self_test() -> None:
    """find_private_attribute_access flags foreign private access and passes self/cls/super()/dunders."""
    bad = snippet(
        """
        other._foo
        self.broker._state
        pl.DataFrame._from_pydf(x)
        decision.action._value_
        module._helper()
        type(self)._cache
        obj.__mangled
        """
    )
    assert lines_of(find_private_attribute_access(bad)) == [1, 2, 3, 4, 5, 6, 7]
    clean = snippet(
        """
        class A(B):
            def m(self):
                self._foo = 1
                super()._setup()
                return self.__dict__, obj.__class__, obj.public_
            @classmethod
            def c(cls):
                return cls._bar
        """
    )
    assert find_private_attribute_access(clean) == []


def test_private_import_checker_self_test() -> None:
    """find_private_imports flags private names/modules (absolute and relative) and passes clean code."""
    bad = snippet(
        """
        from a.b import _x
        import a._b
        from a import _b
        from a._c import y
        from ._cli import main
        """
    )
    assert lines_of(find_private_imports(bad)) == [1, 2, 3, 4, 5]
    clean = snippet(
        """
        from __future__ import annotations
        from a.b import x, __version__
        import a.b as _alias
        from . import sibling
        """
    )
    assert find_private_imports(clean) == []


def test_import_cycle_checker_self_test() -> None:
    """find_import_cycles flags module-level cycles and self-imports; ignores deferred/TYPE_CHECKING/re-exports."""
    cyclic = [
        snippet("from pkg.b import thing\n", "pkg.a"),
        snippet("import pkg.a\n", "pkg.b"),
        snippet("from pkg import c\n", "pkg.c"),  # maps to pkg.c itself: a self-import
        snippet("from pkg.d import x\n", "pkg.d"),
        snippet("", "pkg", is_package=True),
    ]
    found = find_import_cycles(cyclic)
    assert sorted({v.path for v in found}) == ["pkg/a.py", "pkg/b.py", "pkg/c.py", "pkg/d.py"]
    explicit_ancestor = [
        snippet("from pkg.sub import X\n", "pkg", is_package=True),
        snippet("from pkg import Y\n", "pkg.sub"),
    ]
    assert {v.path for v in find_import_cycles(explicit_ancestor)} == {"pkg/__init__.py", "pkg/sub.py"}
    clean = [
        snippet("from pkg.a import A\nfrom .b import B\n", "pkg", is_package=True),  # re-export pattern
        snippet(
            """
            from typing import TYPE_CHECKING
            from pkg.b import B
            if TYPE_CHECKING:
                from pkg.c import C
            """,
            "pkg.a",
        ),
        snippet("import numpy\nimport pkg.d\n", "pkg.b"),
        snippet("import pkg.a\n", "pkg.c"),  # would close a cycle if TYPE_CHECKING counted
        snippet(
            """
            def later():
                from pkg.b import B  # would close a cycle if deferred imports counted
                return B
            """,
            "pkg.d",
        ),
    ]
    assert find_import_cycles(clean) == []
    deferred_only = [
        snippet("def f():\n    from pkg.b import B\n", "pkg.a"),
        snippet("def g():\n    import pkg.a\n", "pkg.b"),
    ]
    assert find_import_cycles(deferred_only) == []
    assert lines_of(find_import_cycles(deferred_only, include_deferred=True)) == [2, 2]


def test_tarjan_handles_long_chains_without_recursion() -> None:
    """The SCC search is iterative: a 5,000-module ring is one component."""
    size = 5000
    ring = {f"m{i}": [f"m{(i + 1) % size}"] for i in range(size)}
    components = strongly_connected_components(ring)
    assert len(components) == 1 and len(components[0]) == size
    chain = {f"m{i}": [f"m{i + 1}"] for i in range(size)}
    assert all(len(c) == 1 for c in strongly_connected_components(chain))


def test_forbidden_import_checker_self_test() -> None:
    """find_forbidden_imports flags gym/torch/RL imports at any level and passes clean code."""
    bad = snippet(
        """
        import gymnasium as gym
        from torch import nn
        def later():
            import stable_baselines3
            from sb3_contrib import RecurrentPPO
            from signalflow_gym.env import SignalFlowEnv
            return importlib.import_module("gym")
        """,
        "signalflow.mod",
    )
    assert lines_of(find_forbidden_imports(bad)) == [1, 2, 4, 5, 6, 7]
    clean = snippet(
        """
        import numpy as np
        from signalflow.core import errors
        import torchvision_like_name_is_not_torch
        """,
        "signalflow.mod",
    )
    assert find_forbidden_imports(clean) == []


@pytest.mark.parametrize(
    ("name", "private"),
    [("_x", True), ("_value_", True), ("__mangled", True), ("__init__", False), ("__dict__", False), ("x_", False), ("public", False)],
)
def test_is_private_classification(name: str, private: bool) -> None:
    """Single-underscore and mangled names are private; dunders and plain names are not."""
    assert is_private(name) is private


# ------------------------------------------------------------------- layers
#: What each layer may import (besides itself), bottom to top, as in DESIGN.md: the domain
#: (core), data, then the strategy pieces (metrics are pure statistics of frames; the broker
#: applies fills; rules; model integration; the runner wires them; the exporter writes runs),
#: then the Gymnasium layer on top of all of them.
ALLOWED_LAYER_IMPORTS: dict[str, frozenset[str]] = {
    "signalflow.core": frozenset(),
    "signalflow.data": frozenset({"signalflow.core"}),
    "signalflow.detector": frozenset({"signalflow.core", "signalflow.data"}),
    "signalflow.strategy.metrics": frozenset({"signalflow.core"}),
    "signalflow.strategy.broker": frozenset({"signalflow.core", "signalflow.data"}),
    "signalflow.strategy.component": frozenset({"signalflow.core", "signalflow.data"}),
    "signalflow.strategy.model": frozenset({"signalflow.core", "signalflow.data", "signalflow.strategy.component"}),
    "signalflow.strategy.exporter": frozenset({"signalflow.core", "signalflow.strategy.metrics"}),
    "signalflow.strategy.runner": frozenset(
        {"signalflow.core", "signalflow.data", "signalflow.strategy.metrics", "signalflow.strategy.broker",
         "signalflow.strategy.component", "signalflow.strategy.model"}
    ),
}


def layer_of(module: str) -> str:
    """The layer a module belongs to: `signalflow.strategy.<x>` or `signalflow.<x>`; the whole
    of `signalflow_gym` is one layer on top."""
    parts = module.split(".")
    if parts[0] == "signalflow_gym":
        return "signalflow_gym"
    if len(parts) >= 3 and parts[1] == "strategy":
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def find_layer_violations(modules: Sequence[SourceModule]) -> list[Violation]:
    known = {m.name: m for m in modules}
    found = []
    for module in modules:
        for edge in import_edges(module, known, include_deferred=True):
            source, target = layer_of(edge.importer), layer_of(edge.imported)
            if source == target or source == "signalflow_gym" or source not in ALLOWED_LAYER_IMPORTS:
                continue
            if target not in ALLOWED_LAYER_IMPORTS[source]:
                found.append(Violation(edge.path, edge.line, f"{source} imports {edge.imported} (layer {target})"))
    return found


def test_layers_import_downward_only() -> None:
    """Each layer of `signalflow` imports only the layers below it (imports inside functions
    count; `if TYPE_CHECKING:` ones do not, since they never run)."""
    assert_clean(find_layer_violations(repo_modules()), "layering")


def test_layer_checker_self_test() -> None:
    """An upward import (broker -> runner) is flagged, also from inside a function; a
    `TYPE_CHECKING` one and a downward one are not."""
    assert layer_of("signalflow.strategy.runner.run") == "signalflow.strategy.runner"
    assert layer_of("signalflow_gym.env") == "signalflow_gym"
    upward = [
        snippet("def f():\n    from signalflow.strategy.runner.run import BacktestRun\n", "signalflow.strategy.broker.b"),
        snippet("", "signalflow.strategy.runner.run"),
    ]
    assert [v.path for v in find_layer_violations(upward)] == ["signalflow/strategy/broker/b.py"]
    fine = [
        snippet(
            """
            from typing import TYPE_CHECKING
            from signalflow.core.order import Order
            if TYPE_CHECKING:
                from signalflow.strategy.runner.run import BacktestRun
            """,
            "signalflow.strategy.broker.b",
        ),
        snippet("", "signalflow.strategy.runner.run"),
        snippet("", "signalflow.core.order"),
    ]
    assert find_layer_violations(fine) == []
