"""What a query costs before it runs: a number per field, multiplied by the page sizes above it.

The rule, field by field over the operation chosen to run (fragments and inline fragments
expanded, `@skip`/`@include` obeyed, variables resolved):

- cost(field) = own cost + size x cost of its selection.
- Own cost: `FIELD_COSTS["Type.field"]` when mapped; else 10 for a mutation's root field, 1 for
  a field returning an object, 0 for a scalar or enum leaf. Introspection (`__schema`,
  `__type`, `__typename`) costs nothing: it is served from memory, bounded by the depth and
  token limits, and off in production.
- Size: for a connection's `edges` the page asked for by the connection field's `first`
  argument, or the default page size when absent, capped at the page maximum (100) exactly
  as the resolvers clamp it (its `pageInfo` is counted once); for another list its expected
  length from `LIST_SIZES` (default 10); 1 otherwise.

The cost depends on the variables (`first: $n`), so it is computed per request at execution
time (`app.graphql.core.limits.QueryCost`), not in a validation rule: the validation cache is keyed
by the document alone and would hand one request's verdict to the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    BooleanValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_composite_type,
    is_list_type,
)

from app.graphql.core.pagination import DEFAULT_FIRST, MAX_FIRST

MUTATION_COST = 10
OBJECT_COST = 1
DEFAULT_LIST_SIZE = 10

FIELD_COSTS: dict[str, int] = {
    # Root lookups that do more than read a row by key.
    "Query.members": 10,  # a search over every member
    "Query.memberByCode": 10,  # a Redis lookup and a link written
    "Query.memberByExternalId": 5,
    "Query.previewEarn": 10,  # the earning rules, evaluated
    # A stream held open: a channel on the worker's pub/sub and a balance read per change.
    "Subscription.pointsChanged": 10,
    # Per-member reads with a query of their own (batched, but not free).
    "Member.transactions": 5,
    "Member.tier": 3,
    "Member.tierHistory": 3,
    "Member.mallOrders": 5,
    "Member.dynamicCode": 10,  # a Redis write per call
    "PointsBalance.expiring": 5,
    "Query.activityProgress": 5,
    # Reads from the formats' own systems (a remote call per unit when configured so).
    "Member.activity": 20,
    "Member.overview": 5,
    "FormatOverview.usage": 10,
    "FormatOverview.activity": 10,
    # Operator reads over many rows.
    "Query.operatorActions": 5,
    "Query.abuseFlags": 5,
    "Query.campaigns": 5,
    "Query.simulateCampaign": 500,
    # Figures: summary tables, but aggregated over a period (RFM ranks every member scored).
    "Query.programFigures": 10,
    "Query.formatOverlap": 20,
    "Query.memberSegments": 50,
    "Query.referralStats": 20,
    "Query.expiringPoints": 10,  # replays a period's orders through a campaign
    # Mutations write a ledger transaction; these do the most work.
    "Mutation.earnPoints": 20,
    "Mutation.spendPoints": 20,
    "Mutation.reverseTransaction": 20,
    "Mutation.recordActivity": 20,
    # A month of settlement lines aggregated (a lookup once closed); closing stores one.
    "Query.settlementStatement": 50,
    "Mutation.closeSettlementPeriod": 100,
    "Query.pointBlocks": 5,  # one indexed read of the blocks
}

LIST_SIZES: dict[str, int] = {
    "Query.businessUnits": 10,
    "Query.tiers": 10,
    "Member.tierHistory": 20,
    "PointsBalance.expiring": 10,
    "MemberOverview.formats": 6,  # one entry per business unit
    "Query.pointBlocks": 24,  # a unit buys a block a month or so
}


class QueryCostError(Exception):
    """The document cannot be priced (no such operation); execution reports why."""


def query_cost(
    schema: GraphQLSchema,
    document: Any,
    *,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
) -> int:
    """The cost of the operation `operation_name` of a validated document."""
    operation = select_operation(document, operation_name)
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    root = schema.get_root_type(operation.operation)
    if root is None:
        raise QueryCostError(f"the schema has no {operation.operation.value} type")
    walker = _Walker(schema, fragments, dict(variables or {}))
    mutation = operation.operation == OperationType.MUTATION
    return walker.selection_cost(root, operation.selection_set, mutation_root=mutation)


def select_operation(document: Any, operation_name: str | None) -> OperationDefinitionNode:
    """The operation of the document that runs: the one named, or the only one."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [o for o in operations if o.name and o.name.value == operation_name]
    if len(operations) != 1:
        raise QueryCostError("no single operation to price")
    return operations[0]


class _Walker:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: dict[str, FragmentDefinitionNode],
        variables: dict[str, Any],
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.expanding: set[str] = set()  # cycle guard (validation forbids cycles anyway)

    def selection_cost(
        self,
        parent: Any,
        selection_set: SelectionSetNode | None,
        *,
        mutation_root: bool = False,
        page: int = 1,
    ) -> int:
        if selection_set is None:
            return 0
        total = 0
        for node in selection_set.selections:
            if not self._included(node):
                continue
            if isinstance(node, FieldNode):
                total += self.field_cost(parent, node, mutation_root=mutation_root, page=page)
            elif isinstance(node, InlineFragmentNode):
                on = self._type(node.type_condition.name.value) if node.type_condition else parent
                total += self.selection_cost(
                    on, node.selection_set, mutation_root=mutation_root, page=page
                )
            elif isinstance(node, FragmentSpreadNode):
                name = node.name.value
                fragment = self.fragments.get(name)
                if fragment is None or name in self.expanding:
                    continue
                self.expanding.add(name)
                on = self._type(fragment.type_condition.name.value)
                total += self.selection_cost(
                    on, fragment.selection_set, mutation_root=mutation_root, page=page
                )
                self.expanding.discard(name)
        return total

    def field_cost(self, parent: Any, node: FieldNode, *, mutation_root: bool, page: int) -> int:
        name = node.name.value
        if name.startswith("__"):
            return 0
        fields = getattr(parent, "fields", None) or {}
        definition: GraphQLField | None = fields.get(name)
        if definition is None:
            return 0  # unknown field: validation has refused the document already
        key = f"{parent.name}.{name}"
        named = get_named_type(definition.type)
        if key in FIELD_COSTS:
            own = FIELD_COSTS[key]
        elif mutation_root:
            own = MUTATION_COST
        else:
            own = OBJECT_COST if is_composite_type(named) else 0
        if node.selection_set is None:
            return own
        if "first" in definition.args:  # a connection: its edges are the page
            return own + self.selection_cost(named, node.selection_set, page=self._page_size(node))
        return own + self._size(parent, definition, key, page) * self.selection_cost(
            named, node.selection_set
        )

    @staticmethod
    def _size(parent: Any, definition: GraphQLField, key: str, page: int) -> int:
        if not is_list_type(get_nullable_type(definition.type)):
            return 1
        if parent.name.endswith("Connection") and key.endswith(".edges"):
            return page
        return LIST_SIZES.get(key, DEFAULT_LIST_SIZE)

    def _page_size(self, node: FieldNode) -> int:
        value: Any = None
        for argument in node.arguments or ():
            if argument.name.value != "first":
                continue
            literal = argument.value
            if isinstance(literal, VariableNode):
                value = self.variables.get(literal.name.value)
            elif isinstance(literal, IntValueNode):
                value = int(literal.value)
        if not isinstance(value, int) or isinstance(value, bool):
            return DEFAULT_FIRST
        return max(0, min(value, MAX_FIRST))

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            name = directive.name.value
            if name not in ("skip", "include"):
                continue
            condition = self._boolean(directive)
            if (name == "skip" and condition is True) or (name == "include" and condition is False):
                return False
        return True

    def _boolean(self, directive: Any) -> bool | None:
        for argument in directive.arguments or ():
            if argument.name.value == "if":
                literal = argument.value
                if isinstance(literal, VariableNode):
                    return self.variables.get(literal.name.value)
                if isinstance(literal, BooleanValueNode):
                    return literal.value
        return None

    def _type(self, name: str) -> GraphQLObjectType | Any:
        return self.schema.get_type(name)
