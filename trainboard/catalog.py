"""The catalog: what a worker publishes it can train, and checking a spec against it.

Each worker publishes, at start and then periodically, every model and dataset it has loaded
(built-in or from a plugin) with the JSON schema of its options. The API keeps the union of what
recent workers offer; `check_spec` validates a spec against it as precisely as the options
classes would (a 422 item naming the field), without the classes, torch or the worker's code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import AfterValidator, BaseModel, Field, ValidationError

from trainboard.model_budget import over_budget, parameter_floor
from trainboard.spec import EntryChoice, TrainSpec, rule_problems
from trainboard.spec_paths import NAMED_FIELDS, name_shorthand

Task = Literal["classification", "segmentation"]
_BOUNDS = {"minimum": "ge", "maximum": "le", "exclusiveMinimum": "gt", "exclusiveMaximum": "lt"}
_TYPES = {"number": "float", "integer": "int", "boolean": "bool", "string": "str"}


def _valid_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A published options schema must be a JSON schema, or no spec could be checked against it."""
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise ValueError(f"not a JSON schema: {exc.message}") from None
    return schema


EntryName = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")]
# A distribution's name, normalised (trainboard.plugins.normalise_package): queue names are made of it.
PackageName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9.-]{0,199}$")]
OptionsSchema = Annotated[dict[str, Any], AfterValidator(_valid_schema)]


class ModelInfo(BaseModel):
    name: EntryName
    description: str = Field(default="", max_length=2000)
    task: Task
    framework: Literal["torch", "numpy"] = "torch"
    package: PackageName = Field(description="The distribution it comes from: trainboard for built-ins")
    package_version: str | None = Field(default=None, max_length=100)
    options: list[dict[str, Any]] = Field(default_factory=list, description="Form fields: type, default, bounds")
    options_schema: OptionsSchema = Field(description="JSON schema of the options object")


class DatasetInfo(BaseModel):
    name: EntryName
    description: str = Field(default="", max_length=2000)
    task: Task
    input_shape: list[int] = Field(description="(C, H, W) with the default options")
    num_classes: int = Field(ge=1)
    flip_invariant: bool = False
    package: PackageName
    package_version: str | None = Field(default=None, max_length=100)
    options: list[dict[str, Any]] = Field(default_factory=list)
    options_schema: OptionsSchema


class BrokenPluginInfo(BaseModel):
    package: str = Field(max_length=200)
    entry_point: str = Field(max_length=1000)
    error: str = Field(max_length=5000)


class WorkerCatalog(BaseModel):
    """What one worker publishes: who it is, the queues it consumes and what it can train."""

    name: str = Field(min_length=1, max_length=255, description="Celery node name, e.g. trainboard@gpu-box")
    hostname: str = Field(min_length=1, max_length=255)
    queues: list[str] = Field(max_length=1000)
    models: list[ModelInfo] = Field(max_length=1000)
    datasets: list[DatasetInfo] = Field(max_length=1000)
    broken: list[BrokenPluginInfo] = Field(default_factory=list, max_length=1000)
    environment: dict[str, Any] = Field(default_factory=dict, description="Versions and devices")


# --- options as form fields --------------------------------------------------------------------


def describe_schema(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The options of a JSON schema as form fields: name, type, default, description, bounds, choices."""
    described = []
    for name, prop in schema.get("properties", {}).items():
        if name == "name":
            continue
        item: dict[str, Any] = {
            "name": name,
            "type": _type_of(prop),
            "default": prop.get("default"),
            "description": prop.get("description"),
        }
        for json_key, key in _BOUNDS.items():
            bound = prop.get(json_key, _items(prop).get(json_key))  # a list's bounds are its items'
            if bound is not None:
                item[key] = bound
        if "enum" in prop:
            item["choices"] = prop["enum"]
        described.append(item)
    return described


def describe_options(options: type[BaseModel]) -> list[dict[str, Any]]:
    return describe_schema(options.model_json_schema())


def _items(prop: dict[str, Any]) -> dict[str, Any]:
    """The schema of a list's items (of a tuple's first item: the tuples of options are uniform)."""
    return prop.get("items") or (prop.get("prefixItems") or [{}])[0]


def _type_of(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return "choice"
    kind = prop.get("type")
    if kind == "array":
        item_kind = _items(prop).get("type")
        return f"list[{_TYPES.get(item_kind, item_kind or 'any')}]"
    return _TYPES.get(kind, kind or "any")


# --- checking a spec against the catalog -------------------------------------------------------


class SpecInvalid(ValueError):
    """The spec cannot run; `errors` are 422 items whose `loc` is inside the spec."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in errors))
        self.errors = errors


def _error(loc: list[Any], msg: str, kind: str = "value_error") -> dict[str, Any]:
    return {"type": kind, "loc": loc, "msg": msg}


def _non_finite(value: Any, loc: list[Any]) -> list[dict[str, Any]]:
    if isinstance(value, float) and not math.isfinite(value):
        return [_error(loc, "Input should be a finite number", "finite_number")]
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _non_finite(item, [*loc, key])]
    if isinstance(value, list):
        return [e for index, item in enumerate(value) for e in _non_finite(item, [*loc, index])]
    return []


_STRICT = {bool: (bool,), int: (int,), float: (int, float)}
_STRICT_WORDS = {bool: "a valid boolean", int: "a valid integer", float: "a valid number"}


def _loose_scalars(raw: Any, validated: Any, loc: list[Any]) -> list[tuple[list[Any], str]]:
    """Where a number or boolean of the validated spec came from another JSON type: pydantic reads
    "1" or true as 1 and 1 as true, a spec takes JSON's types as they are (issue 12, row 12)."""
    if isinstance(validated, BaseModel):
        validated = dict(validated)
    kind = type(validated)
    if kind in _STRICT:
        if isinstance(raw, bool) != (kind is bool) or not isinstance(raw, _STRICT[kind]):
            return [(loc, f"Input should be {_STRICT_WORDS[kind]}")]
        return []
    if isinstance(raw, dict) and isinstance(validated, dict):
        pairs = [(key, item, validated[key]) for key, item in raw.items() if key in validated]
    elif isinstance(raw, list) and isinstance(validated, list | tuple) and len(raw) == len(validated):
        pairs = [(index, *pair) for index, pair in enumerate(zip(raw, validated, strict=True))]
    else:
        return []
    return [found for key, item, value in pairs for found in _loose_scalars(item, value, [*loc, key])]


def _nul_characters(value: Any, loc: list[Any]) -> list[dict[str, Any]]:
    """A NUL character in any text of a spec (a folder, a name): no file system or store takes one."""
    if isinstance(value, str) and "\x00" in value:
        return [_error(loc, "must not contain a NUL character", "string_nul")]
    if isinstance(value, dict):
        return [e for key, item in value.items() for e in _nul_characters(item, [*loc, key])]
    if isinstance(value, list):
        return [e for index, item in enumerate(value) for e in _nul_characters(item, [*loc, index])]
    return []


_TYPE_WORDS = {"integer": "a valid integer", "number": "a valid number", "string": "a valid string",
               "boolean": "a valid boolean", "array": "a valid list", "object": "a valid dictionary"}


def _choices(values: list[Any]) -> str:
    shown = [repr(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


def _message(error: jsonschema.ValidationError) -> str:
    """A JSON-schema error in the words pydantic uses for the same rule, so that an option of a
    plugin's model reads like every other field."""
    kind, bound = error.validator, error.validator_value
    words = {
        "minimum": f"Input should be greater than or equal to {bound}",
        "maximum": f"Input should be less than or equal to {bound}",
        "exclusiveMinimum": f"Input should be greater than {bound}",
        "exclusiveMaximum": f"Input should be less than {bound}",
        "minItems": f"List should have at least {bound} item{'s' if bound != 1 else ''} after validation",
        "maxItems": f"List should have at most {bound} item{'s' if bound != 1 else ''} after validation",
        "minLength": f"String should have at least {bound} character{'s' if bound != 1 else ''}",
        "maxLength": f"String should have at most {bound} character{'s' if bound != 1 else ''}",
    }
    if kind in words:
        return words[kind]
    if kind == "enum":
        return f"Input should be {_choices(bound)}"
    if kind == "const":
        return f"Input should be {bound!r}"
    if kind == "type":
        kinds = bound if isinstance(bound, list) else [bound]
        return "Input should be " + " or ".join(_TYPE_WORDS.get(k, k) for k in kinds)
    return error.message


def _schema_errors(field: str, options: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The options against the entry's JSON schema, each error at the option it is about."""
    errors = _non_finite(options, [field])
    validator = jsonschema.Draft202012Validator(schema)
    for error in sorted(validator.iter_errors(options), key=lambda e: list(map(str, e.absolute_path))):
        loc = [field, *error.absolute_path]
        if error.validator == "additionalProperties":
            known = set(error.schema.get("properties", {}))
            for extra in sorted(set(error.instance) - known):
                errors.append(_error([*loc, extra], "Extra inputs are not permitted", "extra_forbidden"))
        elif error.validator == "required":
            missing = [name for name in error.validator_value if name not in error.instance]
            errors += [_error([*loc, name], "Field required", "missing") for name in missing]
        else:
            errors.append(_error(loc, _message(error)))
    return errors


def _with_defaults(options: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """The options with every one left out set to its default, as the options class would."""
    filled = dict(options)
    for name, prop in schema.get("properties", {}).items():
        if name not in filled and "default" in prop:
            filled[name] = prop["default"]
    return filled


def _not_offered(kind: str, name: str, offered: Mapping[str, Any]) -> str:
    names = ", ".join(sorted(offered)) or "nothing: no worker has published its catalog yet (start a worker)"
    return f"no worker offers {kind} {name!r}; offered: {names}"


def _entry_errors(raw: Any, offered: Mapping[str, ModelInfo | DatasetInfo], kind: str) -> list[dict[str, Any]]:
    """A model or dataset of the spec (as sent) against what the workers offer."""
    choice = name_shorthand(raw)
    if not isinstance(choice, dict) or not isinstance(choice.get("name"), str):
        return []  # the spec's own validation names the problem
    info = offered.get(choice["name"])
    if info is None:
        return [_error([kind, "name"], _not_offered(kind, choice["name"], offered))]
    return _schema_errors(kind, choice, info.options_schema)


def _untagged(loc: list[Any], raw: Any) -> list[Any]:
    """A location without the union tag pydantic puts after an optimizer or scheduler
    (optimizer.sgd.momentum -> optimizer.momentum): every location names the spec's own path."""
    if len(loc) >= 2 and loc[0] in NAMED_FIELDS and isinstance(raw, dict):
        entry = name_shorthand(raw.get(loc[0]))
        if isinstance(entry, dict) and entry.get("name") == loc[1]:
            return [loc[0], *loc[2:]]
    return loc


def check_spec(
    raw: Any,
    models: Mapping[str, ModelInfo],
    datasets: Mapping[str, DatasetInfo],
    *,
    max_parameters: int | None = None,
) -> TrainSpec:
    """The spec, validated and with every option's default filled in; raises `SpecInvalid` with
    every problem found, in the spec's field order: the fields of the spec, the options of its
    model and dataset against the published schemas, then what they cannot do together, then a
    model whose options prove it over `max_parameters` (trainboard/model_budget.py)."""
    errors: list[dict[str, Any]] = _nul_characters(raw, [])
    spec = None
    try:
        spec = TrainSpec.model_validate(raw)
        errors += [_error(_untagged(loc, raw), msg, "type_error") for loc, msg in _loose_scalars(raw, spec, [])]
    except ValidationError as exc:
        errors += [_error(_untagged(list(e["loc"]), raw), e["msg"], e["type"]) for e in exc.errors()]
    if isinstance(raw, dict):
        errors += _entry_errors(raw.get("model"), models, "model")
        errors += _entry_errors(raw.get("dataset"), datasets, "dataset")
    if errors or spec is None:
        order = list(TrainSpec.model_fields)
        errors.sort(key=lambda e: order.index(e["loc"][0]) if e["loc"] and e["loc"][0] in order else len(order))
        raise SpecInvalid(errors)
    model, dataset = models[spec.model.name], datasets[spec.dataset.name]
    spec = spec.model_copy(update={
        "model": EntryChoice.model_validate(_with_defaults(spec.model.model_dump(), model.options_schema)),
        "dataset": EntryChoice.model_validate(_with_defaults(spec.dataset.model_dump(), dataset.options_schema)),
    })  # fmt: skip
    problems = rule_problems(spec, model_task=model.task, framework=model.framework, dataset_task=dataset.task)
    if problems:
        raise SpecInvalid(problems)
    options = spec.model.model_dump()
    floor, named = parameter_floor(options, model.options_schema)
    if max_parameters is not None and floor > max_parameters:
        message = over_budget(spec.model.name, floor, max_parameters, options, at_least=True)
        raise SpecInvalid([_error(["model", named[0]], message, "parameter_budget")])
    return spec
