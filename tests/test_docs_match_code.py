"""The plugin docs say what the code does, and fail here when either drifts: the reserved
tasks (the core registers every one; plugins serve them), the built-in plugins and what
each registers, the registration order, every ``TaskSpec`` field, and the built-ins'
entry of ``GET /api/plugins``."""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
from collections.abc import Callable
from pathlib import Path

import msgspec
import pytest

from altlas import hookspecs
from altlas.config import Settings
from altlas.http.routes.system import plugin_list
from altlas.plugins import DEFAULT_PLUGINS, PluginRecord, load_plugins
from altlas.registry import PluginConflict, Registry, collect_registrations
from altlas.runtime import Runtime
from altlas_sdk import ModelSpec, TaskSpec, hookimpl
from altlas_sdk.tasks import TASK_IDS, NoParameters

REPO = Path(__file__).resolve().parent.parent
PLUGINS_MD = (REPO / "docs" / "plugins.md").read_text()
API_MD = (REPO / "docs" / "api.md").read_text()
README = (REPO / "README.md").read_text()
CODE = re.compile(r"`([^`]+)`")
TASKS_MODULE = "altlas.default_plugins.tasks"
REGISTRATION_HOOKS = [name for name in hookspecs.__all__ if name.startswith("register_")]


def _section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ")[0]
    start = text.index(f"{heading}\n")
    ends = [
        match.start()
        for match in re.finditer(r"^(#+) ", text[start + len(heading) :], re.MULTILINE)
        if len(match[1]) <= len(level)
    ]
    end = start + len(heading) + ends[0] if ends else len(text)
    return text[start:end]


def _tables(section: str) -> list[list[list[str]]]:
    """Each Markdown table of ``section``: its rows of cells, header included."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in section.splitlines():
        if line.startswith("| "):
            if not previous.startswith("| "):
                tables.append([])
            tables[-1].append([cell.strip() for cell in line.strip().strip("|").split(" | ")])
        previous = line
    return tables


def _table_rows(section: str, header: str | None = None) -> list[list[str]]:
    """The body rows of the section's first table (or of the one whose first column is
    ``header``)."""
    tables = [t for t in _tables(section) if header is None or t[0][0] == header]
    assert tables, f"no table{f' headed {header!r}' if header else ''} in the section"
    return tables[0][2:]


@pytest.fixture(scope="module")
def builtins_only(tmp_path_factory: pytest.TempPathFactory) -> Runtime:
    root = tmp_path_factory.mktemp("docs")
    environ = {"MODEL_DIR": str(root), "CACHE_DIR": str(root / "c"), "ALTLAS_LOAD_PLUGINS": ""}
    return Runtime(Settings.load(environ=environ))


# --- reserved tasks ---------------------------------------------------------------------


def test_the_reserved_tasks_table_lists_every_reserved_id_with_its_types():
    listed: list[str] = []
    for ids, module, _where in _table_rows(_section(PLUGINS_MD, "## Reserved tasks")):
        names = CODE.findall(ids)
        defined = {
            spec.id
            for value in vars(importlib.import_module(module.strip("`"))).values()
            if isinstance(value, tuple)
            for spec in value
            if isinstance(spec, TaskSpec)
        }
        assert set(names) <= defined, f"{module} defines no spec for {set(names) - defined}"
        listed += names
    assert sorted(listed) == sorted(TASK_IDS)


def test_the_core_registers_every_reserved_task(builtins_only):
    owners = {task: owned.plugin for task, owned in builtins_only.registry.tasks.items()}
    assert {task: owners.get(task) for task in TASK_IDS} == dict.fromkeys(TASK_IDS, TASKS_MODULE)


def test_every_reserved_task_is_in_the_api_docs_tasks_table():
    documented = {
        name for row in _table_rows(_section(API_MD, "## Tasks")) for name in CODE.findall(row[0])
    }
    assert set(TASK_IDS) <= documented, set(TASK_IDS) - documented


def test_no_doc_tells_a_plugin_to_register_a_reserved_task():
    assert "registers the reserved media task" not in PLUGINS_MD + API_MD
    doc = " ".join((hookspecs.register_tasks.__doc__ or "").split())
    assert re.search(r"core\b.*\bregisters every reserved task", doc), doc


# --- built-in plugins -------------------------------------------------------------------


def _registered_by(registry: Registry, plugin: str) -> set[str]:
    return {
        key
        for table in dataclasses.fields(registry)
        for key, owned in getattr(registry, table.name).items()
        if owned.plugin == plugin
    }


def test_the_built_ins_table_lists_each_built_in_in_load_order_with_what_it_registers(
    builtins_only,
):
    rows = _table_rows(_section(PLUGINS_MD, "## Built-in plugins"))
    assert [row[0].strip("`") for row in rows] == list(DEFAULT_PLUGINS)
    for module, registers in rows:
        module = module.strip("`")
        named = set(CODE.findall(registers))
        expected = _registered_by(builtins_only.registry, module)
        expected |= {
            h for h in builtins_only.plugins.hooks_of(module) if not h.startswith("register_")
        }
        assert expected and expected <= named, f"{module}: the table leaves out {expected - named}"


def test_the_readme_lists_every_built_in_and_reserved_task():
    rows = {
        row[0].strip("`"): row[1] for row in _table_rows(_section(README, "## Layout"), "built-in")
    }
    assert [f"altlas.default_plugins.{name}" for name in rows] == list(DEFAULT_PLUGINS)
    assert set(TASK_IDS) <= set(CODE.findall(rows["tasks"]))


def test_the_plugins_example_lists_the_built_ins_as_the_service_does(builtins_only):
    section = _section(API_MD, "### `GET /api/plugins`")
    body = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert body is not None
    documented = [p for p in msgspec.json.decode(body[1])["plugins"] if p["builtin"]]
    served = [msgspec.to_builtins(p) for p in plugin_list(builtins_only).plugins]
    assert documented == served


# --- TaskSpec ---------------------------------------------------------------------------


def test_every_task_spec_field_is_documented():
    rows = _table_rows(_section(PLUGINS_MD, "### register_tasks"))
    documented = [row[0].strip("`") for row in rows]
    assert documented == [field.name for field in dataclasses.fields(TaskSpec)]
    for row in rows:
        assert row[3], f"{row[0]} has no meaning"


# --- registration order -----------------------------------------------------------------

ORDER = _section(PLUGINS_MD, "### Registration order")


def test_the_stated_hook_order_is_the_order_the_core_calls_them():
    called: list[str] = []

    def recorder(hook: str) -> Callable[..., None]:
        def implementation(register: Callable[..., None]) -> None:
            called.append(hook)

        implementation.__name__ = hook
        return hookimpl(implementation)

    probe = types.SimpleNamespace(**{hook: recorder(hook) for hook in REGISTRATION_HOOKS})
    plugins = load_plugins(Settings.load(environ={"ALTLAS_LOAD_PLUGINS": ""}))
    plugins.register(probe, PluginRecord("probe", "probe-dist", "1", False))
    collect_registrations(plugins)
    # The paragraph that lists the hooks, up to where it turns to one hook's plugins.
    listing = ORDER.split("The implementations of one")[0]
    stated = [name for name in CODE.findall(listing) if name in REGISTRATION_HOOKS]
    sections = re.findall(r"^### (register_\w+)$", PLUGINS_MD, re.MULTILINE)
    assert called == stated == sections


def _cataloguer(model_id: str, **marks: bool) -> types.SimpleNamespace:
    @hookimpl(**marks)
    def register_catalog_entries(register: Callable[[ModelSpec], None]) -> None:
        register(ModelSpec(id=model_id, backend="none", tasks=["embedding"], source="x"))

    return types.SimpleNamespace(register_catalog_entries=register_catalog_entries)


def test_the_stated_plugin_order_is_the_order_the_core_calls_them(fixture_plugins):
    plugins = load_plugins(
        Settings.load(environ={"ALTLAS_LOAD_PLUGINS": "fixture-echo,fixture-batch"})
    )
    # Loaded after the entry points, in this order.
    for name, marks in (
        ("late", {"trylast": True}),
        ("one", {}),
        ("two", {}),
        ("early", {"tryfirst": True}),
    ):
        plugins.register(
            _cataloguer(f"{name}-model", **marks), PluginRecord(name, None, None, False)
        )
    registry = collect_registrations(plugins)
    owners = list(dict.fromkeys(owned.plugin for owned in registry.catalog.values()))
    assert owners == [
        "early",  # tryfirst, loaded after the built-in example catalog...
        "altlas.default_plugins.example_catalog",  # ...which is tryfirst too
        "two",  # then the plugin loaded last back to the first...
        "one",
        "fixture-echo",  # ...the entry points in reverse name order
        "fixture-batch",
        "late",  # trylast
    ]
    steps = [
        ORDER.index(phrase)
        for phrase in (
            "`@hookimpl(tryfirst=True)`",
            "reverse name order",
            "`@hookimpl(trylast=True)`",
        )
    ]
    assert steps == sorted(steps)
    span = re.search(r"from\s+`([\w.]+)`\s+back\s+to\s+`([\w.]+)`", ORDER)
    assert span is not None and span.groups() == (DEFAULT_PLUGINS[-1], DEFAULT_PLUGINS[0])


def test_a_plugin_registering_a_reserved_task_conflicts_with_the_core():
    @hookimpl
    def register_tasks(register: Callable[[TaskSpec], None]) -> None:
        register(TaskSpec("rerank", NoParameters, NoParameters))

    plugins = load_plugins(Settings.load(environ={"ALTLAS_LOAD_PLUGINS": ""}))
    plugin = types.SimpleNamespace(register_tasks=register_tasks)
    plugins.register(plugin, PluginRecord("mine", "altlas-mine", "1", False))
    with pytest.raises(PluginConflict, match=r"task id 'rerank' .* both .*altlas-core"):
        collect_registrations(plugins)
