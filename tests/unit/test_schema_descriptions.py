"""Every type, field, argument and enum value of the schema has a description (what GraphiQL
and codegen show a client developer), in the code and in the committed schema.graphql; and the
catalogue of descriptions (app.graphql.core.catalogue) names only what exists, so a renamed
field cannot leave its description behind. A new field without a description fails here at
once, without a server (scripts/schema-lint runs graphql-schema-linter in CI as well)."""

from __future__ import annotations

from pathlib import Path

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
)

from app.graphql.core.catalogue import CATALOGUE
from app.graphql.core.descriptions import words
from app.graphql.schema import schema

BUILT_IN = {"String", "Int", "Float", "Boolean", "ID"}
SDL = Path(__file__).resolve().parents[2] / "schema.graphql"


def undescribed(built: GraphQLSchema) -> list[str]:
    """Every element without a (non-blank) description, walked with graphql-core alone."""
    found = []

    def check(key: str, description: str | None) -> None:
        if not (description or "").strip():
            found.append(key)

    for name, named in built.type_map.items():
        if name.startswith("__") or name in BUILT_IN:
            continue
        check(name, named.description)
        if isinstance(named, GraphQLObjectType | GraphQLInterfaceType):
            for field_name, field in named.fields.items():
                check(f"{name}.{field_name}", field.description)
                for arg_name, argument in field.args.items():
                    check(f"{name}.{field_name}({arg_name})", argument.description)
        elif isinstance(named, GraphQLInputObjectType):
            for field_name, field in named.fields.items():
                check(f"{name}.{field_name}", field.description)
        elif isinstance(named, GraphQLEnumType):
            for value_name, value in named.values.items():
                check(f"{name}.{value_name}", value.description)
    return found


def test_every_element_of_the_schema_has_a_description():
    assert undescribed(schema._schema) == []


def test_every_element_of_the_committed_sdl_has_a_description():
    assert undescribed(build_schema(SDL.read_text())) == []


def test_the_catalogue_names_only_what_exists():
    built = schema._schema
    stale = []
    for key in CATALOGUE:
        type_name, _, rest = key.partition(".")
        named = built.type_map.get(type_name)
        if named is None:
            stale.append(key)
        elif rest:
            member, _, argument = rest.rstrip(")").partition("(")
            parts = getattr(named, "values", None) or getattr(named, "fields", {})
            if member not in parts or (argument and argument not in parts[member].args):
                stale.append(key)
    assert stale == []


def test_the_detector_sees_a_missing_description():
    """The check above would fail for an undescribed element (it is not vacuous)."""
    bare = build_schema('"""Root."""\ntype Query {\n  """Hi."""\n  hello(name: String): String\n}')
    assert undescribed(bare) == ["Query.hello(name)"]


@pytest.mark.parametrize(("name", "expected"), [("MallOrder", "mall order"), ("Tier", "tier")])
def test_generated_descriptions_speak_in_words(name, expected):
    assert words(name) == expected
