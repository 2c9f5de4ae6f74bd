#!/usr/bin/env bash
# Builds DoorstepFFI.xcframework (device and simulator slices, and a macOS
# slice so that `swift test` runs the XCTests on the Mac) and writes
# the Swift API generated from that very library into Sources/Doorstep.
# Runs on macOS with Xcode and the iOS Rust targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios \
#     aarch64-apple-darwin x86_64-apple-darwin
# (The Linux CI cannot: it generates the Swift and checks it against the
# hand-written Swift with check-generated.sh.)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$ROOT/ios"
PROFILE=release

if [[ "$(uname)" != Darwin ]]; then
  echo "build-xcframework.sh needs macOS and Xcode; on Linux run ios/check-generated.sh" >&2
  exit 2
fi

for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios aarch64-apple-darwin x86_64-apple-darwin; do
  echo "== cargo build --target $target" >&2
  IPHONEOS_DEPLOYMENT_TARGET=15.0 cargo build --locked --release -p doorstep-ffi --target "$target"
done

echo "== Swift and headers from the device library" >&2
GEN="$TARGET_DIR/bindings/ios"
rm -rf "$GEN" && mkdir -p "$GEN"
cargo run --locked -q -p xtask --bin uniffi-bindgen -- generate --no-format --language swift \
  --out-dir "$GEN" "$TARGET_DIR/aarch64-apple-ios/$PROFILE/libdoorstep_ffi.a"
cp "$GEN/Doorstep.swift" "$OUT/Sources/Doorstep/Doorstep.swift"
HEADERS="$GEN/headers"
mkdir -p "$HEADERS"
cp "$GEN/DoorstepFFI.h" "$HEADERS/"
# The XCFramework's module map must be called module.modulemap.
cp "$GEN/DoorstepFFI.modulemap" "$HEADERS/module.modulemap"

echo "== simulator slices into one library" >&2
SIM="$TARGET_DIR/ios-simulator/$PROFILE"
mkdir -p "$SIM"
lipo -create \
  "$TARGET_DIR/aarch64-apple-ios-sim/$PROFILE/libdoorstep_ffi.a" \
  "$TARGET_DIR/x86_64-apple-ios/$PROFILE/libdoorstep_ffi.a" \
  -output "$SIM/libdoorstep_ffi.a"

MAC="$TARGET_DIR/macos/$PROFILE"
mkdir -p "$MAC"
lipo -create \
  "$TARGET_DIR/aarch64-apple-darwin/$PROFILE/libdoorstep_ffi.a" \
  "$TARGET_DIR/x86_64-apple-darwin/$PROFILE/libdoorstep_ffi.a" \
  -output "$MAC/libdoorstep_ffi.a"

echo "== DoorstepFFI.xcframework" >&2
rm -rf "$OUT/DoorstepFFI.xcframework"
xcodebuild -create-xcframework \
  -library "$TARGET_DIR/aarch64-apple-ios/$PROFILE/libdoorstep_ffi.a" -headers "$HEADERS" \
  -library "$SIM/libdoorstep_ffi.a" -headers "$HEADERS" \
  -library "$MAC/libdoorstep_ffi.a" -headers "$HEADERS" \
  -output "$OUT/DoorstepFFI.xcframework"
echo "ios/DoorstepFFI.xcframework and ios/Sources/Doorstep/Doorstep.swift are ready" >&2
