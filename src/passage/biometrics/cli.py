"""`passage biometrics ...`: extract, match, enrol and search fingerprint templates.

Contracts (see docs/biometrics.md): templates are ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004/2007
files; outputs are written atomically; every expected failure prints `error: <one line>` and exits 2.
`enrol` and `search` work on the database gallery through `service.py` as a system actor (audited as
`system`); templates are encrypted at rest by the foundation.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from passage.biometrics import service
from passage.biometrics.codec import RecordFormat, convert, decode, encode
from passage.biometrics.extract import DEFAULT_MIN_NFIQ2, extract
from passage.biometrics.matching import match_records
from passage.core.db import unit_of_work
from passage.core.errors import InvalidInput, PassageError
from passage.core.files import atomic_output, read_csv_rows
from passage.core.i18n import N_, T_, localise
from passage.core.progress import progress_bar
from passage.security.actors import SystemActor, system_actor

app = typer.Typer(name="biometrics", help="Fingerprint templates: extraction, 1:1 and 1:N matching.", no_args_is_help=True)
typer_apps = [app]

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".bmp", ".wsq"}


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise InvalidInput(T_("{what} {name}: cannot be read", what=what, name=path.name)) from None


def _load_template(path: Path) -> tuple[bytes, object]:
    data = _read(path, "template")
    return data, decode(data)


@app.command("extract")
def extract_command(
    image: Path,
    out: Annotated[Path, typer.Option("--out", help="Template file to write")],
    fmt: Annotated[str, typer.Option("--format", help="iso2005, iso2011, ansi2004 or ansi2007")] = "iso2005",
    finger: Annotated[int, typer.Option(help="Finger position 0-10 (ISO/IEC 19794-2 Table 2)")] = 0,
    ppi: Annotated[float | None, typer.Option(help="Resolution when the image does not declare it")] = None,
    min_nfiq2: Annotated[int, typer.Option(help="NFIQ 2 below this is flagged low quality")] = DEFAULT_MIN_NFIQ2,
) -> None:
    """Extract minutiae (MINDTCT) and NFIQ 2 from an image into a minutiae record."""
    if fmt not in ("iso2005", "iso2011", "ansi2004", "ansi2007"):
        raise InvalidInput(N_("--format must be iso2005, iso2011, ansi2004 or ansi2007"))
    target: RecordFormat = fmt  # type: ignore[assignment]
    result = extract(_read(image, "image"), ppi=ppi, finger_position=finger, min_nfiq2=min_nfiq2)
    with atomic_output(out, mode="wb") as handle:
        handle.write(encode(convert(result.record, target)))
    typer.echo(json.dumps({"minutiae": result.minutiae, "nfiq2": result.nfiq2, "low_quality": result.low_quality,
                           "quality_reasons": list(result.quality_reasons), "resolution_assumed": result.resolution_assumed}))


@app.command("match")
def match_command(
    a: Path,
    b: Path,
    allow_low_quality: Annotated[bool, typer.Option(help="Use low-quality views as evidence anyway")] = False,
) -> None:
    """Compare two templates with Bozorth3; prints scores and the calibrated log2 likelihood ratio."""
    _, first = _load_template(a)
    _, second = _load_template(b)
    result = match_records(first, second, allow_low_quality=allow_low_quality)  # type: ignore[arg-type]
    typer.echo(json.dumps({"usable": result.usable, "log2_lr": round(result.log2_lr, 3), "best_score": result.best_score,
                           "fingers": [{"position": f.finger_position, "score": f.score, "log2_lr": round(f.log2_lr, 3)} for f in result.fingers],
                           "explanation": localise(result.explanation)}, ensure_ascii=False))


def _system_actor(session: Any, organisation: str) -> SystemActor:
    from sqlalchemy import or_, select

    from passage.security.models import Organisation

    found = session.scalars(select(Organisation).where(or_(Organisation.id == organisation, Organisation.name == organisation))).first()
    if found is None:
        raise InvalidInput(N_("--organisation: no such organisation (give its id or exact name)"))
    return system_actor("biometrics.cli", organisation_id=found.id)


def _manifest_rows(gallery: Path) -> tuple[Path, list[tuple[int, dict[str, str]]]]:
    """A CSV manifest, or a directory: its manifest.csv, else every image/template file (id = person = file stem)."""
    if gallery.is_dir():
        manifest = gallery / "manifest.csv"
        if not manifest.exists():
            files = sorted(p for p in gallery.iterdir() if p.is_file() and not p.name.startswith("."))
            if not files:
                raise InvalidInput(T_("{name}: the directory holds no files to enrol", name=gallery.name))
            return gallery, [(n, {"record_id": p.stem, "person_id": p.stem, "path": p.name}) for n, p in enumerate(files, 1)]
        gallery = manifest
    _, rows = read_csv_rows(gallery, required=["record_id", "person_id", "path"], optional=["finger"])
    return gallery.parent, rows


@app.command("enrol")
def enrol_command(
    gallery: Annotated[Path, typer.Option("--gallery", help="Directory of images/templates (optionally with manifest.csv), or a manifest CSV")],
    organisation: Annotated[str, typer.Option("--organisation", help="Owning organisation (id or exact name)")],
    addressed_country: Annotated[str | None, typer.Option(help="ISO alpha-2 code of the state the records are shared with")] = None,
    keep_images: Annotated[bool | None, typer.Option("--keep-images/--drop-images", help="Default: PASSAGE_BIOMETRICS_KEEP_IMAGES (false)")] = None,
) -> None:
    """Enrol into the database gallery; a duplicate id or a bad file changes nothing (manifest: record_id, person_id, path[, finger])."""
    base, rows = _manifest_rows(gallery)
    seen: dict[str, int] = {}
    for line, row in rows:
        if row["record_id"] in seen:
            raise InvalidInput(T_("line {line}: duplicate record_id (first on line {value}); nothing was enrolled", line=line, value=seen[row['record_id']]))
        seen[row["record_id"]] = line
    items = []
    with progress_bar() as progress:
        task = progress.add_task("extracting", total=len(rows))
        for line, row in rows:
            path = Path(row["path"]) if Path(row["path"]).is_absolute() else base / row["path"]
            data = _read(path, f"line {line}: file")
            try:
                finger = int(row.get("finger") or 0)
                upload = service.parse_upload(data, finger_position=finger, field=f"line {line}")
            except PassageError as exc:
                raise type(exc)(f"line {line}: {exc.message}; nothing was enrolled") from None
            except ValueError:
                raise InvalidInput(T_("line {line}: finger must be a number 0-10; nothing was enrolled", line=line)) from None
            items.append(service.EnrolmentRequest(row["record_id"], row["person_id"], upload, addressed_country))
            progress.advance(task)
    with unit_of_work() as session:
        actor = _system_actor(session, organisation)
        enrolled = service.enrol(session, actor=actor, items=items, keep_images=keep_images)
        size = service.gallery_stats(session, actor=actor).active
    typer.echo(json.dumps({"enrolled": len(enrolled), "gallery_size": size}))


@app.command("search")
def search_command(
    template: Path,
    top: Annotated[int, typer.Option("--top", min=1, max=1000)] = 10,
    shortlist: Annotated[int | None, typer.Option(help="Bozorth3 shortlist per finger (default: grows with the gallery)")] = None,
    organisation: Annotated[str | None, typer.Option("--organisation", help="Audit the search under this organisation")] = None,
) -> None:
    """1:N search of the database gallery: MCC prefilter, Bozorth3 re-rank, one line of JSON per candidate person."""
    _, probe = _load_template(template)
    with unit_of_work() as session:
        actor = _system_actor(session, organisation) if organisation else system_actor("biometrics.cli")
        if service.gallery_stats(session, actor=actor).active == 0:
            raise InvalidInput(N_("the gallery is empty"))
        hits = service.search(session, actor=actor, probe=probe, top=top, shortlist=shortlist)  # type: ignore[arg-type]
    for rank, hit in enumerate(hits, 1):
        typer.echo(json.dumps({"rank": rank, "person_id": hit.person_id, "template_ids": list(hit.template_ids),
                               "bozorth3": hit.result.best_score, "log2_lr": round(hit.log2_lr, 3), "explanation": localise(hit.result.explanation)}, ensure_ascii=False))
