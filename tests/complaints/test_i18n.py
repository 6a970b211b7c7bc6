"""The reporter's pages in English and Simplified Chinese: chosen by the browser's
Accept-Language or by the switcher on every page, English otherwise; every string a reporter
reads is translated, and the compiled catalogue is the one the .po describes."""

from __future__ import annotations

import ast
import gettext
import html
import io
import re
import tokenize
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from django.utils.translation.template import templatize

from complaints import services
from complaints.models import Category

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES"
PO, MO = CATALOGUE / "django.po", CATALOGUE / "django.mo"

# Everything a reporter reads comes from these.
REPORTER_TEMPLATES = [
    "templates/base.html",
    "templates/unavailable.html",
    *(f"complaints/templates/complaints/{name}.html" for name in
      ("home", "report", "receipt", "follow_up", "reporter_case", "my_cases", "includes/field")),
]
REPORTER_PYTHON = [
    "complaints/views/public.py",
    "complaints/services/intake.py",
    "complaints/services/reporter.py",
    "complaints/services/attachments.py",
    "complaints/services/metadata.py",
]
# complaints/forms.py also holds the staff forms: only these parts of it are the reporter's.
REPORTER_FORMS = {"ReportForm", "ReceiptKeyForm", "MessageForm", "RevealForm"}
MARKERS = {"_", "gettext", "gettext_lazy", "gettext_noop", "pgettext", "pgettext_lazy",
           "ngettext", "ngettext_lazy", "npgettext", "npgettext_lazy"}

ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


# --- A small .po reader -------------------------------------------------------------------

@dataclass
class Entry:
    msgid: str = ""
    msgctxt: str | None = None
    msgid_plural: str | None = None
    msgstr: list[str] = field(default_factory=list)
    flags: set[str] = field(default_factory=set)
    references: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid


def read_po(text: str) -> list[Entry]:
    """The live entries of a .po file (obsolete ``#~`` ones are skipped). Strings are C-like
    quoted, as gettext writes them, which Python reads as string literals."""
    entries: list[Entry] = []
    entry, keyword, index = Entry(), "", 0
    lines = text.splitlines() + [""]
    for line in lines:
        if not line.strip():
            if keyword:
                entries.append(entry)
            entry, keyword = Entry(), ""
            continue
        if line.startswith("#,"):
            entry.flags |= {flag.strip() for flag in line[2:].split(",")}
        elif line.startswith("#:"):
            entry.references += [ref.rsplit(":", 1)[0] for ref in line[2:].split()]
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            _append(entry, keyword, index, ast.literal_eval(line))
        else:
            word, quoted = line.split(" ", 1)
            keyword, index = word, 0
            if word.startswith("msgstr["):
                keyword, index = "msgstr", int(word[7:-1])
            if keyword == "msgstr":
                entry.msgstr.append("")
            _append(entry, keyword, index, ast.literal_eval(quoted))
    return entries


def _append(entry: Entry, keyword: str, index: int, text: str) -> None:
    if keyword == "msgstr":
        entry.msgstr[index] += text
    elif keyword == "msgctxt":
        entry.msgctxt = (entry.msgctxt or "") + text
    elif keyword == "msgid_plural":
        entry.msgid_plural = (entry.msgid_plural or "") + text
    else:
        assert keyword == "msgid", keyword
        entry.msgid += text


# --- What the reporter's sources mark for translation ----------------------------------------

def _strings_after(text: str) -> tuple[str, ...]:
    """The string literals of a call's arguments, from just after its "(" to its ")"."""
    found = []
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    for token in tokens:
        if token.type == tokenize.STRING:
            found.append(ast.literal_eval(token.string))
        elif token.type == tokenize.OP and token.string == ")":
            break
    return tuple(found)


def _key(function: str, strings: tuple[str, ...]) -> tuple[str | None, str]:
    return (strings[0], strings[1]) if function.startswith(("pgettext", "npgettext")) \
        else (None, strings[0])


def template_msgids(path: str) -> set[tuple[str | None, str]]:
    # templatize is what makemessages hands to xgettext: each translatable string as a call.
    source = templatize((ROOT / path).read_text(), origin=path)
    return {_key(m[1], _strings_after(source[m.end():]))
            for m in re.finditer(r"(?<![\w.])(_|n?p?gettext)\(", source)}


def python_msgids(path: str, only: set[str] | None = None) -> set[tuple[str | None, str]]:
    tree = ast.parse((ROOT / path).read_text())
    roots: list[ast.AST] = [tree]
    if only is not None:
        roots = [node for node in tree.body
                 if (isinstance(node, ast.ClassDef) and node.name in only)
                 or (isinstance(node, ast.Assign) and any(
                     isinstance(t, ast.Name) and t.id in only for t in node.targets))]
    found = set()
    for root in roots:
        for node in ast.walk(root):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in MARKERS):
                strings = tuple(a.value for a in node.args
                                if isinstance(a, ast.Constant) and isinstance(a.value, str))
                if strings:
                    found.add(_key(node.func.id, strings))
    return found


def reporter_msgids() -> set[tuple[str | None, str]]:
    found = set().union(*(template_msgids(p) for p in REPORTER_TEMPLATES))
    found |= set().union(*(python_msgids(p) for p in REPORTER_PYTHON))
    return found | python_msgids("complaints/forms.py", only=REPORTER_FORMS)


def _placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"%\(\w+\)[sd]", text))


# --- The catalogue ------------------------------------------------------------------------

def test_the_catalogue_has_no_fuzzy_entries() -> None:
    fuzzy = [e.msgid for e in read_po(PO.read_text(encoding="utf-8")) if "fuzzy" in e.flags]
    assert fuzzy == []


def test_every_string_a_reporter_reads_is_translated() -> None:
    wanted = reporter_msgids()
    assert len(wanted) > 100, "the reporter's sources were not read"
    catalogue = {e.key: e for e in read_po(PO.read_text(encoding="utf-8"))}
    missing = sorted(msgid for key in wanted if key not in catalogue for msgid in [key[1]])
    assert missing == [], "run `manage.py makemessages -l zh_Hans` and translate these"
    untranslated = sorted(key[1] for key in wanted if not all(catalogue[key].msgstr))
    assert untranslated == []
    for key in wanted:
        entry = catalogue[key]
        for text in entry.msgstr:  # a translation that drops or adds one breaks the page
            assert _placeholders(text) == _placeholders(entry.msgid), entry.msgid


def test_the_compiled_catalogue_is_the_one_the_po_describes() -> None:
    with MO.open("rb") as handle:
        compiled = gettext.GNUTranslations(handle)
    translated = [e for e in read_po(PO.read_text(encoding="utf-8"))
                  if e.msgid and all(e.msgstr) and "fuzzy" not in e.flags]
    assert translated
    stale = []
    for e in translated:
        if e.msgid_plural is None:
            got = [compiled.pgettext(e.msgctxt, e.msgid) if e.msgctxt is not None
                   else compiled.gettext(e.msgid)]
        else:
            counts = [next(n for n in range(1000) if compiled.plural(n) == i)
                      for i in range(len(e.msgstr))]
            got = [compiled.ngettext(e.msgid, e.msgid_plural, n) for n in counts]
        if got != e.msgstr:
            stale.append(e.msgid)
    assert stale == [], "run `manage.py compilemessages` and keep the .mo with the .po"


# --- The pages ------------------------------------------------------------------------------

def _text(body: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def _english_left(body: str) -> list[str]:
    """Reporter sentences still in English on a page (whole phrases, not single words)."""
    text = " ".join(_text(body).split())
    return sorted(msgid for _, msgid in reporter_msgids()
                  if " " in msgid and "%(" not in msgid and " ".join(msgid.split()) in text)


@pytest.fixture
def anonymous_case(client: Any, org: dict[str, Any]) -> Any:
    filed = services.complaint_submit(
        reporter=None, anonymous=True, category=Category.BULLYING, summary="Shouted at",
        narrative="He shouts at me.", subjects=[org["accused"].employee_id])
    assert client.post("/follow-up/", {"receipt_key": filed.receipt_key}).status_code == 302
    return filed.complaint


def test_pages_are_in_english_by_default(client: Any, anonymous_case: Any) -> None:
    for url in ("/", "/report/", "/follow-up/", "/follow-up/case/"):
        response = client.get(url)
        body = response.content.decode()
        assert '<html lang="en">' in body, url
        assert response["Content-Language"] == "en"
    assert "Your report was received." in body
    assert "Report misconduct safely" in client.get("/").content.decode()


@pytest.mark.django_db
def test_the_reporters_pages_follow_the_browsers_chinese(client: Any, reporter: Any,
                                                         anonymous_case: Any) -> None:
    pages = {url: client.get(url, **ZH) for url in
             ("/", "/report/", "/follow-up/", "/follow-up/case/")}
    receipt = client.post("/report/", {"category": Category.BULLYING, "summary": "Meetings",
                                       "narrative": "Shouting.", "anonymous": "on"}, **ZH)
    assert receipt.status_code == 200
    pages["receipt"] = receipt
    client.force_login(reporter)
    client.post("/report/", {"category": Category.BULLYING, "summary": "Meetings",
                             "narrative": "Shouting."}, **ZH)
    reference = reporter.reported_complaints.get().reference
    pages["/my/"] = client.get("/my/", **ZH)
    pages["my case"] = client.get(f"/my/{reference}/", **ZH)
    for name, response in pages.items():
        body = response.content.decode()
        assert '<html lang="zh-hans">' in body, name
        assert response["Content-Language"] == "zh-hans", name
        assert _english_left(body) == [], name
    assert "安全地举报不当行为" in pages["/"].content.decode()
    assert "请立即保存您的回执密钥" in pages["receipt"].content.decode()
    case = pages["my case"].content.decode()
    assert "您的举报已收到。" in case and "性骚扰" not in case
    assert "确认受理您的举报：" in case  # the deadline the company is held to, in words
    assert "霸凌" in pages["/report/"].content.decode()  # the category names too


@pytest.mark.django_db
def test_the_reporter_services_refuse_in_the_reporters_language(
        client: Any, anonymous_case: Any) -> None:
    future = (timezone.localtime() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post("/report/", {"category": Category.BULLYING, "summary": "Meetings",
                                       "narrative": "Shouting.", "occurred_at": future}, **ZH)
    assert refused.status_code == 400
    assert "这个时间还没有到" in refused.content.decode()
    upload = SimpleUploadedFile("tool.exe", b"MZ\x90\x00binary")
    refused = client.post("/follow-up/case/", {"action": "attach", "attachment": upload}, **ZH)
    assert refused.status_code == 400
    assert "无法附上这类文件" in refused.content.decode()
    # The same refusal, asked in English, stays English.
    upload = SimpleUploadedFile("tool.exe", b"MZ\x90\x00binary")
    refused = client.post("/follow-up/case/", {"action": "attach", "attachment": upload})
    assert "This kind of file can" in refused.content.decode()


@pytest.mark.django_db
def test_the_switcher_changes_the_language_without_javascript(client: Any) -> None:
    page = client.get("/report/")
    body = page.content.decode()
    switcher = re.search(r'<form class="language".*?</form>', body, flags=re.S)
    assert switcher is not None
    form = switcher.group(0)
    assert 'method="post" action="/i18n/setlang/"' in form
    assert '<label for="language-choice">Language</label>' in form
    assert '<select id="language-choice" name="language">' in form
    assert '<input type="hidden" name="next" value="/report/">' in form
    assert '<button type="submit"' in form and "csrfmiddlewaretoken" in form
    assert re.search(r'<option value="zh-hans" lang="zh-hans">简体中文</option>', form)
    # The strict policy holds: nothing inline anywhere on the page.
    assert "<script" not in body and " style=" not in body
    assert not re.search(r"\son\w+=", body)  # no inline event handlers either
    assert "'unsafe-inline'" not in page["Content-Security-Policy"]

    chosen = client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/report/"})
    assert chosen.status_code == 302 and chosen["Location"] == "/report/"
    body = client.get("/report/").content.decode()  # the cookie, no Accept-Language
    assert '<html lang="zh-hans">' in body and "举报涉及哪类问题？" in body
    assert '<option value="zh-hans" lang="zh-hans" selected>' in body
    # The cookie outranks the browser's own preference, and switching back works.
    assert "举报涉及哪类问题？" in client.get(
        "/report/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    client.post("/i18n/setlang/", {"language": "en", "next": "/report/"})
    assert "What is it about?" in client.get("/report/").content.decode()


@pytest.mark.django_db
def test_the_switcher_refuses_to_send_anyone_elsewhere(client: Any) -> None:
    chosen = client.post("/i18n/setlang/", {"language": "zh-hans",
                                            "next": "https://attacker.example/"})
    assert chosen.status_code == 302 and chosen["Location"] == "/"
