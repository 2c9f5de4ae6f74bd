#!/usr/bin/env bash
# Linux has no Swift toolchain, so the Swift package cannot be built here.
# This keeps it in step with the generated API instead: it generates the
# Swift from the current Rust library (cargo xtask bindings) and checks
#  - the FFI module the Package.swift binary target names is the one
#    generated, and its C header parses;
#  - every method the hand-written Swift (extensions and XCTests) calls on
#    the store exists in the generated Swift, with the same first label;
#  - every DoorstepError case and enum case it names exists.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo xtask bindings >&2
GEN="$TARGET_DIR/bindings/swift"

grep -q '^module DoorstepFFI' "$GEN/DoorstepFFI.modulemap" \
  || { echo "the generated module map does not define DoorstepFFI" >&2; exit 1; }
grep -q 'binaryTarget(name: "DoorstepFFI"' ios/Package.swift \
  || { echo "Package.swift's binary target is not DoorstepFFI" >&2; exit 1; }
# The header, as a C compiler sees it (clang's nullability words blanked).
echo '#include "DoorstepFFI.h"' | cc -fsyntax-only -x c -D_Nonnull= -D_Nullable= -I"$GEN" -

python3 - "$GEN/Doorstep.swift" ios/Sources/Doorstep/DoorstepExtensions.swift ios/Tests/DoorstepTests/DoorstepTests.swift ios/Tests/DoorstepTests/FormSessionTests.swift <<'PY'
import re, sys
generated = open(sys.argv[1], encoding="utf-8").read()
problems, checked = [], 0
for path in sys.argv[2:]:
    text = open(path, encoding="utf-8").read()
    # store.method(label: …) / self.method(label: …)
    for name, label in set(re.findall(r'\b(?:store|fresh|self|session|reopened)\.([a-z]\w*)\((\w+):', text)):
        checked += 1
        if not re.search(r'func `?%s`?\(%s:' % (name, label), generated):
            problems.append(f"{path}: {name}({label}:) is not in the generated Swift")
    for name in set(re.findall(r'\b(?:store|fresh|self|session|reopened)\.([a-z]\w*)\(\)', text)):
        checked += 1
        if not re.search(r'func `?%s`?\(\)' % name, generated):
            problems.append(f"{path}: {name}() is not in the generated Swift")
    # DoorstepError.Case, case .Case, .Validation(…)
    for case in set(re.findall(r'DoorstepError\.([A-Z]\w*)', text) + re.findall(r'case \.([A-Z]\w*)', text) + re.findall(r'case let \.([A-Z]\w*)', text)):
        checked += 1
        if not re.search(r'\n\s*case %s\b' % case, generated):
            problems.append(f"{path}: DoorstepError.{case} is not in the generated Swift")
    # enum cases: .phone, .snapshot, .pending, .draft …
    for case in set(re.findall(r'(?:field: |== |, |\()\.([a-z]\w*)\b(?!\()', text)):
        checked += 1
        if not re.search(r'\n\s*case %s\b' % case, generated):
            problems.append(f"{path}: .{case} is not a case in the generated Swift")
    for protocol in set(re.findall(r':\s*(\w+Listener)\b', text)):
        checked += 1
        if f"public protocol {protocol}" not in generated:
            problems.append(f"{path}: protocol {protocol} is not in the generated Swift")
for problem in problems:
    print(problem, file=sys.stderr)
print(f"{checked} uses of the generated Swift API checked, {len(problems)} missing", file=sys.stderr)
sys.exit(1 if problems or checked == 0 else 0)
PY
