"""The templates' sandbox: what a config's template may do while it renders one row.

Jinja2's immutable sandbox keeps a template away from Python's internals, but not from the
machine's memory and time: two nested loops over ``range(99999)`` run for hours, and
``'x'|center(10**9)`` or ``'%1000000000s'|format('x')`` build a gigabyte in one step. So every
render is bounded, whatever the template and the row:

- what it writes: at most :data:`MAX_RENDER_CHARS` characters, counted as it is written, so that
  a render stops as soon as it passes the limit rather than once it has built it all;
- what it builds on the way: no text, list or number over :data:`MAX_VALUE_CHARS` characters
  (items, digits). An operation whose size is in its arguments (``*``, ``**``, ``%``, ``+``,
  ``~``, ``center``, ``format``, ``join``, ``replace``, ...) is refused before it runs; any other
  is given no value over the limit and checked on its result;
- how much it works: at most :data:`MAX_STEPS` steps (loop turns, calls, filters, operators)
  and :data:`MAX_SECONDS` seconds.

Passing one raises :class:`TemplateLimitError` (a Jinja2 ``SecurityError``): the mapper makes it
that row's error, and the report says it once for the config. The hooks are Jinja2's own: the
sandbox's ``call``, ``call_binop`` and ``wrap_str_format``, the environment's ``finalize``,
``concat``, filters and globals, and a code generator that counts the turns of every ``for``
loop and bounds ``~``, the two things a template does that no other hook sees.
"""

from __future__ import annotations

import functools
import inspect
import re
import string
import time
from collections.abc import (
    Callable,
    Generator,
    ItemsView,
    Iterable,
    Iterator,
    KeysView,
    Mapping,
    ValuesView,
)
from contextvars import ContextVar
from typing import Any, cast

from jinja2 import StrictUndefined, Template, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace, generate_lorem_ipsum

from pipeline.errors import ArgilBatchError

# The longest value a config renders is a transcript before it is split into moments: 25,000
# characters at the defaults (limits.max_moments 50 x limits.transcript_chars 500); a name, an
# id, a URL or an extra is far shorter. 64 Ki leaves room for a raised transcript_chars and is
# still 16,000 times below the gigabyte a template could otherwise write. A column used as it
# is (``{{ script }}``) is read from the cell, not rendered, and is bounded by max_moments.
MAX_RENDER_CHARS = 65_536
# What a template may build on the way: room for values made from long cells, while no single
# step allocates more than a few megabytes.
MAX_VALUE_CHARS = 1 << 20
# Jinja2's own MAX_RANGE. A template looping over the words of the longest script takes a few
# thousand steps; two nested loops over range(99999) would take ten billion.
MAX_STEPS = 100_000
# A render takes microseconds. This catches the steps that each do much work unseen (``in`` or
# ``==`` on a long cell, in a loop), which the step count alone would let run for minutes.
MAX_SECONDS = 1.0
# ``'x' * n`` and ``**`` keep the limits (and the words) they had before the others existed.
_MAX_REPEAT = 100_000
_MAX_EXPONENT = 1_000

_LOOP_TURNS = "loop_turns"
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
_WRITES_TOO_MUCH = (
    f"it writes more than {MAX_RENDER_CHARS:,} characters, the most a config value may render"
)


class TemplateLimitError(SecurityError, ArgilBatchError):
    """A render passed one of the bounds above: the template's doing more than the row's."""


# --- the budget of one render -------------------------------------------------------------


class _Meter:
    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.steps = 0
        self.deadline = time.monotonic() + MAX_SECONDS


# Set by render() for the render under way. None while a template is compiled (Jinja2 folds
# constant filters then) or rendered another way: only the checks on sizes apply.
_METER: ContextVar[_Meter | None] = ContextVar("argil_template_meter", default=None)


def _step(count: int = 1) -> None:
    meter = _METER.get()
    if meter is None:
        return
    meter.steps += count
    if meter.steps > MAX_STEPS:
        raise TemplateLimitError(
            f"it takes more than {MAX_STEPS:,} steps (loop turns, calls, filters), the most "
            "one render may take"
        )
    if time.monotonic() > meter.deadline:
        raise TemplateLimitError(
            f"it runs for more than {MAX_SECONDS:g} s, the most one render may"
        )


def _count(count: Any, what: str) -> None:
    """``count`` things made at once (batches, slices, words) are as many steps."""
    if isinstance(count, int) and count > MAX_STEPS:
        raise TemplateLimitError(f"{what} would make {count:,} items, more than {MAX_STEPS:,}")
    if isinstance(count, int) and count > 0:
        _step(count)


def render(template: Template, variables: dict[str, Any]) -> str:
    """``template`` rendered with ``variables`` (the globals included), within the bounds.

    What ``Template.render`` does, minus copying the variables into a fresh dict (the caller's
    already holds the globals), and counting the output as it comes.
    """
    token = _METER.set(_Meter())
    chunks: Generator[str, None, None] | None = None
    try:
        context = template.new_context(variables, shared=True)
        chunks = cast(Generator[str, None, None], template.root_render_func(context))
        out: list[str] = []
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_RENDER_CHARS:
                raise TemplateLimitError(_WRITES_TOO_MUCH)
            out.append(chunk)
        return "".join(out)
    except RecursionError:
        raise TemplateLimitError(
            "its calls nest deeper than Python allows (a macro that calls itself?)"
        ) from None
    finally:
        if chunks is not None:
            chunks.close()
        _METER.reset(token)


# --- sizes --------------------------------------------------------------------------------


def _size(value: Any) -> int:
    """A value's size in characters, items or digits, at the cost of ``len``."""
    if isinstance(value, _SIZED):
        return len(value)
    if isinstance(value, int):
        return value.bit_length() * 30103 // 100_000 + 1
    return 0


def _printed(value: Any, limit: int = MAX_VALUE_CHARS) -> int:
    """About how long ``str(value)`` is, counted no further than just past ``limit``.

    ``len`` is not enough for a container: a list holding one long text 99,999 times is short
    and prints a gigabyte. Escapes in a text inside a container are not counted (up to 10x).
    """
    if isinstance(value, str):
        return len(value)
    total = 0
    stack = [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes | bytearray):
            total += len(item) + 2
        elif isinstance(item, Mapping):
            total += 2 + 4 * len(item)
            if total <= limit:
                stack.extend(item.items())
        elif isinstance(item, list | tuple | set | frozenset | KeysView | ValuesView | ItemsView):
            total += 2 + 2 * len(item)
            if total <= limit:
                stack.extend(item)
        elif isinstance(item, Namespace):
            stack.append(object.__getattribute__(item, "_Namespace__attrs"))
        elif isinstance(item, int):
            total += _size(item)
        else:
            total += 24  # a float, None, or an object printed by its kind (a loop, a generator)
    return total


def _over(what: str, size: int) -> None:
    if size > MAX_VALUE_CHARS:
        raise TemplateLimitError(
            f"{what} would make {size:,} characters, more than the {MAX_VALUE_CHARS:,} a "
            "template may build"
        )


def _given(what: str, values: Iterable[Any]) -> None:
    for value in values:
        size = _size(value)
        if size > MAX_VALUE_CHARS:
            raise TemplateLimitError(
                f"{what} is given {size:,} characters, more than the {MAX_VALUE_CHARS:,} a "
                "template may work on"
            )


def _built(what: str, value: Any) -> Any:
    size = _size(value)
    if size > MAX_VALUE_CHARS:
        raise TemplateLimitError(
            f"{what} makes {size:,} characters, more than the {MAX_VALUE_CHARS:,} a template "
            "may build"
        )
    return value


def _number(digits: str) -> int:
    # A width written with thousands of digits is over any limit; int() of it would refuse.
    return int(digits) if len(digits) <= 9 else 10**9


def _width(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?[hlL]?(.)", re.S)


def _percent_size(text: str, values: Any) -> int:
    """At most how long ``text % values`` is: each field, at its widest, the longest value."""
    if isinstance(values, tuple):
        items = list(values)
    elif isinstance(values, Mapping):
        items = list(values.values())
    else:
        items = [values]
    fields = widest = 0
    star = False
    for match in _PERCENT_FIELD.finditer(text):
        if match[3] == "%":
            continue
        fields += 1
        for digits in (match[1], match[2]):
            if digits == "*":
                star = True
            elif digits:
                widest = max(widest, _number(digits))
    if star:
        widest = max([widest, *map(_width, items)])
    longest = max((_printed(item) for item in items), default=0)
    return len(text) + fields * (longest + widest)


def _format_size(text: str, values: list[Any]) -> int:
    """At most how long ``text.format(...)`` is, as for ``%``; a nested spec (``{:{w}}``)
    may take its width from any of the values."""
    fields = widest = 0
    nested = False
    for _, name, spec, _ in string.Formatter().parse(text):
        if name is None:
            continue
        fields += 1
        if spec:
            nested = nested or "{" in spec
            widest = max([widest, *map(_number, re.findall(r"\d+", spec))])
    if nested:
        widest = max([widest, *map(_width, values)])
    longest = max((_printed(value) for value in values), default=0)
    return len(text) + fields * (longest + widest)


# --- what an operation would make, from its arguments ---------------------------------------
# Each guard gets the call's arguments by name (defaults filled in) and returns the size of
# what it would make; it may replace an iterable by the list of its items, to count them.


def _text_size(value: Any) -> int:
    return len(value) if isinstance(value, str) else _printed(value)


def _joined_size(arguments: dict[str, Any], items_name: str, separator: Any) -> int:
    items = list(arguments[items_name])
    arguments[items_name] = items
    total = _size(separator) * max(len(items) - 1, 0)
    for item in items:
        if total > MAX_VALUE_CHARS:
            break
        total += _printed(item)
    return total


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    texts = str | bytes | bytearray
    if not (isinstance(text, texts) and isinstance(old, texts) and isinstance(new, texts)):
        return 0
    try:
        times = text.count(old)  # type: ignore[arg-type]
    except TypeError:
        return 0  # str and bytes mixed: the call itself says so
    if isinstance(count, int) and count >= 0:
        times = min(times, count)
    return len(text) + times * (len(new) - len(old))


def _indented_size(arguments: dict[str, Any]) -> int:
    text, width = arguments["s"], arguments["width"]
    lines = text.count("\n") + 1 if isinstance(text, str) else _text_size(text)
    return _text_size(text) + lines * (len(width) if isinstance(width, str) else _width(width))


def _summed_size(arguments: dict[str, Any]) -> int:
    if not isinstance(arguments["start"], _SIZED):
        return 0
    items = list(arguments["iterable"])
    arguments["iterable"] = items
    return _size(arguments["start"]) + sum(map(_size, items))


def _rounded_size(arguments: dict[str, Any]) -> int:
    # round(5, -10**9) computes 10**(10**9) before it answers.
    if abs(_width(arguments["precision"])) > _MAX_EXPONENT:
        raise TemplateLimitError(f"round to {arguments['precision']} digits is too many")
    return 0


def _lipsum_size(arguments: dict[str, Any]) -> int:
    words = _width(arguments["n"]) * max(_width(arguments["min"]), _width(arguments["max"]))
    _count(words, "lipsum")
    return words * 8


def _counted(name: str, parameter: str) -> Callable[[dict[str, Any]], int]:
    def guard(arguments: dict[str, Any]) -> int:
        _count(arguments[parameter], name)
        return 0

    return guard


def _padded(arguments: dict[str, Any]) -> int:
    return max(len(arguments["self"]), _width(arguments["width"]))


def _translated_size(arguments: dict[str, Any]) -> int:
    table = arguments["table"]
    if not isinstance(table, Mapping):
        return 0  # a bytes table maps one byte to one byte
    longest = max([1, *(len(v) for v in table.values() if isinstance(v, _SIZED))])
    return len(arguments["self"]) * longest


def _tabs_size(arguments: dict[str, Any]) -> int:
    text = arguments["self"]
    tabs = text.count("\t" if isinstance(text, str) else b"\t")
    return len(text) + tabs * _width(arguments["tabsize"])


_FILTER_GUARDS: dict[str, Callable[[dict[str, Any]], int]] = {
    "center": lambda a: max(_text_size(a["value"]), _width(a["width"])),
    "indent": _indented_size,
    "wordwrap": lambda a: _text_size(a["s"]) * (1 + _size(a["wrapstring"] or "\n")),
    "format": lambda a: _percent_size(str(a["value"]), a["kwargs"] or a["args"]),
    "join": lambda a: _joined_size(a, "value", a["d"]),
    "replace": lambda a: _replaced_size(a["s"], a["old"], a["new"], a["count"]),
    "sum": _summed_size,
    "tojson": lambda a: _printed(a["value"]) * (1 + _width(a["indent"])),
    "batch": _counted("batch", "linecount"),
    "slice": _counted("slice", "slices"),
    "round": _rounded_size,
}

_METHOD_GUARDS: dict[str, Callable[[dict[str, Any]], int]] = {
    "center": _padded,
    "ljust": _padded,
    "rjust": _padded,
    "zfill": _padded,
    "expandtabs": _tabs_size,
    "replace": lambda a: _replaced_size(a["self"], a["old"], a["new"], a["count"]),
    # str.join(iterable), bytes.join(iterable_of_bytes)
    "join": lambda a: _joined_size(a, next(k for k in a if k != "self"), a["self"]),
    "translate": _translated_size,
    "to_bytes": lambda a: _width(a["length"]),
}
# The types whose methods above are guarded, by their own signatures (a subclass such as
# Markup wraps them with signatures that name no argument).
_METHOD_OWNERS: tuple[type, ...] = (str, bytes, bytearray, int)


def _bound(
    what: str,
    signature: inspect.Signature,
    guard: Callable[[dict[str, Any]], int],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments, checked by ``guard``; as given when they do not fit the signature, for
    the call itself to say what is wrong with them."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError:
        return args, kwargs
    bound.apply_defaults()
    _over(what, guard(bound.arguments))
    return bound.args, bound.kwargs


@functools.cache
def _method_signature(owner: type, name: str) -> inspect.Signature | None:
    try:
        return inspect.signature(getattr(owner, name))
    except (AttributeError, ValueError):
        return None


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    # A filter that takes the environment or the context first is given it by Jinja2: the
    # value comes after it.
    skip = 1 if getattr(func, "jinja_pass_arg", None) is not None else 0
    guard = _FILTER_GUARDS.get(name)
    # The arguments are bound to the function that takes them: behind the wrapper that some
    # filters have (sync or async), which drops what Jinja2 passes first unless it needs it.
    inner = inspect.unwrap(func)
    signature = inspect.signature(inner) if guard is not None else None
    unbound = 0 if getattr(inner, "jinja_pass_arg", None) is not None else skip
    what = f"the filter {name}"

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _step()
        given = args[skip:]
        _given(what, (*given, *kwargs.values()))
        # Most filters print the value they are given (upper, truncate, string, tojson...).
        if given and not isinstance(given[0], str) and _printed(given[0]) > MAX_VALUE_CHARS:
            raise TemplateLimitError(
                f"{what} is given a value that prints as more than {MAX_VALUE_CHARS:,} "
                "characters, the most a template may work on"
            )
        if guard is not None and signature is not None:
            tail, kwargs = _bound(what, signature, guard, args[unbound:], kwargs)
            args = (*args[:unbound], *tail)
        return _built(what, func(*args, **kwargs))

    return bounded


def _counted_test(func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def counted(*args: Any, **kwargs: Any) -> Any:
        _step()
        return func(*args, **kwargs)

    return counted


def _bounded_range(*args: int) -> range:
    """``range``, at most as long as the steps a render may take."""
    numbers = range(*args)
    try:
        length = len(numbers)
    except OverflowError:
        length = MAX_STEPS + 1
    if length > MAX_STEPS:
        raise TemplateLimitError(f"range of {length:,} numbers, more than {MAX_STEPS:,}")
    return numbers


_LIPSUM_SIGNATURE = inspect.signature(generate_lorem_ipsum)


@functools.wraps(generate_lorem_ipsum)
def _bounded_lipsum(*args: Any, **kwargs: Any) -> str:
    args, kwargs = _bound("lipsum", _LIPSUM_SIGNATURE, _lipsum_size, args, kwargs)
    return generate_lorem_ipsum(*args, **kwargs)


def _finalize(value: Any) -> Any:
    """Every ``{{ ... }}`` before it is printed: refused if it prints past the output limit."""
    if _printed(value, MAX_RENDER_CHARS) > MAX_RENDER_CHARS:
        raise TemplateLimitError(_WRITES_TOO_MUCH)
    return value


# --- the environment ----------------------------------------------------------------------


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja2's code, with every ``for`` loop's turns counted and every ``~`` checked first."""

    def visit_For(self, node: nodes.For, frame: Frame) -> None:
        # Jinja2 allows no node types of one's own: the iterable becomes a call of an
        # environment attribute, which no template can write, and visit_Call writes it plainly.
        turns = nodes.Call(nodes.EnvironmentAttribute(_LOOP_TURNS), [node.iter], [], None, None)
        counted = nodes.For(
            node.target, turns, node.body, node.else_, node.test, node.recursive, lineno=node.lineno
        )
        counted.set_environment(self.environment)
        super().visit_For(counted, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        callee = node.node
        if isinstance(callee, nodes.EnvironmentAttribute) and callee.name == _LOOP_TURNS:
            self.write(f"environment.{_LOOP_TURNS}(")
            self.visit(node.args[0], frame)
            self.write(")")
            return
        super().visit_Call(node, frame, forward_caller=forward_caller)

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        # Jinja2's own, but the join it would call is handed to environment.tilde, parts first.
        self.write("environment.tilde(")
        self.write("(markup_join if context.eval_ctx.autoescape else str_join), (")
        for part in node.nodes:
            self.visit(part, frame)
            self.write(", ")
        self.write("))")


class TemplateEnvironment(ImmutableSandboxedEnvironment):
    """Jinja2's immutable sandbox, strict about undefined names, within the bounds above."""

    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, finalize=_finalize)
        self.filters = {name: _bounded_filter(name, f) for name, f in self.filters.items()}
        for name, test in list(self.tests.items()):
            self.tests[name] = _counted_test(cast(Callable[..., Any], test))
        self.globals["range"] = _bounded_range
        self.globals["lipsum"] = _bounded_lipsum

    def loop_turns(self, iterable: Iterable[Any]) -> Iterator[Any]:
        """The items of a ``for`` loop, each a step."""
        for item in iterable:
            _step()
            yield item

    def tilde(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        """``a ~ b ~ c``, refused before the join when it would be too long."""
        _step()
        total = 0
        for part in parts:
            total += _printed(part)
            _over("~", total)
        return join(parts)

    def concat(self, parts: Iterable[str]) -> str:
        """What a ``{% set %}`` block, a macro or a ``{% filter %}`` block wrote, joined."""
        pieces = parts if isinstance(parts, list) else list(parts)
        _over("a block", sum(map(len, pieces)))
        return "".join(pieces)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        _step()
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "%" and isinstance(left, str):
            _over("%", _percent_size(left, right))
        elif operator == "+" and isinstance(left, _SIZED) and isinstance(right, _SIZED):
            _over("+", len(left) + len(right))
        return _built(operator, super().call_binop(context, operator, left, right))

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _step()
        name = str(getattr(__obj, "__name__", "a call"))
        _given(name, (*args, *kwargs.values()))
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, _METHOD_OWNERS):
            _given(name, (owner,))
            guard = _METHOD_GUARDS.get(name)
            kind = next(kind for kind in _METHOD_OWNERS if isinstance(owner, kind))
            signature = _method_signature(kind, name) if guard is not None else None
            if guard is not None and signature is not None:
                bound, kwargs = _bound(name, signature, guard, (owner, *args), kwargs)
                args = bound[1:]
        return _built(name, super().call(__context, __obj, *args, **kwargs))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        text: str = value.__self__
        name: str = value.__name__

        def bounded(*args: Any, **kwargs: Any) -> str:
            if name == "format_map":
                values = list(args[0].values()) if args and isinstance(args[0], Mapping) else []
            else:
                values = [*args, *kwargs.values()]
            _over(name, _format_size(text, values))
            return wrapped(*args, **kwargs)

        return functools.update_wrapper(bounded, value)


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(exponent, int | float) and abs(exponent) > _MAX_EXPONENT:
        raise TemplateLimitError(f"exponent {exponent} is too large")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        _over("**", _size(base) * exponent)


def _check_product(left: Any, right: Any) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(count, int) and isinstance(seq, str | bytes | list | tuple):
            if len(seq) * count > _MAX_REPEAT or _printed(seq) * count > MAX_VALUE_CHARS:
                raise TemplateLimitError("repetition result is too large")
            return
    if isinstance(left, int) and isinstance(right, int):
        _over("*", _size(left) + _size(right))
