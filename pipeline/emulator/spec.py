"""The emulator's spec check of ``POST /videos`` bodies: :func:`check_body`.

The check is built from the OpenAPI file shipped with the package (``openapi.yaml``), translated
into a JSON Schema and run through jsonschema, not through the pydantic models of
``models.py``, so that each can catch the other's mistakes. The rules the spec states only in
prose are checked by hand beside it: exactly one of transcript and audioUrl, the transcript limit
in UTF-16 code units (:func:`utf16_units`), at most 5 extras of at most 256 characters, the
voiceModel names listed in its description. Every message names the JSON path it is about, in a
form a person can read (``moments[0].broll.type``), because the emulator answers it as a 400.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Iterable
from functools import cache
from typing import Any, Final

import jsonschema
import referencing
import referencing.jsonschema
import yaml

DEFAULT_TRANSCRIPT_CHARS: Final = 500
MAX_EXTRAS: Final = 5
MAX_EXTRA_CHARS: Final = 256
_SPEC_URI: Final = "urn:argil-batch:openapi"
_UUID_RE: Final = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


def check_body(body: object, transcript_chars: int = DEFAULT_TRANSCRIPT_CHARS) -> list[str]:
    """Check a ``POST /videos`` body against the spec; ``[]`` when valid.

    Each message starts with the JSON path it is about, e.g.
    ``moments[0].broll.type: 'FOO' is not one of AVATAR_ACTION, GENERATION, ...``.
    """
    prose = _prose_errors(body, transcript_chars)
    prose_paths = {path for path, _ in prose}
    messages: list[str] = []
    instance: Any = body
    for error in _body_validator().iter_errors(instance):
        path = tuple(error.absolute_path)
        if error.validator == "maxProperties" and path in prose_paths:
            continue  # the stricter prose rule already says it
        messages.extend(_describe(error))
    messages.extend(message for _, message in prose)
    return _unique(messages)


@cache
def _spec() -> Any:
    spec_text = (
        importlib.resources.files("pipeline.emulator")
        .joinpath("openapi.yaml")
        .read_text(encoding="utf-8")
    )
    return yaml.safe_load(spec_text)


@cache
def _voice_models() -> frozenset[str]:
    """The names the spec's description of ``voiceModel`` lists ("ElevenLabs voices: a, b,
    ... Minimax voices: c, d"), read from the spec itself like every other check here."""
    moment = _spec()["components"]["schemas"]["VideoCreateArgs"]["properties"]["moments"]
    text = str(moment["items"]["properties"]["voiceModel"].get("description", ""))
    names: set[str] = set()
    for listed in re.findall(r"voices:\s*([^:]+?)(?=\s+\w+ voices:|$)", text, re.S):
        names.update(name.strip() for name in listed.split(",") if name.strip())
    return frozenset(names)


@cache
def _body_validator() -> jsonschema.protocols.Validator:
    spec = _openapi_to_json_schema(_spec())
    resource = referencing.Resource.from_contents(
        spec, default_specification=referencing.jsonschema.DRAFT202012
    )
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(_SPEC_URI, resource)
    checker = jsonschema.FormatChecker(formats=())
    # jsonschema's own uuid check goes through uuid.UUID(), which also takes braces, "urn:uuid:",
    # underscores and extra dashes; the wire format is the plain 8-4-4-4-12 hex form.
    checker.checks("uuid")(_is_uuid)
    return jsonschema.Draft202012Validator(
        {"$ref": f"{_SPEC_URI}#/components/schemas/VideoCreateArgs"},
        registry=registry,
        format_checker=checker,
    )


def _is_uuid(instance: object) -> bool:
    return not isinstance(instance, str) or _UUID_RE.fullmatch(instance) is not None


def _openapi_to_json_schema(node: Any) -> Any:
    """Translate the OpenAPI 3.0 dialect into JSON Schema 2020-12 (a copy).

    ``nullable`` becomes a ``"null"`` type; a ``oneOf`` with a ``discriminator`` whose inline
    members each require the tag and pin it with an ``enum`` becomes one ``if``/``then`` per
    member: the same set of valid bodies, but errors name the bad tag or the chosen member's
    own problem instead of jsonschema's dump of every member's failures.
    """
    if isinstance(node, list):
        return [_openapi_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _openapi_to_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    discriminator = out.pop("discriminator", None)
    if isinstance(discriminator, dict) and isinstance(out.get("oneOf"), list):
        tagged = _tagged_union(out, str(discriminator.get("propertyName")))
        if tagged is not None:
            return tagged
    return out


def _tagged_union(node: dict[str, Any], tag: str) -> dict[str, Any] | None:
    tags: list[Any] = []
    branches: list[dict[str, Any]] = []
    for member in node["oneOf"]:
        if not isinstance(member, dict) or tag not in member.get("required", ()):
            return None
        values = member.get("properties", {}).get(tag, {}).get("enum")
        if not values or any(value in tags for value in values):
            return None
        tags.extend(values)
        branches.append(
            {
                "if": {"type": "object", "required": [tag], "properties": {tag: {"enum": values}}},
                "then": member,
            }
        )
    rest = {key: value for key, value in node.items() if key != "oneOf"}
    return {
        **rest,
        "type": "object",
        "required": [tag],
        "properties": {tag: {"enum": tags}},
        "allOf": branches,
    }


def _prose_errors(body: object, transcript_chars: int) -> list[tuple[tuple[Any, ...], str]]:
    """The rules the spec states only in words, as (path, message) pairs."""
    if not isinstance(body, dict):
        return []
    found: list[tuple[tuple[Any, ...], str]] = []
    moments = body.get("moments")
    if isinstance(moments, list):
        for index, moment in enumerate(moments):
            if not isinstance(moment, dict):
                continue
            path: tuple[Any, ...] = ("moments", index)
            has_transcript, has_audio = "transcript" in moment, "audioUrl" in moment
            if has_transcript == has_audio:
                got = "both" if has_transcript else "neither"
                found.append(
                    (
                        path,
                        f"{_path(path)}: exactly one of transcript and audioUrl is required "
                        f"(got {got})",
                    )
                )
            model = moment.get("voiceModel")
            if isinstance(model, str) and model not in _voice_models():
                found.append(
                    (
                        (*path, "voiceModel"),
                        f"{_path((*path, 'voiceModel'))}: {model!r} is not a voice model "
                        "(the spec lists the ElevenLabs and Minimax ones)",
                    )
                )
            transcript = moment.get("transcript")
            if isinstance(transcript, str):
                length = utf16_units(transcript)
                if length > transcript_chars:
                    found.append(
                        (
                            (*path, "transcript"),
                            f"{_path((*path, 'transcript'))}: {length} characters (UTF-16 code "
                            f"units), over the limit of {transcript_chars}",
                        )
                    )
    extras = body.get("extras")
    if isinstance(extras, dict):
        if len(extras) > MAX_EXTRAS:
            found.append(
                (("extras",), f"extras: {len(extras)} pairs, at most {MAX_EXTRAS} are allowed")
            )
        for key, value in extras.items():
            # Counted like transcripts, in UTF-16 code units: the server most likely runs on a
            # JavaScript engine, where that is what a string's length is.
            if utf16_units(key) > MAX_EXTRA_CHARS:
                found.append(
                    (
                        ("extras", key),
                        f"extras: a key is {utf16_units(key)} characters, at most "
                        f"{MAX_EXTRA_CHARS} are allowed ({key[:40]!r}...)",
                    )
                )
            if isinstance(value, str) and utf16_units(value) > MAX_EXTRA_CHARS:
                found.append(
                    (
                        ("extras", key),
                        f"{_path(('extras', key))}: value is {utf16_units(value)} characters, "
                        f"at most {MAX_EXTRA_CHARS} are allowed",
                    )
                )
    return found


def utf16_units(text: str) -> int:
    """Length in UTF-16 code units; a lone surrogate (legal in JSON text) counts 1."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


_JSON_TYPES: Final = (
    (bool, "boolean"),
    (int, "integer"),
    (float, "number"),
    (str, "string"),
    (list, "array"),
    (dict, "object"),
)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    for python_type, name in _JSON_TYPES:
        if isinstance(value, python_type):
            return name
    return type(value).__name__


def _describe(error: jsonschema.ValidationError) -> list[str]:
    path = tuple(error.absolute_path)
    where = _path(path)
    kind, instance = error.validator, error.instance
    expected: Any = error.validator_value
    if kind == "required" and isinstance(instance, dict):
        return [f"{_path((*path, name))}: is required" for name in expected if name not in instance]
    if kind == "additionalProperties" and isinstance(instance, dict):
        allowed = (
            sorted(error.schema.get("properties", {})) if isinstance(error.schema, dict) else []
        )
        return [
            f"{_path((*path, name))}: unknown property (allowed: {', '.join(allowed)})"
            for name in instance
            if name not in allowed
        ]
    if kind == "enum":
        return [f"{where}: {instance!r} is not one of {', '.join(map(str, expected))}"]
    if kind == "type":
        wanted = expected if isinstance(expected, str) else " or ".join(expected)
        return [f"{where}: expected {wanted}, got {_json_type(instance)}"]
    if kind == "minimum":
        return [f"{where}: {instance!r} is below the minimum {expected}"]
    if kind == "maximum":
        return [f"{where}: {instance!r} is above the maximum {expected}"]
    if kind in ("minItems", "maxItems") and isinstance(instance, list):
        bound = "at least" if kind == "minItems" else "at most"
        return [f"{where}: {len(instance)} items, {bound} {expected} are allowed"]
    if kind == "maxProperties" and isinstance(instance, dict):
        return [f"{where}: {len(instance)} properties, at most {expected} are allowed"]
    if kind == "format":
        return [f"{where}: {instance!r} is not a valid {expected}"]
    return [f"{where}: {error.message}"]


_IDENTIFIER_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _path(parts: Iterable[Any]) -> str:
    """A JSON path a person can read: ``moments[0].broll.type``, ``extras["a key"]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _IDENTIFIER_RE.fullmatch(str(part)):
            out += f".{part}" if out else str(part)
        else:
            out += f"[{json.dumps(part, ensure_ascii=False)}]"
    return out or "body"


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
