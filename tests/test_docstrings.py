"""The public API documents itself in numpydoc style, as scikit-learn writes it.

Checked by reading the source with `ast`: nothing is imported. Every public function and
class under src/khabar has a docstring. A public function with parameters (self and cls
aside) has a ``Parameters`` section naming each of them, ``*args`` and ``**options``
included; one that returns something has a ``Returns`` (or ``Yields``) section. A class's
``__init__`` parameters are named under ``Parameters`` and its public fields (dataclass,
pydantic) under ``Attributes``, in the class docstring.

Exempt: functions nested in functions; methods named like scikit-learn's estimator API and
``main`` functions, which need a docstring but no sections; the thin wrappers in
khabar/__init__.py, which point at the documented function; properties, whose one line says
what they are.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "khabar"

# scikit-learn's estimator API: documented by scikit-learn's conventions, a docstring suffices.
ESTIMATOR_API = frozenset(
    {
        "fit",
        "transform",
        "fit_transform",
        "predict",
        "predict_proba",
        "decision_function",
        "score",
        "get_feature_names_out",
        "__sklearn_tags__",
    }
)
PROPERTY_DECORATORS = frozenset({"property", "cached_property", "setter", "getter", "deleter"})
# Return annotations that mean "nothing comes back" (a context manager's Iterator[None] too).
NOTHING = frozenset({"None", "NoReturn", "Never"})
GENERATORS = frozenset({"Iterator", "Generator", "AsyncIterator", "AsyncGenerator", "Iterable"})
UNDERLINE = re.compile(r"-{3,}")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def sections(docstring: str) -> dict[str, list[str]]:
    """A numpydoc docstring's sections: header (a line underlined with dashes) -> its lines."""
    lines = inspect.cleandoc(docstring).splitlines()
    found: dict[str, list[str]] = {}
    current: list[str] | None = None
    i = 0
    while i < len(lines):
        header = lines[i].strip()
        if header and i + 1 < len(lines) and UNDERLINE.fullmatch(lines[i + 1].strip()):
            current = found.setdefault(header, [])
            i += 2
            continue
        if current is not None:
            current.append(lines[i])
        i += 1
    return found


def documented_names(entries: list[str]) -> set[str]:
    """The names a Parameters or Attributes section describes.

    Its entries are its unindented lines: ``name : type``, ``a, b : type`` or a bare
    ``name``; stars are dropped (``**options`` describes options).
    """
    names = set()
    for line in entries:
        if not line.strip() or line[0].isspace():
            continue
        for name in line.split(" :")[0].split(","):
            names.add(name.strip().lstrip("*"))
    return names


def _name(node: ast.expr) -> str:
    """The last part of a decorator's or annotation's dotted name (`functools.cache`: cache)."""
    if isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant):
        return str(node.value)
    return ""


def _is_property(node: Function) -> bool:
    return any(_name(d) in PROPERTY_DECORATORS for d in node.decorator_list)


def _parameters(node: Function, is_method: bool) -> list[str]:
    args = node.args
    positional = [a.arg for a in (*args.posonlyargs, *args.args)]
    if is_method and positional and positional[0] in ("self", "cls"):
        positional = positional[1:]
    starred = [a.arg for a in (args.vararg, args.kwarg) if a is not None]
    return [*positional, *[a.arg for a in args.kwonlyargs], *starred]


def _own_nodes(node: Function):
    """The nodes of a function's body, not those of the functions and classes inside it."""
    stack = list(node.body)
    while stack:
        child = stack.pop()
        yield child
        if not isinstance(child, Function | ast.ClassDef | ast.Lambda):
            stack.extend(ast.iter_child_nodes(child))


def _returns_something(node: Function) -> bool:
    annotation = node.returns
    if annotation is None:  # no annotation: what the body returns or yields says
        return any(
            isinstance(child, ast.Return | ast.Yield | ast.YieldFrom)
            and child.value is not None
            and not (isinstance(child.value, ast.Constant) and child.value.value is None)
            for child in _own_nodes(node)
        )
    if _name(annotation) in NOTHING:
        return False
    if isinstance(annotation, ast.Subscript) and _name(annotation.value) in GENERATORS:
        element = annotation.slice
        first = element.elts[0] if isinstance(element, ast.Tuple) else element
        return _name(first) not in NOTHING
    return True


def _function_problems(node: Function, qualified: str, *, is_method: bool, brief: bool):
    """(line, name, problem) for a function or method."""
    docstring = ast.get_docstring(node)
    if not docstring:
        yield node.lineno, qualified, "no docstring"
        return
    if brief or _is_property(node):
        return
    found = sections(docstring)
    parameters = _parameters(node, is_method)
    if parameters and "Parameters" not in found:
        yield node.lineno, qualified, f"no Parameters section (parameters: {', '.join(parameters)})"
    elif parameters:
        missing = [p for p in parameters if p not in documented_names(found["Parameters"])]
        if missing:
            yield node.lineno, qualified, f"Parameters does not describe {', '.join(missing)}"
    if _returns_something(node) and not ({"Returns", "Yields"} & set(found)):
        yield node.lineno, qualified, "no Returns section"


def _fields(node: ast.ClassDef) -> list[str]:
    """Public fields declared in the class body (dataclass or pydantic), ClassVars aside."""
    return [
        item.target.id
        for item in node.body
        if isinstance(item, ast.AnnAssign)
        and isinstance(item.target, ast.Name)
        and not item.target.id.startswith("_")
        and "ClassVar" not in ast.unparse(item.annotation)
    ]


def _class_problems(node: ast.ClassDef, qualified: str):
    """(line, name, problem) for a class: its docstring, then its public methods."""
    docstring = ast.get_docstring(node)
    if not docstring:
        yield node.lineno, qualified, "no docstring"
    found = sections(docstring or "")
    init = next((i for i in node.body if isinstance(i, Function) and i.name == "__init__"), None)
    if docstring and init is not None:
        in_init = sections(ast.get_docstring(init) or "").get("Parameters", [])
        documented = documented_names(found.get("Parameters", []) + in_init)
        missing = [p for p in _parameters(init, is_method=True) if p not in documented]
        if missing:
            yield node.lineno, qualified, f"Parameters does not describe {', '.join(missing)}"
    fields = _fields(node)
    if docstring and fields:
        documented = documented_names(found.get("Attributes", []) + found.get("Parameters", []))
        missing = [f for f in fields if f not in documented]
        if missing:
            yield node.lineno, qualified, f"Attributes does not describe {', '.join(missing)}"
    for item in node.body:
        name = f"{qualified}.{getattr(item, 'name', '')}"
        if isinstance(item, Function) and item.name in ESTIMATOR_API:
            yield from _function_problems(item, name, is_method=True, brief=True)
        elif isinstance(item, Function) and not item.name.startswith("_"):
            yield from _function_problems(item, name, is_method=True, brief=False)
        elif isinstance(item, ast.ClassDef) and not item.name.startswith("_"):
            yield from _class_problems(item, name)


def _module_level(body: list[ast.stmt]):
    """Definitions at module level, those under `if` and `try` included."""
    for node in body:
        if isinstance(node, Function | ast.ClassDef):
            yield node
        elif isinstance(node, ast.If | ast.Try):
            for block in (node.body, node.orelse, getattr(node, "finalbody", [])):
                yield from _module_level(block)
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def source_problems(source: str, filename: str, *, package_root: bool = False) -> list[str]:
    """Every docstring problem of one module's public API, as ``filename:line name: what``.

    In the package root (`package_root`) functions are thin wrappers: a docstring suffices.
    """
    problems = []
    for node in _module_level(ast.parse(source).body):
        if node.name.startswith("_"):
            continue
        if isinstance(node, ast.ClassDef):
            found = _class_problems(node, node.name)
        else:
            brief = package_root or node.name == "main"
            found = _function_problems(node, node.name, is_method=False, brief=brief)
        problems += [f"{filename}:{line} {name}: {problem}" for line, name, problem in found]
    return problems


def docstring_problems(root: Path = SRC) -> list[str]:
    """The problems of every module under `root`, named relative to the repository."""
    problems = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else str(path)
        is_root = path == root / "__init__.py"
        problems += source_problems(path.read_text("utf-8"), name, package_root=is_root)
    return problems


def test_public_api_has_numpydoc_docstrings():
    problems = docstring_problems()
    assert not problems, f"{len(problems)} docstring problems:\n" + "\n".join(problems)


# --- the checker sees what it must see ----------------------------------------------------

SAMPLE = textwrap.dedent(
    '''
    def documented(path, *, strict=False, **options) -> int:
        """Count.

        Parameters
        ----------
        path : str
            Where.
        strict : bool, default False
            How.
        **options : dict
            More.

        Returns
        -------
        int
        """

    def no_parameters_section(path: str) -> None:
        """Mentions Parameters in prose, which is no section."""

    def forgets_one(path, encoding="utf-8") -> None:
        """Read.

        Parameters
        ----------
        path : str
            Where; encoding is mentioned here, but not as an entry.
        """

    def no_returns(path):
        """Read.

        Parameters
        ----------
        path : str
            Where.
        """
        return path

    def undocumented():
        def nested(x):
            return x
        return None

    def _private(x):
        return x

    def main(argv=None) -> int:
        """The command line."""

    class Estimator:
        """An estimator.

        Parameters
        ----------
        C : float
            Strength.
        """

        def __init__(self, C=1.0, tol=1e-4):
            self.C, self.tol = C, tol

        def fit(self, X, y=None):
            """Fit."""
            return self

        def transform(self, X):
            return X

        @property
        def size(self) -> int:
            """How many."""
            return 1

    @dataclass
    class Result:
        """A result.

        Attributes
        ----------
        run_id : str
            The run.
        """

        run_id: str
        metrics: dict
    '''
)


def test_the_checker_reports_what_is_missing():
    assert source_problems(SAMPLE, "sample.py") == [
        "sample.py:19 no_parameters_section: no Parameters section (parameters: path)",
        "sample.py:22 forgets_one: Parameters does not describe encoding",
        "sample.py:31 no_returns: no Returns section",
        "sample.py:41 undocumented: no docstring",
        "sample.py:52 Estimator: Parameters does not describe tol",
        "sample.py:68 Estimator.transform: no docstring",
        "sample.py:77 Result: Attributes does not describe metrics",
    ]


def test_package_root_wrappers_need_only_a_docstring():
    wrapper = 'def train(config, overrides=None, **options) -> dict:\n    """See train."""\n'
    assert source_problems(wrapper, "khabar/__init__.py", package_root=True) == []
    assert source_problems(wrapper, "other.py") == [
        "other.py:1 train: no Parameters section (parameters: config, overrides, options)",
        "other.py:1 train: no Returns section",
    ]


def test_sections_need_their_underline():
    docstring = """Summary.

    Parameters
    ----------
    x, y : int
        Values; Returns, below, is no section without its dashes.
    *args : str
        More.

    Returns
    int
    """
    found = sections(docstring)
    assert list(found) == ["Parameters"]
    assert documented_names(found["Parameters"]) >= {"x", "y", "args"}
