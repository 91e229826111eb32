"""One encoder per output language: the only way a string from outside reaches a generated file.

Names from a ``.tflite``, model file names, board YAML fields, labels, app-config values and paths
can hold anything: quotes, backslashes, line breaks, NUL, ``*/``, ``${...}``, ``!cmd``. Every
template and emitter writes such a string through the function for the language of the spot it
lands in, so it is read back as the value itself and nothing more.

Two kinds of encoder:

* **Total** encoders accept any string and always give text that is safe where it goes: C string
  literals, comments of every language, JSON/YAML, Markdown text and code spans. Comments show
  what cannot be written literally in a visible escape notation (``\\n``, ``\\x00``, ``\\u2028``),
  so a comment can never end early, continue onto the next line, or splice with it.
* **Validating** encoders accept the values their language can hold verbatim and raise
  :class:`EncodingError` for the rest: C identifiers, PlatformIO INI values (which have no escape
  for a line break or ``${``), CMake and Kconfig arguments. Upstream checks (the board schema,
  the label and ``--prefix`` checks) refuse such values earlier with a message naming the field;
  this is the last line.

Every function is pure: ``str`` in, ``str`` out.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

from generator.errors import InputError

_HINT = ("values written into generated files must not hold line breaks, control characters or "
         "the language's special sequences; fix the input (board YAML, model, labels or options)")


class EncodingError(InputError):
    """A value cannot be written verbatim in the language of the file it is meant for."""

    def __init__(self, language: str, value: str, reason: str) -> None:
        shown = repr(value) if len(value) <= 80 else repr(value[:80]) + "..."
        super().__init__(f"{shown} cannot be written as a {language}: {reason}", _HINT)
        self.language = language
        self.value = value


# --------------------------------------------------------------------------------------------------
# Visible escapes (the notation comments, Markdown and error-free text share)


def _notation(ch: str) -> str:
    """``\\n``, ``\\x00``, ``\\u2028``, ``\\U0001f600``: how a character that cannot be shown is
    written."""
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
    if ch in named:
        return named[ch]
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _shown(ch: str) -> bool:
    """Whether a character may appear literally in generated text: printable, and not one that
    could start a line, a splice or a bidirectional override (``str.isprintable`` refuses every
    control, format, separator other than the space, surrogate and unassigned code point)."""
    return ch.isprintable()


def visible(text: str) -> str:
    """``text`` on one line: backslashes doubled, every character that is not printable (line
    breaks, NUL, controls, U+2028, bidi controls, surrogates of undecodable file names) in the
    escape notation."""
    return "".join("\\\\" if ch == "\\" else ch if _shown(ch) else _notation(ch) for ch in text)


# --------------------------------------------------------------------------------------------------
# C


_C_KEYWORDS = frozenset("""
    auto break case char const continue default do double else enum extern float for goto if inline
    int long register restrict return short signed sizeof static struct switch typedef union
    unsigned void volatile while _Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary
    _Noreturn _Static_assert _Thread_local alignas alignof and and_eq asm bitand bitor bool catch
    char8_t char16_t char32_t class compl concept consteval constexpr constinit const_cast
    co_await co_return co_yield decltype delete dynamic_cast explicit export false friend module
    mutable namespace new noexcept not not_eq nullptr operator or or_eq private protected public
    reinterpret_cast requires static_assert static_cast template this thread_local throw true try
    typeid typename using virtual wchar_t xor xor_eq
""".split())
_C_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}")


def c_identifier(text: str) -> str:
    """``text`` unchanged if it is a C (and C++) identifier of at most 63 characters that is no
    keyword of either language; else :class:`EncodingError`."""
    if not _C_IDENTIFIER.fullmatch(text):
        raise EncodingError("C identifier", text, "use letters, digits and '_', not starting with "
                            "a digit, at most 63 characters")
    if text in _C_KEYWORDS:
        raise EncodingError("C identifier", text, "it is a C or C++ keyword")
    return text


def _c_bytes(text: str) -> bytes:
    """The UTF-8 bytes of ``text``; a surrogate from an undecodable file name gives its byte back."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


_C_STRING_NAMED = {ord('"'): '\\"', ord("\\"): "\\\\", ord("?"): "\\?", ord("\n"): "\\n",
                   ord("\t"): "\\t", ord("\r"): "\\r"}


def c_string(text: str) -> str:
    """A C string literal (with its quotes) holding ``text``'s UTF-8 bytes: printable ASCII as it
    is, quotes, backslashes and ``?`` (trigraphs) escaped, every other byte as a three-digit octal
    escape (so no following digit is read into it)."""
    out = []
    for byte in _c_bytes(text):
        if byte in _C_STRING_NAMED:
            out.append(_C_STRING_NAMED[byte])
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'


def _after(text: str, pairs: Mapping[tuple[str, str], str]) -> str:
    """``text`` with each character that would complete one of ``pairs`` (previous character,
    character) replaced by its escape; escapes start with a backslash and end with a letter or
    digit, so they never complete a pair themselves."""
    out: list[str] = []
    for ch in text:
        prev = out[-1][-1] if out else ""
        out.append(pairs.get((prev, ch), ch))
    return "".join(out)


def _comment_text(text: str) -> str:
    """Text for any line comment or block comment body: :func:`visible`, with ``??`` broken (a
    trigraph ``??/`` is a backslash to a C compiler) and a trailing backslash (which a compiler
    could splice with the next line, even across spaces) written as ``\\x5c``."""
    shown = _after(visible(text), {("?", "?"): "\\x3f"})
    return re.sub(r"\\\\( *)$", lambda m: "\\x5c" + m.group(1), shown)


def c_comment(text: str) -> str:
    """Text that stays inside a C block comment (``/* ... */``) on the line it is written on, and
    inside a ``//`` comment too: no line break, no ``*/`` (its ``/`` written ``\\x2f``), no ``/*``
    (``\\x2a``), no trigraph, no splicing backslash. The same text suits linker scripts and
    devicetree sources, which use C comments."""
    return _after(_comment_text(text), {("*", "/"): "\\x2f", ("/", "*"): "\\x2a"})


# --------------------------------------------------------------------------------------------------
# Line comments: PlatformIO INI, CMake, Kconfig, shell


def line_comment(text: str) -> str:
    """Text for a comment that runs to the end of the line (``;``/``#`` in INI, ``#`` in CMake,
    Kconfig and shell): no line break, no control character, no trailing backslash."""
    return _comment_text(text)


ini_comment = line_comment
cmake_comment = line_comment
kconfig_comment = line_comment


# --------------------------------------------------------------------------------------------------
# PlatformIO INI


_INI_INLINE_COMMENT = re.compile(r"\s[;#]")


def ini_value(text: str) -> str:
    """``text`` as the value of a ``platformio.ini`` option, read back by PlatformIO exactly.

    PlatformIO's parser (``configparser`` with ``%`` interpolation, ``;``/``#`` inline comments and
    ``${section.option}`` / ``${sysenv.NAME}`` expansion) has escapes for ``%`` only (``%%``):
    a line break (a new option or section), ``${``, a comment sign after a space, leading or
    trailing white space, a leading ``!`` (a command PlatformIO runs), ``[``, ``;`` or ``#`` are
    refused."""
    reason = _ini_problem(text)
    if reason:
        raise EncodingError("PlatformIO INI value", text, reason)
    return text.replace("%", "%%")


def _ini_problem(text: str) -> str:
    if not text:
        return "it is empty"
    if any(not _shown(ch) for ch in text):
        return "it holds a line break or a control character"
    if "${" in text:
        return "PlatformIO expands '${...}'"
    if _INI_INLINE_COMMENT.search(text):
        return "';' or '#' after a space starts a comment"
    if text != text.strip():
        return "leading or trailing white space is dropped"
    if text[0] in "![;#":
        return "a leading '!' runs a command, '[' reads as a section, ';' or '#' as a comment"
    return ""


def scons_value(text: str) -> str:
    """``text`` for a string SCons (and so a PlatformIO build option) substitutes: ``$`` doubled,
    so ``$VAR``, ``${...}`` and ``$(...)`` are literal text."""
    return text.replace("$", "$$")


# --------------------------------------------------------------------------------------------------
# CMake


_CMAKE_ESCAPES = {"\\": "\\\\", '"': '\\"', "$": "\\$", "@": "\\@", "\n": "\\n", "\t": "\\t",
                  "\r": "\\r"}


def cmake_argument(text: str) -> str:
    """A quoted CMake argument (with its quotes) that is one argument holding ``text``: ``\\``,
    ``"``, ``$`` (variable references) and ``@`` escaped. Refused: ``;`` (a list separator once the
    value is used), NUL and other control characters CMake cannot hold, and ``$<`` (generator
    expressions are evaluated after the escapes are gone)."""
    if ";" in text or "$<" in text:
        raise EncodingError("CMake argument", text, "';' and '$<' are list and generator-"
                            "expression syntax")
    if any(not _shown(ch) and ch not in "\n\t\r" for ch in text):
        raise EncodingError("CMake argument", text, "it holds a control character")
    return '"' + "".join(_CMAKE_ESCAPES.get(ch, ch) for ch in text) + '"'


_CMAKE_PATH = re.compile(r"[A-Za-z0-9_+-][A-Za-z0-9_.+/-]*")


def cmake_path(text: str) -> str:
    """A relative path that may stand unquoted in a CMake argument (letters, digits, ``_.+-/``, no
    ``..`` part) unchanged; anything else is refused."""
    if not _CMAKE_PATH.fullmatch(text) or ".." in text.split("/"):
        raise EncodingError("CMake path", text, "expected a relative path of letters, digits and "
                            "'_.+-/'")
    return text


# --------------------------------------------------------------------------------------------------
# Kconfig, devicetree


_KCONFIG_WORD = re.compile(r"[ynm]|-?[0-9]{1,20}|0x[0-9A-Fa-f]{1,16}")


def kconfig_value(text: str) -> str:
    """A Kconfig ``bool``/``tristate``/``int``/``hex`` value (``y``, ``n``, ``m``, a decimal or
    ``0x`` number) unchanged; anything else is refused (strings go through :func:`kconfig_string`)."""
    if not _KCONFIG_WORD.fullmatch(text):
        raise EncodingError("Kconfig value", text, "expected y, n, m or a number")
    return text


def kconfig_string(text: str) -> str:
    """A Kconfig string value (``CONFIG_X="..."``) with ``\\`` and ``"`` escaped; a line break or a
    control character, which a ``.conf`` line cannot hold, is refused."""
    if any(not _shown(ch) for ch in text):
        raise EncodingError("Kconfig string", text, "it holds a line break or a control character")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dts_string(text: str) -> str:
    """A devicetree string literal: printable ASCII as it is, ``\\`` and ``"`` escaped, every other
    byte as ``\\xNN`` (dtc reads these escapes)."""
    out = []
    for byte in _c_bytes(text):
        if byte in (ord('"'), ord("\\")):
            out.append("\\" + chr(byte))
        elif 0x20 <= byte < 0x7F:
            out.append(chr(byte))
        else:
            out.append(f"\\x{byte:02x}")
    return '"' + "".join(out) + '"'


dts_comment = c_comment


# --------------------------------------------------------------------------------------------------
# JSON, YAML


def json_value(value: object) -> str:
    """JSON text for ``value`` on one line that is also a valid YAML flow scalar: every character
    that is not printable (controls, line separators, BOM, lone surrogates) as a ``\\u`` escape,
    printable non-ASCII as it is (PyYAML would read an escaped surrogate pair as two halves)."""
    text = json.dumps(value, ensure_ascii=False)
    return "".join(ch if ch.isprintable() else _json_escape(ch) for ch in text)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


yaml_scalar = json_value


# --------------------------------------------------------------------------------------------------
# Markdown


_MD_ALWAYS = frozenset("\\`*[]|~#")
_MD_LINE_START = re.compile(r"[-+=]|\d{1,9}[.)](?=\s|$)")
_MD_ENTITIES = {"<": "&lt;", ">": "&gt;", "&": "&amp;"}


def md_text(text: str) -> str:
    """Markdown inline text showing ``text`` as it is: one line (non-printable characters in the
    escape notation), every sign Markdown could read as markup backslash-escaped (``_`` unless
    inside a word; ``-``, ``+``, ``=`` and ``1. `` at the start, where they would open a list or
    underline a heading), ``<``, ``>`` and ``&`` as entities (no raw HTML, no quote)."""
    shown = visible(text)
    out = []
    for i, ch in enumerate(shown):
        inside_word = 0 < i < len(shown) - 1 and shown[i - 1].isalnum() and shown[i + 1].isalnum()
        if ch in _MD_ENTITIES:
            out.append(_MD_ENTITIES[ch])
        elif ch in _MD_ALWAYS or (ch == "_" and not inside_word):
            out.append("\\" + ch)
        else:
            out.append(ch)
    start = _MD_LINE_START.match(shown)
    if start:
        last = start.end() - 1
        out[last] = "\\" + out[last]
    return "".join(out)


def md_code(text: str) -> str:
    """A Markdown code span (with its backticks) showing ``text``: one line, fenced with more
    backticks than any run inside it, padded when it starts or ends with a backtick or a space
    (an empty value shows as one space)."""
    return _code_span(visible(text))


def md_cell_code(text: str) -> str:
    """:func:`md_code` for a table cell: ``|`` escaped too (a table reads ``\\|`` as ``|``), so
    the span cannot end the cell."""
    return _code_span(visible(text).replace("|", "\\|"))


def _code_span(shown: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", shown)), default=0)
    fence = "`" * (longest + 1)
    if not shown:
        return "` `"
    if shown.strip(" ") and (shown.startswith(("`", " ")) or shown.endswith(("`", " "))):
        shown = f" {shown} "  # a reader strips one space on each side
    return fence + shown + fence


def md_code_line(text: str) -> str:
    """One line of an indented Markdown code block: :func:`visible` (a line break would end the
    block and start markup); a blank value is shown as ``""`` or its spaces as ``\\x20``, since a
    blank line would end the block."""
    shown = visible(text)
    if shown.strip(" "):
        return shown
    return shown.replace(" ", "\\x20") or '""'


# --------------------------------------------------------------------------------------------------
# Registry


FILTERS: Mapping[str, Callable[..., str]] = {
    "c_identifier": c_identifier,
    "c_string": c_string,
    "c_comment": c_comment,
    "line_comment": line_comment,
    "ini_comment": ini_comment,
    "ini_value": ini_value,
    "scons_value": scons_value,
    "cmake_argument": cmake_argument,
    "cmake_comment": cmake_comment,
    "cmake_path": cmake_path,
    "kconfig_value": kconfig_value,
    "kconfig_string": kconfig_string,
    "kconfig_comment": kconfig_comment,
    "dts_string": dts_string,
    "dts_comment": dts_comment,
    "json_value": json_value,
    "yaml_scalar": yaml_scalar,
    "md_text": md_text,
    "md_code": md_code,
    "md_cell_code": md_cell_code,
    "md_code_line": md_code_line,
}
"""Every encoder by the name templates use as a Jinja filter."""
