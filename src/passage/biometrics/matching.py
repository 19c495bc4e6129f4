"""1:1 matching with NIST Bozorth3, score calibration to a likelihood ratio, multi-finger fusion.

Bozorth3 (NBIS; Watson et al., NISTIR 7392, 2007) compares two minutiae sets by their
intra-fingerprint pair tables, rotation and translation invariant; the score is roughly the number of
compatible minutia pairs, unbounded, and not symmetric in general. It runs natively inside nbis-py
0.1.3 (`Minutiae.compare`).

nbis-py reads templates only through its own byte layout (a 24-byte FMR header followed by a 2-byte
minutia count and 6-byte minutiae, no finger view header, no extended data): it is not ISO/IEC
19794-2 conformant, so `bozorth_bytes` writes that layout from a conformant view instead of handing
nbis a real record.

Calibration: a Bozorth3 score s is mapped to log2 of the likelihood ratio
LR = P(s | same finger) / P(s | different fingers) by a logistic model
log2 LR = clip(slope * (s - offset), floor, ceiling) (Brümmer and du Preez, "Application-independent
evaluation of speaker detection", Computer Speech and Language 20, 2006, for log-LR calibration by
logistic regression). The default parameters are provisional: anchored on NIST's guidance that a
Bozorth3 score above about 40 indicates a true match, with a conservative ceiling; `fit_calibration`
refits them from genuine and impostor scores (for example from `bench/biometrics/bench_fvc.py` on a
licensed FVC database) and should be run before the LR is trusted.

Fusion: the log2 LRs of different fingers are summed (naive Bayes, assuming independent fingers;
the sum rule is the strongest simple score fusion in Ulery et al., "Studies of biometric fusion",
NISTIR 7346, 2006).
"""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import nbis
import numpy as np

from passage.biometrics import messages as _messages  # noqa: F401 - defines the finger labels used below
from passage.biometrics.codec import (
    ISO_ANGLE_DEGREES,
    ISO_FORMATS,
    FingerView,
    MinutiaeRecord,
    RecordFormat,
    convert,
)
from passage.biometrics.extract import DEFAULT_MIN_NFIQ2, MIN_MINUTIAE
from passage.core.errors import InvalidInput
from passage.core.i18n import P_, T_, Label, Text

_local = threading.local()


def _loader() -> nbis.NbisExtractor:
    loader = getattr(_local, "loader", None)
    if loader is None:
        settings = nbis.NbisExtractorSettings(min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=500.0)
        loader = nbis.new_nbis_extractor(settings)
        _local.loader = loader
    return loader


def bozorth_bytes(view: FingerView, width: int, height: int, source_format: RecordFormat) -> bytes:
    """The byte layout nbis-py 0.1.3 loads (see module docstring), angles in ISO units."""
    minutiae = view.minutiae[:255]
    body = b"".join(
        struct.pack(">HHBB", (m.kind << 14) | m.x, m.y,
                    m.angle if source_format in ISO_FORMATS else round(m.angle * 2.0 / ISO_ANGLE_DEGREES) % 256, min(m.quality, 100))
        for m in minutiae
    )
    header = b"FMR\x00 20\x00" + struct.pack(">IHHHHHBB", 24 + 2 + len(body), 0, width, height, 0, 0, 0, 0)
    return header + struct.pack(">H", len(minutiae)) + body


def bozorth_template(record: MinutiaeRecord, view: FingerView) -> nbis.Minutiae:
    """Load one finger view into nbis for Bozorth3."""
    width, height = record.image_size(view)
    return _loader().load_iso_19794_2_2005(bozorth_bytes(view, width, height, record.format))


class PreparedRecord:
    """A record converted once to ISO 2005, with each view's Bozorth3 template loaded on first use and kept.

    1:N search re-ranks the same gallery records again and again and compares one probe with every
    shortlisted record: preparing each side once removes the conversion and nbis load per comparison.
    """

    __slots__ = ("record", "_templates")

    def __init__(self, record: MinutiaeRecord) -> None:
        self.record = record if record.format == "iso2005" else convert(record, "iso2005")
        self._templates: dict[int, nbis.Minutiae] = {}

    def template(self, view_index: int) -> nbis.Minutiae:
        loaded = self._templates.get(view_index)
        if loaded is None:
            loaded = self._templates[view_index] = bozorth_template(self.record, self.record.views[view_index])
        return loaded


def prepare(record: MinutiaeRecord | PreparedRecord) -> PreparedRecord:
    return record if isinstance(record, PreparedRecord) else PreparedRecord(record)


def bozorth3(probe: nbis.Minutiae, reference: nbis.Minutiae) -> int:
    """Bozorth3 score of two loaded templates (probe first, as in NBIS `bozorth3 -p`)."""
    return int(probe.compare(reference))


@dataclass(frozen=True)
class Calibration:
    """log2 LR = clip(slope * (score - offset), floor, ceiling); see module docstring."""

    slope: float = 0.2
    offset: float = 25.0
    floor: float = -5.0
    ceiling: float = 13.0
    source: Text = T_("provisional (NIST guidance: a Bozorth3 score above {score} suggests the same finger), until it is re-estimated from known pairs "
                      "compared in this deployment", score=40)

    def log2_lr(self, score: float) -> float:
        return float(min(self.ceiling, max(self.floor, self.slope * (score - self.offset))))


DEFAULT_CALIBRATION = Calibration()


def fit_calibration(genuine: Sequence[float], impostor: Sequence[float], *, iterations: int = 500) -> Calibration:
    """Fit the logistic calibration by maximum likelihood with balanced class weights.

    With balanced weights the fitted log-odds are log-likelihood ratios (the prior cancels), as in
    Brümmer and du Preez (2006). Needs at least 10 scores of each kind; the floor and ceiling are
    set where the data stop (the largest and smallest observed scores) so that LRs are not
    extrapolated beyond the evidence.
    """
    if len(genuine) < 10 or len(impostor) < 10:
        raise InvalidInput(T_("calibration needs at least 10 genuine and 10 impostor scores"))
    scores = np.concatenate([np.asarray(genuine, float), np.asarray(impostor, float)])
    labels = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    weights = np.where(labels == 1, 0.5 / len(genuine), 0.5 / len(impostor))
    scale = max(float(scores.std()), 1e-6)
    x = (scores - scores.mean()) / scale
    a, b = 1.0, 0.0
    for _ in range(iterations):  # Newton-Raphson on the weighted logistic log-likelihood
        p = 1.0 / (1.0 + np.exp(-(a * x + b)))
        g = np.array([np.sum(weights * (labels - p) * x), np.sum(weights * (labels - p))])
        w = weights * p * (1 - p)
        h = np.array([[np.sum(w * x * x), np.sum(w * x)], [np.sum(w * x), np.sum(w)]]) + 1e-9 * np.eye(2)
        step = np.linalg.solve(h, g)
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-10:
            break
    slope_nat = a / scale
    offset = float(scores.mean() - b * scale / a) if a != 0 else float(scores.mean())
    slope = float(slope_nat / math.log(2))
    cal = Calibration(slope=slope, offset=offset, floor=-6.0, ceiling=13.0, source=T_("fitted on {genuine} genuine and {impostor} impostor scores", genuine=len(genuine), impostor=len(impostor)))
    return Calibration(slope=slope, offset=offset, floor=min(0.0, cal.log2_lr(float(np.min(impostor)))),
                       ceiling=max(0.0, cal.log2_lr(float(np.max(genuine)))), source=cal.source)


@dataclass(frozen=True)
class FingerComparison:
    probe_view: int
    reference_view: int
    finger_position: int
    score: int
    log2_lr: float


@dataclass(frozen=True)
class MatchResult:
    """Evidence for the identification engine: one log2 LR term and the text that explains it."""

    fingers: tuple[FingerComparison, ...]
    log2_lr: float
    usable: bool
    explanation: Text
    """A message (`i18n.Text`): English as a `str`, rendered in the reader's language with `i18n.localise`."""

    @property
    def best_score(self) -> int:
        return max((f.score for f in self.fingers), default=0)


def view_is_low_quality(view: FingerView, *, min_quality: int = DEFAULT_MIN_NFIQ2) -> bool:
    """A view with a reported finger quality below the threshold or too few minutiae (0 = not reported)."""
    return (0 < view.quality < min_quality) or len(view.minutiae) < MIN_MINUTIAE


def _pairs(probe: MinutiaeRecord, reference: MinutiaeRecord) -> list[tuple[int, int]]:
    """Which views to compare: same finger position when both are known, otherwise every pair."""
    pairs = []
    for i, pv in enumerate(probe.views):
        for j, rv in enumerate(reference.views):
            if pv.position == 0 or rv.position == 0 or pv.position == rv.position:
                pairs.append((i, j))
    return pairs


def match_records(probe: MinutiaeRecord | PreparedRecord, reference: MinutiaeRecord | PreparedRecord, *,
                  calibration: Calibration = DEFAULT_CALIBRATION, allow_low_quality: bool = False) -> MatchResult:
    """Compare two records finger by finger with Bozorth3 and fuse the calibrated log2 LRs.

    Each probe view contributes its best-matching reference view (same finger position when known);
    distinct probe fingers are summed. Low-quality views are not used unless `allow_low_quality`, and
    the result then says so rather than reporting a weak score as evidence against identity. Either
    side may be a `PreparedRecord`, whose loaded Bozorth3 templates are reused.
    """
    prepared_probe, prepared_reference = prepare(probe), prepare(reference)
    best: dict[int, FingerComparison] = {}
    skipped = 0
    for i, j in _pairs(prepared_probe.record, prepared_reference.record):
        pv, rv = prepared_probe.record.views[i], prepared_reference.record.views[j]
        if not allow_low_quality and (view_is_low_quality(pv) or view_is_low_quality(rv)):
            skipped += 1
            continue
        score = bozorth3(prepared_probe.template(i), prepared_reference.template(j))
        comparison = FingerComparison(i, j, pv.position or rv.position, score, calibration.log2_lr(score))
        if i not in best or comparison.score > best[i].score:
            best[i] = comparison
    fingers = tuple(best[k] for k in sorted(best))
    if not fingers:
        reason = (T_("no comparable finger views") if skipped == 0
                  else P_("{n} comparison skipped: fingerprint quality too low", "{n} comparisons skipped: fingerprint quality too low", skipped))
        return MatchResult((), 0.0, False, T_("Fingerprints give no evidence: {reason}.", reason=reason))
    total = float(sum(f.log2_lr for f in fingers))
    parts: Text | None = None
    for f in fingers:
        part = T_("{finger}: Bozorth3 score {score}, log2 likelihood ratio {lr}", finger=Label("biometrics.finger", str(f.finger_position)),
                  score=f.score, lr=f"{f.log2_lr:+.1f}")
        parts = part if parts is None else T_("{earlier}; {next}", earlier=parts, next=part)
    explanation = P_("{n} finger compared: {parts}. Fused log2 likelihood ratio {total}.", "{n} fingers compared: {parts}. Fused log2 likelihood ratio {total}.",
                     len(fingers), parts=parts, total=f"{total:+.1f}")
    if skipped:
        explanation = T_("{explanation} {note}", explanation=explanation,
                         note=P_("{n} low-quality comparison skipped.", "{n} low-quality comparisons skipped.", skipped))
    return MatchResult(fingers, total, True, T_("{explanation} Calibration: {calibration}.", explanation=explanation, calibration=calibration.source))
