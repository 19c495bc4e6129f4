"""`passage biometrics ...`: extract, match, enrol and search fingerprint templates.

Contracts (see docs/biometrics.md): templates are ISO/IEC 19794-2:2005 or ANSI INCITS 378-2004/2007
files; outputs are written atomically; every expected failure prints `error: <one line>` and exits 2.
Gallery files are encrypted with the foundation's `passage.security.crypto`; `--unencrypted` is a
trial mode refused in production.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import sqlalchemy.exc
import typer

from passage.biometrics.codec import RecordFormat, convert, decode, encode
from passage.biometrics.extract import DEFAULT_MIN_NFIQ2, extract
from passage.biometrics.gallery import Decrypt, Encrypt, Enrolment, Gallery
from passage.biometrics.matching import match_records
from passage.core.errors import Forbidden, InvalidInput, PassageError
from passage.core.files import atomic_output, read_csv_rows
from passage.core.progress import progress_bar
from passage.core.settings import get_settings

app = typer.Typer(name="biometrics", help="Fingerprint templates: extraction, 1:1 and 1:N matching.", no_args_is_help=True)
typer_apps = [app]

IMAGE_SUFFIXES = {".png", ".tif", ".tiff", ".bmp", ".wsq"}


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        raise InvalidInput(f"{what} {path.name}: cannot be read") from None


def _load_template(path: Path) -> tuple[bytes, object]:
    data = _read(path, "template")
    return data, decode(data)


def _ciphers(unencrypted: bool) -> tuple[Encrypt, Decrypt]:
    if unencrypted:
        if get_settings().environment == "production":
            raise Forbidden("--unencrypted is refused in production: biometric templates must be encrypted at rest")

        def plain_encrypt(data: bytes, *, context: str) -> bytes:
            return data

        def plain_decrypt(blob: bytes, *, context: str) -> bytes:
            return blob

        return plain_encrypt, plain_decrypt
    from passage.security import crypto

    def encrypt(data: bytes, *, context: str) -> bytes:
        try:
            return crypto.encrypt_bytes(data, context=context)
        except sqlalchemy.exc.SQLAlchemyError:
            raise PassageError("field encryption is not initialised (run the database migrations first)") from None

    def decrypt(blob: bytes, *, context: str) -> bytes:
        try:
            return crypto.decrypt_bytes(blob, context=context)
        except sqlalchemy.exc.SQLAlchemyError:
            raise PassageError("field encryption is not initialised (run the database migrations first)") from None

    return encrypt, decrypt


@app.command("extract")
def extract_command(
    image: Path,
    out: Annotated[Path, typer.Option("--out", help="Template file to write")],
    fmt: Annotated[str, typer.Option("--format", help="iso2005, ansi2004 or ansi2007")] = "iso2005",
    finger: Annotated[int, typer.Option(help="Finger position 0-10 (ISO/IEC 19794-2 Table 2)")] = 0,
    ppi: Annotated[float | None, typer.Option(help="Resolution when the image does not declare it")] = None,
    min_nfiq2: Annotated[int, typer.Option(help="NFIQ 2 below this is flagged low quality")] = DEFAULT_MIN_NFIQ2,
) -> None:
    """Extract minutiae (MINDTCT) and NFIQ 2 from an image into a minutiae record."""
    if fmt not in ("iso2005", "ansi2004", "ansi2007"):
        raise InvalidInput("--format must be iso2005, ansi2004 or ansi2007")
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
                           "explanation": result.explanation}))


@app.command("enrol")
def enrol_command(
    manifest: Annotated[Path, typer.Argument(help="CSV with columns record_id, person_id, path[, finger]")],
    gallery: Annotated[Path, typer.Option("--gallery", help="Gallery directory")],
    keep_images: Annotated[bool, typer.Option(help="Keep encrypted source images (default: drop after extraction)")] = False,
    unencrypted: Annotated[bool, typer.Option(help="Trial mode without encryption (refused in production)")] = False,
) -> None:
    """Enrol templates or images listed in a CSV; a duplicate id or a bad file changes nothing."""
    _, rows = read_csv_rows(manifest, required=["record_id", "person_id", "path"], optional=["finger"])
    seen: dict[str, int] = {}
    for line, row in rows:
        if row["record_id"] in seen:
            raise InvalidInput(f"{manifest.name}: line {line}: duplicate record_id (first on line {seen[row['record_id']]}); nothing was enrolled")
        seen[row["record_id"]] = line
    encrypt, decrypt = _ciphers(unencrypted)
    store = Gallery.open(gallery, encrypt=encrypt, decrypt=decrypt, keep_images=keep_images)
    enrolments = []
    with progress_bar() as progress:
        task = progress.add_task("extracting", total=len(rows))
        for line, row in rows:
            path = (manifest.parent / row["path"]) if not Path(row["path"]).is_absolute() else Path(row["path"])
            data = _read(path, f"line {line}: file")
            try:
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    finger = int(row.get("finger") or 0)
                    record = extract(data, finger_position=finger).record
                    image = data
                else:
                    record, image = decode(data), None
            except PassageError as exc:
                raise InvalidInput(f"{manifest.name}: line {line}: {exc.message}; nothing was enrolled") from None
            except ValueError:
                raise InvalidInput(f"{manifest.name}: line {line}: finger must be a number 0-10; nothing was enrolled") from None
            enrolments.append(Enrolment(row["record_id"], row["person_id"], record, image))
            progress.advance(task)
    enrolled = store.enrol(enrolments)
    typer.echo(json.dumps({"enrolled": len(enrolled), "gallery_size": len(store)}))


@app.command("search")
def search_command(
    template: Path,
    gallery: Annotated[Path, typer.Option("--gallery", help="Gallery directory")],
    top: Annotated[int, typer.Option("--top", min=1, max=1000)] = 10,
    shortlist: Annotated[int, typer.Option(help="Candidates kept by the MCC prefilter per finger")] = 100,
    allow_low_quality: Annotated[bool, typer.Option()] = False,
    unencrypted: Annotated[bool, typer.Option(help="Gallery was enrolled with --unencrypted")] = False,
) -> None:
    """1:N search: MCC prefilter, Bozorth3 re-rank, one line of JSON per candidate person."""
    _, probe = _load_template(template)
    encrypt, decrypt = _ciphers(unencrypted)
    store = Gallery.open(gallery, encrypt=encrypt, decrypt=decrypt)
    if len(store) == 0:
        raise InvalidInput("the gallery is empty")
    for rank, candidate in enumerate(store.search(probe, top=top, shortlist=shortlist, allow_low_quality=allow_low_quality), 1):  # type: ignore[arg-type]
        typer.echo(json.dumps({"rank": rank, "person_id": candidate.person_id, "record_ids": list(candidate.record_ids),
                               "bozorth3": candidate.result.best_score, "log2_lr": round(candidate.log2_lr, 3),
                               "explanation": candidate.result.explanation}))
