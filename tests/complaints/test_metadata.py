"""Files are stored without the hidden information that could name an anonymous reporter:
a photo's location and camera, a document's author. A file that cannot be cleaned is
refused, never stored as it came."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pikepdf
import pytest
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from audit.actions import Action
from audit.models import AuditEvent
from complaints.encryption import decrypt_bytes
from complaints.models import Attachment, Category, Complaint
from complaints.services.attachments import attachment_add
from complaints.services.metadata import metadata_strip

GPS_IFD = 0x8825
MAKE, MODEL, ORIENTATION, SOFTWARE = 0x010F, 0x0110, 0x0112, 0x0131
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Any) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _phone_photo(*, orientation: int = 6) -> bytes:
    """A 40x20 JPEG, red on the left and blue on the right, as a phone held upright
    stores it: sideways, with an orientation tag, GPS, and the camera's make and model."""
    image = Image.new("RGB", (40, 20), "blue")
    image.paste((255, 0, 0), (0, 0, 20, 20))
    exif = Image.Exif()
    exif[MAKE] = "Apple"
    exif[MODEL] = "iPhone 15 Pro"
    exif[SOFTWARE] = "17.1"
    exif[ORIENTATION] = orientation
    exif[GPS_IFD] = {1: "N", 2: (51.0, 30.0, 12.5), 3: "W", 4: (0.0, 7.0, 39.0)}
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=95, comment=b"Taken by J. Bloggs")
    return out.getvalue()


def _pdf_with_author() -> bytes:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    pdf.docinfo["/Author"] = "Jo Bloggs"
    pdf.docinfo["/Creator"] = "Word for Jo's laptop"
    with pdf.open_metadata() as xmp:
        xmp["dc:creator"] = ["Jo Bloggs"]
        xmp["xmp:CreatorTool"] = "JoBloggs-PC"
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()


CONTENT_TYPES = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas'
    b'.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType='
    b'"application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" '
    b'ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="'
    b'application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
    b'<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-'
    b'package.core-properties+xml"/><Override PartName="/docProps/app.xml" ContentType="'
    b'application/vnd.openxmlformats-officedocument.extended-properties+xml"/><Override '
    b'PartName="/docProps/custom.xml" ContentType="application/vnd.openxmlformats-'
    b'officedocument.custom-properties+xml"/></Types>')
RELS = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="http://'
    b'schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="'
    b'http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
    b'Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats'
    b'.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/>'
    b'<Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    b'relationships/extended-properties" Target="docProps/app.xml"/><Relationship Id="rId4" '
    b'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/custom-'
    b'properties" Target="docProps/custom.xml"/></Relationships>')
DOCUMENT = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<w:document xmlns:w="http://'
    b'schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>He said '
    b'it again on Friday.</w:t></w:r></w:p></w:body></w:document>')


def _docx_with_creator() -> bytes:
    """A minimal Word file, written by hand as Word would, naming its author."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as docx:
        docx.writestr("[Content_Types].xml", CONTENT_TYPES)
        docx.writestr("_rels/.rels", RELS)
        docx.writestr("word/document.xml", DOCUMENT)
        docx.writestr("docProps/core.xml", (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<cp:coreProperties '
            b'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-'
            b'properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>Jo Bloggs'
            b'</dc:creator><cp:lastModifiedBy>Jo Bloggs</cp:lastModifiedBy></cp:coreProperties>'
        ))
        docx.writestr("docProps/app.xml", (
            b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Properties xmlns="http'
            b'://schemas.openxmlformats.org/officeDocument/2006/extended-properties"><Company>'
            b'Acme Finance</Company><Application>Microsoft Office Word</Application>'
            b'</Properties>'))
        docx.writestr("docProps/custom.xml", b"<Properties><property>Desk 4.17</property>"
                                             b"</Properties>")
    return out.getvalue()


def _stored(attachment: Attachment) -> bytes:
    """What the storage holds, decrypted: what a handler downloads."""
    with default_storage.open(attachment.stored_name, "rb") as handle:
        return decrypt_bytes(handle.read())


def _assert_photo_is_clean(data: bytes) -> None:
    assert b"iPhone" not in data and b"Apple" not in data and b"Bloggs" not in data
    with Image.open(io.BytesIO(data)) as image:
        exif = image.getexif()
        assert GPS_IFD not in exif and MAKE not in exif and MODEL not in exif
        assert not exif.get_ifd(GPS_IFD)
        assert ORIENTATION not in exif
        # Upright: turned as the tag said, so the red half is now on top.
        assert image.size == (20, 40)
        rgb = image.convert("RGB")
        top, bottom = rgb.getpixel((10, 5)), rgb.getpixel((10, 35))
    assert isinstance(top, tuple) and isinstance(bottom, tuple)
    assert top[0] > 200 and top[2] < 60
    assert bottom[2] > 200 and bottom[0] < 60


def _report(client: Any, upload: Any, **fields: Any) -> Any:
    return client.post("/report/", {
        "category": Category.BULLYING, "summary": "Photos of the noticeboard",
        "narrative": "The note was pinned up on Monday.", "anonymous": "on",
        "attachment": upload, **fields})


def test_a_phone_photo_filed_with_a_report_is_stored_without_location_or_camera(
        client: Any, db: None) -> None:
    photo = _phone_photo()
    with Image.open(io.BytesIO(photo)) as original:  # the photo really carries them
        assert original.getexif()[MODEL] == "iPhone 15 Pro"
        assert original.getexif().get_ifd(GPS_IFD)
    response = _report(client, SimpleUploadedFile("IMG_0042.jpg", photo, "image/jpeg"))
    assert response.status_code == 200 and response.context["attached"] is True
    attachment = Attachment.objects.get(complaint__reference=response.context["reference"])
    stored = _stored(attachment)
    _assert_photo_is_clean(stored)
    assert attachment.size == len(stored)
    event = AuditEvent.objects.get(action=Action.ATTACHMENT_ADDED)
    assert event.target_id == response.context["reference"]
    # The receipt says what was done.
    assert "We remove hidden information" in response.content.decode()


def test_a_phone_photo_added_on_the_follow_up_page_is_stored_clean(client: Any,
                                                                    db: None) -> None:
    response = _report(client, "")
    assert response.status_code == 200
    client.post("/follow-up/", {"receipt_key": response.context["receipt_key"]})
    page = client.get("/follow-up/case/")
    assert "We remove hidden information" in page.content.decode()
    added = client.post("/follow-up/case/", {
        "action": "attach", "attachment": SimpleUploadedFile("IMG_0043.jpg", _phone_photo())})
    assert added.status_code == 302
    attachment = Attachment.objects.get(complaint__reference=response.context["reference"])
    _assert_photo_is_clean(_stored(attachment))
    assert attachment.from_reporter


def test_an_upright_photo_keeps_its_image_data_byte_for_byte() -> None:
    photo = _phone_photo(orientation=1)
    clean = metadata_strip(data=photo, content_type="image/jpeg")
    assert b"iPhone" not in clean and b"Bloggs" not in clean and len(clean) < len(photo)
    with Image.open(io.BytesIO(clean)) as image, Image.open(io.BytesIO(photo)) as original:
        assert not image.getexif() and image.size == (40, 20)
        assert image.tobytes() == original.tobytes()
    # Cleaning twice changes nothing more (a held file is cleaned again when attached).
    assert metadata_strip(data=clean, content_type="image/jpeg") == clean


def test_a_pdf_is_stored_without_its_author_or_xmp(client: Any, db: None,
                                                   reporter: Any) -> None:
    from complaints import services

    complaint = services.complaint_submit(
        reporter=reporter, category=Category.BULLYING, summary="x", narrative="y").complaint
    attachment = attachment_add(complaint=complaint, actor=reporter,
                                upload=SimpleUploadedFile("minutes.pdf", _pdf_with_author()))
    assert attachment.content_type == "application/pdf"
    stored = _stored(attachment)
    assert b"Bloggs" not in stored and b"JoBloggs-PC" not in stored
    with pikepdf.open(io.BytesIO(stored)) as pdf:
        assert "/Info" not in pdf.trailer or "/Author" not in pdf.docinfo
        assert "/Metadata" not in pdf.Root
        assert len(pdf.pages) == 1
    event = AuditEvent.objects.filter(action=Action.ATTACHMENT_ADDED).get()
    assert event.target_id == complaint.reference


def test_a_word_file_is_stored_without_its_creator_company_or_custom_properties(
        client: Any, db: None) -> None:
    response = _report(client, SimpleUploadedFile("notes.docx", _docx_with_creator()))
    assert response.status_code == 200 and response.context["attached"] is True
    attachment = Attachment.objects.get(complaint__reference=response.context["reference"])
    assert attachment.content_type == DOCX
    with zipfile.ZipFile(io.BytesIO(_stored(attachment))) as docx:
        names = docx.namelist()
        assert "docProps/custom.xml" not in names
        core, app = docx.read("docProps/core.xml"), docx.read("docProps/app.xml")
        assert b"Bloggs" not in core and b"Acme" not in app
        assert b"custom.xml" not in docx.read("[Content_Types].xml")
        assert b"custom.xml" not in docx.read("_rels/.rels")
        assert b"core.xml" in docx.read("_rels/.rels")
        assert docx.read("word/document.xml") == DOCUMENT  # the content is untouched
        assert {info.date_time for info in docx.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_a_damaged_photo_is_refused_clearly_and_the_form_keeps_what_was_typed(
        client: Any, db: None) -> None:
    photo = _phone_photo()
    broken = photo[:len(photo) // 2]  # a JPEG cut off halfway: its metadata is intact
    response = _report(client, SimpleUploadedFile("IMG_0044.jpg", broken, "image/jpeg"),
                       narrative="It was pinned up on Monday, next to the lifts.")
    assert response.status_code == 400
    body = response.content.decode()
    assert "could not remove hidden information" in body
    assert "It was pinned up on Monday, next to the lifts." in body
    assert 'name="held_attachment"' not in body
    assert not Complaint.objects.exists() and not Attachment.objects.exists()


def test_a_password_protected_pdf_is_refused(db: None) -> None:
    pdf = pikepdf.new()
    pdf.add_blank_page()
    out = io.BytesIO()
    pdf.save(out, encryption=pikepdf.Encryption(user="secret", owner="secret"))
    from complaints.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        metadata_strip(data=out.getvalue(), content_type="application/pdf")
    assert "could not remove hidden information" in refused.value.errors["attachment"][0]


@pytest.mark.parametrize("fmt,content_type", [("PNG", "image/png"), ("WEBP", "image/webp"),
                                              ("HEIF", "image/heic")])
def test_other_images_lose_their_exif(fmt: str, content_type: str) -> None:
    image = Image.new("RGB", (30, 10), "green")
    exif = Image.Exif()
    exif[MODEL] = "iPhone 15 Pro"
    out = io.BytesIO()
    image.save(out, fmt, exif=exif.tobytes())
    with Image.open(io.BytesIO(out.getvalue())) as original:
        assert original.getexif().get(MODEL) == "iPhone 15 Pro"
    clean = metadata_strip(data=out.getvalue(), content_type=content_type)
    with Image.open(io.BytesIO(clean)) as cleaned:
        assert MODEL not in cleaned.getexif() and cleaned.size == (30, 10)


def test_a_gif_loses_its_comment_and_keeps_its_frames() -> None:
    frames = [Image.new("RGB", (8, 8), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100,
                   loop=0, comment=b"Jo Bloggs' phone")
    assert b"Bloggs" in out.getvalue()
    clean = metadata_strip(data=out.getvalue(), content_type="image/gif")
    assert b"Bloggs" not in clean
    with Image.open(io.BytesIO(clean)) as cleaned:
        assert getattr(cleaned, "n_frames", 1) == 3


def test_an_open_document_loses_its_author() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as odt:
        odt.writestr("mimetype", "application/vnd.oasis.opendocument.text",
                     compress_type=zipfile.ZIP_STORED)
        odt.writestr("content.xml", "<office:document-content/>")
        odt.writestr("meta.xml", "<office:document-meta><office:meta><meta:initial-creator>"
                                 "Jo Bloggs</meta:initial-creator></office:meta>"
                                 "</office:document-meta>")
    clean = metadata_strip(data=out.getvalue(),
                           content_type="application/vnd.oasis.opendocument.text")
    assert b"Bloggs" not in clean
    with zipfile.ZipFile(io.BytesIO(clean)) as odt:
        first = odt.infolist()[0]
        assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED


def test_plain_text_is_stored_as_it_came() -> None:
    assert metadata_strip(data=b"Notes\n", content_type="text/plain") == b"Notes\n"


def _box(kind: bytes, body: bytes) -> bytes:
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def test_a_phone_video_loses_its_location_tags_and_recording_time() -> None:
    recorded = (3_900_000_000).to_bytes(4, "big")  # seconds since 1904: in 2027
    mvhd = _box(b"mvhd", b"\x00\x00\x00\x00" + recorded + recorded + bytes(88))
    location = _box(b"udta", _box(b"\xa9xyz", b"\x00\x12\x15\xc7+51.5074-000.1278/"))
    apple = _box(b"meta", bytes(4) + _box(b"keys", b"com.apple.quicktime.make iPhone"))
    mdat = _box(b"mdat", b"\x00\x01\x02frames")
    video = (_box(b"ftyp", b"isom\x00\x00\x02\x00isomiso2")
             + _box(b"moov", mvhd + _box(b"trak", location) + apple) + mdat)
    clean = metadata_strip(data=video, content_type="video/mp4")
    assert len(clean) == len(video)  # the offsets to the media data still hold
    assert b"51.5074" not in clean and b"iPhone" not in clean and recorded not in clean
    assert clean.endswith(mdat) and clean.count(b"free") == 2


def test_a_recording_loses_its_id3_and_wav_tags() -> None:
    frames = b"\xff\xfb\x90\x00" + bytes(60)
    title = b"TIT2" + (10).to_bytes(4, "big") + b"\x00\x00\x00Jo Bloggs"
    id3 = b"ID3\x03\x00\x00" + bytes([0, 0, 0, len(title)]) + title
    v1 = b"TAG" + b"Jo Bloggs".ljust(125, b"\x00")
    mp3 = metadata_strip(data=id3 + frames + v1, content_type="audio/mpeg")
    assert mp3 == frames

    info = b"INFOIART" + (10).to_bytes(4, "little") + b"Jo Bloggs\x00"
    chunks = (b"fmt " + (16).to_bytes(4, "little") + bytes(16)
              + b"LIST" + len(info).to_bytes(4, "little") + info
              + b"data" + (4).to_bytes(4, "little") + b"\x01\x02\x03\x04")
    wav = b"RIFF" + (4 + len(chunks)).to_bytes(4, "little") + b"WAVE" + chunks
    clean = metadata_strip(data=wav, content_type="audio/x-wav")
    assert b"Bloggs" not in clean and clean.endswith(b"data\x04\x00\x00\x00\x01\x02\x03\x04")
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8


def test_a_progressive_photo_keeps_every_scan() -> None:
    image = Image.effect_noise((64, 48), 60).convert("RGB")
    exif = Image.Exif()
    exif[MODEL] = "iPhone 15 Pro"
    out = io.BytesIO()
    image.save(out, "JPEG", progressive=True, exif=exif, quality=90)
    photo = out.getvalue()
    assert photo.count(b"\xff\xda") > 1  # several scans, with tables between them
    clean = metadata_strip(data=photo + b"SEFT trailer: Galaxy S24", content_type="image/jpeg")
    assert b"iPhone" not in clean and b"Galaxy" not in clean
    with Image.open(io.BytesIO(clean)) as cleaned, Image.open(io.BytesIO(photo)) as original:
        assert cleaned.tobytes() == original.tobytes()
