#!/usr/bin/env python3
"""Tests of scripts/check_literals.py: the repository passes, deliberate status-word literals of
every kind are caught with their line, and what is not a status word (or not checked) is left alone."""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "check_literals.py"
sys.path.insert(0, str(ROOT / "scripts"))
import check_literals  # noqa: E402


def tree(files):
    """A temporary tree with the given {path: text} files."""
    d = tempfile.TemporaryDirectory()
    for path, text in files.items():
        p = Path(d.name) / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return d


def run(*args):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def findings(text, path="sim/host/x.cpp"):
    with tree({path: text}) as d:
        return check_literals.check(Path(d))


class CheckLiterals(unittest.TestCase):
    def test_the_repository_has_no_status_word_literal(self):
        self.assertEqual(check_literals.check(ROOT), [])
        result = run(str(ROOT))
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_a_deliberate_violation_fails_with_its_line(self):
        with tree({"sim/bench/x.cpp": "int f(unsigned sw) {\n  return sw == 0x9000;\n}\n"}) as d:
            problems = check_literals.check(Path(d))
            self.assertEqual(len(problems), 1, problems)
            self.assertTrue(problems[0].startswith("sim/bench/x.cpp:2: status word literal 0x9000"), problems)
            result = run(d)
            self.assertEqual(result.returncode, 1)
            self.assertIn("sim/bench/x.cpp:2", result.stdout)

    def test_every_kind_of_literal_is_caught(self):
        cases = {
            "word": "bool busy(unsigned v) { return v == 0x6A82; }\n",
            "length family mask": "bool more(unsigned v) { return (v & 0xFF00) == 0x6100; }\n",
            "wrong Le family": "constexpr unsigned k = 0x6C00;\n",
            "bytes": "const unsigned char ok[] = {0x01, 0x90, 0x00};\n",
            "brace pair": "std::vector<u8> v{0x6C, 0x10};\n",
            "sw1 compared": "if (r.sw1() == 0x91) fetch();\n",
            "byte compared on the left": "if (0x6C != sw1) return;\n",
            "assigned pair": "void f(u8* response) {\n  response[0] = 0x90;\n  response[1] = 0x00;\n}\n",
            "string compared": 'bool ok(const std::string& s) { return s == "90 00"; }\n',
            "string searched": 'bool ok(const std::string& s) { return s.ends_with("9000"); }\n',
            "switch on sw": "switch (sw >> 8) {\n  case 0x61: return more();\n  default: break;\n}\n",
        }
        for name, text in cases.items():
            with self.subTest(name):
                self.assertTrue(findings(text), text)

    def test_what_is_not_a_status_word_is_left_alone(self):
        text = "\n".join([
            "// answers 90 00; compare with 0x9000 in a comment",
            "/* sw == 0x91 */",
            'const char* help = "a reference card answering 90 00 and 6A82";',
            'std::printf("0x9000");',
            "const int kMbedtlsError = -0x6100;",  # mbedTLS error codes are negative
            "const u8 fcp[] = {0x62, 0x81, 0x90, 0x01, 0x00};",  # a template, not 90 00
            "w.u8_(0x6F);  // FCI template",
            "const u32 kObject = 0x01009000;",
            "if (tag == 0x90) return;",  # not about a status word
            "switch (tag) {\n  case 0x61: break;\n}",
            "const u16 port = 0x4000;",
            "const double x = 0x9000.0p0;",
        ]) + "\n"
        self.assertEqual(findings(text), [])

    def test_apdu_and_tests_are_where_literals_belong(self):
        text = "bool ok(unsigned sw) { return sw == 0x9000; }\n"
        with tree({"apdu/status_word.cpp": text, "tests/card/os/x_test.cpp": text}) as d:
            self.assertEqual(check_literals.check(Path(d)), [])

    def test_the_handset_is_checked_like_the_rest(self):
        text = "bool ok(unsigned sw) { return sw == 0x9000; }\n"
        with tree({"sim/handset/cat_terminal.cpp": text}) as d:
            self.assertEqual(len(check_literals.check(Path(d))), 1)
            self.assertEqual(run(d).returncode, 1)


if __name__ == "__main__":
    unittest.main()
