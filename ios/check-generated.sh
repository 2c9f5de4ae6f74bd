#!/usr/bin/env bash
# Linux has no Swift toolchain, so the Swift package cannot be built here.
# This keeps it in step with the generated API instead: it generates the
# Swift from the current Rust library (cargo xtask bindings) and checks
#  - the FFI module the Package.swift binary target names is the one
#    generated, and its C header parses;
#  - every method the hand-written Swift (extensions and XCTests) calls on
#    the store exists in the generated Swift (or, for the XCTests, in the
#    extensions), with the same first label;
#  - every DoorstepError case and enum case it names exists;
#  - every listener callback it implements is declared so, types included;
#  - the generated names are Swift-style (householdID, not householdId).
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
# The extensions' own functions (statusUpdates(), sync(onProgress:) …) are
# API too: declarations only, so that their bodies are still checked.
extensions = open(sys.argv[2], encoding="utf-8").read()
api = generated + "\n" + "\n".join(re.findall(r'func `?\w+`?\([^)]*\)', extensions))
problems, checked = [], 0
for path in sys.argv[2:]:
    text = open(path, encoding="utf-8").read()
    known = generated if path == sys.argv[2] else api
    def declares(name, label):
        # func name(a: A = nil, label: L …): callable as name(label: …)
        # when the parameters before it have defaults; label None: name().
        for params in re.findall(r'func `?%s`?\(([^)]*)\)' % name, known):
            params = [p.strip() for p in params.split(",") if p.strip()]
            labels = [p.split(":")[0].strip("` ") for p in params]
            if label is None and all("=" in p for p in params):
                return True
            if label in labels and all("=" in p for p in params[:labels.index(label)]):
                return True
        return False
    # store.method(label: …) / self.method(label: …)
    for name, label in set(re.findall(r'\b(?:store|fresh|self|session|reopened)\.([a-z]\w*)\((\w+):', text)):
        checked += 1
        if not declares(name, label):
            problems.append(f"{path}: {name}({label}:) is not in the generated Swift")
    for name in set(re.findall(r'\b(?:store|fresh|self|session|reopened)\.([a-z]\w*)\(\)', text)):
        checked += 1
        if not declares(name, None):
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
    # A listener's callbacks as the protocol declares them, types included:
    # func onFinished(report: SyncReport?, error: DoorstepError?)
    for name, params in set(re.findall(r'func (on[A-Z]\w*)\(([^)]*)\)', text)):
        checked += 1
        declared = "func %s(%s)" % (name, " ".join(params.split()))
        if declared not in " ".join(generated.split()):
            problems.append(f"{path}: {declared} is not a listener callback in the generated Swift")
    for protocol in set(re.findall(r':\s*(\w+Listener)\b', text)):
        checked += 1
        if f"public protocol {protocol}" not in generated:
            problems.append(f"{path}: protocol {protocol} is not in the generated Swift")
# Swift-style names (bindings/uniffi.toml, [bindings.swift.rename]): no
# field, method or argument label ends in Id, Url, Json, Pem, Http or Qr.
names = re.findall(r'public let (\w+)', generated) + re.findall(r'open func (\w+)\(', generated)
for params in re.findall(r'open func \w+\(([^)]*)\)', generated):
    names += [p.split(":")[0].strip("` ") for p in params.split(",") if ":" in p]
for name in sorted(set(names)):
    checked += 1
    if re.search(r'[a-z](Id|Url|Json|Pem|Http|Qr)$', name):
        problems.append(f"generated Swift: {name} is not Swift-style; rename it in bindings/uniffi.toml")
for problem in problems:
    print(problem, file=sys.stderr)
print(f"{checked} uses of the generated Swift API checked, {len(problems)} missing", file=sys.stderr)
sys.exit(1 if problems or checked == 0 else 0)
PY
