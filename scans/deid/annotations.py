"""The reviewed allow-vocabulary: burned-in text that identifies no one and that a reader needs.

A line of text read in an image is kept only when EVERY token on it is allowed here; anything
else (a name, an id, a date, a time, a place, a free word) is blacked out. Each entry carries
the reason it was allowed, and the module is reviewed like the header keep-list: add a word
only when it is a clinical or technical term that cannot be part of a patient's identity
beyond what the image itself shows.

Rules that hold whatever is added:

* Dates and times never pass: any token with a date or time shape (``12/03/1961``,
  ``1961-03-12``, ``14:22``, ``14:22:05``, ``03-DEC-1961``, ``12.03.61``) is refused, even next
  to an allowed word.
* Numbers pass only when short: at most 3 digits before the decimal point and 2 after, so an
  id (``889123``), a year (``1961``) or a phone number never passes as "a number". A number
  with a unit passes under the same limit.
* OCR slips: a word of five or more letters one edit from an allowed word passes, and so do
  two allowed words read without their space; short words must match exactly.
* A line whose tokens are all marks (``-``, ``|``, ``+``, ``.``: scale bars, ticks, calipers)
  passes: marks cannot spell anything.
"""

from __future__ import annotations

import re
import unicodedata

# Units a measurement or an acquisition parameter is given in (micrometre spelled with the
# Greek mu that NFKC and casefold turn the micro sign into).
UNITS: dict[str, str] = {
    "mm": "length", "cm": "length", "m": "length", "um": "length", "\u03bcm": "length",
    "mm2": "area", "cm2": "area", "cm²": "area", "mm²": "area",
    "ml": "volume", "cc": "volume", "cm3": "volume", "cm³": "volume", "l": "volume",
    "hz": "frame rate, pulse repetition", "khz": "pulse repetition frequency",
    "mhz": "probe frequency", "bpm": "heart rate", "kv": "tube voltage", "kvp": "tube voltage",
    "ma": "tube current", "mas": "tube current-time product", "ms": "time interval",
    "s": "time interval", "sec": "time interval", "db": "gain, dynamic range",
    "%": "power, gain, percentages", "cm/s": "velocity", "m/s": "velocity",
    "mm/s": "sweep speed", "mmhg": "pressure gradient", "deg": "angle", "°": "angle",
    "x": "zoom factor", "mgy": "dose", "mgy*cm": "dose-length product", "w": "window width",
    "fps": "frame rate",
}

# Acquisition, display and measurement parameter names as scanners print them.
PARAMETERS: dict[str, str] = {
    "mi": "mechanical index (ultrasound safety)", "tis": "soft-tissue thermal index",
    "tib": "bone thermal index", "tic": "cranial thermal index", "gain": "receiver gain",
    "g": "gain", "gn": "gain", "depth": "imaging depth", "d": "depth",
    "dr": "dynamic range", "dyn": "dynamic range", "fr": "frame rate", "frame": "frame counter",
    "fps": "frame rate", "prf": "pulse repetition frequency", "wf": "wall filter",
    "freq": "probe frequency", "frq": "probe frequency", "res": "resolution preset",
    "gen": "general preset", "pen": "penetration preset", "pwr": "output power",
    "power": "output power", "ao": "acoustic output", "zoom": "zoom", "focus": "focal zone",
    "hr": "heart rate", "cine": "cine loop counter", "kv": "tube voltage",
    "kvp": "tube voltage", "ma": "tube current", "mas": "tube current-time product",
    "ww": "window width", "wl": "window level", "wc": "window centre", "w": "window width",
    "c": "window centre", "l": "window level", "ex": "exam counter", "se": "series number",
    "im": "image number", "img": "image number", "sl": "slice", "slice": "slice",
    "thk": "slice thickness", "pos": "table position", "tilt": "gantry tilt",
    "fov": "field of view", "tr": "repetition time", "te": "echo time", "ti": "inversion time",
    "fa": "flip angle", "nex": "number of excitations", "etl": "echo train length",
    "bw": "bandwidth", "matrix": "acquisition matrix", "mag": "magnification",
    "dist": "distance measurement", "diam": "diameter measurement", "area": "area measurement",
    "vol": "volume measurement", "length": "length measurement", "width": "width measurement",
    "vel": "velocity", "pg": "pressure gradient", "vmax": "peak velocity",
    "vti": "velocity-time integral", "ef": "ejection fraction", "sv": "sample volume",
    "angle": "Doppler angle", "baseline": "Doppler baseline", "scale": "velocity scale",
    "ctdivol": "CT dose index", "dlp": "dose-length product", "ap": "anteroposterior",
    "q": "quality preset", "p": "power preset", "cf": "colour flow", "bpm": "heart rate",
    "avg": "average", "mean": "mean", "max": "maximum", "min": "minimum", "sd": "standard dev.",
    "roi": "region of interest", "no": "number", "of": "'n of m' counters",
    "measurement": "measurement label", "caliper": "caliper label", "index": "indexed measurement",
    "hpen": "harmonic penetration preset", "hgen": "harmonic general preset",
    "hres": "harmonic resolution preset", "low": "preset level", "high": "preset level",
    "medium": "preset level", "adult": "patient-size preset", "auto": "automatic setting",
}

# Laterality, orientation and projection markers (PS3.3 C.7.6.1.1.1 and radiographers' lead
# markers).
ORIENTATION: dict[str, str] = {
    "r": "right", "l": "left", "a": "anterior", "p": "posterior", "h": "head", "f": "foot",
    "s": "superior", "i": "inferior", "rt": "right", "lt": "left", "right": "right",
    "left": "left", "ap": "anteroposterior", "pa": "posteroanterior", "lat": "lateral",
    "lateral": "lateral", "med": "medial", "medial": "medial", "ant": "anterior",
    "post": "posterior", "sup": "superior", "inf": "inferior", "obl": "oblique",
    "oblique": "oblique", "lao": "left anterior oblique", "rao": "right anterior oblique",
    "lpo": "left posterior oblique", "rpo": "right posterior oblique", "cran": "cranial",
    "caud": "caudal", "sag": "sagittal", "sagittal": "sagittal", "cor": "coronal",
    "coronal": "coronal", "ax": "axial", "axial": "axial", "trans": "transverse",
    "trv": "transverse", "transverse": "transverse", "long": "longitudinal",
    "supine": "patient position", "prone": "patient position", "erect": "patient position",
    "upright": "patient position", "decub": "decubitus", "decubitus": "decubitus",
    "prox": "proximal", "mid": "middle", "distal": "distal", "upper": "upper",
    "lower": "lower", "pole": "organ pole", "view": "view label", "sitting": "position",
    "standing": "position", "weight-bearing": "position", "wb": "weight-bearing",
}

# Imaging modes and probe names.
MODES: dict[str, str] = {
    "2d": "B-mode", "b": "B-mode", "m": "M-mode", "mmode": "M-mode", "m-mode": "M-mode",
    "b-mode": "B-mode", "pw": "pulsed-wave Doppler", "cw": "continuous-wave Doppler",
    "cfm": "colour flow mapping", "cd": "colour Doppler", "pd": "power Doppler",
    "pdi": "power Doppler", "color": "colour Doppler", "colour": "colour Doppler",
    "doppler": "Doppler", "thi": "tissue harmonic imaging", "har": "harmonic imaging",
    "harm": "harmonic imaging", "tdi": "tissue Doppler", "3d": "3-D mode", "4d": "4-D mode",
    "elasto": "elastography", "swe": "shear-wave elastography", "contrast": "contrast mode",
    "live": "live imaging", "frozen": "freeze state", "freeze": "freeze state",
    "scout": "localiser", "topogram": "localiser", "localizer": "localiser",
    "flair": "MR sequence", "t1": "MR weighting", "t2": "MR weighting", "dwi": "MR sequence",
    "adc": "MR map", "stir": "MR sequence", "gre": "MR sequence", "swi": "MR sequence",
    "fse": "MR sequence", "tse": "MR sequence", "se": "spin echo", "ir": "inversion recovery",
    "mip": "maximum intensity projection", "mpr": "multiplanar reformat", "vr": "volume render",
    "cta": "CT angiography", "bone": "reconstruction kernel",
    "soft": "reconstruction kernel", "std": "reconstruction kernel", "lung": "lung window",
    "mediastinum": "mediastinal window", "abd": "abdominal preset", "card": "cardiac preset",
    "vasc": "vascular preset", "ob": "obstetric preset", "gyn": "gynaecological preset",
    "msk": "musculoskeletal preset", "sm": "small parts preset", "parts": "small parts preset",
    "small": "small parts preset", "adult": "preset", "echo": "echocardiography preset",
    "ped": "paediatric preset", "tte": "transthoracic echo", "tee": "transoesophageal echo",
}
# Probe names: a vendor's probe-family letters and a frequency range (C5-1, L12-5, S5-1, C1-6,
# EC9-4, 9L, 12L4). Only these prefixes: a free letters-and-digits code could be a bed or id.
_PROBE = re.compile(
    r"^(?:(?:c|l|s|p|v|x|ec|ev|ic|te|tv|ml|xl|sl|lf|mc|vf|cl)\d{1,2}(?:-\d{1,2})?[a-z]?"
    r"|\d{1,2}[lcsv]\d{0,2})$"
)

# Anatomy and finding words annotated on ultrasound and radiographs ("LYMPH NODE", "Asc Ao").
# Words that are common surnames or given names on their own (Hand, Head, Foot...) are still
# allowed: on a line alone they say what the image shows; next to any other unknown word the
# line is blacked out whole.
_ANATOMY_WORDS = (
    "lymph node nodes liver kidney renal thyroid lobe isthmus spleen pancreas gallbladder gb "
    "cbd bile duct ducts bladder uterus ovary ovaries adnexa pelvis pelvic aorta aortic asc desc "
    "ao arch root lv rv la ra lvot rvot ivs lvpw lvid lvidd lvids mv av tv pv mitral tricuspid "
    "valve annulus septum apex apical 4ch 2ch 3ch plax psax sax lax subcostal suprasternal "
    "carotid cca ica eca vertebral vein veins artery arteries ivc svc portal hepatic jugular "
    "femoral popliteal breast axilla axillary neck chest thorax abdomen abdominal head knee hip "
    "shoulder foot hand wrist ankle elbow spine cervical thoracic lumbar sacrum skull brain "
    "testis testes scrotum prostate heart lung lungs pleura pleural effusion mass lesion cyst "
    "nodule fetus fetal placenta amniotic crl bpd hc ac fl efw ga gs yolk sac endometrium "
    "cervix soft tissue muscle tendon joint bone humerus femur tibia fibula radius ulna clavicle "
    "rib ribs pa ap chest abdo upper lower mid proximal distal segment body tail neck fundus "
    "antrum bowel colon appendix stomach gastric kidneys adrenal parotid submandibular "
    "salivary gland glands midline superficial deep long short axis view lesion1 lesion2 "
    "target sign free fluid ascites trace small moderate large normal no flow color"
)
ANATOMY: dict[str, str] = dict.fromkeys(_ANATOMY_WORDS.split(" "), "anatomy or finding label")

ALLOWED_WORDS: dict[str, str] = {**ANATOMY, **MODES, **ORIENTATION, **PARAMETERS, **UNITS}
_LONG_WORDS = tuple(word for word in ALLOWED_WORDS if len(word) >= 5 and word.isalpha())

# Date and time shapes, refused anywhere on a line.
_DATE_OR_TIME = re.compile(
    r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{1,4}"  # 12/03/1961, 1961-03-12, 12.03.61
    r"|\d{1,2}:\d{2}"  # 14:22, 14:22:05
    r"|\d{1,2}[\-\s/]?(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?"
    r"(?:[\-\s/]?\d{2,4})?"  # 03-DEC-1961, 3 Dec 61
    r"|(?:jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*\.?[\-\s/]?\d{1,2}"
    r"(?:,?[\-\s/]?\d{2,4})"  # Dec 3, 1961
    r"|\d{1,2}/\d{1,2}(?!\d)"  # 12/03 (a date without its year)
    r"|\d{6,}",  # 6+ digits in a row: ids, compact dates (19610312), phone numbers
    re.IGNORECASE,
)
# A short number, optionally signed or with a decimal comma: at most 3 integer digits.
_NUMBER = r"[+\-\u2212±~]?(?:\d{1,3}(?:[.,]\d{1,2})?|[.,]\d{1,2})"
_NUMBER_ONLY = re.compile(rf"^{_NUMBER}$")
_NUMBER_WITH_UNIT = re.compile(rf"^{_NUMBER}[.,]?(?P<unit>[a-zµ°%²³/*]+\d?)$")
_WORD_WITH_NUMBER = re.compile(
    rf"^(?P<word>[a-z][a-z\-]*)[:=]?(?P<number>{_NUMBER})(?P<unit>[a-z%°/]*)$")
_MARKS = re.compile(r"^[\-_|.:,;+*=<>~^'\"`()\[\]{}#°•·/\\]+$")
# Whitespace, and the caliper and cursor marks measurements are numbered with ("+", "*", "x"
# as a multiplication sign, bullets), separate tokens.
_SPLIT = re.compile(r"[\s+*\u00d7\u2022\u25e6\u00b7]+")
# Punctuation scanners print between fields; stripped from the ends of each token.
_EDGE_PUNCTUATION = "()[]{}:;,=\"'`/\\|"


def _fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return folded.replace("\u2014", "-").replace("\u2013", "-").replace("\u2212", "-")


def _near_word(core: str) -> bool:
    """One OCR slip (a letter replaced, dropped or added) from an allowed word of five or more
    letters: "NODI" is not five letters and stays refused, "KIDNEV" is KIDNEY."""
    if len(core) < 5 or not core.isalpha():
        return False
    return any(abs(len(word) - len(core)) <= 1 and _one_edit(core, word)
               for word in _LONG_WORDS)


def _one_edit(a: str, b: str) -> bool:
    if len(a) == len(b):
        return sum(x != y for x, y in zip(a, b, strict=True)) <= 1
    short, long_ = (a, b) if len(a) < len(b) else (b, a)
    return any(long_[:i] + long_[i + 1 :] == short for i in range(len(long_)))


def _word_allowed(core: str) -> bool:
    return core in ALLOWED_WORDS or _near_word(core) or _joined_words(core)


def _joined_words(core: str) -> bool:
    """Two allowed words read without their space ("ascao" is ASC AO)."""
    return core.isalpha() and any(
        core[:i] in ALLOWED_WORDS and core[i:] in ALLOWED_WORDS and min(i, len(core) - i) >= 2
        for i in range(2, len(core) - 1)
    )


# Digits OCR reads in place of letters, undone when a token is checked as a word ("AscA0").
_DIGITS_AS_LETTERS = str.maketrans("0158", "olsb")


def _token_allowed(token: str) -> bool:
    core = token.strip(_EDGE_PUNCTUATION)
    if core and not core.isdigit() and any(c.isalpha() for c in core):
        lettered = core.translate(_DIGITS_AS_LETTERS)
        if lettered != core and lettered.isalpha() and _word_allowed(lettered):
            return True
    if not core or _MARKS.match(core):
        return True
    if _NUMBER_ONLY.match(core):
        return True
    if core in ALLOWED_WORDS or _PROBE.match(core):
        return True
    if _word_allowed(core):
        return True
    unit = _NUMBER_WITH_UNIT.match(core)
    if unit and unit.group("unit") in UNITS:
        return True
    labelled = _WORD_WITH_NUMBER.match(core)
    return bool(labelled and labelled.group("word") in ALLOWED_WORDS
                and (not labelled.group("unit") or labelled.group("unit") in UNITS))


def is_annotation(text: str) -> bool:
    """True when every token of a recognised line is on the allow-vocabulary, and nothing on
    it has the shape of a date, a time or an id. An empty line is not an annotation (nothing
    was read, so nothing is vouched for)."""
    folded = _fold(text).strip()
    if not folded or not any(c.isalnum() or not c.isascii() or c in "%°" for c in folded):
        return bool(folded) and bool(_MARKS.match(folded.replace(" ", "")))
    if _DATE_OR_TIME.search(folded):
        return False
    return all(_token_allowed(token) for token in _SPLIT.split(folded) if token)


def has_letters_or_digits(text: str) -> bool:
    """Whether a reading holds anything that could spell a word or a number."""
    return any(c.isalnum() for c in text)


def mostly_allowed(text: str) -> bool:
    """Whether at least half the tokens of a line pass on their own and nothing on it has a
    date or time shape: a misread annotation, worth a second look, rather than an identifier."""
    folded = _fold(text).strip()
    tokens = [token for token in _SPLIT.split(folded) if token]
    if not tokens or _DATE_OR_TIME.search(folded):
        return False
    return 2 * sum(_token_allowed(token) for token in tokens) >= len(tokens)
