#!/usr/bin/env python3
"""Checks that every #include "..." in the repository follows the layers' arrows.

Each layer is a folder; a file may include headers of its own layer and of the layers its layer
sits on (LAYERS below, the same arrows as the meson libraries and docs/architecture.md,
"The layers"). A test under tests/<layer>/ may include what <layer> may include, plus test
helpers under tests/ and the test support of sim/testing/. A file in a folder that no layer names
is an error too: a new folder gets its place in the table before it gets code.

Usage: check_layers.py [ROOT]   (ROOT defaults to the repository this script lives in)
Exit status 0 when every include follows the arrows, 1 otherwise (one line per violation).
"""
import re
import sys
from pathlib import Path

# layer -> the layers it sits directly on. The check uses the transitive closure.
LAYERS = {
    "base": [],
    "apdu": ["base"],
    "http": ["base"],
    "card/os": ["apdu"],
    "card/cat": ["card/os"],
    "card/defence": ["card/cat"],
    "tls": ["card/cat"],
    "card/scws": ["tls", "http", "card/defence"],
    "card/admin": ["card/scws"],
    "card/examples": ["card/scws"],
    "sim/host": ["card/admin"],
    "sim/handset": ["sim/host"],
    "sim/testing": ["sim/host"],
    "sim/admin": ["sim/host"],
    "sim/bench": ["sim/handset", "sim/testing", "sim/admin"],
    "sim/cli": ["sim/bench"],
}
# Test folders with no layer of their own: what they may include.
TEST_ONLY = {
    "tests/support": [],
    "tests/fuzz": ["card/examples", "sim/admin"],
    "tests/scripts": [],
}
# Quoted includes that are not files of a layer: the generated configuration header, mbedTLS.
EXTERNAL = ("scws_config.hpp", "mbedtls/", "doctest/")
SOURCE_SUFFIXES = {".cpp", ".hpp", ".h", ".cc"}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def closure(layers):
    """Every layer with the set of layers it may include (itself included); raises on a cycle."""
    result = {}

    def visit(layer, path):
        if layer in path:
            raise ValueError("the layers form a cycle: " + " -> ".join(path + [layer]))
        if layer not in result:
            below = {layer}
            for lower in layers[layer]:
                if lower not in layers:
                    raise ValueError(f"layer {layer} sits on {lower}, which is not a layer")
                below |= visit(lower, path + [layer])
            result[layer] = below
        return result[layer]

    for layer in layers:
        visit(layer, [])
    return result


def layer_of(path, layers):
    """The longest layer prefix of a repository-relative path, or None."""
    best = None
    for layer in layers:
        if path == layer or path.startswith(layer + "/"):
            if best is None or len(layer) > len(best):
                best = layer
    return best


def allowed_for(rel, allowed):
    """(name, set of layers) a file may include, or None when no layer holds the file."""
    if rel.startswith("tests/"):
        for folder, extra in TEST_ONLY.items():
            if rel.startswith(folder + "/"):
                layers = set()
                for layer in extra:
                    layers |= allowed[layer]
                return folder, layers | {"sim/testing"}
        inner = layer_of(rel[len("tests/"):], allowed)
        if inner is None:
            return None
        return "tests/" + inner, allowed[inner] | {"sim/testing"}
    layer = layer_of(rel, allowed)
    if layer is None:
        return None
    return layer, allowed[layer]


def check(root, layers=None):
    """Returns the list of violations under root, one message each."""
    layers = LAYERS if layers is None else layers
    allowed = closure(layers)
    top = {layer.split("/")[0] for layer in layers} | {"tests"}
    problems = []
    for file in sorted(root.rglob("*")):
        if file.suffix not in SOURCE_SUFFIXES or not file.is_file():
            continue
        rel = file.relative_to(root).as_posix()
        if rel.split("/")[0] not in top:
            continue  # build trees, subprojects
        where = allowed_for(rel, allowed)
        if where is None:
            problems.append(f"{rel}: in no layer (add its folder to LAYERS in scripts/check_layers.py)")
            continue
        name, may = where
        for number, line in enumerate(file.read_text(errors="replace").splitlines(), 1):
            m = INCLUDE.match(line)
            if not m:
                continue
            target = m.group(1)
            if target.startswith(EXTERNAL) or "/" not in target:
                continue
            if target.startswith("tests/"):
                if rel.startswith("tests/"):
                    continue
                problems.append(f"{rel}:{number}: includes {target}: product code never includes tests")
                continue
            target_layer = layer_of(target, allowed)
            if target_layer is None:
                problems.append(f"{rel}:{number}: includes {target}, which is in no layer")
            elif target_layer not in may:
                problems.append(f"{rel}:{number}: {name} may not include {target} ({target_layer} is not below it)")
    return problems


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parent.parent
    try:
        problems = check(root)
    except ValueError as e:
        print(f"check_layers: {e}")
        return 1
    for p in problems:
        print(p)
    if problems:
        print(f"check_layers: {len(problems)} include(s) against the arrows")
        return 1
    print("check_layers: every include follows the arrows")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
