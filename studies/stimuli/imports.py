"""Importing an image set from a zip archive: images plus `labels.csv` or PASCAL VOC XML.

Two phases, so that a bad archive changes nothing:

1. `inspect_archive` reads the zip without writing anything: every entry's path is checked
   (no `..`, no absolute path, no symlink, no device file), every image is opened with Pillow
   (a real image of an allowed format, within the size and pixel limits, not truncated), every
   annotation row is parsed. All problems are collected, each naming the file (and line), and
   raised together as `ImportRefused`.
2. `write_plan` stores the images through Django's default storage (content-addressed by sha256)
   and creates the ImageSet and its ImageItems in one transaction; if anything fails, the rows roll
   back and the files this import created are deleted.

Annotation formats
------------------
* `labels.csv` with the header `filename,labels,boxes`; `labels` separated by `;`, `boxes` as
  `label:x0,y0,x1,y1;label:x0,y0,x1,y1` (pixels, x1/y1 exclusive; may be empty). `filename` is
  relative to the folder holding `labels.csv`.
* PASCAL VOC: one XML file per image (`Annotations/*.xml` in VOC's layout) with `<filename>`,
  `<object><name>` and `<bndbox>`; images are looked up by file name (in `JPEGImages/` or anywhere
  in the archive when the name is unique). Objects marked `<difficult>1</difficult>` keep their
  label and box like the others.
"""

from __future__ import annotations

import csv
import hashlib
import io
import posixpath
import re
import stat
import warnings
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from ..models import ImageItem, ImageSet

# Limits; each can be changed in settings.
MAX_ENTRIES = getattr(settings, "IMPORT_MAX_ENTRIES", 100_000)
MAX_FILE_BYTES = getattr(settings, "IMPORT_MAX_FILE_BYTES", 50 * 1024 * 1024)
MAX_TOTAL_BYTES = getattr(settings, "IMPORT_MAX_TOTAL_BYTES", 8 * 1024 * 1024 * 1024)
MAX_COMPRESSION_RATIO = 200  # a zip entry inflating more than this (and past 1 MB) is a zip bomb
MAX_IMAGE_PIXELS = getattr(settings, "IMPORT_MAX_IMAGE_PIXELS", 40_000_000)
MAX_IMAGE_SIDE = getattr(settings, "IMPORT_MAX_IMAGE_SIDE", 12_000)
ALLOWED_FORMATS = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "BMP": ".bmp"}
IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
MAX_ERRORS_SHOWN = 50


class ImportRefused(Exception):
    """The archive cannot be imported; `errors` lists every problem, each naming its file (and line)."""

    def __init__(self, errors: list[str]):
        self.errors = list(errors)
        shown = self.errors[:MAX_ERRORS_SHOWN]
        more = len(self.errors) - len(shown)
        super().__init__("; ".join(shown) + (f"; and {more} more problems" if more > 0 else ""))


@dataclass
class PlannedImage:
    filename: str  # as in the annotations (relative path inside the archive's image folder)
    data: bytes
    sha256: str
    width: int
    height: int
    extension: str
    labels: list[str]
    boxes: list[dict] = field(default_factory=list)


@dataclass
class ImportPlan:
    annotation_format: str  # "labels.csv" or "voc"
    images: list[PlannedImage]
    ignored: list[str] = field(default_factory=list)  # images in the archive without annotations

    @property
    def labels(self) -> list[str]:
        return sorted({label for im in self.images for label in im.labels})


# --- paths ------------------------------------------------------------------------------------
_DRIVE = re.compile(r"^[A-Za-z]:")


def check_entry(info: zipfile.ZipInfo) -> str | None:
    """Why this zip entry is refused, or None. Names are checked before anything is read."""
    name = info.filename
    if "\x00" in name:
        return f"{name!r}: a file name with a NUL byte is refused"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return f"{name}: absolute paths are refused (entries must stay inside the archive's folder)"
    parts = re.split(r"[\\/]", name)
    if any(part == ".." for part in parts):
        return f"{name}: paths with '..' are refused (entries must stay inside the archive's folder)"
    mode = info.external_attr >> 16
    if info.create_system == 3 and mode:  # made on Unix: the high bits are st_mode
        if stat.S_ISLNK(mode):
            return f"{name}: symbolic links are refused"
        if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            return f"{name}: special files (devices, pipes) are refused"
    if info.flag_bits & 0x1:
        return f"{name}: encrypted entries are refused"
    if info.file_size > MAX_FILE_BYTES:
        return f"{name}: {info.file_size} bytes is over the limit of {MAX_FILE_BYTES} bytes per file"
    if info.file_size > 1024 * 1024 and info.file_size > MAX_COMPRESSION_RATIO * max(info.compress_size, 1):
        return f"{name}: compressed {info.file_size // max(info.compress_size, 1)}:1, refused as a zip bomb"
    return None


def _normalize(name: str) -> str:
    return posixpath.normpath(name.replace("\\", "/"))


def _is_junk(name: str) -> bool:
    base = posixpath.basename(name)
    return name.startswith("__MACOSX/") or base.startswith("._") or base in (".DS_Store", "Thumbs.db")


# --- images -----------------------------------------------------------------------------------
def check_image(name: str, data: bytes) -> tuple[int, int, str] | str:
    """(width, height, extension) of a valid image, or the reason it is refused (naming the file)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                fmt = img.format
                width, height = img.size
                if fmt not in ALLOWED_FORMATS:
                    return f"{name}: {fmt} images are not accepted (use {', '.join(sorted(ALLOWED_FORMATS))})"
                if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE:
                    return f"{name}: {width}x{height} pixels is too large (at most {MAX_IMAGE_SIDE} per side)"
                if width * height > MAX_IMAGE_PIXELS:
                    return (
                        f"{name}: {width}x{height} = {width * height} pixels is a possible decompression bomb "
                        f"(at most {MAX_IMAGE_PIXELS})"
                    )
                if width < 1 or height < 1:
                    return f"{name}: the image has no pixels"
                img.verify()
            with Image.open(io.BytesIO(data)) as img:
                img.load()  # decodes every pixel: catches truncated files that verify() lets through
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"{name}: refused as a decompression bomb (too many pixels)"
    except UnidentifiedImageError:
        return f"{name}: not an image (Pillow cannot identify it)"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if "truncated" in reason.lower():
            return f"{name}: the image is truncated ({reason})"
        return f"{name}: a damaged image ({reason})"
    return width, height, ALLOWED_FORMATS[fmt]


# --- annotations ------------------------------------------------------------------------------
# A box labelled `cue:<concept>` marks a region of a concept that is no class of the image (a background
# cue such as a watermark): the dissection and the bias summary use it, nothing treats it as an object.
CUE_PREFIX = "cue:"


def parse_box(text: str) -> tuple[str, list[float]]:
    label, sep, coords = text.rpartition(":")
    if not sep or not label.strip():
        raise ValueError(f"box {text!r} is not label:x0,y0,x1,y1")
    values = [v.strip() for v in coords.split(",")]
    if len(values) != 4:
        raise ValueError(f"box {text!r} needs four numbers x0,y0,x1,y1")
    try:
        nums = [float(v) for v in values]
    except ValueError:
        raise ValueError(f"box {text!r} has a coordinate that is not a number") from None
    if any(n != n or n in (float("inf"), float("-inf")) for n in nums):
        raise ValueError(f"box {text!r} has a coordinate that is not a finite number")
    return label.strip(), nums


def check_box(label: str, box: list[float], labels: list[str], width: int, height: int) -> str | None:
    x0, y0, x1, y1 = box
    if label not in labels and not (label.startswith(CUE_PREFIX) and label[len(CUE_PREFIX) :].strip()):
        return f"box label {label!r} is not one of the image's labels ({';'.join(labels)})"
    if not (x0 < x1 and y0 < y1):
        return f"box {label}:{x0:g},{y0:g},{x1:g},{y1:g} is empty (needs x0 < x1 and y0 < y1)"
    if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
        return f"box {label}:{x0:g},{y0:g},{x1:g},{y1:g} leaves the {width}x{height} image"
    return None


def box_dict(label: str, box: list[float]) -> dict:
    """The stored form of a box: {"label", "box"}, plus "cue": true for a cue concept's region."""
    coords = [_clean_number(v) for v in box]
    if label.startswith(CUE_PREFIX):
        return {"label": label[len(CUE_PREFIX) :].strip(), "box": coords, "cue": True}
    return {"label": label, "box": coords}


def _clean_number(v: float):
    return int(v) if float(v).is_integer() else v


def _read_labels_csv(csv_name: str, text: str) -> tuple[list[tuple[int, str, list[str], list]], list[str]]:
    """Rows (line, filename, labels, [(label, box, raw)]) and errors."""
    rows, errors = [], []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader)
    except StopIteration:
        return [], [f"{csv_name}: the file is empty (expected the header filename,labels,boxes)"]
    except csv.Error as exc:
        return [], [f"{csv_name} line 1: {exc}"]
    header = [h.strip().lstrip("\ufeff").lower() for h in header]
    if header[:2] != ["filename", "labels"] or (len(header) > 2 and header[2] != "boxes") or len(header) > 3:
        return [], [f"{csv_name} line 1: the header must be filename,labels,boxes (got {','.join(header)})"]
    seen: dict[str, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) > 3:
                errors.append(
                    f"{csv_name} line {line}: {len(row)} columns, expected filename,labels,boxes "
                    "(quote the boxes field: it contains commas)"
                )
                continue
            filename = row[0].strip()
            labels = [x.strip() for x in (row[1] if len(row) > 1 else "").split(";") if x.strip()]
            if not filename:
                errors.append(f"{csv_name} line {line}: the filename is empty")
                continue
            if filename in seen:
                errors.append(f"{csv_name} line {line}: {filename} is listed twice (first on line {seen[filename]})")
                continue
            seen[filename] = line
            if not labels:
                errors.append(f"{csv_name} line {line}: {filename} has no labels")
                continue
            if len(set(labels)) != len(labels):
                errors.append(f"{csv_name} line {line}: {filename} repeats a label ({';'.join(labels)})")
                continue
            boxes, bad = [], False
            for part in filter(None, (p.strip() for p in (row[2] if len(row) > 2 else "").split(";"))):
                try:
                    label, box = parse_box(part)
                except ValueError as exc:
                    errors.append(f"{csv_name} line {line}: {exc}")
                    bad = True
                    continue
                boxes.append((label, box))
            if not bad:
                rows.append((line, filename, labels, boxes))
    except csv.Error as exc:
        errors.append(f"{csv_name} line {reader.line_num}: {exc}")
    return rows, errors


def _refuses_entities(name: str, data: bytes) -> str | None:
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        return f"{name}: XML with a DOCTYPE or entity declarations is refused"
    return None


def _read_voc(name: str, data: bytes) -> tuple[str, list[str], list] | str:
    """(image filename, labels, [(label, box)]) from one VOC annotation, or an error naming the file."""
    refused = _refuses_entities(name, data)
    if refused:
        return refused
    try:
        root = ElementTree.fromstring(data)
    except ElementTree.ParseError as exc:
        return f"{name} line {exc.position[0]}: not well-formed XML ({exc})"
    if root.tag != "annotation":
        return f"{name}: the root element is <{root.tag}>, expected <annotation> (PASCAL VOC)"
    filename = (root.findtext("filename") or "").strip()
    if not filename:
        return f"{name}: <filename> is missing"
    labels, boxes = [], []
    for n, obj in enumerate(root.findall("object"), start=1):
        label = (obj.findtext("name") or "").strip()
        if not label:
            return f"{name}: object {n} has no <name>"
        if label not in labels:
            labels.append(label)
        bnd = obj.find("bndbox")
        if bnd is None:
            continue
        try:
            box = [float((bnd.findtext(k) or "").strip()) for k in ("xmin", "ymin", "xmax", "ymax")]
        except ValueError:
            return f"{name}: object {n} ({label}) has a <bndbox> coordinate that is not a number"
        # VOC boxes are 1-based and inclusive: convert to 0-based, x1/y1 exclusive.
        boxes.append((label, [box[0] - 1, box[1] - 1, box[2], box[3]]))
    if not labels:
        return f"{name}: no <object> in the annotation"
    return filename, labels, boxes


# --- the archive ------------------------------------------------------------------------------
def _read_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    with zf.open(info) as fh:
        data = fh.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ValueError(f"{info.filename}: more than {MAX_FILE_BYTES} bytes")
    return data


def inspect_archive(source, progress=None) -> ImportPlan:
    """Read and check a zip (a path or a binary file object); write nothing.

    `progress(done, total)` is called while images are checked. Raises ImportRefused.
    """
    try:
        zf = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRefused([f"the upload is not a zip archive ({exc})"]) from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise ImportRefused([f"the archive has {len(infos)} entries, more than {MAX_ENTRIES}"])
        errors = [e for e in (check_entry(info) for info in infos) if e]
        total = sum(info.file_size for info in infos)
        if total > MAX_TOTAL_BYTES:
            errors.append(f"the archive inflates to {total} bytes, more than {MAX_TOTAL_BYTES}")
        if errors:
            raise ImportRefused(errors)

        files = {}
        for info in infos:
            if info.is_dir() or _is_junk(info.filename):
                continue
            norm = _normalize(info.filename)
            if norm in files:
                errors.append(f"{info.filename}: the archive holds this path twice")
                continue
            files[norm] = info
        if errors:
            raise ImportRefused(errors)

        csvs = sorted(n for n in files if posixpath.basename(n).lower() == "labels.csv")
        xmls = sorted(n for n in files if n.lower().endswith(".xml"))
        if len(csvs) > 1:
            raise ImportRefused([f"the archive holds more than one labels.csv ({', '.join(csvs)})"])
        if not csvs and not xmls:
            raise ImportRefused(["the archive has neither a labels.csv nor PASCAL VOC XML annotations"])

        def read(name: str) -> bytes:
            try:
                return _read_member(zf, files[name])
            except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
                raise _EntryError(f"{name}: cannot be read from the archive ({exc})") from None

        annotated: list[tuple[str, str, list[str], list, str]] = []  # (path, filename, labels, boxes, where)
        try:
            if csvs:
                fmt = "labels.csv"
                csv_name = csvs[0]
                folder = posixpath.dirname(csv_name)
                try:
                    text = read(csv_name).decode("utf-8-sig")
                except UnicodeDecodeError as exc:
                    raise ImportRefused([f"{csv_name}: not UTF-8 text ({exc})"]) from None
                rows, errors = _read_labels_csv(csv_name, text)
                for line, filename, labels, boxes in rows:
                    where = f"{csv_name} line {line}"
                    path = _normalize(posixpath.join(folder, filename.replace("\\", "/")))
                    if filename.startswith(("/", "\\")) or ".." in re.split(r"[\\/]", filename):
                        errors.append(f"{where}: {filename} must be a path inside the archive's folder")
                    elif path not in files:
                        errors.append(f"{where}: {filename} is not in the archive")
                    elif posixpath.splitext(path)[1].lower() not in IMAGE_EXTENSIONS:
                        errors.append(f"{where}: {filename} does not have an image extension")
                    else:
                        annotated.append((path, filename, labels, boxes, where))
            else:
                fmt = "voc"
                by_base: dict[str, list[str]] = {}
                for n in files:
                    if posixpath.splitext(n)[1].lower() in IMAGE_EXTENSIONS:
                        by_base.setdefault(posixpath.basename(n), []).append(n)
                seen: dict[str, str] = {}
                for xml_name in xmls:
                    parsed = _read_voc(xml_name, read(xml_name))
                    if isinstance(parsed, str):
                        errors.append(parsed)
                        continue
                    filename, labels, boxes = parsed
                    candidates = by_base.get(posixpath.basename(filename), [])
                    jpeg = [c for c in candidates if "/JPEGImages/" in f"/{c}"]
                    candidates = jpeg or candidates
                    if not candidates:
                        errors.append(f"{xml_name}: the image {filename} is not in the archive")
                    elif len(candidates) > 1:
                        errors.append(f"{xml_name}: the image {filename} is ambiguous ({', '.join(candidates)})")
                    elif candidates[0] in seen:
                        errors.append(f"{xml_name}: {filename} is annotated twice (also in {seen[candidates[0]]})")
                    else:
                        seen[candidates[0]] = xml_name
                        annotated.append((candidates[0], posixpath.basename(filename), labels, boxes, xml_name))

            images: list[PlannedImage] = []
            for done, (path, filename, labels, boxes, where) in enumerate(annotated, start=1):
                data = read(path)
                checked = check_image(path, data)
                if isinstance(checked, str):
                    errors.append(checked)
                else:
                    width, height, ext = checked
                    box_dicts = []
                    for label, box in boxes:
                        problem = check_box(label, box, labels, width, height)
                        if problem:
                            errors.append(f"{where}: {filename}: {problem}")
                        else:
                            box_dicts.append(box_dict(label, box))
                    images.append(
                        PlannedImage(
                            filename, data, hashlib.sha256(data).hexdigest(), width, height, ext, labels, box_dicts
                        )
                    )
                if progress:
                    progress(done, len(annotated))
        except _EntryError as exc:
            errors.append(str(exc))

        if not errors and not images:
            errors.append("the annotations list no images")
        if errors:
            raise ImportRefused(errors)
        used = {a[0] for a in annotated}
        ignored = sorted(n for n in files if n not in used and posixpath.splitext(n)[1].lower() in IMAGE_EXTENSIONS)
        return ImportPlan(fmt, images, ignored)


class _EntryError(Exception):
    pass


def storage_name(sha256: str, extension: str) -> str:
    return f"images/{sha256[:2]}/{sha256}{extension}"


def write_plan(plan: ImportPlan, name: str, description: str = "", progress=None) -> ImageSet:
    """Store the checked images and create the set in one transaction; on failure nothing remains."""
    if ImageSet.objects.filter(name=name).exists():
        raise ImportRefused([f"an image set named {name!r} already exists"])
    created_files: list[str] = []
    try:
        with transaction.atomic():
            image_set = ImageSet.objects.create(
                name=name, description=description, annotation_format=plan.annotation_format
            )
            items = []
            for done, im in enumerate(plan.images, start=1):
                stored = storage_name(im.sha256, im.extension)
                if not default_storage.exists(stored):
                    stored = default_storage.save(stored, ContentFile(im.data))
                    created_files.append(stored)
                item = ImageItem(
                    image_set=image_set,
                    filename=im.filename,
                    sha256=im.sha256,
                    width=im.width,
                    height=im.height,
                    labels=im.labels,
                    boxes=im.boxes,
                )
                item.file.name = stored
                items.append(item)
                if progress:
                    progress(done, len(plan.images))
            ImageItem.objects.bulk_create(items, batch_size=500)
    except BaseException:
        for stored in created_files:
            try:
                default_storage.delete(stored)
            except Exception:  # noqa: BLE001 - cleanup is best effort; the rows are rolled back anyway
                pass
        raise
    return image_set


def import_image_set(name: str, source, description: str = "", progress=None) -> ImageSet:
    """Check then import an archive (path or file object). Raises ImportRefused, writing nothing."""
    name = (name or "").strip()
    if not name:
        raise ImportRefused(["the image set needs a name"])
    if ImageSet.objects.filter(name=name).exists():
        raise ImportRefused([f"an image set named {name!r} already exists"])
    plan = inspect_archive(source, progress=progress)
    return write_plan(plan, name, description, progress=None)
