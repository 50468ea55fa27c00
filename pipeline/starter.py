"""A starter config guessed from a sheet's headers (``argil-batch init``).

The guess only has to be a good first draft: ``validate`` tells the user what is still wrong.
"""

from __future__ import annotations

import re

import yaml

from pipeline.mapping import snake_case
from pipeline.sheets import Sheet

_GUESSES: dict[str, tuple[str, ...]] = {
    "key": ("email", "e_mail", "id", "sku", "key", "lead_id", "uuid"),
    "transcript": ("script", "transcript", "intro", "message", "text", "pitch", "body"),
    "name": ("name", "title", "product", "company", "first_name", "full_name"),
    "avatar": ("avatar", "avatar_id"),
    "voice": ("voice", "voice_id"),
    "gesture": ("gesture", "gesture_slug"),
}


def _find(headers: list[str], kind: str) -> str | None:
    by_snake = {snake_case(h): h for h in headers}
    for wanted in _GUESSES[kind]:
        if wanted in by_snake:
            return by_snake[wanted]
    for wanted in _GUESSES[kind]:
        for snake, header in by_snake.items():
            if wanted in snake:
                return header
    return None


def _ref(header: str) -> str:
    snake = snake_case(header)
    if snake == header and re.fullmatch(r"[a-z_][a-z0-9_]*", header):
        return f"{{{{ {header} }}}}"
    return f'{{{{ row["{header}"] }}}}'


def starter_config(sheet: Sheet) -> str:
    headers = sheet.headers
    key = _find(headers, "key")
    transcript = _find(headers, "transcript") or (headers[-1] if headers else "script")
    name = _find(headers, "name") or (headers[0] if headers else "name")
    avatar = _find(headers, "avatar")
    voice = _find(headers, "voice")
    gesture = _find(headers, "gesture")

    moment: dict[str, object] = {
        "transcript": _ref(transcript),
        "avatar_id": _ref(avatar) if avatar else "avatar-emma",
    }
    if voice:
        moment["voice_id"] = _ref(voice)
    if gesture:
        moment["gesture_slug"] = _ref(gesture)
    config: dict[str, object] = {
        "input": {"key": [key]} if key else {},
        "video": {
            "name": _ref(name),
            "aspect_ratio": "9:16",
            "subtitles": {"enable": True, "position": "Bottom", "size": "Medium"},
        },
        "moments": [moment],
        "limits": {"transcript_chars": 500},
        "api": {"rpm": 60, "concurrency": 4},
    }
    header_list = ", ".join(headers)
    lines = [
        f"# Starter config for {sheet.path.name}, guessed from its headers: {header_list}",
        '# Every string is a template: {{ column }} or {{ row["Column With Spaces"] }}.',
        "# Check it with: argil-batch validate SHEET -c THIS_FILE",
    ]
    if not avatar:
        lines.append("# avatar_id: no avatar column found; put your avatar's id (GET /avatars).")
    if not key:
        lines.append(
            "# input.key: no id column found; a row is then known by its content, so an edited"
            " row counts as a new one. Name the columns that identify a row if you can."
        )
    body = yaml.safe_dump(config, sort_keys=False, allow_unicode=True, width=100)
    return "\n".join(lines) + "\n" + body
