#!/usr/bin/env python3
"""Fail when two static libraries linked into one program define the same
global symbol.

A static link takes the first definition it finds and says nothing about
the other (LMTP's cmd_noop once answered IMAP NOOP), so the build checks
it: the libraries are the *.a inputs ninja knows for the target, their
global definitions come from `nm --defined-only -g`, and any name defined
by more than one object file (in two libraries, or twice in one) is
reported with both places. Weak symbols are left out: overriding them is
their purpose.

  check-dup-symbols.py BUILD_DIR TARGET [--expect-dup SYMBOL LIB.a LIB.a]

TARGET is the program (absolute, or relative to BUILD_DIR). --expect-dup
first runs the check on the two given libraries and requires it to find
SYMBOL defined in both (the check's own test). Prints "N passed, N
failed" last and exits non-zero on any failure.
"""
import os
import subprocess
import sys

# nm types of strong global definitions: text, data, bss, read-only data,
# small data/bss, absolute, common, indirect functions
STRONG_TYPES = set("TDBRGSACi")


def static_libs(build_dir, target):
    """The .a files ninja links into target (relative to build_dir)."""
    out = subprocess.run(["ninja", "-C", build_dir, "-t", "query", target],
                         check=True, capture_output=True, text=True).stdout
    libs = []
    section = None
    for line in out.splitlines():
        stripped = line.strip()
        if stripped.startswith("input:"):
            section = "input"
            continue
        if stripped.startswith("outputs:"):
            section = "outputs"
            continue
        if section != "input":
            continue
        name = stripped.lstrip("|").strip()
        if name.endswith(".a"):
            libs.append(name if os.path.isabs(name)
                        else os.path.join(build_dir, name))
    return libs


def definitions(libs):
    """name -> [(library, object)] of strong global definitions."""
    defs = {}
    for lib in libs:
        out = subprocess.run(["nm", "--defined-only", "-g", "-A", lib],
                             check=True, capture_output=True,
                             text=True).stdout
        for line in out.splitlines():
            # "lib.a:obj.o:0000000000000040 T name"
            fields = line.split()
            if len(fields) < 3:
                continue
            sym_type, name = fields[-2], fields[-1]
            if sym_type not in STRONG_TYPES:
                continue
            where = fields[0]
            if where.startswith(lib + ":"):
                where = where[len(lib) + 1:]
            obj = os.path.basename(where.rpartition(":")[0] or where)
            defs.setdefault(name, []).append((lib, obj))
    return defs


def duplicates(libs):
    return {name: places for name, places in definitions(libs).items()
            if len(places) > 1}


def report(dups, build_dir):
    for name in sorted(dups):
        places = ", ".join("%s(%s)" % (os.path.relpath(lib, build_dir), obj)
                           for lib, obj in dups[name])
        print("  duplicate global symbol %s: defined in %s" % (name, places))


def main(argv):
    if len(argv) not in (3, 7) or (len(argv) == 7 and
                                   argv[3] != "--expect-dup"):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    build_dir = os.path.abspath(argv[1])
    target = argv[2]
    if os.path.isabs(target):
        target = os.path.relpath(target, build_dir)
    passed = failed = 0

    if len(argv) == 7:
        symbol, lib_a, lib_b = argv[4], argv[5], argv[6]
        dups = duplicates([lib_a, lib_b])
        libs_found = {lib for lib, _ in dups.get(symbol, [])}
        if libs_found == {lib_a, lib_b}:
            print("self-test: %s found in both test libraries  ok" % symbol)
            passed += 1
        else:
            print("self-test: %s defined in %s and %s was not reported  "
                  "FAILED" % (symbol, lib_a, lib_b))
            failed += 1

    libs = static_libs(build_dir, target)
    dups = duplicates(libs)
    if len(libs) == 0:
        print("%s: no static libraries found in ninja's inputs  FAILED"
              % target)
        failed += 1
    elif dups:
        print("%s: %u global symbols defined more than once across its "
              "%u static libraries  FAILED" % (target, len(dups), len(libs)))
        report(dups, build_dir)
        failed += 1
    else:
        print("%s: %u static libraries, no global symbol defined twice  ok"
              % (target, len(libs)))
        passed += 1
    print("%u passed, %u failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
