"""Every type, field, argument and enum value of the schema has a description: what a client
developer reads in GraphiQL and codegen copies into their types.

A description written where the field is declared (`strawberry.field(description=...)`) wins.
Otherwise the schema takes it from, in order:
1. the catalogue (`CATALOGUE` in app/graphql/core/catalogue.py), keyed `Type`, `Type.field`,
   `Type.field(argument)` or `Enum.VALUE`: for what a rule cannot say (enum values, the domain's
   words), and for the domain's enums, which know nothing of GraphQL;
2. the conventions every context shares, said once here: connections and edges, payloads'
   `errors` and `replayed`, `idempotencyKey`, `first` / `after`, unit and member references.

`tests/unit/test_schema_descriptions.py` fails for anything left without one and for a catalogue
entry that names nothing (a renamed field), so the two cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}

KEY = (
    "Your unique key for this request (1-100 characters): a retry with the same key returns the"
    " first result with `replayed: true`; the same key with another request is"
    " IDEMPOTENCY_CONFLICT."
)
SHARED_FIELDS = {
    "errors": (
        "What was refused and why (`code`, `message`, the input `field` at fault); empty when the"
        " mutation succeeded. A refused mutation records nothing."
    ),
    "replayed": (
        "True when this answers a retry with the same `idempotencyKey`: the first request's"
        " result, and nothing changed now."
    ),
    "idempotencyKey": KEY,
    "businessUnitId": "The business unit: its id or its code (e.g. `HOTEL`).",
    "memberId": "The member's id.",
    "createdAt": "When it was recorded (ISO-8601 with offset).",
    "updatedAt": "When it last changed (ISO-8601 with offset).",
}
SHARED_ARGUMENTS = {
    "first": "How many items (default 20, at most 100).",
    "after": "The `endCursor` of the page before; omit for the first page.",
    "businessUnitId": SHARED_FIELDS["businessUnitId"],
    "memberId": SHARED_FIELDS["memberId"],
    "period": "A calendar month, `YYYY-MM`, in the group's time zone.",
    "input": "What to do: see the input type.",
}


def words(name: str) -> str:
    """`MallOrder` -> "mall order"."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name).lower()


def operations_by_type(schema: GraphQLSchema) -> dict[str, list[str]]:
    """Each payload and input type: the root fields that return or take it."""
    found: dict[str, list[str]] = {}
    for root in (schema.query_type, schema.mutation_type, schema.subscription_type):
        for name, field in (root.fields if root else {}).items():
            found.setdefault(get_named_type(field.type).name, []).append(name)
            for argument in field.args.values():
                found.setdefault(get_named_type(argument.type).name, []).append(name)
    return found


def _conventional_type(name: str, users: list[str]) -> str | None:
    quoted = [f"`{u}`" for u in dict.fromkeys(users)]
    named = " and ".join(quoted) if len(quoted) < 3 else ", ".join(quoted)
    for suffix, text in (
        ("Connection", "A page of {}s: a keyset cursor connection."),
        ("Edge", "One {} in a page, with its cursor."),
    ):
        if name.endswith(suffix) and name != suffix:
            return text.format(words(name[: -len(suffix)]))
    if name.endswith("Payload") and users:
        verb = "returns" if len(quoted) == 1 else "return"
        return f"What {named} {verb}: the result, or the `errors` that refused it."
    if name.endswith("Input") and users:
        return f"What {named} {'takes' if len(quoted) == 1 else 'take'}."
    return None


def _conventional_field(schema: GraphQLSchema, type_name: str, name: str) -> str | None:
    named = schema.type_map[type_name]
    field = named.fields[name]  # type: ignore[attr-defined]
    of_type = get_named_type(field.type).name
    if type_name.endswith("Connection") and name == "edges":
        return "This page's items in the list's order, each with its cursor."
    if type_name.endswith("Connection") and name == "pageInfo":
        return "Whether there is a next page, and the cursor to ask for it."
    if type_name.endswith("Edge") and name == "cursor":
        return "Opaque: pass as `after` for the items after this one."
    if type_name.endswith("Edge") and name == "node":
        return f"The {words(type_name[:-4])}."
    if name == "id":
        return f"The {words(type_name)}'s stable id (a normalised client cache's key)."
    if type_name.endswith("Payload"):
        if name == "balance":
            return "The member's points after this mutation; null when it was refused."
        if name == "transaction":
            return "The points transaction this recorded; null when it was refused."
        if isinstance(schema.type_map[of_type], GraphQLObjectType) and of_type != "UserError":
            return f"The {words(of_type)} as this mutation left it; null when it was refused."
    if isinstance(named, GraphQLInputObjectType) and name.endswith("Id") and of_type == "ID":
        return f"The {words(name[:-2])}'s id."
    if isinstance(named, GraphQLInputObjectType) and name == "reason":
        return "Why, in a few words: kept with the change in the operators' audit trail."
    return SHARED_FIELDS.get(name)


def _mirrored(schema: GraphQLSchema, type_name: str, name: str) -> str | None:
    """An input's field as the object it creates or changes describes it (`CreateRightInput.name`
    as `Right.name`); an update's field says that leaving it out keeps the value."""
    base = re.sub(r"^(Create|Update|Set)|Input$", "", type_name)
    for source in (base, f"Create{base}Input", f"{base}Input"):
        named = schema.type_map.get(source)
        if source == type_name or not isinstance(named, GraphQLObjectType | GraphQLInputObjectType):
            continue
        field = named.fields.get(name)
        if field is not None and field.description:
            if type_name.startswith("Update"):
                return f"{field.description} Omit to keep the current value."
            return field.description
    return None


def elements(schema: GraphQLSchema) -> Iterator[tuple[str, Any]]:
    """(catalogue key, graphql-core element) of everything that takes a description."""
    for name, named in schema.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        yield name, named
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                yield f"{name}.{field_name}", field
                for arg_name, argument in field.args.items():
                    yield f"{name}.{field_name}({arg_name})", argument
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                yield f"{name}.{field_name}", field
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                yield f"{name}.{value_name}", value


def _convention(schema: GraphQLSchema, key: str, users: dict[str, list[str]]) -> str | None:
    match = re.fullmatch(r"(\w+)(?:\.(\w+)(?:\((\w+)\))?)?", key)
    assert match is not None, key
    type_name, field_name, arg_name = match.groups()
    named: GraphQLNamedType = schema.type_map[type_name]
    if field_name is None:
        return _conventional_type(type_name, users.get(type_name, []))
    if isinstance(named, GraphQLEnumType):
        return None
    if arg_name is not None:
        if arg_name == "id":
            field = named.fields[field_name]  # type: ignore[attr-defined]
            return f"The {words(get_named_type(field.type).name)}'s id."
        if arg_name not in SHARED_ARGUMENTS and arg_name.endswith("Id"):
            return f"The {words(arg_name[:-2])}'s id."
        return SHARED_ARGUMENTS.get(arg_name)
    return _conventional_field(schema, type_name, field_name)


def describe(schema: GraphQLSchema, catalogue: Mapping[str, str]) -> list[str]:
    """Give each element without a description its catalogue entry or the convention's text;
    returns the keys still without one."""
    users = operations_by_type(schema)
    for key, element in elements(schema):
        if not element.description:
            element.description = catalogue.get(key) or _convention(schema, key, users)
    missing = []
    for key, element in elements(schema):  # inputs mirror the objects, described by now
        if not element.description and key.count(".") == 1 and "(" not in key:
            type_name, name = key.split(".")
            if isinstance(schema.type_map[type_name], GraphQLInputObjectType):
                element.description = _mirrored(schema, type_name, name)
        if not element.description:
            missing.append(key)
    return missing
