"""Policy eligibility in CEL (the Common Expression Language), with cel-python (`celpy`).

An expression sees two maps: `household` and, for rules about individual members, `person`:

    household: category, status, monthly_income (double), per_capita_income (double), size, causes (list),
               zero_employment, street_code; derived from the Parameters: dibao_line (double)
    person:    age, sex, work_ability, employment_status, disability_level, chronic_illness, education,
               pension_insured, medical_insured, skills (list); derived: working_age (16 ≤ age < retirement)

`compile_expression` rejects, with the line and column of the fault, what would fail for every household:
syntax errors, unknown names and attributes, unknown functions, comparisons that CEL never allows (an int with
a double: write `900.0` for a double, `16` for an int) and expressions that are not true/false. A rule that
mentions `person` is evaluated per member; one that does not, once for the household.

cel-python's transpiler is ~5–10× faster than its tree interpreter, but it evaluates through module-level
state, so evaluations are serialised with a lock (about 0.1–0.2 ms each, conversion included).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.celparser import CELParseError, CELParser
from celpy.evaluation import CELEvalError, TranspilerTree, base_functions

from uplift.registry.domain.parameters import DEFAULT_PARAMETERS, Parameters

HOUSEHOLD_FIELDS: dict[str, str] = {
    "category": "string",
    "status": "string",
    "monthly_income": "double",
    "per_capita_income": "double",
    "size": "int",
    "causes": "list<string>",
    "zero_employment": "bool",
    "street_code": "string",
    "dibao_line": "double",  # derived: the line in force (from Parameters), so rules need not repeat it
}
PERSON_FIELDS: dict[str, str] = {
    "age": "int",
    "sex": "string",
    "work_ability": "string",
    "employment_status": "string",
    "disability_level": "int",
    "chronic_illness": "bool",
    "education": "string",
    "pension_insured": "bool",
    "medical_insured": "bool",
    "skills": "list<string>",
    "working_age": "bool",  # derived: 16 ≤ age < retirement age by sex (from Parameters)
}
VARIABLES: dict[str, dict[str, str]] = {"household": HOUSEHOLD_FIELDS, "person": PERSON_FIELDS}

# A household and a member that every valid expression must evaluate on without error.
SAMPLE_HOUSEHOLD: dict[str, Any] = {
    "category": "dibao",
    "status": "enrolled",
    "monthly_income": 1200.0,
    "per_capita_income": 400.0,
    "size": 3,
    "causes": ["illness", "unemployment"],
    "zero_employment": True,
    "street_code": "420102001",
}
SAMPLE_PERSON: dict[str, Any] = {
    "age": 45,
    "sex": "female",
    "work_ability": "full",
    "employment_status": "unemployed",
    "disability_level": 0,
    "chronic_illness": False,
    "education": "junior_high",
    "pension_insured": False,
    "medical_insured": True,
    "skills": ["cleaning"],
}

_MACROS = {"all": "bool", "exists": "bool", "exists_one": "bool", "map": "list", "filter": "list"}
_FUNCTION_TYPES = {
    "size": "int",
    "int": "int",
    "uint": "uint",
    "double": "double",
    "string": "string",
    "bool": "bool",
    "contains": "bool",
    "startsWith": "bool",
    "endsWith": "bool",
    "matches": "bool",
}
_FUNCTIONS = {name for name in base_functions if name[0].isalpha()}
_LITERAL_TYPES = {
    "INT_LIT": "int",
    "UINT_LIT": "uint",
    "FLOAT_LIT": "double",
    "STRING_LIT": "string",
    "MLSTRING_LIT": "string",
    "BYTES_LIT": "bytes",
    "BOOL_LIT": "bool",
    "NULL_LIT": "null",
}
_NUMERIC = {"int", "uint", "double"}
_ORDERED = {"int", "uint", "double", "string", "bytes", "bool"}


class InvalidExpression(ValueError):
    """The expression is rejected; `line` and `column` (1-based) point at the fault."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(f"{message} (line {line}, column {column})")
        self.message = message
        self.line = line
        self.column = column


class RuleEvaluationError(ValueError):
    """An expression failed on this household's data (e.g. a division by zero)."""


@dataclass(frozen=True, eq=False)
class CompiledRule:
    expression: str
    uses_person: bool
    program: celpy.Runner = field(repr=False)


@dataclass(frozen=True)
class Eligibility:
    """`eligible`: the household qualifies (for a per-person rule: at least one member does)."""

    eligible: bool
    applies_to: str  # "household" or "person"
    person_ids: tuple[str, ...] = ()


# Re-entrant: compiling evaluates the rule on a sample household under the same lock.
_celpy_lock = threading.RLock()


def _environment() -> celpy.Environment:
    # celpy keeps one parser per process, built with the tree class of the first Environment created. The
    # transpiler needs its own tree class (which the interpreter also accepts), so replace a parser built for
    # the interpreter.
    parser = CELParser.CEL_PARSER
    if parser is not None and parser.options.tree_class is not TranspilerTree:
        CELParser.CEL_PARSER = None
    return celpy.Environment(runner_class=celpy.CompiledRunner)


@functools.lru_cache(maxsize=2048)
def compile_expression(expression: str) -> CompiledRule:
    """Parse and check `expression`; the result is cached by its text."""
    with _celpy_lock:
        return _compile(expression)


def _compile(expression: str) -> CompiledRule:
    environment = _environment()
    try:
        tree = environment.compile(expression)
    except CELParseError as error:
        raise _syntax_error(expression, error) from None
    checker = _Checker()
    result_type = checker.type_of(tree, frozenset())
    if result_type is not None and result_type != "bool":
        raise InvalidExpression(f"the expression must be true or false, not {result_type}", 1, 1)
    program = environment.program(tree)
    rule = CompiledRule(expression, checker.uses_person, program)
    try:
        sample_person = SAMPLE_PERSON if rule.uses_person else None
        _run(rule, _activation(SAMPLE_HOUSEHOLD, sample_person, DEFAULT_PARAMETERS))
    except RuleEvaluationError as error:
        raise InvalidExpression(f"fails on a sample household: {error}", 1, 1) from None
    return rule


def evaluate(
    rule: CompiledRule,
    household: Mapping[str, Any],
    person: Mapping[str, Any] | None = None,
    params: Parameters = DEFAULT_PARAMETERS,
) -> bool:
    """True when the household (and `person`, for a rule about members) satisfies the rule.

    `params` (in force on the day of the question) give the derived `dibao_line` and `working_age`.
    """
    if rule.uses_person and person is None:
        raise ValueError("this rule is about a member: pass `person`")
    return _run(rule, _activation(household, person, params))


@dataclass(frozen=True)
class EligibilityFacts:
    """A household and its members converted to CEL once, to be checked against many rules."""

    household: celtypes.MapType
    persons: tuple[tuple[str, celtypes.MapType], ...]


def eligibility_facts(
    household: Mapping[str, Any],
    persons: Sequence[Mapping[str, Any]],
    params: Parameters = DEFAULT_PARAMETERS,
) -> EligibilityFacts:
    """Convert `household` and `persons` (each with its `person_id`) for evaluation."""
    return EligibilityFacts(
        _household_map(household, params),
        tuple((str(person["person_id"]), _person_map(person, params)) for person in persons),
    )


def eligible_persons(
    rule: CompiledRule,
    household: Mapping[str, Any],
    persons: Sequence[Mapping[str, Any]],
    params: Parameters = DEFAULT_PARAMETERS,
) -> Eligibility:
    """Which members qualify (by the `person_id` of each `persons` entry), or whether the household does.

    A rule that mentions `person` is evaluated per member and the household is eligible when one qualifies;
    any other rule is evaluated once, for the household as a whole, and names no members.
    """
    return assess(rule, eligibility_facts(household, persons, params))


def eligible_policies(
    rules: Mapping[str, CompiledRule],
    household: Mapping[str, Any],
    persons: Sequence[Mapping[str, Any]],
    params: Parameters = DEFAULT_PARAMETERS,
) -> dict[str, Eligibility]:
    """`eligible_persons` for every rule (by policy code), converting the household only once."""
    facts = eligibility_facts(household, persons, params)
    return {code: assess(rule, facts) for code, rule in rules.items()}


def assess(rule: CompiledRule, facts: EligibilityFacts) -> Eligibility:
    if not rule.uses_person:
        return Eligibility(_run(rule, {"household": facts.household}), "household")
    qualifying = tuple(
        person_id for person_id, person in facts.persons if _run(rule, {"household": facts.household, "person": person})
    )
    return Eligibility(bool(qualifying), "person", qualifying)


def _run(rule: CompiledRule, activation: dict[str, celtypes.Value]) -> bool:
    try:
        with _celpy_lock:
            result = rule.program.evaluate(activation)
    except CELEvalError as error:
        raise RuleEvaluationError(_eval_message(error)) from None
    if not isinstance(result, celtypes.BoolType):
        raise RuleEvaluationError(f"the expression gave {type(result).__name__}, not true or false")
    return bool(result)


def _eval_message(error: CELEvalError) -> str:
    # The transpiler wraps the real error as ("evaluation error", type, (inner args…)).
    args: tuple[Any, ...] = error.args
    while len(args) >= 3 and isinstance(args[2], tuple) and args[2] and args[0] == "evaluation error":
        args = args[2]
    return str(args[0]) if args else "evaluation error"


def _activation(
    household: Mapping[str, Any], person: Mapping[str, Any] | None, params: Parameters
) -> dict[str, celtypes.Value]:
    activation: dict[str, celtypes.Value] = {"household": _household_map(household, params)}
    if person is not None:
        activation["person"] = _person_map(person, params)
    return activation


def _household_map(household: Mapping[str, Any], params: Parameters) -> celtypes.MapType:
    return _cel_map({**household, "dibao_line": params.dibao_line}, HOUSEHOLD_FIELDS, "household")


def _person_map(person: Mapping[str, Any], params: Parameters) -> celtypes.MapType:
    age, sex = person.get("age"), person.get("sex")
    working_age = isinstance(age, int) and sex in ("male", "female") and params.is_working_age(age, sex)
    return _cel_map({**person, "working_age": working_age}, PERSON_FIELDS, "person")


def _cel_map(source: Mapping[str, Any], fields: Mapping[str, str], name: str) -> celtypes.MapType:
    values: dict[celtypes.Value, celtypes.Value] = {}
    for field_name, kind in fields.items():
        if field_name not in source:
            raise ValueError(f"{name} lacks {field_name}")
        values[celtypes.StringType(field_name)] = _cel_value(source[field_name], kind, f"{name}.{field_name}")
    return celtypes.MapType(values)


def _cel_value(value: Any, kind: str, where: str) -> celtypes.Value:
    if kind == "double" and isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return celtypes.DoubleType(float(value))
    if kind == "int" and isinstance(value, int) and not isinstance(value, bool):
        return celtypes.IntType(value)
    if kind == "bool" and isinstance(value, bool):
        return celtypes.BoolType(value)
    if kind == "string" and isinstance(value, str):
        return celtypes.StringType(value)
    if kind == "list<string>" and isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return celtypes.ListType([celtypes.StringType(str(item)) for item in items])
    raise ValueError(f"{where} must be {kind}, got {value!r}")


def _syntax_error(expression: str, error: CELParseError) -> InvalidExpression:
    cause = error.__context__
    line, column = error.line or 1, error.column or 1
    if isinstance(cause, lark.exceptions.UnexpectedToken) and cause.token.type == "$END":
        lines = expression.split("\n")
        return InvalidExpression("unexpected end of expression", len(lines), len(lines[-1]) + 1)
    if isinstance(cause, lark.exceptions.UnexpectedToken):
        return InvalidExpression(f"unexpected {str(cause.token)!r}", line, column)
    if isinstance(cause, lark.exceptions.UnexpectedCharacters):
        return InvalidExpression(f"unexpected character {cause.char!r}", line, column)
    return InvalidExpression("syntax error", line, column)


def _position(node: lark.Tree | lark.Token) -> tuple[int, int]:
    if isinstance(node, lark.Token):
        return node.line or 1, node.column or 1
    if getattr(node.meta, "empty", True):
        return 1, 1
    return node.meta.line, node.meta.column


def _base(type_name: str | None) -> str | None:
    return type_name.split("<", 1)[0] if type_name else None


class _Checker:
    """A small static pass over the parse tree: names, attributes, functions and the obvious type errors.

    `type_of` returns a CEL type name ("int", "double", "string", "bool", "list<string>", …) or None when the
    type is not known statically (then the check is left to evaluation).
    """

    def __init__(self) -> None:
        self.uses_person = False

    def _children(self, node: lark.Tree) -> list[Any]:
        return list(node.children)

    def type_of(self, node: lark.Tree, bound: frozenset[str]) -> str | None:
        children = self._children(node)
        kind = node.data
        if (
            kind
            in {
                "expr",
                "conditionalor",
                "conditionaland",
                "relation",
                "addition",
                "multiplication",
                "unary",
                "member",
                "primary",
            }
            and len(children) == 1
        ):
            return self.type_of(children[0], bound)
        handler = getattr(self, f"_{kind}", None)
        if handler is None:
            line, column = _position(node)
            raise InvalidExpression(f"{kind.replace('_', ' ')} is not supported", line, column)
        result: str | None = handler(node, children, bound)
        return result

    def _expect_bool(self, node: lark.Tree, bound: frozenset[str], role: str) -> None:
        found = self.type_of(node, bound)
        if found is not None and found != "bool":
            line, column = _position(node)
            raise InvalidExpression(f"{role} must be true or false, not {found}", line, column)

    def _expr(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        condition, when_true, when_false = children
        self._expect_bool(condition, bound, "the condition of ?:")
        first, second = self.type_of(when_true, bound), self.type_of(when_false, bound)
        return first if first == second else None

    def _conditionalor(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str:
        for operand in children:
            self._expect_bool(operand, bound, "each side of ||")
        return "bool"

    def _conditionaland(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str:
        for operand in children:
            self._expect_bool(operand, bound, "each side of &&")
        return "bool"

    def _relation(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str:
        operator, right = children
        left_type = self.type_of(operator.children[0], bound)
        right_type = self.type_of(right, bound)
        line, column = _position(right)
        if operator.data == "relation_in":
            if right_type is not None and _base(right_type) not in {"list", "map"}:
                raise InvalidExpression(f"`in` needs a list or a map on its right, not {right_type}", line, column)
            element = right_type.split("<", 1)[1].rstrip(">") if right_type and "<" in right_type else None
            if left_type and element and left_type != element:
                raise InvalidExpression(f"cannot look for {left_type} in a list of {element}", line, column)
            return "bool"
        if left_type is None or right_type is None or "null" in (left_type, right_type):
            return "bool"
        if left_type != right_type and {left_type, right_type} <= _NUMERIC:
            raise InvalidExpression(
                f"cannot compare {left_type} with {right_type}: CEL does not convert numbers "
                "(write 900.0 for a double, 16 for an int)",
                line,
                column,
            )
        if _base(left_type) != _base(right_type):
            raise InvalidExpression(f"cannot compare {left_type} with {right_type}", line, column)
        if operator.data not in {"relation_eq", "relation_ne"} and left_type not in _ORDERED:
            raise InvalidExpression(f"{left_type} values have no order", line, column)
        return "bool"

    def _arithmetic(self, children: list[Any], bound: frozenset[str]) -> str | None:
        operator, right = children
        left_type = self.type_of(operator.children[0], bound)
        right_type = self.type_of(right, bound)
        if left_type and right_type and left_type != right_type:
            line, column = _position(right)
            raise InvalidExpression(
                f"cannot combine {left_type} with {right_type}: CEL does not convert numbers", line, column
            )
        return left_type if left_type == right_type else None

    def _addition(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        return self._arithmetic(children, bound)

    def _multiplication(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        return self._arithmetic(children, bound)

    def _unary(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        operator, operand = children
        if operator.data == "unary_not":
            self._expect_bool(operand, bound, "the operand of !")
            return "bool"
        operand_type = self.type_of(operand, bound)
        if operand_type is not None and operand_type not in _NUMERIC:
            line, column = _position(operand)
            raise InvalidExpression(f"cannot negate {operand_type}", line, column)
        return operand_type

    def _variable(self, member: lark.Tree, bound: frozenset[str]) -> str | None:
        """The name when `member` is just `household` or `person` (not a comprehension variable)."""
        node = member
        while isinstance(node, lark.Tree) and node.data in {"member", "primary"} and len(node.children) == 1:
            node = node.children[0]
        if isinstance(node, lark.Tree) and node.data == "ident":
            name = str(node.children[0])
            if name in VARIABLES and name not in bound:
                return name
        return None

    def _member_dot(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        member, attribute = children
        variable = self._variable(member, bound)
        self.type_of(member, bound)
        if variable is None:
            return None
        fields = VARIABLES[variable]
        if str(attribute) not in fields:
            line, column = _position(attribute)
            known = ", ".join(sorted(fields))
            raise InvalidExpression(f"{variable} has no attribute {attribute!s} (it has {known})", line, column)
        return fields[str(attribute)]

    def _member_dot_arg(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        member, method = children[0], str(children[1])
        arguments = list(children[2].children) if len(children) > 2 and children[2] is not None else []
        receiver = self.type_of(member, bound)
        if method in _MACROS:
            if len(arguments) not in (2, 3) or self._bound_name(arguments[0]) is None:
                line, column = _position(children[1])
                raise InvalidExpression(f"{method}() needs a variable name and a condition", line, column)
            name = self._bound_name(arguments[0])
            assert name is not None
            inner = bound | {name}
            for argument in arguments[1:]:
                self.type_of(argument, inner)
            return _MACROS[method]
        if method not in _FUNCTIONS:
            line, column = _position(children[1])
            raise InvalidExpression(f"unknown function {method}()", line, column)
        for argument in arguments:
            self.type_of(argument, bound)
        if method == "contains" and receiver is not None and receiver != "string":
            line, column = _position(children[1])
            raise InvalidExpression(f"contains() applies to a string, not {receiver} (use `x in list`)", line, column)
        return _FUNCTION_TYPES.get(method)

    def _bound_name(self, argument: lark.Tree) -> str | None:
        node = argument
        while isinstance(node, lark.Tree) and len(node.children) == 1 and node.data != "ident":
            node = node.children[0]
        if isinstance(node, lark.Tree) and node.data == "ident":
            return str(node.children[0])
        return None

    def _member_index(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> None:
        for child in children:
            self.type_of(child, bound)
        return None

    def _literal(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        return _LITERAL_TYPES.get(children[0].type)

    def _ident(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        name = str(children[0])
        if name in bound:
            return None
        if name not in VARIABLES:
            line, column = _position(children[0])
            raise InvalidExpression(f"unknown name {name} (use household or person)", line, column)
        if name == "person":
            self.uses_person = True
        return "map"

    def _ident_arg(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        function = str(children[0])
        arguments = list(children[1].children) if len(children) > 1 and children[1] is not None else []
        if function == "has":
            if len(arguments) != 1:
                line, column = _position(children[0])
                raise InvalidExpression("has() takes one attribute, e.g. has(person.skills)", line, column)
            self.type_of(arguments[0], bound)
            return "bool"
        if function not in _FUNCTIONS:
            line, column = _position(children[0])
            raise InvalidExpression(f"unknown function {function}()", line, column)
        for argument in arguments:
            self.type_of(argument, bound)
        return _FUNCTION_TYPES.get(function)

    def _paren_expr(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str | None:
        return self.type_of(children[0], bound)

    def _list_lit(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str:
        elements = list(children[0].children) if children and children[0] is not None else []
        types = {self.type_of(element, bound) for element in elements}
        if len(types) == 1 and None not in types:
            return f"list<{types.pop()}>"
        return "list"

    def _map_lit(self, node: lark.Tree, children: list[Any], bound: frozenset[str]) -> str:
        for child in children:
            if isinstance(child, lark.Tree):
                for entry in child.children:
                    self.type_of(entry, bound)
        return "map"
