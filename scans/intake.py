"""Upload intake: decide what an uploaded file is and whether it is safe to process.

Runs after an upload has been streamed into encrypted storage and before any
de-identification. It is a plain library (no Django imports) that works on seekable binary
file objects and reads them in bounded pieces, because uploads may be 2 GiB.

Every rejection is an ``IntakeRejected`` carrying a sentence a patient can act on and an
HTTP status. Files are named only by their position in the upload ("File 3", "File 2,
archive member 17"): file and member names can identify a patient, so they never appear in
messages. Parser errors are never chained onto a rejection (``from None``) because their text
can quote file contents, and a logged traceback would carry it along.
"""

from __future__ import annotations

import contextlib
import functools
import io
import re
import stat
import struct
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO, Literal, cast

import pydicom
from PIL import Image

from scans.errors import Phrase, UserFacingError, gettext_noop

Kind = Literal["dicom", "zip", "jpeg", "png"]

MiB = 1024 * 1024
GiB = 1024 * MiB

# Enough to see a Part-10 preamble, the 'DICM' prefix and the first data elements.
SNIFF_BYTES = 512
# Header parsers (pydicom, Pillow) may read at most this much of one file: a real header is
# far smaller, and the cap stops a crafted header from exhausting memory or time.
HEADER_READ_BUDGET = 64 * MiB
# Members that expand to less than this are exempt from the ratio check: small, highly
# compressible files (a blank 512x512 slice) are common and harmless at this size.
RATIO_EXEMPT_BYTES = 1 * MiB
# A central directory averaging more than this per entry is not an ordinary archive; the
# cap is checked before zipfile turns every entry into an object in memory.
CENTRAL_DIRECTORY_BYTES_PER_MEMBER = 1024
# Housekeeping files that archivers and DICOM CD exports add; skipped and not counted.
SKIPPED_NAMES = frozenset({".ds_store", "dicomdir", "thumbs.db"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI "
    b"UL UN UR US UT UV".split()
)
# PS3.5 7.1.2: these explicit VRs have two reserved bytes and a 32-bit length.
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_PIXEL_DATA_TAGS = frozenset({(0x7FE0, 0x0010), (0x7FE0, 0x0009), (0x7FE0, 0x0008)})
_DICOM_TAGS = ["SOPClassUID", "Modality", "Rows", "Columns", "NumberOfFrames"]
_READABLE_METHODS = frozenset(
    {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
)
_LOCAL_HEADER_BYTES = 30
_EOCD = struct.Struct("<4s4H2LH")
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_EOCD = struct.Struct("<4sQ2H2L4Q")
_DRIVE = re.compile(r"[A-Za-z]:")


class IntakeRejected(UserFacingError):
    """An upload file that will not be processed.

    ``message`` is a sentence for the patient naming the file only by its position;
    ``status`` is 415 for an unsupported type, 413 for a size or count limit and 400 for a
    malformed or hostile file.
    """

    code = "upload_refused"

    def __init__(self, message: str, status: int, values: dict[str, object] | None = None) -> None:
        super().__init__(message, status, values)


@dataclass(frozen=True)
class IntakeLimits:
    max_files: int = 1000
    max_total_bytes: int = 2 * GiB
    zip_max_members: int = 5000
    zip_max_ratio: int = 100
    zip_max_uncompressed_bytes: int = 8 * GiB
    image_max_pixels: int = 80_000_000


@dataclass(frozen=True)
class IntakeResult:
    kind: Kind
    # 1 for a single DICOM, JPEG or PNG file; the number of image members for a ZIP.
    image_count: int


class _UnboundedRead(Exception):
    """A header parser asked for "the rest of the file", which intake never allows."""


# --- Messages: the only text a patient sees. -------------------------------------------


def _size(n: int) -> Phrase:
    # Limits are binary units; "more than N GB" stays true because 1 GiB > 1 GB.
    if n >= GiB:
        return Phrase(gettext_noop("%(size)s GB"), {"size": f"{n / GiB:g}"})
    if n >= MiB:
        return Phrase(gettext_noop("%(size)s MB"), {"size": f"{n / MiB:g}"})
    return Phrase(gettext_noop("%(size)s bytes"), {"size": f"{n:,}"})


def _empty(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop("%(where)s is empty; please choose the file again."),
        400,
        {"where": where},
    )


def _too_big(where: Phrase, limits: IntakeLimits) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop("%(where)s is larger than %(size)s, the most we accept in one upload."),
        413,
        {"where": where, "size": _size(limits.max_total_bytes)},
    )


def _unsupported(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is neither a DICOM file, a ZIP of DICOM files, nor a JPEG or PNG image."
        ),
        415,
        {"where": where},
    )


def _unsupported_member(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is neither a DICOM file nor a JPEG or PNG image; please remove it from the "
            "archive and upload the archive again."
        ),
        415,
        {"where": where},
    )


def _nested_zip(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is itself a ZIP archive; please unpack it and upload its contents instead."
        ),
        415,
        {"where": where},
    )


def _unreadable_dicom(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop("%(where)s is not a readable DICOM file; it may be damaged or incomplete."),
        400,
        {"where": where},
    )


def _deflated_dicom(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a DICOM file stored with 'deflate' compression, which we do not accept; "
            "please export it again without compression."
        ),
        415,
        {"where": where},
    )


def _unreadable_image(where: Phrase, kind: str) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is not a readable %(kind)s image; it may be damaged or incomplete."
        ),
        400,
        {"where": where, "kind": kind.upper()},
    )


def _too_many_pixels(where: Phrase, limits: IntakeLimits) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s has more than %(count)s pixels, more than we can process; please send a "
            "smaller image."
        ),
        413,
        {"where": where, "count": f"{limits.image_max_pixels:,}"},
    )


def _header_too_large(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s has an unusually large header that we cannot check safely; it was not "
            "stored."
        ),
        413,
        {"where": where},
    )


def _unreadable_zip(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop("%(where)s is not a readable ZIP archive; it may be damaged or incomplete."),
        400,
        {"where": where},
    )


def _damaged_member(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop("%(where)s could not be read; the archive may be damaged or incomplete."),
        400,
        {"where": where},
    )


def _too_many_members(where: Phrase, limits: IntakeLimits) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a ZIP archive with more than %(count)s entries; please split it into "
            "smaller archives."
        ),
        413,
        {"where": where, "count": f"{limits.zip_max_members:,}"},
    )


def _zip_bomb(where: Phrase, limits: IntakeLimits) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a ZIP archive that expands to more than %(ratio)s times its size (a 'zip"
            " bomb'); it was not stored."
        ),
        413,
        {"where": where, "ratio": limits.zip_max_ratio},
    )


def _zip_too_large(where: Phrase, limits: IntakeLimits) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a ZIP archive that expands to more than %(size)s; please split it into "
            "smaller archives."
        ),
        413,
        {"where": where, "size": _size(limits.zip_max_uncompressed_bytes)},
    )


def _encrypted(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is password-protected; please upload an archive without a password."
        ),
        400,
        {"where": where},
    )


def _unsafe_name(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s has an unsafe name that could point outside the archive; it was not stored."
        ),
        400,
        {"where": where},
    )


def _symlink(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a symbolic link, which is not allowed in an archive; it was not stored."
        ),
        400,
        {"where": where},
    )


def _unknown_compression(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s uses a compression method we cannot read; please create the archive again "
            "with standard ZIP compression."
        ),
        415,
        {"where": where},
    )


def _overlapping(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a ZIP archive whose entries overlap or point outside it, a trick used by"
            " 'zip bombs'; it was not stored."
        ),
        400,
        {"where": where},
    )


def _no_images(where: Phrase) -> IntakeRejected:
    return IntakeRejected(
        gettext_noop(
            "%(where)s is a ZIP archive that contains no DICOM files or JPEG or PNG images."
        ),
        415,
        {"where": where},
    )


# --- Public API. ----------------------------------------------------------------------


def check_total(sizes: Iterable[int], limits: IntakeLimits) -> None:
    """Enforce the per-upload file count and total size.

    Stops consuming ``sizes`` as soon as a limit is passed, so it is safe to feed it a long
    stream of declared sizes. Raises IntakeRejected (413, or 400 for an upload with no files).
    """
    count = 0
    total = 0
    for size in sizes:
        count += 1
        total += size
        if count > limits.max_files:
            raise IntakeRejected(
                gettext_noop(
                    "You chose more than %(count)s files; please upload at most %(count)s files at"
                    " a time."
                ),
                413,
                {"count": f"{limits.max_files:,}"},
            )
        if total > limits.max_total_bytes:
            raise IntakeRejected(
                gettext_noop(
                    "Your files add up to more than %(size)s; please upload them in smaller "
                    "batches."
                ),
                413,
                {"size": _size(limits.max_total_bytes)},
            )
    if count == 0:
        raise IntakeRejected(
            gettext_noop("Please choose at least one file to upload."),
            400,
            {},
        )


def sniff_kind(head: bytes) -> Kind | None:
    """Name the file type from its first bytes (``SNIFF_BYTES`` are enough), never its name.

    Returns None for anything that is not DICOM, ZIP, JPEG or PNG. A positive answer is only a
    claim about the first bytes; ``check_file`` still parses the file.
    """
    # PS3.10 7.1: a 128-byte preamble, then 'DICM'. Checked first because the preamble is
    # free-form and may itself look like another format.
    if head[128:132] == b"DICM":
        return "dicom"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(_PNG_SIGNATURE):
        return "png"
    if _walks_like_dataset(head, explicit_vr=True) or _walks_like_dataset(head, explicit_vr=False):
        return "dicom"
    return None


def check_file(f: BinaryIO, position: int, limits: IntakeLimits) -> IntakeResult:
    """Identify one uploaded file by content and check it is safe to process.

    ``f`` must be seekable; it is read in bounded pieces and its position is left undefined.
    ``position`` (1-based) is how messages name the file. Raises IntakeRejected, and never
    any other exception for bad file contents.
    """
    where = Phrase(gettext_noop("File %(position)s"), {"position": position})
    size = f.seek(0, io.SEEK_END)
    if size == 0:
        raise _empty(where)
    if size > limits.max_total_bytes:
        raise _too_big(where, limits)
    f.seek(0)
    kind = sniff_kind(_read_head(f))
    if kind is None:
        raise _unsupported(where)
    if kind == "zip":
        image_count = sum(1 for _ in iter_zip_members(f, limits, position=position))
        if image_count == 0:
            raise _no_images(where)
        return IntakeResult(kind, image_count)
    f.seek(0)
    _check_image_file(f, kind, size, where, limits)
    return IntakeResult(kind, 1)


def iter_zip_members(
    f: BinaryIO,
    limits: IntakeLimits,
    position: int = 1,
    select: Callable[[int], bool] | None = None,
) -> Iterator[tuple[int, Kind, Callable[[], BinaryIO]]]:
    """Yield ``(member number, kind, opener)`` for each image member of a ZIP archive.

    The whole listing is checked before anything is yielded (member count, encryption, unsafe
    names, symlinks, declared sizes and ratios, overlapping entries). Each image member is
    then streamed in full and checked like a single file before it is yielded, so a damaged
    or lying member is rejected before the caller sees it. Housekeeping members (directories,
    ``__MACOSX/``, ``.DS_Store``, ``DICOMDIR``, ``Thumbs.db``) are skipped; any other member
    rejects the archive. ``member number`` is the 1-based entry number used in messages.

    ``opener()`` returns a fresh read-only stream of the member's decompressed bytes that
    raises IntakeRejected if it ever yields more than the member may expand to. Openers are
    valid only while iteration is in progress (the archive is closed afterwards).

    ``select``, when given, is asked about each image member by its 1-based ordinal among the
    image members; one it declines is skipped without being read, so a worker that handles a
    slice range of a large archive reads only that range (the listing is still checked whole).
    """
    where = Phrase(gettext_noop("File %(position)s"), {"position": position})
    with _image_members(f, limits, where) as (archive, members):
        for ordinal, (number, info) in enumerate(members, start=1):
            if select is not None and not select(ordinal):
                continue
            member = Phrase(
                gettext_noop("%(file)s, archive member %(number)s"),
                {"file": where, "number": number},
            )
            opener = functools.partial(
                _open_member, archive, info, member, _expansion_cap(info, limits), where, limits
            )
            kind = _check_member(opener, info.file_size, member, limits)
            yield number, kind, opener


def iter_zip_heads(
    f: BinaryIO, limits: IntakeLimits, size: int, position: int = 1
) -> Iterator[bytes]:
    """The first ``size`` bytes of each image member of an archive intake already accepted, in
    the order (and so with the ordinals) of ``iter_zip_members``.

    For a caller that only looks at headers to decide how to split the work: the listing is
    checked whole, but members are neither checked nor read past ``size`` (which also bounds
    what a lying member can expand to here). Whoever uses a member's content must still take
    it from ``iter_zip_members``.
    """
    where = Phrase(gettext_noop("File %(position)s"), {"position": position})
    with _image_members(f, limits, where) as (archive, members):
        for number, info in members:
            try:
                with archive.open(info) as member:
                    head = member.read(size)
            except Exception:
                raise _damaged_member(
                    Phrase(
                        gettext_noop("%(file)s, archive member %(number)s"),
                        {"file": where, "number": number},
                    )
                ) from None
            yield head


@contextlib.contextmanager
def _image_members(
    f: BinaryIO, limits: IntakeLimits, where: Phrase
) -> Iterator[tuple[zipfile.ZipFile, list[tuple[int, zipfile.ZipInfo]]]]:
    """The open archive and its image members (entry number, info), its listing checked whole;
    housekeeping entries left out."""
    archive_size = f.seek(0, io.SEEK_END)
    _check_central_directory(f, archive_size, where, limits)
    f.seek(0)
    try:
        archive = zipfile.ZipFile(f)
    except Exception:
        raise _unreadable_zip(where) from None
    with archive:
        infos = archive.infolist()
        _check_listing(infos, archive_size, where, limits)
        yield (
            archive,
            [
                (number, info)
                for number, info in enumerate(infos, start=1)
                if not (info.is_dir() or _is_housekeeping(info.filename))
            ],
        )


# --- Single files. --------------------------------------------------------------------


def _read_head(f: BinaryIO) -> bytes:
    """Read up to SNIFF_BYTES, tolerating short reads from decrypting or decompressing streams."""
    head = b""
    while len(head) < SNIFF_BYTES:
        chunk = f.read(SNIFF_BYTES - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _walks_like_dataset(head: bytes, *, explicit_vr: bool) -> bool:
    """Whether ``head`` starts like a bare little-endian data set (no preamble, no 'DICM').

    Not conformant to PS3.10, but old modalities and some exports still write them. The
    first element must be in group 0002 (file meta) or 0008 (the first group of a data set),
    short, and followed by an element with a larger tag, which random bytes almost never do.
    """
    offset = 0
    previous_tag = -1
    for _ in range(2):
        if offset + 8 > len(head):
            return previous_tag >= 0 and offset == len(head)
        group, element = struct.unpack_from("<HH", head, offset)
        tag = group << 16 | element
        if (previous_tag < 0 and group not in (0x0002, 0x0008)) or tag <= previous_tag:
            return False
        if explicit_vr:
            vr = head[offset + 4 : offset + 6]
            if vr not in _VRS:
                return False
            if vr in _LONG_VRS:
                if offset + 12 > len(head) or head[offset + 6 : offset + 8] != b"\0\0":
                    return False
                (length,) = struct.unpack_from("<I", head, offset + 8)
                header = 12
            else:
                (length,) = struct.unpack_from("<H", head, offset + 6)
                header = 8
        else:
            (length,) = struct.unpack_from("<I", head, offset + 4)
            header = 8
        if length == 0xFFFFFFFF:
            return previous_tag >= 0
        if previous_tag < 0 and length > 256:
            return False
        previous_tag = tag
        offset += header + length
    return True


def _check_image_file(
    f: BinaryIO, kind: Kind, size: int, where: Phrase, limits: IntakeLimits
) -> None:
    if kind == "dicom":
        _check_dicom(f, size, where, limits)
    else:
        _check_picture(f, kind, size, where, limits)


def _check_dicom(f: BinaryIO, size: int, where: Phrase, limits: IntakeLimits) -> None:
    """Parse the DICOM header only, and require it to describe a real object.

    ``force=True`` lets pydicom read a data set without a preamble; because force also lets
    garbage through, the header must name a SOP Class, a Modality or an image size.
    """
    header = _HeaderReader(f, size, HEADER_READ_BUDGET, _header_too_large(where))
    try:
        with warnings.catch_warnings():
            # pydicom warnings can quote element values, which may be patient data.
            warnings.simplefilter("ignore")
            dataset = pydicom.dcmread(
                header,
                force=True,
                stop_before_pixels=True,
                defer_size=MiB,
                specific_tags=_DICOM_TAGS,
            )
            identified = any(keyword in dataset for keyword in ("SOPClassUID", "Modality", "Rows"))
            is_image = "Rows" in dataset and "Columns" in dataset
            pixels = (
                _count(dataset.get("Rows"), 0)
                * _count(dataset.get("Columns"), 0)
                * _count(dataset.get("NumberOfFrames"), 1)
            )
            implicit_vr, little_endian = dataset.original_encoding
    except IntakeRejected:
        raise
    except _UnboundedRead:
        # Only the deflated transfer syntax makes pydicom read the rest of the file, and it
        # then inflates it into memory in one go: a decompression bomb in waiting.
        raise _deflated_dicom(where) from None
    except Exception:
        raise _unreadable_dicom(where) from None
    if header.truncated or not identified:
        raise _unreadable_dicom(where)
    if pixels > limits.image_max_pixels:
        raise _too_many_pixels(where, limits)
    if not _pixel_data_fits(f, size, is_image, bool(implicit_vr), bool(little_endian)):
        raise _unreadable_dicom(where)


def _count(value: object, default: int) -> int:
    """A non-negative count from a header value; ValueError for anything else."""
    if value is None or value == "":
        return default
    if not isinstance(value, int | str):
        raise ValueError("not a single number")
    number = int(value)
    if number < 0:
        raise ValueError("negative count")
    return number


def _pixel_data_fits(
    f: BinaryIO, size: int, is_image: bool, implicit_vr: bool, little_endian: bool
) -> bool:
    """Whether the pixel data element the header stopped at lies wholly inside the file.

    pydicom accepts a file cut short without complaint; this is what catches an interrupted
    copy. An image header with no pixel data at all is also a cut-short file.
    """
    start = f.tell()
    element = f.read(12)
    if len(element) < 8:
        return not is_image
    endian = "<" if little_endian else ">"
    if struct.unpack_from(f"{endian}HH", element) not in _PIXEL_DATA_TAGS:
        return True
    if implicit_vr:
        (length,) = struct.unpack_from(f"{endian}I", element, 4)
        header = 8
    elif len(element) == 12:
        (length,) = struct.unpack_from(f"{endian}I", element, 8)
        header = 12
    else:
        return False
    # Undefined length (encapsulated, e.g. JPEG in DICOM) is checked when it is decoded.
    return length == 0xFFFFFFFF or start + header + length <= size


def _check_picture(f: BinaryIO, kind: Kind, size: int, where: Phrase, limits: IntakeLimits) -> None:
    """Read a JPEG or PNG header (no pixel decoding) and enforce the pixel limit.

    Pillow's own decompression-bomb guard is turned into a rejection too. The compressed
    pixel data is not read, so a picture cut short is only found when it is decoded.
    """
    header = _HeaderReader(f, size, HEADER_READ_BUDGET, _header_too_large(where))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(cast(BinaryIO, header), formats=[kind.upper()]) as image:
                width, height = image.size
                frames = getattr(image, "n_frames", 1)
    except IntakeRejected:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_many_pixels(where, limits) from None
    except Exception:
        raise _unreadable_image(where, kind) from None
    if width * height * frames > limits.image_max_pixels:
        raise _too_many_pixels(where, limits)


# --- ZIP archives. --------------------------------------------------------------------


def _check_central_directory(
    f: BinaryIO, archive_size: int, where: Phrase, limits: IntakeLimits
) -> None:
    """Refuse an oversized central directory before zipfile loads it.

    zipfile builds one object per entry before we can count them; a crafted directory with
    millions of entries would exhaust memory first. Reads only the archive's tail.
    """
    tail_size = min(archive_size, _EOCD.size + 0xFFFF)
    f.seek(archive_size - tail_size)
    tail = f.read(tail_size)
    found = tail.rfind(b"PK\x05\x06")
    if found < 0 or found + _EOCD.size > len(tail):
        raise _unreadable_zip(where)
    *_, entries, directory_size, _, _ = _EOCD.unpack_from(tail, found)
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        locator_at = found - _ZIP64_LOCATOR.size
        if locator_at < 0 or tail[locator_at : locator_at + 4] != b"PK\x06\x07":
            raise _unreadable_zip(where)
        _, _, record_at, _ = _ZIP64_LOCATOR.unpack_from(tail, locator_at)
        f.seek(record_at)
        record = f.read(_ZIP64_EOCD.size)
        if len(record) < _ZIP64_EOCD.size or record[:4] != b"PK\x06\x06":
            raise _unreadable_zip(where)
        fields = _ZIP64_EOCD.unpack(record)
        entries, directory_size = fields[7], fields[8]
    if (
        entries > limits.zip_max_members
        or directory_size > limits.zip_max_members * CENTRAL_DIRECTORY_BYTES_PER_MEMBER
    ):
        raise _too_many_members(where, limits)


def _check_listing(
    infos: list[zipfile.ZipInfo], archive_size: int, where: Phrase, limits: IntakeLimits
) -> None:
    """Reject a hostile archive from its listing alone, before any member is decompressed."""
    if len(infos) > limits.zip_max_members:
        raise _too_many_members(where, limits)
    declared_total = 0
    for number, info in enumerate(infos, start=1):
        member = Phrase(
            gettext_noop("%(file)s, archive member %(number)s"), {"file": where, "number": number}
        )
        if info.flag_bits & 0x1:  # APPNOTE 4.4.4: bit 0 means the member is encrypted
            raise _encrypted(member)
        if _is_unsafe_name(info.orig_filename):
            raise _unsafe_name(member)
        if stat.S_ISLNK(info.external_attr >> 16):  # unix mode lives in the high 16 bits
            raise _symlink(member)
        if info.compress_type not in _READABLE_METHODS:
            raise _unknown_compression(member)
        if info.file_size > _ratio_cap(info, limits):
            raise _zip_bomb(where, limits)
        declared_total += info.file_size
    if declared_total > limits.zip_max_uncompressed_bytes:
        raise _zip_too_large(where, limits)
    if declared_total > max(RATIO_EXEMPT_BYTES, archive_size * limits.zip_max_ratio):
        raise _zip_bomb(where, limits)
    # Overlapping entries let many members share one highly compressed payload (a
    # non-recursive zip bomb); entries reaching past the end have lied about their size.
    end_of_previous = 0
    for info in sorted(infos, key=lambda i: i.header_offset):
        end = info.header_offset + _LOCAL_HEADER_BYTES + info.compress_size
        if info.header_offset < end_of_previous or end > archive_size:
            raise _overlapping(where)
        end_of_previous = end


def _is_unsafe_name(name: str) -> bool:
    """Absolute paths, drive letters, '..' components and NUL bytes, with '\\' read as '/'.

    zipfile silently cuts names at a NUL, so this must see ``orig_filename``.
    """
    if "\0" in name:
        return True
    path = name.replace("\\", "/")
    return path.startswith("/") or bool(_DRIVE.match(path)) or ".." in path.split("/")


def _is_housekeeping(name: str) -> bool:
    parts = [part for part in name.replace("\\", "/").split("/") if part]
    if not parts:
        return False
    return "__MACOSX" in parts or parts[-1].casefold() in SKIPPED_NAMES


def _ratio_cap(info: zipfile.ZipInfo, limits: IntakeLimits) -> int:
    return max(RATIO_EXEMPT_BYTES, info.compress_size * limits.zip_max_ratio)


def _expansion_cap(info: zipfile.ZipInfo, limits: IntakeLimits) -> int:
    """The most bytes a member may really decompress to, whatever its header declares.

    zipfile already stops at the declared size (and the declared sizes were checked against
    the archive limits), so this is the second, independent guard on each member's stream.
    """
    return min(_ratio_cap(info, limits), limits.zip_max_uncompressed_bytes)


def _open_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    member: Phrase,
    cap: int,
    where: Phrase,
    limits: IntakeLimits,
) -> BinaryIO:
    try:
        raw = archive.open(info)
    except Exception:
        raise _damaged_member(member) from None
    return cast(BinaryIO, _CappedReader(cast(BinaryIO, raw), cap, _zip_bomb(where, limits)))


def _check_member(
    opener: Callable[[], BinaryIO], declared_size: int, member: Phrase, limits: IntakeLimits
) -> Kind:
    """Identify one archive member, check it like a single file, then read it to the end.

    Reading to the end makes zipfile verify the CRC, and makes the capped stream count every
    decompressed byte, so a member whose header lied is caught here rather than later.
    """
    try:
        with opener() as stream:
            head = _read_head(stream)
            if not head:
                raise _empty(member)
            kind = sniff_kind(head)
            if kind is None:
                raise _unsupported_member(member)
            if kind == "zip":
                raise _nested_zip(member)
            stream.seek(0)
            _check_image_file(stream, kind, declared_size, member, limits)
            while stream.read(MiB):
                pass
    except IntakeRejected:
        raise
    except Exception:
        raise _damaged_member(member) from None
    return kind


# --- Guarded streams. -----------------------------------------------------------------


class _CappedReader(io.RawIOBase):
    """A read-only stream that raises ``rejection`` once it would go past ``cap`` bytes.

    Wraps a decompressing member stream: the count is of bytes produced, not the sizes the
    archive declares, and it stops one byte past the cap instead of inflating the rest.
    """

    def __init__(self, raw: BinaryIO, cap: int, rejection: IntakeRejected) -> None:
        super().__init__()
        self._raw = raw
        self._cap = cap
        self._rejection = rejection

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            target = offset
        elif whence == io.SEEK_CUR:
            target = self._raw.tell() + offset
        else:
            target = self._raw.seek(offset, whence)
        if target > self._cap:
            raise self._rejection
        return self._raw.seek(target)

    def read(self, size: int | None = -1) -> bytes:
        start = self._raw.tell()
        allowed = self._cap - start + 1  # one byte past the cap proves it was exceeded
        if size is None or size < 0 or size > allowed:
            size = allowed
        data = self._raw.read(size)
        if start + len(data) > self._cap:
            raise self._rejection
        return data

    # typeshed types the parameter as collections.abc.Buffer, which Python 3.11 cannot name.
    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._raw.close()
        super().close()


class _HeaderReader(io.RawIOBase):
    """A view of a stream for header parsers: at most ``budget`` bytes, never "read all".

    Seeking is free (skipping a large value costs nothing); reading past the budget raises
    ``rejection`` before the bytes are requested, and ``read()`` without a size raises
    ``_UnboundedRead``. ``truncated`` records a read that came back short or a seek past
    ``size``: a parser that skips values never notices a file cut short, this does. Closing
    it leaves the underlying stream open.
    """

    def __init__(self, raw: BinaryIO, size: int, budget: int, rejection: IntakeRejected) -> None:
        super().__init__()
        self._raw = raw
        self._size = size
        self._remaining = budget
        self._rejection = rejection
        self.truncated = False

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._raw.tell()

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_CUR:
            offset, whence = self._raw.tell() + offset, io.SEEK_SET
        # Computed here because a zip member stream silently stops a seek at its end.
        if whence == io.SEEK_SET and offset > self._size:
            self.truncated = True
        return self._raw.seek(offset, whence)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            raise _UnboundedRead
        if size > self._remaining:
            raise self._rejection
        data = self._raw.read(size)
        self._remaining -= len(data)
        if 0 < len(data) < size:
            self.truncated = True
        return data

    # typeshed types the parameter as collections.abc.Buffer, which Python 3.11 cannot name.
    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
