"""The labelled pixel set: real text-free images, and real images with text drawn on them.

Built in memory from public sample files that nobody here wrote, none of them kept in git:

* DICOM images bundled with pydicom and with the ``pydicom-data`` package (CT, MR, NM, CR,
  SEG, multi-frame), found through ``pydicom.data.get_testdata_file`` without downloading;
* scikit-image's sample pictures (photographs, micrographs, a phantom, a test pattern),
  read from the installed package.

Text-free images must come out with no pixel changed. Synthetic images are those real images
with identifiers (names, ids, dates, times, places) and clinical annotations (measurements,
ultrasound parameters, laterality markers, anatomy labels) burned in with real TrueType fonts
(Pillow's bundled Aileron, and DejaVu / Liberation when the system has them) at several sizes,
positions and contrasts, including ultrasound-style layouts on a fan-shaped sector. Each label
keeps its exact ink mask, so a test can say which pixels must be black and which must stay.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

SYSTEM_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationMono-Regular.ttf",
)

# Text-free DICOM images (file name in pydicom's or pydicom-data's test files).
TEXT_FREE_DICOM = (
    "693_UNCR.dcm",  # CT head, 512 x 512, 16-bit signed
    "eCT_Supplemental.dcm",  # enhanced CT, 2 frames
    "CT_small.dcm",  # CT, 128 x 128
    "MR-SIEMENS-DICOM-WithOverlays.dcm",  # MR abdomen (overlays in their own groups)
    "MR2_UNCR.dcm",  # MR shoulder, 1024 x 1024
    "examples_overlay.dcm",  # MR, 300 x 484
    "MR_small.dcm",  # MR, 64 x 64
    "emri_small.dcm",  # enhanced MR, 10 frames
    "JPEG2000_UNC.dcm",  # NM whole body, 1024 x 256
    "RG1_UNCR.dcm",  # CR chest, MONOCHROME1, 1955 x 1841
    "liver_1frame.dcm",  # segmentation mask
)
# Text-free pictures among scikit-image's samples (others show lettering: coins, a page...).
TEXT_FREE_PHOTOS = (
    "brick.png", "camera.png", "cell.png", "chelsea.png", "chessboard_GRAY.png",
    "clock_motion.png", "coffee.png", "color.png", "grass.png", "gravel.png", "horse.png",
    "hubble_deep_field.jpg", "ihc.png", "logo.png", "microaneurysms.png", "moon.png",
    "phantom.png", "retina.jpg",
)

IDENTIFIERS = (
    "DOE^JOHN", "SMITH, ANNA", "Jurgen Muller", "ID 889123", "MRN 4471902", "12/03/1961",
    "1961-03-12", "03-DEC-1961", "14:22:05", "ST MARY HOSP", "BAPTIST MED CTR", "Dr. Patel",
    "Acc 77120", "DOB 04.11.1975", "Springfield", "Ward 7 Bed 12", "KOWALSKI^EWA", "09:41",
)
ANNOTATIONS = (
    "3.3 cm", "Asc Ao Diam 3.3 cm", "LYMPH NODE", "MI 1.2", "TIS 0.4", "TIB 0.7", "75 Hz",
    "Gain 45", "Depth 16 cm", "HR 72 bpm", "120 kV", "250 mAs", "C5-1", "DR 60 dB",
    "FR 30Hz", "100%", "LIVER", "W 400 L 40", "PA ERECT", "RT KIDNEY LONG", "THYROID LT LOBE",
)
MARKERS = ("R", "L", "AP", "LAT")


@dataclass
class Label:
    """One burned-in text: what it says, on which frame, and exactly which pixels are ink."""

    text: str
    frame: int
    mask: np.ndarray = field(repr=False)

    @property
    def box(self) -> tuple[int, int, int, int]:
        ys, xs = np.nonzero(self.mask)
        x0, y0 = int(xs.min()), int(ys.min())
        return x0, y0, int(xs.max()) - x0 + 1, int(ys.max()) - y0 + 1


@dataclass
class LabelledImage:
    """One image of the set: DICOM or photo bytes, and what is written on it."""

    name: str
    kind: Literal["dicom", "photo"]
    data: bytes = field(repr=False)
    identifiers: list[Label] = field(default_factory=list)
    annotations: list[Label] = field(default_factory=list)

    @property
    def text_free(self) -> bool:
        return not self.identifiers and not self.annotations


# ---- sources ----------------------------------------------------------------------------------


def dicom_path(name: str) -> Path | None:
    """A bundled test file of pydicom or pydicom-data, never downloaded."""
    from pydicom.data import get_testdata_file

    try:
        path = get_testdata_file(name, download=False)
    except Exception:
        return None
    return Path(path) if path else None


def photo_path(name: str) -> Path | None:
    """One of scikit-image's sample pictures, if scikit-image is installed."""
    try:
        folder = resources.files("skimage").joinpath("data")
    except ModuleNotFoundError:
        return None
    path = Path(str(folder.joinpath(name)))
    return path if path.is_file() else None


def fonts() -> list[ImageFont.FreeTypeFont | Path]:
    """Pillow's own TrueType font first, then the system's DejaVu and Liberation when present."""
    found: list[ImageFont.FreeTypeFont | Path] = [Path("<pillow>")]
    found += [Path(p) for p in SYSTEM_FONTS if Path(p).is_file()]
    return found


def font(which: Path, size: int) -> ImageFont.FreeTypeFont:
    if str(which) == "<pillow>":
        return ImageFont.load_default(size=size)  # type: ignore[return-value]
    return ImageFont.truetype(str(which), size)


def ink_mask(shape: tuple[int, int], xy: tuple[int, int], text: str,
             face: ImageFont.FreeTypeFont) -> np.ndarray:
    """The pixels a label covers, drawn without anti-aliasing as scanners draw overlays."""
    canvas = Image.new("L", (shape[1], shape[0]), 0)
    ImageDraw.Draw(canvas).text(xy, text, fill=255, font=face)
    return np.array(canvas) >= 128


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def _photo_pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        if image.mode in ("RGBA", "LA", "P"):
            rgba = image.convert("RGBA")
            white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return np.array(Image.alpha_composite(white, rgba).convert("RGB"))
        return np.array(image.convert("RGB" if image.mode not in ("L", "1") else "L"))


def _dicom_bytes(ds: Dataset) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


# ---- the set --------------------------------------------------------------------------------


def text_free_images() -> list[LabelledImage]:
    """Every text-free real image available on this machine."""
    images = []
    for name in TEXT_FREE_DICOM:
        path = dicom_path(name)
        if path is not None:
            images.append(LabelledImage(f"dicom/{name}", "dicom", path.read_bytes()))
    for name in TEXT_FREE_PHOTOS:
        path = photo_path(name)
        if path is not None:
            images.append(LabelledImage(f"photo/{name}", "photo", _png(_photo_pixels(path))))
    return images


@cache
def labelled_set() -> tuple[LabelledImage, ...]:
    """The whole set: text-free real images, then the synthetic ones (deterministic)."""
    return (*text_free_images(), *synthetic_images())


def synthetic_images() -> list[LabelledImage]:
    """Real images with identifiers and annotations burned in, in several layouts."""
    rng = random.Random(9)
    faces = fonts()
    out: list[LabelledImage] = []
    for variant in range(4):
        out += _on_ct(rng, faces, variant)
        out += _ultrasound(rng, faces, variant, colour=variant % 2 == 0)
        out += _on_mr(rng, faces, variant)
        out += _on_photo(rng, faces, variant)
    for variant in range(2):
        out += _on_radiograph(rng, faces, variant)
        out += _echo_mono(rng, faces, variant)
    return out


class _Canvas:
    """Places labels on free lines of an image so no two labels come close."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.shape = shape
        self.taken = np.zeros(shape, dtype=bool)
        self.identifiers: list[Label] = []
        self.annotations: list[Label] = []

    def place(self, text: str, xy: tuple[int, int], face: ImageFont.FreeTypeFont,
              identifying: bool, frame: int = 0) -> np.ndarray | None:
        mask = ink_mask(self.shape, xy, text, face)
        if not mask.any():
            return None
        ys, xs = np.nonzero(mask)
        gap = max(8, int((ys.max() - ys.min()) * 0.9))
        y0, y1 = max(0, ys.min() - gap), ys.max() + gap + 1
        x0, x1 = max(0, xs.min() - gap), xs.max() + gap + 1
        if self.taken[y0:y1, x0:x1].any() or xs.max() >= self.shape[1] - 2 \
                or ys.max() >= self.shape[0] - 2:
            return None
        self.taken[y0:y1, x0:x1] = True
        (self.identifiers if identifying else self.annotations).append(Label(text, frame, mask))
        return mask


def _corner_lines(canvas: _Canvas, rng: random.Random, faces: list, size: int,
                  texts: list[tuple[str, bool]], corner: str) -> list[np.ndarray]:
    """Labels stacked in one corner, as scanners print them."""
    height, width = canvas.shape
    masks = []
    y = 6 if corner.startswith("top") else height - 6 - int(size * 1.9) * len(texts)
    face = font(rng.choice(faces), size)
    for text, identifying in texts:
        text_w = int(face.getlength(text))
        x = 8 if corner.endswith("left") else width - 10 - text_w
        mask = canvas.place(text, (x, y), face, identifying)
        if mask is not None:
            masks.append(mask)
        y += int(size * 1.9)
    return masks


def _pick(rng: random.Random, pool: tuple[str, ...], count: int) -> list[str]:
    return rng.sample(pool, count)


def _on_ct(rng: random.Random, faces: list, variant: int) -> list[LabelledImage]:
    path = dicom_path("693_UNCR.dcm")
    if path is None:
        return []
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.copy()
    canvas = _Canvas(pixels.shape)
    size = (12, 13, 14, 16)[variant]  # letters 9-12 px high: the smallest scanners draw
    ids = _pick(rng, IDENTIFIERS, 3)
    notes = _pick(rng, ("120 kV", "250 mAs", "W 400 L 40", "3.3 cm", "100%"), 2)
    masks = _corner_lines(canvas, rng, faces, size, [(t, True) for t in ids[:2]], "top-left")
    masks += _corner_lines(canvas, rng, faces, size, [(ids[2], True)], "top-right")
    masks += _corner_lines(canvas, rng, faces, size, [(t, False) for t in notes], "bottom-left")
    marker = canvas.place(rng.choice(MARKERS[:2]), (pixels.shape[1] - 40, pixels.shape[0] // 2),
                          font(rng.choice(faces), size + 8), False)
    masks += [marker] if marker is not None else []
    # Overlay text at the top of the stored range (scanners draw it at full white), or, in
    # half the variants, a little below it so the file's window shows it as light grey.
    ink = int(pixels.max()) if variant % 2 == 0 else int(np.percentile(pixels, 99.5))
    for mask in masks:
        pixels[mask] = ink
    ds.PixelData = pixels.astype(ds.pixel_array.dtype).tobytes()
    return [LabelledImage(f"synthetic/ct-{variant}", "dicom", _dicom_bytes(ds),
                          canvas.identifiers, canvas.annotations)]


def _on_mr(rng: random.Random, faces: list, variant: int) -> list[LabelledImage]:
    path = dicom_path("MR-SIEMENS-DICOM-WithOverlays.dcm")
    if path is None:
        return []
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.copy()
    canvas = _Canvas(pixels.shape)
    size = (11, 13, 15, 18)[variant]
    ids = _pick(rng, IDENTIFIERS, 3)
    masks = _corner_lines(canvas, rng, faces, size, [(ids[0], True), (ids[1], True)],
                          rng.choice(("top-left", "top-right")))
    masks += _corner_lines(canvas, rng, faces, size, [("TR 450", False), ("TE 12", False)],
                           "bottom-right")
    masks += _corner_lines(canvas, rng, faces, size, [(ids[2], True)], "bottom-left")
    ink = int(pixels.max())
    for mask in masks:
        pixels[mask] = ink
    ds.PixelData = pixels.astype(ds.pixel_array.dtype).tobytes()
    return [LabelledImage(f"synthetic/mr-{variant}", "dicom", _dicom_bytes(ds),
                          canvas.identifiers, canvas.annotations)]


def _on_radiograph(rng: random.Random, faces: list, variant: int) -> list[LabelledImage]:
    path = dicom_path("RG1_UNCR.dcm")
    if path is None:
        return []
    ds = pydicom.dcmread(path)
    pixels = ds.pixel_array.copy()
    canvas = _Canvas(pixels.shape)
    size = (36, 48)[variant]
    ids = _pick(rng, IDENTIFIERS, 2)
    masks = _corner_lines(canvas, rng, faces, size, [(t, True) for t in ids], "top-left")
    masks += _corner_lines(canvas, rng, faces, size, [("PA ERECT", False)], "bottom-right")
    marker = canvas.place(("R", "L")[variant], (pixels.shape[1] - 260, 220),
                          font(rng.choice(faces), 90), False)
    masks += [marker] if marker is not None else []
    ink = int(pixels.min())  # MONOCHROME1: the lowest value is shown white
    for mask in masks:
        pixels[mask] = ink
    ds.PixelData = pixels.astype(ds.pixel_array.dtype).tobytes()
    return [LabelledImage(f"synthetic/cr-{variant}", "dicom", _dicom_bytes(ds),
                          canvas.identifiers, canvas.annotations)]


def _sector(shape: tuple[int, int], texture: np.ndarray) -> np.ndarray:
    """An ultrasound-style fan filled with a real picture's texture, on black."""
    height, width = shape
    yy, xx = np.mgrid[:height, :width]
    apex_x, apex_y = width / 2, height * 0.12
    radius = np.hypot(xx - apex_x, yy - apex_y)
    angle = np.degrees(np.arctan2(xx - apex_x, yy - apex_y))
    fan = (radius > height * 0.05) & (radius < height * 0.85) & (np.abs(angle) < 38)
    tex = np.array(Image.fromarray(texture).resize((width, height)))
    return np.where(fan, (tex.astype(np.float32) * 0.8).astype(np.uint8), 0).astype(np.uint8)


def _texture() -> np.ndarray:
    for name in ("gravel.png", "moon.png", "grass.png"):
        path = photo_path(name)
        if path is not None:
            pixels = _photo_pixels(path)
            return pixels if pixels.ndim == 2 else pixels.mean(axis=2).astype(np.uint8)
    return np.random.default_rng(3).gamma(2.0, 30, (256, 256)).clip(0, 255).astype(np.uint8)


def _ultrasound_layout(canvas: _Canvas, rng: random.Random, faces: list, size: int) -> list:
    height, width = canvas.shape
    ids = _pick(rng, IDENTIFIERS, 3)
    masks = _corner_lines(canvas, rng, faces, size, [(ids[0], True), (ids[1], True)], "top-left")
    masks += _corner_lines(canvas, rng, faces, size, [(ids[2], True), ("MI 1.2", False)],
                           "top-right")
    params = _pick(rng, ("TIS 0.4", "TIB 0.7", "Gain 45", "DR 60 dB", "FR 30Hz", "C5-1",
                         "Depth 16 cm", "HR 72 bpm", "75 Hz", "100%"), 3)
    face = font(rng.choice(faces), size)
    y = height // 4
    for text in params:
        mask = canvas.place(text, (6, y), face, False)
        masks += [mask] if mask is not None else []
        y += int(size * 2.0)
    label = rng.choice(("LYMPH NODE", "LIVER", "RT KIDNEY LONG", "THYROID LT LOBE"))
    face = font(rng.choice(faces), size + 2)
    mask = canvas.place(label, (width // 2 - int(face.getlength(label)) // 2, height - 3 * size),
                        face, False)
    masks += [mask] if mask is not None else []
    measurement = rng.choice(("Asc Ao Diam 3.3 cm", "3.3 cm", "Dist 1.8 cm"))
    mask = canvas.place(measurement, (width - 12 - int(face.getlength(measurement)),
                                      height - 6 * size), face, False)
    masks += [mask] if mask is not None else []
    return masks


def _ultrasound(rng: random.Random, faces: list, variant: int, *, colour: bool
                ) -> list[LabelledImage]:
    from pydicom.uid import UltrasoundImageStorage

    from tests.support.phi_corpus import Patient, to_bytes, ultrasound_cine

    shape = (480, 640) if variant < 2 else (600, 800)
    grey = _sector(shape, _texture())
    canvas = _Canvas(shape)
    masks = _ultrasound_layout(canvas, rng, faces, (11, 13, 12, 15)[variant])
    rgb = np.dstack([grey] * 3)
    if colour:
        rgb[shape[0] // 2 : shape[0] // 2 + 40, shape[1] // 2 - 30 : shape[1] // 2 + 30] = (
            200, 60, 30)  # a colour-Doppler patch
    value = (255, 255, 255) if variant != 3 else (230, 230, 120)
    for mask in masks:
        rgb[mask] = value
    ds = ultrasound_cine(Patient(), frames=1, rows=shape[0], columns=shape[1])
    ds.SOPClassUID = UltrasoundImageStorage
    del ds.NumberOfFrames
    ds.set_pixel_data(rgb, "RGB", 8, generate_instance_uid=False)
    return [LabelledImage(f"synthetic/us-{variant}", "dicom", to_bytes(ds),
                          canvas.identifiers, canvas.annotations)]


def _echo_mono(rng: random.Random, faces: list, variant: int) -> list[LabelledImage]:
    """A grey 8-bit ultrasound, 768 x 1024, as echo machines export it."""
    from pydicom.uid import UltrasoundImageStorage

    from tests.support.phi_corpus import Patient, to_bytes, ultrasound_cine

    shape = (768, 1024)
    grey = _sector(shape, _texture())
    canvas = _Canvas(shape)
    masks = _ultrasound_layout(canvas, rng, faces, (13, 16)[variant])
    for mask in masks:
        grey[mask] = 235
    ds = ultrasound_cine(Patient(), frames=1, rows=shape[0], columns=shape[1])
    ds.SOPClassUID = UltrasoundImageStorage
    del ds.NumberOfFrames
    ds.set_pixel_data(grey, "MONOCHROME2", 8, generate_instance_uid=False)
    return [LabelledImage(f"synthetic/echo-{variant}", "dicom", to_bytes(ds),
                          canvas.identifiers, canvas.annotations)]


def _on_photo(rng: random.Random, faces: list, variant: int) -> list[LabelledImage]:
    """A phone photo with a name and a date in a caption bar, and a measurement on it."""
    name = ("coffee.png", "chelsea.png", "retina.jpg", "camera.png")[variant]
    path = photo_path(name)
    if path is None:
        return []
    pixels = _photo_pixels(path)
    if pixels.ndim == 2:
        pixels = np.dstack([pixels] * 3)
    if max(pixels.shape[:2]) > 900:
        pixels = np.array(Image.fromarray(pixels).resize(
            (pixels.shape[1] // 2, pixels.shape[0] // 2)))
    bar = np.zeros((40, pixels.shape[1], 3), dtype=np.uint8)
    pixels = np.ascontiguousarray(np.concatenate([bar, pixels]))
    canvas = _Canvas(pixels.shape[:2])
    size = (14, 16, 18, 20)[variant]
    ids = _pick(rng, IDENTIFIERS, 2)
    face = font(rng.choice(faces), size)
    masks = [canvas.place(ids[0], (8, 8), face, True),
             canvas.place(ids[1], (pixels.shape[1] // 2 + 20, 8), face, True)]
    for mask in masks:
        if mask is not None:
            pixels[mask] = (255, 255, 255)
    return [LabelledImage(f"synthetic/photo-{variant}", "photo", _png(pixels),
                          canvas.identifiers, canvas.annotations)]
