"""Writes input_examples/launches.xlsx, byte for byte the same on every run.

    python input_examples/make_examples.py               # rewrite launches.xlsx
    python input_examples/make_examples.py --synthetic 100000 /tmp/leads-100k.csv

The second form writes a large synthetic sheet for configs/leads.yaml (for timing validation
and runs on big inputs); it is not committed.
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import re
import zipfile
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

HERE = Path(__file__).resolve().parent
# Fixed so the workbook's bytes do not depend on when it was made.
_STAMP = datetime(2024, 9, 2, 9, 0, 0)
_ZIP_STAMP = (2024, 9, 2, 9, 0, 0)

LAUNCH_HEADERS = [
    "sku",
    "market",
    "product",
    "tagline",
    "avatar",
    "voice",
    "gesture",
    "broll_prompt",
    "script",
    "outro",
    "music",
    "campaign",
]

LAUNCHES = [
    {
        "sku": "AP-200",
        "market": "US",
        "product": "Aeris AP-200",
        "tagline": "the air purifier that you will never hear",
        "avatar": "avatar-emma",
        "voice": "voice-emma",
        "gesture": "point-right",
        "broll_prompt": "A bright, minimalist living room at sunrise, a slim white air purifier "
        "beside a sofa, soft light through linen curtains, photorealistic",
        "script": (
            "Most air purifiers make you choose between clean air and a quiet home. The AP-200 "
            "refuses that trade-off. Its new whisper fan moves enough air for a forty square "
            "metre room five times an hour, and at night it drops to nineteen decibels, quieter "
            "than a library. A three-stage filter catches pollen, pet dander and wildfire smoke, "
            "and a laser sensor checks the air every second, so the purifier speeds up before "
            "you notice anything. The companion app shows your air quality hour by hour and "
            "tells you exactly when the filter needs changing, with no guesswork and no "
            "subscription. We designed the AP-200 to disappear into your home: a slim "
            "aluminium body, a single touch control and a light ring that dims automatically "
            "after sunset. It uses less power than a light bulb, and every filter is fully "
            "recyclable through our free return program. Early testers told us the same thing "
            "again and again: after a week, they forgot it was there, and they slept better."
        ),
        "outro": "The AP-200 ships on October first. Order today and your first spare filter is "
        "on us.",
        "music": "6f1c2a9e-3b7d-4e15-9a0c-2d8e5f7b1c43",
        "campaign": "fall-launch-2024",
    },
    {
        "sku": "AP-200",
        "market": "FR",
        "product": "Aeris AP-200",
        "tagline": "le purificateur d'air que vous n'entendrez jamais",
        "avatar": "avatar-lina",
        "voice": "voice-lina",
        "gesture": "open-arms",
        "broll_prompt": "Un salon parisien lumineux au lever du soleil, un purificateur d'air "
        "blanc et fin près d'un canapé, lumière douce, photo réaliste",
        "script": (
            "La plupart des purificateurs d'air vous obligent à choisir entre un air sain et "
            "une maison calme. L'AP-200 refuse ce compromis. Son nouveau ventilateur silencieux "
            "renouvelle l'air d'une pièce de quarante mètres carrés cinq fois par heure, et la "
            "nuit il descend à dix-neuf décibels, moins qu'une bibliothèque. Un filtre en trois "
            "étapes retient le pollen, les poils d'animaux et la fumée, et un capteur laser "
            "analyse l'air chaque seconde pour accélérer avant même que vous ne remarquiez quoi "
            "que ce soit. L'application vous montre la qualité de l'air heure par heure et vous "
            "prévient quand changer le filtre, sans abonnement. Nous avons dessiné l'AP-200 "
            "pour qu'il se fonde dans votre intérieur : un corps fin en aluminium, une seule "
            "touche, et un anneau lumineux qui s'atténue au coucher du soleil. Il consomme moins "
            "qu'une ampoule, et chaque filtre est recyclable grâce à notre programme de retour "
            "gratuit."
        ),
        "outro": "L'AP-200 arrive le premier octobre. Commandez aujourd'hui : votre premier "
        "filtre de rechange est offert.",
        "music": "6f1c2a9e-3b7d-4e15-9a0c-2d8e5f7b1c43",
        "campaign": "fall-launch-2024",
    },
    {
        "sku": "KB-75",
        "market": "US",
        "product": "Keystroke KB-75",
        "tagline": "a mechanical keyboard built to be repaired, not replaced",
        "avatar": "avatar-noah",
        "voice": "voice-noah",
        "gesture": "nod",
        "broll_prompt": "Close-up of a compact mechanical keyboard with walnut case on a tidy "
        "wooden desk, warm evening light, shallow depth of field",
        "script": (
            "Keyboards are the tool we touch most, yet most of them end up in a drawer after "
            "two years. The KB-75 is built to last a decade. Every switch is hot-swappable, "
            "every keycap is standard, and the case opens with four screws, so a worn part is a "
            "five-minute fix instead of a new purchase. Inside, gasket-mounted plates give each "
            "keystroke a soft, even feel, and a layer of acoustic foam removes the hollow ping "
            "that cheaper boards are known for. It connects over Bluetooth to three devices, or "
            "over USB-C with a one-millisecond response time for gaming. The battery lasts six "
            "weeks with the backlight off, and the open-source firmware lets you remap any key "
            "without installing anything. We publish repair guides and sell every spare part "
            "individually, at cost."
        ),
        "outro": "",
        "music": "0b9d7c35-8e21-4f6a-b4c2-71e5a3d90f18",
        "campaign": "fall-launch-2024",
    },
    {
        "sku": "SB-1",
        "market": "UK",
        "product": "Solace SB-1",
        "tagline": "sleep buds that block the world and let the alarm through",
        "avatar": "avatar-noah",
        "voice": "voice-noah",
        "gesture": "wave",
        "broll_prompt": "A calm bedroom at night in deep blue tones, a person sleeping "
        "peacefully on their side, tiny earbuds, cinematic lighting",
        "script": (
            "Snoring partners, night buses, a neighbour's dog: sleep is fragile, and most "
            "earbuds are too bulky to wear on your side. The SB-1 is different. Each bud weighs "
            "less than two grams and sits flush inside the ear, so you can lie on your pillow "
            "without feeling it. Memory foam tips and active noise cancelling tuned for low "
            "frequencies remove the rumble of traffic and the drone of snoring, while a library "
            "of calm soundscapes helps you fall asleep in minutes. Here is the clever part: the "
            "SB-1 knows the difference between noise and the sounds that matter. Your alarm "
            "plays only in your ears, so your partner sleeps on, and a smoke alarm or a crying "
            "baby is always let through. A full charge lasts ten hours, enough for the longest "
            "night, and the case tops them up for a week of sleep. The app shows how long you "
            "actually slept and how often you woke, without selling your data to anyone. We "
            "tested the SB-1 with four hundred light sleepers across Britain, and eight out of "
            "ten said they woke up less often in the first week. Quiet nights, gentle mornings, "
            "and nothing to feel on your pillow: that is the whole idea."
        ),
        "outro": "Try the SB-1 for sixty nights. If it does not help you sleep, send it back.",
        "music": "c42e8f10-5a6b-4d93-8e7f-19b2c0d4a6e5",
        "campaign": "fall-launch-2024",
    },
    {
        "sku": "TR-9",
        "market": "US",
        "product": "Trailhead TR-9",
        "tagline": "the smart bottle that reminds you to drink before you are thirsty",
        "avatar": "avatar-marcus",
        "voice": "voice-marcus",
        "gesture": "point-right",
        "broll_prompt": "A hiker on a mountain ridge at golden hour holding a matte green "
        "insulated bottle, dramatic sky, adventure photography",
        "script": (
            "By the time you feel thirsty, you are already dehydrated, and on the trail that "
            "costs you energy and focus. The TR-9 tracks every sip with a sensor in the lid and "
            "learns your pace, the temperature and the altitude. When you fall behind, a soft "
            "glow reminds you to drink, with no phone required. The double-walled steel body "
            "keeps water cold for twenty-four hours, the lid locks with one hand, and the whole "
            "bottle survives a two-metre drop onto rock. It charges once a month, syncs with "
            "your watch, and weighs less than a full can of soda. We "
            "tested it on three long-distance trails this summer, from desert heat to snowy "
            "passes, and the reminders kept every single tester drinking steadily all day long."
        ),
        "outro": "The TR-9 is out now in four colours. See you on the trail.",
        "music": "0b9d7c35-8e21-4f6a-b4c2-71e5a3d90f18",
        "campaign": "outdoor-2024",
    },
    {
        "sku": "CM-3",
        "market": "DE",
        "product": "Brewline CM-3",
        "tagline": "café-quality espresso in thirty seconds, with zero capsules",
        "avatar": "avatar-emma",
        "voice": "voice-emma",
        "gesture": "thumbs-up",
        "broll_prompt": "A compact espresso machine on a marble kitchen counter, fresh "
        "espresso with golden crema in a glass cup, morning light, food photography",
        "script": (
            "Capsules are convenient, but they are expensive, wasteful, and the coffee never "
            "quite tastes fresh. The CM-3 grinds whole beans for every cup, tamps them "
            "automatically, and brews at exactly nine bars of pressure, so every shot has the "
            "rich crema you expect from a good café. It heats up in thirty seconds, fits under "
            "a standard kitchen cabinet, and cleans itself after every drink. The steam wand "
            "textures milk for a flat white or a cappuccino at the touch of a button, and the "
            "app remembers each person's favourite, from a short ristretto to an oat latte. "
            "With no capsules to buy, the CM-3 pays for itself in about eight months for a "
            "household that drinks two coffees a day, and it keeps around a thousand aluminium "
            "capsules a year out of the bin."
        ),
        "outro": "",
        "music": "c42e8f10-5a6b-4d93-8e7f-19b2c0d4a6e5",
        "campaign": "fall-launch-2024",
    },
]

NOTES = [
    ["Fall product launches"],
    [""],
    ["One video per row of the Launches sheet: an intro moment, the script (split into several"],
    ["moments when it is longer than the transcript limit) and an optional outro."],
    ["A row is known by sku + market; the outro moment exists only when its cell is filled."],
    ["Config: configs/launches.yaml"],
]


def build_launches() -> bytes:
    """The workbook: a notes sheet first (so the config must name its sheet), then Launches."""
    workbook = Workbook()
    notes = workbook.active
    notes.title = "Read me"
    for line in NOTES:
        notes.append(line)
    notes["A1"].font = Font(bold=True, size=14)
    notes.column_dimensions["A"].width = 100

    sheet = workbook.create_sheet("Launches")
    sheet.append(LAUNCH_HEADERS)
    for launch in LAUNCHES:
        sheet.append([launch[header] for header in LAUNCH_HEADERS])
    header_fill = PatternFill("solid", fgColor="1F3B57")
    for cell in sheet[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = header_fill
    widths = {"A": 10, "B": 8, "C": 18, "D": 40, "E": 14, "F": 14, "G": 12, "H": 50, "I": 80}
    for column, width in {**widths, "J": 50, "K": 38, "L": 18}.items():
        sheet.column_dimensions[column].width = width
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            cell.alignment = Alignment(vertical="top", wrap_text=cell.column_letter in "DHIJ")
    sheet.freeze_panes = "C2"

    workbook.properties.creator = "argil-batch examples"
    workbook.properties.created = _STAMP
    workbook.properties.modified = _STAMP
    buffer = io.BytesIO()
    workbook.save(buffer)
    return _normalise_zip(buffer.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    # openpyxl stamps each zip entry, and the "modified" property, with the current time at
    # save; rewrite both with a fixed one.
    modified = _STAMP.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            content = source.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = re.sub(
                    rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)",
                    rb"\g<1>" + modified + rb"\g<2>",
                    content,
                )
            target.writestr(entry, content)
    return out.getvalue()


_FIRST = ["Maya", "Daniel", "Sofia", "Tom", "Priya", "Lucas", "Hannah", "Kenji", "Amara", "Leo"]
_LAST = ["Chen", "Okafor", "Marquez", "Becker", "Raman", "Moreau", "Kowalski", "Watanabe"]
_COMPANIES = ["Northwind", "Brightline", "Lumen", "Aurora", "Cobalt", "Atelier", "Peak", "Harbor"]
_PEOPLE = [("avatar-emma", "voice-emma"), ("avatar-noah", "voice-noah")]


def write_synthetic_leads(path: Path, rows: int, seed: int = 7) -> None:
    """A leads sheet of ``rows`` distinct rows in the shape of leads.csv (for timing)."""
    rng = random.Random(seed)
    with Path(path).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            ["First Name", "Last Name", "Company", "Role", "Email", "Avatar", "Voice", "Intro"]
        )
        for n in range(rows):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            company = f"{rng.choice(_COMPANIES)} {rng.choice(['Labs', 'Group', 'Systems', 'Co'])}"
            avatar, voice = rng.choice(_PEOPLE)
            intro = (
                f"I noticed {company} is growing fast this quarter. Teams like yours usually "
                f"lose hours every week on manual reporting, and we fix that in a day. "
                f"Would a short walkthrough next week help? (ref {n})"
            )
            email = f"{first}.{last}.{n}@example.com".lower()
            writer.writerow([first, last, company, "Head of Growth", email, avatar, voice, intro])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--synthetic", type=int, metavar="ROWS")
    parser.add_argument("path", nargs="?", type=Path)
    args = parser.parse_args()
    if args.synthetic is not None:
        write_synthetic_leads(args.path or Path(f"leads-{args.synthetic}.csv"), args.synthetic)
        return
    target = args.path or HERE / "launches.xlsx"
    target.write_bytes(build_launches())


if __name__ == "__main__":
    main()
