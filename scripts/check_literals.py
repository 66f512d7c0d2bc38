#!/usr/bin/env python3
"""Checks that status words are spelt by name (apdu/status_word.hpp) outside apdu/ and tests/.

A status word (ISO 7816-4 5.6: SW1 61..6F or 90..9F) written as a literal in C++ code outside apdu/
is a second definition of it. This check finds, in code with comments removed:

  word      a four-digit hex literal whose high byte is an SW1: 0x9000, 0x6A82, 0x6100, 0x6C00 ...
            (not after a minus sign: mbedTLS error codes are negative and share the range)
  pair      two adjacent byte literals forming a status word the card names (0x90, 0x00 ...), a
            two-byte brace list {0x6C, 0x10} whose first byte is an SW1, or two element assignments
            in a row that write one (r[0] = 0x6F; r[1] = 0x00;)
  compare   a comparison with an SW1 byte on a line about a status word (sw, sw1(), SW1 ...):
            sw1 == 0x91, r.sw1() != 0x6C; also the case labels of a switch on one
  string    a string that is a status word in hex ("90 00", "6A82") compared or searched for
            (==, !=, find, starts_with, ends_with, compare, contains); prose such as
            "answers 90 00" is fine

Tests and apdu/ are not checked (byte vectors are what tests assert; apdu/ is where the names are
defined).

Usage: check_literals.py [ROOT]   (ROOT defaults to the repository this script lives in).
Exit status 0 when nothing is found, 1 otherwise (one line per finding).
"""
import re
import sys
from pathlib import Path

EXEMPT = ("apdu/", "tests/")
SOURCE_SUFFIXES = {".cpp", ".hpp", ".h", ".cc"}
SKIPPED_TOP = {"subprojects", ".git"}

SW1 = set(range(0x61, 0x70)) | set(range(0x90, 0xA0))
# Status words whose SW2 carries a length (TS 102 221 10.2.1): any SW2 completes them.
LENGTH_FAMILIES = {0x61, 0x6C, 0x91}

WORD = re.compile(r"(?<![\w.])(-\s*)?0[xX]([0-9A-Fa-f]{4})(?![\w.])")
PAIR = re.compile(r"(?<![\w.])0[xX]([0-9A-Fa-f]{2})(?=\s*,\s*0[xX]([0-9A-Fa-f]{2})(?![\w.]))")  # overlapping
BRACE_PAIR = re.compile(r"\{\s*0[xX]([0-9A-Fa-f]{2})\s*,\s*0[xX]([0-9A-Fa-f]{2})\s*\}")
ASSIGNED_PAIR = re.compile(r"\]\s*=\s*0[xX]([0-9A-Fa-f]{2})\s*;\s*[\w.>-]+\s*\[[^\]\n]*\]\s*=\s*0[xX]([0-9A-Fa-f]{2})\s*;")
SW_NAME = re.compile(r"(?i)(?<![a-z])sw(?:[12])?(?![a-z])|status_?word")
COMPARED_BYTE = re.compile(r"(?:==|!=)\s*0[xX]([0-9A-Fa-f]{2})(?![\w.])|(?<![\w.])0[xX]([0-9A-Fa-f]{2})\s*(?:==|!=)")
SWITCH_ON_SW = re.compile(r"\bswitch\s*\((.*)\)")
CASE_BYTE = re.compile(r"\bcase\s+0[xX]([0-9A-Fa-f]{2})\s*:")
SW_TEXT = re.compile(r"^\s*(?:SW\s*)?([69][0-9A-Fa-f])\s?([0-9A-Fa-f]{2})\s*$")
STRING = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
STRING_CONTEXT = re.compile(
    r"(?:==|!=)\s*$|\b(?:find|rfind|starts_with|ends_with|compare|contains|find_first_of)\s*\(\s*$")
STRING_AFTER = re.compile(r"^\s*(?:==|!=)")


def named_status_words(root):
    """The status words apdu/status_word.hpp names (of root, else of this repository)."""
    for base in (root, Path(__file__).resolve().parent.parent):
        header = base / "apdu" / "status_word.hpp"
        if header.is_file():
            text = header.read_text(errors="replace")
            return {int(v, 16) for v in re.findall(r"=\s*0[xX]([0-9A-Fa-f]{4})\s*,", text)}
    return {0x9000}


def strip_comments(text):
    """text with comments replaced by spaces (newlines kept); string and char literals kept."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:j]))
            i = j
        elif c == "R" and text.startswith('R"', i) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = text.find(")" + m.group(1) + '"', i)
            end = n if end < 0 else end + len(m.group(1)) + 2
            out.append(text[i:end])
            i = end
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def blank_strings(line):
    """line with the contents of string and char literals blanked (so hex inside text is not code)."""
    line = STRING.sub(lambda m: '"' + " " * len(m.group(1)) + '"', line)
    return re.sub(r"'(?:[^'\\]|\\.)+'", lambda m: "'" + " " * (len(m.group(0)) - 2) + "'", line)


def line_findings(code, raw, named, in_sw_switch):
    """Findings of one line: code has comments removed, raw keeps strings for the string rule."""
    found = []
    for m in WORD.finditer(code):
        value = int(m.group(2), 16)
        if m.group(1) is None and (value >> 8) in SW1:
            found.append(f"status word literal 0x{value:04X}")
    for m in PAIR.finditer(code):
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        if (hi << 8 | lo) in named:
            found.append(f"status word as bytes 0x{hi:02X}, 0x{lo:02X}")
    for m in BRACE_PAIR.finditer(code):
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        if hi in SW1 and (hi << 8 | lo) not in named:
            found.append(f"status word as bytes {{0x{hi:02X}, 0x{lo:02X}}}")
    if SW_NAME.search(code):
        for m in COMPARED_BYTE.finditer(code):
            value = int(m.group(1) or m.group(2), 16)
            if value in SW1:
                found.append(f"status word byte 0x{value:02X} compared")
    if in_sw_switch:
        for m in CASE_BYTE.finditer(code):
            if int(m.group(1), 16) in SW1:
                found.append(f"status word byte 0x{m.group(1).upper()} as a case of a switch on a status word")
    for m in STRING.finditer(raw):
        sw = SW_TEXT.match(m.group(1))
        if not sw or int(sw.group(1), 16) not in SW1:
            continue
        if STRING_CONTEXT.search(raw[:m.start()]) or STRING_AFTER.match(raw[m.end():]):
            found.append(f'status word text "{m.group(1)}" compared')
    return found


def check_text(text, named):
    """[(line number, message)] for one file's text."""
    problems = []
    stripped = strip_comments(text)
    code_lines = stripped.splitlines()
    for m in ASSIGNED_PAIR.finditer(stripped):
        hi, lo = int(m.group(1), 16), int(m.group(2), 16)
        if (hi << 8 | lo) in named or hi in LENGTH_FAMILIES:
            problems.append((stripped.count("\n", 0, m.start()) + 1, f"status word written as bytes 0x{hi:02X}, 0x{lo:02X}"))
    switch_depth = None  # brace depth at which the current switch on a status word ends
    depth = 0
    for number, raw in enumerate(code_lines, 1):
        code = blank_strings(raw)
        switch = SWITCH_ON_SW.search(code)
        if switch_depth is None and switch and SW_NAME.search(switch.group(1)):
            switch_depth = depth
        for message in line_findings(code, raw, named, switch_depth is not None):
            problems.append((number, message))
        depth += code.count("{") - code.count("}")
        if switch_depth is not None and depth <= switch_depth and "}" in code:
            switch_depth = None
    return sorted(problems)


def check(root):
    """Every finding under root as 'path:line: message', skipping EXEMPT."""
    named = named_status_words(root)
    problems = []
    for file in sorted(root.rglob("*")):
        if file.suffix not in SOURCE_SUFFIXES or not file.is_file():
            continue
        rel = file.relative_to(root).as_posix()
        top = rel.split("/")[0]
        if top in SKIPPED_TOP or top.startswith("build") or rel.startswith(EXEMPT):
            continue
        for number, message in check_text(file.read_text(errors="replace"), named):
            problems.append(f"{rel}:{number}: {message} (use apdu/status_word.hpp)")
    return problems


def main(argv):
    args = argv[1:]
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f"check_literals: {len(problems)} status word literal(s) outside apdu/")
        return 1
    print("check_literals: no status word literal outside apdu/ and tests/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
