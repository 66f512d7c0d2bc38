#!/usr/bin/env python3
"""Tests of scripts/check_layers.py: the repository passes, and deliberate includes against the
arrows, files outside every layer and cyclic tables are caught."""
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import check_layers  # noqa: E402


def tree(files):
    """A temporary tree with the given {path: text} files."""
    d = tempfile.TemporaryDirectory()
    for path, text in files.items():
        p = Path(d.name) / path
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return d


class CheckLayers(unittest.TestCase):
    def test_the_repository_follows_the_arrows(self):
        self.assertEqual(check_layers.check(ROOT), [])
        run = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_layers.py"), str(ROOT)],
                             capture_output=True, text=True)
        self.assertEqual(run.returncode, 0, run.stdout)

    def test_an_include_up_the_arrows_fails(self):
        with tree({
            "card/os/nvm.hpp": '#include "base/bytes.hpp"\n',
            "card/os/card.cpp": '#include "card/os/nvm.hpp"\n#include "card/scws/scws_applet.hpp"\n',
            "card/scws/scws_applet.hpp": '#include "card/os/nvm.hpp"\n',
        }) as d:
            problems = check_layers.check(Path(d))
            self.assertEqual(len(problems), 1)
            self.assertIn("card/os/card.cpp:2", problems[0])
            self.assertIn("card/scws", problems[0])
            run = subprocess.run([sys.executable, str(ROOT / "scripts" / "check_layers.py"), d],
                                 capture_output=True, text=True)
            self.assertEqual(run.returncode, 1)
            self.assertIn("against the arrows", run.stdout)

    def test_generic_tls_may_not_know_the_scws_applet(self):
        with tree({"tls/tls_port.hpp": '#include "card/scws/scws_applet.hpp"\n'}) as d:
            self.assertEqual(len(check_layers.check(Path(d))), 1)

    def test_host_layers_are_ordered_too(self):
        with tree({
            "sim/host/profile.cpp": '#include "sim/handset/gateway.hpp"\n',
            "sim/testing/pcscd_harness.cpp": '#include "sim/bench/bench_apdu.hpp"\n',
            "sim/handset/gateway.cpp": '#include "sim/testing/scratch_dir.hpp"\n',
            "sim/cli/cli_run.cpp": '#include "sim/bench/bench_apdu.hpp"\n#include "card/scws/tls_port.hpp"\n',
        }) as d:
            problems = check_layers.check(Path(d))
            self.assertEqual(len(problems), 3, problems)
            self.assertFalse(any(p.startswith("sim/cli") for p in problems))

    def test_product_code_never_includes_tests(self):
        with tree({"http/server.cpp": '#include "tests/apdu/bytes_util.hpp"\n'}) as d:
            self.assertIn("never includes tests", check_layers.check(Path(d))[0])

    def test_tests_follow_the_layer_they_mirror(self):
        with tree({
            "tests/card/os/nvm_test.cpp": '#include "card/os/nvm.hpp"\n#include "tests/apdu/bytes_util.hpp"\n',
            "tests/card/cat/toolkit_test.cpp": '#include "card/scws/scws_applet.hpp"\n',
            "tests/sim/handset/gateway_test.cpp": '#include "sim/testing/scratch_dir.hpp"\n',
        }) as d:
            problems = check_layers.check(Path(d))
            self.assertEqual(len(problems), 1, problems)
            self.assertIn("tests/card/cat/toolkit_test.cpp:1", problems[0])

    def test_a_file_outside_every_layer_fails(self):
        with tree({"card/vendor/x.cpp": '#include "base/bytes.hpp"\n'}) as d:
            self.assertIn("in no layer", check_layers.check(Path(d))[0])

    def test_a_cycle_in_the_table_is_refused(self):
        with self.assertRaises(ValueError):
            check_layers.closure({"a": ["b"], "b": ["a"]})


if __name__ == "__main__":
    unittest.main()
