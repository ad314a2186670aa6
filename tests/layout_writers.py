"""Where the code writes each model, found by reading it (ast), for tests/test_layout_writers.py.

A write is an ORM call that changes rows (create, save, update, delete,
bulk_*, get_or_create, update_or_create), a raw INSERT, UPDATE or DELETE
naming the model's table, a row-adding helper given the model
(`bulk_sql.add_to_rows`), an admin's default save or delete
(`super().save_model(...)`), and every row a delete takes with it through
on_delete=CASCADE. The receiver's model is inferred from what the code says:
`Model.objects...`, a related manager (`canvas.steps...`), a variable
assigned from one of those or from `Model(...)`, a parameter annotated with
the model, a loop over a queryset, `self` in a model's own methods, and
`obj`/`queryset` in a ModelAdmin of the model. A receiver it cannot place is
not counted (the check errs towards silence, never towards a false alarm).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from django.apps import apps
from django.db import models

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("audiences", "integrations", "ops", "project")
WRITES = {"create", "bulk_create", "bulk_update", "get_or_create", "update_or_create", "update", "delete", "save"}
CHAINS = {"filter", "exclude", "all", "select_related", "prefetch_related", "order_by", "select_for_update", "only",
          "defer", "using", "distinct", "annotate", "alias", "get", "first", "last", "latest", "earliest", "none",
          "reverse", "get_or_create", "update_or_create", "create", "in_bulk"}
ADMIN_WRITES = {"save_model": "save", "delete_model": "delete", "delete_queryset": "delete"}
ROW_HELPERS = {"add_to_rows"}  # bulk_sql helpers that write the model given as their first argument
SQL = re.compile(r"\b(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+|\{\d+\})", re.IGNORECASE)


@dataclass(frozen=True)
class Write:
    model: str
    path: str  # relative to the repository, e.g. audiences/services/canvases.py
    line: int
    how: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line} writes {self.model} ({self.how})"


def product_models() -> dict[str, type[models.Model]]:
    return {m.__name__: m for m in apps.get_models() if m._meta.app_label in ("audiences", "integrations")}


def _accessors(known: dict[str, type[models.Model]]) -> dict[str, dict[str, str]]:
    """Model -> its relation attributes (forward and reverse) -> the model each leads to."""
    found: dict[str, dict[str, str]] = {name: {} for name in known}
    for name, model in known.items():
        for field in model._meta.get_fields():
            if field.is_relation and field.related_model is not None and field.related_model.__name__ in known:
                attribute = field.name if field.concrete else field.get_accessor_name()
                if attribute and not attribute.endswith("+"):
                    found[name][attribute] = field.related_model.__name__
    return found


def _cascade(known: dict[str, type[models.Model]]) -> dict[str, set[str]]:
    """Model -> every model whose rows a delete of it deletes too (on_delete=CASCADE, transitively)."""
    direct: dict[str, set[str]] = {name: set() for name in known}
    for model in known.values():
        for field in model._meta.get_fields():
            if field.many_to_one or field.one_to_one:
                if field.concrete and field.remote_field.on_delete is models.CASCADE:
                    target = field.related_model.__name__
                    if target in direct:
                        direct[target].add(model.__name__)
    closed: dict[str, set[str]] = {}
    for name in direct:
        seen, todo = set(), [name]
        while todo:
            for child in direct[todo.pop()] - seen:
                seen.add(child)
                todo.append(child)
        closed[name] = seen - {name}
    return closed


def product_files() -> Iterator[Path]:
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            # The sandbox is a fake Pinterest with no models (its `.update` calls are dicts' and sets').
            if "migrations" not in path.parts and "sandbox" not in path.parts:
                yield path


class _Scanner:
    def __init__(self, known: dict[str, type[models.Model]]):
        self.known = known
        self.accessors = _accessors(known)
        self.cascade = _cascade(known)
        self.tables = {m._meta.db_table: name for name, m in known.items()}

    def scan(self, path: Path, source: str | None = None) -> list[Write]:
        tree = ast.parse(path.read_text() if source is None else source, str(path))
        self.rel = str(path.relative_to(ROOT))
        self.module_returns = {
            node.name: self._names_in(node)
            for node in tree.body if isinstance(node, ast.FunctionDef)
        }
        self.found: list[Write] = []
        self._body(tree.body, env={}, admin_model=None, model_class=None)
        return self.found

    # --- what a name or expression refers to ------------------------------------------------

    def _names_in(self, node: ast.AST) -> set[str]:
        return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and n.id in self.known}

    def model_of(self, node: ast.AST, env: dict[str, set[str]]) -> set[str]:
        if isinstance(node, ast.Name):
            return env.get(node.id, set())
        if isinstance(node, ast.Attribute):
            if node.attr in ("objects", "_default_manager") and isinstance(node.value, ast.Name):
                if node.value.id in self.known:
                    return {node.value.id}
            return {self.accessors[base][node.attr] for base in self.model_of(node.value, env)
                    if node.attr in self.accessors.get(base, {})}
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Name) and func.id in self.known:
                return {func.id}
            if isinstance(func, ast.Attribute) and func.attr in CHAINS:
                return self.model_of(func.value, env)
        if isinstance(node, ast.Subscript):
            return self.model_of(node.value, env)
        return set()

    def _bind(self, target: ast.AST, value: ast.AST, env: dict[str, set[str]]) -> None:
        found = self.model_of(value, env)
        if isinstance(target, ast.Name):
            if found:
                env[target.id] = found
        elif isinstance(target, (ast.Tuple, ast.List)) and target.elts and isinstance(target.elts[0], ast.Name):
            # row, created = Model.objects.get_or_create(...)
            if found:
                env[target.elts[0].id] = found

    # --- walking -------------------------------------------------------------------------

    def _body(self, body: list[ast.stmt], env, admin_model, model_class) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef):
                self._class(node, env)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self._function(node, env, admin_model, model_class)

    def _class(self, node: ast.ClassDef, env) -> None:
        admin_model = None
        for statement in node.body:
            if isinstance(statement, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "model" for t in statement.targets
            ) and isinstance(statement.value, ast.Name) and statement.value.id in self.known:
                admin_model = statement.value.id
        for decorator in node.decorator_list:
            if isinstance(decorator, ast.Call) and getattr(decorator.func, "attr", "") == "register":
                names = [a.id for a in decorator.args if isinstance(a, ast.Name) and a.id in self.known]
                admin_model = names[0] if names else admin_model
        model_class = node.name if node.name in self.known else None
        self._body(node.body, dict(env), admin_model, model_class)

    def _function(self, node, outer, admin_model, model_class) -> None:
        env = dict(outer)
        for arg in node.args.args + node.args.kwonlyargs:
            if arg.annotation is not None:
                names = self._names_in(arg.annotation)
                if names:
                    env[arg.arg] = names
        if model_class:
            env["self"] = {model_class}
        if admin_model and node.name in ("save_model", "delete_model", "delete_queryset", "response_action") or (
            admin_model and any(getattr(d, "attr", "") == "action" or getattr(getattr(d, "func", None), "attr", "")
                                == "action" for d in node.decorator_list)
        ):
            env.setdefault("obj", {admin_model})
            env.setdefault("queryset", {admin_model})
        for _ in range(2):  # twice, so a variable assigned from another variable is known too
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign):
                    for target in sub.targets:
                        self._bind(target, sub.value, env)
                elif isinstance(sub, ast.AnnAssign) and sub.value is not None:
                    self._bind(sub.target, sub.value, env)
                elif isinstance(sub, (ast.For, ast.comprehension)):
                    self._bind(sub.target, sub.iter, env)
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                self._call(sub, env, admin_model)
            elif isinstance(sub, ast.JoinedStr) or (isinstance(sub, ast.Constant) and isinstance(sub.value, str)):
                self._sql(sub, env, node)

    def _call(self, call: ast.Call, env, admin_model) -> None:
        func = call.func
        if isinstance(func, ast.Name) and func.id in ROW_HELPERS and call.args:
            for model in self._names_in(call.args[0]) or self.model_of(call.args[0], env):
                self._add(model, call, f"{func.id}()")
            return
        if not isinstance(func, ast.Attribute):
            return
        if (isinstance(func.value, ast.Call) and isinstance(func.value.func, ast.Name)
                and func.value.func.id == "super" and func.attr in ADMIN_WRITES and admin_model):
            self._add(admin_model, call, f"the admin's default {func.attr}", delete=ADMIN_WRITES[func.attr] == "delete")
            return
        if func.attr not in WRITES:
            return
        for model in self.model_of(func.value, env):
            self._add(model, call, f".{func.attr}()", delete=func.attr == "delete")

    def _sql(self, node: ast.AST, env, function) -> None:
        if isinstance(node, ast.Constant):
            text, holes = node.value, []
        else:
            parts, holes = [], []
            for value in node.values:
                if isinstance(value, ast.Constant):
                    parts.append(str(value.value))
                else:
                    parts.append("{%d}" % len(holes))
                    holes.append(value.value)
            text = "".join(parts)
        for match in SQL.finditer(text):
            target = match.group(2)
            if target.startswith("{"):
                expression = holes[int(target[1:-1])]
                models_named = self._tables_of(expression, function)
            else:
                models_named = {self.tables[target]} if target in self.tables else set()
            for model in models_named:
                self._add(model, node, f"raw {match.group(1).split()[0].upper()}",
                          delete=match.group(1).upper().startswith("DELETE"))

    def _tables_of(self, expression: ast.AST, function) -> set[str]:
        names = self._names_in(expression)
        if names:
            return names
        if isinstance(expression, ast.Call) and isinstance(expression.func, ast.Name):
            return self.module_returns.get(expression.func.id, set())
        if isinstance(expression, ast.Name):
            for sub in ast.walk(function):
                if isinstance(sub, ast.Assign) and any(isinstance(t, ast.Name) and t.id == expression.id
                                                       for t in sub.targets):
                    return self._tables_of(sub.value, function)
        return set()

    def _add(self, model: str, node: ast.AST, how: str, *, delete: bool = False) -> None:
        self.found.append(Write(model, self.rel, node.lineno, how))
        if delete:
            for child in sorted(self.cascade.get(model, ())):
                self.found.append(Write(child, self.rel, node.lineno, f"deleted with {model} (CASCADE)"))


def writes_in_code(extra: dict[str, str] | None = None) -> list[Write]:
    """Every write the product's code makes; `extra` adds modules (path -> source) as if they were there."""
    scanner = _Scanner(product_models())
    found: list[Write] = []
    for path in product_files():
        found.extend(scanner.scan(path))
    for relative, source in (extra or {}).items():
        found.extend(scanner.scan(ROOT / relative, source))
    return found


def writer_table(readme: str) -> dict[str, set[str]]:
    """The README's model -> writer table: model name -> the modules allowed to write it."""
    section = readme.split("## How the code is laid out", 1)[1]
    table: dict[str, set[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")] if line.startswith("|") else []
        if len(cells) < 2 or cells[0] in ("model", "") or set(cells[0]) <= {"-"}:
            continue
        modules = set(re.findall(r"`([\w/]+\.py)`", cells[1]))
        for name in re.sub(r"\([^)]*\)", "", cells[0]).split(","):
            if name.strip():
                table.setdefault(name.strip(), set()).update(modules)
    return table
